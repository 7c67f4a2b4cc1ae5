"""ELF: shared libraries' code mappings (private, r-x, and shared physical pages between processes)."""

from __future__ import annotations

import ctypes.util

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suite.scenarios import elf as scenario

DLOPEN_CANDIDATES = ("m", "z", "bz2", "lzma", "ffi", "util", "rt", "crypt", "sqlite3", "uuid")


def loadable_libraries() -> tuple[str, ...]:
    """Shared libraries dlopen() can find here (ld.so.cache names such as 'libz.so.1'), from a fixed candidate list."""
    found = (ctypes.util.find_library(name) for name in DLOPEN_CANDIDATES)
    return tuple(sorted({name for name in found if name and scenario.SHARED_OBJECT.search(name)}))


DLOPEN = loadable_libraries()
CAT = scenario.cat_program()
OTHERS = ["forked", "python"] + (["cat"] if CAT else [])


@st.composite
def libraries_cases(draw) -> scenario.LibrariesCase:
    process = draw(st.sampled_from(["self", "forked", "python"] + (["cat"] if CAT else [])))
    dlopen = None if process == "cat" or not DLOPEN else draw(st.none() | st.sampled_from(DLOPEN))
    return scenario.LibrariesCase(process, dlopen)


@st.composite
def shared_text_cases(draw) -> scenario.SharedTextCase:
    other = draw(st.sampled_from(OTHERS))
    # cat touches only what it executes: this process then touches every page, so the sets overlap.
    positions = st.lists(st.sampled_from([0.0, 0.5, 0.999]) | st.floats(0, 1, exclude_max=True), min_size=1, max_size=8)
    touch = None if other == "cat" else draw(st.none() | positions.map(tuple))
    return scenario.SharedTextCase(other, draw(st.sampled_from(sorted(scenario.LIBRARIES))), touch)


@pytest.mark.claim("ELF-1")
@given(case=libraries_cases())
def test_shared_library_code_mapped_private_read_execute(conformance, target, case):
    conformance.judge(scenario.judge_library_code_private_rx, case, conformance.observe(scenario.library_mappings, case))


@pytest.mark.claim("ELF-2")
@given(case=shared_text_cases())
def test_processes_share_library_code_page_frames(conformance, target, case):
    seen = conformance.observe(scenario.compare_text_frames, case)
    if not scenario.same_file(seen):
        conformance.reject(f"the {case.other} process does not map the same {case.library} file r-xp "
                           f"(a statically linked program, or another copy of the library)")
    conformance.judge(scenario.judge_text_frames_shared, case, seen)
