"""SYNC: msync(): write-back, invalidation, flags, alignment, unmapped ranges, private mappings."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from fixtures import libc, sysctl
from fixtures.capabilities import direct_write
from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome, returned
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.address_space import fenced_hole, release_fence
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, observed, refuted


class _MsyncOfWholeFileMapping(PagedCase):
    """A case (with file_size, start_page and length) that msyncs [start_page, start_page + length) of a mapping of
    its whole file."""

    @property
    def start(self) -> int:
        """msync's addr, as an offset into the mapping."""
        return self.start_page * self.page_size

    def check(self) -> None:
        super().check()
        self.require(0 <= self.start < self.file_size and self.length >= 0
                     and self.start + self.length <= self.round_up(self.file_size), "the msync() range inside the mapping")

    def require_stores_inside_file(self) -> None:
        self.require(all(self.inside(at, len(data), self.file_size) for at, data in self.stores), "every store inside the file")


@dataclass(frozen=True)
class MsyncCall(_MsyncOfWholeFileMapping):
    file_size: int  # > 0; the mapping covers the whole file
    flags: str  # of the mapping
    start_page: int  # msync's addr: this page of the mapping
    length: int  # msync's length, inside the mapping
    msync_flags: tuple[str, ...]


@dataclass(frozen=True)
class MsyncResult:
    errno: str | None  # None: msync returned 0


def call_msync(workspace: Workspace, case: MsyncCall) -> MsyncResult:
    with workspace.file(case.file_size, pattern(19, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), case.flags) as mapping:
            result = libc.msync(mapping.addr + case.start, case.length, steps.bits(case.msync_flags, steps.MSYNC_BITS))
    return MsyncResult(result.errno_name)


def judge_fails_with_einval(case: MsyncCall, result: MsyncResult) -> Finding:
    """SYNC-4: msync with both MS_SYNC and MS_ASYNC fails with EINVAL."""
    if result.errno == "EINVAL":
        return holds()
    return refuted("msync succeeded" if result.errno is None else f"msync failed with {result.errno}, not EINVAL")


# --- shared pieces --------------------------------------------------------------------------------------

# Periodic write-back made quick (SYNC-9): the flusher wakes every 10 ms and writes what is older than 10 ms, the
# smallest non-zero values (0 would turn periodic write-back off). An example then waits 10-20 ms for the flusher,
# against about 110 ms with both at 10 (0.1 s): 0.46 s against 1.78 s for the claim's 15 examples on ext4.
BRISK_FLUSHER = {"vm.dirty_expire_centisecs": "1", "vm.dirty_writeback_centisecs": "1"}

POLL_INTERVAL = 0.01  # s between cachestat(2) readings while waiting
RETURN_BOUND = 0.5  # s: SYNC-2, "returns immediately"
ASYNC_START_BOUND = 2.0  # s: SYNC-2, write-back "starts soon" (the flusher is held off for an hour meanwhile)
WRITEBACK_BOUND = 10.0  # s: SYNC-9, 1,000 times the shortened expire and write-back intervals


def flusher(values: dict[str, str] | None):
    """Hold a sysctl override (serialised across the host, always restored) with these values, or nothing."""
    return sysctl.override(values) if values else contextlib.nullcontext({})


def _cachestat(fd: int, offset: int, length: int) -> dict:
    stat = libc.cachestat(fd, offset, length)
    if isinstance(stat, libc.CallResult):
        raise libc.SysError("cachestat", stat.errno)
    return stat


@contextlib.contextmanager
def clean_file(workspace: Workspace, size: int, content: bytes) -> Iterator[Path]:
    """A scratch file whose pages are all clean (fsync()ed), so that only what the scenario stores is dirty."""
    with workspace.file(size, content) as path:
        with workspace.opened(path, "O_RDWR") as fd:
            os.fsync(fd)
        yield path


def _range_of(case) -> tuple[int, int]:
    """The file range (offset, length) of the whole pages msync() covers for the case's page-aligned addr."""
    return case.start, case.round_up(case.length)


def _apply(original: bytes, stores) -> bytes:
    content = bytearray(original)
    for at, data in stores:
        content[at:at + len(data)] = data
    return bytes(content)


def _not_clean(stat: dict | None) -> str | None:
    if stat is None:
        return None
    if stat["nr_dirty"] or stat["nr_writeback"]:
        return f"{stat['nr_dirty']} dirty and {stat['nr_writeback']} under write-back"
    return None


def _dirty_or_fail(stat: dict, what: str) -> None:
    if not stat["nr_dirty"]:
        raise RuntimeError(f"set-up: {what} was not dirty after the stores ({stat}); nothing to observe")


def _msync_failure(outcome: Outcome) -> str | None:
    """How an msync() made in a child (it returns the errno name, None for 0) failed, in words; None: it returned 0."""
    if not outcome.ok:
        return outcome.describe()
    return None if outcome.value is None else f"failed with {outcome.value}"


# --- SYNC-1, SYNC-5: msync(MS_SYNC[|MS_INVALIDATE]) on a dirtied MAP_SHARED range ------------------------


@dataclass(frozen=True)
class DirtyMsync(_MsyncOfWholeFileMapping):
    file_size: int  # > 0; the mapping covers the whole file
    stores: tuple[tuple[int, bytes], ...]  # at least one inside the msync range
    start_page: int  # msync's addr: this page of the mapping
    length: int  # > 0, inside the mapping
    msync_flags: tuple[str, ...]

    def check(self) -> None:
        super().check()
        self.require_stores_inside_file()
        self.require(self.length > 0 and any(self.start <= at < self.start + self.length for at, _ in self.stores),
                     "a store inside the msync() range (to make it dirty)")


@dataclass(frozen=True)
class DirtyMsyncSeen:
    errno: str | None  # msync's
    before: dict | None  # cachestat(2) of the pages msync covers, just before the call (None: not observable here)
    after: dict | None  # the same, just after it returned
    content: bytes  # pread() of the whole file afterwards


def msync_dirty_range(workspace: Workspace, case: DirtyMsync, observe: bool, quiet: bool) -> DirtyMsyncSeen:
    """Store through MAP_SHARED into a clean file, then msync the range; cachestat(2) around the call when observe."""
    offset, length = _range_of(case)
    with flusher(sysctl.WRITEBACK_HELD_OFF if quiet else None), clean_file(workspace, case.file_size, pattern(29, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), "MAP_SHARED") as mapping, \
                workspace.opened(path, "O_RDONLY") as fd:
            for at, data in case.stores:
                mapping.view[at:at + len(data)] = data
            before = _cachestat(fd, offset, length) if observe else None
            if before is not None:
                _dirty_or_fail(before, "the msync range")
            result = libc.msync(mapping.addr + case.start, case.length, steps.bits(case.msync_flags, steps.MSYNC_BITS))
            after = _cachestat(fd, offset, length) if observe else None
            content = os.pread(fd, case.file_size, 0)
    return DirtyMsyncSeen(result.errno_name, before, after, content)


def judge_no_dirty_pages_after_ms_sync(case: DirtyMsync, seen: DirtyMsyncSeen) -> Finding:
    """SYNC-1: msync(MS_SYNC) returned 0 and left no dirty or under-write-back page in the range."""
    if seen.errno is not None:
        return refuted(f"msync failed with {seen.errno}")
    if seen.before is None or seen.after is None:
        return refuted("no cachestat(2) reading around the call")
    left = _not_clean(seen.after)
    if left:
        return refuted(f"when msync(MS_SYNC) returned, the range still had {left} pages")
    return holds()


def judge_sync_invalidate_writes_back(case: DirtyMsync, seen: DirtyMsyncSeen) -> Finding:
    """SYNC-5: msync(MS_SYNC|MS_INVALIDATE) returned 0; read() returns the stores; no dirty page left where observable."""
    if seen.errno is not None:
        return refuted(f"msync(MS_SYNC|MS_INVALIDATE) failed with {seen.errno}")
    if seen.content != _apply(pattern(29, case.file_size), case.stores):
        return refuted("after msync(MS_SYNC|MS_INVALIDATE), read() does not return the stored data")
    left = _not_clean(seen.after)
    if left:
        return refuted(f"when msync(MS_SYNC|MS_INVALIDATE) returned, the range still had {left} pages")
    return holds()


# --- SYNC-2: msync(MS_ASYNC) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AsyncSeen:
    errno: str | None
    call_seconds: float  # how long msync(MS_ASYNC) took to return
    settings: dict  # the vm.dirty_* values in force meanwhile
    before: dict  # cachestat(2) of the range just before the call
    started_after: float | None  # s after the call when write-back was first seen under way or done (None: not within the bound)
    last: dict  # the last cachestat(2) reading


def msync_async_then_watch(workspace: Workspace, case: DirtyMsync) -> AsyncSeen:
    """With periodic write-back held off for an hour, dirty a clean range, msync(MS_ASYNC) it, and poll cachestat(2)
    for up to ASYNC_START_BOUND s for write-back under way (nr_writeback > 0) or done (nr_dirty below its value before)."""
    offset, length = _range_of(case)
    with flusher(sysctl.WRITEBACK_HELD_OFF), clean_file(workspace, case.file_size, pattern(29, case.file_size)) as path:
        settings = {name: sysctl.read(name) for name in sysctl.WRITEBACK_HELD_OFF}
        with steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), "MAP_SHARED") as mapping, \
                workspace.opened(path, "O_RDONLY") as fd:
            for at, data in case.stores:
                mapping.view[at:at + len(data)] = data
            before = _cachestat(fd, offset, length)
            _dirty_or_fail(before, "the msync range")
            flags = steps.bits(case.msync_flags, steps.MSYNC_BITS)
            called = time.monotonic()
            result = libc.msync(mapping.addr + case.start, case.length, flags)
            returned = time.monotonic()
            started, last = None, before
            while time.monotonic() - called < ASYNC_START_BOUND:
                last = _cachestat(fd, offset, length)
                if last["nr_writeback"] or last["nr_dirty"] < before["nr_dirty"]:
                    started = time.monotonic() - called
                    break
                time.sleep(POLL_INTERVAL)
    return AsyncSeen(result.errno_name, returned - called, settings, before, started, last)


def judge_async_starts_writeback_soon(case: DirtyMsync, seen: AsyncSeen) -> Finding:
    """SYNC-2: msync(MS_ASYNC) returns 0 within RETURN_BOUND s and write-back of the range is seen within ASYNC_START_BOUND s."""
    if seen.errno is not None:
        return refuted(f"msync(MS_ASYNC) failed with {seen.errno}")
    if seen.call_seconds > RETURN_BOUND:
        return refuted(f"msync(MS_ASYNC) took {seen.call_seconds:.3f} s to return (bound {RETURN_BOUND} s)")
    if seen.started_after is None or seen.started_after > ASYNC_START_BOUND:
        return refuted(f"no write-back of the range within {ASYNC_START_BOUND} s of msync(MS_ASYNC) "
                       f"({seen.last['nr_dirty']} of {seen.before['nr_dirty']} pages still dirty, none under write-back; "
                       f"periodic write-back held off: {seen.settings})")
    return holds()


# --- SYNC-3: MS_INVALIDATE after a change behind the page cache -------------------------------------------------


@dataclass(frozen=True)
class BehindCache(PagedCase):
    file_pages: int  # file size in pages (so O_DIRECT offsets and lengths are block-aligned)
    write_page: int  # the O_DIRECT write covers pages [write_page, write_page + write_pages)
    write_pages: int
    seed: int  # of the new content
    reader_flags: str  # the reader's mapping: MAP_SHARED or MAP_PRIVATE (PROT_READ)
    msync_by: str  # "reader" (msync on the reader's own mapping) or "other" (another process's MAP_SHARED mapping)
    msync_flags: tuple[str, ...]  # MS_INVALIDATE with MS_SYNC or MS_ASYNC

    def check(self) -> None:
        super().check()
        self.require(0 <= self.write_page and self.write_pages > 0 and self.write_page + self.write_pages <= self.file_pages,
                     "the O_DIRECT write inside the file")


@dataclass(frozen=True)
class BehindCacheSeen:
    direct_io: str | None  # why the O_DIRECT write could not be made (None: it was; if not, the steps after it are None)
    reader_before: Outcome  # the reader's load of the written range before the O_DIRECT write
    reader_after_write: Outcome | None  # ... after the O_DIRECT write, before msync (recorded, not judged)
    msync: Outcome | None  # how msync(MS_INVALIDATE) ended where it was called (returned None: 0; else the errno name)
    reader_after_msync: Outcome | None
    other_after_msync: Outcome | None  # the other process's load of the range after msync (msync_by == "other")


def map_and_load(path: str, length: int, flags: str, at: int, count: int) -> tuple[int, bytes]:
    """Open and map the file PROT_READ in this process, load [at, at+count) through it; (address, bytes)."""
    addr = steps.map_file(path, "O_RDONLY", length, ("PROT_READ",), flags)
    return addr, libc.read_bytes(addr + at, count)


def msync_errno(addr: int, length: int, flags: int) -> str | None:
    return libc.msync(addr, length, flags).errno_name


def invalidate_after_direct_write(workspace: Workspace, case: BehindCache) -> BehindCacheSeen:
    size = case.file_pages * case.page_size
    at, count = case.write_page * case.page_size, case.write_pages * case.page_size
    with clean_file(workspace, size, pattern(31, size)) as path, Child() as reader, Child() as other:
        reader_addr, old = reader.call(map_and_load, str(path), size, case.reader_flags, at, count) \
            .value_or_raise("set-up: the reader's mmap and load")
        before = returned(old)
        other_addr = None
        if case.msync_by == "other":
            other_addr, _ = other.call(map_and_load, str(path), size, "MAP_SHARED", at, count) \
                .value_or_raise("set-up: the other process's mmap and load")
        refused = direct_write(str(path), at, pattern(case.seed, count))
        if refused:
            return BehindCacheSeen(refused, before, None, None, None, None)
        after_write = reader.call(steps.read, reader_addr + at, count)
        caller, addr = (reader, reader_addr) if case.msync_by == "reader" else (other, other_addr)
        synced = caller.call(msync_errno, addr, size, steps.bits(case.msync_flags, steps.MSYNC_BITS))
        after_msync = reader.call(steps.read, reader_addr + at, count)
        other_after = other.call(steps.read, other_addr + at, count) if other_addr is not None else None
    return BehindCacheSeen(None, before, after_write, synced, after_msync, other_after)


def judge_invalidate_shows_new_contents(case: BehindCache, seen: BehindCacheSeen) -> Finding:
    """SYNC-3: after msync(MS_INVALIDATE), loads through the reader's (and the caller's) mapping return the new contents."""
    new = pattern(case.seed, case.write_pages * case.page_size)
    if seen.direct_io is not None:
        return refuted(f"no O_DIRECT write was made: {seen.direct_io}")
    failure = _msync_failure(seen.msync)
    if failure:
        return refuted(f"msync({'|'.join(case.msync_flags)}) did not return 0: {failure}")
    for who, read in (("the reader", seen.reader_after_msync), ("the process that called msync", seen.other_after_msync)):
        if read is None:
            continue
        if not read.ok:
            return refuted(f"{who}'s load after msync did not complete: {read.describe()}")
        if read.value != new:
            return refuted(f"after msync({'|'.join(case.msync_flags)}), {who} still loads the old contents")
    return holds()


# --- SYNC-6: alignment of addr and length ------------------------------------------------------------------


@dataclass(frozen=True)
class AlignedMsync(_MsyncOfWholeFileMapping):
    file_size: int  # > 0; the mapping covers the whole file
    stores: tuple[tuple[int, bytes], ...]  # the first inside the pages of the msync range
    start_page: int
    misalign: int  # bytes added to the page-aligned addr: 0 (aligned) or 1..page_size-1
    length: int  # msync's length; addr + length stays inside the mapping
    msync_flags: tuple[str, ...]

    def check(self) -> None:
        super().check()
        self.require_stores_inside_file()
        self.require(0 <= self.misalign < self.page_size, "an addr inside the page")
        self.require(self.start + self.misalign + self.length <= self.round_up(self.file_size),
                     "the msync() range inside the mapping")
        self.require(bool(self.misalign) or (self.length > 0 and not self.aligned(self.length)),
                     "a misaligned addr, or a length that is not a page multiple")
        self.require(self.start <= self.stores[0][0] < self.start + self.misalign + max(self.length, 1),
                     "a store inside the msync() range (to make it dirty)")


@dataclass(frozen=True)
class AlignedMsyncSeen:
    errno: str | None
    before: dict | None  # cachestat(2) of the pages holding [addr, addr+length) before the call (None: not observed)
    after: dict | None


def msync_alignment(workspace: Workspace, case: AlignedMsync, observe: bool, quiet: bool) -> AlignedMsyncSeen:
    """Store into the mapping, msync at addr = page + misalign; cachestat(2) the pages of the range when observe."""
    first = case.start + case.misalign
    offset, length = case.start, case.round_up(case.misalign + case.length)
    with flusher(sysctl.WRITEBACK_HELD_OFF if quiet else None), clean_file(workspace, case.file_size, pattern(37, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), "MAP_SHARED") as mapping, \
                workspace.opened(path, "O_RDONLY") as fd:
            for at, data in case.stores:
                mapping.view[at:at + len(data)] = data
            before = _cachestat(fd, offset, length) if observe else None
            if before is not None and not case.misalign and "MS_SYNC" in case.msync_flags:
                _dirty_or_fail(before, "the pages of the msync range")
            result = libc.msync(mapping.addr + first, case.length, steps.bits(case.msync_flags, steps.MSYNC_BITS))
            after = _cachestat(fd, offset, length) if observe else None
    return AlignedMsyncSeen(result.errno_name, before, after)


def judge_misaligned_addr_einval(case: AlignedMsync, seen: AlignedMsyncSeen) -> Finding:
    """SYNC-6, addr not page-aligned: msync fails with EINVAL."""
    if seen.errno == "EINVAL":
        return holds()
    return refuted(f"addr {case.misalign} bytes past a page boundary: msync "
                   + ("returned 0" if seen.errno is None else f"failed with {seen.errno}") + ", not EINVAL")


def judge_unaligned_length_ok(case: AlignedMsync, seen: AlignedMsyncSeen) -> Finding:
    """SYNC-6, page-aligned addr and a length that is not a page multiple: msync returns 0, and with MS_SYNC the
    pages holding the range are clean afterwards (where write-back is observable)."""
    if seen.errno is not None:
        return refuted(f"page-aligned addr, length {case.length}: msync failed with {seen.errno}")
    left = _not_clean(seen.after) if "MS_SYNC" in case.msync_flags else None
    if left:
        return refuted(f"length {case.length}: after msync(MS_SYNC) the pages holding the range still had {left} pages")
    return holds()


# --- SYNC-7: flag bits --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MsyncBits(_MsyncOfWholeFileMapping):
    file_size: int  # > 0; the mapping covers the whole file
    flags: str  # of the mapping
    start_page: int
    length: int
    msync_flags: tuple[str, ...]  # the known flags
    extra_bits: int  # other bits or-ed in (unsigned 32-bit; 0 for none)


def call_msync_bits(workspace: Workspace, case: MsyncBits) -> MsyncResult:
    value = steps.bits(case.msync_flags, steps.MSYNC_BITS) | case.extra_bits
    if value >= 1 << 31:
        value -= 1 << 32  # msync's flags is a C int
    with workspace.file(case.file_size, pattern(19, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), case.flags) as mapping:
            result = libc.msync(mapping.addr + case.start, case.length, value)
    return MsyncResult(result.errno_name)


def _accepted_or_einval(result: MsyncResult, what: str) -> Finding:
    if result.errno is None:
        return observed("accepted")
    if result.errno == "EINVAL":
        return observed("einval")
    return refuted(f"msync with {what} failed with {result.errno}, neither accepted nor EINVAL")


def judge_unknown_bit(case: MsyncBits, result: MsyncResult) -> Finding:
    """SYNC-7/unknown-bit: with a bit other than MS_SYNC|MS_ASYNC|MS_INVALIDATE, msync returns 0 or fails with EINVAL."""
    return _accepted_or_einval(result, f"extra bits {case.extra_bits:#x}")


def judge_no_sync_flag(case: MsyncBits, result: MsyncResult) -> Finding:
    """SYNC-7/no-sync-flag: with neither MS_SYNC nor MS_ASYNC, msync returns 0 or fails with EINVAL."""
    return _accepted_or_einval(result, f"flags {'|'.join(case.msync_flags) or '0'}")


# --- SYNC-8: unmapped range ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnmappedRange(PagedCase):
    layout: str  # "reserved": a range reserved and released (wholly unmapped); "hole": pages unmapped out of a file mapping
    pages: int  # pages reserved, or mapped before the hole was made
    hole: tuple[int, int]  # [first, end) pages unmapped ("reserved": all of them)
    span: tuple[int, int]  # [first, end) pages msync covers; meets the hole
    trim: int  # bytes the length falls short of whole pages (0..page_size-1; msync rounds it up)
    map_flags: str  # of the file mapping ("hole")
    msync_flags: tuple[str, ...]

    def check(self) -> None:
        super().check()
        (hole_first, hole_end), (first, end) = self.hole, self.span
        self.require(0 <= hole_first < hole_end <= self.pages and (self.layout == "hole") != (self.hole == (0, self.pages)),
                     "the hole inside the pages (all of them where reserved, not all where made in a mapping)")
        self.require(0 <= first < end <= self.pages and first < hole_end and hole_first < end,
                     "the msync() range inside the pages, meeting the hole")
        self.require(0 <= self.trim < self.page_size, "a length that ends in the range's last page")


@dataclass(frozen=True)
class UnmappedSeen:
    errno: str | None
    hole_mapped: bool  # whether anything was mapped in the hole right after the call (always False: the scenario fails otherwise)


def _mapped_in(start: int, end: int) -> bool:
    for line in Path("/proc/self/maps").read_text().splitlines():
        low, high = (int(x, 16) for x in line.split(maxsplit=1)[0].split("-"))
        if low < end and start < high:
            return True
    return False


def msync_unmapped(workspace: Workspace, case: UnmappedRange) -> UnmappedSeen:
    flags = steps.bits(case.msync_flags, steps.MSYNC_BITS)
    page = case.page_size
    length = (case.span[1] - case.span[0]) * page - case.trim
    if case.layout == "reserved":
        base = fenced_hole(case.pages, page)
        try:
            result = libc.msync(base + case.span[0] * page, length, flags)
            hole_mapped = _mapped_in(base + case.hole[0] * page, base + case.hole[1] * page)
        finally:
            release_fence(base, case.pages, page)
        if hole_mapped:
            raise RuntimeError("set-up: something was mapped into the reserved range during the call; it was not provably unmapped")
        return UnmappedSeen(result.errno_name, hole_mapped)
    size = case.pages * page
    with workspace.file(size, pattern(41, size)) as path:
        base = steps.map_file(str(path), "O_RDWR", size, ("PROT_READ", "PROT_WRITE"), case.map_flags)
        try:
            steps.unmap(base + case.hole[0] * page, (case.hole[1] - case.hole[0]) * page)
            result = libc.msync(base + case.span[0] * page, length, flags)
            hole_mapped = _mapped_in(base + case.hole[0] * page, base + case.hole[1] * page)
        finally:
            for first, end in ((0, case.hole[0]), (case.hole[1], case.pages)):
                if end > first:
                    steps.unmap(base + first * page, (end - first) * page)
    if hole_mapped:
        raise RuntimeError("set-up: something was mapped into the hole during the call; the range was not provably unmapped")
    return UnmappedSeen(result.errno_name, hole_mapped)


def judge_unmapped_enomem(case: UnmappedRange, seen: UnmappedSeen) -> Finding:
    """SYNC-8: msync over a range with unmapped pages fails with ENOMEM."""
    if seen.errno == "ENOMEM":
        return holds()
    return refuted(("msync returned 0" if seen.errno is None else f"msync failed with {seen.errno}")
                   + f" on a range with pages {case.hole[0]}..{case.hole[1] - 1} unmapped, not ENOMEM")


# --- SYNC-9: write-back without msync -------------------------------------------------------------------------


@dataclass(frozen=True)
class DirtyLeft(PagedCase):
    file_size: int  # > 0
    stores: tuple[tuple[int, bytes], ...]
    unmap: bool  # munmap() (without msync) before waiting, or keep the mapping while waiting

    def check(self) -> None:
        super().check()
        self.require(bool(self.stores) and all(self.inside(at, len(data), self.file_size) for at, data in self.stores),
                     "stores, every one inside the file")


@dataclass(frozen=True)
class WrittenBackSeen:
    settings: dict  # the vm.dirty_* values in force while waiting
    before: dict  # cachestat(2) of the whole file after the stores
    clean_after: float | None  # s after the stores when no page was dirty or under write-back (None: not within the bound)
    last: dict


def wait_for_writeback(workspace: Workspace, case: DirtyLeft) -> WrittenBackSeen:
    """Dirty a clean file through MAP_SHARED and never msync; once cachestat(2) shows the stores dirty, shorten the
    dirty-expire and write-back intervals to 10 ms and poll cachestat(2) for up to WRITEBACK_BOUND s (from the stores)
    until no page is dirty or under write-back."""
    with clean_file(workspace, case.file_size, pattern(43, case.file_size)) as path:
        with workspace.opened(path, "O_RDONLY") as fd:
            mapping = steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), "MAP_SHARED")
            try:
                for at, data in case.stores:
                    mapping.view[at:at + len(data)] = data
                stored = time.monotonic()
                # Seen dirty under the machine's own intervals (30 s by default): a 10 ms flusher in force during
                # the stores could clean them before this reading on a slow machine (it did in a TCG guest).
                before = _cachestat(fd, 0, 0)
                _dirty_or_fail(before, "the file")
                if case.unmap:
                    mapping.unmap()
                with flusher(BRISK_FLUSHER):
                    settings = {name: sysctl.read(name) for name in BRISK_FLUSHER}
                    clean, last = None, before
                    while time.monotonic() - stored < WRITEBACK_BOUND:
                        last = _cachestat(fd, 0, 0)
                        if not last["nr_dirty"] and not last["nr_writeback"]:
                            clean = time.monotonic() - stored
                            break
                        time.sleep(POLL_INTERVAL)
            finally:
                mapping.unmap()
    return WrittenBackSeen(settings, before, clean, last)


def judge_written_back_eventually(case: DirtyLeft, seen: WrittenBackSeen) -> Finding:
    """SYNC-9: with no msync, the kernel leaves no page dirty or under write-back within WRITEBACK_BOUND s."""
    if seen.clean_after is None or seen.clean_after > WRITEBACK_BOUND or _not_clean(seen.last):
        return refuted(f"{WRITEBACK_BOUND} s after the stores the file still had {_not_clean(seen.last) or 'unclean'} pages "
                       f"(intervals shortened: {seen.settings})")
    return holds()


# --- SYNC-10: msync on MAP_PRIVATE ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateMsync(_MsyncOfWholeFileMapping):
    file_size: int  # > 0; the mapping covers the whole file
    open_mode: str  # O_RDONLY or O_RDWR
    stores: tuple[tuple[int, bytes], ...]
    start_page: int
    length: int
    msync_flags: tuple[str, ...]

    def check(self) -> None:
        super().check()
        self.require_stores_inside_file()


@dataclass(frozen=True)
class PrivateMsyncSeen:
    msync: Outcome  # how the msync in the mapping process ended (returned None: 0; else the errno name)
    content_mapped: bytes  # read() of the file after the msync, with the private mapping still in place
    content_after: Outcome  # a new process's read() of the file after the mapping process exited


def store_private_and_msync(path: str, mode: str, size: int, stores: tuple, start: int, length: int, flags: int) -> str | None:
    addr = steps.map_file(path, mode, size, ("PROT_READ", "PROT_WRITE"), "MAP_PRIVATE")
    for at, data in stores:
        libc.write_bytes(addr + at, data)
    return libc.msync(addr + start, length, flags).errno_name


def msync_private(workspace: Workspace, case: PrivateMsync) -> PrivateMsyncSeen:
    """A child maps MAP_PRIVATE, stores, msyncs; the file is read() while it is mapped, and by a new process after."""
    with workspace.file(case.file_size, pattern(47, case.file_size)) as path:
        with Child() as child:
            synced = child.call(store_private_and_msync, str(path), case.open_mode, case.file_size, case.stores,
                                case.start, case.length, steps.bits(case.msync_flags, steps.MSYNC_BITS))
            content_mapped = steps.read_file(str(path))
        content_after = probe(steps.read_file, str(path))
    return PrivateMsyncSeen(synced, content_mapped, content_after)


def judge_private_msync_leaves_file(case: PrivateMsync, seen: PrivateMsyncSeen) -> Finding:
    """SYNC-10: msync returned 0 and the file still holds its original bytes, while mapped and after."""
    failure = _msync_failure(seen.msync)
    if failure:
        return refuted(f"msync({'|'.join(case.msync_flags)}) on the MAP_PRIVATE mapping did not return 0: {failure}")
    original = pattern(47, case.file_size)
    if seen.content_mapped != original:
        return refuted("after msync, read() of the file returns the private stores")
    if not seen.content_after.ok:
        return refuted(f"after the mapping process exited, a new process could not read the file: "
                       f"{seen.content_after.describe()}")
    if seen.content_after.value != original:
        return refuted("after the mapping process exited, the file is not as it was")
    return holds()
