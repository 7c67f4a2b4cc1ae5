"""EOF judges can fail."""

from __future__ import annotations

from fixtures.outcome import returned
from suite.scenarios import eof
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, SIGSEGV, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

TAIL_READ = eof.TailRead(PAGE, 100, 3, "MAP_SHARED", 0, 100)
TAIL_WRITE = eof.TailWrite(PAGE, 100, 3, 0, 100, 150, b"xyz", True)
EXTEND = eof.ExtendAfterTailWrite(PAGE, 100, 3, 0, 100, 150, b"xyz", False, 5000, "keep")  # old tail: 3996 bytes
STALE = bytes(50) + b"xyz" + bytes(3943)
STORES = eof.MappedStores(PAGE, 100, 0, 8192, ((10, b"a"), (200, b"b"), (4096, b"c")), True)
EXTENSION = eof.Extension(PAGE, 100, 3, (150, 5000), "before")
EXTENDED = pattern(3, 100) + bytes(4900)
EMPTY = eof.EmptyFileMap(PAGE, 4096, ((0, "read"), (4095, "write")), 10)
AFTER_EXTENSION = returned(b"\x5a")
LSEEK = eof.LseekWrite(PAGE, 10, 5000, b"\x07", ("PROT_READ",))
GROWN = pattern(9, 10) + bytes(4990) + b"\x07"

CASES = {
    eof.judge_tail_reads_zero: (TAIL_READ, eof.TailSeen(returned(bytes(3996))), [
        eof.TailSeen(SIGBUS), eof.TailSeen(returned(bytes(3995) + b"\x01"))]),
    eof.judge_tail_write_not_written_back: (TAIL_WRITE, eof.FileAfterTailWrite(RETURNED_NONE, 100, pattern(3, 100)), [
        eof.FileAfterTailWrite(SIGBUS, 100, pattern(3, 100)),
        eof.FileAfterTailWrite(RETURNED_NONE, 153, pattern(3, 100) + bytes(50) + b"xyz"),
        eof.FileAfterTailWrite(RETURNED_NONE, 100, pattern(4, 100))]),
    eof.judge_old_tail_zero_after_extension: (
        EXTEND, eof.OldTailAfterExtension(RETURNED_NONE, 5000, bytes(3996), returned(bytes(3996))), [
            eof.OldTailAfterExtension(SIGBUS, 5000, bytes(3996), returned(bytes(3996))),
            eof.OldTailAfterExtension(RETURNED_NONE, 100, bytes(3996), returned(bytes(3996))),
            eof.OldTailAfterExtension(RETURNED_NONE, 5000, STALE, returned(bytes(3996))),
            eof.OldTailAfterExtension(RETURNED_NONE, 5000, bytes(3996), returned(STALE)),
            eof.OldTailAfterExtension(RETURNED_NONE, 5000, bytes(3996), SIGBUS),
            eof.OldTailAfterExtension(RETURNED_NONE, 5000, bytes(10), returned(bytes(3996)))]),
    eof.judge_size_unchanged_by_stores: (STORES, eof.SizesAfterStores((RETURNED_NONE, RETURNED_NONE, SIGBUS), (100, 100, 100), 100, 100), [
        eof.SizesAfterStores((RETURNED_NONE, RETURNED_NONE, SIGBUS), (100, 201, 201), 201, 201),
        eof.SizesAfterStores((RETURNED_NONE, RETURNED_NONE, RETURNED_NONE), (100, 100, 4097), 4097, 4097),
        eof.SizesAfterStores((RETURNED_NONE, RETURNED_NONE, SIGBUS), (100, 100, 100), 4096, 4096),
        eof.SizesAfterStores((RETURNED_NONE, RETURNED_NONE, SIGBUS), (100, 100, 100), 100, 4096),
        eof.SizesAfterStores((RETURNED_NONE,), (100,), 100, 100)]),
    eof.judge_extension_reads_zero: (EXTENSION, eof.ExtendedSeen(5000, EXTENDED, returned(EXTENDED)), [
        eof.ExtendedSeen(150, EXTENDED[:150], returned(EXTENDED[:150])),
        eof.ExtendedSeen(5000, EXTENDED[:4999] + b"\x01", returned(EXTENDED)),
        eof.ExtendedSeen(5000, EXTENDED, returned(EXTENDED[:120] + b"\x01" + EXTENDED[121:])),
        eof.ExtendedSeen(5000, bytes(5000), returned(EXTENDED)),
        eof.ExtendedSeen(5000, EXTENDED, SIGBUS),
        eof.ExtendedSeen(5000, EXTENDED[:4096], returned(EXTENDED))]),
    eof.judge_empty_file_accesses_sigbus: (EMPTY, eof.EmptyFileSeen(None, (SIGBUS, SIGBUS), AFTER_EXTENSION), [
        eof.EmptyFileSeen("EINVAL", (), None),
        eof.EmptyFileSeen(None, (SIGBUS, SIGSEGV), AFTER_EXTENSION),
        eof.EmptyFileSeen(None, (returned(b"\0"), SIGBUS), AFTER_EXTENSION),
        eof.EmptyFileSeen(None, (SIGBUS,), AFTER_EXTENSION),
        eof.EmptyFileSeen(None, (SIGBUS, SIGBUS), SIGBUS)]),
    eof.judge_hole_reads_zero: (LSEEK, eof.HoleSeen(1, 5001, None, returned(GROWN)), [
        eof.HoleSeen(1, 10, None, returned(GROWN)),
        eof.HoleSeen(1, 5001, "EINVAL", None),
        eof.HoleSeen(1, 5001, None, SIGBUS),
        eof.HoleSeen(1, 5001, None, returned(GROWN[:3000] + b"\x01" + GROWN[3001:])),
        eof.HoleSeen(1, 5001, None, returned(GROWN[:-1] + b"\0")),
        eof.HoleSeen(1, 5001, None, returned(bytes(10) + GROWN[10:])),
        eof.HoleSeen(1, 5001, None, returned(GROWN[:4096]))]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
