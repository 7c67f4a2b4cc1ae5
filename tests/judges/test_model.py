"""MODEL judges can fail."""

from __future__ import annotations

from suite.scenarios import model
from tests.judges.helpers import self_tests

RUN = model.SequenceRun("ext4", 40, 80, {"BUS-5/copied": "sigbus", "EOF-3": "holds"}, 4096)
REPRO = ("from suite.model.machine import ModelMachine\nfrom suite.model.platform_choice import platform_at\n"
         "state = ModelMachine('/tmp', platform=platform_at('/tmp'))\ntry:\n"
         "    state.start(size=1, fill=1)\n    state.truncate(by='self', size=0)\nfinally:\n    state.teardown()")

CASES = {
    model.judge_sequences_consistent: (RUN, model.SequencesSeen(40, 3100, 120, None, "", "", True), [
        # a step broke a claim's invariant
        model.SequencesSeen(12, 200, 5, "BUS-3", "byte at file offset 7 (past EOF 5) reads 0x41, the model says 0x00",
                            REPRO, True),
        # the same, but Hypothesis could not make it happen again
        model.SequencesSeen(12, 200, 5, "EOF-7", "read() at file offset 1 returns 0x02", REPRO, False),
        # a discrepancy naming no catalog claim still refutes
        model.SequencesSeen(1, 3, 0, "NOT-1", "?", REPRO, True),
        # nothing ran: nothing was checked
        model.SequencesSeen(0, 0, 0, None, "", "", True),
    ]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)


def test_refutation_names_the_claim_and_carries_the_reproduction():
    finding = model.judge_sequences_consistent(RUN, CASES[model.judge_sequences_consistent][2][0])
    assert finding.detail.startswith("BUS-3 (TruncateKeepsPageHoldingNewEOFReadableZeroTail)")
    assert REPRO in finding.detail and "(2 steps)" in finding.detail
