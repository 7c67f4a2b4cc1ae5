"""ELF-2's interpreter run afresh (fixtures/code_toucher.py): it loads from the listed pages of its own mapping of
the library it is given, and from no other library."""

from __future__ import annotations

import sys

from fixtures import code_toucher
from fixtures.libc import PAGE_SIZE as PAGE
from fixtures.pages import page_frames
from suite.scenarios import elf


def _present_in_toucher(path: str, indices: list[int]) -> set[int]:
    argv = [sys.executable, "-I", "-S", elf.CODE_TOUCHER, path, str(PAGE), *map(str, indices)]
    with elf.started(argv, None) as proc:
        theirs = next(e for e in elf.maps_of(proc.pid) if e["perms"] == "r-xp" and e["path"] == path)
        frames = page_frames(theirs["start"], (theirs["end"] - theirs["start"]) // PAGE, proc.pid)
    return {index for index, frame in enumerate(frames) if frame is not None}


def test_the_toucher_makes_the_listed_code_pages_present_in_its_own_mapping():
    mine = elf.code_mapping(elf.maps_of(), "libc")
    pages = range((mine["end"] - mine["start"]) // PAGE)  # the whole of libc's code: start-up leaves much of it absent
    untouched = sorted(set(pages) - _present_in_toucher(mine["path"], []))
    assert untouched, "the interpreter's start-up made every code page of libc present"
    wanted = untouched[::len(untouched) // 8 + 1]
    assert set(wanted) <= _present_in_toucher(mine["path"], wanted)


def test_it_finds_the_start_of_an_executable_mapping_of_a_file_and_none_of_a_file_not_mapped():
    libc = elf.code_mapping(elf.maps_of(), "libc")
    assert code_toucher.code_start(libc["path"]) == libc["start"]
    assert code_toucher.code_start("/nonexistent/libnothing.so") is None
