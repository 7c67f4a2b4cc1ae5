"""FORK: what a child inherits of its parent's file mappings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suite.scenarios import fork as scenario
from suite.strategies import PAGE, file_sizes, page_offsets


@st.composite
def inherit_cases(draw) -> scenario.InheritCase:
    size = draw(file_sizes(min_size=1))
    offset = draw(page_offsets((size - 1) // PAGE))
    return scenario.InheritCase(
        file_size=size,
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        prot=draw(st.sampled_from([("PROT_READ",), ("PROT_READ", "PROT_WRITE")])),
        offset=offset,
        length=draw(st.integers(1, size - offset)),
    )


@st.composite
def fork_stores(draw, flags: str) -> scenario.ForkStores:
    size = draw(file_sizes(min_size=1))

    @st.composite
    def store(draw2) -> scenario.Store:
        at = draw2(st.integers(0, size - 1))
        return scenario.Store(draw2(st.sampled_from(["parent", "child"])), at,
                              draw2(st.binary(min_size=1, max_size=min(64, size - at))))

    return scenario.ForkStores(size, flags, tuple(draw(st.lists(store(), min_size=1, max_size=6))))


@pytest.mark.claim("FORK-1")
@given(case=inherit_cases())
def test_child_inherits_mapping_at_same_address(conformance, target, case):
    conformance.judge(scenario.judge_inherited_at_same_address, case, scenario.inherit(conformance.workspace, case))


@pytest.mark.claim("FORK-2")
@given(case=fork_stores("MAP_SHARED"))
def test_shared_mapping_stores_seen_by_parent_and_child(conformance, target, case):
    conformance.judge(scenario.judge_shared_stores_seen_both_ways, case, scenario.fork_and_store(conformance.workspace, case))


@pytest.mark.claim("FORK-3")
@given(case=fork_stores("MAP_PRIVATE"))
def test_private_mapping_stores_after_fork_stay_private(conformance, target, case):
    conformance.judge(scenario.judge_private_stores_stay_private, case, scenario.fork_and_store(conformance.workspace, case))
