"""benchmarks/phases.py: its figures have the columns and parts it promises, and its phases account for the wall time.

No timing is asserted: the accounting checks hold whatever the machine's speed (each phase is a stretch of one
clock, CLOCK_MONOTONIC, shared by every process; the phases of a claim test are consecutive stretches of its
wall time, so they are never negative and add up to it, up to float rounding).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.phases import PHASES

ROOT = Path(__file__).resolve().parents[1]

ROUNDING = 1e-6  # seconds: float sums of a few hundred stretches


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "phases.py"), *args],
                          capture_output=True, text=True, timeout=600)


def test_one_claim_accounted_for(tmp_path):
    out = tmp_path / "phases.json"
    done = run_benchmark("--target-dir", str(tmp_path), "-k", "EOF-1", "--out", str(out), "--floor-samples", "5",
                         "--hypothesis-profile", "kernel-smoke")  # one drawn example (and the explicit ones)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["claim", "ex", "wall", "ms/ex", "xfork", "fk/ex", *PHASES]
    assert lines[2].split()[0] == "EOF-1" and lines[3].startswith("total (1 claims)")
    assert any(line.startswith("floors (ms; 5 samples each") for line in lines)
    assert any(line.startswith("cost per example: ") for line in lines)

    figures = json.loads(out.read_text())
    [row] = figures["claims"]
    assert row["claim"] == "EOF-1" and row["verdicts"] == ["holds"]
    assert row["examples"] >= row["judged"] >= 1
    assert all(row[phase] >= -ROUNDING for phase in PHASES), row
    assert abs(sum(row[phase] for phase in PHASES) - row["wall"]) < ROUNDING, row
    # EOF-1's scenario (file, mapping, the child reading the tail) runs in the scenario server
    assert row["server"] > 0 and row["judge"] > 0

    run = figures["run"]
    assert all(seconds >= -ROUNDING for seconds in run["pieces"].values()), run
    assert run["unaccounted"] >= -ROUNDING
    assert abs(run["pieces"]["claim tests"] - row["wall"]) < ROUNDING
    floors = figures["floors"]
    assert floors["samples"] == 5 and set(floors["measured"]) == {"before", "after"}
    assert floors["server_fork_wait"] > 0
    assert all(measured["hypothesis_examples"] >= 5 for measured in floors["measured"].values())
    assert set(floors["probe_split"]) == {"create", "call", "close"}


def test_parallel_run_refused():
    done = run_benchmark("-n", "2")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "phases.py: -n: the split is per process, so the suite runs serially here (no xdist options)"]


def test_suite_usage_error_is_pytests_one_line(tmp_path):
    missing = tmp_path / "missing"
    done = run_benchmark("--target-dir", str(missing))
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [f"ERROR: target directory {missing} does not exist"]


def test_log_recorded_elsewhere_gives_the_same_table(tmp_path):
    # A kernel guest's run is recorded by the plugin alone (pytest ... -p benchmarks.phases_plugin --phases-log).
    log = tmp_path / "phases.jsonl"
    recorded = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), str(ROOT / "suite"), "-q", "-n", "0", "-k", "EOF-1",
         "--target-dir", str(tmp_path), "--hypothesis-profile", "kernel-smoke", "-p", "benchmarks.phases_plugin",
         "--phases-log", str(log), "--phases-floor-samples", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    out = tmp_path / "phases.json"
    done = run_benchmark("--from-log", str(log), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"recorded in {log} (serial; process start and exit not recorded)"
    assert lines[1].split() == ["claim", "ex", "wall", "ms/ex", "xfork", "fk/ex", *PHASES]
    assert lines[2].split()[0] == "EOF-1"
    figures = json.loads(out.read_text())
    assert figures["claims"][0]["verdicts"] == ["holds"]
    assert figures["run"]["pieces"]["process start and imports"] == 0


def test_log_that_is_not_a_log_is_one_line(tmp_path):
    log = tmp_path / "phases.jsonl"
    log.write_text('{"kind": "item"}\n')
    done = run_benchmark("--from-log", str(log))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"phases.py: --from-log: {log} holds no finished run (the run was stopped before its end?)"]
    log.write_text('[1, 2]\n')
    done = run_benchmark("--from-log", str(log))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"phases.py: --from-log: {log} is not a phases log (a line is not one of its records)"]
    log.write_text('{"kind": \n')
    done = run_benchmark("--from-log", str(log))
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1 and "cannot read" in done.stderr
    done = run_benchmark("--from-log", str(log), "-k", "EOF-1")
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["phases.py: -k: --from-log runs nothing, so it takes no options for a run"]
