"""The record of every process a kernel matrix starts (each QEMU, and the host's own suite run).

Each is recorded in ``<cache>/runs/run-*/record.json`` before it starts (for
QEMU a marker in its command line, ``-name mmapconf-run-…``) and once it runs
(pid and start time): teardown kills what is left, and a run killed with
SIGKILL is cleaned up by the next one, which kills only processes that carry
its marker or its recorded pid and start time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from fixtures.owners import OwnedRecord, owner_alive, owner_record, start_time

RUN_PREFIX = "run-"
RECORD = "record.json"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def processes_with(marker: str) -> list[int]:
    """Pids of processes whose command line has ``marker`` as one of its arguments."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and marker in _cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


def _kill(pids: list[int], grace: float = 30.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace`` seconds (QEMU ends at once; the host's suite run needs the time to
    tear its filesystems down); the pids still there."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            pids = [p for p in pids if start_time(p) is not None and not _zombie(p)]
            if not pids:
                return []
            time.sleep(0.05)
    return pids


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False


@dataclass
class ProcessLedger(OwnedRecord):
    """A run's directory under ``<cache>/runs`` and its record of the processes it starts (QEMU, the host's
    suite run). Safe to use from several threads (guests run in parallel)."""

    RECORD: ClassVar[str] = RECORD
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def create(cls, cache: Path) -> "ProcessLedger":
        runs = cache / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        ledger = cls(Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=runs)))
        ledger._save()
        return ledger

    def marker(self, name: str) -> str:
        return f"mmapconf-{self.root.name}-{name}"

    def start(self, argv: list[str], marker: str, **popen) -> subprocess.Popen:
        """Start a process in a new session; ``marker`` names it in the record and, when it is one of its
        arguments (QEMU's -name), finds it even if the runner dies between starting and recording it."""
        entry = {"kind": "process", "marker": marker, "in_argv": marker in argv}
        with self.lock:
            self.entries.append(entry)
            self._save()  # recorded before it exists
        process = subprocess.Popen(argv, start_new_session=True, **popen)
        with self.lock:
            entry["owner"] = owner_record(process.pid)
            self._save()
        return process

    def stop(self, marker: str) -> list[int]:
        """Kill the run's process(es) recorded as ``marker`` (and their process group); the pids that would
        not die."""
        with self.lock:
            entries = [dict(e) for e in self.entries if e["marker"] == marker]
        pids: set[int] = set()
        for entry in entries:
            if entry.get("in_argv"):
                pids.update(processes_with(marker))
            if "owner" in entry and owner_alive(entry["owner"]):
                pid = int(entry["owner"].split()[0])
                if not entry.get("in_argv") or marker in _cmdline(pid):
                    pids.add(pid)
        for pid in list(pids):  # the process group too (the host run's pytest children)
            try:
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        return _kill(sorted(pids))

    def teardown(self, keep: bool = False) -> list[str]:
        """Kill what is left, newest first; remove the run directory (unless ``keep``). What could not be done."""
        problems = []
        with self.lock:
            markers = list(dict.fromkeys(e["marker"] for e in reversed(self.entries)))
        for marker in markers:
            left = self.stop(marker)
            if left:
                problems.append(f"{marker} (pid {', '.join(map(str, left))}) would not die")
        if not problems and not keep:
            shutil.rmtree(self.root, ignore_errors=True)
        elif keep:
            (self.root / RECORD).unlink(missing_ok=True)  # kept for inspection: nothing left to clean up
        return problems


def clean_stale(cache: Path) -> list[str]:
    """Tear down run directories (and their QEMU processes) left by runners that no longer exist."""
    return [problem for ledger in ProcessLedger.abandoned(cache / "runs", RUN_PREFIX) for problem in ledger.teardown()]


def processes_with_prefix(prefix: str) -> list[int]:
    """Pids of processes with an argument that starts with ``prefix`` (a run's markers: ``ProcessLedger.marker("")``)."""
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and int(entry.name) != os.getpid()
            and any(arg.startswith(prefix) for arg in _cmdline(int(entry.name)))]
