"""PROT: protection faults (SIGSEGV) versus missing backing pages (SIGBUS)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import prot as scenario
from suite.strategies import MAX_PAGES, draw_case, file_sizes, fill_seeds, page_offsets

FLAGS = st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])
MODES = st.sampled_from(["O_RDONLY", "O_RDWR"])
ACCESSES = st.sampled_from(["read", "write"])


def bytes_in_page(page: int) -> st.SearchStrategy[int]:
    return st.sampled_from([0, page - 1]) | st.integers(0, page - 1)


def within_page(page: int, at: int) -> st.SearchStrategy[bytes]:
    """Bytes to store at ``at`` that stay inside its page (a store spilling into the next page could fault there instead)."""
    return st.binary(min_size=1, max_size=min(8, page - at % page))


@st.composite
def in_file_mappings(draw, page: int) -> tuple[int, int, int, int]:
    """(file size, offset, length, at): a mapping starting inside the file and a byte of it inside the file."""
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, (size - 1) // page))
    length = draw(st.sampled_from([1, page, size - offset]) | st.integers(1, (MAX_PAGES + 1) * page))
    span = min(round_up(length, page), size - offset)  # the whole last page is mapped
    at = draw(st.sampled_from([0, span - 1]) | st.integers(0, span - 1))
    return size, offset, length, at


@st.composite
def readonly_stores(draw, target) -> scenario.ReadOnlyStore:
    page = target.page_size
    size, offset, length, at = draw(in_file_mappings(page))
    prots = [("PROT_READ",)] + ([("PROT_READ", "PROT_EXEC")] if target.meets("exec-allowed") else [])
    return scenario.ReadOnlyStore(
        page_size=page,
        open_mode=draw(MODES), prot=draw(st.sampled_from(prots)), flags=draw(FLAGS), file_size=size,
        fill_seed=draw(fill_seeds), offset=offset, length=length, store_at=at,
        data=draw(within_page(page, at)), touched_before=draw(st.booleans()),
    )


@st.composite
def none_accesses(draw, page: int) -> scenario.NoneAccess:
    size, offset, length, at = draw(in_file_mappings(page))
    return scenario.NoneAccess(page, draw(MODES), draw(FLAGS), size, offset, length, at, draw(within_page(page, at)))


@st.composite
def signal_kinds(draw, page: int) -> scenario.SignalKinds:
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, size // page + 1))
    first_beyond = max(0, (round_up(size, page) - offset) // page)  # first mapping page wholly beyond EOF
    pages = draw(st.integers(first_beyond + 1, first_beyond + MAX_PAGES))
    return scenario.SignalKinds(
        page_size=page,
        flags=draw(FLAGS),
        file_size=size,
        fill_seed=draw(fill_seeds),
        protected_at=draw(st.sampled_from([0, size - 1]) | st.integers(0, size - 1)),
        hole_byte=draw(bytes_in_page(page)),
        hole_access=draw(ACCESSES),
        beyond_offset=offset,
        beyond_length=draw(st.integers((pages - 1) * page + 1, pages * page)),
        beyond_page=draw(st.integers(first_beyond, pages - 1)),
        beyond_byte=draw(bytes_in_page(page)),
        beyond_access=draw(ACCESSES),
        data=draw(st.binary(min_size=1, max_size=1)),  # one byte: no access spills into a neighbouring page
    )


@pytest.mark.claim("PROT-1")
@given(data=st.data())
def test_store_to_prot_read_mapping_sigsegv_file_unchanged(conformance, target, data):
    case = draw_case(data, target, readonly_stores(target))
    conformance.judge(scenario.judge_store_to_readonly_sigsegv, case, conformance.observe(scenario.store_to_readonly, conformance.workspace, case))


@pytest.mark.claim("PROT-2")
@given(data=st.data())
def test_load_and_store_on_prot_none_mapping_sigsegv(conformance, target, data):
    case = draw_case(data, target, none_accesses(target.page_size))
    conformance.judge(scenario.judge_prot_none_access_sigsegv, case, conformance.observe(scenario.access_prot_none, conformance.workspace, case))


@pytest.mark.claim("PROT-3")
@given(data=st.data())
def test_protection_and_unmapped_sigsegv_but_beyond_eof_sigbus(conformance, target, data):
    case = draw_case(data, target, signal_kinds(target.page_size))
    conformance.judge(scenario.judge_segv_and_bus_distinct, case, conformance.observe(scenario.three_faults, conformance.workspace, case))
