"""UNMAP: what munmap() removes and what it leaves.

Freed ranges are fenced (suite/scenarios/address_space.py): a file mapping is placed
with MAP_FIXED inside an anonymous PROT_NONE reservation one page larger on each side,
in the middle of the widest free gap of the address space, so after munmap() the freed
pages lie between two reserved pages and nothing else can have been mapped there since.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from fixtures import libc
from fixtures.files import OPEN_MODES, Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.probe import Child, probe, probe_each
from suite.scenarios import steps
from suite.scenarios.address_space import act, digest, fence, relative, release_fence
from suite.scenarios.steps import MAP_TYPES, PROT_BITS, bits
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, refuted


def fenced_map(path: str, mode: str, length: int, prot: tuple[str, ...], flags: str, offset: int,
               page_size: int) -> int:
    """Map ``path`` with MAP_FIXED inside a fence of ``page_size`` pages (see the module docstring); the mapping's
    address."""
    pages = libc.round_up(length, page_size) // page_size
    inner = fence(pages, page_size)
    fd = os.open(path, OPEN_MODES[mode])
    try:
        result = libc.mmap(inner, length, bits(prot, PROT_BITS), MAP_TYPES[flags] | libc.MAP_FIXED, fd, offset)
    finally:
        os.close(fd)
    if not result.ok:
        release_fence(inner, pages, page_size)
        raise libc.SysError("mmap", result.errno)  # as steps.map_file: a filesystem's refusal is recognised as such
    if result.value != inner:
        release_fence(inner, pages, page_size)
        raise RuntimeError(f"set-up: mmap with MAP_FIXED at {inner:#x} returned {result.value:#x}")
    return inner


def _ending(outcome: Outcome) -> str:
    """How a child's access ended, in one word: the signal's name, or the outcome's kind."""
    return outcome.signal_name or outcome.kind


# --- UNMAP-1: access after munmap --------------------------------------------------------------------

@dataclass(frozen=True)
class AfterMunmap(PagedCase):
    open_mode: str
    prot: tuple[str, ...]
    flags: str
    file_size: int
    fill_seed: int
    offset: int
    length: int
    unmap_length: int  # covers every page of the mapping (may stop short of the last page's end: munmap rounds up)
    accesses: tuple[tuple[int, str], ...]  # (offset inside the former mapping, "read" or "write")

    def check(self) -> None:
        super().check()
        mapped = self.round_up(self.length)
        self.require(self.offset >= 0 and self.aligned(self.offset) and self.length > 0, "a mapping at a page offset")
        self.require(self.round_up(self.unmap_length) == mapped, "a munmap() of every page of the mapping")
        self.require(all(self.inside(at, 1, mapped) for at, _ in self.accesses),
                     "every access inside the former mapping (not in the fence around it)")


@dataclass(frozen=True)
class AfterMunmapSeen:
    munmap_errno: str | None
    entry: Outcome  # a child's /proc/self/maps look-up at the former start address
    accesses: tuple[Outcome, ...]  # each access's, in a child forked after the munmap


def access_after_munmap(workspace: Workspace, case: AfterMunmap) -> AfterMunmapSeen:
    """Map (fenced), munmap, then in children look the range up in /proc/self/maps and touch it."""
    pages = case.page_count(case.length)
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        addr = fenced_map(str(path), case.open_mode, case.length, case.prot, case.flags, case.offset, case.page_size)
        try:
            result = libc.munmap(addr, case.unmap_length)
            items = [("maps", addr, None)] + [("read", addr + at, 1) if kind == "read" else ("write", addr + at, b"\x5a")
                                               for at, kind in case.accesses]
            outcomes = probe_each(act, items)
        finally:
            release_fence(addr, pages, case.page_size)
    return AfterMunmapSeen(result.errno_name, outcomes[0], tuple(outcomes[1:]))


def judge_access_after_munmap_sigsegv(case: AfterMunmap, seen: AfterMunmapSeen) -> Finding:
    """UNMAP-1: munmap succeeds, the range is gone from /proc/self/maps, and every load or store there gets SIGSEGV."""
    if seen.munmap_errno is not None:
        return refuted(f"munmap failed with {seen.munmap_errno}")
    if not seen.entry.ok or seen.entry.value is not None:
        return refuted(f"after munmap the former start address is still mapped: {seen.entry.describe()}")
    for (at, kind), outcome in zip(case.accesses, seen.accesses, strict=True):
        if not outcome.killed_by(signal.SIGSEGV):
            return refuted(f"{kind} at offset {at} of the unmapped range: child {outcome.describe()}, not SIGSEGV")
    return holds()


# --- UNMAP-2: the file after munmap ------------------------------------------------------------------

@dataclass(frozen=True)
class StoresThenMunmap(PagedCase):
    file_size: int  # > 0
    fill_seed: int
    offset: int
    length: int
    stores: tuple[tuple[int, bytes], ...]  # (offset inside the mapping, bytes), inside the file
    mapper: str  # "this process" (a child stores through the inherited mapping) or "child" (maps, stores, unmaps)

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and 0 <= self.offset < self.file_size, "a page offset inside the file")
        span = min(self.length, self.file_size - self.offset)
        self.require(all(self.inside(at, len(data), span) for at, data in self.stores),
                     "every store inside the mapping and the file")


@dataclass(frozen=True)
class FileAfterMunmap:
    stores: Outcome  # how the stores ended
    munmap_errno: str | None
    exists: bool
    size: int | None
    content: bytes | None  # read() of the whole file after munmap


def unmap_errno(addr: int, length: int) -> str | None:
    return libc.munmap(addr, length).errno_name


def store_all(addr: int, stores: tuple[tuple[int, bytes], ...]) -> None:
    for at, data in stores:
        libc.write_bytes(addr + at, data)


def store_then_munmap(workspace: Workspace, case: StoresThenMunmap) -> FileAfterMunmap:
    """MAP_SHARED read-write mapping; stores; munmap; then stat() and read() the file."""
    prot = ("PROT_READ", "PROT_WRITE")
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        if case.mapper == "child":
            with Child() as child:
                addr = child.call(steps.map_file, str(path), "O_RDWR", case.length, prot, "MAP_SHARED",
                                  case.offset).value_or_raise("set-up mmap")
                stores = child.call(store_all, addr, case.stores)
                unmapped = child.call(unmap_errno, addr, case.length) if child.ended is None else None
            munmap_errno = unmapped.value if unmapped is not None and unmapped.ok else "not done"
        else:
            addr = steps.map_file(str(path), "O_RDWR", case.length, prot, "MAP_SHARED", case.offset)
            try:
                stores = probe(store_all, addr, case.stores)
            finally:
                munmap_errno = unmap_errno(addr, case.length)
                if munmap_errno is not None:  # (hugetlbfs: a length of part of a huge page) the mapping must still go
                    libc.munmap(addr, case.round_up(case.length))
        exists = path.exists()
        size = os.stat(path).st_size if exists else None
        content = path.read_bytes() if exists else None
    return FileAfterMunmap(stores, munmap_errno, exists, size, content)


def judge_file_keeps_stores_after_munmap(case: StoresThenMunmap, after: FileAfterMunmap) -> Finding:
    """UNMAP-2: the file exists, keeps its size, and read() returns the stored bytes."""
    if not after.stores.ok:
        return refuted(f"the stores did not complete: {after.stores.describe()}")
    if after.munmap_errno is not None:
        return refuted(f"munmap: {after.munmap_errno}")
    if not after.exists:
        return refuted("the file is gone after munmap")
    if after.size != case.file_size:
        return refuted(f"st_size changed from {case.file_size} to {after.size}")
    view = bytearray(pattern(case.fill_seed, case.file_size))
    for at, data in case.stores:
        view[case.offset + at:case.offset + at + len(data)] = data
    if after.content != bytes(view):
        first = next(i for i, (a, b) in enumerate(zip(after.content, view)) if a != b)
        return refuted(f"read() after munmap differs from what was stored, first at file offset {first}")
    return holds()


# --- UNMAP-3: partial munmap --------------------------------------------------------------------------

@dataclass(frozen=True)
class PartialMunmap(PagedCase):
    open_mode: str
    prot: tuple[str, ...]  # with PROT_READ
    flags: str
    file_size: int  # >= offset + pages * page_size: every page of the mapping is file data
    fill_seed: int
    offset: int
    pages: int  # >= 3
    first: int  # first page removed
    count: int  # pages removed: 0 < count < pages
    unmap_length: int  # in ((count - 1) * page_size, count * page_size]: munmap rounds up to whole pages

    def check(self) -> None:
        super().check()
        self.require(self.pages >= 3 and 0 < self.count < self.pages
                     and 0 <= self.first <= self.pages - self.count, "a removed run of pages inside the mapping")
        self.require(self.page_count(self.unmap_length) == self.count, f"a munmap() length of {self.count} page(s)")
        self.require(self.aligned(self.offset) and self.offset + self.pages * self.page_size <= self.file_size,
                     "every page of the mapping inside the file")


@dataclass(frozen=True)
class PartialMunmapSeen:
    munmap_errno: str | None
    perms_before: tuple[str, ...]  # /proc/self/maps perms of each page before the munmap
    entries: tuple[Outcome, ...]  # per page, a child's /proc/self/maps look-up afterwards
    reads: tuple[Outcome, ...]  # per page, a child's read of the whole page: its digest() (address_space)
    writes: tuple[Outcome, ...]  # per page, a child's store of the page's own first byte back into it


def partial_munmap(workspace: Workspace, case: PartialMunmap) -> PartialMunmapSeen:
    """Map pages (fenced), munmap some whole pages, then in children look up, load and store every page."""
    content = pattern(case.fill_seed, case.file_size)
    with workspace.file(case.file_size, content) as path:
        size = case.page_size
        addr = fenced_map(str(path), case.open_mode, case.pages * size, case.prot, case.flags, case.offset, size)
        try:
            page_addrs = [addr + i * size for i in range(case.pages)]
            perms_before = tuple(steps.maps_entry(a)["perms"] for a in page_addrs)
            result = libc.munmap(page_addrs[case.first], case.unmap_length)
            items = ([("maps", a, None) for a in page_addrs] + [("digest", a, size) for a in page_addrs]
                     + [("write", a, content[case.offset + i * size:case.offset + i * size + 1]) for i, a in enumerate(page_addrs)])
            outcomes = probe_each(act, items)
        finally:
            release_fence(addr, case.pages, size)
    n = case.pages
    return PartialMunmapSeen(result.errno_name, perms_before, tuple(outcomes[:n]), tuple(outcomes[n:2 * n]), tuple(outcomes[2 * n:]))


def judge_partial_munmap_removes_only_range(case: PartialMunmap, seen: PartialMunmapSeen) -> Finding:
    """UNMAP-3: removed pages are gone (SIGSEGV); the others keep bytes, protection and usability."""
    if seen.munmap_errno is not None:
        return refuted(f"munmap of pages {case.first}..{case.first + case.count - 1} failed with {seen.munmap_errno}")
    content = pattern(case.fill_seed, case.file_size)
    for page in range(case.pages):
        entry, read, write = seen.entries[page], seen.reads[page], seen.writes[page]
        if case.first <= page < case.first + case.count:
            if not entry.ok or entry.value is not None:
                return refuted(f"removed page {page} is still in /proc/self/maps: {entry.describe()}")
            if not read.killed_by(signal.SIGSEGV) or not write.killed_by(signal.SIGSEGV):
                return refuted(f"removed page {page}: load {_ending(read)}, store {_ending(write)}, not SIGSEGV")
            continue
        if not entry.ok or entry.value is None:
            return refuted(f"kept page {page} is missing from /proc/self/maps: {entry.describe()}")
        if entry.value["perms"] != seen.perms_before[page]:
            return refuted(f"kept page {page} changed protection from {seen.perms_before[page]} to {entry.value['perms']}")
        start = case.offset + page * case.page_size
        if not read.ok or read.value != digest(content[start:start + case.page_size]):
            return refuted(f"kept page {page} no longer loads the file's bytes: {_ending(read)}")
        writable = "PROT_WRITE" in case.prot
        if not (write.ok if writable else write.killed_by(signal.SIGSEGV)):
            return refuted(f"a store to kept page {page} ({'|'.join(case.prot)}): {_ending(write)}, "
                           f"not {'returned' if writable else 'SIGSEGV'}")
    return holds()


# --- UNMAP-4: munmap at an unaligned address ---------------------------------------------------------

@dataclass(frozen=True)
class UnalignedMunmap(PagedCase):
    open_mode: str
    prot: tuple[str, ...]  # with PROT_READ
    flags: str
    file_size: int  # > 0
    fill_seed: int
    offset: int
    length: int
    delta: int  # munmap's addr is the mapping's + delta: inside the mapping, not a page multiple
    unmap_length: int  # > 0; never reaches past the fence above the mapping

    def check(self) -> None:
        super().check()
        mapped = self.round_up(self.length)
        self.require(self.aligned(self.offset) and 0 <= self.offset < self.file_size and self.length > 0,
                     "a mapping at a page offset inside the file")
        self.require(0 < self.delta < mapped and not self.aligned(self.delta), "an unaligned address inside the mapping")
        self.require(0 < self.unmap_length <= mapped - self.delta + self.page_size,
                     "a munmap() range that ends at most at the end of the fence page above the mapping")


@dataclass(frozen=True)
class UnalignedMunmapSeen:
    munmap_errno: str | None
    entry_before: dict  # /proc/self/maps entry of the mapping (start/end relative to it) before the call
    entry_after: dict | None  # and after it
    loads: Outcome  # a child's read of the file's part of the mapping afterwards


def munmap_unaligned(workspace: Workspace, case: UnalignedMunmap) -> UnalignedMunmapSeen:
    """Map (fenced), call munmap(addr + delta, unmap_length), then look the mapping up and load it in a child."""
    pages = case.page_count(case.length)
    span = max(0, min(case.length, case.file_size - case.offset))
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        addr = fenced_map(str(path), case.open_mode, case.length, case.prot, case.flags, case.offset, case.page_size)
        try:
            before = relative(steps.maps_entry(addr), addr)
            result = libc.munmap(addr + case.delta, case.unmap_length)
            after = relative(steps.maps_entry(addr), addr)
            loads = probe(steps.read, addr, span)
        finally:
            release_fence(addr, pages, case.page_size)
    return UnalignedMunmapSeen(result.errno_name, before, after, loads)


def judge_unaligned_munmap_fails_einval(case: UnalignedMunmap, seen: UnalignedMunmapSeen) -> Finding:
    """UNMAP-4: munmap fails with EINVAL and the mapping is intact (same extent, same bytes)."""
    if seen.munmap_errno != "EINVAL":
        return refuted("munmap at an unaligned address succeeded" if seen.munmap_errno is None
                       else f"munmap failed with {seen.munmap_errno}, not EINVAL")
    if seen.entry_after != seen.entry_before:
        return refuted(f"the mapping changed: {seen.entry_before} became {seen.entry_after}")
    expected = pattern(case.fill_seed, case.file_size)[case.offset:case.offset + max(0, min(case.length, case.file_size - case.offset))]
    if not seen.loads.ok or seen.loads.value != expected:
        return refuted(f"the mapping no longer loads the file's bytes: {_ending(seen.loads)}")
    return holds()
