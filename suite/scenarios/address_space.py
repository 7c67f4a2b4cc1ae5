"""Address-space pieces that several topics' scenarios share (UNMAP, PROT, GEOM, BUS): ranges the test owns,
fences, accesses run in children, and /proc/self/maps entries made comparable across runs.

A fence is an anonymous PROT_NONE reservation one page larger on each side than the pages it surrounds, placed in
the middle of the widest free gap of the address space. The kernel puts a mapping made without MAP_FIXED in the
highest gap that fits it (the lowest in the legacy layout), and the free space on either side of a fence there is
far wider than anything a process maps: pages freed inside the fence stay free whatever the test, its children or
Python map later, "nothing was mapped there since" holds by construction, whatever the page size. (A fence placed
where mmap() chose would sit next to the other mappings: its freed pages were the highest gap there, and a 2 MiB
huge page freed that way took the 1 MiB arena a child's Python mapped.)
"""

from __future__ import annotations

from pathlib import Path

from fixtures import libc
from fixtures.outcome import Outcome, returned
from fixtures.probe import probe
from suite.scenarios import steps

ANONYMOUS = libc.MAP_PRIVATE | libc.MAP_ANONYMOUS


def reserve(pages: int, page_size: int, prot: int = libc.PROT_NONE, at: int | None = None) -> int:
    """A fresh anonymous mapping of ``pages`` pages of ``page_size`` bytes (PROT_NONE by default), aligned to
    ``page_size``: a range the test owns; ``at``: where it must be (free, page-aligned), or wherever mmap() chooses.

    A file of larger pages than the system's (hugetlbfs) maps with MAP_FIXED only at an address aligned to its page
    (else EINVAL). The kernel aligns an anonymous mapping to a huge page by itself only on newer kernels, and only one
    whose length is a multiple of it (6.12 and 6.18 did, 6.1 did not): so a larger reservation, trimmed to the
    aligned range."""
    length = pages * page_size
    if at is None:
        slack = page_size - libc.PAGE_SIZE  # none at the system's page size: nothing to trim
        addr = libc.checked("mmap(reserve)", libc.mmap(None, length + slack, prot, ANONYMOUS, -1, 0))
        aligned = libc.round_up(addr, page_size)
        for start, end in ((addr, aligned), (aligned + length, addr + length + slack)):
            if end > start:
                libc.checked("munmap(reserve)", libc.munmap(start, end - start))
        return aligned
    addr = libc.checked("mmap(reserve)", libc.mmap(at, length, prot, ANONYMOUS, -1, 0))
    if at is not None and addr != at:
        libc.munmap(addr, length)
        raise RuntimeError(f"set-up: mmap() placed a reservation at {addr:#x}, not at the free address {at:#x}")
    return addr


def _middle_of_widest_gap(length: int, align: int) -> int:
    """An ``align``-aligned address for ``length`` bytes in the middle of the widest free gap between this process's
    mappings (read from /proc/self/maps; the vsyscall page lies beyond user space)."""
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        if not line.endswith("[vsyscall]"):
            start, end = line.split(maxsplit=1)[0].split("-")
            ranges.append((int(start, 16), int(end, 16)))
    low, high = max(((end, start) for (_, end), (start, _) in zip(ranges, ranges[1:])), key=lambda gap: gap[1] - gap[0])
    at = (low + high - length) // 2 // align * align
    if at < low or at + length > high:
        raise RuntimeError(f"set-up: no free gap of {length} bytes in this process's address space")
    return at


def fence(pages: int, page_size: int) -> int:
    """A fence around ``pages`` pages (see the module docstring): the address of its first inner page."""
    length = (pages + 2) * page_size
    return reserve(pages + 2, page_size, at=_middle_of_widest_gap(length, page_size)) + page_size


def fenced_hole(pages: int, page_size: int) -> int:
    """The first address of ``pages`` free pages inside a fence (release_fence frees all)."""
    inner = fence(pages, page_size)
    libc.checked("munmap(hole)", libc.munmap(inner, pages * page_size))
    return inner


def release_fence(inner: int, pages: int, page_size: int) -> None:
    """munmap the fence around ``pages`` pages at ``inner`` and whatever is still mapped inside it."""
    libc.checked("munmap(fence)", libc.munmap(inner - page_size, (pages + 2) * page_size))


def digest(data: bytes) -> str:
    """What a "digest" access returns for these bytes: a whole huge page (32 MiB under 16 KiB base pages) would
    otherwise travel from every child and be held for the judge."""
    import hashlib  # here, not in every scenario server: it maps libcrypto, and each mapped area makes forks dearer
    return hashlib.sha256(data).hexdigest()


def act(item: tuple) -> object:
    """One access, run in a child (a probe_each batch item): ("maps", addr, None), ("read", addr, length),
    ("digest", addr, length): digest() of those bytes, or ("write", addr, data)."""
    kind, addr, arg = item
    if kind == "maps":
        return steps.maps_entry(addr)
    if kind == "read":
        return libc.read_bytes(addr, arg)
    if kind == "digest":
        return digest(libc.read_bytes(addr, arg))
    libc.write_bytes(addr, arg)
    return None


def act_if_unmapped(item: tuple) -> tuple:
    """In a child: ("mapped", entry) if the page of the item's address is mapped here after all, else ("done", act(item))."""
    entry = steps.maps_entry(item[1])
    return ("mapped", entry) if entry is not None else ("done", act(item))


def probe_unmapped(item: tuple) -> Outcome:
    """How an access (act()) to an address the test left unmapped ends, in a fresh child. If something is mapped
    there in the child after all, the example is broken (RuntimeError), not judged."""
    outcome = probe(act_if_unmapped, item)
    if not outcome.ok:
        return outcome
    found, value = outcome.value
    if found == "mapped":
        raise RuntimeError(f"set-up: something is mapped at {item[1]:#x} in the child: {value}")
    return returned(value)


def relative(entry: dict | None, base: int) -> dict | None:
    """A /proc/self/maps entry with start and end relative to ``base`` (reports compare across runs)."""
    if entry is None:
        return None
    return dict(entry, start=entry["start"] - base, end=entry["end"] - base)
