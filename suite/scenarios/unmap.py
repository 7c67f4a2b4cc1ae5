"""UNMAP: what munmap() removes and what it leaves.

Freed ranges are fenced: a file mapping is placed with MAP_FIXED inside an anonymous
PROT_NONE reservation one page larger on each side, so after munmap() the freed
pages lie between two reserved pages. No later mapping of the test can land there
unless it is at most that many pages long (malloc and Python arenas map 128 KiB and
more), so "nothing was mapped there since" holds by construction, not by luck.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fixtures import libc
from fixtures.files import OPEN_MODES, Workspace
from fixtures.probe import Child, probe, probe_each
from suite.scenarios import steps
from suite.scenarios.steps import MAP_TYPES, PROT_BITS, bits
from suite.strategies import PAGE, pattern
from harness.findings import Finding, holds, refuted

ANONYMOUS = libc.MAP_PRIVATE | libc.MAP_ANONYMOUS


# --- Fences (also used by PROT-3 and GEOM) -----------------------------------------------------------

def reserve(pages: int, prot: int = libc.PROT_NONE) -> int:
    """A fresh anonymous mapping of ``pages`` pages (PROT_NONE by default): a range the test owns."""
    return libc.checked("mmap(reserve)", libc.mmap(None, pages * PAGE, prot, ANONYMOUS, -1, 0))


def fenced_hole(pages: int) -> int:
    """The first address of ``pages`` free pages, with a reserved PROT_NONE page on each side (release_fence frees all)."""
    base = reserve(pages + 2)
    libc.checked("munmap(hole)", libc.munmap(base + PAGE, pages * PAGE))
    return base + PAGE


def release_fence(inner: int, pages: int) -> None:
    """munmap the fence around ``pages`` pages at ``inner`` and whatever is still mapped inside it."""
    libc.checked("munmap(fence)", libc.munmap(inner - PAGE, (pages + 2) * PAGE))


def fenced_map(path: str, mode: str, length: int, prot: tuple[str, ...], flags: str, offset: int) -> int:
    """Map ``path`` with MAP_FIXED inside a fence (see the module docstring); the mapping's address."""
    pages = libc.round_up(length) // PAGE
    inner = reserve(pages + 2) + PAGE
    fd = os.open(path, OPEN_MODES[mode])
    try:
        result = libc.mmap(inner, length, bits(prot, PROT_BITS), MAP_TYPES[flags] | libc.MAP_FIXED, fd, offset)
    finally:
        os.close(fd)
    if not result.ok or result.value != inner:
        release_fence(inner, pages)
        raise libc.SysError("mmap(MAP_FIXED inside a fence)", result.errno or 0)
    return inner


def act(item: tuple) -> object:
    """One step of a probe_each batch: ("maps", addr, None), ("read", addr, length) or ("write", addr, data)."""
    kind, addr, arg = item
    if kind == "maps":
        return steps.maps_entry(addr)
    if kind == "read":
        return libc.read_bytes(addr, arg)
    libc.write_bytes(addr, arg)
    return None


def relative(entry: dict | None, base: int) -> dict | None:
    """A /proc/self/maps entry with start and end relative to ``base`` (reports compare across runs)."""
    if entry is None:
        return None
    return dict(entry, start=entry["start"] - base, end=entry["end"] - base)


def _signal(outcome: dict) -> str:
    return outcome.get("signal") or outcome["kind"]


# --- UNMAP-1: access after munmap --------------------------------------------------------------------

@dataclass(frozen=True)
class AfterMunmap:
    open_mode: str
    prot: tuple[str, ...]
    flags: str
    file_size: int
    fill_seed: int
    offset: int
    length: int
    unmap_length: int  # covers every page of the mapping (may stop short of the last page's end: munmap rounds up)
    accesses: tuple[tuple[int, str], ...]  # (offset inside the former mapping, "read" or "write")


@dataclass(frozen=True)
class AfterMunmapSeen:
    munmap_errno: str | None
    entry: dict  # a child's /proc/self/maps look-up at the former start address (outcome)
    accesses: tuple[dict, ...]  # each access's outcome, in a child forked after the munmap


def access_after_munmap(workspace: Workspace, case: AfterMunmap) -> AfterMunmapSeen:
    """Map (fenced), munmap, then in children look the range up in /proc/self/maps and touch it."""
    pages = libc.round_up(case.length) // PAGE
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        addr = fenced_map(str(path), case.open_mode, case.length, case.prot, case.flags, case.offset)
        try:
            result = libc.munmap(addr, case.unmap_length)
            items = [("maps", addr, None)] + [("read", addr + at, 1) if kind == "read" else ("write", addr + at, b"\x5a")
                                               for at, kind in case.accesses]
            outcomes = probe_each(act, items)
        finally:
            release_fence(addr, pages)
    return AfterMunmapSeen(result.errno_name, outcomes[0].as_dict(), tuple(o.as_dict() for o in outcomes[1:]))


def judge_access_after_munmap_sigsegv(case: AfterMunmap, seen: AfterMunmapSeen) -> Finding:
    """UNMAP-1: munmap succeeds, the range is gone from /proc/self/maps, and every load or store there gets SIGSEGV."""
    if seen.munmap_errno is not None:
        return refuted(f"munmap failed with {seen.munmap_errno}")
    if seen.entry["kind"] != "returned" or seen.entry["value"] is not None:
        return refuted(f"after munmap the former start address is still mapped: {seen.entry}")
    for (at, kind), outcome in zip(case.accesses, seen.accesses, strict=True):
        if outcome.get("signal") != "SIGSEGV":
            return refuted(f"{kind} at offset {at} of the unmapped range: child {outcome}, not SIGSEGV")
    return holds()


# --- UNMAP-2: the file after munmap ------------------------------------------------------------------

@dataclass(frozen=True)
class StoresThenMunmap:
    file_size: int  # > 0
    fill_seed: int
    offset: int
    length: int
    stores: tuple[tuple[int, bytes], ...]  # (offset inside the mapping, bytes), inside the file
    mapper: str  # "this process" (a child stores through the inherited mapping) or "child" (maps, stores, unmaps)


@dataclass(frozen=True)
class FileAfterMunmap:
    stores: dict  # how the stores ended
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
                mapped = child.call(steps.map_file, str(path), "O_RDWR", case.length, prot, "MAP_SHARED", case.offset)
                if mapped.kind != "returned":
                    raise RuntimeError(f"set-up mmap failed: {mapped.describe()}")
                stores = child.call(store_all, mapped.value, case.stores)
                unmapped = child.call(unmap_errno, mapped.value, case.length) if child.ended is None else None
            munmap_errno = unmapped.value if unmapped is not None and unmapped.kind == "returned" else "not done"
        else:
            addr = steps.map_file(str(path), "O_RDWR", case.length, prot, "MAP_SHARED", case.offset)
            try:
                stores = probe(store_all, addr, case.stores)
            finally:
                munmap_errno = unmap_errno(addr, case.length)
        exists = path.exists()
        size = os.stat(path).st_size if exists else None
        content = path.read_bytes() if exists else None
    return FileAfterMunmap(stores.as_dict(), munmap_errno, exists, size, content)


def judge_file_keeps_stores_after_munmap(case: StoresThenMunmap, after: FileAfterMunmap) -> Finding:
    """UNMAP-2: the file exists, keeps its size, and read() returns the stored bytes."""
    if after.stores["kind"] != "returned":
        return refuted(f"the stores did not complete: {after.stores}")
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
class PartialMunmap:
    open_mode: str
    prot: tuple[str, ...]  # with PROT_READ
    flags: str
    file_size: int  # >= offset + pages * PAGE: every page of the mapping is file data
    fill_seed: int
    offset: int
    pages: int  # >= 3
    first: int  # first page removed
    count: int  # pages removed: 0 < count < pages
    unmap_length: int  # in ((count - 1) * PAGE, count * PAGE]: munmap rounds up to whole pages


@dataclass(frozen=True)
class PartialMunmapSeen:
    munmap_errno: str | None
    perms_before: tuple[str, ...]  # /proc/self/maps perms of each page before the munmap
    entries: tuple[dict, ...]  # per page, a child's /proc/self/maps look-up afterwards (outcome)
    reads: tuple[dict, ...]  # per page, a child's read of the whole page
    writes: tuple[dict, ...]  # per page, a child's store of the page's own first byte back into it


def partial_munmap(workspace: Workspace, case: PartialMunmap) -> PartialMunmapSeen:
    """Map pages (fenced), munmap some whole pages, then in children look up, load and store every page."""
    content = pattern(case.fill_seed, case.file_size)
    with workspace.file(case.file_size, content) as path:
        addr = fenced_map(str(path), case.open_mode, case.pages * PAGE, case.prot, case.flags, case.offset)
        try:
            page_addrs = [addr + i * PAGE for i in range(case.pages)]
            perms_before = tuple(steps.maps_entry(a)["perms"] for a in page_addrs)
            result = libc.munmap(page_addrs[case.first], case.unmap_length)
            items = ([("maps", a, None) for a in page_addrs] + [("read", a, PAGE) for a in page_addrs]
                     + [("write", a, content[case.offset + i * PAGE:case.offset + i * PAGE + 1]) for i, a in enumerate(page_addrs)])
            outcomes = [o.as_dict() for o in probe_each(act, items)]
        finally:
            release_fence(addr, case.pages)
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
            if entry.get("value") is not None or entry["kind"] != "returned":
                return refuted(f"removed page {page} is still in /proc/self/maps: {entry}")
            if read.get("signal") != "SIGSEGV" or write.get("signal") != "SIGSEGV":
                return refuted(f"removed page {page}: load {_signal(read)}, store {_signal(write)}, not SIGSEGV")
            continue
        if entry["kind"] != "returned" or entry["value"] is None:
            return refuted(f"kept page {page} is missing from /proc/self/maps: {entry}")
        if entry["value"]["perms"] != seen.perms_before[page]:
            return refuted(f"kept page {page} changed protection from {seen.perms_before[page]} to {entry['value']['perms']}")
        start = case.offset + page * PAGE
        if read["kind"] != "returned" or bytes.fromhex(read["value"]) != content[start:start + PAGE]:
            return refuted(f"kept page {page} no longer loads the file's bytes: {_signal(read)}")
        wanted = "returned" if "PROT_WRITE" in case.prot else "SIGSEGV"
        if _signal(write) != wanted:
            return refuted(f"a store to kept page {page} ({'|'.join(case.prot)}): {_signal(write)}, not {wanted}")
    return holds()


# --- UNMAP-4: munmap at an unaligned address ---------------------------------------------------------

@dataclass(frozen=True)
class UnalignedMunmap:
    open_mode: str
    prot: tuple[str, ...]  # with PROT_READ
    flags: str
    file_size: int  # > 0
    fill_seed: int
    offset: int
    length: int
    delta: int  # munmap's addr is the mapping's + delta: inside the mapping, not a page multiple
    unmap_length: int  # > 0; never reaches past the fence above the mapping


@dataclass(frozen=True)
class UnalignedMunmapSeen:
    munmap_errno: str | None
    entry_before: dict  # /proc/self/maps entry of the mapping (start/end relative to it) before the call
    entry_after: dict | None  # and after it
    loads: dict  # a child's read of the file's part of the mapping afterwards


def munmap_unaligned(workspace: Workspace, case: UnalignedMunmap) -> UnalignedMunmapSeen:
    """Map (fenced), call munmap(addr + delta, unmap_length), then look the mapping up and load it in a child."""
    pages = libc.round_up(case.length) // PAGE
    span = max(0, min(case.length, case.file_size - case.offset))
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        addr = fenced_map(str(path), case.open_mode, case.length, case.prot, case.flags, case.offset)
        try:
            before = relative(steps.maps_entry(addr), addr)
            result = libc.munmap(addr + case.delta, case.unmap_length)
            after = relative(steps.maps_entry(addr), addr)
            loads = probe(steps.read, addr, span)
        finally:
            release_fence(addr, pages)
    return UnalignedMunmapSeen(result.errno_name, before, after, loads.as_dict())


def judge_unaligned_munmap_fails_einval(case: UnalignedMunmap, seen: UnalignedMunmapSeen) -> Finding:
    """UNMAP-4: munmap fails with EINVAL and the mapping is intact (same extent, same bytes)."""
    if seen.munmap_errno != "EINVAL":
        return refuted("munmap at an unaligned address succeeded" if seen.munmap_errno is None
                       else f"munmap failed with {seen.munmap_errno}, not EINVAL")
    if seen.entry_after != seen.entry_before:
        return refuted(f"the mapping changed: {seen.entry_before} became {seen.entry_after}")
    expected = pattern(case.fill_seed, case.file_size)[case.offset:case.offset + max(0, min(case.length, case.file_size - case.offset))]
    if seen.loads["kind"] != "returned" or bytes.fromhex(seen.loads["value"]) != expected:
        return refuted(f"the mapping no longer loads the file's bytes: {_signal(seen.loads)}")
    return holds()
