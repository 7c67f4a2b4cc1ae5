"""The suite as a user runs it: bad targets give one clear line; a run writes the report and the table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[1]


def run_suite(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "suite"), "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess, message: str) -> None:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert "Traceback" not in output
    assert output.splitlines() == [f"ERROR: {message}"], output


def test_missing_target(tmp_path):
    missing = tmp_path / "missing"
    assert_one_clear_line(run_suite("--target-dir", str(missing)), f"target directory {missing} does not exist")


def test_target_is_a_file(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    assert_one_clear_line(run_suite("--target-dir", str(file)), f"target {file} is not a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any directory whatever its mode")
def test_target_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_one_clear_line(run_suite("--target-dir", str(locked)), f"target directory {locked} is not writable by this user")


@pytest.fixture
def read_only_mount(tmp_path):
    point = tmp_path / "ro"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only filesystem needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "mmapconf-test-ro", str(point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_target_on_read_only_mount(read_only_mount):
    assert_one_clear_line(run_suite("--target-dir", str(read_only_mount)),
                          f"target directory {read_only_mount} is on a read-only mount")


def test_run_reports_every_claim_per_target(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    report = tmp_path / "report.json"
    result = run_suite("-k", "SYNC-4", "--target-dir", str(first), "--target-dir", str(second),
                       "--report", str(report), "--hypothesis-profile", "ci")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mmapconf verdicts" in result.stdout and f"report: {report}" in result.stdout
    document = json.loads(report.read_text())
    assert document["format"] == "mmapconf-report" and document["version"] == 1
    assert [t["directory"] for t in document["targets"]] == [str(first), str(second)]
    catalog_ids = [c.id for c in load_catalog().claims]
    assert [c["id"] for c in document["claims"]] == catalog_ids
    cells = {(r["claim"], r["target"]): r for r in document["results"]}
    assert len(cells) == len(catalog_ids) * 2
    for target in document["targets"]:
        cell = cells[("SYNC-4", target["id"])]
        assert cell["verdict"] in ("holds", "refuted") and cell["examples"] > 0
        assert cells[("OPEN-1", target["id"])]["verdict"] == "not run"
    assert document["host"]["page_size"] > 0 and document["targets"][0]["fs"]["type"]
    assert not list(first.iterdir()) and not list(second.iterdir()), "the run left files in its targets"
