"""PROT: what a protection violation delivers (SIGSEGV), as opposed to a missing backing page (SIGBUS)."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.probe import Child, probe, probe_each
from suite.scenarios import steps
from suite.scenarios.address_space import act, fenced_hole, probe_unmapped, release_fence
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, refuted


def _access(addr: int, kind: str, data: bytes) -> tuple:
    return ("read", addr, 1) if kind == "read" else ("write", addr, data)


class _InFileAccess(PagedCase):
    """A case (with file_size, offset, length) mapping its file from a page inside it, and accessing it there."""

    def require_in_file_access(self, at: int, data: bytes) -> None:
        self.require(self.aligned(self.offset) and 0 <= self.offset < self.file_size and self.length > 0,
                     "a mapping from a page offset inside the file")
        span = min(self.round_up(self.length), self.file_size - self.offset)
        self.require(self.inside(at, 1, span), "the access inside the mapping and the file")
        self.require(self.inside(at % self.page_size, len(data), self.page_size),
                     "the store inside one page (spilling into the next could fault there instead)")


# --- PROT-1: store to a PROT_READ mapping ------------------------------------------------------------

@dataclass(frozen=True)
class ReadOnlyStore(_InFileAccess):
    open_mode: str
    prot: tuple[str, ...]  # PROT_READ, maybe PROT_EXEC: never PROT_WRITE
    flags: str
    file_size: int  # > 0
    fill_seed: int
    offset: int
    length: int
    store_at: int  # offset inside the mapping, inside the file
    data: bytes
    touched_before: bool  # the page was loaded from (faulted in) before the store

    def check(self) -> None:
        super().check()
        self.require_in_file_access(self.store_at, self.data)


@dataclass(frozen=True)
class ReadOnlyStoreSeen:
    touch: Outcome | None  # the load before the store (None: not done)
    store: Outcome | None  # how the store ended, in the same child (None: not done, the load ended it)
    file_after: bytes  # read() of the file afterwards


def store_to_readonly(workspace: Workspace, case: ReadOnlyStore) -> ReadOnlyStoreSeen:
    """Map without PROT_WRITE; in a child, optionally load the page, then store into it; then read() the file."""
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        with steps.mapped(str(path), case.open_mode, case.length, case.prot, case.flags, case.offset) as mapping:
            target = mapping.addr + case.store_at
            with Child() as child:
                touch = child.call(steps.read, target, 1) if case.touched_before else None
                store = child.call(steps.write, target, case.data) if child.ended is None else None
            file_after = path.read_bytes()
    return ReadOnlyStoreSeen(touch, store, file_after)


def judge_store_to_readonly_sigsegv(case: ReadOnlyStore, seen: ReadOnlyStoreSeen) -> Finding:
    """PROT-1: the store gets SIGSEGV (the load before it, if any, works) and the file keeps its bytes."""
    if seen.touch is not None and not seen.touch.ok:
        return refuted(f"the load before the store failed: child {seen.touch.describe()}")
    if seen.store is None or not seen.store.killed_by(signal.SIGSEGV):
        return refuted(f"store to a {'|'.join(case.prot)} {case.flags} mapping: "
                       f"{'not done' if seen.store is None else 'child ' + seen.store.describe()}, not SIGSEGV")
    if seen.file_after != pattern(case.fill_seed, case.file_size):
        return refuted("the file changed")
    return holds()


# --- PROT-2: load and store on a PROT_NONE mapping ---------------------------------------------------

@dataclass(frozen=True)
class NoneAccess(_InFileAccess):
    open_mode: str
    flags: str
    file_size: int  # > 0
    offset: int
    length: int
    at: int  # offset inside the mapping, inside the file
    data: bytes

    def check(self) -> None:
        super().check()
        self.require_in_file_access(self.at, self.data)


@dataclass(frozen=True)
class NoneAccessSeen:
    load: Outcome
    store: Outcome


def access_prot_none(workspace: Workspace, case: NoneAccess) -> NoneAccessSeen:
    """Map with PROT_NONE; a child loads, another child stores, at the same byte."""
    with workspace.file(case.file_size, pattern(7, case.file_size)) as path:
        with steps.mapped(str(path), case.open_mode, case.length, (), case.flags, case.offset) as mapping:
            target = mapping.addr + case.at
            load, store = probe_each(act, [("read", target, 1), ("write", target, case.data)])
    return NoneAccessSeen(load, store)


def judge_prot_none_access_sigsegv(case: NoneAccess, seen: NoneAccessSeen) -> Finding:
    """PROT-2: both the load and the store get SIGSEGV."""
    for what, outcome in (("load", seen.load), ("store", seen.store)):
        if not outcome.killed_by(signal.SIGSEGV):
            return refuted(f"{what} on a PROT_NONE {case.flags} mapping: child {outcome.describe()}, not SIGSEGV")
    return holds()


# --- PROT-3: SIGSEGV for protection and unmapped addresses, SIGBUS beyond EOF ------------------------

@dataclass(frozen=True)
class SignalKinds(PagedCase):
    flags: str
    file_size: int  # > 0
    fill_seed: int
    protected_at: int  # file offset (< file_size) of the store into the PROT_READ mapping of the whole file
    hole_byte: int  # byte inside the unmapped page
    hole_access: str  # "read" or "write"
    beyond_offset: int  # the PROT_READ|PROT_WRITE mapping reaching past EOF: its offset and length
    beyond_length: int
    beyond_page: int  # a page of that mapping wholly beyond EOF
    beyond_byte: int
    beyond_access: str
    data: bytes

    @property
    def beyond_at(self) -> int:
        """The byte accessed beyond EOF, as an offset into its mapping."""
        return self.beyond_page * self.page_size + self.beyond_byte

    def check(self) -> None:
        super().check()
        self.require(0 <= self.protected_at < self.file_size, "the protected store inside the file")
        self.require(0 <= self.hole_byte < self.page_size, "the access inside the one unmapped page")
        self.require(self.aligned(self.beyond_offset) and self.beyond_offset >= 0, "a page-multiple offset")
        self.require(0 <= self.beyond_byte < self.page_size
                     and self.inside(self.beyond_at, 1, self.round_up(self.beyond_length)),
                     "the access beyond EOF inside its mapping")
        self.require(self.beyond_offset + self.beyond_page * self.page_size >= self.round_up(self.file_size),
                     "the page accessed beyond EOF wholly beyond it")
        self.require(len(self.data) == 1, "one byte stored (no access spills into a neighbouring page)")


@dataclass(frozen=True)
class SignalKindsSeen:
    protection: Outcome  # store to the PROT_READ page inside the file
    unmapped: Outcome  # access to the unmapped page
    beyond_eof: Outcome  # access to the mapped page wholly beyond EOF


def three_faults(workspace: Workspace, case: SignalKinds) -> SignalKindsSeen:
    """A store to a PROT_READ page, an access to an unmapped page, an access to a page wholly beyond EOF: each in a child."""
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDONLY", case.file_size, ("PROT_READ",), case.flags) as readonly, \
                steps.mapped(str(path), "O_RDWR", case.beyond_length, ("PROT_READ", "PROT_WRITE"), case.flags,
                             case.beyond_offset) as beyond:
            protection = probe(act, ("write", readonly.addr + case.protected_at, case.data))
            beyond_eof = probe(act, _access(beyond.addr + case.beyond_at, case.beyond_access, case.data))
            hole = fenced_hole(1, case.page_size)  # reserved, then released: provably unmapped, fenced by reserved pages
            try:
                unmapped = probe_unmapped(_access(hole + case.hole_byte, case.hole_access, case.data))
            finally:
                release_fence(hole, 1, case.page_size)
    return SignalKindsSeen(protection, unmapped, beyond_eof)


def judge_segv_and_bus_distinct(case: SignalKinds, seen: SignalKindsSeen) -> Finding:
    """PROT-3: SIGSEGV for the protection fault and the unmapped address, SIGBUS beyond EOF."""
    for what, outcome, wanted in (("store to a PROT_READ page", seen.protection, signal.SIGSEGV),
                                  (f"{case.hole_access} of an unmapped page", seen.unmapped, signal.SIGSEGV),
                                  (f"{case.beyond_access} of a mapped page wholly beyond EOF", seen.beyond_eof, signal.SIGBUS)):
        if not outcome.killed_by(wanted):
            return refuted(f"{what}: child {outcome.describe()}, not {wanted.name}")
    return holds()
