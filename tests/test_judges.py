"""Every judge can fail: each rejects observations that violate its claim, and accepts one that conforms.

Observations here are written by hand (no kernel involved): judges are pure.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import suite.scenarios
from suite.scenarios import bus, eof, fork, priv, sync
from suite.scenarios import open as open_
from suite.strategies import pattern

RETURNED_NONE = {"kind": "returned", "value": None}
SIGBUS = {"kind": "signalled", "signal": "SIGBUS"}
SIGSEGV = {"kind": "signalled", "signal": "SIGSEGV"}


def returned(data: bytes) -> dict:
    return {"kind": "returned", "value": data.hex()}


ATTEMPT = open_.MapAttempt("O_RDONLY", ("PROT_READ", "PROT_WRITE"), "MAP_SHARED", 100, 100, 0)
WRONLY = open_.MapAttempt("O_WRONLY", ("PROT_READ",), "MAP_PRIVATE", 100, 100, 0)
TAIL_READ = eof.TailRead(100, 3, "MAP_SHARED", 0, 100)
TAIL_WRITE = eof.TailWrite(100, 3, 0, 100, 150, b"xyz", True)
BEYOND = bus.BeyondEofAccess(100, "MAP_SHARED", 0, 8192, 1, 0, "read")
TRUNCATED = bus.TruncatedAccess(8193, 10, 1, 0, "no", "other", "read")
INHERIT = fork.InheritCase(100, "MAP_SHARED", ("PROT_READ",), 0, 100)
ENTRY = {"start": 4096, "end": 8192, "perms": "r--s", "offset": 0, "device": "fe:00", "inode": 7, "path": "/f"}
PARENT_BYTES = pattern(11, 100)
RETURNED_ENTRY = {"kind": "returned", "value": ENTRY}
STORES = (fork.Store("parent", 0, b"ab"), fork.Store("child", 1, b"cd"))
SHARED_STORES = fork.ForkStores(100, "MAP_SHARED", STORES)
PRIVATE_STORES = fork.ForkStores(100, "MAP_PRIVATE", STORES)
ORIGINAL_13 = pattern(13, 100)
PRIVATE = priv.PrivateStores(100, "O_RDONLY", ((0, b"zz"),))
ELSEWHERE = priv.PrivateStoresElsewhere(100, "O_RDONLY", ((0, b"zz"),), "MAP_SHARED", "before")
MSYNC = sync.MsyncCall(100, "MAP_SHARED", 0, 100, ("MS_SYNC", "MS_ASYNC"))

# judge -> (params, a conforming observation, [violating observations])
CASES = {
    open_.judge_fails_with_eacces: (ATTEMPT, open_.MapOutcome("EACCES"), [open_.MapOutcome(None), open_.MapOutcome("EPERM")]),
    open_.judge_fails: (WRONLY, open_.MapOutcome("EACCES"), [open_.MapOutcome(None)]),
    eof.judge_tail_reads_zero: (TAIL_READ, eof.TailSeen(returned(bytes(3996))), [
        eof.TailSeen(SIGBUS), eof.TailSeen(returned(bytes(3995) + b"\x01"))]),
    eof.judge_tail_write_not_written_back: (TAIL_WRITE, eof.FileAfterTailWrite(RETURNED_NONE, 100, pattern(3, 100)), [
        eof.FileAfterTailWrite(SIGBUS, 100, pattern(3, 100)),
        eof.FileAfterTailWrite(RETURNED_NONE, 153, pattern(3, 100) + bytes(50) + b"xyz"),
        eof.FileAfterTailWrite(RETURNED_NONE, 100, pattern(4, 100))]),
    bus.judge_sigbus: (BEYOND, bus.AccessSeen(SIGBUS), [
        bus.AccessSeen(returned(b"\0")), bus.AccessSeen(SIGSEGV), bus.AccessSeen({"kind": "timeout"})]),
    fork.judge_inherited_at_same_address: (INHERIT, fork.InheritSeen(ENTRY, PARENT_BYTES, RETURNED_ENTRY, returned(PARENT_BYTES)), [
        fork.InheritSeen(ENTRY, PARENT_BYTES, {"kind": "returned", "value": None}, returned(PARENT_BYTES)),
        fork.InheritSeen(ENTRY, PARENT_BYTES, {"kind": "returned", "value": dict(ENTRY, start=0)}, returned(PARENT_BYTES)),
        fork.InheritSeen(ENTRY, PARENT_BYTES, RETURNED_ENTRY, SIGSEGV),
        fork.InheritSeen(ENTRY, PARENT_BYTES, RETURNED_ENTRY, returned(bytes(100)))]),
    fork.judge_shared_stores_seen_both_ways: (SHARED_STORES, fork.ForkStoresSeen((b"ab", b"cd"), (returned(b"ab"), returned(b"cd")), (b"ab", b"cd")), [
        fork.ForkStoresSeen((b"ab", b"cd"), (returned(ORIGINAL_13[:2]), returned(b"cd")), (b"ab", b"cd")),
        fork.ForkStoresSeen((b"ab", ORIGINAL_13[1:3]), (returned(b"ab"), returned(b"cd")), (b"ab", b"cd")),
        fork.ForkStoresSeen((b"ab", b"cd"), (returned(b"ab"), SIGBUS), (b"ab", b"cd"))]),
    fork.judge_private_stores_stay_private: (PRIVATE_STORES, fork.ForkStoresSeen(
        (b"ab", b"b" + ORIGINAL_13[2:3]), (returned(ORIGINAL_13[:2]), returned(b"cd")), (ORIGINAL_13[:2], ORIGINAL_13[1:3])), [
        fork.ForkStoresSeen((b"ab", b"cd"), (returned(ORIGINAL_13[:2]), returned(b"cd")), (ORIGINAL_13[:2], ORIGINAL_13[1:3])),
        fork.ForkStoresSeen((b"ab", b"b" + ORIGINAL_13[2:3]), (returned(b"ab"), returned(b"cd")), (ORIGINAL_13[:2], ORIGINAL_13[1:3])),
        fork.ForkStoresSeen((b"ab", b"b" + ORIGINAL_13[2:3]), (returned(ORIGINAL_13[:2]), returned(b"cd")), (b"ab", ORIGINAL_13[1:3]))]),
    priv.judge_file_unchanged: (PRIVATE, priv.FileAfterPrivateStores(RETURNED_NONE, pattern(17, 100)), [
        priv.FileAfterPrivateStores(RETURNED_NONE, b"zz" + pattern(17, 100)[2:]),
        priv.FileAfterPrivateStores(RETURNED_NONE, pattern(17, 100) + b"\0"),
        priv.FileAfterPrivateStores(SIGBUS, pattern(17, 100))]),
    priv.judge_other_process_sees_file: (ELSEWHERE, priv.ReaderSeen((returned(pattern(17, 100)[:2]),)), [
        priv.ReaderSeen((returned(b"zz"),)), priv.ReaderSeen((SIGBUS,))]),
    sync.judge_fails_with_einval: (MSYNC, sync.MsyncResult("EINVAL"), [sync.MsyncResult(None), sync.MsyncResult("ENOMEM")]),
}


@pytest.mark.parametrize("judge", CASES, ids=lambda j: f"{j.__module__.rsplit('.', 1)[-1]}.{j.__name__}")
def test_judge_accepts_conforming_observation(judge):
    params, conforming, _ = CASES[judge]
    assert judge(params, conforming).verdict == "holds"


@pytest.mark.parametrize(
    "judge, violating",
    [(j, v) for j, (_, _, vs) in CASES.items() for v in vs],
    ids=lambda x: getattr(x, "__name__", None) or type(x).__name__,
)
def test_judge_rejects_violating_observation(judge, violating):
    params = CASES[judge][0]
    finding = judge(params, violating)
    assert finding.verdict == "refuted" and finding.detail


def test_every_judge_has_self_tests():
    judges = set()
    for module_info in pkgutil.iter_modules(suite.scenarios.__path__):
        module = importlib.import_module(f"suite.scenarios.{module_info.name}")
        judges |= {f for name, f in inspect.getmembers(module, inspect.isfunction)
                   if name.startswith("judge_") and f.__module__ == module.__name__}
    missing = sorted(f"{j.__module__}.{j.__name__}" for j in judges - set(CASES))
    assert not missing, f"judges without a violating-observation self-test: {missing}"
    assert all(CASES[j][2] for j in CASES)
