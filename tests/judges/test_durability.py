"""DURABILITY judges can fail."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from fixtures.outcome import exited, returned, signalled
from suite.scenarios import steps
from suite.scenarios import durability
from tests.judges.helpers import RETURNED_NONE, SIGBUS, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

SIZE = 2 * PAGE
STORES = ((0, 10), (PAGE + 5, 3))
OLD = durability.old_contents(SIZE)
NEW = durability.new_contents(SIZE, 7, STORES)
HALF = NEW[:PAGE] + OLD[PAGE:]  # page 0 new, page 1 old
ZEROED = NEW[:PAGE + 6] + b"\0" + NEW[PAGE + 7:]  # a stored byte that is neither old nor new
SCRIBBLED = OLD[:100] + bytes([OLD[100] ^ 0xFF]) + OLD[101:]  # an unstored byte changed
DIRTY = ((0, 1, 0), (1, 1, 0))


def seen(crash: bytes | None, call: str | None = None, error: str | None = None) -> durability.CrashSeen:
    return durability.CrashSeen(call, DIRTY, DIRTY, 1, 1, crash, error)


MSYNC = durability.MsyncCrash(PAGE, SIZE, 7, STORES, 0, 1, ("MS_SYNC",))  # covers page 0 only
FSYNC = durability.FsyncCrash(PAGE, SIZE, 7, STORES, "fsync", "mapping", False)
NOSYNC = durability.NoSyncCrash(PAGE, SIZE, 7, STORES, "mapped")

EXITED = exited(0)
UNMOUNT = durability.UnmountCase(PAGE, PAGE + 1, 9, ("munmap", "exit"), True, ((0, 0, 5), (1, PAGE, 1)))
UNMOUNT_NEW = durability.new_contents(PAGE + 1, 9, ((0, 5), (PAGE, 1)))
UNMOUNT_OLD = durability.old_contents(PAGE + 1)
UNMOUNT_SEEN = durability.UnmountSeen(
    (RETURNED_NONE, RETURNED_NONE),
    (steps.WriterLeft(RETURNED_NONE, EXITED), steps.WriterLeft(None, EXITED)),
    returned(UNMOUNT_NEW), 2, UNMOUNT_NEW, None)


def unmount_seen(**changes) -> durability.UnmountSeen:
    return dataclasses.replace(UNMOUNT_SEEN, **changes)


CASES = {
    durability.judge_msync_range_in_crash_image: (MSYNC, seen(HALF), [
        seen(HALF, call="EIO"),
        seen(OLD),  # the synced page did not reach the device
        seen(OLD[:PAGE // 2] + NEW[PAGE // 2:PAGE] + OLD[PAGE:]),  # nor did the stored bytes of its first half
        seen(NEW[:PAGE] + ZEROED[PAGE:]),  # a byte outside the range neither old nor new
        seen(SCRIBBLED[:PAGE]),  # truncated
        seen(None, error="the image cannot be mounted (ro): mount -t…: wrong fs type"),
    ]),
    durability.judge_fsync_in_crash_image: (FSYNC, seen(NEW), [
        seen(NEW, call="EIO"),
        seen(OLD),
        seen(HALF),  # page 1's store lost
        seen(ZEROED),
        seen(NEW + b"\0"),
        seen(None, error="f-x is not in the filesystem"),
    ]),
    durability.judge_unsynced_crash_contents: (NOSYNC, seen(OLD), [
        seen(ZEROED),
        seen(SCRIBBLED),  # the durable old contents damaged where nothing was stored
        seen(OLD[:-1]),
        seen(None, error="f-x is not in the filesystem"),
    ]),
    durability.judge_stores_on_device_after_unmount: (UNMOUNT, UNMOUNT_SEEN, [
        unmount_seen(on_device=UNMOUNT_OLD),
        unmount_seen(on_device=UNMOUNT_NEW[:PAGE] + UNMOUNT_OLD[PAGE:]),
        unmount_seen(on_device=None, device_error="file is not in the filesystem"),
        unmount_seen(on_device=UNMOUNT_NEW[:-1]),
        unmount_seen(on_device=b"\0" + UNMOUNT_NEW[1:]),
        unmount_seen(in_file=returned(UNMOUNT_OLD)),
        unmount_seen(in_file=SIGBUS),
        unmount_seen(stores=(SIGBUS, RETURNED_NONE)),
        unmount_seen(stores=(RETURNED_NONE,)),
        unmount_seen(leaving=(steps.WriterLeft(returned("EINVAL"), EXITED), steps.WriterLeft(None, EXITED))),
        unmount_seen(leaving=(steps.WriterLeft(RETURNED_NONE, EXITED),
                              steps.WriterLeft(None, signalled(signal.SIGKILL)))),
    ]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)


@pytest.mark.parametrize("crash, alternative", [(OLD, "old-contents"), (NEW, "new-contents"), (HALF, "mixed")])
def test_unsynced_alternatives(crash, alternative):
    finding = durability.judge_unsynced_crash_contents(NOSYNC, seen(crash))
    assert (finding.verdict, finding.alternative) == ("observed", alternative)


def test_msync_judge_takes_whole_pages():
    """Stores in a page msync() covers count even where they lie past addr + length."""
    case = durability.MsyncCrash(PAGE, SIZE, 7, STORES, 1, 1, ("MS_SYNC",))  # page 1, whose store starts at byte 5
    assert durability.judge_msync_range_in_crash_image(case, seen(OLD[:PAGE] + NEW[PAGE:])).verdict == "holds"
    assert durability.judge_msync_range_in_crash_image(case, seen(HALF)).verdict == "refuted"


def test_stored_pages():
    assert durability.stored_pages(((0, 1), (PAGE - 1, 2), (3 * PAGE, PAGE)), PAGE) == (0, 1, 3)
