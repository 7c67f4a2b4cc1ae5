"""FORK: what a child inherits of its parent's file mappings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suite.scenarios import fork as scenario
from suite.strategies import draw_case, file_sizes, page_offsets, pattern


@st.composite
def inherit_cases(draw, page: int) -> scenario.InheritCase:
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, (size - 1) // page))
    return scenario.InheritCase(
        page_size=page,
        file_size=size,
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        prot=draw(st.sampled_from([("PROT_READ",), ("PROT_READ", "PROT_WRITE")])),
        offset=offset,
        length=draw(st.integers(1, size - offset)),
    )


@st.composite
def fork_stores(draw, page: int, flags: str) -> scenario.ForkStores:
    size = draw(file_sizes(page, min_size=1))

    @st.composite
    def store(draw2) -> scenario.Store:
        at = draw2(st.integers(0, size - 1))
        return scenario.Store(draw2(st.sampled_from(["parent", "child"])), at,
                              draw2(st.binary(min_size=1, max_size=min(64, size - at))))

    return scenario.ForkStores(page, size, flags, tuple(draw(st.lists(store(), min_size=1, max_size=6))))


@pytest.mark.claim("FORK-1")
@given(data=st.data())
def test_child_inherits_mapping_at_same_address(conformance, target, data):
    case = draw_case(data, target, inherit_cases(target.page_size))
    conformance.judge(scenario.judge_inherited_at_same_address, case, conformance.observe(scenario.inherit, conformance.workspace, case))


@pytest.mark.claim("FORK-2")
@given(data=st.data())
def test_shared_mapping_stores_seen_by_parent_and_child(conformance, target, data):
    case = draw_case(data, target, fork_stores(target.page_size, "MAP_SHARED"))
    conformance.judge(scenario.judge_shared_stores_seen_both_ways, case, conformance.observe(scenario.fork_and_store, conformance.workspace, case))


@pytest.mark.claim("FORK-3")
@given(data=st.data())
def test_private_mapping_stores_after_fork_stay_private(conformance, target, data):
    case = draw_case(data, target, fork_stores(target.page_size, "MAP_PRIVATE"))
    conformance.judge(scenario.judge_private_stores_stay_private, case, conformance.observe(scenario.fork_and_store, conformance.workspace, case))


@st.composite
def pre_fork_private_stores(draw, page: int) -> scenario.PreForkPrivateStores:
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, (size - 1) // page))
    length = draw(st.integers(1, size - offset) | st.just(size - offset))
    original = pattern(13, size)[offset:offset + length]

    @st.composite
    def store(draw2) -> tuple[int, bytes]:
        at = draw2(st.sampled_from([0, length - 1]) | st.integers(0, length - 1))
        return at, draw2(st.binary(min_size=1, max_size=min(64, length - at)))

    def changes_something(stores) -> bool:
        view = bytearray(original)
        for at, data in stores:
            view[at:at + len(data)] = data
        return bytes(view) != original

    stores = draw(st.lists(store(), min_size=1, max_size=6).filter(changes_something))
    return scenario.PreForkPrivateStores(page, size, draw(st.sampled_from(["O_RDONLY", "O_RDWR"])), offset, length, tuple(stores))


@st.composite
def anonymous_stores(draw, page: int) -> scenario.AnonymousStores:
    length = draw(file_sizes(page, min_size=1))

    @st.composite
    def store(draw2) -> scenario.Store:
        at = draw2(st.sampled_from([0, length - 1]) | st.integers(0, length - 1))
        return scenario.Store(draw2(st.sampled_from(["parent", "child"])), at,
                              draw2(st.binary(min_size=1, max_size=min(64, length - at))))

    return scenario.AnonymousStores(page, length, tuple(draw(st.lists(store(), min_size=1, max_size=6))))


@st.composite
def locked_increments(draw, page: int) -> scenario.LockedIncrements:
    size = draw(file_sizes(page, min_size=8))
    return scenario.LockedIncrements(
        page_size=page,
        file_size=size,
        counter_at=draw(st.sampled_from([0, size - 8]) | st.integers(0, size - 8)),
        initial=draw(st.sampled_from([0, 2**32 - 1]) | st.integers(0, 2**48)),
        processes=draw(st.integers(2, 4)),
        increments=draw(st.integers(50, 400)),  # enough for the workers to overlap (unlocked, updates get lost)
        fcntl_range=draw(st.sampled_from(["whole", "counter"])),
    )


@pytest.mark.claim("FORK-4")
@given(data=st.data())
def test_child_reads_parent_pre_fork_private_stores(conformance, target, data):
    case = draw_case(data, target, pre_fork_private_stores(target.page_size))
    conformance.judge(scenario.judge_child_sees_parent_pre_fork_stores, case,
                      conformance.observe(scenario.store_private_then_fork, conformance.workspace, case))


@pytest.mark.claim("FORK-5")
@given(data=st.data())
def test_shared_anonymous_mapping_stores_seen_by_parent_and_child(conformance, target, data):
    case = draw_case(data, target, anonymous_stores(target.page_size))
    conformance.judge(scenario.judge_shared_stores_seen_both_ways, case,
                      conformance.observe(scenario.fork_and_store_anonymous, conformance.workspace, case))


@pytest.mark.claim("FORK-6")
@given(data=st.data())
def test_locked_increments_through_shared_mapping_lose_nothing(conformance, target, data):
    case = draw_case(data, target, locked_increments(target.page_size))
    conformance.judge(scenario.judge_locked_increments_exact, case, conformance.observe(scenario.locked_increments, conformance.workspace, case))
