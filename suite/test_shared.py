"""SHARED: MAP_SHARED stores seen by other processes, by read(), and kept in the file after the writers are gone."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from suite.scenarios import shared as scenario
from suite.strategies import PageRelative, draw_case, file_sizes, page_offsets, store_in, stores_in

# (open mode, protection) of a MAP_SHARED mapping: every combination mmap() accepts (PROT_WRITE needs O_RDWR).
ACCESS = st.sampled_from([("O_RDONLY", ("PROT_READ",)), ("O_RDWR", ("PROT_READ",)), ("O_RDWR", ("PROT_READ", "PROT_WRITE"))])


@st.composite
def cross_process_stores(draw, page: int) -> scenario.CrossProcessStores:
    size = draw(file_sizes(page, min_size=1))
    b_maps = draw(st.sampled_from(["before", "after"]))
    b_mode, b_prot = draw(ACCESS)
    return scenario.CrossProcessStores(
        page_size=page,
        file_size=size,
        b_mode=b_mode,
        b_prot=b_prot,
        b_maps=b_maps,
        b_touch=draw(st.sampled_from(["none", "read"])) if b_maps == "before" else "none",
        stores=draw(stores_in(page, 0, size)),
    )


@st.composite
def stores_then_publish(draw, page: int) -> scenario.StoresThenPublish:
    size = draw(file_sizes(page, min_size=1))
    then = draw(st.sampled_from(["msync", "munmap"]))
    return scenario.StoresThenPublish(
        page_size=page,
        file_size=size,
        stores=draw(stores_in(page, 0, size)),
        then=then,
        msync_flags=draw(st.sampled_from([("MS_SYNC",), ("MS_SYNC", "MS_INVALIDATE")])) if then == "msync" else (),
    )


@st.composite
def stores_then_read(draw, page: int) -> scenario.StoresThenRead:
    size = draw(file_sizes(page, min_size=1))
    return scenario.StoresThenRead(
        page_size=page,
        file_size=size,
        fd_mode=draw(st.sampled_from(["O_RDONLY", "O_RDWR"])),
        fd_opened=draw(st.sampled_from(["before", "after"])),
        stores=draw(stores_in(page, 0, size)),
    )


@st.composite
def writes_after_mmap(draw, page: int) -> scenario.WriteAfterMmap:
    size = draw(file_sizes(page, min_size=1))
    at, data = draw(store_in(page, 0, size))
    mode, prot = draw(ACCESS)
    return scenario.WriteAfterMmap(
        page_size=page,
        file_size=size,
        mode=mode,
        prot=prot,
        cache=draw(st.sampled_from(["warm", "dropped"])),
        touch_others=draw(st.booleans()),
        writer=draw(st.sampled_from(["self", "other"])),
        at=at,
        data=data,
    )


@st.composite
def two_mappers(draw, page: int) -> scenario.TwoMappers:
    size = draw(file_sizes(page, min_size=1))
    (a_mode, a_prot), (b_mode, b_prot) = draw(ACCESS), draw(ACCESS)
    return scenario.TwoMappers(
        page_size=page,
        file_size=size,
        a_mode=a_mode,
        a_prot=a_prot,
        a_touch=draw(st.sampled_from(["read", "write"])) if "PROT_WRITE" in a_prot else "read",
        b_mode=b_mode,
        b_prot=b_prot,
        b_touch=draw(st.sampled_from(["read", "write"])) if "PROT_WRITE" in b_prot else "read",
        b_offset=draw(page_offsets(page, (size - 1) // page)),
    )


@st.composite
def store_frames(draw, page: int) -> scenario.StoreFrames:
    size = draw(file_sizes(page, min_size=1))
    return scenario.StoreFrames(page, size, draw(st.sampled_from(["before", "after"])), draw(stores_in(page, 0, size)))


@st.composite
def many_writers(draw, page: int) -> scenario.ManyWriters:
    size = draw(file_sizes(page, min_size=1))
    writers = draw(st.integers(1, 3))
    stores = draw(st.lists(st.tuples(st.integers(0, writers - 1), store_in(page, 0, size)), min_size=1, max_size=6))
    concurrent = draw(st.booleans())
    if not concurrent:
        stores = sorted(stores, key=lambda s: s[0])  # each writer maps, stores and leaves before the next one
    return scenario.ManyWriters(
        page_size=page,
        file_size=size,
        leaves=tuple(draw(st.lists(st.sampled_from(["munmap", "exit"]), min_size=writers, max_size=writers))),
        concurrent=concurrent,
        stores=tuple((w, at, data) for w, (at, data) in stores),
    )


@st.composite
def exits_with_mapping(draw, page: int) -> scenario.ExitWithMapping:
    size = draw(file_sizes(page, min_size=1))
    return scenario.ExitWithMapping(
        page_size=page,
        file_size=size,
        stores=draw(stores_in(page, 0, size)),
        how=draw(st.sampled_from(["_exit", "end", "SIGKILL"])),
        code=draw(st.sampled_from([0, 1, 255]) | st.integers(0, 255)),
    )


@st.composite
def overlapping_stores(draw, page: int) -> scenario.OverlappingStores:
    size = draw(file_sizes(page, min_size=page + 1))
    offset = draw(page_offsets(page, (size - 1) // page).filter(lambda o: o > 0))
    return scenario.OverlappingStores(
        page_size=page,
        file_size=size,
        second_offset=offset,
        second_process=draw(st.sampled_from(["same", "other"])),
        stores=tuple((via, at, data) for via, (at, data) in draw(
            st.lists(st.tuples(st.sampled_from(["first", "second"]), store_in(page, offset, size)), min_size=1, max_size=6))),
    )


@pytest.mark.claim("SHARED-1")
@given(data=st.data())
def test_shared_store_seen_by_other_process_own_mapping(conformance, target, data):
    case = draw_case(data, target, cross_process_stores(target.page_size))
    conformance.judge(scenario.judge_other_process_sees_store, case,
                      conformance.observe(scenario.stores_seen_by_other_process, conformance.workspace, case))


@pytest.mark.claim("SHARED-2")
@given(data=st.data())
def test_shared_stores_read_from_file_after_msync_or_munmap(conformance, target, data):
    case = draw_case(data, target, stores_then_publish(target.page_size))
    conformance.judge(scenario.judge_file_has_stores_after_publish, case, conformance.observe(scenario.store_then_publish, conformance.workspace, case))


@pytest.mark.claim("SHARED-3")
@given(data=st.data())
def test_shared_store_returned_by_pread_without_msync(conformance, target, data):
    case = draw_case(data, target, stores_then_read(target.page_size))
    conformance.judge(scenario.judge_pread_sees_store, case, conformance.observe(scenario.store_then_pread, conformance.workspace, case))


@pytest.mark.claim("SHARED-4")
@given(data=st.data())
# Where the mapping's descriptor decides the alternative (overlayfs: one opened O_RDONLY before the copy-up maps the
# lower file), every profile tries both, however few examples it draws.
@example(data=PageRelative(lambda page: scenario.WriteAfterMmap(
    page, 1, "O_RDONLY", ("PROT_READ",), "warm", False, "self", 0, b"\x00")))
@example(data=PageRelative(lambda page: scenario.WriteAfterMmap(
    page, 1, "O_RDWR", ("PROT_READ", "PROT_WRITE"), "warm", True, "other", 0, b"\xf8")))
def test_pwrite_after_mmap_seen_through_shared_mapping(conformance, target, data):
    case = draw_case(data, target, writes_after_mmap(target.page_size))
    conformance.judge(scenario.judge_write_seen_or_not, case, conformance.observe(scenario.write_then_load, conformance.workspace, case))


# One read-only and one read-write opener, explicitly: where they can be given two files (overlayfs copies the file up
# for the read-write one) only that pair shows it, and a 3-example kernel-matrix run drew none on 6.1.
@pytest.mark.claim("SHARED-5")
@given(data=st.data())
@example(data=PageRelative(lambda page: scenario.TwoMappers(
    page_size=page, file_size=page, a_mode="O_RDONLY", a_prot=("PROT_READ",), a_touch="read", b_mode="O_RDWR",
    b_prot=("PROT_READ", "PROT_WRITE"), b_touch="read", b_offset=0)))
def test_shared_mappings_in_two_processes_same_page_frame(conformance, target, data):
    case = draw_case(data, target, two_mappers(target.page_size))
    conformance.judge(scenario.judge_same_frames, case, conformance.observe(scenario.frames_in_two_processes, conformance.workspace, case))


@pytest.mark.claim("SHARED-6")
@given(data=st.data())
def test_shared_store_keeps_page_frame(conformance, target, data):
    case = draw_case(data, target, store_frames(target.page_size))
    conformance.judge(scenario.judge_store_keeps_frame, case, conformance.observe(scenario.frames_around_store, conformance.workspace, case))


@pytest.mark.claim("SHARED-7")
@given(data=st.data())
def test_shared_stores_in_file_after_all_writers_exit_without_msync(conformance, target, data):
    case = draw_case(data, target, many_writers(target.page_size))
    conformance.judge(scenario.judge_stores_in_file_after_exit, case, conformance.observe(scenario.writers_store_and_exit, conformance.workspace, case))


@pytest.mark.claim("SHARED-8")
@given(data=st.data())
def test_exit_without_munmap_keeps_shared_stores_in_file(conformance, target, data):
    case = draw_case(data, target, exits_with_mapping(target.page_size))
    conformance.judge(scenario.judge_stores_remain_after_exit, case, conformance.observe(scenario.exit_with_mapping, conformance.workspace, case))


@pytest.mark.claim("SHARED-9")
@given(data=st.data())
def test_overlapping_shared_mappings_see_stores_at_matching_offset(conformance, target, data):
    case = draw_case(data, target, overlapping_stores(target.page_size))
    conformance.judge(scenario.judge_overlap_sees_stores, case, conformance.observe(scenario.store_through_overlapping, conformance.workspace, case))
