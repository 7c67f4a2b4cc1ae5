"""SYNC judges can fail."""

from __future__ import annotations

from suite.scenarios import sync
from tests.judges.helpers import self_tests

MSYNC = sync.MsyncCall(100, "MAP_SHARED", 0, 100, ("MS_SYNC", "MS_ASYNC"))

CASES = {
    sync.judge_fails_with_einval: (MSYNC, sync.MsyncResult("EINVAL"), [sync.MsyncResult(None), sync.MsyncResult("ENOMEM")]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
