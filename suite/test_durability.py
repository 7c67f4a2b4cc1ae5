"""DURABILITY: what reaches the block device — msync(MS_SYNC), fsync(), no sync at all, and unmount — read back
from a crash copy of the device (see fixtures/crash.py for the crash model)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures import crash
from fixtures.libc import round_up
from suite.scenarios import durability as scenario
from suite.strategies import draw_case, file_sizes, fill_seeds

MAX_FILE_PAGES = 6
# Every stored byte differs from the old one: pattern() seeds that differ modulo 255 differ at every byte.
new_seeds = fill_seeds.filter(lambda s: s % 255 != scenario.OLD_SEED % 255)


def sizes(page: int) -> st.SearchStrategy[int]:
    return file_sizes(page, min_size=1, max_size=MAX_FILE_PAGES * page)


@st.composite
def page_stores(draw, page: int, size: int) -> tuple[tuple[int, int], ...]:
    """Stores (offset, length): Hypothesis picks which pages are dirtied (one store inside each, from its first or
    last byte, or anywhere) and maybe a store that crosses page boundaries."""
    pages = (size - 1) // page + 1
    dirtied = draw(st.lists(st.integers(0, pages - 1), min_size=1, max_size=pages, unique=True))
    stores = []
    for index in dirtied:
        lo, hi = index * page, min((index + 1) * page, size)
        at = draw(st.sampled_from([lo, hi - 1]) | st.integers(lo, hi - 1))
        stores.append((at, draw(st.sampled_from([1, hi - at]) | st.integers(1, hi - at))))
    if size > page and draw(st.booleans()):
        at = draw(st.integers(0, size - 2))
        stores.append((at, draw(st.integers(2, min(2 * page + 1, size - at)))))
    return tuple(draw(st.permutations(stores)))


def lengths(page: int, least: int, most: int) -> st.SearchStrategy[int]:
    """msync lengths in [least, most]: the edges (least, 512, page-1, page, page+1, most) or any."""
    edges = [n for n in (least, 512, page - 1, page, page + 1, most) if least <= n <= most]
    return st.sampled_from(edges) | st.integers(least, most)


@st.composite
def msync_crashes(draw, page: int) -> scenario.MsyncCrash:
    """A range to msync that holds at least one dirtied page: the subset of dirtied pages it syncs varies."""
    size = draw(sizes(page))
    stores = draw(page_stores(page, size))
    covered = draw(st.sampled_from(scenario.stored_pages(stores, page)))
    start_page = draw(st.integers(0, covered))
    length = draw(lengths(page, (covered - start_page) * page + 1, round_up(size, page) - start_page * page))
    return scenario.MsyncCrash(page, size, draw(new_seeds), stores, start_page, length,
                               draw(st.sampled_from([("MS_SYNC",), ("MS_SYNC", "MS_INVALIDATE")])))


@st.composite
def fsync_crashes(draw, page: int) -> scenario.FsyncCrash:
    size = draw(sizes(page))
    return scenario.FsyncCrash(
        page_size=page,
        file_size=size,
        seed=draw(new_seeds),
        stores=draw(page_stores(page, size)),
        call=draw(st.sampled_from(["fsync", "fdatasync"])),
        descriptor=draw(st.sampled_from(["mapping", "new O_RDONLY", "new O_RDWR"])),
        unmap_first=draw(st.booleans()),
    )


@st.composite
def unsynced_crashes(draw, page: int) -> scenario.NoSyncCrash:
    size = draw(sizes(page))
    return scenario.NoSyncCrash(page, size, draw(new_seeds), draw(page_stores(page, size)),
                                draw(st.sampled_from(["mapped", "munmapped", "exited"])))


@st.composite
def unmount_cases(draw, page: int) -> scenario.UnmountCase:
    size = draw(sizes(page))
    writers = draw(st.integers(1, 3))
    stores = [(w, at, length) for w in range(writers) for at, length in draw(page_stores(page, size))[:2]]
    stores = draw(st.permutations(stores))
    concurrent = draw(st.booleans())
    if not concurrent:
        stores = sorted(stores, key=lambda s: s[0])  # each writer maps, stores and leaves before the next one
    return scenario.UnmountCase(
        page_size=page,
        file_size=size,
        seed=draw(new_seeds),
        leaves=tuple(draw(st.lists(st.sampled_from(["munmap", "exit"]), min_size=writers, max_size=writers))),
        concurrent=concurrent,
        stores=tuple(stores),
    )


@pytest.fixture
def scratch(conformance):
    """A directory in the run's state directory for this test's crash copy and images, removed after the test."""
    with crash.scratch_dir(conformance.state_dir) as directory:
        yield directory


@pytest.mark.claim("SYNC-1/device")
@pytest.mark.run_alone
@given(data=st.data())
def test_msync_sync_range_in_crash_copy_of_device(conformance, target, scratch, data):
    case = draw_case(data, target, msync_crashes(target.page_size))
    conformance.judge(scenario.judge_msync_range_in_crash_image, case,
                      scenario.msync_then_crash(conformance.workspace, conformance.state_dir, scratch, target.fs, case))


@pytest.mark.claim("SYNC-1/fsync")
@pytest.mark.run_alone
@given(data=st.data())
def test_fsync_of_mapped_file_in_crash_copy_of_device(conformance, target, scratch, data):
    case = draw_case(data, target, fsync_crashes(target.page_size))
    conformance.judge(scenario.judge_fsync_in_crash_image, case,
                      scenario.fsync_then_crash(conformance.workspace, conformance.state_dir, scratch, target.fs, case))


@pytest.mark.claim("SYNC-9/no-sync-crash")
@pytest.mark.run_alone
@given(data=st.data())
def test_unsynced_shared_stores_in_crash_copy_before_writeback(conformance, target, scratch, data):
    case = draw_case(data, target, unsynced_crashes(target.page_size))
    conformance.judge(scenario.judge_unsynced_crash_contents, case,
                      scenario.unsynced_then_crash(conformance.workspace, conformance.state_dir, scratch, target.fs, case))


@pytest.mark.claim("SHARED-7/device")
@pytest.mark.run_alone
@given(data=st.data())
def test_shared_stores_on_device_after_writers_exit_and_unmount(conformance, target, scratch, data):
    case = draw_case(data, target, unmount_cases(target.page_size))
    conformance.judge(scenario.judge_stores_on_device_after_unmount, case,
                      scenario.store_exit_unmount(conformance.workspace, conformance.state_dir, scratch, target.fs, case))
