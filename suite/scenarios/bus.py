"""BUS: SIGBUS for pages of a mapping that lie wholly beyond end of file."""

from __future__ import annotations

import os
from dataclasses import dataclass

from fixtures.files import Workspace
from fixtures.probe import Child, probe
from suite.scenarios import steps
from suite.strategies import PAGE, pattern
from suite.verdict import Finding, holds, refuted

ACCESS = {"read": (steps.read, (1,)), "write": (steps.write, (b"\x5a",))}


def _access(addr: int, kind: str) -> tuple:
    fn, args = ACCESS[kind]
    return (fn, addr, *args)


@dataclass(frozen=True)
class BeyondEofAccess:
    file_size: int
    flags: str
    offset: int  # page multiple
    length: int
    page: int  # page index inside the mapping, wholly beyond EOF
    byte: int  # byte inside that page
    access: str  # read or write


@dataclass(frozen=True)
class AccessSeen:
    outcome: dict


def access_beyond_eof(workspace: Workspace, case: BeyondEofAccess) -> AccessSeen:
    """Map past EOF and, in a child, touch one byte of a page wholly beyond EOF."""
    with workspace.file(case.file_size, pattern(3, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.length, ("PROT_READ", "PROT_WRITE"), case.flags, case.offset) as mapping:
            outcome = probe(*_access(mapping.addr + case.page * PAGE + case.byte, case.access))
    return AccessSeen(outcome.as_dict())


def judge_sigbus(case, seen: AccessSeen) -> Finding:
    """BUS-1, BUS-2: the access is killed by SIGBUS."""
    if seen.outcome.get("signal") == "SIGBUS":
        return holds()
    return refuted(f"{case.access} of a page wholly beyond EOF: child {seen.outcome}, not SIGBUS")


@dataclass(frozen=True)
class TruncatedAccess:
    old_size: int
    new_size: int
    page: int  # a page within the old size, wholly beyond the new EOF
    byte: int
    touched_before: str  # "no", "read" or "write": how the page was faulted in before truncation
    truncated_by: str  # "self" (the process holding the mapping) or "other" (another process)
    access: str


def access_after_truncate(workspace: Workspace, case: TruncatedAccess) -> AccessSeen:
    """Map a file MAP_SHARED in a child, truncate it (there or in another process), then access a page now beyond EOF."""
    with workspace.file(case.old_size, pattern(5, case.old_size)) as path:
        with Child() as mapper:
            addr = mapper.call(steps.map_file, str(path), "O_RDWR", case.old_size, ("PROT_READ", "PROT_WRITE"), "MAP_SHARED")
            if addr.kind != "returned":
                raise RuntimeError(f"set-up mmap failed: {addr.describe()}")
            target = addr.value + case.page * PAGE + case.byte
            if case.touched_before != "no":
                touched = mapper.call(*_access(target, case.touched_before))
                if touched.kind != "returned":
                    raise RuntimeError(f"set-up access before truncation failed: {touched.describe()}")
            if case.truncated_by == "self":
                shrink = mapper.call(steps.truncate, str(path), case.new_size)
            else:
                shrink = probe(steps.truncate, str(path), case.new_size)
            if shrink.kind != "returned" or os.stat(path).st_size != case.new_size:
                raise RuntimeError(f"set-up truncate failed: {shrink.describe()}")
            outcome = mapper.call(*_access(target, case.access))
    return AccessSeen(outcome.as_dict())
