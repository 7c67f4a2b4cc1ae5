"""MODEL: the catalog's claims together, under random operation sequences.

The scenario runs the state machine (suite/model/machine.py) as a Hypothesis
test and returns what happened: how much ran, and, if a step broke the model,
the claim whose invariant broke, the difference, and the shrunk sequence as a
runnable script. The judge turns that into the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import Phase, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from fixtures.files import Workspace
from harness.catalog import catalog
from suite.model.machine import ModelDiscrepancy, ModelMachine, RunStats
from suite.model.reference import Platform
from suite.model.reproduction import reproduction, steps_in
from harness.findings import Finding, holds, refuted


@dataclass(frozen=True)
class SequenceRun:
    fs_type: str
    examples: int  # sequences Hypothesis generates (it may run more while shrinking)
    steps_per_example: int  # the longest sequence (Hypothesis' stateful_step_count)
    alternatives: dict  # what the model took from the expectations, claim -> alternative (or EOF-3 -> holds/refuted)
    page_size: int  # the target's: the machine's offsets, lengths and page indices are in its pages


@dataclass(frozen=True)
class SequencesSeen:
    examples: int  # sequences run, shrinking included
    steps: int
    forks: int
    claim: str | None  # the catalog claim whose invariant broke (None: every step agreed with the model)
    detail: str  # how it broke
    reproduction: str  # the shrunk sequence as a Python script
    reproduced: bool  # False: the failure did not happen again when Hypothesis replayed it


def _discrepancy(error: BaseException) -> ModelDiscrepancy | None:
    if isinstance(error, ModelDiscrepancy):
        return error
    for inner in getattr(error, "exceptions", ()):
        found = _discrepancy(inner)
        if found is not None:
            return found
    return None


def run_sequences(workspace: Workspace, case: SequenceRun, platform: Platform, directory: str,
                  machine: type[ModelMachine] = ModelMachine, base: settings | None = None) -> SequencesSeen:
    """Run the state machine on fresh files in ``workspace``; ``directory`` is the target, for the reproduction.

    The Hypothesis profile in force (``base``: deadline, derandomize, database) applies, with ``case``'s budget."""
    base = base or settings.default
    stats = RunStats()

    def factory() -> ModelMachine:  # a plain function: Hypothesis keys its example database on its source
        return machine(workspace=workspace, platform=platform, stats=stats, page_size=case.page_size)

    # No explain phase: it traces every line of the examples it reruns (3x slower here), and the shrunk
    # sequence already says what failed.
    budget = settings(base, max_examples=case.examples, stateful_step_count=case.steps_per_example,
                      report_multiple_bugs=False, phases=[p for p in base.phases if p != Phase.explain])
    try:
        run_state_machine_as_test(factory, settings=budget)
    except ModelDiscrepancy as found:
        return SequencesSeen(stats.examples, stats.steps, stats.forks, found.claim, found.detail,
                             reproduction(getattr(found, "__notes__", []), machine, directory, case.page_size), True)
    except Flaky as flaky:  # the kernel did not do the same again when Hypothesis replayed the sequence
        found = _discrepancy(flaky)
        if found is None and stats.last is None:
            raise
        claim, detail, steps = stats.last if found is None else (found.claim, found.detail, stats.last[2])
        notes = getattr(flaky, "__notes__", []) + getattr(found, "__notes__", [])
        if not any(line.startswith("state.") for note in notes for line in note.splitlines()):
            notes = steps  # not shrunk: the steps that led to it the first time
        return SequencesSeen(stats.examples, stats.steps, stats.forks, claim, detail,
                             reproduction(notes, machine, directory, case.page_size), False)
    return SequencesSeen(stats.examples, stats.steps, stats.forks, None, "", "", True)


def judge_sequences_consistent(case: SequenceRun, seen: SequencesSeen) -> Finding:
    """MODEL-1: every step of every sequence left the file and its mappings as the model says."""
    if seen.steps == 0:
        return refuted("no step ran: nothing was checked")
    if seen.claim is None:
        return holds()
    cat = catalog()
    name = cat[seen.claim].name if seen.claim in cat else "not a catalog claim"
    replay = "" if seen.reproduced else " (it did not happen again when the sequence was replayed)"
    return refuted(f"{seen.claim} ({name}) broke under a random sequence{replay}: {seen.detail}\n"
                   f"minimal sequence ({steps_in(seen.reproduction)} steps), runnable from the checkout:\n"
                   f"{seen.reproduction}")
