"""A real run of the suite, shared by the report tests (two targets, a few claims); a large matrix made from it
(also for benchmarks/html_report.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reports.matrix import merge

ROOT = Path(__file__).resolve().parents[1]


def real_run(directory: Path, *extra: str) -> Path:
    """Run a few claims on a directory and on /dev/shm (when present); the JSON report's path."""
    first = directory / "target"
    first.mkdir()
    targets = [f"--target-dir={first}"] + (["--target-dir=/dev/shm"] if os.path.isdir("/dev/shm") else [])
    report = directory / "run.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), str(ROOT / "suite"), "-q", "-p", "no:cacheprovider", "-k", "SYNC-4 or EOF-1 or FORK-2",
         "--hypothesis-profile=ci", f"--report={report}", *targets, *extra],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600,
    )
    assert report.is_file(), done.stdout + done.stderr
    return report


def synthetic(model: dict, claims: int, columns: int) -> dict:
    """A claims x columns matrix made of copies of one real cell of ``model`` (for size tests and benchmarks)."""
    cell = next(c for c in model["results"] if c["verdict"] != "not run")
    claim = next(c for c in model["claims"] if c["id"] == cell["claim"])
    column = next(c for c in model["columns"] if c["id"] == cell["column"])
    new_claims = [dict(claim, id=f"BIG-{i}", name=f"BigClaim{i}", topic="big") for i in range(claims)]
    new_columns = [dict(column, id=f"{column['kernel_release']}/{column['fs_type']}/t{j}", target=f"t{j}")
                   for j in range(columns)]
    cells = [dict(cell, claim=c["id"], column=k["id"]) for c in new_claims for k in new_columns]
    return merge([{"claims": new_claims, "columns": new_columns, "results": cells}])
