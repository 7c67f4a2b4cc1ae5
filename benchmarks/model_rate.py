"""Benchmark: steps per second of the model-based test (suite/model/), per directory, and fsx's rate if fsx is here.

    python benchmarks/model_rate.py [DIR ...] [--fs NAME,...] [--steps N] [--sequence-length L]
    python benchmarks/model_rate.py [DIR ...] [--fs NAME,...] --runs R [--sequences S]

With neither a directory nor ``--fs``: the current directory (the suite's default target).

``--fs`` (root) provisions filesystems as the suite's ``--fs`` does (fixtures/provision.py) and removes them after.

For each directory: random sequences (Hypothesis generation only, no shrinking), drawn here and run in a
scenario server as the claim test runs them (suite/model/sequences.py), until N steps have run; prints steps/s
and forks per step. A sequence that finds a discrepancy ends there and the next one starts, so the figure is
throughput on that filesystem either way (the discrepancies found are counted). Then, if an ``fsx`` binary
(xfstests' file system exerciser) is on PATH, fsx's operations per second on a file in the same directory, with
mapped reads and writes on (its defaults: each mapped write is followed by msync(MS_SYNC)).

With ``--runs R``: R runs of the claim test's property (S sequences each, random seeds, no shrinking), and how
many found a discrepancy, by claim: how sure one run is to find what the expectations record for a filesystem.

Prints figures; decides nothing (timings are never test verdicts).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, settings  # noqa: E402

from fixtures import libc, provision, scenario_server  # noqa: E402
from fixtures.files import Workspace  # noqa: E402
from fixtures.platform import fs_identity  # noqa: E402
from kernels.arguments import count  # noqa: E402
from suite.model.platform_choice import fs_names_for_model, platform_for  # noqa: E402
from suite.model.sequences import run_sequences  # noqa: E402
from suite.scenarios.model import SequenceRun  # noqa: E402


@contextlib.contextmanager
def _model_at(directory: Path, provisioned: dict | None) -> Iterator[tuple | None]:
    """What the claim test has on ``directory``: its platform, a scenario server and a workspace (None, said why,
    when the model cannot run there)."""
    fs_type = fs_identity(str(directory)).type
    platform, taken = platform_for(fs_names_for_model({"type": fs_type, "provisioned": provisioned}))
    if platform is None:
        print(f"{directory} ({fs_type}): the model cannot run here: {taken['unsupported']}")
        yield None
        return
    scenario_server.start_zygote()
    server = scenario_server.server()
    try:
        with tempfile.TemporaryDirectory(dir=directory, prefix=".mmapconf-bench-") as scratch:
            # an overlay's files start in its lower layer
            yield fs_type, platform, server.observe, Workspace(Path(scratch), provisioned)
    finally:
        server.close()
        scenario_server.stop_zygote()


# Generation only (no shrinking, no example database), from a random seed each time.
GENERATE = settings(deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))


def machine_rate(directory: Path, steps_wanted: int, length: int, provisioned: dict | None = None) -> None:
    with _model_at(directory, provisioned) as model:
        if model is None:
            return
        fs_type, platform, observe, workspace = model
        found: dict[str, int] = {}
        steps = forks = sequences = 0
        case = SequenceRun(fs_type, 10, length, {}, libc.PAGE_SIZE)
        started = time.perf_counter()
        while steps < steps_wanted:
            seen = run_sequences(observe, workspace, case, platform, str(directory), base=GENERATE)
            steps, forks, sequences = steps + seen.steps, forks + seen.forks, sequences + seen.examples
            if seen.claim is not None:
                found[seen.claim] = found.get(seen.claim, 0) + 1
        elapsed = time.perf_counter() - started
    print(f"{directory} ({fs_type}): {steps} steps in {sequences} sequences, {elapsed:.1f} s: "
          f"{steps / elapsed:.0f} steps/s, {forks / steps:.2f} forks/step"
          + (f"; discrepancies (sequence ended there): {found}" if found else ""))


def find_rate(directory: Path, runs: int, sequences: int, length: int, provisioned: dict | None = None) -> None:
    """How many of ``runs`` runs of the claim test's property (``sequences`` sequences each, random seeds, no
    shrinking) found a discrepancy, by the claim blamed: how sure a run is to find what the expectations record."""
    with _model_at(directory, provisioned) as model:
        if model is None:
            return
        fs_type, platform, observe, workspace = model
        case = SequenceRun(fs_type, sequences, length, {}, libc.PAGE_SIZE)
        found: Counter = Counter()
        started = time.perf_counter()
        for _ in range(runs):
            found[run_sequences(observe, workspace, case, platform, str(directory), base=GENERATE).claim] += 1
        elapsed = time.perf_counter() - started
    missed = found.pop(None, 0)
    print(f"{directory} ({fs_type}): {runs - missed} of {runs} runs of {sequences} x {length} found a discrepancy "
          f"({', '.join(f'{claim} {n}' for claim, n in found.most_common()) or 'none'}), {elapsed:.0f} s")


def fsx_rate(directory: Path, operations: int) -> None:
    fsx = shutil.which("fsx")
    if fsx is None:
        print("fsx: not available here (no fsx on PATH; xfstests, which builds it, is not packaged by Debian)")
        return
    with tempfile.TemporaryDirectory(dir=directory, prefix=".mmapconf-bench-") as scratch:
        started = time.perf_counter()
        done = subprocess.run([fsx, "-q", "-N", str(operations), "-P", scratch, str(Path(scratch) / "fsx-file")],
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    status = "" if done.returncode == 0 else f" (exit status {done.returncode})"
    print(f"  fsx: {operations} operations in {elapsed:.1f} s: {operations / elapsed:.0f} ops/s{status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="*", type=Path,
                        help="directories to run in (default, without --fs: the current directory)")
    parser.add_argument("--fs", default="", help="filesystems to provision (root), e.g. ext4,xfs,btrfs,fuse-python")
    parser.add_argument("--steps", type=count, default=5000, help="steps to run per directory (default 5000)")
    parser.add_argument("--sequence-length", type=count, default=80,
                        help="longest sequence (default 80, as the test)")
    parser.add_argument("--runs", type=count,
                        help="instead of the rate: this many runs of the claim test's property, and how many found a "
                             "discrepancy")
    parser.add_argument("--sequences", type=count, default=40,
                        help="sequences per run with --runs (default 40, as the test)")
    args = parser.parse_args()
    if not args.directories and not args.fs:
        args.directories = [Path.cwd()]
    missing = [str(directory) for directory in args.directories if not directory.is_dir()]
    if missing:
        parser.error(f"not a directory: {', '.join(missing)}")

    def measure(directory: Path, provisioned: dict | None = None) -> None:
        if args.runs:
            find_rate(directory, args.runs, args.sequences, args.sequence_length, provisioned)
        else:
            machine_rate(directory, args.steps, args.sequence_length, provisioned)
            fsx_rate(directory, args.steps * 10)

    for directory in args.directories:
        measure(directory)
    names = [name for name in args.fs.split(",") if name]
    if names:
        # An absolute path: the ledger checks each mount's source against what it recorded before it undoes it.
        with tempfile.TemporaryDirectory(prefix=".mmapconf-bench-fs-", dir=Path.cwd().resolve()) as parent:
            ledger, made = provision.provision(names, Path(parent))
            try:
                for fs in made:
                    if fs.directory is None:
                        print(f"{fs.name}: not provisioned: {fs.reason}")
                        continue
                    print(f"[{fs.name}]", end=" ")
                    measure(fs.directory, fs.facts)
            finally:
                for problem in ledger.teardown():
                    print(f"teardown: {problem}")


if __name__ == "__main__":
    main()
