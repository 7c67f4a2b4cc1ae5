"""The machines over ssh: the client's command lines, each machine's probe (what it is, which python3), and the
remote run of the suite (lab/remote.py on the machine: the bundle in, its output and report back).

The system's ssh client does the connecting, so the user's configuration, keys and agent apply; it runs in
BatchMode (no prompt: a key it cannot use is a failure of that machine, not a hang).
"""

from __future__ import annotations

import collections
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kernels.progress import Progress, parse_progress
from lab.command_line import Machine, Options
from lab.remote import SAY

# The keepalives end a connection whose machine went away. The user's options come first: for ssh the first
# value given for an option wins.
SSH_DEFAULTS = ("BatchMode=yes", "ConnectTimeout=15", "ServerAliveInterval=15", "ServerAliveCountMax=4")
PROBE_TIMEOUT_S = 90
AGENT = Path(__file__).with_name("remote.py")
# One line per fact; an empty python= when there is no python3. The login shell may not be sh: this runs in sh -c.
PROBE = r"""echo "os=$(uname -s)"
echo "arch=$(uname -m)"
echo "release=$(uname -r)"
echo "version=$(uname -v)"
echo "page_size=$(getconf PAGESIZE)"
echo "euid=$(id -u)"
echo "capabilities=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"
echo "python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"
"""


class MachineFailure(Exception):
    """A machine that cannot run the suite (unreachable, an unexpected answer); the reason is one line."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def ssh_command(machine: Machine, options: Options, command: str) -> list[str]:
    argv = ["ssh", "-T"]
    if options.ssh_config is not None:
        argv += ["-F", str(options.ssh_config)]
    for option in (*options.ssh_options, *SSH_DEFAULTS):
        argv += ["-o", option]
    if machine.port is not None:
        argv += ["-p", str(machine.port)]
    return [*argv, "--", machine.destination, command]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass
class Probe:
    os: str
    arch: str  # uname -m
    release: str
    version: str
    page_size: int
    euid: int
    capabilities: int  # the effective set
    python: str | None  # "3.11"; None: no python3


def probe(machine: Machine, options: Options) -> Probe:
    try:
        done = subprocess.run(ssh_command(machine, options, "sh -c " + shlex.quote(PROBE)), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise MachineFailure("unreachable", f"no answer within {PROBE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise MachineFailure("unreachable", _last_line(done.stderr) or f"ssh exited with status {done.returncode}")
    facts = dict(line.partition("=")[::2] for line in done.stdout.splitlines())
    try:
        return Probe(os=facts["os"], arch=facts["arch"], release=facts["release"], version=facts["version"],
                     page_size=int(facts["page_size"]), euid=int(facts["euid"]),
                     capabilities=int(facts["capabilities"] or "0", 16), python=facts["python"] or None)
    except (KeyError, ValueError):
        raise MachineFailure("failed", f"unexpected answer to the probe (not a POSIX shell and tools?): "
                                       f"{done.stdout.strip()[:100]!r}") from None


@dataclass
class Outcome:
    status: str  # ok (a report came back), failed, timeout
    reason: str
    report: bytes
    total_s: float
    remote_dir: str | None  # where the agent ran the suite
    removed: bool  # the agent said it removed that directory
    tail: list[str] = field(default_factory=list)


class RemoteRun:
    """One machine's run: ssh starts the agent, which gets the bundle on its standard input; the suite's output
    comes back on standard error (progress), the report on standard output. ``stop`` asks the agent to stop the
    suite (its standard input closes), and the agent removes its directory; ``kill`` ends the ssh client."""

    def __init__(self, machine: Machine, options: Options, bundle: Path, progress: Progress):
        self.machine, self.options, self.bundle, self.progress = machine, options, bundle, progress
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.stopping: str | None = None  # why: timeout, interrupted
        self.sent = False
        self.remote_dir: str | None = None
        self.removed = False
        self.messages: list[str] = []  # the agent's own lines
        self.tail: collections.deque[str] = collections.deque(maxlen=12)

    def command(self) -> list[str]:
        suite_options = ["--hypothesis-profile", self.options.profile, "-p", "no:cacheprovider", "-v", "--color=no",
                         "-o", "console_output_style=count", *self.options.pytest_args]
        agent = "exec python3 -I -c " + shlex.join([AGENT.read_text(), self.machine.directory, *suite_options])
        return ssh_command(self.machine, self.options, agent)

    def run(self) -> Outcome:
        started = time.monotonic()
        with self.lock:
            if self.stopping:
                return Outcome("failed", "not started: the run was interrupted", b"", 0.0, None, False)
            # a session of its own: a Ctrl-C on the terminal reaches the runner, which stops the agent first
            self.process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, start_new_session=True)
        timer = threading.Timer(self.options.timeout, self.stop, args=("timeout",))
        timer.daemon = True
        timer.start()
        reading = threading.Thread(target=self._read_messages)
        reading.start()
        try:
            self._send_bundle()
            report = self.process.stdout.read()
            self.process.wait()
        finally:
            timer.cancel()
        reading.join()
        self.progress.done(self.machine.label)
        total = time.monotonic() - started
        return Outcome(*self._verdict(report), report=report if report.strip() else b"", total_s=total,
                       remote_dir=self.remote_dir, removed=self.removed, tail=list(self.tail))

    def _verdict(self, report: bytes) -> tuple[str, str]:
        if self.stopping == "timeout":
            return "timeout", f"stopped after {self.options.timeout:g} s"
        if report.strip():
            return "ok", ""
        if not self.messages:  # the connection failed, or python3 could not start the agent
            return "failed", f"no answer from the agent (ssh exited with status {self.process.returncode})" + (
                f": {self.tail[-1]}" if self.tail else "")
        failures = [m for m in self.messages if not m.startswith(("working in ", "running the suite", "removed ", "stopping "))]
        if failures:
            return "failed", failures[-1]
        last = next((line for line in reversed(self.tail) if not line.startswith(SAY)), "")
        return "failed", f"the suite wrote no report (exit {self.process.returncode})" + (f": {last}" if last else "")

    def _send_bundle(self) -> None:
        stdin = self.process.stdin
        try:
            with self.bundle.open("rb") as archive:
                stdin.write(f"{self.bundle.stat().st_size}\n".encode())
                while (chunk := archive.read(1 << 16)) and not self.stopping:
                    stdin.write(chunk)
                stdin.flush()
        except BrokenPipeError:  # the agent (or the connection) ended early: its messages say why
            pass
        with self.lock:
            self.sent = True
            if self.stopping:
                self._close_input()

    def _read_messages(self) -> None:
        label = self.machine.label
        for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            progress = parse_progress(line)
            if progress:
                self.progress.test(label, progress)
                continue
            if line.startswith(SAY):
                message = line.removeprefix(SAY)
                self.messages.append(message)
                if message.startswith("working in "):
                    self.remote_dir = message.removeprefix("working in ")
                elif message == "running the suite":
                    self.progress.say(f"[{label}] running the suite in {self.remote_dir}")
                elif message == f"removed {self.remote_dir}":
                    self.removed = True
            if line:
                self.tail.append(line)

    def stop(self, why: str) -> None:
        """Ask the agent to stop: its standard input ends (once the whole bundle is sent; an unfinished one ends it too)."""
        with self.lock:
            if self.stopping:
                return
            self.stopping = why
            if self.sent:
                self._close_input()

    def _close_input(self) -> None:
        try:
            self.process.stdin.close()
        except OSError:
            pass

    def kill(self) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
