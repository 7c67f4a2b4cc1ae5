"""A run is parallel by default where two CPUs or more are usable (harness/parallel.py), and only then."""

from __future__ import annotations

import os
import re

import pytest

from tests.test_cli import run_suite

needs_two_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="this machine lets the test use one CPU")
ONE_CLAIM = ("--claim", "EOF-1", "--target-dir", "/dev/shm", "-v")  # -v: xdist says how many workers it made


def workers(output: str) -> int:
    """How many xdist workers the run had ("created: N/N workers"), 0 for none."""
    found = re.search(r"^created: (\d+)/\d+ workers?$", output, re.M)
    return int(found.group(1)) if found else 0


@needs_two_cpus
def test_a_run_without_n_has_a_worker_per_usable_cpu():
    done = run_suite(*ONE_CLAIM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert workers(done.stdout) == len(os.sched_getaffinity(0)) >= 2


@needs_two_cpus
@pytest.mark.parametrize("chosen", [("-n", "0"), ("-n", "1"), ("-p", "no:xdist")], ids=["n0", "n1", "no-xdist"])
def test_what_the_user_chose_stays(chosen):
    done = run_suite(*ONE_CLAIM, *chosen)
    assert done.returncode == 0, done.stdout + done.stderr
    assert workers(done.stdout) == (1 if chosen == ("-n", "1") else 0)


def test_with_one_usable_cpu_a_run_stays_in_one_process():
    done = run_suite(*ONE_CLAIM, preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout and workers(done.stdout) == 0
