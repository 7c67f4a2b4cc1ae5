"""PRIV: MAP_PRIVATE stores stay in the process that made them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suite.scenarios import priv as scenario
from suite.strategies import file_sizes


def stores(size: int) -> st.SearchStrategy[tuple]:
    store = st.integers(0, size - 1).flatmap(
        lambda at: st.tuples(st.just(at), st.binary(min_size=1, max_size=min(64, size - at))))
    return st.lists(store, min_size=1, max_size=6).map(tuple)


@st.composite
def private_stores(draw) -> scenario.PrivateStores:
    size = draw(file_sizes(min_size=1))
    return scenario.PrivateStores(size, draw(st.sampled_from(["O_RDONLY", "O_RDWR"])), draw(stores(size)))


@st.composite
def private_stores_elsewhere(draw) -> scenario.PrivateStoresElsewhere:
    size = draw(file_sizes(min_size=1))
    return scenario.PrivateStoresElsewhere(
        file_size=size,
        open_mode=draw(st.sampled_from(["O_RDONLY", "O_RDWR"])),
        stores=draw(stores(size)),
        reader_flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        reader_maps=draw(st.sampled_from(["before", "after"])),
    )


@pytest.mark.claim("PRIV-1")
@given(case=private_stores())
def test_private_stores_never_reach_file(conformance, target, case):
    conformance.judge(scenario.judge_file_unchanged, case, scenario.store_private(conformance.workspace, case))


@pytest.mark.claim("PRIV-2")
@given(case=private_stores_elsewhere())
def test_private_stores_invisible_to_other_process(conformance, target, case):
    conformance.judge(scenario.judge_other_process_sees_file, case,
                      scenario.store_private_read_elsewhere(conformance.workspace, case))
