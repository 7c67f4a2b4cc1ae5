"""OPEN judges can fail."""

from __future__ import annotations

from fixtures.outcome import returned
from suite.scenarios import open as open_
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, SIGSEGV, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

ATTEMPT = open_.MapAttempt(PAGE, "O_RDONLY", ("PROT_READ", "PROT_WRITE"), "MAP_SHARED", 100, 100, 0)
WRONLY = open_.MapAttempt(PAGE, "O_WRONLY", ("PROT_READ",), "MAP_PRIVATE", 100, 100, 0)
WRONLY_SHARED_WRITE = open_.MapAttempt(PAGE, "O_WRONLY", ("PROT_WRITE",), "MAP_SHARED", 100, 100, 0)

MATRIX = open_.MapMatrix(PAGE, "O_RDONLY", 100, 100, 0, ((("PROT_READ",), "MAP_SHARED"), (("PROT_READ", "PROT_WRITE"), "MAP_PRIVATE"),
                                                   ((), "MAP_PRIVATE")))

ORIGINAL = pattern(3, 100)
PRIVATE = open_.UseCase(PAGE, "O_RDONLY", ("PROT_READ", "PROT_WRITE"), "MAP_PRIVATE", 100, 3, 0, 100, ((0, b"zz"),), False, False)
PRIVATE_SEEN = open_.UseSeen(None, returned(ORIGINAL), RETURNED_NONE, returned(b"zz" + ORIGINAL[2:]), ORIGINAL, None)
READONLY = open_.UseCase(PAGE, "O_RDONLY", ("PROT_READ",), "MAP_SHARED", 100, 3, 0, 100, (), True, False)
READONLY_SEEN = open_.UseSeen(None, returned(ORIGINAL), None, None, ORIGINAL, None)
CLOSED = open_.UseCase(PAGE, "O_RDWR", ("PROT_READ", "PROT_WRITE"), "MAP_SHARED", 100, 3, 0, 100, ((5, b"ab"),), True, True)
STORED = ORIGINAL[:5] + b"ab" + ORIGINAL[7:]
OTHER = pattern(open_.OTHER_FILL, CLOSED.other_size)
CLOSED_SEEN = open_.UseSeen(None, returned(ORIGINAL), RETURNED_NONE, returned(STORED), STORED, OTHER)

ADD_WRITE = open_.AddWrite(PAGE, 100, 3, ("PROT_READ",), 0, 100, 0, 1, ("PROT_READ", "PROT_WRITE"), 10, b"x", True)
CHANGED = ORIGINAL[:10] + b"x" + ORIGINAL[11:]

CASES = {
    open_.judge_fails_with_eacces: (ATTEMPT, open_.MapOutcome("EACCES"), [open_.MapOutcome(None), open_.MapOutcome("EPERM")]),
    open_.judge_fails: (WRONLY, open_.MapOutcome("EACCES"), [open_.MapOutcome(None)]),
    open_.judge_succeeds: (WRONLY_SHARED_WRITE, open_.MapOutcome(None), [open_.MapOutcome("EACCES"), open_.MapOutcome("EINVAL")]),
    open_.judge_only_readonly_prots_succeed: (MATRIX, open_.MatrixSeen((None, "EACCES", None)), [
        open_.MatrixSeen((None, None, None)),  # MAP_PRIVATE with PROT_WRITE succeeded
        open_.MatrixSeen(("EACCES", "EACCES", None)),  # PROT_READ refused
        open_.MatrixSeen((None, "EACCES", "EINVAL"))]),  # PROT_NONE refused
    open_.judge_private_writable_map_works: (PRIVATE, PRIVATE_SEEN, [
        open_.UseSeen("EACCES", None, None, None, ORIGINAL, None),
        open_.UseSeen(None, returned(bytes(100)), RETURNED_NONE, returned(b"zz" + bytes(98)), ORIGINAL, None),
        open_.UseSeen(None, returned(ORIGINAL), SIGSEGV, None, ORIGINAL, None),
        open_.UseSeen(None, returned(ORIGINAL), RETURNED_NONE, returned(ORIGINAL), ORIGINAL, None),
        open_.UseSeen(None, returned(ORIGINAL), RETURNED_NONE, returned(b"zz" + ORIGINAL[2:]), b"zz" + ORIGINAL[2:], None)]),
    open_.judge_map_loads_file_bytes: (READONLY, READONLY_SEEN, [
        open_.UseSeen("EACCES", None, None, None, ORIGINAL, None),
        open_.UseSeen(None, SIGBUS, None, None, ORIGINAL, None),
        open_.UseSeen(None, returned(ORIGINAL[:99]), None, None, ORIGINAL, None),
        open_.UseSeen(None, returned(pattern(4, 100)), None, None, ORIGINAL, None),
        open_.UseSeen(None, None, None, None, ORIGINAL, None)]),
    open_.judge_mapping_valid_after_close: (CLOSED, CLOSED_SEEN, [
        open_.UseSeen("EBADF", None, None, None, ORIGINAL, OTHER),
        open_.UseSeen(None, SIGSEGV, None, None, ORIGINAL, OTHER),
        open_.UseSeen(None, returned(ORIGINAL), SIGBUS, None, ORIGINAL, OTHER),
        open_.UseSeen(None, returned(ORIGINAL), RETURNED_NONE, returned(STORED), ORIGINAL, OTHER),  # stores never reached the file
        open_.UseSeen(None, returned(ORIGINAL), RETURNED_NONE, returned(STORED), STORED, b"ab" + OTHER[2:])]),
    open_.judge_mprotect_write_refused: (ADD_WRITE, open_.AddWriteSeen("EACCES", ("r--s",), SIGSEGV, ORIGINAL), [
        open_.AddWriteSeen(None, ("rw-s",), RETURNED_NONE, CHANGED),
        open_.AddWriteSeen("EPERM", ("r--s",), SIGSEGV, ORIGINAL),
        open_.AddWriteSeen("EACCES", ("rw-s",), SIGSEGV, ORIGINAL),
        open_.AddWriteSeen("EACCES", ("r--s",), RETURNED_NONE, ORIGINAL),
        open_.AddWriteSeen("EACCES", ("r--s",), SIGSEGV, CHANGED)]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
