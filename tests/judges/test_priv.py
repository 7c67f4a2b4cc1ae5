"""PRIV judges can fail."""

from __future__ import annotations

from suite.scenarios import priv
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, returned, self_tests

PRIVATE = priv.PrivateStores(100, "O_RDONLY", ((0, b"zz"),))
ELSEWHERE = priv.PrivateStoresElsewhere(100, "O_RDONLY", ((0, b"zz"),), "MAP_SHARED", "before")
ORIGINAL = pattern(17, 100)

CASES = {
    priv.judge_file_unchanged: (PRIVATE, priv.FileAfterPrivateStores(RETURNED_NONE, ORIGINAL), [
        priv.FileAfterPrivateStores(RETURNED_NONE, b"zz" + ORIGINAL[2:]),
        priv.FileAfterPrivateStores(RETURNED_NONE, ORIGINAL + b"\0"),
        priv.FileAfterPrivateStores(SIGBUS, ORIGINAL)]),
    priv.judge_other_process_sees_file: (ELSEWHERE, priv.ReaderSeen((returned(ORIGINAL[:2]),)), [
        priv.ReaderSeen((returned(b"zz"),)), priv.ReaderSeen((SIGBUS,))]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
