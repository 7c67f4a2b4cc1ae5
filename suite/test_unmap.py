"""UNMAP: what munmap() removes and what it leaves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import unmap as scenario
from suite.strategies import EDGE_SIZES, MAX_PAGES, PAGE, file_sizes, fill_seeds, open_modes, page_offsets, read_only

FLAGS = st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])
READABLE = [("PROT_READ",), ("PROT_READ", "PROT_WRITE"), ("PROT_READ", "PROT_EXEC"), ("PROT_READ", "PROT_WRITE", "PROT_EXEC")]


@st.composite
def mode_prot_flags(draw, target, prots=READABLE) -> tuple[str, tuple[str, ...], str]:
    """A valid (open mode, prot, flags): MAP_SHARED with PROT_WRITE needs O_RDWR (so not on a read-only image:
    open_modes()); no PROT_EXEC on a noexec mount."""
    prot = draw(st.sampled_from([p for p in prots if (target.meets("exec-allowed") or "PROT_EXEC" not in p)]))
    flags = draw(st.just("MAP_PRIVATE") if read_only(target) and "PROT_WRITE" in prot else FLAGS)
    mode = "O_RDWR" if flags == "MAP_SHARED" and "PROT_WRITE" in prot else draw(st.sampled_from(open_modes(target)))
    return mode, prot, flags


def lengths(max_pages: int = MAX_PAGES) -> st.SearchStrategy[int]:
    return st.sampled_from([1, PAGE - 1, PAGE, PAGE + 1, max_pages * PAGE]) | st.integers(1, max_pages * PAGE)


@st.composite
def after_munmaps(draw, target) -> scenario.AfterMunmap:
    mode, prot, flags = draw(mode_prot_flags(target))
    size = draw(file_sizes())
    offset = draw(page_offsets(size // PAGE))
    length = draw(lengths())
    mapped = round_up(length)
    at = st.sampled_from([0, mapped - 1]) | st.integers(0, mapped - 1)  # pages inside and (if any) beyond EOF
    return scenario.AfterMunmap(
        open_mode=mode, prot=prot, flags=flags, file_size=size, fill_seed=draw(fill_seeds), offset=offset, length=length,
        unmap_length=draw(st.sampled_from([length, mapped]) | st.integers(mapped - PAGE + 1, mapped)),
        accesses=tuple(draw(st.lists(st.tuples(at, st.sampled_from(["read", "write"])), min_size=1, max_size=4))),
    )


@st.composite
def stores_then_munmaps(draw) -> scenario.StoresThenMunmap:
    size = draw(file_sizes(min_size=1))
    offset = draw(page_offsets((size - 1) // PAGE))
    length = draw(lengths(MAX_PAGES + 1))
    span = min(length, size - offset)
    at = st.sampled_from([0, span - 1]) | st.integers(0, span - 1)
    store = at.flatmap(lambda a: st.tuples(st.just(a), st.binary(min_size=1, max_size=min(64, span - a))))
    return scenario.StoresThenMunmap(
        file_size=size, fill_seed=draw(fill_seeds), offset=offset, length=length,
        stores=tuple(draw(st.lists(store, min_size=1, max_size=6))),
        mapper=draw(st.sampled_from(["this process", "child"])),
    )


@st.composite
def partial_munmaps(draw, target) -> scenario.PartialMunmap:
    mode, prot, flags = draw(mode_prot_flags(target))
    whole = max(EDGE_SIZES) // PAGE if read_only(target) else None  # the whole pages of a read-only image's largest file
    pages = draw(st.integers(3, whole or MAX_PAGES + 2))
    count = draw(st.integers(1, pages - 1))
    # at the start, at the end, or anywhere (the middle, where count <= pages - 2)
    first = draw(st.sampled_from([0, pages - count]) | st.integers(0, pages - count))
    offset = draw(page_offsets(2 if whole is None else whole - pages))
    least = offset + pages * PAGE  # every mapped page is file data
    return scenario.PartialMunmap(
        open_mode=mode, prot=prot, flags=flags,
        file_size=draw(file_sizes(least, least + PAGE, target=target, sizes=st.integers(least, least + PAGE))),
        fill_seed=draw(fill_seeds), offset=offset, pages=pages, first=first, count=count,
        unmap_length=draw(st.sampled_from([count * PAGE, (count - 1) * PAGE + 1]) | st.integers((count - 1) * PAGE + 1, count * PAGE)),
    )


@st.composite
def unaligned_munmaps(draw, target) -> scenario.UnalignedMunmap:
    mode, prot, flags = draw(mode_prot_flags(target))
    size = draw(file_sizes(min_size=1))
    offset = draw(page_offsets((size - 1) // PAGE))
    length = draw(lengths())
    mapped = round_up(length)
    delta = draw((st.sampled_from([1, PAGE - 1, PAGE + 1, mapped - 1]) | st.integers(1, mapped - 1)).filter(lambda d: d % PAGE))
    return scenario.UnalignedMunmap(
        open_mode=mode, prot=prot, flags=flags, file_size=size, fill_seed=draw(fill_seeds), offset=offset, length=length,
        delta=delta,
        # at most to the end of the fence page above the mapping
        unmap_length=draw(st.sampled_from([1, PAGE, mapped - delta]) | st.integers(1, mapped - delta + PAGE)),
    )


@pytest.mark.claim("UNMAP-1")
@given(data=st.data())
def test_access_after_munmap_sigsegv(conformance, target, data):
    case = data.draw(after_munmaps(target))
    conformance.judge(scenario.judge_access_after_munmap_sigsegv, case, scenario.access_after_munmap(conformance.workspace, case))


@pytest.mark.claim("UNMAP-2")
@given(case=stores_then_munmaps())
def test_file_keeps_size_and_stores_after_munmap(conformance, target, case):
    conformance.judge(scenario.judge_file_keeps_stores_after_munmap, case, scenario.store_then_munmap(conformance.workspace, case))


@pytest.mark.claim("UNMAP-3")
@given(data=st.data())
def test_partial_munmap_leaves_other_pages_usable(conformance, target, data):
    case = data.draw(partial_munmaps(target))
    conformance.judge(scenario.judge_partial_munmap_removes_only_range, case, scenario.partial_munmap(conformance.workspace, case))


@pytest.mark.claim("UNMAP-4")
@given(data=st.data())
def test_munmap_unaligned_address_fails_einval(conformance, target, data):
    case = data.draw(unaligned_munmaps(target))
    conformance.judge(scenario.judge_unaligned_munmap_fails_einval, case, scenario.munmap_unaligned(conformance.workspace, case))
