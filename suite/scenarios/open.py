"""OPEN: the open() mode a file descriptor needs for each mapping protection."""

from __future__ import annotations

from dataclasses import dataclass

from fixtures import libc
from fixtures.files import Workspace
from suite.scenarios.steps import MAP_TYPES, PROT_BITS, bits
from suite.strategies import pattern
from suite.verdict import Finding, holds, refuted


@dataclass(frozen=True)
class MapAttempt:
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
                libc.checked("munmap", libc.munmap(result.value, attempt.length))
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
