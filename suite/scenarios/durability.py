"""DURABILITY: what reaches the block device — after msync(MS_SYNC), after fsync(), without any sync, after unmount.

The crash copies (a loop device's image file copied at a chosen moment, mounted read-only and read back) are
made by fixtures/crash.py, which describes the crash model.

Periodic write-back is held off (vm.dirty_* through the run's sysctl lock: sysctl.WRITEBACK_HELD_OFF) so the
stores stay dirty until the scenario's own call. Whatever else writes them back early (a flush woken by the
previous holder of the lock restoring the values, reclaim) shows in cachestat(2): such an attempt is made again
with a new file (bounded; the number of attempts is in the observation).
"""

from __future__ import annotations

import contextlib
import errno as errno_module
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from fixtures import crash, libc, mounts, sysctl
from fixtures.files import Workspace, pattern
from fixtures.outcome import Outcome, SetUpFailed, exited, returned
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, observed, refuted

OLD_SEED = 53  # the file's durable (old) contents: pattern(OLD_SEED, size); a store's bytes come from another seed
RW = ("PROT_READ", "PROT_WRITE")
ATTEMPTS = 5  # attempts per example when a stored page was written back by the flusher before its time


# --- contents -----------------------------------------------------------------------------------------------


def old_contents(size: int) -> bytes:
    return pattern(OLD_SEED, size)


def new_contents(size: int, seed: int, stores: tuple[tuple[int, int], ...]) -> bytes:
    """The file after the stores: each store (offset, length) puts pattern(seed)'s bytes there."""
    content, new = bytearray(old_contents(size)), pattern(seed, size)
    for at, length in stores:
        content[at:at + length] = new[at:at + length]
    return bytes(content)


def stored_pages(stores, page_size: int) -> tuple[int, ...]:
    """The pages of ``page_size`` bytes the stores (offset, length) touch."""
    return tuple(sorted({page for at, length in stores
                         for page in range(at // page_size, (at + length - 1) // page_size + 1)}))


# --- kernel steps ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _durable_file(workspace: Workspace, size: int, mount_point: str) -> Iterator[Path]:
    """A scratch file holding the old contents, on the device (fsync()ed with its directories) and clean."""
    with workspace.file(size, old_contents(size)) as path:
        crash.make_durable(path, mount_point)
        yield path


def _page_states(fd: int, pages: tuple[int, ...], page_size: int) -> tuple[tuple[int, int, int], ...]:
    """(page, nr_dirty, nr_writeback) from cachestat(2) for each page."""
    states = []
    for page in pages:
        stat = libc.cachestat(fd, page * page_size, page_size)
        if isinstance(stat, libc.CallResult):
            raise libc.SysError("cachestat", stat.errno)
        states.append((page, stat["nr_dirty"], stat["nr_writeback"]))
    return tuple(states)


def _unwritten(states) -> bool:
    """Every page still dirty and none under write-back: nothing of them has been written back."""
    return all(dirty and not writeback for _, dirty, writeback in states)


def _store(view: memoryview, size: int, seed: int, stores) -> None:
    new = pattern(seed, size)
    for at, length in stores:
        view[at:at + length] = new[at:at + length]


def map_and_store(path: str, size: int, seed: int, stores) -> int:
    """In a child: open and map the file MAP_SHARED itself, store; the address (the mapping stays)."""
    addr = steps.map_file(path, "O_RDWR", size, RW, "MAP_SHARED")
    new = pattern(seed, size)
    for at, length in stores:
        libc.write_bytes(addr + at, new[at:at + length])
    return addr


def _too_early(attempts: int) -> RuntimeError:
    held_off = sysctl.WRITEBACK_HELD_OFF
    now = {name: sysctl.read(name) for name in held_off}
    why = ("" if now == held_off else
           f"; vm.dirty_* are {now}, not {held_off}: something outside this run's sysctl lock changed them (another run?)")
    return RuntimeError(f"set-up: in each of {attempts} attempts a stored page was written back before the scenario's "
                        f"own step: nothing to observe{why}")


# --- SYNC-1/device, SYNC-1/fsync, SYNC-9/no-sync-crash -------------------------------------------------------------


class _StoresInFile(PagedCase):
    """A case (with file_size and stores) whose stores all lie inside the file."""

    def check(self) -> None:
        super().check()
        self.require(all(self.inside(at, length, self.file_size) for *_, at, length in self.stores),
                     "every store inside the file")

    def stored_pages(self) -> tuple[int, ...]:
        return stored_pages([(at, length) for *_, at, length in self.stores], self.page_size)


@dataclass(frozen=True)
class MsyncCrash(_StoresInFile):
    file_size: int  # > 0; the mapping covers the whole file
    seed: int  # of the stored bytes (never OLD_SEED: every stored byte changes)
    stores: tuple[tuple[int, int], ...]  # (file offset, length)
    start_page: int  # msync's addr: this page of the mapping
    length: int  # msync's length (> 0); the range holds at least one stored page
    msync_flags: tuple[str, ...]  # MS_SYNC, optionally with MS_INVALIDATE

    def check(self) -> None:
        super().check()
        first = self.start_page * self.page_size
        self.require(self.inside(first, self.length, self.round_up(self.file_size)), "the msync() range inside the mapping")
        self.require(any(first <= page * self.page_size < first + self.length for page in self.stored_pages()),
                     "a stored page in the msync() range")


@dataclass(frozen=True)
class FsyncCrash(_StoresInFile):
    file_size: int
    seed: int
    stores: tuple[tuple[int, int], ...]
    call: str  # "fsync" or "fdatasync"
    descriptor: str  # "mapping" (the O_RDWR fd the mapping was made from), "new O_RDONLY" or "new O_RDWR" (opened for the call)
    unmap_first: bool  # munmap() before the call


@dataclass(frozen=True)
class NoSyncCrash(_StoresInFile):
    file_size: int
    seed: int
    stores: tuple[tuple[int, int], ...]
    leave: str  # "mapped" (mapping kept), "munmapped", or "exited" (a child mapped, stored and exited)


@dataclass(frozen=True)
class CrashSeen:
    call: str | None  # how the sync call ended: None (returned 0, or no call), else the errno name
    before: tuple[tuple[int, int, int], ...]  # (page, nr_dirty, nr_writeback) per stored page, just before the call (or copy)
    after: tuple[tuple[int, int, int], ...]  # the same just after the copy
    attempts: int  # attempts made (a stored page written back too early forces a new one)
    copies: int  # copies of the image made in the last attempt until one was consistent
    crash: bytes | None  # the file as read from the mounted crash copy (None: it could not be read)
    crash_error: str | None  # why not


def msync_then_crash(workspace: Workspace, state_dir: Path, scratch: Path, fs: dict, case: MsyncCrash) -> CrashSeen:
    """Store into a durable file through MAP_SHARED, msync(MS_SYNC) a range, copy the device, read the copy."""
    where, pages = crash.BlockTarget.of(fs), case.stored_pages()
    flags = steps.bits(case.msync_flags, steps.MSYNC_BITS)
    with sysctl.override(sysctl.WRITEBACK_HELD_OFF):
        for attempt in range(1, ATTEMPTS + 1):
            with _durable_file(workspace, case.file_size, where.mount_point) as path, \
                    steps.mapped(str(path), "O_RDWR", case.file_size, RW, "MAP_SHARED") as mapping, \
                    workspace.opened(path, "O_RDONLY") as fd:
                _store(mapping.view, case.file_size, case.seed, case.stores)
                before = _page_states(fd, pages, case.page_size)
                if not _unwritten(before):
                    continue
                result = libc.msync(mapping.addr + case.start_page * case.page_size, case.length, flags)
                copies = crash.copy_device(where, scratch / "crash")
                after = _page_states(fd, pages, case.page_size)
            contents, error = crash.read_crash_copy(where, scratch / "crash", path, state_dir)
            return CrashSeen(result.errno_name, before, after, attempt, copies, contents, error)
    raise _too_early(ATTEMPTS)


def _sync_call(fd: int, call: str) -> str | None:
    try:
        (os.fsync if call == "fsync" else os.fdatasync)(fd)
    except OSError as error:
        return errno_module.errorcode.get(error.errno, str(error.errno))
    return None


def fsync_then_crash(workspace: Workspace, state_dir: Path, scratch: Path, fs: dict, case: FsyncCrash) -> CrashSeen:
    """Store into a durable file through MAP_SHARED, fsync()/fdatasync() a descriptor, copy the device, read the copy."""
    where, pages = crash.BlockTarget.of(fs), case.stored_pages()
    with sysctl.override(sysctl.WRITEBACK_HELD_OFF):
        for attempt in range(1, ATTEMPTS + 1):
            with _durable_file(workspace, case.file_size, where.mount_point) as path, \
                    workspace.opened(path, "O_RDWR") as fd, \
                    libc.Mapping.map(case.file_size, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, fd) as mapping:
                _store(mapping.view, case.file_size, case.seed, case.stores)
                before = _page_states(fd, pages, case.page_size)
                if not _unwritten(before):
                    continue
                if case.unmap_first:
                    mapping.unmap()
                if case.descriptor == "mapping":
                    result = _sync_call(fd, case.call)
                else:
                    with workspace.opened(path, case.descriptor.split()[1]) as other:
                        result = _sync_call(other, case.call)
                copies = crash.copy_device(where, scratch / "crash")
                after = _page_states(fd, pages, case.page_size)
            contents, error = crash.read_crash_copy(where, scratch / "crash", path, state_dir)
            return CrashSeen(result, before, after, attempt, copies, contents, error)
    raise _too_early(ATTEMPTS)


def unsynced_then_crash(workspace: Workspace, state_dir: Path, scratch: Path, fs: dict, case: NoSyncCrash) -> CrashSeen:
    """Store into a durable file through MAP_SHARED and never sync; copy the device while every stored page is still
    dirty (checked before and after the copy) and read the copy."""
    where, pages = crash.BlockTarget.of(fs), case.stored_pages()
    with sysctl.override(sysctl.WRITEBACK_HELD_OFF):
        for attempt in range(1, ATTEMPTS + 1):
            with _durable_file(workspace, case.file_size, where.mount_point) as path, \
                    workspace.opened(path, "O_RDONLY") as fd:
                if case.leave == "exited":
                    with Child() as writer:
                        writer.call(map_and_store, str(path), case.file_size, case.seed, case.stores) \
                            .value_or_raise("set-up: the writer's mmap and stores")
                    if not writer.ended.ended_by_exit:
                        raise SetUpFailed("set-up: the writer's exit", writer.ended)
                    mapping = None
                else:
                    mapping = steps.mapped(str(path), "O_RDWR", case.file_size, RW, "MAP_SHARED")
                    _store(mapping.view, case.file_size, case.seed, case.stores)
                    if case.leave == "munmapped":
                        mapping.unmap()
                try:
                    before = _page_states(fd, pages, case.page_size)
                    if not _unwritten(before):
                        continue
                    copies = crash.copy_device(where, scratch / "crash")
                    after = _page_states(fd, pages, case.page_size)
                finally:
                    if mapping is not None:
                        mapping.unmap()
                if not _unwritten(after):
                    continue  # written back while the copy was made: not "before write-back"
            contents, error = crash.read_crash_copy(where, scratch / "crash", path, state_dir)
            return CrashSeen(None, before, after, attempt, copies, contents, error)
    raise _too_early(ATTEMPTS)


def _crash_unreadable(size: int, seen: CrashSeen) -> str | None:
    if seen.crash is None:
        return f"the file, fsync()ed with its directories before the stores, cannot be read from the crash copy: {seen.crash_error}"
    if len(seen.crash) != size:
        return f"the file in the crash copy has {len(seen.crash)} bytes, not {size}"
    return None


def _neither(survived: bytes, old: bytes, new: bytes, where: str = "the crash copy") -> str | None:
    for i, (got, was, will) in enumerate(zip(survived, old, new)):
        if got != was and got != will:
            return f"byte {i} of the file in {where} is {got:#04x}, neither its old {was:#04x} nor its new value {will:#04x}"
    return None


def _old_bytes(survived: bytes, old: bytes, new: bytes, first: int, end: int) -> tuple[int, int | None]:
    """How many bytes in [first, end) that the stores changed still hold the old value, and the first of them."""
    stale = [i for i in range(first, end) if old[i] != new[i] and survived[i] == old[i]]
    return len(stale), stale[0] if stale else None


def judge_msync_range_in_crash_image(case: MsyncCrash, seen: CrashSeen) -> Finding:
    """SYNC-1/device: msync(MS_SYNC) returned 0 and the crash copy holds the new bytes in every page it covered;
    every other byte is old or new."""
    if seen.call is not None:
        return refuted(f"msync({'|'.join(case.msync_flags)}) failed with {seen.call}")
    problem = _crash_unreadable(case.file_size, seen)
    if problem:
        return refuted(problem)
    old, new = old_contents(case.file_size), new_contents(case.file_size, case.seed, case.stores)
    first = case.start_page * case.page_size
    end = min(case.round_up(first + case.length), case.file_size)
    stale, at = _old_bytes(seen.crash, old, new, first, end)
    if stale:
        return refuted(f"after msync({'|'.join(case.msync_flags)}) returned, the crash copy holds the old value of {stale} "
                       f"stored byte(s) in the pages it covered (bytes {first}..{end - 1}), the first at offset {at}")
    wrong = _neither(seen.crash, old, new)
    if wrong:
        return refuted(wrong)
    return holds()


def judge_fsync_in_crash_image(case: FsyncCrash, seen: CrashSeen) -> Finding:
    """SYNC-1/fsync: fsync()/fdatasync() returned 0 and the crash copy holds every store."""
    if seen.call is not None:
        return refuted(f"{case.call}() failed with {seen.call}")
    problem = _crash_unreadable(case.file_size, seen)
    if problem:
        return refuted(problem)
    old, new = old_contents(case.file_size), new_contents(case.file_size, case.seed, case.stores)
    wrong = _neither(seen.crash, old, new)
    if wrong:
        return refuted(f"after {case.call}() returned: {wrong}")
    stale, at = _old_bytes(seen.crash, old, new, 0, case.file_size)
    if stale:
        return refuted(f"after {case.call}() returned, the crash copy holds the old value of {stale} stored byte(s), "
                       f"the first at offset {at}")
    return holds()


def judge_unsynced_crash_contents(case: NoSyncCrash, seen: CrashSeen) -> Finding:
    """SYNC-9/no-sync-crash: the crash copy holds the old contents of the stored bytes, the new ones, or a mix."""
    problem = _crash_unreadable(case.file_size, seen)
    if problem:
        return refuted(problem)
    old, new = old_contents(case.file_size), new_contents(case.file_size, case.seed, case.stores)
    wrong = _neither(seen.crash, old, new)
    if wrong:
        return refuted(wrong)
    changed = [i for i in range(case.file_size) if old[i] != new[i]]
    if not changed:
        return refuted("no stored byte differs from the old contents: the crash copy cannot tell them apart")
    arrived = sum(seen.crash[i] == new[i] for i in changed)
    if arrived == 0:
        return observed("old-contents")
    if arrived == len(changed):
        return observed("new-contents")
    return observed("mixed", f"{arrived} of {len(changed)} stored bytes new")


# --- SHARED-7/device ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnmountCase(_StoresInFile):
    file_size: int  # > 0
    seed: int  # of the stored bytes (never OLD_SEED)
    leaves: tuple[str, ...]  # per writer: "munmap" (then exits) or "exit" (exits with the mapping in place)
    concurrent: bool  # all writers map before the first store, or each maps, stores and leaves in turn
    stores: tuple[tuple[int, int, int], ...]  # (writer, file offset, length), in order (by writer when not concurrent)

    def check(self) -> None:
        super().check()
        self.require(all(0 <= writer < len(self.leaves) for writer, _, _ in self.stores), "every store by a writer")


@dataclass(frozen=True)
class UnmountSeen:
    stores: tuple[Outcome, ...]  # how each store ended
    leaving: tuple[steps.WriterLeft, ...]  # per writer
    in_file: Outcome  # a new process's read() of the whole file, the filesystem still mounted
    dirty_before_unmount: int | None  # nr_dirty of the file just before the unmount (None: no cachestat(2)); not judged
    on_device: bytes | None  # the file read from the image mounted again after the unmount
    device_error: str | None  # why it could not be read


def _writers_store(path: str, case: UnmountCase) -> tuple[list[Outcome], list[steps.WriterLeft]]:
    """The writers map, store (no msync), unmap or not, and exit."""
    new = pattern(case.seed, case.file_size)
    stored, leaving = [], []
    if case.concurrent:
        writers: list[Child] = []
        try:
            for _ in case.leaves:
                writers.append(Child())
            mapped = [w.call(steps.map_file, path, "O_RDWR", case.file_size, RW, "MAP_SHARED") for w in writers]
            addrs = [outcome.value_or_raise(f"set-up: writer {w}'s mmap") for w, outcome in enumerate(mapped)]
            for w, at, length in case.stores:
                stored.append(writers[w].call(steps.write, addrs[w] + at, new[at:at + length]))
            leaving = [steps.leave(writer, addr, case.file_size, how) for writer, addr, how in zip(writers, addrs, case.leaves)]
        finally:
            for child in writers:
                child.close()
    else:
        for w, how in enumerate(case.leaves):
            with Child() as writer:
                addr = writer.call(steps.map_file, path, "O_RDWR", case.file_size, RW, "MAP_SHARED") \
                    .value_or_raise(f"set-up: writer {w}'s mmap")
                for _, at, length in (s for s in case.stores if s[0] == w):
                    stored.append(writer.call(steps.write, addr + at, new[at:at + length]))
                leaving.append(steps.leave(writer, addr, case.file_size, how))
    return stored, leaving


def store_exit_unmount(workspace: Workspace, state_dir: Path, scratch: Path, fs: dict, case: UnmountCase) -> UnmountSeen:
    """On a filesystem made for the example like the target (same mkfs command, size and mount options): writers
    store through MAP_SHARED and leave without msync; a new process reads the file; the filesystem is unmounted and
    its image mounted again read-only, and the file is read from it."""
    where = crash.BlockTarget.of(fs)
    with sysctl.override(sysctl.WRITEBACK_HELD_OFF), crash.filesystem_image(where, scratch / "image") as image:
        with mounts.scratch_mount(image, where.fs_type, where.mount_options, state_dir) as point:
            point.chmod(0o700)
            path = point / "file"
            path.write_bytes(old_contents(case.file_size))
            path.chmod(0o600)
            crash.make_durable(path, os.path.realpath(point))
            stored, leaving = _writers_store(str(path), case)
            in_file = probe(steps.read_file, str(path))
            fd = os.open(path, os.O_RDONLY)
            try:
                stat = libc.cachestat(fd, 0, 0)
            finally:
                os.close(fd)
            dirty = None if isinstance(stat, libc.CallResult) else stat["nr_dirty"]
        on_device, error = crash.mounted_read(image, where.fs_type, "ro", "file", state_dir)
    return UnmountSeen(tuple(stored), tuple(leaving), in_file, dirty, on_device, error)


def judge_stores_on_device_after_unmount(case: UnmountCase, seen: UnmountSeen) -> Finding:
    """SHARED-7/device: every writer stored, left and exited; the file holds every store, read by a new process
    and read from the image after the unmount."""
    if len(seen.stores) != len(case.stores) or len(seen.leaving) != len(case.leaves):
        return refuted("not every store was made, or not every writer left")
    for (w, at, _), outcome in zip(case.stores, seen.stores):
        if not outcome.ok:
            return refuted(f"writer {w}'s store at offset {at} did not complete: {outcome.describe()}")
    for w, left in enumerate(seen.leaving):
        if case.leaves[w] == "munmap" and left.munmap != returned(None):
            return refuted(f"writer {w}'s munmap {left.munmap.describe() if left.munmap else 'was not made'}")
        if left.ended != exited(0):
            return refuted(f"writer {w} did not exit normally: {left.ended.describe()}")
    expected = new_contents(case.file_size, case.seed, tuple((at, n) for _, at, n in case.stores))
    if not seen.in_file.ok:
        return refuted(f"a new process could not read the file: {seen.in_file.describe()}")
    if seen.in_file.value != expected:
        return refuted("after every writer left, read() by a new process does not return every store")
    if seen.on_device is None:
        return refuted(f"after the unmount the file cannot be read from the image: {seen.device_error}")
    if len(seen.on_device) != case.file_size:
        return refuted(f"after the unmount, the file in the image has {len(seen.on_device)} bytes, not {case.file_size}")
    old = old_contents(case.file_size)
    stale, at = _old_bytes(seen.on_device, old, expected, 0, case.file_size)
    if stale:
        return refuted(f"after the unmount, the image holds the old value of {stale} stored byte(s), the first at offset {at}")
    wrong = _neither(seen.on_device, old, expected, "the image")
    if wrong:
        return refuted(f"after the unmount: {wrong}")
    return holds()
