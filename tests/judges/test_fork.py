"""FORK judges can fail."""

from __future__ import annotations

from suite.scenarios import fork
from suite.strategies import pattern
from tests.judges.helpers import SIGBUS, SIGSEGV, returned, self_tests

INHERIT = fork.InheritCase(100, "MAP_SHARED", ("PROT_READ",), 0, 100)
ENTRY = {"start": 4096, "end": 8192, "perms": "r--s", "offset": 0, "device": "fe:00", "inode": 7, "path": "/f"}
RETURNED_ENTRY = {"kind": "returned", "value": ENTRY}
PARENT_BYTES = pattern(11, 100)
STORES = (fork.Store("parent", 0, b"ab"), fork.Store("child", 1, b"cd"))
SHARED_STORES = fork.ForkStores(100, "MAP_SHARED", STORES)
PRIVATE_STORES = fork.ForkStores(100, "MAP_PRIVATE", STORES)
ORIGINAL = pattern(13, 100)
PRIVATE_SEEN = fork.ForkStoresSeen((b"ab", b"b" + ORIGINAL[2:3]), (returned(ORIGINAL[:2]), returned(b"cd")), (ORIGINAL[:2], ORIGINAL[1:3]))

CASES = {
    fork.judge_inherited_at_same_address: (INHERIT, fork.InheritSeen(ENTRY, PARENT_BYTES, RETURNED_ENTRY, returned(PARENT_BYTES)), [
        fork.InheritSeen(ENTRY, PARENT_BYTES, {"kind": "returned", "value": None}, returned(PARENT_BYTES)),
        fork.InheritSeen(ENTRY, PARENT_BYTES, {"kind": "returned", "value": dict(ENTRY, start=0)}, returned(PARENT_BYTES)),
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
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
