"""PAGE: demand paging and advice — residency seen through mincore(2) and cachestat(2).

How residency is observed. A page of a file can only be evicted when no mapping
holds it, so every scenario writes its file with write() (one file, kept for the
claim test's next example and cut or extended: Workspace.periodic_file), fsync()s
it (clean pages), evicts it with posix_fadvise(POSIX_FADV_DONTNEED) before mapping
it, and then *checks* that eviction worked (cachestat(2) nr_cache == 0; on kernels
before 6.5, mincore(2) of a fresh whole-file mapping). The observation records
what was left cached; the test rejects an example whose file stayed cached. Where
eviction never works (tmpfs and ramfs pages live only in the page cache) the
claims are unsupported: they require page-cache-evictable (harness/requirements.py).

Fault-around and readahead. A fault on one page can make more pages resident:
the fault path reads a readahead window around the faulting page (mmap
read-around: ``ra_pages`` pages, centred on the page, from the file's backing
device: /sys/class/bdi/MAJ:MIN/read_ahead_kb) and fault-around maps up to
``fault_around_bytes`` (64 KiB by default; in debugfs, often unreadable) of
already-cached pages. A page is therefore only "far away" from a touched page,
or from an advised range, when its distance exceeds the whole readahead window
plus the fault-around window plus a margin (``far_pages``): twice what the
kernel's read-around reaches on either side. The windows are read from the
platform by the test and recorded in the parameters.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

from fixtures import libc
from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.pages import cached_pages, evict
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, observed, refuted

FAULT_AROUND_DEFAULT = 64 * 1024  # mm/memory.c: fault_around_bytes default
MARGIN = 1 << 20  # bytes beyond both windows
WILLNEED_WAIT_S = 2.0  # the stated bound on MADV_WILLNEED's asynchronous read-ahead
BLOCK = bytes(range(1, 256))  # file content, repeated (Workspace.periodic_file): written data, never a hole


# ---------------------------------------------------------------- platform windows


def _bdi_readahead_kb(directory: str) -> int | None:
    """The most one readahead call reads from the backing device, in KiB: force_page_cache_ra() (MADV_WILLNEED)
    reads up to max(io_pages, ra_pages), i.e. the larger of the queue's max_sectors_kb and the bdi's read_ahead_kb."""
    dev = os.stat(directory).st_dev
    name = f"{os.major(dev)}:{os.minor(dev)}"
    try:
        kb = int(Path(f"/sys/class/bdi/{name}/read_ahead_kb").read_text())
    except (OSError, ValueError):
        return None
    try:
        return max(kb, int(Path(f"/sys/dev/block/{name}/queue/max_sectors_kb").read_text()))
    except (OSError, ValueError):  # not a block device (FUSE): the bdi's window is all there is
        return kb


def readahead_pages(directory: str, page_size: int) -> int:
    """The readahead window of files in ``directory``, in pages of ``page_size`` (_bdi_readahead_kb());
    where no device is known (tmpfs, btrfs' anonymous devices), the largest window of any device (and
    at least 128 KiB, the kernel's default VM_READAHEAD_PAGES)."""
    kb = _bdi_readahead_kb(directory)
    if kb is None:
        windows = []
        for candidate in Path("/sys/class/bdi").glob("*/read_ahead_kb"):
            try:
                windows.append(int(candidate.read_text()))
            except (OSError, ValueError):
                pass
        kb = max(windows + [128])
    return max(1, kb * 1024 // page_size)


def fault_around_pages(page_size: int) -> int:
    """fault_around_bytes (debugfs) in pages of ``page_size``, or the kernel default (64 KiB) when unreadable."""
    try:
        value = int(Path("/sys/kernel/debug/fault_around_bytes").read_text())
    except (OSError, ValueError):
        value = FAULT_AROUND_DEFAULT
    return max(1, value // page_size)


def far_pages(readahead: int, fault_around: int, page_size: int) -> int:
    """A page is far from a touched page or an advised range when more than this many pages away."""
    return readahead + fault_around + max(1, MARGIN // page_size)


# ---------------------------------------------------------------- residency helpers


def runs(flags: list[bool]) -> tuple[tuple[int, int], ...]:
    """Resident page indices as (first, last) runs: compact observations for MiB-sized mappings."""
    out: list[list[int]] = []
    for i, resident in enumerate(flags):
        if resident:
            if out and out[-1][1] == i - 1:
                out[-1][1] = i
            else:
                out.append([i, i])
    return tuple((a, b) for a, b in out)


def expand(spans: tuple[tuple[int, int], ...]) -> set[int]:
    return {i for a, b in spans for i in range(a, b + 1)}


def cached_pages_of_large_file(fd: int, size: int) -> int | None:
    """cached_pages() where cachestat(2) counts them; None (not counted) before Linux 6.5: mincore() of a file of
    1 GiB or more walks every page, which takes minutes under emulation (the kernel matrix's guests)."""
    stat = libc.cachestat(fd, 0, 0)
    return stat["nr_cache"] if isinstance(stat, dict) else None


def residency(addr: int, length: int, page_size: int) -> tuple[tuple[int, int], ...]:
    """Resident pages of [addr, addr + length) as runs of page indices of ``page_size``: a page is resident when any
    of the base pages mincore(2) reports on (PAGE_SIZE each) is."""
    vector = libc.mincore(addr, length)
    if not isinstance(vector, list):
        raise libc.SysError("mincore", vector.errno)
    per_page = max(1, page_size // libc.PAGE_SIZE)
    return runs([any(vector[i:i + per_page]) for i in range(0, len(vector), per_page)])


def _map(fd: int, length: int, prot: tuple[str, ...], flags: str, offset: int = 0) -> libc.CallResult:
    bits = steps.bits(tuple(p for p in prot if p != "PROT_NONE"), steps.PROT_BITS)
    return libc.mmap(None, length, bits, steps.MAP_TYPES[flags], fd, offset)


# ---------------------------------------------------------------- PAGE-1


@dataclass(frozen=True)
class MapCase(PagedCase):
    file_size: int
    open_mode: str
    prot: tuple[str, ...]
    flags: str
    offset: int  # page multiple
    length: int  # > 0; may reach past EOF

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and self.offset >= 0 and self.length > 0, "a mapping at a page offset")


@dataclass(frozen=True)
class FreshMapSeen:
    cached_before: int  # page-cache pages of the file after eviction (the precondition needs 0)
    mmap_errno: str | None
    resident: tuple[tuple[int, int], ...]  # mincore() runs over the mapping right after mmap()
    cached_after: int  # cached pages of the file right after mmap()


def map_fresh(workspace: Workspace, case: MapCase) -> FreshMapSeen:
    """Write the file, evict it, mmap() it and look at once: mincore() of the range, cachestat() of the file."""
    # 9p with cache=none refuses every MAP_SHARED mapping of an O_RDWR fd, PROT_WRITE or not (VM_MAYWRITE).
    workspace.ensure_mappable(case.open_mode, case.flags)
    with workspace.periodic_file(case.file_size, BLOCK) as path, workspace.opened(path, "O_RDWR") as wfd:
        cached_before = evict(wfd, case.file_size)
        with workspace.opened(path, case.open_mode) as fd:
            mapped = _map(fd, case.length, case.prot, case.flags, case.offset)
        if not mapped.ok:
            return FreshMapSeen(cached_before, mapped.errno_name, (), cached_pages(wfd, case.file_size))
        try:
            resident = residency(mapped.value, case.length, case.page_size)
            cached_after = cached_pages(wfd, case.file_size)
        finally:
            steps.unmap(mapped.value, case.length)
    return FreshMapSeen(cached_before, None, resident, cached_after)


def judge_mmap_loads_nothing(case: MapCase, seen: FreshMapSeen) -> Finding:
    """PAGE-1: mmap() succeeds, and right after it no page of the range is resident nor any page of the file cached."""
    if seen.mmap_errno is not None:
        return refuted(f"mmap() failed with {seen.mmap_errno}")
    if seen.resident:
        return refuted(f"mincore() reports mapping pages {list(seen.resident)} resident right after mmap()")
    if seen.cached_after > seen.cached_before:
        return refuted(f"the file's cached pages grew from {seen.cached_before} to {seen.cached_after} during mmap()")
    return holds()


# ---------------------------------------------------------------- PAGE-2


@dataclass(frozen=True)
class TouchCase(PagedCase):
    file_size: int  # the mapping covers the whole file
    open_mode: str
    prot: tuple[str, ...]  # readable
    flags: str
    touched_page: int
    byte: int  # inside the touched page, inside the file
    readahead_pages: int  # the platform's windows (see the module docstring)
    fault_around_pages: int

    @property
    def far(self) -> int:
        return far_pages(self.readahead_pages, self.fault_around_pages, self.page_size)

    def check(self) -> None:
        super().check()
        self.require(0 <= self.byte < self.page_size
                     and self.inside(self.touched_page * self.page_size + self.byte, 1, self.file_size),
                     "the load inside the touched page and the file")
        self.require(self.page_count(self.file_size) >= self.far + 2, "pages farther than far_pages() from some page")


@dataclass(frozen=True)
class TouchSeen:
    cached_before: int
    resident_before: tuple[tuple[int, int], ...]  # right after mmap(), before the load
    load: Outcome  # how the load (in a forked child sharing the mapping, alive until resident_after is read) ended
    resident_after: tuple[tuple[int, int], ...]


def touch_one_page(workspace: Workspace, case: TouchCase) -> TouchSeen:
    """Evicted file, mmap() of all of it, one load from one page (in a child), then mincore() of the whole range."""
    workspace.ensure_mappable(case.open_mode, case.flags)
    with workspace.periodic_file(case.file_size, BLOCK) as path, workspace.opened(path, "O_RDWR") as wfd:
        cached_before = evict(wfd, case.file_size)
        with steps.mapped(str(path), case.open_mode, case.file_size, case.prot, case.flags) as mapping:
            before = residency(mapping.addr, case.file_size, case.page_size)
            with Child() as child:  # alive (the page mapped there) until residency is read here
                load = child.call(steps.read, mapping.addr + case.touched_page * case.page_size + case.byte, 1)
                after = residency(mapping.addr, case.file_size, case.page_size)
    return TouchSeen(cached_before, before, load, after)


def judge_first_access_loads_page_only_nearby(case: TouchCase, seen: TouchSeen) -> Finding:
    """PAGE-2: the touched page becomes resident; pages farther than far_pages() from it stay absent."""
    if seen.resident_before:
        return refuted(f"pages {list(seen.resident_before)} were resident before any access")
    if not seen.load.ok:
        return refuted(f"the load from page {case.touched_page} did not complete: {seen.load.describe()}")
    resident = expand(seen.resident_after)
    if case.touched_page not in resident:
        return refuted(f"page {case.touched_page} is not resident after a load from it")
    far = case.far
    distant = sorted(p for p in resident if abs(p - case.touched_page) > far)
    if distant:
        return refuted(f"pages {distant[0]}..{distant[-1]} ({len(distant)} pages), more than {far} pages from the "
                       f"touched page {case.touched_page}, became resident")
    return holds()


# ---------------------------------------------------------------- PAGE-3


@dataclass(frozen=True)
class WillneedCase(PagedCase):
    file_size: int  # the mapping covers the whole file
    open_mode: str
    prot: tuple[str, ...]
    flags: str
    advise_page: int  # first advised page
    advise_length: int  # bytes (> 0); the advised pages all lie inside the file
    readahead_pages: int
    fault_around_pages: int

    def check(self) -> None:
        super().check()
        self.require(self.advise_page >= 0 and self.advise_length > 0
                     and advised_pages(self).stop <= self.page_count(self.file_size), "the advised pages inside the file")


@dataclass(frozen=True)
class WillneedSeen:
    cached_before: int
    resident_before: tuple[tuple[int, int], ...]
    madvise_errno: str | None
    resident_after: tuple[tuple[int, int], ...]  # at the first poll with every advised page resident, or at the bound
    waited_s: float  # how long the polling took (bounded by WILLNEED_WAIT_S; recorded, not judged)
    queued: int | None  # cachestat(2) of the advised range at the last poll: pages in the page cache, read or in flight


def advised_pages(case: WillneedCase) -> range:
    return range(case.advise_page, case.advise_page + case.page_count(case.advise_length))


def advise_willneed(workspace: Workspace, case: WillneedCase) -> WillneedSeen:
    """Evicted file, mmap() of all of it, madvise(MADV_WILLNEED) on a range, then poll mincore() until every advised
    page is resident, or until no read is in flight any more, or for WILLNEED_WAIT_S at most. Nothing touches the
    mapping.

    "No read in flight": madvise(MADV_WILLNEED) inserts every page it will read into the page cache before it
    returns (only the I/O completes asynchronously), so once cachestat(2) counts no more cached pages in the advised
    range than mincore(2) reports resident (up to date), the missing pages were never queued and waiting longer
    cannot bring them. Without cachestat(2) (before Linux 6.5) the polling runs to the bound."""
    wanted = advised_pages(case)
    workspace.ensure_mappable(case.open_mode, case.flags)
    with workspace.periodic_file(case.file_size, BLOCK) as path, workspace.opened(path, "O_RDWR") as wfd:
        cached_before = evict(wfd, case.file_size)
        with steps.mapped(str(path), case.open_mode, case.file_size, case.prot, case.flags) as mapping:
            before = residency(mapping.addr, case.file_size, case.page_size)
            start = time.monotonic()
            advised = libc.madvise(mapping.addr + case.advise_page * case.page_size, case.advise_length, libc.MADV_WILLNEED)
            while True:
                queued = libc.cachestat(wfd, wanted.start * case.page_size, len(wanted) * case.page_size)
                after = residency(mapping.addr, case.file_size, case.page_size)
                elapsed = time.monotonic() - start
                present = len(set(wanted) & expand(after))
                settled = isinstance(queued, dict) and queued["nr_cache"] == present
                if not advised.ok or present == len(wanted) or settled or elapsed >= WILLNEED_WAIT_S:
                    break
                time.sleep(0.005)  # polling interval only: nothing is ordered by it
    return WillneedSeen(cached_before, before, advised.errno_name, after, round(elapsed, 3),
                        queued["nr_cache"] if isinstance(queued, dict) else None)


def judge_willneed_prefetches(case: WillneedCase, seen: WillneedSeen) -> Finding:
    """PAGE-3: madvise() returns 0; within WILLNEED_WAIT_S every advised page is resident, untouched; pages far from
    the advised range (the control) stay absent."""
    if seen.resident_before:
        return refuted(f"pages {list(seen.resident_before)} were resident before the advice")
    if seen.madvise_errno is not None:
        return refuted(f"madvise(MADV_WILLNEED) failed with {seen.madvise_errno}")
    resident = expand(seen.resident_after)
    wanted = advised_pages(case)
    missing = [p for p in wanted if p not in resident]
    if missing:
        queued = "" if seen.queued is None else f"; {seen.queued} of the advised pages were in the page cache at the end"
        return refuted(f"{len(missing)} of the {len(wanted)} advised pages (first {missing[0]}, last {missing[-1]}) are not "
                       f"resident after madvise(MADV_WILLNEED) (polled {seen.waited_s} s, bound {WILLNEED_WAIT_S} s{queued})")
    far = far_pages(case.readahead_pages, case.fault_around_pages, case.page_size)
    distant = sorted(p for p in resident if p < wanted.start - far or p >= wanted.stop + far)
    if distant:
        return refuted(f"pages {distant[0]}..{distant[-1]}, more than {far} pages from the advised range, became resident")
    return holds()


# ---------------------------------------------------------------- PAGE-4


@dataclass(frozen=True)
class AdviceCase(PagedCase):
    file_size: int  # > 0
    open_mode: str
    offset: int  # of the PROT_READ, MAP_PRIVATE mapping (page multiple, inside the file)
    length: int  # of the mapping
    advise_page: int  # first advised page of the mapping
    advise_length: int  # bytes (> 0), inside the mapping
    touched: bool  # the advised pages were read before the advice
    advice: tuple[str, ...]  # applied in this order to the same range

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and 0 <= self.offset < self.file_size and self.length > 0
                     and self.offset + self.length <= self.round_up(self.file_size),
                     "a mapping from a page offset inside the file, every page of it in the file")
        self.require(self.advise_page >= 0 and self.inside(self.advise_page * self.page_size, self.advise_length,
                                                           self.round_up(self.length)),
                     "the advised range inside the mapping")


ADVICE = {"MADV_SEQUENTIAL": libc.MADV_SEQUENTIAL, "MADV_RANDOM": libc.MADV_RANDOM,
          "MADV_DONTNEED": libc.MADV_DONTNEED, "MADV_HUGEPAGE": libc.MADV_HUGEPAGE}


@dataclass(frozen=True)
class AdviceSeen:
    results: tuple[tuple[str, str | None], ...]  # (advice, errno name or None) in order


def _read_pages(addr: int, pages: int, page_size: int) -> None:
    for page in range(pages):
        libc.read_bytes(addr + page * page_size, 1)


def _advise_each(path: str, case: AdviceCase) -> tuple:
    addr = steps.map_file(path, case.open_mode, case.length, ("PROT_READ",), "MAP_PRIVATE", case.offset)
    try:
        where = addr + case.advise_page * case.page_size
        if case.touched:
            _read_pages(where, case.page_count(case.advise_length), case.page_size)
        return tuple((name, libc.madvise(where, case.advise_length, ADVICE[name]).errno_name) for name in case.advice)
    finally:
        steps.unmap(addr, case.round_up(case.length))


def advise(workspace: Workspace, case: AdviceCase) -> AdviceSeen:
    """A child maps the file PROT_READ, MAP_PRIVATE (optionally reads the range) and gives each advice in turn."""
    with workspace.file(case.file_size, pattern(1, case.file_size)) as path:  # non-zero data, and a read-only image has it
        results = probe(_advise_each, str(path), case).value_or_raise("set-up advising child")
    return AdviceSeen(tuple(tuple(r) for r in results))


def _advice_alternative(seen: AdviceSeen) -> Finding:
    unexpected = [(name, err) for name, err in seen.results if err not in (None, "EINVAL")]
    if unexpected:
        return refuted(f"madvise() failed with an error other than EINVAL: {unexpected}")
    if not seen.results:
        return refuted("no advice was given")
    refused = [name for name, err in seen.results if err == "EINVAL"]
    if refused:
        return observed("einval", f"EINVAL for {', '.join(refused)}")
    return observed("accepted")


def judge_conventional_advice(case: AdviceCase, seen: AdviceSeen) -> Finding:
    """PAGE-4/conventional: MADV_SEQUENTIAL, MADV_RANDOM and MADV_DONTNEED each return 0 ("accepted") or EINVAL
    ("einval": at least one refused); any other error refutes."""
    given = sorted(name for name, _ in seen.results)
    if given != sorted(case.advice) or set(given) != {"MADV_SEQUENTIAL", "MADV_RANDOM", "MADV_DONTNEED"}:
        return refuted(f"the advice given ({given}) is not the three conventional hints")
    return _advice_alternative(seen)


def judge_hugepage_advice(case: AdviceCase, seen: AdviceSeen) -> Finding:
    """PAGE-4/hugepage: MADV_HUGEPAGE returns 0 ("accepted") or EINVAL ("einval"); any other error refutes."""
    if [name for name, _ in seen.results] != ["MADV_HUGEPAGE"]:
        return refuted(f"the advice given ({[name for name, _ in seen.results]}) is not MADV_HUGEPAGE alone")
    return _advice_alternative(seen)


# ---------------------------------------------------------------- PAGE-5


SMALLEST_LARGE_FILE = 1 << 30  # _sparse_size() halves a refused size down to this, no further


@dataclass(frozen=True)
class LargeMapCase(PagedCase):
    requested_size: int  # the sparse file's size (halved while the filesystem refuses it)
    open_mode: str
    prot: tuple[str, ...]
    flags: str  # never PROT_WRITE with MAP_PRIVATE: that charges the whole range to the commit limit
    offset: int  # page multiple, well inside the file
    probes: tuple[int, ...]  # page indices of the mapping whose residency mincore() samples (reduced mod its pages)

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and 0 <= self.offset < SMALLEST_LARGE_FILE // 2,
                     "a page offset well inside the smallest file the scenario settles for")


@dataclass(frozen=True)
class LargeMapSeen:
    size: int  # the size the filesystem accepted
    cached_before: int | None  # None: not counted (no cachestat(2): cached_pages_of_large_file())
    mmap_errno: str | None
    length: int  # of the mapping: size - offset
    vma_rss_kb: int | None  # Rss of the new mapping in /proc/self/smaps
    cached_after: int | None  # cachestat(): pages of the file cached after mmap()
    sampled: tuple[int, ...]  # the page indices mincore() looked at
    resident: tuple[int, ...]  # those of them resident


def smaps_rss_kb(addr: int) -> int | None:
    """The Rss of the mapping starting at ``addr`` in /proc/self/smaps."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=1)[0]
        if "-" in head and not head.endswith(":"):
            inside = int(head.split("-")[0], 16) == addr
        elif inside and head == "Rss:":
            return int(line.split()[1])
    return None


def _sparse_size(fd: int, requested: int, page_size: int) -> int:
    size = requested
    while True:
        try:
            os.ftruncate(fd, size)
            return size
        except OSError as error:
            if error.errno not in (errno.EFBIG, errno.EINVAL) or size <= SMALLEST_LARGE_FILE:  # too large here
                raise
            size = libc.round_up(size // 2, page_size)


def map_large(workspace: Workspace, case: LargeMapCase) -> LargeMapSeen:
    """A sparse file of the requested size (or the largest the filesystem takes, halving), evicted, mmap()'d whole
    from ``offset``; at once: the mapping's Rss, the file's cached pages, mincore() of sampled pages. Nothing touches it."""
    workspace.ensure_mappable(case.open_mode, case.flags)
    with workspace.file(0) as path, workspace.opened(path, "O_RDWR") as wfd:
        size = _sparse_size(wfd, case.requested_size, case.page_size)
        cached_before = evict(wfd, size, cached_pages_of_large_file)
        length = size - case.offset
        with workspace.opened(path, case.open_mode) as fd:
            mapped = _map(fd, length, case.prot, case.flags, case.offset)
        if not mapped.ok:
            return LargeMapSeen(size, cached_before, mapped.errno_name, length, None, cached_pages_of_large_file(wfd, size),
                                (), ())
        try:
            rss = smaps_rss_kb(mapped.value)
            cached_after = cached_pages_of_large_file(wfd, size)
            pages = case.page_count(length)
            sampled = tuple(sorted({p % pages for p in case.probes} | {0, pages - 1}))
            resident = [page for page in sampled
                        if residency(mapped.value + page * case.page_size, case.page_size, case.page_size)]
        finally:
            steps.unmap(mapped.value, length)
    return LargeMapSeen(size, cached_before, None, length, rss, cached_after, sampled, tuple(resident))


def judge_large_map_costs_nothing(case: LargeMapCase, seen: LargeMapSeen) -> Finding:
    """PAGE-5: mmap() of the large file succeeds; right after it the mapping's Rss is 0, the file has no more cached
    pages than before (where they were counted) and no sampled page is resident (mincore())."""
    if seen.mmap_errno is not None:
        return refuted(f"mmap() of {seen.length} bytes failed with {seen.mmap_errno}")
    if seen.vma_rss_kb is None:
        return refuted("the new mapping is not in /proc/self/smaps")
    if seen.vma_rss_kb:
        return refuted(f"the untouched mapping already has Rss {seen.vma_rss_kb} kB")
    if None not in (seen.cached_before, seen.cached_after) and seen.cached_after > seen.cached_before:
        return refuted(f"the file's cached pages grew from {seen.cached_before} to {seen.cached_after} during mmap()")
    if seen.resident:
        return refuted(f"mincore() reports untouched pages {list(seen.resident)} resident")
    if not seen.sampled:
        return refuted("no page was sampled")
    return holds()
