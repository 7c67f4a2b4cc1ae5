"""MODEL: the catalog's claims together, under random operation sequences.

The scenario runs one sequence (a program of words, suite/model/machine.py) on a fresh file, in the scenario
server, and returns what happened: how much ran, and, if a step broke the model, the claim whose invariant broke,
the difference and the steps that led to it. suite/model/sequences.py draws the programs and shrinks a failing
one in the claim test's process; the judge turns what all of them did into the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from fixtures.files import Workspace
from harness.findings import Finding, holds, refuted
from suite.model.machine import ModelDiscrepancy, ModelMachine, RunStats
from suite.model.reference import Platform
from suite.model.reproduction import steps_in


@dataclass(frozen=True)
class SequenceRun:
    fs_type: str
    examples: int  # sequences Hypothesis generates (it may run more while shrinking)
    steps_per_example: int  # the longest sequence (words per program)
    alternatives: dict  # what the model took from the expectations, claim -> alternative (or EOF-3 -> holds/refuted)
    page_size: int  # the target's: the machine's offsets, lengths and page indices are in its pages


@dataclass(frozen=True)
class ProgramSeen:
    """One sequence's run."""

    steps: int
    forks: int
    claim: str | None  # the catalog claim whose invariant broke (None: every step agreed with the model)
    detail: str  # how it broke
    log: tuple[str, ...]  # the steps run, as calls on the machine (``state.truncate(by='self', size=5)``)


@dataclass(frozen=True)
class SequencesSeen:
    examples: int  # sequences run, shrinking included
    steps: int
    forks: int
    claim: str | None  # the catalog claim whose invariant broke (None: every step agreed with the model)
    detail: str  # how it broke
    reproduction: str  # the shrunk sequence as a Python script
    reproduced: bool  # False: the failure did not happen again when Hypothesis replayed it


def run_program(workspace: Workspace, platform: Platform, page_size: int, header: int, words: tuple[int, ...],
                machine: type[ModelMachine] = ModelMachine) -> ProgramSeen:
    """One sequence on a new file in ``workspace``: the start and left-out rules from ``header``, a step per
    non-zero word, each checked against the model."""
    stats = RunStats()
    state = machine(workspace=workspace, platform=platform, stats=stats, page_size=page_size)
    try:
        state.run(header, words)
    except ModelDiscrepancy as found:
        return ProgramSeen(stats.steps, stats.forks, found.claim, found.detail, tuple(state.log))
    finally:
        state.teardown()
    return ProgramSeen(stats.steps, stats.forks, None, "", tuple(state.log))


def judge_sequences_consistent(case: SequenceRun, seen: SequencesSeen) -> Finding:
    """MODEL-1: every step of every sequence left the file and its mappings as the model says."""
    if seen.steps == 0:
        return refuted("no step ran: nothing was checked")
    if seen.claim is None:
        return holds()
    from harness.catalog import catalog  # here, in the claim test: the scenario server need not load the TOML catalog
    cat = catalog()
    name = cat[seen.claim].name if seen.claim in cat else "not a catalog claim"
    replay = "" if seen.reproduced else " (it did not happen again when the sequence was replayed)"
    return refuted(f"{seen.claim} ({name}) broke under a random sequence{replay}: {seen.detail}\n"
                   f"minimal sequence ({steps_in(seen.reproduction)} steps), runnable from the checkout:\n"
                   f"{seen.reproduction}")
