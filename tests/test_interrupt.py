"""Ctrl-C under ./mmapconf suite, once or twice, as a terminal sends it: to the whole process group (xdist workers
and the tests' children too). The run ends with pytest's status for an interrupted run (2), the table and the
report of what finished, no traceback, nothing left running, no run directory, nothing left mounted.

./mmapconf makes .tox/suite on first use, which needs the package index: without it, these tests skip."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from fixtures import mounts, provision
from fixtures.run_dirs import RUN_PREFIX
from reports import validation

ROOT = Path(__file__).resolve().parents[1]
# A test's first result on pytest's progress line: after the test file's name, or after xdist's "workers [N items]".
FIRST_RESULT = re.compile(r"(\.py |workers \[\d+ items?\]\n\n)[.sxXFE]")
INTERRUPTED = re.compile(re.escape("mmapconf: interrupted (SIGINT): reporting what finished and cleaning up"))
PATIENCE_S = 300  # for a run to reach its first result or to end; only a broken run takes this long


@pytest.fixture(scope="module", autouse=True)
def suite_environment() -> None:
    made = subprocess.run([str(ROOT / "mmapconf"), "suite", "--version"], capture_output=True, text=True,
                          timeout=900)
    if not (ROOT / ".tox" / "suite" / "bin" / "python").exists():
        lines = (made.stdout + made.stderr).strip().splitlines() or ["no output"]
        pytest.skip(f"./mmapconf could not make .tox/suite: {lines[-1]}")
    assert made.returncode == 0, made.stdout + made.stderr


class Run:
    """./mmapconf suite in a session of its own, so its process group is what a terminal's job would be; its output
    (stdout and stderr, interleaved as a terminal shows them) is read as it comes."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([str(ROOT / "mmapconf"), "suite", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.group = self.process.pid
        self._output = b""
        self._closed = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            with self._changed:
                self._output += chunk
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return self._output.decode(errors="replace")

    def wait_for_output(self, pattern: re.Pattern) -> None:
        with self._changed:
            self._changed.wait_for(lambda: pattern.search(self.output) or self._closed, timeout=PATIENCE_S)
        assert pattern.search(self.output), f"the run never printed {pattern.pattern!r}; it printed:\n{self.output}"

    def interrupt(self) -> None:
        """SIGINT to the whole group, as a terminal's Ctrl-C."""
        os.killpg(self.group, signal.SIGINT)

    def finish(self) -> int:
        status = self.process.wait(timeout=PATIENCE_S)
        self._reader.join(timeout=PATIENCE_S)  # EOF once no process of the group holds the output open
        return status

    def left_running(self) -> list[str]:
        """The processes still in the run's group, once those on their way out have gone (a grace of seconds)."""
        deadline = time.monotonic() + 5
        while (left := group_members(self.group)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def kill(self) -> None:
        """After a failure: stop whatever is left of the group, so a broken run does not outlive the test."""
        try:
            os.killpg(self.group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def group_members(group: int) -> list[str]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it has exited meanwhile
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after its last ")"
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(f"{stat.parent.name} {text[text.index('(') + 1:text.rindex(')')]}")
    return members


def mounted_under(directory: str) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [point for point in points if point == directory or point.startswith(directory.rstrip("/") + "/")]


def interrupted_run(tmp_path: Path, interrupts: int, *options: str) -> tuple[int, str, dict]:
    """Start a run, interrupt it once it has a result (a second time once it is cleaning up), and return its exit
    status, its output and its report, checking on the way that nothing of it is left running."""
    report = tmp_path / "report.json"
    # thorough: 500 examples a claim, so the run is still far from its end when it is interrupted
    run = Run(*options, "--target-dir", str(tmp_path), "--report", str(report), "--hypothesis-profile", "thorough")
    try:
        run.wait_for_output(FIRST_RESULT)
        run.interrupt()
        if interrupts == 2:
            run.wait_for_output(INTERRUPTED)  # the report and teardown are under way: Ctrl-C again
            run.interrupt()
        status = run.finish()
        left = run.left_running()
    finally:
        if run.process.poll() is None or group_members(run.group):
            run.kill()
    output = run.output
    assert not left, f"still running after the run ended: {left}\n{output}"
    assert report.exists(), f"no report:\n{output}"
    return status, output, json.loads(report.read_text())


def assert_reported_what_finished(status: int, output: str, document: dict, tmp_path: Path) -> None:
    assert status == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output, output
    assert INTERRUPTED.search(output) and "mmapconf verdicts" in output, output
    assert f"report: {tmp_path / 'report.json'}" in output, output
    assert validation.first_problem(document, "mmapconf-report-v1") is None
    assert document["run"]["exit_status"] == pytest.ExitCode.INTERRUPTED
    verdicts = [cell["verdict"] for cell in document["results"]]
    assert "not run" in verdicts, "the run was not interrupted: every claim ran"
    assert set(verdicts) - {"not run"}, "the report has none of the tests that finished"
    assert not list(tmp_path.glob(RUN_PREFIX + "*")), "the run left its run directory"


@pytest.mark.parametrize("interrupts", [1, 2], ids=["once", "twice"])
@pytest.mark.parametrize("workers", [["-n", "2"], ["-n", "0"]], ids=["xdist", "one-process"])
def test_ctrl_c_reports_what_finished_and_leaves_nothing(tmp_path, workers, interrupts):
    status, output, document = interrupted_run(tmp_path, interrupts, *workers)
    assert_reported_what_finished(status, output, document, tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="--fs provisions filesystems as root")
def test_ctrl_c_twice_unmounts_what_the_run_provisioned(tmp_path):
    if provision.availability().get("tmpfs") is not None:
        pytest.skip(f"--fs tmpfs: {provision.availability()['tmpfs']}")
    status, output, document = interrupted_run(tmp_path, 2, "-n", "2", "--fs", "tmpfs")
    assert_reported_what_finished(status, output, document, tmp_path)
    [mount_point] = [Path(target["directory"]) for target in document["targets"] if target["id"] == "tmpfs"]
    [provisioning_dir] = [p for p in mount_point.parents if p.name.startswith(mounts.PREFIX)]
    assert not mounted_under(str(provisioning_dir)), output
    assert not provisioning_dir.exists(), "the provisioning directory is left"
