"""PRIV: MAP_PRIVATE stores stay in the process that made them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fixtures import libc, pages
from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, observed, refuted

FILL = 17


class _WholeFileMapped(PagedCase):
    """A case (with file_size) mapping its whole file, and helpers on its pages."""

    def require_inside_file(self, writes, what: str) -> None:
        self.require(all(self.inside(at, len(data), self.file_size) for at, data, *_ in writes), f"{what} inside the file")

    def require_inside_page(self, page: int, at: int, data: bytes) -> None:
        """(``at``, ``data``): bytes inside page ``page``'s part of the file."""
        self.require(0 <= page < self.page_count(self.file_size), f"page {page} inside the file")
        self.require(self.inside(at, len(data), min(self.page_size, self.file_size - page * self.page_size)),
                     "the bytes inside the page and the file")

    def page_bytes(self, data: bytes, page: int) -> bytes:
        return data[page * self.page_size:(page + 1) * self.page_size]

    def pages_touched(self, writes) -> set[int]:
        size = self.page_size
        return {p for at, chunk, *_ in writes for p in range(at // size, (at + len(chunk) - 1) // size + 1)}


@dataclass(frozen=True)
class PrivateStores(_WholeFileMapped):
    file_size: int  # > 0; the mapping covers the whole file
    open_mode: str  # of the writer's fd: O_RDONLY suffices for MAP_PRIVATE, O_RDWR too
    stores: tuple[tuple[int, bytes], ...]  # (offset inside the file, bytes), all inside the file

    def check(self) -> None:
        super().check()
        self.require_inside_file(self.stores, "every store")


@dataclass(frozen=True)
class FileAfterPrivateStores:
    writer: Outcome  # how the writing process ended (it maps, stores, unmaps and returns)
    content: bytes  # read() of the file afterwards


def store_private_then_unmap(path: str, mode: str, size: int, stores: tuple) -> None:
    addr = steps.map_file(path, mode, size, ("PROT_READ", "PROT_WRITE"), "MAP_PRIVATE")
    for at, data in stores:
        steps.write(addr + at, data)
    steps.unmap(addr, size)


def store_private(workspace: Workspace, case: PrivateStores) -> FileAfterPrivateStores:
    """A child maps MAP_PRIVATE, stores, unmaps and exits; then the file is read()."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path:
        writer = probe(store_private_then_unmap, str(path), case.open_mode, case.file_size, case.stores)
        content = path.read_bytes()
    return FileAfterPrivateStores(writer, content)


def judge_file_unchanged(case: PrivateStores, after: FileAfterPrivateStores) -> Finding:
    """PRIV-1: the file holds its original bytes."""
    if not after.writer.ok:
        return refuted(f"the private stores did not complete: {after.writer.describe()}")
    original = pattern(FILL, case.file_size)
    if after.content != original:
        first = next(i for i, (a, b) in enumerate(zip(after.content, original)) if a != b) if len(after.content) == len(original) else None
        return refuted(f"the file changed (size {len(after.content)}, first differing byte {first})")
    return holds()


@dataclass(frozen=True)
class PrivateStoresElsewhere(_WholeFileMapped):
    file_size: int
    open_mode: str  # the writer's fd
    stores: tuple[tuple[int, bytes], ...]
    reader_flags: str  # the other process's mapping: MAP_SHARED or MAP_PRIVATE
    reader_maps: str  # "before" or "after" the writer's stores

    def check(self) -> None:
        super().check()
        self.require_inside_file(self.stores, "every store")


@dataclass(frozen=True)
class ReaderSeen:
    reads: tuple[Outcome, ...]  # how the other process's read of each stored range ended


def store_private_read_elsewhere(workspace: Workspace, case: PrivateStoresElsewhere) -> ReaderSeen:
    """Process A stores through MAP_PRIVATE; process B, which mapped the file itself, reads the same ranges."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path:
        with Child() as writer, Child() as reader:
            reader_addr = None
            if case.reader_maps == "before":
                reader_addr = _map(reader, str(path), case.file_size, case.reader_flags)
            writer_addr = _map(writer, str(path), case.file_size, "MAP_PRIVATE", case.open_mode)
            for at, data in case.stores:
                writer.call(steps.write, writer_addr + at, data).value_or_raise("set-up private store")
            if reader_addr is None:
                reader_addr = _map(reader, str(path), case.file_size, case.reader_flags)
            reads = tuple(reader.call(steps.read, reader_addr + at, len(data)) for at, data in case.stores)
    return ReaderSeen(reads)


def _map(child: Child, path: str, size: int, flags: str, mode: str = "O_RDONLY") -> int:
    prot = ("PROT_READ", "PROT_WRITE") if flags == "MAP_PRIVATE" else ("PROT_READ",)
    return child.call(steps.map_file, path, mode, size, prot, flags).value_or_raise("set-up mmap")


def judge_other_process_sees_file(case: PrivateStoresElsewhere, seen: ReaderSeen) -> Finding:
    """PRIV-2: the other process reads the file's original bytes at every stored range."""
    original = pattern(FILL, case.file_size)
    for (at, data), read in zip(case.stores, seen.reads):
        if not read.ok:
            return refuted(f"the other process could not read offset {at}: {read.describe()}")
        if read.value != original[at:at + len(data)]:
            return refuted(f"the other process sees the private store at offset {at}")
    return holds()


def _apply(data: bytes, writes) -> bytes:
    out = bytearray(data)
    for at, chunk, *_ in writes:
        out[at:at + len(chunk)] = chunk
    return bytes(out)


def store_shared_then_unmap(path: str, at: int, data: bytes) -> None:
    """A process that maps the file MAP_SHARED itself, stores, and unmaps."""
    addr = steps.map_file(path, "O_RDWR", at + len(data), ("PROT_READ", "PROT_WRITE"), "MAP_SHARED")
    steps.write(addr + at, data)
    steps.unmap(addr, at + len(data))


def _change_file(path: Path, other: Child, at: int, data: bytes, method: str) -> None:
    """Change the file by write() on a descriptor of its own, or by a store through another process's MAP_SHARED mapping."""
    if method == "write":
        fd = os.open(path, os.O_RDWR)
        try:
            if os.pwrite(fd, data, at) != len(data):
                raise RuntimeError("set-up: short pwrite()")
        finally:
            os.close(fd)
    else:
        other.call(store_shared_then_unmap, str(path), at, data).value_or_raise("set-up MAP_SHARED store")


# PRIV-3 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateFrames(_WholeFileMapped):
    file_size: int
    page: int  # the page compared
    open_mode: str  # of the MAP_PRIVATE mapping's fd
    shared_in: str  # "self": the MAP_SHARED mapping is in this process; "other": another process maps it itself
    first: str  # which mapping reads the page first: "private" or "shared"
    store: tuple[int, bytes]  # (byte inside the page, bytes): the first store through MAP_PRIVATE

    def check(self) -> None:
        super().check()
        self.require_inside_page(self.page, *self.store)


@dataclass(frozen=True)
class FramesSeen:
    # Page frame numbers from /proc/PID/pagemap (None: not present).
    private_before: int | None
    shared_before: int | None
    private_after: int | None
    shared_after: int | None


def read_and_frame(addr: int) -> int | None:
    """Read one byte at ``addr`` (fault the page in), then its page frame number."""
    steps.read(addr, 1)
    return pages.page_frames(addr, 1)[0]


class _SharedPage:
    """The MAP_SHARED view of the page: in this process, or in another process that mapped the file itself."""

    def __init__(self, path: str, case: PrivateFrames, other: Child):
        self.other = other if case.shared_in == "other" else None
        if self.other is None:
            self.mapping = steps.mapped(path, "O_RDONLY", case.file_size, ("PROT_READ",), "MAP_SHARED")
            self.addr = self.mapping.addr + case.page * case.page_size
        else:
            self.mapping = None
            mapped = other.call(steps.map_file, path, "O_RDONLY", case.file_size, ("PROT_READ",), "MAP_SHARED")
            self.addr = mapped.value_or_raise("set-up mmap in the other process") + case.page * case.page_size

    def frame(self) -> int | None:
        if self.other is None:
            return read_and_frame(self.addr)
        return self.other.call(read_and_frame, self.addr).value_or_raise("set-up read in the other process")

    def close(self) -> None:
        if self.mapping is not None:
            self.mapping.unmap()


def private_frames(workspace: Workspace, case: PrivateFrames) -> FramesSeen:
    """Compare the MAP_PRIVATE page's frame with the MAP_SHARED one before and after the first private store."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path, Child() as other:
        with steps.mapped(str(path), case.open_mode, case.file_size, ("PROT_READ", "PROT_WRITE"), "MAP_PRIVATE") as private:
            private_page = private.addr + case.page * case.page_size
            shared = _SharedPage(str(path), case, other)
            try:
                if case.first == "private":
                    private_before = read_and_frame(private_page)
                    shared_before = shared.frame()
                else:
                    shared_before = shared.frame()
                    private_before = read_and_frame(private_page)
                steps.write(private_page + case.store[0], case.store[1])
                private_after = pages.page_frames(private_page, 1)[0]
                shared_after = shared.frame()
            finally:
                shared.close()
    return FramesSeen(private_before, shared_before, private_after, shared_after)


def judge_private_page_is_cache_page_until_written(case: PrivateFrames, seen: FramesSeen) -> Finding:
    """PRIV-3: same frame as the MAP_SHARED page before the first store; a new frame after it; the shared one unchanged."""
    if None in (seen.private_before, seen.shared_before):
        return refuted(f"a page just read is not present (private {seen.private_before}, shared {seen.shared_before})")
    if seen.private_before != seen.shared_before:
        return refuted(f"before the first store the MAP_PRIVATE page is frame {seen.private_before:#x}, "
                       f"the MAP_SHARED page frame {seen.shared_before:#x}: not the page-cache page")
    if seen.private_after is None:
        return refuted("the MAP_PRIVATE page is not present right after the store")
    if seen.private_after == seen.shared_after or seen.private_after == seen.shared_before:
        return refuted(f"after the first store the MAP_PRIVATE page is still frame {seen.private_after:#x}: no private copy")
    if seen.shared_after != seen.shared_before:
        return refuted(f"the MAP_SHARED page moved from frame {seen.shared_before:#x} to {seen.shared_after}")
    return holds()


# PRIV-4 -------------------------------------------------------------------------------------------

PMD_SIZE = Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")


def far_pages(page_size: int) -> int:
    """How far a read fault can populate page-table entries around the faulting page: Linux maps a fault-around
    window (fault_around_bytes, 64 KiB by default) and, for large page-cache folios (ext4 on recent kernels), the
    whole folio, up to a PMD; neither crosses a PMD. A page the pages of one PMD away is never mapped by a fault on
    another page: this host's PMD (THP's hpage_pmd_size: 2 MiB on x86-64, 32 MiB on arm64 with 16 KiB pages) at its
    own page size, else a page table's worth of 8-byte entries (page_size / 8: 512 pages of 4 KiB). The scenario
    also checks /proc/self/pagemap that the page is absent before the change. A page of a PMD or more (hugetlbfs)
    is one fault's whole reach: hugetlb_fault() maps the page it faults and nothing around it."""
    try:
        pmd = int(PMD_SIZE.read_text())
    except (OSError, ValueError):
        pmd = None
    if pmd and page_size >= pmd:
        return 1
    if pmd and page_size == libc.PAGE_SIZE:
        return max(1, pmd // page_size)
    return page_size // 8


@dataclass(frozen=True)
class LaterChange(_WholeFileMapped):
    file_size: int
    page: int  # the MAP_PRIVATE page looked at
    accessed: str  # before the change: "none" (nothing of the mapping), "distant" (only distant_page), "read" (page)
    distant_page: int  # for "distant": far_pages or more away from page
    far_pages: int  # far_pages(page_size) on the platform
    prot: tuple[str, ...]
    change: tuple[int, bytes]  # (byte inside the page, bytes differing from the file's)
    method: str  # "write": pwrite() on a separate O_RDWR fd; "shared-store": another process's MAP_SHARED store

    def check(self) -> None:
        super().check()
        at, data = self.change
        self.require_inside_page(self.page, at, data)
        start = self.page * self.page_size + at
        self.require(data != pattern(FILL, self.file_size)[start:start + len(data)], "a change of the file's bytes")
        if self.accessed == "distant":
            self.require(0 <= self.distant_page < self.page_count(self.file_size)
                         and abs(self.distant_page - self.page) >= self.far_pages,
                         f"the distant page inside the file, {self.far_pages} pages or more from the page")


@dataclass(frozen=True)
class LaterChangeSeen:
    present_before: bool  # whether the page was in the mapping's page table just before the change (pagemap)
    page: bytes  # the MAP_PRIVATE page read after the change


def private_page_after_change(workspace: Workspace, case: LaterChange) -> LaterChangeSeen:
    """Map MAP_PRIVATE, read the page (or nothing, or a distant page), change the file, read the page."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path, Child() as other:
        with steps.mapped(str(path), "O_RDONLY", case.file_size, case.prot, "MAP_PRIVATE") as private:
            size = case.page_size
            page_addr = private.addr + case.page * size
            if case.accessed == "read":
                steps.read(page_addr, size)
            elif case.accessed == "distant":
                steps.read(private.addr + case.distant_page * size, 1)
            present = pages.page_frames(page_addr, 1)[0] is not None
            if present != (case.accessed == "read"):
                raise RuntimeError(f"set-up: the page is {'' if present else 'not '}present before the change "
                                   f"with accessed={case.accessed} (a fault mapped pages {case.far_pages} or more away?)")
            _change_file(path, other, case.page * size + case.change[0], case.change[1], case.method)
            page = steps.read(page_addr, min(size, case.file_size - case.page * size))
    return LaterChangeSeen(present, page)


def judge_later_change_seen(case: LaterChange, seen: LaterChangeSeen) -> Finding:
    """PRIV-4/untouched, PRIV-4/read: the page shows the changed file ("seen") or the old one ("not-seen"), whole."""
    old = case.page_bytes(pattern(FILL, case.file_size), case.page)
    new = _apply(old, [case.change])
    if seen.page == new:
        return observed("seen")
    if seen.page == old:
        return observed("not-seen")
    return refuted(f"the page shows neither the file before the change nor after it "
                   f"({sum(1 for a, b in zip(seen.page, new) if a != b)} byte(s) differ from the new contents)")


# PRIV-5 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CopiedThenChanged(_WholeFileMapped):
    file_size: int  # two pages or more
    open_mode: str
    read_first: bool  # every page read before the stores
    stores: tuple[tuple[int, bytes], ...]  # private stores (file offsets)
    changes: tuple[tuple[int, bytes, str], ...]  # later file changes: (file offset, bytes, "write" or "shared-store")

    def check(self) -> None:
        super().check()
        self.require(self.file_size > self.page_size, "a file of two pages or more")
        self.require_inside_file(self.stores, "every store")
        self.require_inside_file(self.changes, "every change")


@dataclass(frozen=True)
class PrivateViewSeen:
    view: bytes  # the whole MAP_PRIVATE mapping after the changes
    control: bytes  # a second MAP_PRIVATE mapping of the file, read the same way but never written


def copy_then_change(workspace: Workspace, case: CopiedThenChanged) -> PrivateViewSeen:
    """Store through MAP_PRIVATE, then change the file (write() or another process's MAP_SHARED store); read the
    mapping, and a control mapping that had the same reads but no stores."""
    prot = ("PROT_READ", "PROT_WRITE")
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path, Child() as other:
        with steps.mapped(str(path), case.open_mode, case.file_size, prot, "MAP_PRIVATE") as private, \
                steps.mapped(str(path), case.open_mode, case.file_size, prot, "MAP_PRIVATE") as control:
            if case.read_first:
                bytes(private.view)
                bytes(control.view)
            for at, data in case.stores:
                private.view[at:at + len(data)] = data
            for at, data, method in case.changes:
                _change_file(path, other, at, data, method)
            if path.read_bytes() != _apply(pattern(FILL, case.file_size), case.changes):
                raise RuntimeError("set-up: the file does not hold the changes")
            view = bytes(private.view)
            control_view = bytes(control.view)
    return PrivateViewSeen(view, control_view)


def judge_copied_page_ignores_changes(case: CopiedThenChanged, seen: PrivateViewSeen) -> Finding:
    """PRIV-5: written pages hold the private copy, ignoring later changes; every other page looks exactly like the
    same page of a never-written MAP_PRIVATE mapping (the control), which holds the file's old or new contents
    (PRIV-4 leaves that open)."""
    original = pattern(FILL, case.file_size)
    private = _apply(original, case.stores)
    changed = _apply(original, case.changes)
    written = case.pages_touched(case.stores)
    if len(seen.view) != case.file_size or len(seen.control) != case.file_size:
        return refuted(f"read {len(seen.view)} and {len(seen.control)} bytes of the {case.file_size}-byte mappings")
    for page in range(case.page_count(case.file_size)):
        got, control = case.page_bytes(seen.view, page), case.page_bytes(seen.control, page)
        if page in written:
            if got != case.page_bytes(private, page):
                if got == case.page_bytes(_apply(private, case.changes), page):
                    return refuted(f"page {page}, written through MAP_PRIVATE before the file changed, shows the change")
                return refuted(f"page {page}, written through MAP_PRIVATE, does not hold the private copy "
                               f"({sum(1 for a, b in zip(got, case.page_bytes(private, page)) if a != b)} byte(s) differ)")
            continue
        if control not in (case.page_bytes(original, page), case.page_bytes(changed, page)):
            return refuted(f"page {page} of the never-written control mapping holds neither the file's old nor new contents")
        if got != control:
            if got in (case.page_bytes(private, page), case.page_bytes(_apply(changed, case.stores), page)):
                return refuted(f"page {page}, never written through MAP_PRIVATE, shows a private store "
                               "(the copy-on-write copied more than the written page)")
            return refuted(f"page {page}, never written through MAP_PRIVATE, differs from the same page of a "
                           "never-written mapping (the store changed how another page follows the file)")
    return holds()


# PRIV-6 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DontneedPrivate(_WholeFileMapped):
    file_size: int
    open_mode: str
    stores: tuple[tuple[int, bytes], ...]  # private stores (file offsets); together they change the file's bytes
    advise_page: int  # first page of the madvise(MADV_DONTNEED) range
    advise_pages: int  # its length in pages; the range holds at least one page the stores changed

    @property
    def advised(self) -> range:
        return range(self.advise_page, self.advise_page + self.advise_pages)

    def changed_pages(self) -> set[int]:
        """The pages whose bytes the stores, together, change."""
        original = pattern(FILL, self.file_size)
        private = _apply(original, self.stores)
        return {p for p in self.pages_touched(self.stores) if self.page_bytes(private, p) != self.page_bytes(original, p)}

    def check(self) -> None:
        super().check()
        self.require_inside_file(self.stores, "every store")
        self.require(self.advise_page >= 0 and self.advise_pages > 0
                     and self.advised.stop <= self.page_count(self.file_size), "the advised range inside the file")
        self.require(bool(self.changed_pages() & set(self.advised)), "a page the stores changed in the advised range")


@dataclass(frozen=True)
class DontneedSeen:
    madvise_errno: str | None
    view: bytes  # the whole MAP_PRIVATE mapping afterwards


def dontneed_private(workspace: Workspace, case: DontneedPrivate) -> DontneedSeen:
    """Store through MAP_PRIVATE, madvise(MADV_DONTNEED) a page range, read the whole mapping."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path:
        with steps.mapped(str(path), case.open_mode, case.file_size, ("PROT_READ", "PROT_WRITE"), "MAP_PRIVATE") as private:
            for at, data in case.stores:
                private.view[at:at + len(data)] = data
            result = libc.madvise(private.addr + case.advise_page * case.page_size, case.advise_pages * case.page_size,
                                  libc.MADV_DONTNEED)
            view = bytes(private.view)
    return DontneedSeen(result.errno_name, view)


def judge_dontneed_private_page(case: DontneedPrivate, seen: DontneedSeen) -> Finding:
    """PRIV-6: the changed pages in the range all show the file again ("file-contents") or all keep the change
    ("private-change"); pages outside the range, and pages without a change, read as before the call.
    (A page whose stores left its bytes as in the file reads the same either way; it is not classified.)"""
    if seen.madvise_errno is not None:
        return refuted(f"madvise(MADV_DONTNEED) failed with {seen.madvise_errno}")
    original = pattern(FILL, case.file_size)
    private = _apply(original, case.stores)
    changed = case.changed_pages()
    advised = set(case.advised)
    found = {}
    for page in range(case.page_count(case.file_size)):
        got = case.page_bytes(seen.view, page)
        if page in changed and page in advised:
            if got == case.page_bytes(original, page):
                found[page] = "file-contents"
            elif got == case.page_bytes(private, page):
                found[page] = "private-change"
            else:
                return refuted(f"changed page {page} after MADV_DONTNEED holds neither the file's contents "
                               "nor the private change")
        elif got != case.page_bytes(private, page):
            where = "inside" if page in advised else "outside"
            kind = "changed" if page in changed else "unchanged"
            return refuted(f"{kind} page {page} {where} the advised range no longer reads as before the call")
    alternatives = set(found.values())
    if not alternatives:
        return refuted("no page holding a private change in the advised range (a scenario bug)")
    if len(alternatives) > 1:
        return refuted(f"changed pages differ after one MADV_DONTNEED: {found}")
    return observed(alternatives.pop())
