"""SHARED: MAP_SHARED visibility between processes, to read()/write(), and after the writers are gone."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from fixtures import libc, pages
from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome, exited, returned, signalled
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, observed, refuted

FILL = 23
RW = ("PROT_READ", "PROT_WRITE")


# --- steps run in children (module-level, so they can be sent to a Child) ---------------------------------


def pwrite_file(path: str, at: int, data: bytes) -> int:
    """pwrite() through a descriptor of this process's own; the count written."""
    fd = os.open(path, os.O_RDWR)
    try:
        return os.pwrite(fd, data, at)
    finally:
        os.close(fd)


def touch_pages(addr: int, length: int, how: str, page_size: int) -> None:
    """Fault in every page of [addr, addr+length): load one byte, or store back the byte that is there."""
    for page_start in range(addr, addr + length, page_size):
        byte = libc.read_bytes(page_start, 1)
        if how == "write":
            libc.write_bytes(page_start, byte)


def frames_of(addr: int, length: int, page_size: int) -> list[int | None]:
    """This process's page frame numbers for the pages of [addr, addr+length) (from /proc/self/pagemap)."""
    return pages.page_frames(addr, libc.round_up(length, page_size) // page_size, page_size=page_size)


def touch_and_frames(addr: int, length: int, how: str, page_size: int) -> list[int | None]:
    """Fault the pages in, then their page frame numbers."""
    touch_pages(addr, length, how, page_size)
    return frames_of(addr, length, page_size)


def store_and_frames(addr: int, length: int, stores: tuple, page_size: int) -> list[int | None]:
    """Store each (offset, bytes) into the mapping, then the page frame numbers of the mapping."""
    for at, data in stores:
        libc.write_bytes(addr + at, data)
    return frames_of(addr, length, page_size)


def touch_page_list(addr: int, page_numbers: tuple[int, ...], page_size: int) -> None:
    """Load one byte of each listed page of the mapping at addr."""
    for page in page_numbers:
        libc.read_bytes(addr + page * page_size, 1)


def exit_now(code: int) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# --- helpers --------------------------------------------------------------------------------------------


def _mode(prot: tuple[str, ...]) -> str:
    return "O_RDWR" if "PROT_WRITE" in prot else "O_RDONLY"


def _map(child: Child, path: str, length: int, prot: tuple[str, ...], offset: int = 0, mode: str | None = None) -> int:
    """The child opens the file (O_RDWR for PROT_WRITE, else O_RDONLY, unless mode says) and maps it MAP_SHARED
    itself; the address in the child."""
    mapped = child.call(steps.map_file, path, mode or _mode(prot), length, prot, "MAP_SHARED", offset)
    return mapped.value_or_raise("set-up mmap")


def _apply(original: bytes, stores) -> bytes:
    content = bytearray(original)
    for at, data in stores:
        content[at:at + len(data)] = data
    return bytes(content)


def _first_difference(a: bytes, b: bytes) -> str:
    if len(a) != len(b):
        return f"size {len(a)}, expected {len(b)}"
    return f"first differing byte at offset {next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)}"


class _StoresInFile(PagedCase):
    """A case (with file_size and (file offset, bytes) stores) whose stores all lie inside the file."""

    def check(self) -> None:
        super().check()
        self.require(all(self.inside(at, len(data), self.file_size) for at, data in self.stores),
                     "every store inside the file")


# --- SHARED-1 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossProcessStores(_StoresInFile):
    file_size: int  # > 0; both mappings cover the whole file
    b_mode: str  # B's descriptor: O_RDONLY or O_RDWR (O_RDWR with PROT_WRITE)
    b_prot: tuple[str, ...]  # B's mapping
    b_maps: str  # "before" A's first store, or "after" it (just before B's first load)
    b_touch: str  # "none" or "read": B loads every page of its mapping before A's first store (with b_maps "before")
    stores: tuple[tuple[int, bytes], ...]  # A's stores, (file offset, bytes), inside the file


@dataclass(frozen=True)
class CrossProcessSeen:
    stores: tuple[Outcome, ...]  # how each of A's stores ended
    b_reads: tuple[Outcome, ...]  # B's load of the stored range right after each store


def stores_seen_by_other_process(workspace: Workspace, case: CrossProcessStores) -> CrossProcessSeen:
    """Processes A and B each open and map the file MAP_SHARED themselves; after each store by A, B loads the range."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path, Child() as a, Child() as b:
        a_addr = _map(a, str(path), case.file_size, RW)
        b_addr = None
        if case.b_maps == "before":
            b_addr = _map(b, str(path), case.file_size, case.b_prot, mode=case.b_mode)
            if case.b_touch == "read":
                b.call(touch_pages, b_addr, case.file_size, "read", case.page_size).value_or_raise("set-up touch")
        stored, reads = [], []
        for at, data in case.stores:
            stored.append(a.call(steps.write, a_addr + at, data))
            if b_addr is None:
                b_addr = _map(b, str(path), case.file_size, case.b_prot, mode=case.b_mode)
            reads.append(b.call(steps.read, b_addr + at, len(data)))
    return CrossProcessSeen(tuple(stored), tuple(reads))


def judge_other_process_sees_store(case: CrossProcessStores, seen: CrossProcessSeen) -> Finding:
    """SHARED-1: B's next load after each of A's stores returns the bytes A stored."""
    for step, ((at, data), stored, read) in enumerate(zip(case.stores, seen.stores, seen.b_reads)):
        if not stored.ok:
            return refuted(f"A's store #{step + 1} at offset {at} did not complete: {stored.describe()}")
        if not read.ok:
            return refuted(f"B's load after store #{step + 1} at offset {at} did not complete: {read.describe()}")
        if read.value != data:
            return refuted(f"B does not see A's store #{step + 1} at offset {at}: it reads {read.value.hex()}, "
                           f"A stored {data.hex()}")
    if len(seen.b_reads) != len(case.stores):
        return refuted("fewer loads by B than stores by A")
    return holds()


# --- SHARED-2 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoresThenPublish(_StoresInFile):
    file_size: int  # > 0; the mapping covers the whole file
    stores: tuple[tuple[int, bytes], ...]
    then: str  # "msync" (MS_SYNC over the whole mapping) or "munmap"
    msync_flags: tuple[str, ...]  # for "msync": MS_SYNC, optionally with MS_INVALIDATE


@dataclass(frozen=True)
class PublishedSeen:
    call: Outcome  # how the writer's msync()/munmap() ended: returned None (0) or the errno name
    content: bytes  # read() of the file afterwards, on a new descriptor, while the writer is still alive


def msync_or_munmap(addr: int, length: int, then: str, flags: int) -> str | None:
    result = libc.msync(addr, length, flags) if then == "msync" else libc.munmap(addr, length)
    return result.errno_name


def store_then_publish(workspace: Workspace, case: StoresThenPublish) -> PublishedSeen:
    """A child maps MAP_SHARED, stores, then calls msync(MS_SYNC) or munmap(); the parent read()s the file."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path, Child() as writer:
        addr = _map(writer, str(path), case.file_size, RW)
        for at, data in case.stores:
            writer.call(steps.write, addr + at, data).value_or_raise("set-up store")
        call = writer.call(msync_or_munmap, addr, case.file_size, case.then, steps.bits(case.msync_flags, steps.MSYNC_BITS))
        content = steps.read_file(str(path))
    return PublishedSeen(call, content)


def judge_file_has_stores_after_publish(case: StoresThenPublish, seen: PublishedSeen) -> Finding:
    """SHARED-2: the call returned 0 and read() returns the stored bytes."""
    if seen.call != returned(None):
        return refuted(f"{case.then} did not return 0: {seen.call.describe()}")
    expected = _apply(pattern(FILL, case.file_size), case.stores)
    if seen.content != expected:
        return refuted(f"after {case.then}, read() does not return the stored data ({_first_difference(seen.content, expected)})")
    return holds()


# --- SHARED-3 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoresThenRead(_StoresInFile):
    file_size: int  # > 0
    fd_mode: str  # the reading descriptor: O_RDONLY or O_RDWR
    fd_opened: str  # "before" or "after" the mmap()
    stores: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class PreadsSeen:
    reads: tuple[bytes, ...]  # pread() of each stored range right after the store


def store_then_pread(workspace: Workspace, case: StoresThenRead) -> PreadsSeen:
    """Map MAP_SHARED, and after each store pread() the range on another descriptor (no msync, no munmap)."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path:
        early = os.open(path, os.O_RDONLY if case.fd_mode == "O_RDONLY" else os.O_RDWR) if case.fd_opened == "before" else None
        try:
            with steps.mapped(str(path), "O_RDWR", case.file_size, RW, "MAP_SHARED") as mapping:
                fd = early if early is not None else os.open(path, os.O_RDONLY if case.fd_mode == "O_RDONLY" else os.O_RDWR)
                try:
                    reads = []
                    for at, data in case.stores:
                        mapping.view[at:at + len(data)] = data
                        reads.append(os.pread(fd, len(data), at))
                finally:
                    if fd is not early:
                        os.close(fd)
        finally:
            if early is not None:
                os.close(early)
    return PreadsSeen(tuple(reads))


def judge_pread_sees_store(case: StoresThenRead, seen: PreadsSeen) -> Finding:
    """SHARED-3: every pread() right after a store returns the stored bytes."""
    if len(seen.reads) != len(case.stores):
        return refuted("fewer reads than stores")
    for step, ((at, data), got) in enumerate(zip(case.stores, seen.reads)):
        if got != data:
            return refuted(f"pread() after store #{step + 1} at offset {at} returns {got.hex()}, not the stored {data.hex()}")
    return holds()


# --- SHARED-4 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteAfterMmap(PagedCase):
    file_size: int  # > 0; the mapping covers the whole file
    mode: str  # the mapping's descriptor: O_RDONLY or O_RDWR (O_RDWR with PROT_WRITE)
    prot: tuple[str, ...]  # of the mapping
    cache: str  # "warm" (the file's pages in the page cache) or "dropped" (POSIX_FADV_DONTNEED before mmap)
    touch_others: bool  # load the pages the write() does not cover, before the write()
    writer: str  # "self" (the mapping process) or "other" (another process opens the file and pwrite()s)
    at: int
    data: bytes  # written with pwrite(), inside the file

    def other_pages(self) -> tuple[int, ...]:
        """The pages of the file the write() does not cover."""
        first, last = self.at // self.page_size, (self.at + len(self.data) - 1) // self.page_size
        return tuple(page for page in range(self.page_count(self.file_size)) if not first <= page <= last)

    def check(self) -> None:
        super().check()
        self.require(self.inside(self.at, len(self.data), self.file_size), "the write() inside the file")


@dataclass(frozen=True)
class MappingAfterWrite:
    written: Outcome  # how the pwrite() ended (the count)
    seen: Outcome  # the load of the written range through the mapping, afterwards


def write_then_load(workspace: Workspace, case: WriteAfterMmap) -> MappingAfterWrite:
    """A child maps MAP_SHARED; the file is pwrite()n (by the child, or by another process) at pages the child has
    not accessed through the mapping; then the child loads the written range through its mapping."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path:
        if case.cache == "dropped":
            with workspace.opened(path, "O_RDWR") as fd:
                os.fsync(fd)
                libc.checked("posix_fadvise", libc.posix_fadvise(fd, 0, 0, libc.POSIX_FADV_DONTNEED))
        with Child() as mapper:
            addr = _map(mapper, str(path), case.file_size, case.prot, mode=case.mode)
            if case.touch_others:
                mapper.call(touch_page_list, addr, case.other_pages(), case.page_size).value_or_raise("set-up touch")
            if case.writer == "self":
                written = mapper.call(pwrite_file, str(path), case.at, case.data)
            else:
                written = returned(pwrite_file(str(path), case.at, case.data))
            seen = mapper.call(steps.read, addr + case.at, len(case.data))
    return MappingAfterWrite(written, seen)


def judge_write_seen_or_not(case: WriteAfterMmap, after: MappingAfterWrite) -> Finding:
    """SHARED-4: the mapping shows all the written bytes (seen) or all the old ones (not-seen), nothing else."""
    if after.written != returned(len(case.data)):
        return refuted(f"the pwrite() did not write {len(case.data)} bytes: {after.written.describe()}")
    if not after.seen.ok:
        return refuted(f"the load through the mapping did not complete: {after.seen.describe()}")
    if after.seen.value == case.data:
        return observed("seen")
    if after.seen.value == pattern(FILL, case.file_size)[case.at:case.at + len(case.data)]:
        return observed("not-seen")
    return refuted("the mapping shows a mix of the written and the old bytes")


# --- SHARED-5 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoMappers(PagedCase):
    file_size: int  # > 0
    a_mode: str  # O_RDONLY or O_RDWR (O_RDWR with PROT_WRITE)
    a_prot: tuple[str, ...]
    a_touch: str  # "read" or "write": how A faults its pages in
    b_mode: str
    b_prot: tuple[str, ...]
    b_touch: str
    b_offset: int  # page multiple: B maps [b_offset, file_size); A maps the whole file

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.b_offset) and 0 <= self.b_offset < self.file_size,
                     "B's mapping from a page offset inside the file")


@dataclass(frozen=True)
class FramesSeen:
    a_frames: tuple[int | None, ...]  # A's frame for each page of its mapping, read by A after touching
    b_frames: tuple[int | None, ...]  # B's frame for each page of its mapping, read by B after touching
    a_frames_again: tuple[int | None, ...]  # A's frames read again after B's (no page moved in between)


def frames_in_two_processes(workspace: Workspace, case: TwoMappers) -> FramesSeen:
    """A and B each open and map the file MAP_SHARED, fault every page in, and read their own /proc/self/pagemap."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path, Child() as a, Child() as b:
        a_addr = _map(a, str(path), case.file_size, case.a_prot, mode=case.a_mode)
        b_length = case.file_size - case.b_offset
        b_addr = _map(b, str(path), b_length, case.b_prot, case.b_offset, case.b_mode)
        size = case.page_size
        a_frames = a.call(touch_and_frames, a_addr, case.file_size, case.a_touch, size).value_or_raise("set-up pagemap")
        b_frames = b.call(touch_and_frames, b_addr, b_length, case.b_touch, size).value_or_raise("set-up pagemap")
        a_again = a.call(frames_of, a_addr, case.file_size, size).value_or_raise("set-up pagemap")
    return FramesSeen(tuple(a_frames), tuple(b_frames), tuple(a_again))


def judge_same_frames(case: TwoMappers, seen: FramesSeen) -> Finding:
    """SHARED-5: each file page has one frame number, present and the same in A (twice) and B."""
    first = case.b_offset // case.page_size
    for i, b_frame in enumerate(seen.b_frames):
        page = first + i
        a_frame, a_again = seen.a_frames[page], seen.a_frames_again[page]
        if not a_frame or not b_frame:
            return refuted(f"file page {page} is not present, or its frame reads as 0, after being touched (A {a_frame}, B {b_frame})")
        if a_frame != a_again:
            return refuted(f"A's frame for file page {page} changed between readings ({a_frame:#x} then {a_again:#x})")
        if a_frame != b_frame:
            return refuted(f"file page {page} is frame {a_frame:#x} in A but {b_frame:#x} in B")
    if len(seen.b_frames) != case.page_count(case.file_size - case.b_offset):
        return refuted("B's pagemap reading does not cover its mapping")
    return holds()


# --- SHARED-6 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreFrames(_StoresInFile):
    file_size: int  # > 0; A maps the whole file RW, B maps it PROT_READ
    b_maps: str  # "before" or "after" A's stores
    stores: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class StoreFramesSeen:
    a_before: tuple[int | None, ...]  # A's frames after loading every page, before the first store
    a_after: tuple[int | None, ...]  # A's frames after the stores
    b_frames: tuple[int | None, ...]  # B's frames (after loading every page), after A's stores


def frames_around_store(workspace: Workspace, case: StoreFrames) -> StoreFramesSeen:
    """A loads its MAP_SHARED pages, reads its frames, stores, reads them again; B (mapped itself) reads its own."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path, Child() as a, Child() as b:
        a_addr = _map(a, str(path), case.file_size, RW)
        b_addr = _map(b, str(path), case.file_size, ("PROT_READ",)) if case.b_maps == "before" else None
        size = case.page_size
        if b_addr is not None:
            b.call(touch_pages, b_addr, case.file_size, "read", size).value_or_raise("set-up touch")
        a_before = a.call(touch_and_frames, a_addr, case.file_size, "read", size).value_or_raise("set-up pagemap")
        a_after = a.call(store_and_frames, a_addr, case.file_size, case.stores, size).value_or_raise("set-up stores")
        if b_addr is None:
            b_addr = _map(b, str(path), case.file_size, ("PROT_READ",))
        b_frames = b.call(touch_and_frames, b_addr, case.file_size, "read", size).value_or_raise("set-up pagemap")
    return StoreFramesSeen(tuple(a_before), tuple(a_after), tuple(b_frames))


def stored_pages(stores, page_size: int) -> list[int]:
    return sorted({page for at, data in stores for page in range(at // page_size, (at + len(data) - 1) // page_size + 1)})


def judge_store_keeps_frame(case: StoreFrames, seen: StoreFramesSeen) -> Finding:
    """SHARED-6: every stored page keeps its frame across the store, and B maps that same frame."""
    for page in stored_pages(case.stores, case.page_size):
        before, after, other = seen.a_before[page], seen.a_after[page], seen.b_frames[page]
        if not before or not after or not other:
            return refuted(f"page {page} not present, or its frame reads as 0 (before {before}, after {after}, B {other})")
        if before != after:
            return refuted(f"the store moved page {page} to another frame ({before:#x} -> {after:#x}): it was copied")
        if after != other:
            return refuted(f"page {page} is frame {after:#x} in A but {other:#x} in B")
    return holds()


# --- SHARED-7 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManyWriters(PagedCase):
    file_size: int  # > 0
    leaves: tuple[str, ...]  # per writer: "munmap" (then exits) or "exit" (exits with the mapping in place)
    concurrent: bool  # all writers map before the first store, or each maps, stores and leaves in turn
    stores: tuple[tuple[int, int, bytes], ...]  # (writer, file offset, bytes) in order (by writer when not concurrent)

    def check(self) -> None:
        super().check()
        self.require(all(0 <= writer < len(self.leaves) and self.inside(at, len(data), self.file_size)
                          for writer, at, data in self.stores), "every store by a writer, inside the file")


@dataclass(frozen=True)
class AfterWritersSeen:
    stores: tuple[Outcome, ...]  # how each store ended
    leaving: tuple[steps.WriterLeft | None, ...]  # per writer (None: it never left)
    content: Outcome  # a new process's read() of the whole file


def writers_store_and_exit(workspace: Workspace, case: ManyWriters) -> AfterWritersSeen:
    """Writers map MAP_SHARED, store (no msync), unmap or not, and exit; then a new process read()s the file.

    Concurrent writers all map before the first store, then leave in turn; sequential writers each map, store
    and leave before the next one starts.
    """
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path:
        stored, leaving = [], []
        if case.concurrent:
            writers: list[Child] = []
            try:
                for _ in case.leaves:
                    writers.append(Child())
                addrs = [_map(child, str(path), case.file_size, RW) for child in writers]
                for w, at, data in case.stores:
                    stored.append(writers[w].call(steps.write, addrs[w] + at, data))
                leaving = [steps.leave(writer, addr, case.file_size, how)
                           for writer, addr, how in zip(writers, addrs, case.leaves)]
            finally:
                for child in writers:
                    child.close()
        else:
            for w, how in enumerate(case.leaves):
                with Child() as writer:
                    addr = _map(writer, str(path), case.file_size, RW)
                    for _, at, data in (s for s in case.stores if s[0] == w):
                        stored.append(writer.call(steps.write, addr + at, data))
                    leaving.append(steps.leave(writer, addr, case.file_size, how))
        content = probe(steps.read_file, str(path))
    return AfterWritersSeen(tuple(stored), tuple(leaving), content)


def judge_stores_in_file_after_exit(case: ManyWriters, seen: AfterWritersSeen) -> Finding:
    """SHARED-7: every writer stored, unmapped if asked and exited with status 0; the file holds every store."""
    for step, (store, outcome) in enumerate(zip(case.stores, seen.stores)):
        if not outcome.ok:
            return refuted(f"store #{step + 1} by writer {store[0]} did not complete: {outcome.describe()}")
    if len(seen.stores) != len(case.stores) or len(seen.leaving) != len(case.leaves):
        return refuted("not every store was made, or not every writer left")
    for w, left in enumerate(seen.leaving):
        if left is None:
            return refuted(f"writer {w} never left")
        if case.leaves[w] == "munmap" and left.munmap != returned(None):
            return refuted(f"writer {w}'s munmap failed: {left.munmap.describe() if left.munmap else 'not called'}")
        if left.ended != exited(0):
            return refuted(f"writer {w} did not exit normally: {left.ended.describe()}")
    if not seen.content.ok:
        return refuted(f"the new process could not read the file: {seen.content.describe()}")
    expected = _apply(pattern(FILL, case.file_size), [(at, data) for _, at, data in case.stores])
    if seen.content.value != expected:
        return refuted(f"the file does not hold every store after the writers exited "
                       f"({_first_difference(seen.content.value, expected)})")
    return holds()


# --- SHARED-8 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExitWithMapping(_StoresInFile):
    file_size: int  # > 0
    stores: tuple[tuple[int, bytes], ...]
    how: str  # "_exit" (os._exit(code) while mapped), "end" (the child's loop ends: _exit(0)), "SIGKILL"
    code: int  # exit status for "_exit"


@dataclass(frozen=True)
class ExitSeen:
    mapped_at_exit: Outcome  # the writer's own /proc/self/maps line for the mapping, just before it ends
    ended: Outcome | None  # how the writer ended (None: it is still running)
    content: Outcome  # a new process's read() of the whole file


def exit_with_mapping(workspace: Workspace, case: ExitWithMapping) -> ExitSeen:
    """A child maps MAP_SHARED, stores, and ends without munmap() or msync(); a new process read()s the file."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path:
        with Child() as writer:
            addr = _map(writer, str(path), case.file_size, RW)
            for at, data in case.stores:
                writer.call(steps.write, addr + at, data).value_or_raise("set-up store")
            mapped = writer.call(steps.maps_entry, addr)
            if case.how == "_exit":
                writer.call(exit_now, case.code)
            elif case.how == "SIGKILL":
                writer.call(kill_self)
            else:
                writer.close()
            ended = writer.ended
        content = probe(steps.read_file, str(path))
    return ExitSeen(mapped, ended, content)


def _expected_end(case: ExitWithMapping) -> Outcome:
    if case.how == "SIGKILL":
        return signalled(signal.SIGKILL)
    return exited(case.code if case.how == "_exit" else 0)


def judge_stores_remain_after_exit(case: ExitWithMapping, seen: ExitSeen) -> Finding:
    """SHARED-8: the writer held the shared mapping when it ended, and the file holds its stores."""
    entry = seen.mapped_at_exit.value if seen.mapped_at_exit.ok else None
    if not entry or "s" not in entry["perms"]:
        return refuted(f"the writer had no shared mapping in place when it ended: {seen.mapped_at_exit.describe()}")
    if seen.ended != _expected_end(case):
        ended = seen.ended.describe() if seen.ended else "it is still running"
        return refuted(f"the writer did not end by {case.how}: {ended}")
    if not seen.content.ok:
        return refuted(f"the new process could not read the file: {seen.content.describe()}")
    expected = _apply(pattern(FILL, case.file_size), case.stores)
    if seen.content.value != expected:
        return refuted(f"the stores are not in the file after the writer ended by {case.how} "
                       f"({_first_difference(seen.content.value, expected)})")
    return holds()


# --- SHARED-9 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverlappingStores(PagedCase):
    file_size: int  # > page_size
    second_offset: int  # page multiple > 0, < file_size: the second mapping covers [second_offset, file_size)
    second_process: str  # "same" (both mappings in one process) or "other" (a process that mapped it itself)
    stores: tuple[tuple[str, int, bytes], ...]  # (via "first"/"second", file offset in the overlap, bytes)

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.second_offset) and 0 < self.second_offset < self.file_size,
                     "the second mapping from a page offset inside the file, past its first page")
        self.require(all(self.second_offset <= at and self.inside(at, len(data), self.file_size)
                         for _, at, data in self.stores), "every store inside the overlap")


@dataclass(frozen=True)
class OverlapSeen:
    stores: tuple[Outcome, ...]  # how each store ended
    reads: tuple[Outcome, ...]  # the load through the other mapping at the matching offset, after each store


def store_through_overlapping(workspace: Workspace, case: OverlappingStores) -> OverlapSeen:
    """Map [0, size) and [offset, size) MAP_SHARED; after each store through one, load the range through the other."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path, Child() as x, Child() as y:
        holders = {"first": x, "second": x if case.second_process == "same" else y}
        bases = {
            "first": _map(holders["first"], str(path), case.file_size, RW),
            "second": _map(holders["second"], str(path), case.file_size - case.second_offset, RW, case.second_offset)
            - case.second_offset,  # address of file offset 0 as seen through the second mapping
        }
        stored, reads = [], []
        for via, at, data in case.stores:
            other = "second" if via == "first" else "first"
            stored.append(holders[via].call(steps.write, bases[via] + at, data))
            reads.append(holders[other].call(steps.read, bases[other] + at, len(data)))
    return OverlapSeen(tuple(stored), tuple(reads))


def judge_overlap_sees_stores(case: OverlappingStores, seen: OverlapSeen) -> Finding:
    """SHARED-9: a store through either mapping is read through the other at the same file offset."""
    if len(seen.reads) != len(case.stores):
        return refuted("fewer loads than stores")
    for step, ((via, at, data), stored, read) in enumerate(zip(case.stores, seen.stores, seen.reads)):
        if not stored.ok:
            return refuted(f"store #{step + 1} through the {via} mapping did not complete: {stored.describe()}")
        if not read.ok or read.value != data:
            shown = read.value.hex() if read.ok else read.describe()
            return refuted(f"store #{step + 1} through the {via} mapping at file offset {at} reads back as {shown} through the other")
    return holds()
