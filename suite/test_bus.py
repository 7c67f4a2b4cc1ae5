"""BUS: SIGBUS for pages of a mapping wholly beyond end of file."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import bus as scenario
from suite.strategies import MAX_PAGES, PAGE, file_sizes, page_offsets

ACCESSES = st.sampled_from(["read", "write"])


@st.composite
def beyond_eof_accesses(draw) -> scenario.BeyondEofAccess:
    size = draw(file_sizes())
    offset = draw(page_offsets(size // PAGE + 1))
    first_beyond = max(0, (round_up(size) - offset) // PAGE)  # first mapping page wholly beyond EOF
    pages = draw(st.integers(first_beyond + 1, first_beyond + MAX_PAGES))
    return scenario.BeyondEofAccess(
        file_size=size,
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        offset=offset,
        length=draw(st.integers((pages - 1) * PAGE + 1, pages * PAGE)),
        page=draw(st.integers(first_beyond, pages - 1)),
        byte=draw(st.sampled_from([0, PAGE - 1]) | st.integers(0, PAGE - 1)),
        access=draw(ACCESSES),
    )


@st.composite
def truncated_accesses(draw) -> scenario.TruncatedAccess:
    old_size = draw(file_sizes(min_size=PAGE + 1))
    new_size = draw(file_sizes(max_size=round_up(old_size) - PAGE - 1) | st.just(0))
    first_gone = round_up(new_size) // PAGE  # first page wholly beyond the new EOF
    return scenario.TruncatedAccess(
        old_size=old_size,
        new_size=new_size,
        page=draw(st.integers(first_gone, round_up(old_size) // PAGE - 1)),
        byte=draw(st.integers(0, PAGE - 1)),
        touched_before=draw(st.sampled_from(["no", "read", "write"])),
        truncated_by=draw(st.sampled_from(["self", "other"])),
        access=draw(ACCESSES),
    )


@pytest.mark.claim("BUS-1")
@given(case=beyond_eof_accesses())
def test_access_page_wholly_beyond_eof_sigbus(conformance, target, case):
    conformance.judge(scenario.judge_sigbus, case, scenario.access_beyond_eof(conformance.workspace, case))


@pytest.mark.claim("BUS-2")
@given(case=truncated_accesses())
def test_truncate_then_access_shared_page_beyond_new_eof_sigbus(conformance, target, case):
    conformance.judge(scenario.judge_sigbus, case, scenario.access_after_truncate(conformance.workspace, case))
