"""benchmarks/model_rate.py: it runs the model as the claim test does (a scenario server) and prints its figures.

No timing is asserted: only that the figures are there and count what ran.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "model_rate.py"), *args],
                          capture_output=True, text=True, timeout=600, cwd=cwd)


def test_the_rate_counts_the_steps_it_ran_and_leaves_nothing(tmp_path):
    done = run_benchmark(str(tmp_path), "--steps", "100")
    assert done.returncode == 0, done.stdout + done.stderr
    rate = re.match(rf"{re.escape(str(tmp_path))} \(\w+\): (\d+) steps in (\d+) sequences, [\d.]+ s: \d+ steps/s, "
                    r"[\d.]+ forks/step", done.stdout.splitlines()[0])
    assert rate and int(rate[1]) >= 100 and int(rate[2]) >= 2, done.stdout
    assert done.stdout.splitlines()[1].startswith(("fsx: not available here", "  fsx: "))
    assert list(tmp_path.iterdir()) == []


def test_without_a_directory_it_runs_in_the_current_one(tmp_path):
    done = run_benchmark("--steps", "20", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"{tmp_path} ("), done.stdout
    assert [path.name for path in tmp_path.iterdir()] in ([], [".hypothesis"])  # Hypothesis's own, in the cwd


def test_runs_say_how_many_found_a_discrepancy(tmp_path):
    done = run_benchmark(str(tmp_path), "--runs", "2", "--sequences", "3", "--sequence-length", "10")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.match(rf"{re.escape(str(tmp_path))} \(\w+\): [012] of 2 runs of 3 x 10 found a discrepancy \(",
                    done.stdout), done.stdout


def test_a_mistake_is_one_line(tmp_path):
    for args in [(str(tmp_path), "--runs", "0"), (str(tmp_path), "--steps", "x"), (str(tmp_path / "absent"),)]:
        done = run_benchmark(*args)
        assert done.returncode == 2 and done.stderr.splitlines()[-1].startswith("model_rate.py: error: "), done.stderr
        assert "Traceback" not in done.stderr
