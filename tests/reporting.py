"""A real run of the suite, shared by the report tests (two targets, a few claims)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def real_run(directory: Path, *extra: str) -> Path:
    """Run a few claims on a directory and on /dev/shm (when present); the JSON report's path."""
    first = directory / "target"
    first.mkdir()
    targets = [f"--target-dir={first}"] + (["--target-dir=/dev/shm"] if os.path.isdir("/dev/shm") else [])
    report = directory / "run.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "suite"), "-q", "-p", "no:cacheprovider", "-k", "SYNC-4 or EOF-1 or FORK-2",
         "--hypothesis-profile=ci", f"--report={report}", *targets, *extra],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600,
    )
    assert report.is_file(), done.stdout + done.stderr
    return report
