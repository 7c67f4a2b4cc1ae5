"""SYNC: msync() flags."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import sync as scenario
from suite.strategies import PAGE, file_sizes


@st.composite
def both_sync_and_async(draw) -> scenario.MsyncCall:
    size = draw(file_sizes(min_size=1))
    start_page = draw(st.integers(0, round_up(size) // PAGE - 1))
    return scenario.MsyncCall(
        file_size=size,
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        start_page=start_page,
        length=draw(st.integers(0, round_up(size) - start_page * PAGE)),
        msync_flags=("MS_SYNC", "MS_ASYNC") + draw(st.sampled_from([(), ("MS_INVALIDATE",)])),
    )


@pytest.mark.claim("SYNC-4")
@given(case=both_sync_and_async())
def test_msync_with_sync_and_async_fails_einval(conformance, target, case):
    conformance.judge(scenario.judge_fails_with_einval, case, scenario.call_msync(conformance.workspace, case))
