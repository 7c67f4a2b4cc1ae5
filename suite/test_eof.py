"""EOF: the bytes between end of file and the end of its last page."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suite.scenarios import eof as scenario
from suite.strategies import PAGE, eof_page_end, file_sizes, fill_seeds, page_offsets


@st.composite
def tail_reads(draw) -> scenario.TailRead:
    size = draw(file_sizes(min_size=1, unaligned=True))
    offset = draw(page_offsets(size // PAGE))
    return scenario.TailRead(
        file_size=size,
        fill_seed=draw(fill_seeds),
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        offset=offset,
        length=draw(st.integers(size - offset, eof_page_end(size) - offset)),
    )


@st.composite
def tail_writes(draw) -> scenario.TailWrite:
    size = draw(file_sizes(min_size=1, unaligned=True))
    offset = draw(page_offsets(size // PAGE))
    write_at = draw(st.integers(size, eof_page_end(size) - 1))
    return scenario.TailWrite(
        file_size=size,
        fill_seed=draw(fill_seeds),
        offset=offset,
        length=draw(st.integers(size - offset, eof_page_end(size) - offset)),
        write_at=write_at,
        data=draw(st.binary(min_size=1, max_size=eof_page_end(size) - write_at).filter(any)),
        msync=draw(st.booleans()),
    )


@pytest.mark.claim("EOF-1")
@given(case=tail_reads())
def test_bytes_past_eof_in_last_page_read_zero(conformance, target, case):
    conformance.judge(scenario.judge_tail_reads_zero, case, scenario.read_tail(conformance.workspace, case))


@pytest.mark.claim("EOF-2")
@given(case=tail_writes())
def test_stores_past_eof_in_last_page_not_written_back(conformance, target, case):
    conformance.judge(scenario.judge_tail_write_not_written_back, case, scenario.write_tail(conformance.workspace, case))
