"""SHARED judges can fail."""

from __future__ import annotations

import signal

from fixtures.outcome import exited, returned, signalled
from suite.scenarios import steps
from suite.scenarios import shared
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, SIGSEGV, TIMEOUT, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

SIZE = 100
ORIGINAL = pattern(shared.FILL, SIZE)
STORES = ((0, b"ab"), (1, b"cd"))
AFTER_STORES = b"acd" + ORIGINAL[3:]

CROSS = shared.CrossProcessStores(PAGE, SIZE, "O_RDONLY", ("PROT_READ",), "before", "read", STORES)
CROSS_SEEN = shared.CrossProcessSeen((RETURNED_NONE, RETURNED_NONE), (returned(b"ab"), returned(b"cd")))

PUBLISH = shared.StoresThenPublish(PAGE, SIZE, STORES, "msync", ("MS_SYNC",))

PREAD = shared.StoresThenRead(PAGE, SIZE, "O_RDONLY", "before", STORES)

WRITE = shared.WriteAfterMmap(PAGE, SIZE, "O_RDWR", ("PROT_READ",), "warm", False, "other", 10, b"xyz")
WRITTEN = returned(3)

TWO = shared.TwoMappers(PAGE, 2 * PAGE + 1, "O_RDONLY", ("PROT_READ",), "read", "O_RDWR", ("PROT_READ",), "read", PAGE)
A_FRAMES = (0x1000, 0x2000, 0x3000)

FRAMES = shared.StoreFrames(PAGE, 2 * PAGE, "before", ((PAGE, b"z"),))
FRAMES_SEEN = shared.StoreFramesSeen((0x10, 0x20), (0x10, 0x20), (0x10, 0x20))

WRITERS = shared.ManyWriters(PAGE, SIZE, ("munmap", "exit"), True, ((0, 0, b"ab"), (1, 1, b"cd")))
LEFT_MUNMAP = steps.WriterLeft(RETURNED_NONE, exited(0))
LEFT_EXIT = steps.WriterLeft(None, exited(0))
WRITERS_SEEN = shared.AfterWritersSeen((RETURNED_NONE, RETURNED_NONE), (LEFT_MUNMAP, LEFT_EXIT), returned(AFTER_STORES))

EXIT = shared.ExitWithMapping(PAGE, SIZE, STORES, "_exit", 3)
MAPS_LINE = returned({"start": 4096, "end": 8192, "perms": "rw-s", "offset": 0, "device": "fe:00", "inode": 7, "path": "/f"})
EXITED_3 = exited(3)

OVERLAP = shared.OverlappingStores(PAGE, 2 * PAGE, PAGE, "other", (("first", PAGE, b"ab"), ("second", PAGE + 1, b"cd")))

CASES = {
    shared.judge_other_process_sees_store: (CROSS, CROSS_SEEN, [
        shared.CrossProcessSeen((RETURNED_NONE, RETURNED_NONE), (returned(b"ab"), returned(ORIGINAL[1:3]))),
        shared.CrossProcessSeen((RETURNED_NONE, RETURNED_NONE), (returned(b"ab"), SIGBUS)),
        shared.CrossProcessSeen((SIGSEGV, RETURNED_NONE), (returned(b"ab"), returned(b"cd"))),
        shared.CrossProcessSeen((RETURNED_NONE,), (returned(b"ab"),))]),
    shared.judge_file_has_stores_after_publish: (PUBLISH, shared.PublishedSeen(RETURNED_NONE, AFTER_STORES), [
        shared.PublishedSeen(RETURNED_NONE, ORIGINAL),
        shared.PublishedSeen(RETURNED_NONE, AFTER_STORES[:50]),
        shared.PublishedSeen(returned("EINVAL"), AFTER_STORES)]),
    shared.judge_pread_sees_store: (PREAD, shared.PreadsSeen((b"ab", b"cd")), [
        shared.PreadsSeen((b"ab", ORIGINAL[1:3])), shared.PreadsSeen((b"ab",)), shared.PreadsSeen((ORIGINAL[:2], b"cd"))]),
    shared.judge_write_seen_or_not: (WRITE, shared.MappingAfterWrite(WRITTEN, returned(b"xyz")), [
        shared.MappingAfterWrite(WRITTEN, returned(b"x" + ORIGINAL[11:13])),
        shared.MappingAfterWrite(WRITTEN, SIGBUS),
        shared.MappingAfterWrite(returned(2), returned(b"xyz"))]),
    shared.judge_same_frames: (TWO, shared.FramesSeen(A_FRAMES, A_FRAMES[1:], A_FRAMES), [
        shared.FramesSeen(A_FRAMES, (0x2000, 0x9000), A_FRAMES),
        shared.FramesSeen(A_FRAMES, (0x2000, None), A_FRAMES),
        shared.FramesSeen((0, 0, 0), (0, 0), (0, 0, 0)),
        shared.FramesSeen(A_FRAMES, A_FRAMES[1:], (0x1000, 0x2000, 0x4000)),
        shared.FramesSeen(A_FRAMES, A_FRAMES[1:2], A_FRAMES)]),
    shared.judge_store_keeps_frame: (FRAMES, FRAMES_SEEN, [
        shared.StoreFramesSeen((0x10, 0x20), (0x10, 0x30), (0x10, 0x30)),
        shared.StoreFramesSeen((0x10, 0x20), (0x10, 0x20), (0x10, 0x30)),
        shared.StoreFramesSeen((0x10, None), (0x10, 0x20), (0x10, 0x20)),
        shared.StoreFramesSeen((0, 0), (0, 0), (0, 0))]),
    shared.judge_stores_in_file_after_exit: (WRITERS, WRITERS_SEEN, [
        shared.AfterWritersSeen(WRITERS_SEEN.stores, WRITERS_SEEN.leaving, returned(ORIGINAL)),
        shared.AfterWritersSeen(WRITERS_SEEN.stores, WRITERS_SEEN.leaving, returned(b"ab" + ORIGINAL[2:])),
        shared.AfterWritersSeen(WRITERS_SEEN.stores, WRITERS_SEEN.leaving, TIMEOUT),
        shared.AfterWritersSeen((RETURNED_NONE, SIGBUS), WRITERS_SEEN.leaving, returned(AFTER_STORES)),
        shared.AfterWritersSeen(WRITERS_SEEN.stores, (LEFT_EXIT, LEFT_EXIT), returned(AFTER_STORES)),
        shared.AfterWritersSeen(WRITERS_SEEN.stores, (LEFT_MUNMAP, steps.WriterLeft(None, signalled(signal.SIGKILL))),
                                returned(AFTER_STORES)),
        shared.AfterWritersSeen(WRITERS_SEEN.stores, (LEFT_MUNMAP,), returned(AFTER_STORES))]),
    shared.judge_stores_remain_after_exit: (EXIT, shared.ExitSeen(MAPS_LINE, EXITED_3, returned(AFTER_STORES)), [
        shared.ExitSeen(MAPS_LINE, EXITED_3, returned(ORIGINAL)),
        shared.ExitSeen(MAPS_LINE, EXITED_3, SIGBUS),
        shared.ExitSeen(MAPS_LINE, exited(0), returned(AFTER_STORES)),
        shared.ExitSeen(MAPS_LINE, None, returned(AFTER_STORES)),  # still running
        shared.ExitSeen(RETURNED_NONE, EXITED_3, returned(AFTER_STORES)),
        shared.ExitSeen(returned(dict(MAPS_LINE.value, perms="rw-p")), EXITED_3, returned(AFTER_STORES))]),
    shared.judge_overlap_sees_stores: (OVERLAP, shared.OverlapSeen((RETURNED_NONE, RETURNED_NONE), (returned(b"ab"), returned(b"cd"))), [
        shared.OverlapSeen((RETURNED_NONE, RETURNED_NONE), (returned(b"ab"), returned(b"xx"))),
        shared.OverlapSeen((RETURNED_NONE, SIGBUS), (returned(b"ab"), returned(b"cd"))),
        shared.OverlapSeen((RETURNED_NONE, RETURNED_NONE), (SIGSEGV, returned(b"cd"))),
        shared.OverlapSeen((RETURNED_NONE,), (returned(b"ab"),))]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
