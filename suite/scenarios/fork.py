"""FORK: what a child inherits of its parent's file mappings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from fixtures.files import Workspace
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.strategies import pattern
from suite.verdict import Finding, holds, refuted


@dataclass(frozen=True)
class InheritCase:
    file_size: int  # > 0
    flags: str
    prot: tuple[str, ...]  # always readable
    offset: int
    length: int  # within the file: every mapped page is readable


@dataclass(frozen=True)
class InheritSeen:
    parent_entry: dict | None  # the parent's /proc/self/maps line for the mapping
    parent_bytes: bytes
    child_entry: dict  # how the child's look-up of the same address in its own /proc/self/maps ended
    child_bytes: dict  # how the child's read of the mapping at the parent's address ended


def inherit(workspace: Workspace, case: InheritCase) -> InheritSeen:
    """Map, fork, and compare the child's maps line and bytes at the parent's address with the parent's."""
    with workspace.file(case.file_size, pattern(11, case.file_size)) as path:
        mode = "O_RDWR" if "PROT_WRITE" in case.prot and case.flags == "MAP_SHARED" else "O_RDONLY"
        with steps.mapped(str(path), mode, case.length, case.prot, case.flags, case.offset) as mapping:
            parent_entry = steps.maps_entry(mapping.addr)
            parent_bytes = bytes(mapping.view)
            child_entry = probe(steps.maps_entry, mapping.addr)
            child_bytes = probe(steps.read, mapping.addr, case.length)
    return InheritSeen(parent_entry, parent_bytes, child_entry.as_dict(), child_bytes.as_dict())


IDENTITY = ("start", "end", "perms", "offset", "device", "inode")


def judge_inherited_at_same_address(case: InheritCase, seen: InheritSeen) -> Finding:
    """FORK-1: the child has the same mapping at the same address, with the same contents."""
    if seen.child_entry["kind"] != "returned" or seen.child_entry["value"] is None:
        return refuted(f"no mapping at the parent's address in the child: {seen.child_entry}")
    child = seen.child_entry["value"]
    differing = [k for k in IDENTITY if seen.parent_entry is None or child[k] != seen.parent_entry[k]]
    if differing:
        return refuted(f"the child's mapping differs in {', '.join(differing)}")
    if seen.child_bytes["kind"] != "returned":
        return refuted(f"the child could not read the inherited mapping: {seen.child_bytes}")
    if bytes.fromhex(seen.child_bytes["value"]) != seen.parent_bytes:
        return refuted("the child reads other bytes than the parent at the same address")
    return holds()


@dataclass(frozen=True)
class Store:
    by: str  # "parent" or "child"
    at: int  # offset inside the mapping
    data: bytes


@dataclass(frozen=True)
class ForkStores:
    file_size: int  # > 0; the mapping covers the whole file
    flags: str
    stores: tuple[Store, ...]


@dataclass(frozen=True)
class ForkStoresSeen:
    # After each store, at the stored range: the parent's bytes, how the child's read ended, the file's bytes (pread).
    parent_reads: tuple[bytes, ...]
    child_reads: tuple[dict, ...]
    file_reads: tuple[bytes, ...]


def fork_and_store(workspace: Workspace, case: ForkStores) -> ForkStoresSeen:
    """Map RW, fork, then stores by parent or child in turn; after each, both processes and pread() look at the range."""
    with workspace.file(case.file_size, pattern(13, case.file_size)) as path:
        parent_reads, child_reads, file_reads = [], [], []
        with steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), case.flags) as mapping, \
                Child() as child, workspace.opened(path, "O_RDONLY") as fd:
            for store in case.stores:
                span = slice(store.at, store.at + len(store.data))
                if store.by == "parent":
                    mapping.view[span] = store.data
                else:
                    done = child.call(steps.write, mapping.addr + store.at, store.data)
                    if done.kind != "returned":
                        raise RuntimeError(f"the child's store failed: {done.describe()}")
                parent_reads.append(bytes(mapping.view[span]))
                child_reads.append(child.call(steps.read, mapping.addr + store.at, len(store.data)).as_dict())
                file_reads.append(os.pread(fd, len(store.data), store.at))
    return ForkStoresSeen(tuple(parent_reads), tuple(child_reads), tuple(file_reads))


def _child_bytes(read: dict) -> bytes | None:
    return bytes.fromhex(read["value"]) if read["kind"] == "returned" else None


def judge_shared_stores_seen_both_ways(case: ForkStores, seen: ForkStoresSeen) -> Finding:
    """FORK-2: after each store, by either process, both processes read what was stored."""
    for step, (store, parent, child) in enumerate(zip(case.stores, seen.parent_reads, seen.child_reads)):
        if parent != store.data:
            return refuted(f"store #{step + 1} by the {store.by} is not what the parent reads")
        if _child_bytes(child) != store.data:
            return refuted(f"store #{step + 1} by the {store.by} is not what the child reads ({child['kind']})")
    return holds()


def judge_private_stores_stay_private(case: ForkStores, seen: ForkStoresSeen) -> Finding:
    """FORK-3: each process reads only its own stores (on top of the file as it was); the file never changes."""
    original = pattern(13, case.file_size)
    views = {"parent": bytearray(original), "child": bytearray(original)}
    for step, (store, parent, child, in_file) in enumerate(zip(case.stores, seen.parent_reads, seen.child_reads, seen.file_reads)):
        end = store.at + len(store.data)
        views[store.by][store.at:end] = store.data
        if parent != bytes(views["parent"][store.at:end]):
            return refuted(f"after store #{step + 1} by the {store.by}, the parent reads bytes it did not store")
        if _child_bytes(child) != bytes(views["child"][store.at:end]):
            return refuted(f"after store #{step + 1} by the {store.by}, the child reads bytes it did not store ({child['kind']})")
        if in_file != original[store.at:end]:
            return refuted(f"store #{step + 1} by the {store.by} reached the file")
    return holds()
