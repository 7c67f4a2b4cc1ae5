"""DURABILITY: what reaches the block device — after msync(MS_SYNC), after fsync(), without any sync, after unmount.

Crash model (no special kernel support needed): a block target provisioned by ``--fs`` lives on a loop
device with direct I/O over a sparse image file, so the image file holds exactly what the filesystem sent
to its device. "Pulling the plug" is copying the image file at a chosen moment (into one copy per test,
brought up to date in place: only the chunks that differ are written). The copy is loop-mounted read-only
(on a writable loop device, so the journal or log is replayed; xfs with nouuid, btrfs through the kernel's
temp-fsid support) and the file is read back. That is a power cut on a device that keeps every write it
completed.

A copy is consistent when the loop device's I/O counters show no write completed, and none in flight,
from before the copy started to after it ended; otherwise it is made again (bounded).

Periodic write-back is held off (vm.dirty_* through the run's sysctl lock: HELD_OFF) so the stores stay dirty
until the scenario's own call. Whatever else writes them back early (a flush woken by the previous holder of
the lock restoring the values, reclaim) shows in cachestat(2): such an attempt is made again with a new file
(bounded; the number of attempts is in the observation).
"""

from __future__ import annotations

import contextlib
import errno as errno_module
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from fixtures import libc, provision, sysctl
from fixtures.files import Workspace
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.sync import flusher, sysctl_writable
from suite.strategies import PAGE, pattern
from harness.findings import Finding, holds, observed, refuted

# Periodic write-back held off: nothing expires within an hour, and the periodic flusher is off altogether
# (dirty_writeback_centisecs 0). Writing a non-zero dirty_writeback_centisecs that differs from the current one
# wakes every flusher thread (dirty_writeback_centisecs_handler() -> wakeup_flusher_threads()), which writes back
# whatever is dirty when it runs, stores made just after entering the override included; writing 0 wakes nothing.
HELD_OFF = {"vm.dirty_expire_centisecs": "360000", "vm.dirty_writeback_centisecs": "0"}
OLD_SEED = 53  # the file's durable (old) contents: pattern(OLD_SEED, size); a store's bytes come from another seed
RW = ("PROT_READ", "PROT_WRITE")
CRASH_MOUNT_OPTIONS = {"xfs": "ro,nouuid"}  # a copy of a mounted xfs has its UUID; every other type: "ro"
ATTEMPTS = 5  # attempts per example when a stored page was written back by the flusher before its time
COPY_ATTEMPTS = 20  # copies per attempt when the device was written while the image was being copied
BTRFS_TEMP_FSID = Path("/sys/fs/btrfs/features/temp_fsid")


# --- contents -----------------------------------------------------------------------------------------------


def old_contents(size: int) -> bytes:
    return pattern(OLD_SEED, size)


def new_contents(size: int, seed: int, stores: tuple[tuple[int, int], ...]) -> bytes:
    """The file after the stores: each store (offset, length) puts pattern(seed)'s bytes there."""
    content, new = bytearray(old_contents(size)), pattern(seed, size)
    for at, length in stores:
        content[at:at + length] = new[at:at + length]
    return bytes(content)


def stored_pages(stores) -> tuple[int, ...]:
    """The pages the stores (offset, length) touch."""
    return tuple(sorted({page for at, length in stores for page in range(at // PAGE, (at + length - 1) // PAGE + 1)}))


# --- what can be checked where ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockTarget:
    """A provisioned block filesystem: its image file, loop device, mount type and mount point."""

    image: str
    device: str
    fs_type: str
    mount_point: str
    mkfs: str
    image_size: int
    mount_options: str

    @classmethod
    def of(cls, fs: dict) -> "BlockTarget":
        facts = fs["provisioned"]
        options = facts.get("mount_options") or ""
        return cls(facts["image"], facts["loop_device"], fs["mount_type"], os.path.realpath(fs["mount_point"]),
                   facts["mkfs"], facts["image_size"], "" if options == "defaults" else options)


def _no_image(fs: dict) -> str | None:
    facts = fs.get("provisioned") or {}
    if not facts.get("image") or not facts.get("loop_device") or not facts.get("mkfs"):
        return (f"no block device image behind this filesystem ({fs['type']}): the crash model copies the image file "
                "of a loop device (--fs ext2-1k, ext4, ext4-1k, xfs, btrfs)")
    if os.geteuid() != 0:
        return "loop-mounting filesystem images needs root"
    if not sysctl_writable():
        return "vm.dirty_* cannot be changed here (needs root and a writable /proc/sys) to hold periodic write-back off"
    return None


def _cachestat_missing(workspace: Workspace) -> str | None:
    with workspace.file(1, b"\x01") as path, workspace.opened(path, "O_RDONLY") as fd:
        stat = libc.cachestat(fd, 0, 0)
    if isinstance(stat, libc.CallResult):
        return f"cachestat(2) fails with {stat.errno_name} (Linux 6.5+ is needed to see which stored pages are still dirty)"
    return None


def crash_unsupported(workspace: Workspace, fs: dict) -> str | None:
    """Why a crash copy of this target cannot be made and read (None: it can)."""
    reason = _no_image(fs)
    if reason:
        return reason
    if fs["mount_type"] == "btrfs" and not BTRFS_TEMP_FSID.exists():
        return ("a copy of a mounted btrfs has the same fsid: mounting it needs the kernel's temp-fsid support "
                f"(Linux 6.7+; {BTRFS_TEMP_FSID} is missing)")
    return _cachestat_missing(workspace)


def unmount_unsupported(fs: dict) -> str | None:
    """Why a filesystem like this target cannot be made, unmounted and mounted again here (None: it can)."""
    return _no_image(fs)


# --- kernel steps ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_dir(state_dir: Path) -> Iterator[Path]:
    """A directory for crash copies and images, in the run's state directory (never on the target itself:
    copying an image into the filesystem it holds would write to that filesystem while it is copied). One per
    test: the crash copy in it is brought up to date in place from one example to the next."""
    directory = Path(tempfile.mkdtemp(prefix="durability-", dir=state_dir))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_durable(path: Path, mount_point: str) -> None:
    """fsync() the file, then every directory from its own up to the mount point (its name is durable too)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    directory = os.path.realpath(path.parent)
    while True:
        _fsync_dir(directory)
        if directory == mount_point or os.path.dirname(directory) == directory:
            return
        directory = os.path.dirname(directory)


@contextlib.contextmanager
def _durable_file(workspace: Workspace, size: int, mount_point: str) -> Iterator[Path]:
    """A scratch file holding the old contents, on the device (fsync()ed with its directories) and clean."""
    with workspace.file(size, old_contents(size)) as path:
        _make_durable(path, mount_point)
        yield path


def _page_states(fd: int, pages: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    """(page, nr_dirty, nr_writeback) from cachestat(2) for each page."""
    states = []
    for page in pages:
        stat = libc.cachestat(fd, page * PAGE, PAGE)
        if isinstance(stat, libc.CallResult):
            raise libc.SysError("cachestat", stat.errno)
        states.append((page, stat["nr_dirty"], stat["nr_writeback"]))
    return tuple(states)


def _unwritten(states) -> bool:
    """Every page still dirty and none under write-back: nothing of them has been written back."""
    return all(dirty and not writeback for _, dirty, writeback in states)


def _device_writes(device: str) -> tuple[int, int, int]:
    """The loop device's completed writes and discards, and its writes in flight (/sys/block/*/stat, inflight)."""
    queue = Path("/sys/block") / Path(device).name
    stat = (queue / "stat").read_text().split()
    in_flight = (queue / "inflight").read_text().split()
    return int(stat[4]), int(stat[11]) if len(stat) > 11 else 0, int(in_flight[1])


def _data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """[start, end) ranges of a file that hold data (SEEK_DATA/SEEK_HOLE; everything where they are not supported)."""
    extents, at = [], 0
    try:
        while at < size:
            start = os.lseek(fd, at, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
            extents.append((start, end))
            at = end
    except OSError as error:
        if error.errno == errno_module.ENXIO:  # no data past ``at``
            return extents
        return [(0, size)]
    return extents


def _merged(extents: list[tuple[int, int]], chunk: int) -> list[tuple[int, int]]:
    """The extents widened to whole chunks, sorted and merged."""
    spans = sorted((start // chunk * chunk, -(-end // chunk) * chunk) for start, end in extents)
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _copy_in_place(source: str, dest: Path) -> None:
    """Make ``dest`` hold what ``source`` holds, writing only the chunks that differ (where either has data).
    Reusing the copy keeps each example from writing, and the next one from freeing, a whole image on the host."""
    chunk, piece = 1 << 20, 64 << 10  # read and compared by the MiB, written by the 64 KiB piece
    src = os.open(source, os.O_RDONLY)
    try:
        dst = os.open(dest, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = os.fstat(src).st_size
            if os.fstat(dst).st_size != size:
                os.ftruncate(dst, size)
            for start, end in _merged(_data_extents(src, size) + _data_extents(dst, size), chunk):
                for at in range(start, min(end, size), chunk):
                    want, have = os.pread(src, chunk, at), os.pread(dst, chunk, at)
                    if have == want:
                        continue
                    for offset in range(0, len(want), piece):
                        if have[offset:offset + piece] != want[offset:offset + piece]:
                            os.pwrite(dst, want[offset:offset + piece], at + offset)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_device(where: BlockTarget, dest: Path) -> int:
    """Copy the image file at this moment (pull the plug); made again until no write to the device completed or
    was in flight from before the copy to after it. The number of copies made."""
    for copies in range(1, COPY_ATTEMPTS + 1):
        before = _device_writes(where.device)
        _copy_in_place(where.image, dest)
        after = _device_writes(where.device)
        if before == after and not before[2]:
            return copies
    raise RuntimeError(f"set-up: {where.device} was written during each of {COPY_ATTEMPTS} copies of its image: "
                       "no consistent crash copy")


def _mounted_read(image: Path, fs_type: str, options: str, relative: str, state_dir: Path) -> tuple[bytes | None, str | None]:
    """Loop-mount ``image`` and read the file at ``relative``: (contents, None), or (None, why not)."""
    mounted = False
    try:
        with provision.scratch_mount(image, fs_type, options, state_dir) as point:
            mounted = True
            try:
                return (point / relative).read_bytes(), None
            except FileNotFoundError:
                return None, f"{relative} is not in the filesystem"
            except OSError as error:
                return None, f"reading {relative} fails with {errno_module.errorcode.get(error.errno, error.errno)}"
    except provision.ProvisionError as error:
        if mounted or not str(error).startswith("mount"):
            raise  # the loop device or the teardown failed: the test's own machinery, not an observation
        return None, f"the image cannot be mounted ({options}): {error}"


def _read_crash(where: BlockTarget, copy: Path, path: Path, state_dir: Path) -> tuple[bytes | None, str | None]:
    relative = os.path.relpath(os.path.realpath(path), where.mount_point)
    return _mounted_read(copy, where.fs_type, CRASH_MOUNT_OPTIONS.get(where.fs_type, "ro"), relative, state_dir)


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
    now = {name: sysctl.read(name) for name in HELD_OFF}
    why = ("" if now == HELD_OFF else
           f"; vm.dirty_* are {now}, not {HELD_OFF}: something outside this run's sysctl lock changed them (another run?)")
    return RuntimeError(f"set-up: in each of {attempts} attempts a stored page was written back before the scenario's "
                        f"own step: nothing to observe{why}")


# --- SYNC-1/device, SYNC-1/fsync, SYNC-9/no-sync-crash -------------------------------------------------------------


@dataclass(frozen=True)
class MsyncCrash:
    file_size: int  # > 0; the mapping covers the whole file
    seed: int  # of the stored bytes (never OLD_SEED: every stored byte changes)
    stores: tuple[tuple[int, int], ...]  # (file offset, length)
    start_page: int  # msync's addr: this page of the mapping
    length: int  # msync's length (> 0); the range holds at least one stored page
    msync_flags: tuple[str, ...]  # MS_SYNC, optionally with MS_INVALIDATE


@dataclass(frozen=True)
class FsyncCrash:
    file_size: int
    seed: int
    stores: tuple[tuple[int, int], ...]
    call: str  # "fsync" or "fdatasync"
    descriptor: str  # "mapping" (the O_RDWR fd the mapping was made from), "new O_RDONLY" or "new O_RDWR" (opened for the call)
    unmap_first: bool  # munmap() before the call


@dataclass(frozen=True)
class NoSyncCrash:
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
    where, pages = BlockTarget.of(fs), stored_pages(case.stores)
    flags = steps.bits(case.msync_flags, steps.MSYNC_BITS)
    with flusher(HELD_OFF):
        for attempt in range(1, ATTEMPTS + 1):
            with _durable_file(workspace, case.file_size, where.mount_point) as path, \
                    steps.mapped(str(path), "O_RDWR", case.file_size, RW, "MAP_SHARED") as mapping, \
                    workspace.opened(path, "O_RDONLY") as fd:
                _store(mapping.view, case.file_size, case.seed, case.stores)
                before = _page_states(fd, pages)
                if not _unwritten(before):
                    continue
                result = libc.msync(mapping.addr + case.start_page * PAGE, case.length, flags)
                copies = _copy_device(where, scratch / "crash")
                after = _page_states(fd, pages)
            crash, error = _read_crash(where, scratch / "crash", path, state_dir)
            return CrashSeen(result.errno_name, before, after, attempt, copies, crash, error)
    raise _too_early(ATTEMPTS)


def _sync_call(fd: int, call: str) -> str | None:
    try:
        (os.fsync if call == "fsync" else os.fdatasync)(fd)
    except OSError as error:
        return errno_module.errorcode.get(error.errno, str(error.errno))
    return None


def fsync_then_crash(workspace: Workspace, state_dir: Path, scratch: Path, fs: dict, case: FsyncCrash) -> CrashSeen:
    """Store into a durable file through MAP_SHARED, fsync()/fdatasync() a descriptor, copy the device, read the copy."""
    where, pages = BlockTarget.of(fs), stored_pages(case.stores)
    with flusher(HELD_OFF):
        for attempt in range(1, ATTEMPTS + 1):
            with _durable_file(workspace, case.file_size, where.mount_point) as path, \
                    workspace.opened(path, "O_RDWR") as fd, \
                    libc.Mapping.map(case.file_size, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, fd) as mapping:
                _store(mapping.view, case.file_size, case.seed, case.stores)
                before = _page_states(fd, pages)
                if not _unwritten(before):
                    continue
                if case.unmap_first:
                    mapping.unmap()
                if case.descriptor == "mapping":
                    result = _sync_call(fd, case.call)
                else:
                    with workspace.opened(path, case.descriptor.split()[1]) as other:
                        result = _sync_call(other, case.call)
                copies = _copy_device(where, scratch / "crash")
                after = _page_states(fd, pages)
            crash, error = _read_crash(where, scratch / "crash", path, state_dir)
            return CrashSeen(result, before, after, attempt, copies, crash, error)
    raise _too_early(ATTEMPTS)


def unsynced_then_crash(workspace: Workspace, state_dir: Path, scratch: Path, fs: dict, case: NoSyncCrash) -> CrashSeen:
    """Store into a durable file through MAP_SHARED and never sync; copy the device while every stored page is still
    dirty (checked before and after the copy) and read the copy."""
    where, pages = BlockTarget.of(fs), stored_pages(case.stores)
    with flusher(HELD_OFF):
        for attempt in range(1, ATTEMPTS + 1):
            with _durable_file(workspace, case.file_size, where.mount_point) as path, \
                    workspace.opened(path, "O_RDONLY") as fd:
                if case.leave == "exited":
                    with Child() as writer:
                        stored = writer.call(map_and_store, str(path), case.file_size, case.seed, case.stores)
                    if stored.kind != "returned" or writer.ended is None or writer.ended.kind != "exited":
                        raise RuntimeError(f"set-up: the writer did not map, store and exit: {stored.describe()}")
                    mapping = None
                else:
                    mapping = steps.mapped(str(path), "O_RDWR", case.file_size, RW, "MAP_SHARED")
                    _store(mapping.view, case.file_size, case.seed, case.stores)
                    if case.leave == "munmapped":
                        mapping.unmap()
                try:
                    before = _page_states(fd, pages)
                    if not _unwritten(before):
                        continue
                    copies = _copy_device(where, scratch / "crash")
                    after = _page_states(fd, pages)
                finally:
                    if mapping is not None:
                        mapping.unmap()
                if not _unwritten(after):
                    continue  # written back while the copy was made: not "before write-back"
            crash, error = _read_crash(where, scratch / "crash", path, state_dir)
            return CrashSeen(None, before, after, attempt, copies, crash, error)
    raise _too_early(ATTEMPTS)


def _crash_unreadable(size: int, seen: CrashSeen) -> str | None:
    if seen.crash is None:
        return f"the file, fsync()ed with its directories before the stores, cannot be read from the crash copy: {seen.crash_error}"
    if len(seen.crash) != size:
        return f"the file in the crash copy has {len(seen.crash)} bytes, not {size}"
    return None


def _neither(crash: bytes, old: bytes, new: bytes, where: str = "the crash copy") -> str | None:
    for i, (got, was, will) in enumerate(zip(crash, old, new)):
        if got != was and got != will:
            return f"byte {i} of the file in {where} is {got:#04x}, neither its old {was:#04x} nor its new value {will:#04x}"
    return None


def _old_bytes(crash: bytes, old: bytes, new: bytes, first: int, end: int) -> tuple[int, int | None]:
    """How many bytes in [first, end) that the stores changed still hold the old value, and the first of them."""
    stale = [i for i in range(first, end) if old[i] != new[i] and crash[i] == old[i]]
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
    first = case.start_page * PAGE
    end = min(libc.round_up(first + case.length), case.file_size)
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
class UnmountCase:
    file_size: int  # > 0
    seed: int  # of the stored bytes (never OLD_SEED)
    leaves: tuple[str, ...]  # per writer: "munmap" (then exits) or "exit" (exits with the mapping in place)
    concurrent: bool  # all writers map before the first store, or each maps, stores and leaves in turn
    stores: tuple[tuple[int, int, int], ...]  # (writer, file offset, length), in order (by writer when not concurrent)


@dataclass(frozen=True)
class UnmountSeen:
    stores: tuple[dict, ...]  # how each store ended
    leaving: tuple[dict, ...]  # per writer: how its munmap ended (None when it just exits), and how it ended
    in_file: dict  # a new process's read() of the whole file, the filesystem still mounted
    dirty_before_unmount: int | None  # nr_dirty of the file just before the unmount (None: no cachestat(2)); not judged
    on_device: bytes | None  # the file read from the image mounted again after the unmount
    device_error: str | None  # why it could not be read


def read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _leave(writer: Child, addr: int, length: int, how: str) -> dict:
    unmapped = writer.call(steps.unmap, addr, length).as_dict() if how == "munmap" else None
    writer.close()
    return {"munmap": unmapped, "ended": writer.ended.as_dict() if writer.ended else None}


def _writers_store(path: str, case: UnmountCase) -> tuple[list, list]:
    """The writers map, store (no msync), unmap or not, and exit (youngest first when concurrent: a Child forked
    later holds the pipes of older ones)."""
    new = pattern(case.seed, case.file_size)
    stored, leaving = [], []
    if case.concurrent:
        writers: list[Child] = []
        try:
            for _ in case.leaves:
                writers.append(Child())
            addrs = [w.call(steps.map_file, path, "O_RDWR", case.file_size, RW, "MAP_SHARED") for w in writers]
            if any(a.kind != "returned" for a in addrs):
                raise RuntimeError(f"set-up: a writer could not map the file: {[a.describe() for a in addrs]}")
            for w, at, length in case.stores:
                stored.append(writers[w].call(steps.write, addrs[w].value + at, new[at:at + length]).as_dict())
            leaving = [None] * len(writers)
            for w in reversed(range(len(writers))):
                leaving[w] = _leave(writers[w], addrs[w].value, case.file_size, case.leaves[w])
        finally:
            for child in reversed(writers):
                child.close()
    else:
        for w, how in enumerate(case.leaves):
            with Child() as writer:
                addr = writer.call(steps.map_file, path, "O_RDWR", case.file_size, RW, "MAP_SHARED")
                if addr.kind != "returned":
                    raise RuntimeError(f"set-up: writer {w} could not map the file: {addr.describe()}")
                for _, at, length in (s for s in case.stores if s[0] == w):
                    stored.append(writer.call(steps.write, addr.value + at, new[at:at + length]).as_dict())
                leaving.append(_leave(writer, addr.value, case.file_size, how))
    return stored, leaving


@contextlib.contextmanager
def _removed_after(path: Path) -> Iterator[None]:
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _make_filesystem(where: BlockTarget, image: Path) -> None:
    with open(image, "wb") as handle:
        handle.truncate(where.image_size)
    done = subprocess.run([*shlex.split(where.mkfs), str(image)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"set-up: {where.mkfs} failed: {(done.stderr or done.stdout).strip()[-200:]}")


def store_exit_unmount(workspace: Workspace, state_dir: Path, scratch: Path, fs: dict, case: UnmountCase) -> UnmountSeen:
    """On a filesystem made for the example like the target (same mkfs command, size and mount options): writers
    store through MAP_SHARED and leave without msync; a new process reads the file; the filesystem is unmounted and
    its image mounted again read-only, and the file is read from it."""
    where = BlockTarget.of(fs)
    image = scratch / "image"
    with flusher(HELD_OFF), _removed_after(image):
        _make_filesystem(where, image)
        with provision.scratch_mount(image, where.fs_type, where.mount_options, state_dir) as point:
            point.chmod(0o700)
            path = point / "file"
            path.write_bytes(old_contents(case.file_size))
            path.chmod(0o600)
            _make_durable(path, os.path.realpath(point))
            stored, leaving = _writers_store(str(path), case)
            in_file = probe(read_file, str(path)).as_dict()
            fd = os.open(path, os.O_RDONLY)
            try:
                stat = libc.cachestat(fd, 0, 0)
            finally:
                os.close(fd)
            dirty = None if isinstance(stat, libc.CallResult) else stat["nr_dirty"]
        on_device, error = _mounted_read(image, where.fs_type, "ro", "file", state_dir)
    return UnmountSeen(tuple(stored), tuple(leaving), in_file, dirty, on_device, error)


def judge_stores_on_device_after_unmount(case: UnmountCase, seen: UnmountSeen) -> Finding:
    """SHARED-7/device: every writer stored, left and exited; the file holds every store, read by a new process
    and read from the image after the unmount."""
    if len(seen.stores) != len(case.stores) or len(seen.leaving) != len(case.leaves):
        return refuted("not every store was made, or not every writer left")
    for (w, at, _), outcome in zip(case.stores, seen.stores):
        if outcome["kind"] != "returned":
            return refuted(f"writer {w}'s store at offset {at} did not complete: {outcome}")
    for w, left in enumerate(seen.leaving):
        if case.leaves[w] == "munmap" and (left or {}).get("munmap") != {"kind": "returned", "value": None}:
            return refuted(f"writer {w}'s munmap failed: {left}")
        if (left or {}).get("ended") != {"kind": "exited", "exit_code": 0}:
            return refuted(f"writer {w} did not exit normally: {left}")
    expected = new_contents(case.file_size, case.seed, tuple((at, n) for _, at, n in case.stores))
    if seen.in_file.get("kind") != "returned":
        return refuted(f"a new process could not read the file: {seen.in_file}")
    if bytes.fromhex(seen.in_file["value"]) != expected:
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
