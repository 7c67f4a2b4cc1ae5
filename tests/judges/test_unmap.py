"""UNMAP judges can fail."""

from __future__ import annotations

from fixtures.outcome import returned
from suite.scenarios import unmap
from suite.scenarios.address_space import digest
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, SIGSEGV, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

ENTRY = {"start": 0, "end": PAGE, "perms": "rw-s", "offset": 0, "device": "fe:00", "inode": 7, "path": "/f"}
MAPPED = returned(ENTRY)

AFTER = unmap.AfterMunmap(PAGE, "O_RDONLY", ("PROT_READ",), "MAP_SHARED", 100, 3, 0, 100, 100, ((0, "read"), (4095, "write")))

ORIGINAL = pattern(3, 100)
STORES = unmap.StoresThenMunmap(PAGE, 100, 3, 0, 100, ((5, b"ab"),), "child")
STORED = ORIGINAL[:5] + b"ab" + ORIGINAL[7:]

CONTENT = pattern(3, 3 * PAGE)
PARTIAL = unmap.PartialMunmap(PAGE, "O_RDWR", ("PROT_READ", "PROT_WRITE"), "MAP_SHARED", 3 * PAGE, 3, 0, 3, 1, 1, PAGE)
PAGES = [returned(digest(CONTENT[i * PAGE:(i + 1) * PAGE])) for i in range(3)]
PARTIAL_SEEN = unmap.PartialMunmapSeen(None, ("rw-s",) * 3, (MAPPED, RETURNED_NONE, MAPPED), (PAGES[0], SIGSEGV, PAGES[2]),
                                       (RETURNED_NONE, SIGSEGV, RETURNED_NONE))

UNALIGNED = unmap.UnalignedMunmap(PAGE, "O_RDONLY", ("PROT_READ",), "MAP_PRIVATE", 100, 3, 0, 100, 1, 100)
BEFORE = dict(ENTRY, perms="r--p")

CASES = {
    unmap.judge_access_after_munmap_sigsegv: (AFTER, unmap.AfterMunmapSeen(None, RETURNED_NONE, (SIGSEGV, SIGSEGV)), [
        unmap.AfterMunmapSeen("EINVAL", MAPPED, (returned(b"\1"), RETURNED_NONE)),
        unmap.AfterMunmapSeen(None, MAPPED, (SIGSEGV, SIGSEGV)),
        unmap.AfterMunmapSeen(None, RETURNED_NONE, (SIGSEGV, RETURNED_NONE)),
        unmap.AfterMunmapSeen(None, RETURNED_NONE, (SIGBUS, SIGSEGV))]),
    unmap.judge_file_keeps_stores_after_munmap: (STORES, unmap.FileAfterMunmap(RETURNED_NONE, None, True, 100, STORED), [
        unmap.FileAfterMunmap(RETURNED_NONE, None, False, None, None),
        unmap.FileAfterMunmap(RETURNED_NONE, None, True, PAGE, STORED + bytes(PAGE - 100)),
        unmap.FileAfterMunmap(RETURNED_NONE, None, True, 100, ORIGINAL),
        unmap.FileAfterMunmap(SIGBUS, "not done", True, 100, ORIGINAL),
        unmap.FileAfterMunmap(RETURNED_NONE, "EINVAL", True, 100, STORED)]),
    unmap.judge_partial_munmap_removes_only_range: (PARTIAL, PARTIAL_SEEN, [
        unmap.PartialMunmapSeen("EINVAL", *([PARTIAL_SEEN.perms_before, (MAPPED,) * 3, tuple(PAGES), (RETURNED_NONE,) * 3])),
        unmap.PartialMunmapSeen(None, ("rw-s",) * 3, (MAPPED, MAPPED, MAPPED), PARTIAL_SEEN.reads, PARTIAL_SEEN.writes),
        unmap.PartialMunmapSeen(None, ("rw-s",) * 3, PARTIAL_SEEN.entries, tuple(PAGES), PARTIAL_SEEN.writes),
        unmap.PartialMunmapSeen(None, ("rw-s",) * 3, (RETURNED_NONE, RETURNED_NONE, MAPPED), (SIGSEGV, SIGSEGV, PAGES[2]),
                                (SIGSEGV, SIGSEGV, RETURNED_NONE)),
        unmap.PartialMunmapSeen(None, ("rw-s",) * 3, (returned(dict(ENTRY, perms="r--s")), RETURNED_NONE, MAPPED),
                                PARTIAL_SEEN.reads, PARTIAL_SEEN.writes),
        unmap.PartialMunmapSeen(None, ("rw-s",) * 3, PARTIAL_SEEN.entries, (PAGES[0], SIGSEGV, returned(digest(bytes(PAGE)))),
                                PARTIAL_SEEN.writes),
        unmap.PartialMunmapSeen(None, ("rw-s",) * 3, PARTIAL_SEEN.entries, PARTIAL_SEEN.reads, (RETURNED_NONE, SIGSEGV, SIGSEGV))]),
    unmap.judge_unaligned_munmap_fails_einval: (UNALIGNED, unmap.UnalignedMunmapSeen("EINVAL", BEFORE, BEFORE, returned(ORIGINAL)), [
        unmap.UnalignedMunmapSeen(None, BEFORE, None, SIGSEGV),
        unmap.UnalignedMunmapSeen("ENOMEM", BEFORE, BEFORE, returned(ORIGINAL)),
        unmap.UnalignedMunmapSeen("EINVAL", BEFORE, dict(BEFORE, end=0), returned(ORIGINAL)),
        unmap.UnalignedMunmapSeen("EINVAL", BEFORE, BEFORE, SIGSEGV),
        unmap.UnalignedMunmapSeen("EINVAL", BEFORE, BEFORE, returned(bytes(100)))]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
