"""BUS judges can fail."""

from __future__ import annotations

from suite.scenarios import bus
from tests.judges.helpers import SIGBUS, SIGSEGV, TIMEOUT, returned, self_tests

BEYOND = bus.BeyondEofAccess(100, "MAP_SHARED", 0, 8192, 1, 0, "read")

CASES = {
    bus.judge_sigbus: (BEYOND, bus.AccessSeen(SIGBUS), [
        bus.AccessSeen(returned(b"\0")), bus.AccessSeen(SIGSEGV), bus.AccessSeen(TIMEOUT)]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
