"""MODEL-1's property, in the claim test's process: Hypothesis draws each sequence whole, as a program of words
(suite/model/machine.py says what a word does), has the scenario server run it (suite/scenarios/model.py), and
shrinks a sequence that broke the model to the fewest, simplest steps that still break it."""

from __future__ import annotations

from typing import Any, Callable

from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky

from fixtures.files import Workspace
from harness.findings import found_in
from suite.model.machine import ModelMachine
from suite.model.reference import Platform
from suite.model.reproduction import reproduction
from suite.scenarios.model import ProgramSeen, SequenceRun, SequencesSeen, run_program

# A word's bits are uniform: Hypothesis draws integers of a wide range mostly small, which would leave a word's
# high digits (its last arguments) at their first choices. A smaller word is still simpler (the shrinker lowers
# its first bytes first: the last arguments' digits).
WORD_BYTES = 12  # room for every rule's arguments up to 2 MiB pages, with some to spare (tests/test_page_sizes.py)
WORDS = st.binary(min_size=WORD_BYTES, max_size=WORD_BYTES).map(lambda raw: int.from_bytes(raw, "big"))


def programs(steps: int) -> st.SearchStrategy[tuple[int, list[int]]]:
    """A header word and ``steps`` step words. The list has a fixed length: a sequence is shortened by zeroing
    words (no step), which keeps every other word where it was."""
    return st.tuples(WORDS, st.lists(WORDS, min_size=steps, max_size=steps))


class SequenceBroke(AssertionError):
    """A sequence broke the model; carries what the server saw."""

    def __init__(self, seen: ProgramSeen):
        super().__init__(f"{seen.claim}: {seen.detail}")
        self.seen = seen


def run_sequences(observe: Callable[..., Any], workspace: Workspace, case: SequenceRun, platform: Platform,
                  directory: str, machine: type[ModelMachine] = ModelMachine,
                  base: settings | None = None) -> SequencesSeen:
    """``case.examples`` sequences (more while shrinking), each run by ``observe(run_program, ...)`` (the claim
    test's scenario server); ``directory`` is the target, for the reproduction.

    The Hypothesis profile in force (``base``: derandomize, database, phases) applies, with ``case``'s budget."""
    base = base or settings.default
    totals = {"examples": 0, "steps": 0, "forks": 0}
    # No explain phase: it reruns examples to trace them, and the shrunk sequence already says what failed.
    budget = settings(base, max_examples=case.examples, report_multiple_bugs=False,
                      phases=[p for p in base.phases if p != Phase.explain])

    @budget
    @given(programs(case.steps_per_example))
    def sequence_agrees_with_the_model(program):
        header, words = program
        seen = observe(run_program, workspace, platform, case.page_size, header, tuple(w for w in words if w), machine)
        totals["examples"] += 1
        totals["steps"] += seen.steps
        totals["forks"] += seen.forks
        if seen.claim is not None:
            raise SequenceBroke(seen)

    def outcome(broke: SequenceBroke, reproduced: bool) -> SequencesSeen:
        script = reproduction(list(broke.seen.log), machine, directory, case.page_size)
        return SequencesSeen(totals["examples"], totals["steps"], totals["forks"], broke.seen.claim,
                             broke.seen.detail, script, reproduced)

    try:
        sequence_agrees_with_the_model()
    except SequenceBroke as broke:
        return outcome(broke, True)
    except Flaky as flaky:  # the kernel did not do the same again when Hypothesis replayed the sequence
        broke = found_in(flaky, SequenceBroke)
        if broke is None:
            raise
        return outcome(broke, False)
    return SequencesSeen(totals["examples"], totals["steps"], totals["forks"], None, "", "", True)
