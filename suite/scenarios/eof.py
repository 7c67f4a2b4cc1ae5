"""EOF: the bytes between end of file and the end of its last page."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from fixtures import libc
from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.probe import probe
from suite.scenarios import steps
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, refuted


class _EofPageMapped(PagedCase):
    """A case (with file_size, offset and length) mapping its file from ``offset`` for ``length`` bytes: from a page
    at or below EOF to EOF or past it, inside the EOF page."""

    def check(self) -> None:
        super().check()
        self.require(not self.aligned(self.file_size), "a file whose EOF page has a tail")
        self.require(self.aligned(self.offset) and 0 <= self.offset < self.file_size,
                     "a page-multiple offset at or below the EOF page")
        self.require(self.file_size - self.offset <= self.length <= self.round_up(self.file_size) - self.offset,
                     "a mapping that reaches EOF and ends inside the EOF page")


@dataclass(frozen=True)
class TailRead(_EofPageMapped):
    file_size: int  # not a page multiple: the EOF page has a tail
    fill_seed: int
    flags: str
    offset: int  # page multiple at or below the EOF page
    length: int  # reaches at least the last byte of the file


@dataclass(frozen=True)
class TailSeen:
    outcome: Outcome  # how the child's read of the tail ended (with the bytes it read)


def read_tail(workspace: Workspace, case: TailRead) -> TailSeen:
    """Map the file and, in a child, read every byte from EOF to the end of its page."""
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDONLY", case.length, ("PROT_READ",), case.flags, case.offset) as mapping:
            outcome = probe(steps.read, mapping.addr + case.file_size - case.offset,
                            case.round_up(case.file_size) - case.file_size)
    return TailSeen(outcome)


def judge_tail_reads_zero(case: TailRead, seen: TailSeen) -> Finding:
    """EOF-1: the tail reads as zeros, without a signal."""
    outcome = seen.outcome
    if not outcome.ok:
        return refuted(f"reading past EOF inside the last page: child {outcome.describe()}")
    tail = outcome.value
    nonzero = [i for i, b in enumerate(tail) if b]
    if nonzero:
        return refuted(f"{len(nonzero)} non-zero byte(s) past EOF, first at EOF+{nonzero[0]}")
    return holds()


@dataclass(frozen=True)
class TailWrite(_EofPageMapped):
    file_size: int
    fill_seed: int
    offset: int
    length: int
    write_at: int  # file offset in [file_size, end of EOF page)
    data: bytes
    msync: bool  # msync(MS_SYNC) before munmap

    def check(self) -> None:
        super().check()
        self.require(self.write_at >= self.file_size and
                     self.inside(self.write_at, len(self.data), self.round_up(self.file_size)),
                     "the store past EOF, inside the EOF page")


@dataclass(frozen=True)
class FileAfterTailWrite:
    write: Outcome  # how the child's store past EOF ended
    size: int  # st_size after munmap
    content: bytes  # read() of the whole file after munmap


def write_tail(workspace: Workspace, case: TailWrite) -> FileAfterTailWrite:
    """Store bytes past EOF through a MAP_SHARED mapping (in a child), unmap, then stat and read the file."""
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.length, ("PROT_READ", "PROT_WRITE"), "MAP_SHARED", case.offset) as mapping:
            write = probe(steps.write, mapping.addr + case.write_at - case.offset, case.data)
            if case.msync:
                libc.checked("msync", libc.msync(mapping.addr, case.length, libc.MS_SYNC))
        size = os.stat(path).st_size
        content = path.read_bytes()
    return FileAfterTailWrite(write, size, content)


def judge_tail_write_not_written_back(case: TailWrite, after: FileAfterTailWrite) -> Finding:
    """EOF-2: the file keeps its size and its bytes up to EOF."""
    if not after.write.ok:
        return refuted(f"the store past EOF inside the last page did not complete: child {after.write.describe()}")
    if after.size != case.file_size:
        return refuted(f"st_size changed from {case.file_size} to {after.size}")
    if after.content != pattern(case.fill_seed, case.file_size):
        return refuted("the file's bytes up to EOF changed")
    return holds()


# EOF-3 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtendAfterTailWrite(_EofPageMapped):
    file_size: int  # not a page multiple
    fill_seed: int
    offset: int  # page multiple at or below the EOF page
    length: int  # reaches past EOF (the EOF page is mapped)
    write_at: int  # file offset in [file_size, end of EOF page)
    data: bytes  # non-zero somewhere
    msync: bool  # msync(MS_SYNC) of the mapping after the store, before the extension
    new_size: int  # > file_size: the ftruncate() target
    then: str  # "keep": read through the same mapping; "remap": munmap before ftruncate(), map again after

    @property
    def old_tail_end(self) -> int:
        """Where the old tail read back ends: the new EOF, or the end of the old EOF page."""
        return min(self.new_size, self.round_up(self.file_size))

    def check(self) -> None:
        super().check()
        self.require(self.write_at >= self.file_size and any(self.data) and
                     self.inside(self.write_at, len(self.data), self.round_up(self.file_size)),
                     "a non-zero store past EOF, inside the EOF page")
        self.require(self.new_size > self.file_size, "an extension")


@dataclass(frozen=True)
class OldTailAfterExtension:
    store: Outcome  # how the child's store past EOF ended
    size: int  # st_size after ftruncate()
    read: bytes  # pread() of [file_size, min(new_size, end of EOF page))
    mapped: Outcome  # how a child's read of the same range through a mapping ended


def extend_after_tail_write(workspace: Workspace, case: ExtendAfterTailWrite) -> OldTailAfterExtension:
    """Store past EOF through MAP_SHARED (in a child), ftruncate() up, then read the old tail by read() and the mapping."""
    end = case.old_tail_end
    prot = ("PROT_READ", "PROT_WRITE")
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path, \
            workspace.opened(path, "O_RDWR") as fd:
        mapping = steps.mapped(str(path), "O_RDWR", case.length, prot, "MAP_SHARED", case.offset)
        try:
            store = probe(steps.write, mapping.addr + case.write_at - case.offset, case.data)
            if case.msync:
                libc.checked("msync", libc.msync(mapping.addr, case.length, libc.MS_SYNC))
            if case.then == "remap":
                mapping.unmap()
            os.ftruncate(fd, case.new_size)
            if case.then == "remap":
                mapping = steps.mapped(str(path), "O_RDWR", case.length, prot, "MAP_SHARED", case.offset)
            size = os.fstat(fd).st_size
            read = os.pread(fd, end - case.file_size, case.file_size)
            mapped = probe(steps.read, mapping.addr + case.file_size - case.offset, end - case.file_size)
        finally:
            mapping.unmap()
    return OldTailAfterExtension(store, size, read, mapped)


def judge_old_tail_zero_after_extension(case: ExtendAfterTailWrite, seen: OldTailAfterExtension) -> Finding:
    """EOF-3: the bytes that were past the old EOF read as zero through read() and through the mapping."""
    expected = case.old_tail_end - case.file_size
    if not seen.store.ok:
        return refuted(f"the store past EOF inside the last page did not complete: child {seen.store.describe()}")
    if seen.size != case.new_size:
        return refuted(f"st_size is {seen.size} after ftruncate({case.new_size})")
    if len(seen.read) != expected:
        return refuted(f"read() of the old tail returned {len(seen.read)} bytes, not {expected}")
    if any(seen.read):
        first = next(i for i, b in enumerate(seen.read) if b)
        return refuted(f"read() after the extension returns the bytes stored past the old EOF "
                       f"({sum(1 for b in seen.read if b)} non-zero, first at old EOF+{first})")
    if not seen.mapped.ok:
        return refuted(f"reading the old tail through the mapping after the extension: child {seen.mapped.describe()}")
    through_map = seen.mapped.value
    if any(through_map):
        first = next(i for i, b in enumerate(through_map) if b)
        return refuted(f"the mapping ({case.then}) still shows the bytes stored past the old EOF "
                       f"({sum(1 for b in through_map if b)} non-zero, first at old EOF+{first})")
    return holds()


# EOF-4 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappedStores(PagedCase):
    file_size: int  # > 0
    offset: int  # page multiple inside the file
    length: int  # covers more pages than the file holds
    stores: tuple[tuple[int, bytes], ...]  # (offset inside the mapping, bytes): in the file, past EOF, beyond EOF
    msync: bool  # msync(MS_SYNC) of the whole mapping after the stores

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and 0 <= self.offset < self.file_size,
                     "a page-multiple offset inside the file")
        self.require(self.round_up(self.length) > self.round_up(self.file_size) - self.offset,
                     "a mapping with pages wholly beyond EOF")
        self.require(all(self.inside(at, len(data), self.round_up(self.length)) for at, data in self.stores),
                     "every store inside the mapping")


@dataclass(frozen=True)
class SizesAfterStores:
    stores: tuple[Outcome, ...]  # how each store ended (each in a child; a signal ends only that store)
    sizes: tuple[int, ...]  # st_size after each store
    size_after_msync: int  # after msync() (or not), before munmap()
    size_after_munmap: int


def store_at(addr: int, item: tuple[int, bytes]) -> None:
    steps.write(addr + item[0], item[1])


def stores_keep_size(workspace: Workspace, case: MappedStores) -> SizesAfterStores:
    """Store through a MAP_SHARED mapping longer than the file, one store per child; fstat() after each."""
    with workspace.file(case.file_size, pattern(7, case.file_size)) as path, workspace.opened(path, "O_RDONLY") as fd:
        with steps.mapped(str(path), "O_RDWR", case.length, ("PROT_READ", "PROT_WRITE"), "MAP_SHARED", case.offset) as mapping:
            outcomes, sizes = [], []
            for item in case.stores:
                outcomes.append(probe(store_at, mapping.addr, item))
                sizes.append(os.fstat(fd).st_size)
            if case.msync:
                libc.checked("msync", libc.msync(mapping.addr, case.length, libc.MS_SYNC))
            after_msync = os.fstat(fd).st_size
        after_munmap = os.fstat(fd).st_size
    return SizesAfterStores(tuple(outcomes), tuple(sizes), after_msync, after_munmap)


def judge_size_unchanged_by_stores(case: MappedStores, seen: SizesAfterStores) -> Finding:
    """EOF-4: st_size is the file's size after every store, after msync() and after munmap()."""
    for step, ((at, _), size) in enumerate(zip(case.stores, seen.sizes)):
        if size != case.file_size:
            return refuted(f"st_size became {size} (was {case.file_size}) after store #{step + 1} "
                           f"at file offset {case.offset + at}")
    if len(seen.sizes) != len(case.stores):
        return refuted(f"{len(seen.sizes)} sizes recorded for {len(case.stores)} stores")
    if seen.size_after_msync != case.file_size:
        return refuted(f"st_size became {seen.size_after_msync} after msync()" if case.msync
                       else f"st_size became {seen.size_after_msync} after the stores")
    if seen.size_after_munmap != case.file_size:
        return refuted(f"st_size became {seen.size_after_munmap} after munmap()")
    return holds()


# EOF-5 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extension(PagedCase):
    file_size: int  # >= 0
    fill_seed: int
    sizes: tuple[int, ...]  # strictly increasing ftruncate() targets, all > file_size
    mapped: str  # "before": MAP_SHARED over the final size before the extensions (EOF page read first); "after"

    def check(self) -> None:  # every access is inside the file at its final size, whatever the page size
        super().check()
        self.require(bool(self.sizes) and all(a < b for a, b in zip((self.file_size, *self.sizes), self.sizes)),
                     "strictly increasing sizes past the file's")


@dataclass(frozen=True)
class ExtendedSeen:
    size: int  # st_size at the end
    read: bytes  # pread() of the whole file
    mapped: Outcome  # how a child's read of the whole file through the mapping ended


def extend(workspace: Workspace, case: Extension) -> ExtendedSeen:
    """ftruncate() a file up one or more times; read the whole file by read() and through a MAP_SHARED mapping."""
    final = case.sizes[-1]
    prot = ("PROT_READ", "PROT_WRITE")
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path, \
            workspace.opened(path, "O_RDWR") as fd:
        mapping = None
        try:
            if case.mapped == "before":
                mapping = steps.mapped(str(path), "O_RDWR", final, prot, "MAP_SHARED")
                if case.file_size:  # fault the EOF page in before the extension
                    bytes(mapping.view[case.file_size - 1:case.file_size])
            for size in case.sizes:
                os.ftruncate(fd, size)
            if mapping is None:
                mapping = steps.mapped(str(path), "O_RDWR", final, prot, "MAP_SHARED")
            size = os.fstat(fd).st_size
            read = os.pread(fd, final + 1, 0)
            mapped = probe(steps.read, mapping.addr, final)
        finally:
            if mapping is not None:
                mapping.unmap()
    return ExtendedSeen(size, read, mapped)


def judge_extension_reads_zero(case: Extension, seen: ExtendedSeen) -> Finding:
    """EOF-5: the file keeps its bytes and the whole extension reads as zero, by read() and through the mapping."""
    final = case.sizes[-1]
    expected = pattern(case.fill_seed, case.file_size) + bytes(final - case.file_size)
    if seen.size != final:
        return refuted(f"st_size is {seen.size} after ftruncate({final})")
    for how, data in (("read()", seen.read), ("the mapping", None)):
        if data is None:
            if not seen.mapped.ok:
                return refuted(f"reading the extended file through the mapping ({case.mapped}): child {seen.mapped.describe()}")
            data = seen.mapped.value
        if len(data) != final:
            return refuted(f"{how} returned {len(data)} bytes of a {final}-byte file")
        if data[:case.file_size] != expected[:case.file_size]:
            return refuted(f"{how}: the bytes before the old EOF changed")
        tail = data[case.file_size:]
        if any(tail):
            first = next(i for i, b in enumerate(tail) if b)
            return refuted(f"{how}: {sum(1 for b in tail if b)} non-zero byte(s) in the extension, first at old EOF+{first}")
    return holds()


# EOF-6 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmptyFileMap(PagedCase):
    length: int  # > 0
    accesses: tuple[tuple[int, str], ...]  # (offset inside the mapping, "read" or "write")
    extend_to: int  # > 0: ftruncate() target afterwards; the last access is repeated below it

    def check(self) -> None:
        super().check()
        self.require(all(self.inside(at, 1, self.round_up(self.length)) for at, _ in self.accesses),
                     "every access inside the mapping")
        self.require(0 < self.extend_to, "an extension")


@dataclass(frozen=True)
class EmptyFileSeen:
    mmap_errno: str | None  # None: mmap() succeeded
    accesses: tuple[Outcome, ...]  # how each access ended, each in its own child
    after_extension: Outcome | None  # how a store + load at offset 0 ended after ftruncate(extend_to) (None: not run)


def access_once(addr: int, kind: str) -> bytes | None:
    if kind == "read":
        return steps.read(addr, 1)
    steps.write(addr, b"\x5a")
    return None


def store_and_load(addr: int) -> bytes:
    steps.write(addr, b"\x5a")
    return steps.read(addr, 1)


def map_empty_file(workspace: Workspace, case: EmptyFileMap) -> EmptyFileSeen:
    """mmap() a fresh empty file MAP_SHARED read/write, access it (each access in a child), then ftruncate() it up."""
    with workspace.file(0) as path, workspace.opened(path, "O_RDWR") as fd:
        result = libc.mmap(None, case.length, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, fd, 0)
        if not result.ok:
            return EmptyFileSeen(result.errno_name, (), None)
        with libc.Mapping(result.value, case.length) as mapping:
            outcomes = tuple(probe(access_once, mapping.addr + at, kind) for at, kind in case.accesses)
            os.ftruncate(fd, case.extend_to)
            after = probe(store_and_load, mapping.addr)
    return EmptyFileSeen(None, outcomes, after)


def judge_empty_file_accesses_sigbus(case: EmptyFileMap, seen: EmptyFileSeen) -> Finding:
    """EOF-6: mmap() succeeds, every access gives SIGBUS, and after ftruncate() the mapping works."""
    if seen.mmap_errno is not None:
        return refuted(f"mmap() of the empty file failed with {seen.mmap_errno}")
    for (at, kind), outcome in zip(case.accesses, seen.accesses):
        if not outcome.killed_by(signal.SIGBUS):
            return refuted(f"{kind} at offset {at} of the mapped empty file: child {outcome.describe()}, not SIGBUS")
    if len(seen.accesses) != len(case.accesses):
        return refuted(f"{len(seen.accesses)} outcomes for {len(case.accesses)} accesses")
    after = seen.after_extension
    if after is None or not after.ok or after.value != b"\x5a":
        return refuted(f"after ftruncate({case.extend_to}) a store and load at offset 0: "
                       f"{'not run' if after is None else after.describe()}")
    return holds()


# EOF-7 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LseekWrite(PagedCase):
    file_size: int  # before: pattern bytes
    position: int  # > file_size: lseek() target
    byte: bytes  # the one byte written there
    prot: tuple[str, ...]

    def check(self) -> None:  # the mapping covers the grown file, whatever the page size
        super().check()
        self.require(self.position > self.file_size and len(self.byte) == 1, "one byte written past EOF")


@dataclass(frozen=True)
class HoleSeen:
    write: int | None  # bytes write() reported
    size: int  # st_size afterwards
    mmap_errno: str | None
    mapped: Outcome | None  # how a child's read of the whole new size through the mapping ended (None: not run)


def lseek_write_map(workspace: Workspace, case: LseekWrite) -> HoleSeen:
    """Grow a file by lseek() past its end and a one-byte write(); map MAP_SHARED over the new size and read it."""
    new_size = case.position + 1
    with workspace.file(case.file_size, pattern(9, case.file_size)) as path:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.lseek(fd, case.position, os.SEEK_SET)
            written = os.write(fd, case.byte)
            size = os.fstat(fd).st_size
            result = libc.mmap(None, new_size, steps.bits(case.prot, steps.PROT_BITS), libc.MAP_SHARED, fd, 0)
        finally:
            os.close(fd)
        if not result.ok:
            return HoleSeen(written, size, result.errno_name, None)
        with libc.Mapping(result.value, new_size) as mapping:
            mapped = probe(steps.read, mapping.addr, new_size)
    return HoleSeen(written, size, None, mapped)


def judge_hole_reads_zero(case: LseekWrite, seen: HoleSeen) -> Finding:
    """EOF-7: the mapping over the new size shows the old bytes, a zero hole and the written byte."""
    new_size = case.position + 1
    if seen.write != 1 or seen.size != new_size:
        return refuted(f"write() after lseek({case.position}) wrote {seen.write} byte(s), st_size {seen.size}")
    if seen.mmap_errno is not None:
        return refuted(f"mmap() of the grown file failed with {seen.mmap_errno}")
    if seen.mapped is None or not seen.mapped.ok:
        return refuted(f"reading the grown file through the mapping: "
                       f"{'not run' if seen.mapped is None else 'child ' + seen.mapped.describe()}")
    data = seen.mapped.value
    if len(data) != new_size:
        return refuted(f"the mapping read {len(data)} bytes, not {new_size}")
    if data[:case.file_size] != pattern(9, case.file_size):
        return refuted("the mapping shows other bytes than the file's before the hole")
    hole = data[case.file_size:case.position]
    if any(hole):
        first = next(i for i, b in enumerate(hole) if b)
        return refuted(f"{sum(1 for b in hole if b)} non-zero byte(s) in the hole, first at offset {case.file_size + first}")
    if data[case.position:] != case.byte:
        return refuted(f"the mapping shows {data[case.position:].hex()} at offset {case.position}, not the byte written")
    return holds()
