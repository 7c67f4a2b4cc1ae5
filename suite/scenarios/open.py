"""OPEN: the open() mode a file descriptor needs for each mapping protection, and the fd after mmap()."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from fixtures import libc
from fixtures.files import OPEN_MODES, Workspace, pattern
from fixtures.outcome import Outcome
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.scenarios.steps import MAP_TYPES, PROT_BITS, bits
from suite.scenarios.case import PagedCase
from harness.findings import Finding, holds, refuted


class _Mapped(PagedCase):
    """A case (with length and offset) that maps its file once."""

    def check(self) -> None:
        super().check()
        self.require(self.aligned(self.offset) and self.offset >= 0 and self.length > 0, "a mapping at a page offset")


@dataclass(frozen=True)
class MapAttempt(_Mapped):
    open_mode: str
    prot: tuple[str, ...]
    flags: str
    file_size: int
    length: int
    offset: int


@dataclass(frozen=True)
class MapOutcome:
    errno: str | None  # None: mmap returned an address


def try_map(workspace: Workspace, attempt: MapAttempt) -> MapOutcome:
    """mmap() once with the attempt's fd mode, prot, flags, length and offset."""
    with workspace.file(attempt.file_size, pattern(1, attempt.file_size)) as path:
        with workspace.opened(path, attempt.open_mode) as fd:
            result = libc.mmap(None, attempt.length, bits(attempt.prot, PROT_BITS), MAP_TYPES[attempt.flags], fd, attempt.offset)
            if result.ok:
                libc.checked("munmap", libc.munmap(result.value, attempt.round_up(attempt.length)))
    return MapOutcome(result.errno_name)


def judge_fails_with_eacces(attempt: MapAttempt, outcome: MapOutcome) -> Finding:
    """OPEN-1: the mapping is refused with EACCES."""
    if outcome.errno == "EACCES":
        return holds()
    return refuted("mmap succeeded" if outcome.errno is None else f"mmap failed with {outcome.errno}, not EACCES")


def judge_fails(attempt: MapAttempt, outcome: MapOutcome) -> Finding:
    """OPEN-5: the mapping is refused (any errno)."""
    if outcome.errno is not None:
        return holds()
    return refuted(f"mmap of an {attempt.open_mode} fd succeeded")


def judge_succeeds(attempt: MapAttempt, outcome: MapOutcome) -> Finding:
    """OPEN-6: the mapping is made (mmap returns an address)."""
    if outcome.errno is None:
        return holds()
    return refuted(f"mmap of an {attempt.open_mode} fd with {'|'.join(attempt.prot)}, {attempt.flags} failed with {outcome.errno}")


# --- Every prot x flags combination on one fd (OPEN-7) ---------------------------------------------

@dataclass(frozen=True)
class MapMatrix(_Mapped):
    open_mode: str
    file_size: int
    length: int
    offset: int
    combos: tuple[tuple[tuple[str, ...], str], ...]  # (prot, flags), each tried once on the same fd


@dataclass(frozen=True)
class MatrixSeen:
    errnos: tuple[str | None, ...]  # per combo: None where mmap returned an address


def try_map_each(workspace: Workspace, matrix: MapMatrix) -> MatrixSeen:
    """mmap() the same fd once per (prot, flags) combination, unmapping each success at once."""
    errnos = []
    with workspace.file(matrix.file_size, pattern(1, matrix.file_size)) as path:
        with workspace.opened(path, matrix.open_mode) as fd:
            for prot, flags in matrix.combos:
                result = libc.mmap(None, matrix.length, bits(prot, PROT_BITS), MAP_TYPES[flags], fd, matrix.offset)
                if result.ok:
                    libc.checked("munmap", libc.munmap(result.value, matrix.round_up(matrix.length)))
                errnos.append(result.errno_name)
    return MatrixSeen(tuple(errnos))


def judge_only_readonly_prots_succeed(matrix: MapMatrix, seen: MatrixSeen) -> Finding:
    """OPEN-7: on an O_RDONLY fd every prot with PROT_WRITE fails (MAP_SHARED and MAP_PRIVATE), every other succeeds."""
    for (prot, flags), errno in zip(matrix.combos, seen.errnos, strict=True):
        name = f"{'|'.join(prot) or 'PROT_NONE'}, {flags}"
        if "PROT_WRITE" in prot and errno is None:
            return refuted(f"mmap with {name} of an {matrix.open_mode} fd succeeded")
        if "PROT_WRITE" not in prot and errno is not None:
            return refuted(f"mmap with {name} of an {matrix.open_mode} fd failed with {errno}")
    return holds()


# --- Map, then load and store through the mapping (OPEN-2, OPEN-3, OPEN-4, OPEN-9) -------------------

@dataclass(frozen=True)
class UseCase(_Mapped):
    open_mode: str
    prot: tuple[str, ...]
    flags: str
    file_size: int  # > 0
    fill_seed: int
    offset: int  # page multiple below file_size
    length: int
    stores: tuple[tuple[int, bytes], ...]  # (offset inside the mapping, bytes), all inside the file's part of it
    close_fd: bool  # close the fd right after mmap(), before any access
    reuse_fd: bool  # after the close, open another file (it takes the closed fd's number)

    @property
    def other_size(self) -> int:
        """Bytes in the file that takes over a closed fd number (reuse_fd): a whole page, an edge size (read-only
        images hold it) that hugetlbfs can make too."""
        return self.page_size

    def check(self) -> None:
        super().check()
        self.require(self.offset < self.file_size, "a mapping from a page inside the file")
        self.require(all(self.inside(at, len(data), in_file_span(self)) for at, data in self.stores),
                     "every store inside the mapping and the file")


@dataclass(frozen=True)
class UseSeen:
    mmap_errno: str | None
    loads: Outcome | None  # a child's read of the file's part of the mapping, before the stores (None: not done)
    stores: Outcome | None  # the same child's stores (None: none or not done)
    reloads: Outcome | None  # its read of the same part after the stores (None: not done)
    file_after: bytes  # read() of the whole file afterwards, the mapping still in place
    other_after: bytes | None  # read() of the file that took over the fd number (reuse_fd)


OTHER_FILL = 99


def in_file_span(case) -> int:
    """How many bytes from the start of the mapping lie inside the file."""
    return max(0, min(case.length, case.file_size - case.offset))


def store_all(addr: int, stores: tuple[tuple[int, bytes], ...]) -> None:
    for at, data in stores:
        libc.write_bytes(addr + at, data)


def apply_stores(original: bytes, stores) -> bytes:
    """What the bytes read after ``stores`` (in order) are, if each store lands."""
    view = bytearray(original)
    for at, data in stores:
        view[at:at + len(data)] = data
    return bytes(view)


def map_and_use(workspace: Workspace, case: UseCase) -> UseSeen:
    """Open with the case's mode, mmap(), optionally close the fd (and let another file take its number);
    then, in a child, load the file's part of the mapping, store, and load it again; then read() the file."""
    workspace.ensure_mappable(case.open_mode, case.flags)
    span = in_file_span(case)
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path, \
            workspace.file(case.other_size, pattern(OTHER_FILL, case.other_size)) as other:
        fd = os.open(path, OPEN_MODES[case.open_mode])
        other_fd = None
        try:
            result = libc.mmap(None, case.length, bits(case.prot, PROT_BITS), MAP_TYPES[case.flags], fd, case.offset)
            if case.close_fd:
                os.close(fd)
                fd = None
                if case.reuse_fd:
                    other_fd = os.open(other, os.O_RDWR)
            if not result.ok:
                return UseSeen(result.errno_name, None, None, None, path.read_bytes(), None)
            try:
                loads = stores = reloads = None
                with Child() as child:
                    if "PROT_READ" in case.prot:
                        loads = child.call(steps.read, result.value, span)
                    if case.stores and child.ended is None:
                        stores = child.call(store_all, result.value, case.stores)
                        if "PROT_READ" in case.prot and child.ended is None:
                            reloads = child.call(steps.read, result.value, span)
                file_after = path.read_bytes()
                other_after = other.read_bytes() if other_fd is not None else None
            finally:
                libc.checked("munmap", libc.munmap(result.value, case.round_up(case.length)))
        finally:
            for leftover in (fd, other_fd):
                if leftover is not None:
                    os.close(leftover)
    return UseSeen(None, loads, stores, reloads, file_after, other_after)


def _read_back(outcome: Outcome | None, what: str) -> tuple[bytes | None, str]:
    if outcome is None:
        return None, f"{what} was not done"
    if not outcome.ok:
        return None, f"{what}: child {outcome.describe()}"
    return outcome.value, ""


def _first_difference(a: bytes, b: bytes) -> str:
    if len(a) != len(b):
        return f"{len(a)} bytes instead of {len(b)}"
    return f"first differing byte at {next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)}"


def _check_loads(case: UseCase, seen: UseSeen) -> str:
    """Why the loads before the stores are wrong ("" if they are right or were not asked for)."""
    if "PROT_READ" not in case.prot:
        return ""
    original = pattern(case.fill_seed, case.file_size)[case.offset:case.offset + in_file_span(case)]
    loaded, why = _read_back(seen.loads, "the load through the mapping")
    if loaded is None:
        return why
    if loaded != original:
        return f"loads through the mapping differ from the file ({_first_difference(loaded, original)})"
    return ""


def _check_stores(case: UseCase, seen: UseSeen) -> str:
    """Why the stores and the loads after them are wrong ("" if right)."""
    if not case.stores:
        return ""
    if seen.stores is None or not seen.stores.ok:
        return f"the stores through the mapping did not complete: {'not done' if seen.stores is None else seen.stores.describe()}"
    if "PROT_READ" in case.prot:
        original = pattern(case.fill_seed, case.file_size)[case.offset:case.offset + in_file_span(case)]
        reloaded, why = _read_back(seen.reloads, "the load after the stores")
        if reloaded is None:
            return why
        if reloaded != apply_stores(original, case.stores):
            return f"the process does not read back its own stores ({_first_difference(reloaded, apply_stores(original, case.stores))})"
    return ""


def judge_private_writable_map_works(case: UseCase, seen: UseSeen) -> Finding:
    """OPEN-2: the mapping is made; loads give the file's bytes, the process reads its stores back, the file keeps its bytes."""
    if seen.mmap_errno is not None:
        return refuted(f"mmap with {'|'.join(case.prot)}, {case.flags} of an {case.open_mode} fd failed with {seen.mmap_errno}")
    why = _check_loads(case, seen) or _check_stores(case, seen)
    if why:
        return refuted(why)
    if seen.file_after != pattern(case.fill_seed, case.file_size):
        return refuted(f"the private stores reached the file ({_first_difference(seen.file_after, pattern(case.fill_seed, case.file_size))})")
    return holds()


def judge_map_loads_file_bytes(case: UseCase, seen: UseSeen) -> Finding:
    """OPEN-3, OPEN-4: the mapping is made and loads through it return the file's bytes."""
    if seen.mmap_errno is not None:
        return refuted(f"mmap with {'|'.join(case.prot)}, {case.flags} of an {case.open_mode} fd failed with {seen.mmap_errno}")
    if "PROT_READ" not in case.prot:
        return refuted("nothing was loaded: the case has no PROT_READ")
    why = _check_loads(case, seen)
    return refuted(why) if why else holds()


def judge_mapping_valid_after_close(case: UseCase, seen: UseSeen) -> Finding:
    """OPEN-9: with the fd closed, loads give the file's bytes, stores land, and MAP_SHARED stores reach the file
    (not the file that took over the fd number)."""
    if seen.mmap_errno is not None:
        return refuted(f"set-up mmap failed with {seen.mmap_errno}")
    why = _check_loads(case, seen) or _check_stores(case, seen)
    if why:
        return refuted(f"after close(fd): {why}")
    original = pattern(case.fill_seed, case.file_size)
    if case.flags == "MAP_SHARED":
        expected = apply_stores(original[case.offset:], case.stores)
        if seen.file_after != original[:case.offset] + expected:
            return refuted("after close(fd), stores through the MAP_SHARED mapping are not what read() returns "
                           f"({_first_difference(seen.file_after, original[:case.offset] + expected)})")
    if case.reuse_fd and seen.other_after != pattern(OTHER_FILL, case.other_size):
        return refuted("the file that took over the closed fd number changed")
    return holds()


# --- mprotect(PROT_WRITE) on a shared mapping of an O_RDONLY fd (OPEN-8) -----------------------------

@dataclass(frozen=True)
class AddWrite(_Mapped):
    file_size: int  # > 0
    fill_seed: int
    prot: tuple[str, ...]  # the mapping's: PROT_READ, maybe PROT_EXEC
    offset: int
    length: int
    first_page: int  # mprotect range, in pages of the mapping
    pages: int
    new_prot: tuple[str, ...]  # always with PROT_WRITE
    store_at: int  # offset inside the mapping: inside the mprotect range and inside the file
    data: bytes
    close_fd: bool  # close the O_RDONLY fd before mprotect

    def check(self) -> None:
        super().check()
        self.require(0 <= self.first_page and self.pages > 0
                     and self.first_page + self.pages <= self.page_count(self.length), "an mprotect() range inside the mapping")
        low = self.first_page * self.page_size
        high = min(low + self.pages * self.page_size, self.file_size - self.offset)
        self.require(low <= self.store_at and self.inside(self.store_at, len(self.data), high),
                     "the store inside the mprotect() range and the file")


@dataclass(frozen=True)
class AddWriteSeen:
    mprotect_errno: str | None  # None: mprotect succeeded
    perms: tuple[str, ...]  # /proc/self/maps perms of each page of the mprotect range afterwards
    store: Outcome  # how a child's store into the range ended
    file_after: bytes


def mprotect_add_write(workspace: Workspace, case: AddWrite) -> AddWriteSeen:
    """Map an O_RDONLY fd MAP_SHARED without PROT_WRITE, mprotect() PROT_WRITE onto some pages, then store in a child."""
    with workspace.file(case.file_size, pattern(case.fill_seed, case.file_size)) as path:
        fd = os.open(path, os.O_RDONLY)
        try:
            addr = libc.checked("mmap", libc.mmap(None, case.length, bits(case.prot, PROT_BITS), libc.MAP_SHARED, fd, case.offset))
            if case.close_fd:
                os.close(fd)
                fd = None
            try:
                start = addr + case.first_page * case.page_size
                result = libc.mprotect(start, case.pages * case.page_size, bits(case.new_prot, PROT_BITS))
                perms = tuple((steps.maps_entry(start + i * case.page_size) or {}).get("perms", "unmapped")
                              for i in range(case.pages))
                store = probe(steps.write, addr + case.store_at, case.data)
                file_after = path.read_bytes()
            finally:
                libc.checked("munmap", libc.munmap(addr, case.round_up(case.length)))
        finally:
            if fd is not None:
                os.close(fd)
    return AddWriteSeen(result.errno_name, perms, store, file_after)


def judge_mprotect_write_refused(case: AddWrite, seen: AddWriteSeen) -> Finding:
    """OPEN-8: mprotect fails with EACCES, the pages stay without write permission, a store gets SIGSEGV, the file keeps its bytes."""
    if seen.mprotect_errno != "EACCES":
        return refuted("mprotect adding PROT_WRITE succeeded" if seen.mprotect_errno is None
                       else f"mprotect failed with {seen.mprotect_errno}, not EACCES")
    writable = [p for p in seen.perms if "w" in p]
    if writable:
        return refuted(f"after the refused mprotect, pages are mapped {writable[0]}")
    if not seen.store.killed_by(signal.SIGSEGV):
        return refuted(f"a store into the page: child {seen.store.describe()}, not SIGSEGV")
    if seen.file_after != pattern(case.fill_seed, case.file_size):
        return refuted("the file changed")
    return holds()
