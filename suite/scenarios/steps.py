"""Kernel steps that scenarios run, often inside a forked child (so they are module-level functions)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fixtures import libc
from fixtures.files import OPEN_MODES
from fixtures.outcome import Outcome
from fixtures.probe import Child

PROT_BITS = {"PROT_NONE": libc.PROT_NONE, "PROT_READ": libc.PROT_READ, "PROT_WRITE": libc.PROT_WRITE, "PROT_EXEC": libc.PROT_EXEC}
MAP_TYPES = {"MAP_SHARED": libc.MAP_SHARED, "MAP_PRIVATE": libc.MAP_PRIVATE, "MAP_SHARED_VALIDATE": libc.MAP_SHARED_VALIDATE}
MSYNC_BITS = {"MS_ASYNC": libc.MS_ASYNC, "MS_SYNC": libc.MS_SYNC, "MS_INVALIDATE": libc.MS_INVALIDATE}


def bits(names: tuple[str, ...], table: dict[str, int]) -> int:
    value = 0
    for name in names:
        value |= table[name]
    return value


def map_file(path: str, mode: str, length: int, prot: tuple[str, ...], flags: str, offset: int = 0) -> int:
    """Open ``path``, map it, close the fd (the mapping stays); the address. Raises SysError on failure."""
    fd = os.open(path, OPEN_MODES[mode])
    try:
        result = libc.mmap(None, length, bits(prot, PROT_BITS), MAP_TYPES[flags], fd, offset)
    finally:
        os.close(fd)
    return libc.checked("mmap", result)


def mapped(path: str, mode: str, length: int, prot: tuple[str, ...], flags: str, offset: int = 0) -> libc.Mapping:
    """``map_file`` for this process's own use: a Mapping (byte access through its memoryview, unmapped on exit)."""
    return libc.Mapping(map_file(path, mode, length, prot, flags, offset), length, libc.file_page_size(path))


def unmap(addr: int, length: int) -> None:
    libc.checked("munmap", libc.munmap(addr, length))


def read(addr: int, length: int) -> bytes:
    return libc.read_bytes(addr, length)


def write(addr: int, data: bytes) -> None:
    libc.write_bytes(addr, data)


def truncate(path: str, size: int) -> None:
    """ftruncate() through a descriptor of this process's own."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def maps_entry(addr: int) -> dict | None:
    """The /proc/self/maps line of the mapping holding ``addr``, as a dict."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= addr < end:
            return {"start": start, "end": end, "perms": fields[1], "offset": int(fields[2], 16),
                    "device": fields[3], "inode": int(fields[4]), "path": fields[5] if len(fields) > 5 else ""}
    return None


def read_file(path: str) -> bytes:
    """The whole file through read() on a descriptor of this process's own."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class WriterLeft:
    """How a writer process left: its munmap() (if asked) and its own end."""

    munmap: Outcome | None  # how its munmap() ended (None: it just exits)
    ended: Outcome  # how the writer ended


def leave(writer: Child, addr: int, length: int, how: str) -> WriterLeft:
    """The writer munmap()s first if asked, then leaves (its loop ends, it _exits 0); how both went."""
    unmapped = writer.call(unmap, addr, length) if how == "munmap" else None
    writer.close()
    return WriterLeft(unmapped, writer.ended)
