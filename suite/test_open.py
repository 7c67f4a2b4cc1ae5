"""OPEN: open() mode versus mapping protection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suite.scenarios import open as scenario
from suite.strategies import PAGE, MAX_PAGES, file_sizes, page_offsets

ALL_PROTS = [(), ("PROT_READ",), ("PROT_WRITE",), ("PROT_EXEC",), ("PROT_READ", "PROT_WRITE"),
             ("PROT_READ", "PROT_EXEC"), ("PROT_WRITE", "PROT_EXEC"), ("PROT_READ", "PROT_WRITE", "PROT_EXEC")]


def prots(target, must_include: str | None = None) -> st.SearchStrategy[tuple[str, ...]]:
    # PROT_EXEC on a noexec mount fails with EPERM before the mode is looked at: outside these claims.
    allowed = [p for p in ALL_PROTS
               if (must_include is None or must_include in p) and not (target.fs["noexec"] and "PROT_EXEC" in p)]
    return st.sampled_from(allowed)


@st.composite
def map_attempts(draw, target, open_mode: str, flags, prot) -> scenario.MapAttempt:
    size = draw(file_sizes())
    return scenario.MapAttempt(
        open_mode=open_mode,
        prot=draw(prot),
        flags=draw(flags),
        file_size=size,
        length=draw(st.integers(1, (MAX_PAGES + 1) * PAGE)),
        offset=draw(page_offsets(size // PAGE + 1)),
    )


@pytest.mark.claim("OPEN-1")
@given(data=st.data())
def test_shared_writable_map_of_rdonly_fd_fails_eacces(conformance, target, data):
    attempt = data.draw(map_attempts(target, "O_RDONLY", st.just("MAP_SHARED"), prots(target, "PROT_WRITE")))
    conformance.judge(scenario.judge_fails_with_eacces, attempt, scenario.try_map(conformance.workspace, attempt))


@pytest.mark.claim("OPEN-5")
@given(data=st.data())
def test_map_of_wronly_fd_fails_whatever_prot_and_flags(conformance, target, data):
    attempt = data.draw(map_attempts(target, "O_WRONLY", st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"]), prots(target)))
    conformance.judge(scenario.judge_fails, attempt, scenario.try_map(conformance.workspace, attempt))
