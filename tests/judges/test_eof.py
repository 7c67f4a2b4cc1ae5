"""EOF judges can fail."""

from __future__ import annotations

from suite.scenarios import eof
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, returned, self_tests

TAIL_READ = eof.TailRead(100, 3, "MAP_SHARED", 0, 100)
TAIL_WRITE = eof.TailWrite(100, 3, 0, 100, 150, b"xyz", True)

CASES = {
    eof.judge_tail_reads_zero: (TAIL_READ, eof.TailSeen(returned(bytes(3996))), [
        eof.TailSeen(SIGBUS), eof.TailSeen(returned(bytes(3995) + b"\x01"))]),
    eof.judge_tail_write_not_written_back: (TAIL_WRITE, eof.FileAfterTailWrite(RETURNED_NONE, 100, pattern(3, 100)), [
        eof.FileAfterTailWrite(SIGBUS, 100, pattern(3, 100)),
        eof.FileAfterTailWrite(RETURNED_NONE, 153, pattern(3, 100) + bytes(50) + b"xyz"),
        eof.FileAfterTailWrite(RETURNED_NONE, 100, pattern(4, 100))]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
