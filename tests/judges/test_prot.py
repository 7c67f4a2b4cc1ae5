"""PROT judges can fail."""

from __future__ import annotations

from fixtures.outcome import returned
from suite.scenarios import prot
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, SIGSEGV, TIMEOUT, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

ORIGINAL = pattern(3, 100)
READONLY = prot.ReadOnlyStore(PAGE, "O_RDONLY", ("PROT_READ",), "MAP_SHARED", 100, 3, 0, 100, 10, b"x", True)
TOUCHED = returned(ORIGINAL[10:11])
NONE = prot.NoneAccess(PAGE, "O_RDONLY", "MAP_PRIVATE", 100, 0, 100, 10, b"x")
KINDS = prot.SignalKinds(PAGE, "MAP_SHARED", 100, 3, 10, 0, "read", 0, 8192, 1, 0, "write", b"x")

CASES = {
    prot.judge_store_to_readonly_sigsegv: (READONLY, prot.ReadOnlyStoreSeen(TOUCHED, SIGSEGV, ORIGINAL), [
        prot.ReadOnlyStoreSeen(TOUCHED, RETURNED_NONE, ORIGINAL),
        prot.ReadOnlyStoreSeen(TOUCHED, SIGBUS, ORIGINAL),
        prot.ReadOnlyStoreSeen(SIGSEGV, None, ORIGINAL),
        prot.ReadOnlyStoreSeen(TOUCHED, SIGSEGV, ORIGINAL[:10] + b"x" + ORIGINAL[11:])]),
    prot.judge_prot_none_access_sigsegv: (NONE, prot.NoneAccessSeen(SIGSEGV, SIGSEGV), [
        prot.NoneAccessSeen(returned(b"a"), SIGSEGV),
        prot.NoneAccessSeen(SIGSEGV, RETURNED_NONE),
        prot.NoneAccessSeen(SIGBUS, SIGSEGV),
        prot.NoneAccessSeen(SIGSEGV, TIMEOUT)]),
    prot.judge_segv_and_bus_distinct: (KINDS, prot.SignalKindsSeen(SIGSEGV, SIGSEGV, SIGBUS), [
        prot.SignalKindsSeen(SIGBUS, SIGSEGV, SIGBUS),
        prot.SignalKindsSeen(SIGSEGV, SIGBUS, SIGBUS),
        prot.SignalKindsSeen(SIGSEGV, returned(b"\0"), SIGBUS),
        prot.SignalKindsSeen(SIGSEGV, SIGSEGV, SIGSEGV),
        prot.SignalKindsSeen(SIGSEGV, SIGSEGV, RETURNED_NONE)]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
