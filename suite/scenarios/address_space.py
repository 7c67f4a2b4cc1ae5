"""Address-space pieces that several topics' scenarios share (UNMAP, PROT, GEOM, BUS): ranges the test owns,
fences, accesses run in children, and /proc/self/maps entries made comparable across runs.

A fence is an anonymous PROT_NONE reservation one page larger on each side than the pages it surrounds. Pages
freed inside it lie between two reserved pages, so no later mapping of the test can land there unless it is at
most that many pages long (malloc and Python arenas map 128 KiB and more): "nothing was mapped there since" holds
by construction, not by luck.
"""

from __future__ import annotations


from fixtures import libc
from fixtures.outcome import Outcome, returned
from fixtures.probe import probe
from suite.scenarios import steps

ANONYMOUS = libc.MAP_PRIVATE | libc.MAP_ANONYMOUS


def reserve(pages: int, page_size: int, prot: int = libc.PROT_NONE) -> int:
    """A fresh anonymous mapping of ``pages`` pages of ``page_size`` bytes (PROT_NONE by default): a range the test
    owns."""
    return libc.checked("mmap(reserve)", libc.mmap(None, pages * page_size, prot, ANONYMOUS, -1, 0))


def fenced_hole(pages: int, page_size: int) -> int:
    """The first address of ``pages`` free pages, with a reserved PROT_NONE page on each side (release_fence frees all)."""
    base = reserve(pages + 2, page_size)
    libc.checked("munmap(hole)", libc.munmap(base + page_size, pages * page_size))
    return base + page_size


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
