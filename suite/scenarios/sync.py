"""SYNC: msync() flags."""

from __future__ import annotations

from dataclasses import dataclass

from fixtures import libc
from fixtures.files import Workspace
from suite.scenarios import steps
from suite.strategies import PAGE, pattern
from suite.verdict import Finding, holds, refuted


@dataclass(frozen=True)
class MsyncCall:
    file_size: int  # > 0; the mapping covers the whole file
    flags: str  # of the mapping
    start_page: int  # msync's addr: this page of the mapping
    length: int  # msync's length, inside the mapping
    msync_flags: tuple[str, ...]


@dataclass(frozen=True)
class MsyncResult:
    errno: str | None  # None: msync returned 0


def call_msync(workspace: Workspace, case: MsyncCall) -> MsyncResult:
    with workspace.file(case.file_size, pattern(19, case.file_size)) as path:
        with steps.mapped(str(path), "O_RDWR", case.file_size, ("PROT_READ", "PROT_WRITE"), case.flags) as mapping:
            result = libc.msync(mapping.addr + case.start_page * PAGE, case.length, steps.bits(case.msync_flags, steps.MSYNC_BITS))
    return MsyncResult(result.errno_name)


def judge_fails_with_einval(case: MsyncCall, result: MsyncResult) -> Finding:
    """SYNC-4: msync with both MS_SYNC and MS_ASYNC fails with EINVAL."""
    if result.errno == "EINVAL":
        return holds()
    return refuted("msync succeeded" if result.errno is None else f"msync failed with {result.errno}, not EINVAL")
