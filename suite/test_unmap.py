"""UNMAP: what munmap() removes and what it leaves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import unmap as scenario
from fixtures.files import edge_sizes
from suite.strategies import MAX_PAGES, draw_case, file_sizes, fill_seeds, open_modes, page_offsets, read_only

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


def lengths(page: int, max_pages: int = MAX_PAGES) -> st.SearchStrategy[int]:
    return st.sampled_from([1, page - 1, page, page + 1, max_pages * page]) | st.integers(1, max_pages * page)


@st.composite
def after_munmaps(draw, target) -> scenario.AfterMunmap:
    page = target.page_size
    mode, prot, flags = draw(mode_prot_flags(target))
    size = draw(file_sizes(page))
    offset = draw(page_offsets(page, size // page))
    length = draw(lengths(page))
    mapped = round_up(length, page)
    at = st.sampled_from([0, mapped - 1]) | st.integers(0, mapped - 1)  # pages inside and (if any) beyond EOF
    return scenario.AfterMunmap(
        page_size=page,
        open_mode=mode, prot=prot, flags=flags, file_size=size, fill_seed=draw(fill_seeds), offset=offset, length=length,
        unmap_length=draw(st.sampled_from([length, mapped]) | st.integers(mapped - page + 1, mapped)),
        accesses=tuple(draw(st.lists(st.tuples(at, st.sampled_from(["read", "write"])), min_size=1, max_size=4))),
    )


@st.composite
def stores_then_munmaps(draw, page: int) -> scenario.StoresThenMunmap:
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, (size - 1) // page))
    length = draw(lengths(page, MAX_PAGES + 1))
    span = min(length, size - offset)
    at = st.sampled_from([0, span - 1]) | st.integers(0, span - 1)
    store = at.flatmap(lambda a: st.tuples(st.just(a), st.binary(min_size=1, max_size=min(64, span - a))))
    return scenario.StoresThenMunmap(
        page_size=page,
        file_size=size, fill_seed=draw(fill_seeds), offset=offset, length=length,
        stores=tuple(draw(st.lists(store, min_size=1, max_size=6))),
        mapper=draw(st.sampled_from(["this process", "child"])),
    )


@st.composite
def partial_munmaps(draw, target) -> scenario.PartialMunmap:
    page = target.page_size
    mode, prot, flags = draw(mode_prot_flags(target))
    whole = max(edge_sizes(page)) // page if read_only(target) else None  # the whole pages of a read-only image's largest file
    pages = draw(st.integers(3, whole or MAX_PAGES + 2))
    count = draw(st.integers(1, pages - 1))
    # at the start, at the end, or anywhere (the middle, where count <= pages - 2)
    first = draw(st.sampled_from([0, pages - count]) | st.integers(0, pages - count))
    offset = draw(page_offsets(page, 2 if whole is None else whole - pages))
    least = offset + pages * page  # every mapped page is file data
    return scenario.PartialMunmap(
        page_size=page,
        open_mode=mode, prot=prot, flags=flags,
        file_size=draw(file_sizes(page, least, least + page, target=target, sizes=st.integers(least, least + page))),
        fill_seed=draw(fill_seeds), offset=offset, pages=pages, first=first, count=count,
        unmap_length=draw(st.sampled_from([count * page, (count - 1) * page + 1]) | st.integers((count - 1) * page + 1, count * page)),
    )


@st.composite
def unaligned_munmaps(draw, target) -> scenario.UnalignedMunmap:
    page = target.page_size
    mode, prot, flags = draw(mode_prot_flags(target))
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, (size - 1) // page))
    length = draw(lengths(page))
    mapped = round_up(length, page)
    delta = draw((st.sampled_from([1, page - 1, page + 1, mapped - 1]) | st.integers(1, mapped - 1)).filter(lambda d: d % page and d < mapped))  # page + 1 is past a one-page mapping
    return scenario.UnalignedMunmap(
        page_size=page,
        open_mode=mode, prot=prot, flags=flags, file_size=size, fill_seed=draw(fill_seeds), offset=offset, length=length,
        delta=delta,
        # at most to the end of the fence page above the mapping
        unmap_length=draw(st.sampled_from([1, page, mapped - delta]) | st.integers(1, mapped - delta + page)),
    )


@pytest.mark.claim("UNMAP-1")
@given(data=st.data())
def test_access_after_munmap_sigsegv(conformance, target, data):
    case = draw_case(data, target, after_munmaps(target))
    conformance.judge(scenario.judge_access_after_munmap_sigsegv, case, conformance.observe(scenario.access_after_munmap, conformance.workspace, case))


@pytest.mark.claim("UNMAP-2")
@given(data=st.data())
def test_file_keeps_size_and_stores_after_munmap(conformance, target, data):
    case = draw_case(data, target, stores_then_munmaps(target.page_size))
    conformance.judge(scenario.judge_file_keeps_stores_after_munmap, case, conformance.observe(scenario.store_then_munmap, conformance.workspace, case))


@pytest.mark.claim("UNMAP-3")
@given(data=st.data())
def test_partial_munmap_leaves_other_pages_usable(conformance, target, data):
    case = draw_case(data, target, partial_munmaps(target))
    conformance.judge(scenario.judge_partial_munmap_removes_only_range, case, conformance.observe(scenario.partial_munmap, conformance.workspace, case))


@pytest.mark.claim("UNMAP-4")
@given(data=st.data())
def test_munmap_unaligned_address_fails_einval(conformance, target, data):
    case = draw_case(data, target, unaligned_munmaps(target))
    conformance.judge(scenario.judge_unaligned_munmap_fails_einval, case, conformance.observe(scenario.munmap_unaligned, conformance.workspace, case))
