"""OPEN judges can fail."""

from __future__ import annotations

from suite.scenarios import open as open_
from tests.judges.helpers import self_tests

ATTEMPT = open_.MapAttempt("O_RDONLY", ("PROT_READ", "PROT_WRITE"), "MAP_SHARED", 100, 100, 0)
WRONLY = open_.MapAttempt("O_WRONLY", ("PROT_READ",), "MAP_PRIVATE", 100, 100, 0)

CASES = {
    open_.judge_fails_with_eacces: (ATTEMPT, open_.MapOutcome("EACCES"), [open_.MapOutcome(None), open_.MapOutcome("EPERM")]),
    open_.judge_fails: (WRONLY, open_.MapOutcome("EACCES"), [open_.MapOutcome(None)]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
