"""GEOM: offset, length, address and return value of mmap()."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fixtures import libc
from fixtures.files import OPEN_MODES, Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.address_space import fenced_hole, relative, release_fence, reserve
from suite.scenarios.steps import PROT_BITS, bits
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, observed, refuted

FLAG_BITS = {
    "MAP_SHARED": libc.MAP_SHARED,
    "MAP_PRIVATE": libc.MAP_PRIVATE,
    "MAP_FIXED": libc.MAP_FIXED,
    "MAP_ANONYMOUS": libc.MAP_ANONYMOUS,
}


def maps_identity(fd: int, page_size: int) -> tuple[str, int]:
    """The (device, inode) /proc/self/maps gives mappings of fd's file, read off a control mapping of its first page:
    not stat()'s, which a stacked filesystem may not show there (overlayfs before Linux 6.8 shows the layer's file,
    e.g. the upper-layer copy of a file opened O_RDWR, while stat() reports the lower inode)."""
    addr = libc.checked("mmap(control)", libc.mmap(None, page_size, libc.PROT_NONE, libc.MAP_PRIVATE, fd, 0))
    try:
        entry = steps.maps_entry(addr)
        return entry["device"], entry["inode"]
    finally:
        libc.checked("munmap(control)", libc.munmap(addr, page_size))


def file_mappings(identity: tuple[str, int]) -> list[str]:
    """This process's /proc/self/maps entries with that (device, inode) (maps_identity())."""
    found = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if (fields[3], int(fields[4])) == identity:
            found.append(line)
    return found


# --- One mmap() call and what it left (GEOM-1, GEOM-7, GEOM-8) ----------------------------------------

@dataclass(frozen=True)
class MmapCall(PagedCase):
    open_mode: str | None  # None: an anonymous mapping (fd -1, MAP_ANONYMOUS among the flags)
    prot: tuple[str, ...]
    flags: tuple[str, ...]  # names from FLAG_BITS, or'ed together
    file_size: int
    length: int
    offset: int

    def check(self) -> None:
        super().check()
        self.require(not self.aligned(self.offset) or self.length == 0
                     or {"MAP_SHARED", "MAP_PRIVATE"} <= set(self.flags),
                     "a call mmap() refuses with EINVAL: an unaligned offset, no length, or both mapping types")


@dataclass(frozen=True)
class MmapCallSeen:
    errno: str | None  # None: mmap returned an address
    file_mappings: int | None  # /proc/self/maps entries of the file right after the call (None: anonymous)
    perms: str | None  # /proc/self/maps perms of the mapping made, if one was


def call_mmap(workspace: Workspace, call: MmapCall) -> MmapCallSeen:
    """mmap() once; look the file up in /proc/self/maps; unmap whatever was made."""
    with workspace.file(call.file_size, pattern(2, call.file_size)) as path:
        fd = os.open(path, OPEN_MODES[call.open_mode]) if call.open_mode else -1
        try:
            identity = maps_identity(fd, call.page_size) if call.open_mode else None
            result = libc.mmap(None, call.length, bits(call.prot, PROT_BITS), bits(call.flags, FLAG_BITS), fd, call.offset)
            mappings = len(file_mappings(identity)) if identity else None
            perms = None
            if result.ok:
                perms = (steps.maps_entry(result.value) or {}).get("perms")
                libc.checked("munmap", libc.munmap(result.value, call.round_up(max(call.length, 1))))
        finally:
            if fd >= 0:
                os.close(fd)
    return MmapCallSeen(result.errno_name, mappings, perms)


def judge_fails_einval_no_mapping(call: MmapCall, seen: MmapCallSeen) -> Finding:
    """GEOM-1, GEOM-8: mmap fails with EINVAL and the file appears nowhere in /proc/self/maps."""
    if seen.errno != "EINVAL":
        return refuted(f"mmap succeeded (mapping {seen.perms})" if seen.errno is None else f"mmap failed with {seen.errno}, not EINVAL")
    if seen.file_mappings:
        return refuted(f"the failed mmap left {seen.file_mappings} mapping(s) of the file")
    return holds()


def judge_shared_private_rejected(call: MmapCall, seen: MmapCallSeen) -> Finding:
    """GEOM-7: mmap with MAP_SHARED|MAP_PRIVATE fails with EINVAL."""
    if seen.errno == "EINVAL":
        return holds()
    if seen.errno is None:
        return refuted(f"mmap with MAP_SHARED|MAP_PRIVATE succeeded: a {seen.perms} mapping "
                       f"({'shared' if seen.perms and seen.perms.endswith('s') else 'private'})")
    return refuted(f"mmap with MAP_SHARED|MAP_PRIVATE failed with {seen.errno}, not EINVAL")


# --- GEOM-2: byte i of the mapping is byte offset+i of the file ---------------------------------------

@dataclass(frozen=True)
class OffsetMap(PagedCase):
    open_mode: str
    prot: tuple[str, ...]  # with PROT_READ
    flags: str
    file_size: int  # several pages
    content_seed: int  # the file holds pattern(content_seed, file_size): a shift by 1 to 254 bytes or pages
    # changes every byte (it repeats every 255 bytes, coprime to any page size), and a read-only image holds it
    offset: int  # k * page, inside the file
    length: int

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and 0 <= self.offset < self.file_size and self.length > 0,
                     "a mapping from a page offset inside the file")


@dataclass(frozen=True)
class OffsetMapSeen:
    loads: Outcome  # a child's read of every mapping byte that lies inside the file


def load_at_offset(workspace: Workspace, case: OffsetMap) -> OffsetMapSeen:
    """Map at the case's offset; in a child, load every byte of the mapping that lies inside the file."""
    span = min(case.length, case.file_size - case.offset)
    with workspace.file(case.file_size, pattern(case.content_seed, case.file_size)) as path:
        with steps.mapped(str(path), case.open_mode, case.length, case.prot, case.flags, case.offset) as mapping:
            loads = probe(steps.read, mapping.addr, span)
    return OffsetMapSeen(loads)


def judge_byte_i_is_file_byte_offset_plus_i(case: OffsetMap, seen: OffsetMapSeen) -> Finding:
    """GEOM-2: for every i inside the file, mapping[i] == file[offset + i]."""
    if not seen.loads.ok:
        return refuted(f"loading the mapping: child {seen.loads.describe()}")
    loaded = seen.loads.value
    expected = pattern(case.content_seed, case.file_size)[case.offset:case.offset + min(case.length, case.file_size - case.offset)]
    if len(loaded) != len(expected):
        return refuted(f"{len(loaded)} bytes loaded, {len(expected)} expected")
    for i, (got, want) in enumerate(zip(loaded, expected)):
        if got != want:
            return refuted(f"mapping byte {i} is {got:#04x}, file byte {case.offset + i} is {want:#04x}")
    return holds()


# --- GEOM-3: the raw return value of a failing call ---------------------------------------------------

RESERVED_PAGES = 2  # a MAP_FIXED call's address lies in a reservation this many pages long


@dataclass(frozen=True)
class FailingCall(PagedCase):
    failure: str  # what makes the call fail (for the report): zero-length, unaligned-offset, bad-fd, ...
    open_mode: str | None  # None: fd -1
    prot: tuple[str, ...]
    flags: tuple[str, ...]
    file_size: int
    length: int
    offset: int
    addr_delta: int | None  # addr = a reserved page + addr_delta (None: addr NULL)

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) != (self.failure == "unaligned-offset"),
                     "an unaligned offset exactly where that is the failure")
        self.require(self.addr_delta is None or (0 < self.addr_delta < self.page_size),
                     "a MAP_FIXED address inside the reservation's first page, unaligned")


@dataclass(frozen=True)
class RawSeen:
    value: int  # mmap()'s return value as an unsigned address (NULL: 0)
    errno: str | None  # errno after the call (cleared before it)


def call_mmap_raw(workspace: Workspace, call: FailingCall) -> RawSeen:
    """Make a call that must fail and keep mmap()'s raw return value. A call that mapped something is a set-up error."""
    with workspace.file(call.file_size, pattern(3, call.file_size)) as path:
        fd = os.open(path, OPEN_MODES[call.open_mode]) if call.open_mode else -1
        base = reserve(RESERVED_PAGES, call.page_size) if call.addr_delta is not None else None
        try:
            addr = None if base is None else base + call.addr_delta
            result = libc.mmap(addr, call.length, bits(call.prot, PROT_BITS), bits(call.flags, FLAG_BITS), fd, call.offset)
            if result.raw not in (libc.MAP_FAILED, 0) and steps.maps_entry(result.raw) is not None:
                libc.munmap(result.raw, call.round_up(max(call.length, 1)))
                raise RuntimeError(f"set-up: the {call.failure} call meant to fail mapped {result.raw:#x}")
        finally:
            if base is not None:
                libc.checked("munmap(reserve)", libc.munmap(base, RESERVED_PAGES * call.page_size))
            if fd >= 0:
                os.close(fd)
    return RawSeen(result.raw, result.errno_name)


def judge_returns_map_failed(call: FailingCall, seen: RawSeen) -> Finding:
    """GEOM-3: the failing call returns (void *) -1 (MAP_FAILED), not NULL, and sets errno."""
    if seen.value == 0:
        return refuted(f"the failing mmap ({call.failure}) returned NULL")
    if seen.value != libc.MAP_FAILED:
        return refuted(f"the failing mmap ({call.failure}) returned {seen.value:#x}, not MAP_FAILED")
    if seen.errno is None:
        return refuted(f"the failing mmap ({call.failure}) returned MAP_FAILED without setting errno")
    return holds()


# --- GEOM-4: an unaligned length maps the whole last page ---------------------------------------------

@dataclass(frozen=True)
class UnalignedLength(PagedCase):
    open_mode: str
    prot: tuple[str, ...]  # with PROT_READ
    flags: str
    file_size: int  # >= offset + round_up(length): the rest of the last page is file data
    fill_seed: int
    offset: int
    length: int  # not a page multiple
    tail_seed: int  # pattern(tail_seed, ...) is stored over [length, round_up(length)) where the mapping is writable

    def check(self) -> None:
        super().check()
        self.require(self.length > 0 and not self.aligned(self.length), "a length inside a page")
        self.require(self.aligned(self.offset) and self.offset + self.round_up(self.length) <= self.file_size,
                     "the mapping's last page, past length too, inside the file")


@dataclass(frozen=True)
class UnalignedLengthSeen:
    entry: dict | None  # /proc/self/maps entry at the mapping, start and end relative to it
    tail_load: Outcome  # a child's load of [length, round_up(length))
    tail_store: Outcome | None  # the same child's store there (None: mapping not writable, or the load ended the child)
    munmap_errno: str | None  # munmap of the rounded-up length


def map_unaligned_length(workspace: Workspace, case: UnalignedLength) -> UnalignedLengthSeen:
    rounded = case.round_up(case.length)
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        addr = steps.map_file(str(path), case.open_mode, case.length, case.prot, case.flags, case.offset)
        try:
            entry = relative(steps.maps_entry(addr), addr)
            with Child() as child:
                tail_load = child.call(steps.read, addr + case.length, rounded - case.length)
                tail_store = None
                if "PROT_WRITE" in case.prot and child.ended is None:
                    tail_store = child.call(steps.write, addr + case.length, pattern(case.tail_seed, rounded - case.length))
        finally:
            result = libc.munmap(addr, rounded)
    return UnalignedLengthSeen(entry, tail_load, tail_store, result.errno_name)


def judge_whole_last_page_mapped(case: UnalignedLength, seen: UnalignedLengthSeen) -> Finding:
    """GEOM-4: the mapping spans round_up(length); the bytes past length load the file's bytes (and take stores); munmap of the
    rounded length succeeds."""
    rounded = case.round_up(case.length)
    if seen.entry is None or (seen.entry["start"], seen.entry["end"]) != (0, rounded):
        extent = None if seen.entry is None else (seen.entry["start"], seen.entry["end"])
        return refuted(f"the mapping spans {extent} relative to its address, not (0, {rounded})")
    start = case.offset + case.length
    if not seen.tail_load.ok:
        return refuted(f"loading bytes {case.length}..{rounded - 1} of the mapping: child {seen.tail_load.describe()}")
    if seen.tail_load.value != pattern(case.fill_seed, case.file_size)[start:case.offset + rounded]:
        return refuted("the bytes past length are not the file's bytes")
    if seen.tail_store is not None and not seen.tail_store.ok:
        return refuted(f"storing past length in the last page: child {seen.tail_store.describe()}")
    if seen.munmap_errno is not None:
        return refuted(f"munmap of the rounded length {rounded} failed with {seen.munmap_errno}")
    return holds()


# --- GEOM-5: MAP_FIXED ---------------------------------------------------------------------------------

REPLACED = ("PROT_NONE reservation", "anonymous data", "another file's mapping")


@dataclass(frozen=True)
class FixedMap(PagedCase):
    replaced: str  # what the test mapped over the range first (one of REPLACED)
    reserve_pages: int  # that range's size: >= at_page + the new mapping's pages
    at_page: int  # addr = the range's start + at_page pages
    open_mode: str
    prot: tuple[str, ...]
    flags: str
    file_size: int  # > offset
    fill_seed: int
    offset: int
    length: int

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and 0 <= self.offset < self.file_size and self.length > 0,
                     "a mapping from a page offset inside the file")
        self.require(0 <= self.at_page and self.at_page + self.page_count(self.length) <= self.reserve_pages,
                     "the new mapping inside the range it replaces")


@dataclass(frozen=True)
class FixedMapSeen:
    returned: int | str  # the address returned minus addr (0: exactly addr), or the errno name
    file_identity: tuple[str, int]  # (device, inode) /proc/self/maps gives the file's mappings (maps_identity())
    old_identity: tuple[str, int]  # (device, inode) of what was mapped there before (inode 0: anonymous)
    entry: dict | None  # /proc/self/maps entry at addr afterwards (start/end relative to addr)
    below: dict | None  # the entry just below addr (at_page > 0), relative to addr
    above: dict | None  # the entry just past the new mapping, if still inside the first range
    loads: Outcome | None  # a child's load of the file's part of the new mapping (None: no PROT_READ or no mapping)


ANON_FILL = b"\xee"


def map_fixed(workspace: Workspace, case: FixedMap) -> FixedMapSeen:
    """Map something over a range the test owns, then mmap the file with MAP_FIXED inside it; look at what is where."""
    workspace.ensure_mappable(case.open_mode, case.flags)
    size = case.reserve_pages * case.page_size
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path, \
            workspace.file(size, pattern(31, size)) as other:
        if case.replaced == "PROT_NONE reservation":
            base = reserve(case.reserve_pages, case.page_size)
        elif case.replaced == "anonymous data":
            base = reserve(case.reserve_pages, case.page_size, libc.PROT_READ | libc.PROT_WRITE)
            libc.write_bytes(base, ANON_FILL * size)  # our own read-write anonymous pages
        else:
            base = steps.map_file(str(other), "O_RDONLY", size, ("PROT_READ",), "MAP_SHARED")
        old = steps.maps_entry(base)
        old_identity = (old["device"], old["inode"])
        result = None
        try:
            addr = base + case.at_page * case.page_size
            end = addr + case.round_up(case.length)
            fd = os.open(path, OPEN_MODES[case.open_mode])
            try:
                file_identity = maps_identity(fd, case.page_size)
                result = libc.mmap(addr, case.length, bits(case.prot, PROT_BITS), FLAG_BITS[case.flags] | libc.MAP_FIXED, fd, case.offset)
            finally:
                os.close(fd)
            entry = relative(steps.maps_entry(addr), addr)
            below = relative(steps.maps_entry(addr - 1), addr) if case.at_page > 0 else None
            above = relative(steps.maps_entry(end), addr) if end < base + size else None
            loads = None
            if result.ok and "PROT_READ" in case.prot:
                loads = probe(steps.read, result.value, min(case.length, case.file_size - case.offset))
        finally:
            libc.checked("munmap", libc.munmap(base, size))
            if result is not None and result.ok and result.value != addr:
                libc.munmap(result.value, case.round_up(case.length))
    returned = result.value - addr if result.ok else result.errno_name
    return FixedMapSeen(returned, file_identity, old_identity, entry, below, above, loads)


def judge_fixed_at_addr_replacing_range(case: FixedMap, seen: FixedMapSeen) -> Finding:
    """GEOM-5: mmap returns addr exactly; the file is mapped over [addr, addr + round_up(length)) at the offset; what was
    there before remains on both sides only; loads give the file's bytes."""
    if seen.returned != 0:
        return refuted(f"MAP_FIXED mmap failed with {seen.returned}" if isinstance(seen.returned, str)
                       else f"MAP_FIXED mmap returned addr{seen.returned:+#x}, not addr")
    rounded = case.round_up(case.length)
    entry = seen.entry
    if entry is None or (entry["start"], entry["end"], (entry["device"], entry["inode"]), entry["offset"]) != \
            (0, rounded, tuple(seen.file_identity), case.offset):
        return refuted(f"at addr /proc/self/maps shows {entry}, not the file (device, inode {seen.file_identity}) at offset "
                       f"{case.offset} over [0, {rounded})")
    if case.at_page > 0 and (seen.below is None or seen.below["end"] != 0
                             or (seen.below["device"], seen.below["inode"]) != tuple(seen.old_identity)):
        return refuted(f"below addr the {case.replaced} is not left as it was: {seen.below}")
    if (case.at_page * case.page_size + rounded < case.reserve_pages * case.page_size
            and (seen.above is None or seen.above["start"] != rounded
                 or (seen.above["device"], seen.above["inode"]) != tuple(seen.old_identity))):
        return refuted(f"past the new mapping the {case.replaced} is not left as it was: {seen.above}")
    if "PROT_READ" in case.prot:
        expected = pattern(case.fill_seed, case.file_size)[case.offset:case.offset + min(case.length, case.file_size - case.offset)]
        if seen.loads is None or not seen.loads.ok or seen.loads.value != expected:
            how = "not done" if seen.loads is None else "other bytes" if seen.loads.ok else seen.loads.describe()
            return refuted(f"loads at addr do not give the file's bytes: {how}")
    return holds()


# --- GEOM-6: an address hint without MAP_FIXED --------------------------------------------------------

@dataclass(frozen=True)
class Hint(PagedCase):
    open_mode: str
    prot: tuple[str, ...]
    flags: str
    file_size: int
    offset: int
    length: int
    hole_pages: int  # a free range this large (fenced) holds the free hint
    at_page: int  # free hint = hole + at_page pages; at_page + the mapping's pages <= hole_pages
    occupied_pages: int  # an anonymous PROT_NONE reservation this large holds the occupied hint
    occupied_page: int

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and self.offset >= 0 and self.length > 0, "a mapping at a page offset")
        self.require(0 <= self.at_page and self.at_page + self.page_count(self.length) <= self.hole_pages,
                     "the mapping at the free hint inside the free range")
        self.require(0 <= self.occupied_page < self.occupied_pages, "the occupied hint inside the reservation")


@dataclass(frozen=True)
class HintSeen:
    free_errno: str | None
    free_at_hint: bool | None  # whether mmap returned the free hint (None: it failed)
    occupied_errno: str | None
    occupied_at_hint: bool | None
    occupied_before: dict  # /proc/self/maps entry at the occupied hint before the call (relative to the reservation)
    occupied_after: dict | None  # and after it


def map_with_hints(workspace: Workspace, case: Hint) -> HintSeen:
    """mmap (no MAP_FIXED) with a hint at a provably free range, then with a hint inside a reservation of the test's."""
    with workspace.file(case.file_size, pattern(4, case.file_size)) as path, workspace.opened(path, case.open_mode) as fd:
        prot, flags = bits(case.prot, PROT_BITS), FLAG_BITS[case.flags]
        hole = fenced_hole(case.hole_pages, case.page_size)  # reserved, then released: free, between two reserved pages
        try:
            hint = hole + case.at_page * case.page_size
            free = libc.mmap(hint, case.length, prot, flags, fd, case.offset)
            if free.ok:
                libc.checked("munmap", libc.munmap(free.value, case.round_up(case.length)))
        finally:
            release_fence(hole, case.hole_pages, case.page_size)
        occupied_base = reserve(case.occupied_pages, case.page_size)
        try:
            hint = occupied_base + case.occupied_page * case.page_size
            before = relative(steps.maps_entry(hint), occupied_base)
            occupied = libc.mmap(hint, case.length, prot, flags, fd, case.offset)
            after = relative(steps.maps_entry(hint), occupied_base)
            if occupied.ok:
                libc.checked("munmap", libc.munmap(occupied.value, case.round_up(case.length)))
        finally:
            libc.checked("munmap", libc.munmap(occupied_base, case.occupied_pages * case.page_size))
    return HintSeen(free.errno_name, free.ok and free.value == hole + case.at_page * case.page_size,
                    occupied.errno_name, occupied.ok and occupied.value == hint, before, after)


def judge_hint_only_a_hint(case: Hint, seen: HintSeen) -> Finding:
    """GEOM-6: a hint on an occupied range gives another address and leaves the range as it was (else refuted);
    a hint on a free range is honoured or ignored (the alternative observed)."""
    if seen.occupied_errno is not None:
        return refuted(f"mmap with a hint on an occupied range failed with {seen.occupied_errno}")
    if seen.occupied_at_hint:
        return refuted("mmap without MAP_FIXED returned the occupied hinted address")
    if seen.occupied_after != seen.occupied_before:
        return refuted(f"the mapping at the occupied hint changed: {seen.occupied_before} became {seen.occupied_after}")
    if seen.free_errno is not None:
        return refuted(f"mmap with a hint on a free range failed with {seen.free_errno}")
    return observed("hint-honoured" if seen.free_at_hint else "hint-ignored")
