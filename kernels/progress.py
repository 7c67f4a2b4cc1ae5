"""The kernel matrix's progress on the terminal, followed in each run's pytest -v lines (the host run's output,
a guest's console)."""

from __future__ import annotations

import os
import re
import sys
import threading

# pytest -v with console_output_style=count (kernels/runs.py, pytest_command):
# "suite/test_x.py::test_y[OPEN-1:ext4] PASSED [  12/1530]" (the test ID names its claim and its target)
PROGRESS = re.compile(r"^(?P<node>\S+::\S+) (?P<outcome>PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR)\b.*?"
                      r"\[\s*(?P<done>\d+)/(?P<total>\d+)\]\s*$")


def parse_progress(line: str) -> dict | None:
    """A progress line -> {node, outcome, target, done, total}; None for any other line."""
    match = PROGRESS.match(line)
    if not match:
        return None
    node = match["node"]
    target = node[node.rindex("[") + 1:-1].rpartition(":")[2] if node.endswith("]") and "[" in node else ""
    path, _, test = node.partition("::")  # the file without its directory (a claim ID may hold a / too)
    return {"node": f"{path.rpartition('/')[2]}::{test}", "outcome": match["outcome"], "target": target,
            "done": int(match["done"]), "total": int(match["total"])}


class Progress:
    """Which kernel, which filesystem, how far. On a terminal one status line shows every run at once; otherwise
    a line whenever a run reaches another filesystem or another tenth of its tests."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.lock = threading.Lock()
        self.status: dict[str, str] = {}
        self.last: dict[str, tuple] = {}
        self.dirty = False

    def _clear(self) -> None:
        if self.dirty:
            self.stream.write("\r\033[K")
            self.dirty = False

    def say(self, text: str) -> None:
        with self.lock:
            self._clear()
            self.stream.write(text + "\n")
            self._draw()
            self.stream.flush()

    def _draw(self) -> None:
        if self.tty and self.status:
            width = os.get_terminal_size(self.stream.fileno()).columns - 1
            self.stream.write(" | ".join(self.status.values())[:width])
            self.dirty = True

    def done(self, label: str) -> None:
        with self.lock:
            self.status.pop(label, None)

    def test(self, label: str, progress: dict) -> None:
        how_far = f"{progress['done']}/{progress['total']}"
        if self.tty:
            with self.lock:
                self._clear()
                self.status[label] = f"{label}: {how_far} {progress['target']} {progress['node'].split('::')[-1][:40]}"
                self._draw()
                self.stream.flush()
            return
        key = (progress["target"], progress["done"] * 10 // progress["total"])
        if key != self.last.get(label):
            self.last[label] = key
            self.say(f"[{label}] {how_far:>9} {progress['target']:<14} {progress['node'][:70]} {progress['outcome']}")
