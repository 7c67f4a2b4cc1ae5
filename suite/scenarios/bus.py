"""BUS: SIGBUS for pages of a mapping that lie wholly beyond end of file."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.address_space import probe_unmapped
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, observed, refuted

ACCESS = {"read": (steps.read, (1,)), "write": (steps.write, (b"\x5a",))}
READ_WRITE = ("PROT_READ", "PROT_WRITE")


def _access(addr: int, kind: str) -> tuple:
    fn, args = ACCESS[kind]
    return (fn, addr, *args)


@dataclass(frozen=True)
class BeyondEofAccess(PagedCase):
    file_size: int
    flags: str
    offset: int  # page multiple
    length: int
    page: int  # page index inside the mapping, wholly beyond EOF
    byte: int  # byte inside that page
    access: str  # read or write

    @property
    def at(self) -> int:
        """The byte accessed, as an offset into the mapping."""
        return self.page * self.page_size + self.byte

    def check(self) -> None:
        super().check()
        self.require(self.offset >= 0 and self.aligned(self.offset), "a page-multiple offset")
        self.require(0 <= self.byte < self.page_size, "the byte inside its page")
        self.require(self.inside(self.at, 1, self.round_up(self.length)), "the access inside the mapping")
        self.require(self.offset + self.page * self.page_size >= self.round_up(self.file_size),
                     "the page accessed wholly beyond EOF")


@dataclass(frozen=True)
class AccessSeen:
    outcome: Outcome


def access_beyond_eof(workspace: Workspace, case: BeyondEofAccess) -> AccessSeen:
    """Map past EOF and, in a child, touch one byte of a page wholly beyond EOF."""
    with workspace.file(case.file_size, pattern(3, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.length, READ_WRITE, case.flags, case.offset) as mapping:
            outcome = probe(*_access(mapping.addr + case.at, case.access))
    return AccessSeen(outcome)


def judge_sigbus(case, seen: AccessSeen) -> Finding:
    """BUS-1, BUS-2: the access is killed by SIGBUS."""
    if seen.outcome.killed_by(signal.SIGBUS):
        return holds()
    return refuted(f"{case.access} of a page wholly beyond EOF: child {seen.outcome.describe()}, not SIGBUS")


@dataclass(frozen=True)
class TruncatedAccess(PagedCase):
    old_size: int
    new_size: int
    page: int  # a page within the old size, wholly beyond the new EOF
    byte: int
    touched_before: str  # "no", "read" or "write": how the page was faulted in before truncation
    truncated_by: str  # "self" (the process holding the mapping) or "other" (another process)
    access: str

    @property
    def at(self) -> int:
        """The byte accessed, as an offset into the mapping (and the file: it maps the old file from offset 0)."""
        return self.page * self.page_size + self.byte

    def check(self) -> None:
        super().check()
        self.require(0 <= self.new_size < self.old_size, "a truncation to a smaller size")
        self.require(0 <= self.byte < self.page_size, "the byte inside its page")
        self.require(self.inside(self.at, 1, self.round_up(self.old_size)), "the access inside the mapping")
        self.require(self.page * self.page_size >= self.round_up(self.new_size),
                     "the page accessed wholly beyond the new EOF")


def access_after_truncate(workspace: Workspace, case: TruncatedAccess) -> AccessSeen:
    """Map a file MAP_SHARED in a child, truncate it (there or in another process), then access a page now beyond EOF."""
    with workspace.file(case.old_size, pattern(5, case.old_size)) as path:
        with Child() as mapper:
            addr = mapper.call(steps.map_file, str(path), "O_RDWR", case.old_size, READ_WRITE,
                               "MAP_SHARED").value_or_raise("set-up mmap")
            target = addr + case.at
            if case.touched_before != "no":
                mapper.call(*_access(target, case.touched_before)).value_or_raise("set-up access before truncation")
            _truncate(path, mapper, case.truncated_by, case.new_size)
            outcome = mapper.call(*_access(target, case.access))
    return AccessSeen(outcome)


def _truncate(path: Path, mapper: Child, by: str, size: int) -> None:
    """ftruncate() the file to ``size`` in the mapper ("self") or in another process ("other"); the size checked."""
    done = mapper.call(steps.truncate, str(path), size) if by == "self" else probe(steps.truncate, str(path), size)
    done.value_or_raise(f"set-up truncate to {size}")
    if os.stat(path).st_size != size:
        raise RuntimeError(f"set-up truncate to {size}: st_size is {os.stat(path).st_size} afterwards")


# BUS-3 --------------------------------------------------------------------------------------------

OLD_FILL, NEW_FILL = 5, 29


@dataclass(frozen=True)
class TruncateToPartialPage(PagedCase):
    old_size: int
    new_size: int  # < old_size, not a page multiple
    touched_before: str  # "no", "read", or "write": the file's bytes of the new EOF page stored over (NEW_FILL)
    truncated_by: str  # "self" or "other"

    @property
    def eof_page(self) -> int:
        """Where the page holding the new EOF starts (in the file and the mapping of it from offset 0)."""
        return self.new_size - self.new_size % self.page_size

    def check(self) -> None:
        super().check()
        self.require(0 < self.new_size < self.old_size, "a truncation to a smaller, non-zero size")
        self.require(not self.aligned(self.new_size), "the new EOF inside a page")
        self.require(self.inside(self.eof_page, self.page_size, self.round_up(self.old_size)),
                     "the new EOF page inside the mapping")


def eof_page_bytes_before_truncation(case: TruncateToPartialPage) -> bytes:
    """The bytes of the page holding the new EOF before the truncation, within the old file."""
    start = case.eof_page
    end = min(case.old_size, start + case.page_size)
    if case.touched_before == "write":
        return pattern(NEW_FILL, end - start)
    return pattern(OLD_FILL, case.old_size)[start:end]


def read_new_eof_page(workspace: Workspace, case: TruncateToPartialPage) -> AccessSeen:
    """Map MAP_SHARED in a child, touch the page that will hold the new EOF, truncate, read that whole page."""
    start = case.eof_page
    with workspace.file(case.old_size, pattern(OLD_FILL, case.old_size)) as path:
        with Child() as mapper:
            addr = mapper.call(steps.map_file, str(path), "O_RDWR", case.old_size, READ_WRITE,
                               "MAP_SHARED").value_or_raise("set-up mmap")
            if case.touched_before == "read":
                mapper.call(steps.read, addr + start, case.page_size).value_or_raise("set-up read before truncation")
            elif case.touched_before == "write":
                mapper.call(steps.write, addr + start,
                            eof_page_bytes_before_truncation(case)).value_or_raise("set-up store before truncation")
            _truncate(path, mapper, case.truncated_by, case.new_size)
            outcome = mapper.call(steps.read, addr + start, case.page_size)
    return AccessSeen(outcome)


def judge_new_eof_page_readable_zero_tail(case: TruncateToPartialPage, seen: AccessSeen) -> Finding:
    """BUS-3: the page holding the new EOF reads without a signal: its bytes before EOF kept, the rest zero."""
    if not seen.outcome.ok:
        return refuted(f"reading the page holding the new EOF: child {seen.outcome.describe()}")
    page = seen.outcome.value
    keep = case.new_size - case.eof_page
    if len(page) != case.page_size:
        return refuted(f"read {len(page)} bytes of the page, not {case.page_size}")
    if page[:keep] != eof_page_bytes_before_truncation(case)[:keep]:
        return refuted("the bytes before the new EOF changed")
    tail = page[keep:]
    if any(tail):
        first = next(i for i, b in enumerate(tail) if b)
        return refuted(f"{sum(1 for b in tail if b)} non-zero byte(s) past the new EOF, first at new EOF+{first}")
    return holds()


# BUS-4 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastMappingEnd(PagedCase):
    file_size: int
    flags: str
    offset: int  # page multiple
    length: int  # the mapping's length; the page after round_up(length) is unmapped
    byte: int  # byte inside that page

    def check(self) -> None:
        super().check()
        self.require(self.offset >= 0 and self.aligned(self.offset), "a page-multiple offset")
        self.require(self.length > 0, "a mapping")
        self.require(0 <= self.byte < self.page_size, "the load inside the one unmapped page past the mapping")


def load_past_mapping_end(workspace: Workspace, case: PastMappingEnd) -> AccessSeen:
    """Map one page more than needed and munmap it, so the page past the mapping is unmapped; load from it in a child."""
    end = case.round_up(case.length)
    with workspace.file(case.file_size, pattern(3, case.file_size)) as path:
        addr = steps.map_file(str(path), "O_RDONLY", end + case.page_size, ("PROT_READ",), case.flags, case.offset)
        try:
            steps.unmap(addr + end, case.page_size)  # what is left, [addr, addr + end), is the mapping the claim speaks of
            outcome = probe_unmapped(("read", addr + end + case.byte, 1))
        finally:
            steps.unmap(addr, end)
    return AccessSeen(outcome)


def judge_past_mapping_end_sigbus(case: PastMappingEnd, seen: AccessSeen) -> Finding:
    """BUS-4/mapping-end: the load past the end of the mapping gives SIGBUS."""
    if seen.outcome.killed_by(signal.SIGBUS):
        return holds()
    return refuted(f"load at the mapping's end + {case.byte} (nothing mapped there): child {seen.outcome.describe()}, not SIGBUS")


@dataclass(frozen=True)
class PastEofPageEnd(PagedCase):
    file_size: int
    flags: str
    offset: int  # page multiple at or below the page holding EOF
    length: int  # covers at least one whole page past the page holding EOF

    @property
    def boundary(self) -> int:
        """The first byte past the page holding EOF, as an offset into the mapping."""
        return self.round_up(self.file_size) - self.offset

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and 0 <= self.offset <= self.file_size,
                     "a page-multiple offset at or below EOF")
        self.require(self.inside(self.boundary, 1, self.round_up(self.length)),
                     "the first byte past the EOF page inside the mapping")


@dataclass(frozen=True)
class EofPageEndSeen:
    tail: Outcome  # how the read of [EOF, end of its page) ended
    boundary: Outcome  # how the load of the first byte past that page boundary ended


def load_past_eof_page_end(workspace: Workspace, case: PastEofPageEnd) -> EofPageEndSeen:
    """In a mapping longer than the file: read the tail of the EOF page, then load the first byte after it."""
    with workspace.file(case.file_size, pattern(3, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDONLY", case.length, ("PROT_READ",), case.flags, case.offset) as mapping:
            eof_at = mapping.addr + case.file_size - case.offset
            boundary_at = mapping.addr + case.boundary
            tail = probe(steps.read, eof_at, boundary_at - eof_at)
            boundary = probe(steps.read, boundary_at, 1)
    return EofPageEndSeen(tail, boundary)


def judge_eof_page_end_sigbus(case: PastEofPageEnd, seen: EofPageEndSeen) -> Finding:
    """BUS-4/eof-page-end: the EOF page's tail reads as zero; the first byte past its end gives SIGBUS."""
    if not seen.tail.ok:
        return refuted(f"reading from EOF to the end of its page: child {seen.tail.describe()}")
    tail = seen.tail.value
    if len(tail) != case.round_up(case.file_size) - case.file_size or any(tail):
        return refuted(f"the {len(tail)} byte(s) from EOF to the page boundary are not all zero")
    if not seen.boundary.killed_by(signal.SIGBUS):
        return refuted(f"load of the first byte past the page boundary after EOF: child {seen.boundary.describe()}, not SIGBUS")
    return holds()


# BUS-5 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateTruncated(PagedCase):
    old_size: int
    new_size: int
    page: int  # a page within the old size, wholly beyond the new EOF
    open_mode: str  # of the mapper's fd
    touched_before: str  # "no", "read" (untouched: no private copy) or "write" (copied)
    store: tuple[int, bytes]  # for "write": (byte inside the page, non-zero bytes differing from the file's)
    truncated_by: str

    @property
    def start(self) -> int:
        """Where the page starts, in the file and in the mapping (of the old file, from offset 0)."""
        return self.page * self.page_size

    def check(self) -> None:
        super().check()
        at, data = self.store
        self.require(0 <= self.new_size < self.old_size, "a truncation to a smaller size")
        self.require(self.round_up(self.new_size) <= self.start < self.old_size,
                     f"page {self.page} among the old file's {self.page_count(self.old_size)} page(s), wholly beyond "
                     f"the new EOF")
        self.require(self.inside(at, len(data), self.page_size) and at < self.old_size - self.start,
                     "the store inside the page, starting on a byte of the old file")
        self.require(any(data) and data != private_page_before(self, copied=False)[at:at + len(data)],
                     "a store of non-zero bytes that differ from the file's")


def private_page_before(case: PrivateTruncated, copied: bool) -> bytes:
    """The page as the mapping showed it before the truncation: the file's bytes (then zeros past old EOF),
    with the private store applied if ``copied``."""
    start, size = case.start, case.page_size
    page = bytearray(pattern(OLD_FILL, case.old_size)[start:start + size].ljust(size, b"\0"))
    if copied:
        at, data = case.store
        page[at:at + len(data)] = data
    return bytes(page)


def read_private_after_truncate(workspace: Workspace, case: PrivateTruncated) -> AccessSeen:
    """Map MAP_PRIVATE in a child, leave a page untouched, read it or write it; truncate; read the whole page."""
    with workspace.file(case.old_size, pattern(OLD_FILL, case.old_size)) as path:
        with Child() as mapper:
            addr = mapper.call(steps.map_file, str(path), case.open_mode, case.old_size, READ_WRITE,
                               "MAP_PRIVATE").value_or_raise("set-up mmap")
            target = addr + case.start
            if case.touched_before == "read":
                mapper.call(steps.read, target, case.page_size).value_or_raise("set-up read before truncation")
            elif case.touched_before == "write":
                mapper.call(steps.write, target + case.store[0], case.store[1]).value_or_raise("set-up store before truncation")
            _truncate(path, mapper, case.truncated_by, case.new_size)
            outcome = mapper.call(steps.read, target, case.page_size)
    return AccessSeen(outcome)


def _classify_private(case: PrivateTruncated, seen: AccessSeen, third: str, expected: bytes) -> Finding:
    outcome = seen.outcome
    if outcome.killed_by(signal.SIGBUS):
        return observed("sigbus")
    if not outcome.ok:
        return refuted(f"load from the page after truncation: child {outcome.describe()}, neither SIGBUS nor data")
    page = outcome.value
    if page == bytes(case.page_size):
        return observed("zeros")
    if page == expected:
        return observed(third)
    return refuted(f"the page after truncation holds neither zeros nor the {third.replace('-', ' ')} "
                   f"({sum(1 for a, b in zip(page, expected) if a != b)} byte(s) differ from it)")


def judge_private_untouched_after_truncate(case: PrivateTruncated, seen: AccessSeen) -> Finding:
    """BUS-5/untouched: SIGBUS, zeros, or the old file contents."""
    return _classify_private(case, seen, "old-contents", private_page_before(case, copied=False))


def judge_private_copied_after_truncate(case: PrivateTruncated, seen: AccessSeen) -> Finding:
    """BUS-5/copied: SIGBUS, zeros, or the private copy (the file's bytes with the store applied)."""
    return _classify_private(case, seen, "private-copy", private_page_before(case, copied=True))


# BUS-6 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownThenUp(PagedCase):
    old_size: int
    new_size: int  # truncated down to this
    up_size: int  # then extended to this: past the page holding new_size
    touched_before: str  # "no", "read", "write" (every page of the old file touched)
    truncated_by: str

    @property
    def end(self) -> int:
        """Where the read through the mapping (of the old file, from offset 0) ends: the end of up_size's page,
        or of the mapping."""
        return min(self.round_up(self.up_size), self.round_up(self.old_size))

    def check(self) -> None:
        super().check()
        self.require(0 <= self.new_size < self.old_size, "a truncation to a smaller size")
        self.require(self.up_size > self.round_up(self.new_size), "an extension past the page holding the low EOF")
        self.require(self.inside(self.new_size, self.end - self.new_size, self.round_up(self.old_size)),
                     "the read from the low EOF inside the mapping")


@dataclass(frozen=True)
class DownThenUpSeen:
    mapped: Outcome  # how the read of [new_size, min(end of up_size's page, end of mapping)) through the mapping ended
    read: bytes  # pread() of [new_size, up_size)


def touch_pages(addr: int, length: int, kind: str, page_size: int) -> None:
    for at in range(0, length, page_size):
        if kind == "read":
            steps.read(addr + at, 1)
        else:
            steps.write(addr + at, b"\xa5")


def truncate_down_then_up(workspace: Workspace, case: DownThenUp) -> DownThenUpSeen:
    """Map MAP_SHARED in a child, touch the pages, truncate down then up (there or in another process), read back."""
    end = case.end
    with workspace.file(case.old_size, pattern(OLD_FILL, case.old_size)) as path:
        with Child() as mapper:
            addr = mapper.call(steps.map_file, str(path), "O_RDWR", case.old_size, READ_WRITE,
                               "MAP_SHARED").value_or_raise("set-up mmap")
            if case.touched_before != "no":
                mapper.call(touch_pages, addr, case.old_size, case.touched_before,
                            case.page_size).value_or_raise("set-up touch before truncation")
            _truncate(path, mapper, case.truncated_by, case.new_size)
            _truncate(path, mapper, case.truncated_by, case.up_size)
            outcome = mapper.call(steps.read, addr + case.new_size, end - case.new_size)
        with workspace.opened(path, "O_RDONLY") as fd:
            read = os.pread(fd, case.up_size - case.new_size + 1, case.new_size)
    return DownThenUpSeen(outcome, read)


def judge_down_then_up_zero(case: DownThenUp, seen: DownThenUpSeen) -> Finding:
    """BUS-6: the pages are accessible again and every byte from the low EOF on reads as zero."""
    if not seen.mapped.ok:
        return refuted(f"access after truncating to {case.new_size} and extending to {case.up_size}: "
                       f"child {seen.mapped.describe()}")
    data = seen.mapped.value
    expected = case.end - case.new_size
    if len(data) != expected:
        return refuted(f"read {len(data)} bytes through the mapping, not {expected}")
    if any(data):
        first = next(i for i, b in enumerate(data) if b)
        return refuted(f"the mapping shows {sum(1 for b in data if b)} non-zero byte(s) past the low EOF "
                       f"(first at file offset {case.new_size + first}): old contents survived")
    if len(seen.read) != case.up_size - case.new_size or any(seen.read):
        return refuted(f"read() of [{case.new_size}, {case.up_size}) is not {case.up_size - case.new_size} zero bytes")
    return holds()
