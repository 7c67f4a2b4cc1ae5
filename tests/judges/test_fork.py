"""FORK judges can fail."""

from __future__ import annotations

from fixtures.outcome import returned
from suite.scenarios import fork
from suite.strategies import pattern
from tests.judges.helpers import SIGBUS, SIGSEGV, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

INHERIT = fork.InheritCase(PAGE, 100, "MAP_SHARED", ("PROT_READ",), 0, 100)
ENTRY = {"start": 4096, "end": 8192, "perms": "r--s", "offset": 0, "device": "fe:00", "inode": 7, "path": "/f"}
RETURNED_ENTRY = returned(ENTRY)
PARENT_BYTES = pattern(11, 100)
STORES = (fork.Store("parent", 0, b"ab"), fork.Store("child", 1, b"cd"))
SHARED_STORES = fork.ForkStores(PAGE, 100, "MAP_SHARED", STORES)
PRIVATE_STORES = fork.ForkStores(PAGE, 100, "MAP_PRIVATE", STORES)
ORIGINAL = pattern(13, 100)
PRE_FORK = fork.PreForkPrivateStores(PAGE, 3 * 4096, "O_RDONLY", 4096, 100, ((0, b"ab"), (98, b"yz")))
MAPPED = pattern(13, 3 * 4096)[4096:4196]
PRE_FORK_VIEW = b"ab" + MAPPED[2:98] + b"yz"
ANON = fork.AnonymousStores(PAGE, 8192, (fork.Store("child", 4095, b"xy"), fork.Store("parent", 0, b"p")))
INCREMENTS = fork.LockedIncrements(PAGE, 100, 8, 5, 3, 50, "counter")
ALL_DONE = (returned(50),) * 3
PRIVATE_SEEN = fork.ForkStoresSeen((b"ab", b"b" + ORIGINAL[2:3]), (returned(ORIGINAL[:2]), returned(b"cd")), (ORIGINAL[:2], ORIGINAL[1:3]))

CASES = {
    fork.judge_inherited_at_same_address: (INHERIT, fork.InheritSeen(ENTRY, PARENT_BYTES, RETURNED_ENTRY, returned(PARENT_BYTES)), [
        fork.InheritSeen(ENTRY, PARENT_BYTES, returned(None), returned(PARENT_BYTES)),
        fork.InheritSeen(ENTRY, PARENT_BYTES, returned(dict(ENTRY, start=0)), returned(PARENT_BYTES)),
        fork.InheritSeen(ENTRY, PARENT_BYTES, RETURNED_ENTRY, SIGSEGV),
        fork.InheritSeen(ENTRY, PARENT_BYTES, RETURNED_ENTRY, returned(bytes(100)))]),
    fork.judge_shared_stores_seen_both_ways: (SHARED_STORES, fork.ForkStoresSeen((b"ab", b"cd"), (returned(b"ab"), returned(b"cd")), (b"ab", b"cd")), [
        fork.ForkStoresSeen((b"ab", b"cd"), (returned(ORIGINAL[:2]), returned(b"cd")), (b"ab", b"cd")),
        fork.ForkStoresSeen((b"ab", ORIGINAL[1:3]), (returned(b"ab"), returned(b"cd")), (b"ab", b"cd")),
        fork.ForkStoresSeen((b"ab", b"cd"), (returned(b"ab"), SIGBUS), (b"ab", b"cd"))]),
    fork.judge_private_stores_stay_private: (PRIVATE_STORES, PRIVATE_SEEN, [
        fork.ForkStoresSeen((b"ab", b"cd"), PRIVATE_SEEN.child_reads, PRIVATE_SEEN.file_reads),
        fork.ForkStoresSeen(PRIVATE_SEEN.parent_reads, (returned(b"ab"), returned(b"cd")), PRIVATE_SEEN.file_reads),
        fork.ForkStoresSeen(PRIVATE_SEEN.parent_reads, PRIVATE_SEEN.child_reads, (b"ab", ORIGINAL[1:3]))]),
    fork.judge_child_sees_parent_pre_fork_stores: (PRE_FORK, fork.PreForkSeen(returned(PRE_FORK_VIEW), MAPPED), [
        fork.PreForkSeen(returned(MAPPED), MAPPED),  # the child sees the file, not the parent's stores
        fork.PreForkSeen(returned(PRE_FORK_VIEW[:-1] + b"\0"), MAPPED),
        fork.PreForkSeen(returned(PRE_FORK_VIEW[:50]), MAPPED),
        fork.PreForkSeen(SIGBUS, MAPPED),
        fork.PreForkSeen(returned(PRE_FORK_VIEW), PRE_FORK_VIEW)]),  # the stores reached the file
    fork.judge_locked_increments_exact: (INCREMENTS, fork.IncrementsSeen((
            fork.IncrementRun("fcntl", ALL_DONE, 155), fork.IncrementRun("flock", ALL_DONE, 155))), [
        fork.IncrementsSeen((fork.IncrementRun("fcntl", ALL_DONE, 154), fork.IncrementRun("flock", ALL_DONE, 155))),
        fork.IncrementsSeen((fork.IncrementRun("fcntl", ALL_DONE, 155), fork.IncrementRun("flock", ALL_DONE, 131))),
        fork.IncrementsSeen((fork.IncrementRun("fcntl", ALL_DONE, 155),)),
        fork.IncrementsSeen((fork.IncrementRun("fcntl", ALL_DONE[:2], 155), fork.IncrementRun("flock", ALL_DONE, 155))),
        fork.IncrementsSeen((fork.IncrementRun("fcntl", ALL_DONE[:2] + (SIGSEGV,), 155),
                             fork.IncrementRun("flock", ALL_DONE, 155)))]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)


def test_anonymous_shared_stores_judged_by_the_fork2_judge():
    both_ways = fork.ForkStoresSeen((b"xy", b"p"), (returned(b"xy"), returned(b"p")), ())
    assert fork.judge_shared_stores_seen_both_ways(ANON, both_ways).verdict == "holds"
    for seen in (fork.ForkStoresSeen((bytes(2), b"p"), (returned(b"xy"), returned(b"p")), ()),
                 fork.ForkStoresSeen((b"xy", b"p"), (returned(b"xy"), returned(b"\0")), ())):
        assert fork.judge_shared_stores_seen_both_ways(ANON, seen).verdict == "refuted"
