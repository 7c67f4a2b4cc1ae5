"""FORK: what a child inherits of its parent's file mappings."""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass

from fixtures import libc
from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, refuted


@dataclass(frozen=True)
class InheritCase(PagedCase):
    file_size: int  # > 0
    flags: str
    prot: tuple[str, ...]  # always readable
    offset: int
    length: int  # within the file: every mapped page is readable

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and self.offset >= 0 and self.inside(self.offset, self.length, self.file_size),
                     "a mapping from a page offset, inside the file")


@dataclass(frozen=True)
class InheritSeen:
    parent_entry: dict | None  # the parent's /proc/self/maps line for the mapping
    parent_bytes: bytes
    child_entry: Outcome  # how the child's look-up of the same address in its own /proc/self/maps ended
    child_bytes: Outcome  # how the child's read of the mapping at the parent's address ended


def inherit(workspace: Workspace, case: InheritCase) -> InheritSeen:
    """Map, fork, and compare the child's maps line and bytes at the parent's address with the parent's."""
    with workspace.file(case.file_size, pattern(11, case.file_size)) as path:
        mode = "O_RDWR" if "PROT_WRITE" in case.prot and case.flags == "MAP_SHARED" else "O_RDONLY"
        with steps.mapped(str(path), mode, case.length, case.prot, case.flags, case.offset) as mapping:
            parent_entry = steps.maps_entry(mapping.addr)
            parent_bytes = bytes(mapping.view)
            child_entry = probe(steps.maps_entry, mapping.addr)
            child_bytes = probe(steps.read, mapping.addr, case.length)
    return InheritSeen(parent_entry, parent_bytes, child_entry, child_bytes)


IDENTITY = ("start", "end", "perms", "offset", "device", "inode")


def judge_inherited_at_same_address(case: InheritCase, seen: InheritSeen) -> Finding:
    """FORK-1: the child has the same mapping at the same address, with the same contents."""
    if not seen.child_entry.ok or seen.child_entry.value is None:
        return refuted(f"no mapping at the parent's address in the child: {seen.child_entry.describe()}")
    child = seen.child_entry.value
    differing = [k for k in IDENTITY if seen.parent_entry is None or child[k] != seen.parent_entry[k]]
    if differing:
        return refuted(f"the child's mapping differs in {', '.join(differing)}")
    if not seen.child_bytes.ok:
        return refuted(f"the child could not read the inherited mapping: {seen.child_bytes.describe()}")
    if seen.child_bytes.value != seen.parent_bytes:
        return refuted("the child reads other bytes than the parent at the same address")
    return holds()


@dataclass(frozen=True)
class Store:
    by: str  # "parent" or "child"
    at: int  # offset inside the mapping
    data: bytes


@dataclass(frozen=True)
class ForkStores(PagedCase):
    file_size: int  # > 0; the mapping covers the whole file
    flags: str
    stores: tuple[Store, ...]

    def check(self) -> None:
        super().check()
        self.require(all(self.inside(store.at, len(store.data), self.file_size) for store in self.stores),
                     "every store inside the file")


@dataclass(frozen=True)
class ForkStoresSeen:
    # After each store, at the stored range: the parent's bytes, how the child's read ended, the file's bytes (pread).
    parent_reads: tuple[bytes, ...]
    child_reads: tuple[Outcome, ...]
    file_reads: tuple[bytes, ...]


def fork_and_store(workspace: Workspace, case: ForkStores) -> ForkStoresSeen:
    """Map RW, fork, then stores by parent or child in turn; after each, both processes and pread() look at the range."""
    with workspace.file(case.file_size, pattern(13, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), case.flags) as mapping, \
                Child() as child, workspace.opened(path, "O_RDONLY") as fd:
            return _store_in_turn(mapping, child, case.stores, fd)


def _store_in_turn(mapping, child: Child, stores, fd: int | None) -> ForkStoresSeen:
    """Each store by parent or child in turn; after each, both processes (and pread() of ``fd``) read the range."""
    parent_reads, child_reads, file_reads = [], [], []
    for store in stores:
        span = slice(store.at, store.at + len(store.data))
        if store.by == "parent":
            mapping.view[span] = store.data
        else:
            child.call(steps.write, mapping.addr + store.at, store.data).value_or_raise("the child's store")
        parent_reads.append(bytes(mapping.view[span]))
        child_reads.append(child.call(steps.read, mapping.addr + store.at, len(store.data)))
        if fd is not None:
            file_reads.append(os.pread(fd, len(store.data), store.at))
    return ForkStoresSeen(tuple(parent_reads), tuple(child_reads), tuple(file_reads))


def _child_bytes(read: Outcome) -> bytes | None:
    return read.value if read.ok else None


def judge_shared_stores_seen_both_ways(case: ForkStores, seen: ForkStoresSeen) -> Finding:
    """FORK-2: after each store, by either process, both processes read what was stored."""
    for step, (store, parent, child) in enumerate(zip(case.stores, seen.parent_reads, seen.child_reads)):
        if parent != store.data:
            return refuted(f"store #{step + 1} by the {store.by} is not what the parent reads")
        if _child_bytes(child) != store.data:
            return refuted(f"store #{step + 1} by the {store.by} is not what the child reads ({child.describe()})")
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
            return refuted(f"after store #{step + 1} by the {store.by}, the child reads bytes it did not store "
                           f"({child.describe()})")
        if in_file != original[store.at:end]:
            return refuted(f"store #{step + 1} by the {store.by} reached the file")
    return holds()


# FORK-4 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreForkPrivateStores(PagedCase):
    file_size: int  # > 0
    open_mode: str
    offset: int  # page multiple inside the file
    length: int  # within the file
    stores: tuple[tuple[int, bytes], ...]  # (offset inside the mapping, bytes) stored by the parent before fork()

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and self.offset >= 0 and self.inside(self.offset, self.length, self.file_size),
                     "a mapping from a page offset, inside the file")
        self.require(all(self.inside(at, len(data), self.length) for at, data in self.stores),
                     "every store inside the mapping")


@dataclass(frozen=True)
class PreForkSeen:
    child: Outcome  # how the child's read of the whole mapping ended
    file: bytes  # pread() of the mapped range


def store_private_then_fork(workspace: Workspace, case: PreForkPrivateStores) -> PreForkSeen:
    """Map MAP_PRIVATE, store in the parent, fork; the child reads the whole mapping at the same address."""
    with workspace.file(case.file_size, pattern(13, case.file_size)) as path:
        with steps.mapped(str(path), case.open_mode, case.length, ("PROT_READ", "PROT_WRITE"), "MAP_PRIVATE",
                          case.offset) as mapping:
            for at, data in case.stores:
                mapping.view[at:at + len(data)] = data
            child = probe(steps.read, mapping.addr, case.length)
        with workspace.opened(path, "O_RDONLY") as fd:
            file = os.pread(fd, case.length, case.offset)
    return PreForkSeen(child, file)


def judge_child_sees_parent_pre_fork_stores(case: PreForkPrivateStores, seen: PreForkSeen) -> Finding:
    """FORK-4: the child reads the parent's private stores, not the file; the file is unchanged."""
    original = pattern(13, case.file_size)[case.offset:case.offset + case.length]
    expected = bytearray(original)
    for at, data in case.stores:
        expected[at:at + len(data)] = data
    if not seen.child.ok:
        return refuted(f"the child could not read the inherited mapping: {seen.child.describe()}")
    child = seen.child.value
    if child != bytes(expected):
        differing = [i for i, (a, b) in enumerate(zip(child, expected)) if a != b]
        where = f"first at mapping offset {differing[0]}" if differing else f"{len(child)} bytes read"
        if child == original:
            return refuted("the child reads the file's contents, not the parent's pre-fork stores")
        return refuted(f"the child reads other bytes than the parent stored ({where})")
    if seen.file != original:
        return refuted("the parent's MAP_PRIVATE stores reached the file")
    return holds()


# FORK-5 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnonymousStores(PagedCase):
    length: int  # of the MAP_SHARED|MAP_ANONYMOUS mapping
    stores: tuple[Store, ...]  # after fork(), in order

    def check(self) -> None:
        super().check()
        self.require(all(self.inside(store.at, len(store.data), self.length) for store in self.stores),
                     "every store inside the mapping")


def fork_and_store_anonymous(workspace: Workspace, case: AnonymousStores) -> ForkStoresSeen:
    """Create MAP_SHARED|MAP_ANONYMOUS, fork, then stores by parent or child in turn; after each both read the range."""
    with libc.Mapping.map(case.length, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED | libc.MAP_ANONYMOUS) as mapping, \
            Child() as child:
        return _store_in_turn(mapping, child, case.stores, None)


# judge: judge_shared_stores_seen_both_ways (FORK-2) applies as is: it looks at the stores and both processes' reads.


# FORK-6 -------------------------------------------------------------------------------------------

LOCKS = ("fcntl", "flock")


@dataclass(frozen=True)
class LockedIncrements(PagedCase):
    file_size: int  # >= 8
    counter_at: int  # file offset of the 8-byte little-endian counter
    initial: int
    processes: int
    increments: int  # per process, per lock type
    fcntl_range: str  # "whole": lockf() on the whole file; "counter": on the counter's 8 bytes only

    def check(self) -> None:
        super().check()
        self.require(self.inside(self.counter_at, 8, self.file_size), "the counter inside the file")


@dataclass(frozen=True)
class IncrementRun:
    lock: str
    workers: tuple[Outcome, ...]  # how each process's run ended (it returns the number of increments it made)
    counter: int  # the counter read with pread() after all processes ended


@dataclass(frozen=True)
class IncrementsSeen:
    runs: tuple[IncrementRun, ...]  # one per lock type


def increment_locked(path: str, lock: str, fcntl_range: str, at: int, count: int, gate: int) -> int:
    """In a worker: open and map the file itself, wait at the start gate, then ``count`` locked increments."""
    fd = os.open(path, os.O_RDWR)
    try:
        length = libc.round_up(at + 8, libc.file_page_size(path))  # munmap() of a huge page takes all of it
        addr = libc.checked("mmap", libc.mmap(None, length, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, fd, 0))
        span = (8, at, os.SEEK_SET) if fcntl_range == "counter" else (0, 0, os.SEEK_SET)
        if os.read(gate, 1) != b"g":
            raise RuntimeError("start gate closed")
        for _ in range(count):
            if lock == "flock":
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                fcntl.lockf(fd, fcntl.LOCK_EX, *span)  # F_SETLKW
            value = int.from_bytes(libc.read_bytes(addr + at, 8), "little")
            libc.write_bytes(addr + at, (value + 1).to_bytes(8, "little"))
            if lock == "flock":
                fcntl.flock(fd, fcntl.LOCK_UN)
            else:
                fcntl.lockf(fd, fcntl.LOCK_UN, *span)
        libc.checked("munmap", libc.munmap(addr, length))
        return count
    finally:
        os.close(fd)


def _run(path: str, case: LockedIncrements, lock: str) -> tuple[Outcome, ...]:
    """Start ``processes`` workers at once (they wait at a pipe gate), each in its own process; how each ended."""
    import threading  # not at the top: its after-fork handler would run in every fork child of a scenario server
    gate_r, gate_w = os.pipe()
    try:
        # An ExitStack closes the workers last-forked first: a later worker holds copies of the earlier ones'
        # request pipes, so an earlier one only sees its end of input once the later ones are gone.
        with contextlib.ExitStack() as stack:
            workers = [stack.enter_context(Child()) for _ in range(case.processes)]
            outcomes: list = [None] * case.processes

            def call(i: int) -> None:
                outcomes[i] = workers[i].call(increment_locked, path, lock, case.fcntl_range, case.counter_at,
                                              case.increments, gate_r)

            # Child.call waits for its reply, so each worker is driven from a thread of its own; the gate lets all
            # of them start their loops together once every request has been sent (no sleeping involved).
            threads = [threading.Thread(target=call, args=(i,)) for i in range(case.processes)]
            for thread in threads:
                thread.start()
            os.write(gate_w, b"g" * case.processes)
            for thread in threads:
                thread.join()
            return tuple(outcomes)
    finally:
        os.close(gate_r)
        os.close(gate_w)


def locked_increments(workspace: Workspace, case: LockedIncrements) -> IncrementsSeen:
    """For each lock type: several processes increment one counter in a MAP_SHARED mapping under that lock."""
    runs = []
    for lock in LOCKS:
        content = bytearray(pattern(17, case.file_size))
        content[case.counter_at:case.counter_at + 8] = case.initial.to_bytes(8, "little")
        with workspace.file(case.file_size, bytes(content)) as path:
            workers = _run(str(path), case, lock)
            with workspace.opened(path, "O_RDONLY") as fd:
                counter = int.from_bytes(os.pread(fd, 8, case.counter_at), "little")
        runs.append(IncrementRun(lock, workers, counter))
    return IncrementsSeen(tuple(runs))


def judge_locked_increments_exact(case: LockedIncrements, seen: IncrementsSeen) -> Finding:
    """FORK-6: with either lock type every worker finishes and the counter ends at initial + processes * increments."""
    if tuple(run.lock for run in seen.runs) != LOCKS:
        return refuted(f"runs for {[run.lock for run in seen.runs]}, not one per lock type {list(LOCKS)}")
    expected = case.initial + case.processes * case.increments
    for run in seen.runs:
        if len(run.workers) != case.processes:
            return refuted(f"{run.lock}: {len(run.workers)} workers ended, not {case.processes}")
        for i, worker in enumerate(run.workers):
            if not worker.ok or worker.value != case.increments:
                return refuted(f"{run.lock}: worker {i} {worker.describe()}")
        if run.counter != expected:
            return refuted(f"{run.lock}: the counter is {run.counter}, not {expected} "
                           f"({expected - run.counter} of {case.processes * case.increments} increments lost)")
    return holds()
