"""MODEL: the catalog's claims together, under random operation sequences (suite/model/)."""

from __future__ import annotations

import pytest
from hypothesis import settings

from harness.expectations import has_small_blocks
from suite.model.platform_choice import fs_names_for_model, platform_for
from suite.model.sequences import run_sequences
from suite.scenarios import model as scenario
from harness.verdicts import ClaimRefuted

# The longest sequence. Long sequences reach the interesting states (a mapping, stores past EOF, a truncation,
# a growth) far more often per step than short ones, which pay the file and process set-up again and again.
# The default profile's 40 sequences of up to 80 steps take about 2 s per target here (1,500-2,000 steps/s on
# ext4), more when a failure has to be shrunk. Measured with 40 x 80 and random seeds (benchmarks/model_rate.py
# --runs): 50 of 50 runs on tmpfs, ramfs, overlay-tmpfs and bindfs, and 49 of 50 on the Python FUSE passthrough,
# found the inconsistency recorded there; none of 20 runs each on ext4, ext2 and ext4 with 1 KiB blocks, xfs,
# btrfs and overlay-ext4 (6.18) found one.
STEPS_PER_SEQUENCE = 80
# At least as many sequences as the expectations were measured with, whatever the profile: the kernel matrix's
# 3 examples per claim would run 3 sequences, which miss the inconsistencies recorded for tmpfs, FUSE and vfat.
# Derandomized profiles (ci, kernel-matrix) then run the same 40 sequences, so their verdicts agree.
MIN_SEQUENCES = 40


@pytest.mark.claim("MODEL-1")
def test_catalog_claims_hold_together_under_random_sequences(conformance, target, pytestconfig):
    # Hypothesis draws each sequence whole in this process and shrinks a failing one (suite/model/sequences.py);
    # the scenario server runs each, with this profile's max_examples as the number of sequences (at least
    # MIN_SEQUENCES).
    platform, taken = platform_for(fs_names_for_model(target.fs), pytestconfig.getoption("expectations"),
                                   has_small_blocks(target.fs))
    if platform is None:
        conformance.unsupported(taken["unsupported"])
    sequences = max(settings.default.max_examples, MIN_SEQUENCES)
    case = scenario.SequenceRun(target.fs["type"], sequences, STEPS_PER_SEQUENCE, taken, target.page_size)
    seen = run_sequences(conformance.observe, conformance.workspace, case, platform, target.directory)
    try:
        conformance.judge(scenario.judge_sequences_consistent, case, seen, examples=seen.examples)
    except ClaimRefuted as refutation:
        refutation.add_note(seen.reproduction)  # the report's counterexample carries the script as is
        raise
