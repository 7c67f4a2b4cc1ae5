"""SYNC judges can fail."""

from __future__ import annotations

from fixtures import sysctl
from fixtures.outcome import returned
from suite.scenarios import sync
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

MSYNC = sync.MsyncCall(PAGE, 100, "MAP_SHARED", 0, 100, ("MS_SYNC", "MS_ASYNC"))


def stat(dirty: int = 0, writeback: int = 0, cache: int = 1) -> dict:
    return {"nr_cache": cache, "nr_dirty": dirty, "nr_writeback": writeback, "nr_evicted": 0, "nr_recently_evicted": 0}


STORES = ((0, b"ab"),)
STORED = b"ab" + pattern(29, 100)[2:]
DIRTY_SYNC = sync.DirtyMsync(PAGE, 100, STORES, 0, 100, ("MS_SYNC",))
DIRTY_SYNC_INVALIDATE = sync.DirtyMsync(PAGE, 100, STORES, 0, 100, ("MS_SYNC", "MS_INVALIDATE"))
DIRTY_ASYNC = sync.DirtyMsync(PAGE, 100, STORES, 0, 100, ("MS_ASYNC",))
QUIET = dict(sysctl.WRITEBACK_HELD_OFF)
BRISK = dict(sync.BRISK_FLUSHER)

BEHIND = sync.BehindCache(PAGE, 2, 1, 1, 7, "MAP_SHARED", "other", ("MS_SYNC", "MS_INVALIDATE"))
OLD = returned(pattern(31, 2 * PAGE)[PAGE:])
NEW = returned(pattern(7, PAGE))
BEHIND_SEEN = sync.BehindCacheSeen(None, OLD, NEW, RETURNED_NONE, NEW, NEW)

ALIGNED = sync.AlignedMsync(PAGE, PAGE, STORES, 0, 0, 512, ("MS_SYNC",))
MISALIGNED = sync.AlignedMsync(PAGE, PAGE, STORES, 0, 1, 512, ("MS_SYNC",))

BITS = sync.MsyncBits(PAGE, 100, "MAP_SHARED", 0, 100, ("MS_SYNC",), 0x8)
NO_SYNC = sync.MsyncBits(PAGE, 100, "MAP_SHARED", 0, 100, ("MS_INVALIDATE",), 0)

HOLE = sync.UnmappedRange(PAGE, "hole", 3, (1, 2), (0, 3), 0, "MAP_SHARED", ("MS_SYNC",))

LEFT = sync.DirtyLeft(PAGE, 100, STORES, False)

PRIVATE = sync.PrivateMsync(PAGE, 100, "O_RDONLY", STORES, 0, 100, ("MS_SYNC",))
PRIVATE_ORIGINAL = pattern(47, 100)

CASES = {
    sync.judge_fails_with_einval: (MSYNC, sync.MsyncResult("EINVAL"), [sync.MsyncResult(None), sync.MsyncResult("ENOMEM")]),
    sync.judge_no_dirty_pages_after_ms_sync: (DIRTY_SYNC, sync.DirtyMsyncSeen(None, stat(1), stat(0), STORED), [
        sync.DirtyMsyncSeen(None, stat(1), stat(1), STORED),
        sync.DirtyMsyncSeen(None, stat(1), stat(0, 1), STORED),
        sync.DirtyMsyncSeen("EIO", stat(1), stat(0), STORED),
        sync.DirtyMsyncSeen(None, None, None, STORED)]),
    sync.judge_sync_invalidate_writes_back: (DIRTY_SYNC_INVALIDATE, sync.DirtyMsyncSeen(None, stat(1), stat(0), STORED), [
        sync.DirtyMsyncSeen("EINVAL", stat(1), stat(0), STORED),
        sync.DirtyMsyncSeen("EBUSY", None, None, STORED),
        sync.DirtyMsyncSeen(None, stat(1), stat(1), STORED),
        sync.DirtyMsyncSeen(None, None, None, pattern(29, 100))]),
    sync.judge_async_starts_writeback_soon: (DIRTY_ASYNC, sync.AsyncSeen(None, 0.0001, QUIET, stat(1), 0.05, stat(0, 1)), [
        sync.AsyncSeen(None, 0.0001, QUIET, stat(1), None, stat(1)),
        sync.AsyncSeen(None, 0.0001, QUIET, stat(1), sync.ASYNC_START_BOUND + 1, stat(0)),
        sync.AsyncSeen(None, sync.RETURN_BOUND + 1, QUIET, stat(1), 0.05, stat(0)),
        sync.AsyncSeen("EINVAL", 0.0001, QUIET, stat(1), 0.05, stat(0))]),
    sync.judge_invalidate_shows_new_contents: (BEHIND, BEHIND_SEEN, [
        sync.BehindCacheSeen(None, OLD, OLD, RETURNED_NONE, OLD, NEW),
        sync.BehindCacheSeen(None, OLD, OLD, RETURNED_NONE, NEW, OLD),
        sync.BehindCacheSeen(None, OLD, NEW, returned("EBUSY"), NEW, NEW),
        sync.BehindCacheSeen(None, OLD, NEW, RETURNED_NONE, SIGBUS, NEW),
        sync.BehindCacheSeen("open(O_DIRECT) fails with EINVAL", OLD, None, None, None, None)]),
    sync.judge_unaligned_length_ok: (ALIGNED, sync.AlignedMsyncSeen(None, stat(1), stat(0)), [
        sync.AlignedMsyncSeen("EINVAL", stat(1), stat(1)),
        sync.AlignedMsyncSeen(None, stat(1), stat(1)),
        sync.AlignedMsyncSeen(None, stat(1), stat(0, 1))]),
    sync.judge_misaligned_addr_einval: (MISALIGNED, sync.AlignedMsyncSeen("EINVAL", None, None), [
        sync.AlignedMsyncSeen(None, None, None), sync.AlignedMsyncSeen("ENOMEM", None, None)]),
    sync.judge_unknown_bit: (BITS, sync.MsyncResult("EINVAL"), [sync.MsyncResult("ENOMEM"), sync.MsyncResult("EBUSY")]),
    sync.judge_no_sync_flag: (NO_SYNC, sync.MsyncResult(None), [sync.MsyncResult("EBUSY"), sync.MsyncResult("ENOMEM")]),
    sync.judge_unmapped_enomem: (HOLE, sync.UnmappedSeen("ENOMEM", False), [
        sync.UnmappedSeen(None, False), sync.UnmappedSeen("EINVAL", False)]),
    sync.judge_written_back_eventually: (LEFT, sync.WrittenBackSeen(BRISK, stat(1), 0.1, stat(0)), [
        sync.WrittenBackSeen(BRISK, stat(1), None, stat(1)),
        sync.WrittenBackSeen(BRISK, stat(1), None, stat(0, 1)),
        sync.WrittenBackSeen(BRISK, stat(1), sync.WRITEBACK_BOUND + 1, stat(0))]),
    sync.judge_private_msync_leaves_file: (PRIVATE, sync.PrivateMsyncSeen(RETURNED_NONE, PRIVATE_ORIGINAL, returned(PRIVATE_ORIGINAL)), [
        sync.PrivateMsyncSeen(returned("EINVAL"), PRIVATE_ORIGINAL, returned(PRIVATE_ORIGINAL)),
        sync.PrivateMsyncSeen(RETURNED_NONE, b"ab" + PRIVATE_ORIGINAL[2:], returned(PRIVATE_ORIGINAL)),
        sync.PrivateMsyncSeen(RETURNED_NONE, PRIVATE_ORIGINAL, returned(b"ab" + PRIVATE_ORIGINAL[2:])),
        sync.PrivateMsyncSeen(RETURNED_NONE, PRIVATE_ORIGINAL, SIGBUS)]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
