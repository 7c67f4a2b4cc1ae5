"""Run directories: made 0700 in each target, removed at the end, also after SIGTERM; stale ones cleaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures.run_dirs import OWNER_PREFIX, RUN_PREFIX, make_run_dir, remove_stale_run_dirs, run_dir_owner

ROOT = Path(__file__).resolve().parents[1]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_run_dir_is_private_and_owned(tmp_path):
    run_dir = make_run_dir(tmp_path)
    assert run_dir.parent == tmp_path and run_dir.name.startswith(RUN_PREFIX)
    assert run_dir.stat().st_mode & 0o777 == 0o700
    assert run_dir_owner(run_dir).split()[0] == str(os.getpid())


def test_only_stale_run_dirs_are_removed(tmp_path):
    live = make_run_dir(tmp_path)
    stale = tmp_path / f"{RUN_PREFIX}stale"
    stale.mkdir(mode=0o700)  # as make_run_dir() makes it
    (stale / f"{OWNER_PREFIX}{dead_pid()}-12345").touch()
    unowned = tmp_path / f"{RUN_PREFIX}unowned"
    unowned.mkdir()
    foreign = tmp_path / "someone-elses"
    foreign.mkdir()
    (foreign / f"{OWNER_PREFIX}{dead_pid()}-1").touch()
    assert remove_stale_run_dirs(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and unowned.exists() and foreign.exists()


def test_a_new_run_removes_what_a_killed_run_left(tmp_path):
    stale = tmp_path / f"{RUN_PREFIX}killed"
    stale.mkdir(mode=0o700)  # as make_run_dir() makes it
    (stale / f"{OWNER_PREFIX}{dead_pid()}-12345").touch()
    make_run_dir(tmp_path)
    assert not stale.exists()


def test_sigterm_removes_run_dirs(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), str(ROOT / "suite"), "-q", "-p", "no:cacheprovider",
         f"--target-dir={tmp_path}", "--hypothesis-profile=thorough", f"--report={tmp_path / 'r.json'}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(RUN_PREFIX + "*")):
            assert time.monotonic() < deadline and run.poll() is None, "the run never made its run directory"
            time.sleep(0.05)
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 0
    assert not list(tmp_path.glob(RUN_PREFIX + "*"))
