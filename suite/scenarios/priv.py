"""PRIV: MAP_PRIVATE stores stay in the process that made them."""

from __future__ import annotations

from dataclasses import dataclass

from fixtures.files import Workspace
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.strategies import pattern
from suite.verdict import Finding, holds, refuted

FILL = 17


@dataclass(frozen=True)
class PrivateStores:
    file_size: int  # > 0; the mapping covers the whole file
    open_mode: str  # of the writer's fd: O_RDONLY suffices for MAP_PRIVATE, O_RDWR too
    stores: tuple[tuple[int, bytes], ...]  # (offset inside the file, bytes), all inside the file


@dataclass(frozen=True)
class FileAfterPrivateStores:
    writer: dict  # how the writing process ended (it maps, stores, unmaps and returns)
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
    return FileAfterPrivateStores(writer.as_dict(), content)


def judge_file_unchanged(case: PrivateStores, after: FileAfterPrivateStores) -> Finding:
    """PRIV-1: the file holds its original bytes."""
    if after.writer["kind"] != "returned":
        return refuted(f"the private stores did not complete: {after.writer}")
    original = pattern(FILL, case.file_size)
    if after.content != original:
        first = next(i for i, (a, b) in enumerate(zip(after.content, original)) if a != b) if len(after.content) == len(original) else None
        return refuted(f"the file changed (size {len(after.content)}, first differing byte {first})")
    return holds()


@dataclass(frozen=True)
class PrivateStoresElsewhere:
    file_size: int
    open_mode: str  # the writer's fd
    stores: tuple[tuple[int, bytes], ...]
    reader_flags: str  # the other process's mapping: MAP_SHARED or MAP_PRIVATE
    reader_maps: str  # "before" or "after" the writer's stores


@dataclass(frozen=True)
class ReaderSeen:
    reads: tuple[dict, ...]  # how the other process's read of each stored range ended


def store_private_read_elsewhere(workspace: Workspace, case: PrivateStoresElsewhere) -> ReaderSeen:
    """Process A stores through MAP_PRIVATE; process B, which mapped the file itself, reads the same ranges."""
    with workspace.file(case.file_size, pattern(FILL, case.file_size)) as path:
        with Child() as writer, Child() as reader:
            reader_addr = None
            if case.reader_maps == "before":
                reader_addr = _map(reader, str(path), case.file_size, case.reader_flags)
            writer_addr = _map(writer, str(path), case.file_size, "MAP_PRIVATE", case.open_mode)
            for at, data in case.stores:
                stored = writer.call(steps.write, writer_addr + at, data)
                if stored.kind != "returned":
                    raise RuntimeError(f"the private store failed: {stored.describe()}")
            if reader_addr is None:
                reader_addr = _map(reader, str(path), case.file_size, case.reader_flags)
            reads = tuple(reader.call(steps.read, reader_addr + at, len(data)).as_dict() for at, data in case.stores)
    return ReaderSeen(reads)


def _map(child: Child, path: str, size: int, flags: str, mode: str = "O_RDONLY") -> int:
    prot = ("PROT_READ", "PROT_WRITE") if flags == "MAP_PRIVATE" else ("PROT_READ",)
    mapped = child.call(steps.map_file, path, mode, size, prot, flags)
    if mapped.kind != "returned":
        raise RuntimeError(f"set-up mmap failed: {mapped.describe()}")
    return mapped.value


def judge_other_process_sees_file(case: PrivateStoresElsewhere, seen: ReaderSeen) -> Finding:
    """PRIV-2: the other process reads the file's original bytes at every stored range."""
    original = pattern(FILL, case.file_size)
    for (at, data), read in zip(case.stores, seen.reads):
        if read["kind"] != "returned":
            return refuted(f"the other process could not read offset {at}: {read}")
        if bytes.fromhex(read["value"]) != original[at:at + len(data)]:
            return refuted(f"the other process sees the private store at offset {at}")
    return holds()
