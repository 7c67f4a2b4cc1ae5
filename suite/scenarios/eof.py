"""EOF: the bytes between end of file and the end of its last page."""

from __future__ import annotations

import os
from dataclasses import dataclass

from fixtures import libc
from fixtures.files import Workspace
from fixtures.probe import probe
from suite.scenarios import steps
from suite.strategies import eof_page_end, pattern
from suite.verdict import Finding, holds, refuted


@dataclass(frozen=True)
class TailRead:
    file_size: int  # not a page multiple: the EOF page has a tail
    fill_seed: int
    flags: str
    offset: int  # page multiple at or below the EOF page
    length: int  # reaches at least the last byte of the file


@dataclass(frozen=True)
class TailSeen:
    outcome: dict  # how the child's read of the tail ended (with the bytes it read)


def read_tail(workspace: Workspace, case: TailRead) -> TailSeen:
    """Map the file and, in a child, read every byte from EOF to the end of its page."""
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.length, ("PROT_READ",), case.flags, case.offset) as mapping:
            outcome = probe(steps.read, mapping.addr + case.file_size - case.offset, eof_page_end(case.file_size) - case.file_size)
    return TailSeen(outcome.as_dict())


def judge_tail_reads_zero(case: TailRead, seen: TailSeen) -> Finding:
    """EOF-1: the tail reads as zeros, without a signal."""
    outcome = seen.outcome
    if outcome["kind"] != "returned":
        return refuted(f"reading past EOF inside the last page: child {outcome}")
    tail = bytes.fromhex(outcome["value"])
    nonzero = [i for i, b in enumerate(tail) if b]
    if nonzero:
        return refuted(f"{len(nonzero)} non-zero byte(s) past EOF, first at EOF+{nonzero[0]}")
    return holds()


@dataclass(frozen=True)
class TailWrite:
    file_size: int
    fill_seed: int
    offset: int
    length: int
    write_at: int  # file offset in [file_size, end of EOF page)
    data: bytes
    msync: bool  # msync(MS_SYNC) before munmap


@dataclass(frozen=True)
class FileAfterTailWrite:
    write: dict  # how the child's store past EOF ended
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
    return FileAfterTailWrite(write.as_dict(), size, content)


def judge_tail_write_not_written_back(case: TailWrite, after: FileAfterTailWrite) -> Finding:
    """EOF-2: the file keeps its size and its bytes up to EOF."""
    if after.write["kind"] != "returned":
        return refuted(f"the store past EOF inside the last page did not complete: child {after.write}")
    if after.size != case.file_size:
        return refuted(f"st_size changed from {case.file_size} to {after.size}")
    if after.content != pattern(case.fill_seed, case.file_size):
        return refuted("the file's bytes up to EOF changed")
    return holds()
