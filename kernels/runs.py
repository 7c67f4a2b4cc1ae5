"""One kernel's run of the suite: on the host, or in a QEMU guest (fetched, prepared, booted), and how it went."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kernels import CHECKOUT, VMError
from kernels.command_line import Options
from kernels.guest import Guest, boot_and_wait, kvm_usable, probe_kvm, remove_guest_files
from kernels.initramfs import MARKER, build_initramfs
from kernels.packages import Kernel, fetch
from kernels.processes import ProcessLedger
from kernels.progress import Progress, parse_progress


@dataclass
class Run:
    """One kernel's run: where it ran and how it went."""

    label: str  # shown in progress and summary
    kind: str  # "host" or "guest"
    kernel_release: str
    package: str | None = None
    version: str | None = None
    accel: str | None = None
    accel_note: str = ""
    status: str = "ok"  # ok, no-boot, timeout, crashed, fetch-failed, suite-timeout
    reason: str = ""
    boot_s: float | None = None
    total_s: float | None = None
    console_tail: list[str] = field(default_factory=list)
    report: Path | None = None
    console_log: Path | None = None

    def info(self) -> dict:
        """The run's section of its report, ``run.kernel_matrix`` (the suite's own time is the report's
        ``run.duration_s``)."""
        return {"kind": self.kind, "package": self.package, "version": self.version, "accel": self.accel,
                "accel_note": self.accel_note, "status": self.status, "reason": self.reason, "boot_s": self.boot_s,
                "total_s": self.total_s, "console_tail": self.console_tail}


def pytest_command(python: str, fs: list[str], profile: str, report: str, extra: list[str]) -> list[str]:
    """The suite, one test at a time (-v with a count: the progress lines the host follows); -c: tox.ini, whatever
    the arguments (its -p loads the plugin before any conftest.py). --no-install: a guest has no network, and its
    root is the host's, which must not change while other runs use it."""
    return [python, "-m", "pytest", "-c", str(CHECKOUT / "tox.ini"), str(CHECKOUT / "suite"), "-p", "no:cacheprovider",
            "-v", "--color=no", "-o", "console_output_style=count", "--no-install", "--fs", ",".join(fs),
            "--hypothesis-profile", profile,
            "--report", report, *extra]


def job_script(python: str, fs: list[str], profile: str, timeout: float, extra: list[str]) -> str:
    """What the guest runs (as root, in its scratch directory): the suite with the host's interpreter, stopped
    with SIGTERM after ``timeout`` seconds (the suite then still writes its report)."""
    command = pytest_command(python, fs, profile, "/run/mmapconf/results/report.json", extra)
    return "\n".join([
        "# written by python -m kernels; run by the guest's stage 2 (kernels/initramfs.py)",
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8",
        f"export PYTHONUNBUFFERED=1 PYTHONPATH={shlex.quote(str(CHECKOUT))}",
        "cd /run/mmapconf/work",
        f"echo {shlex.quote('mmapconf-guest: suite starting: ' + shlex.join(command[3:]))}",
        f"timeout -s TERM -k 120 {int(timeout)} {shlex.join(command)}",
        "",
    ])


def _tail(lines: list[str], n: int = 25) -> list[str]:
    return [line[-300:] for line in lines[-n:]]


def run_host(options: Options, ledger: ProcessLedger, progress: Progress) -> Run:
    release = os.uname().release
    label = f"{release} (host)"
    run = Run(label, "host", release)
    report = options.out / f"{release}.host.json"
    command = pytest_command(sys.executable, options.fs, options.profile, str(report), options.pytest_args)
    progress.say(f"[{label}] running the suite on the host ({len(options.fs)} filesystems)")
    started = time.monotonic()
    log_path = options.out / f"{release}.host.log"
    lines: list[str] = []
    with open(log_path, "w") as log:
        # In the checkout, like ./mmapconf suite: the suite puts its provisioning directory there, and the next
        # suite run there cleans it up should this one be killed.
        marker = ledger.marker("host")
        process = ledger.start(command, marker, cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ, PYTHONPATH=str(CHECKOUT), PYTHONUNBUFFERED="1"))
        # SIGTERM first: the suite then tears its filesystems down and still writes its report.
        timer = threading.Timer(options.timeout, ledger.stop, (marker,))
        timer.start()
        try:
            for line in process.stdout:
                line = line.rstrip("\n")
                lines.append(line)
                log.write(line + "\n")
                found = parse_progress(line)
                if found:
                    progress.test(label, found)
            process.wait()
        finally:
            timer.cancel()
            ledger.stop(marker)
            process.wait()
    progress.done(label)
    run.total_s = round(time.monotonic() - started, 1)
    run.console_log, run.console_tail = log_path, _tail(lines)
    if report.is_file():
        run.report = report
    else:
        run.status, run.reason = "crashed", f"the suite on the host wrote no report (exit status {process.returncode})"
    if time.monotonic() - started >= options.timeout:
        run.status, run.reason = "suite-timeout", f"the suite did not finish in {options.timeout:.0f} s (stopped)"
    return run


def choose_accel(requested: str, kernel: Kernel, ledger: ProcessLedger, cache: Path,
                 progress: Progress) -> tuple[str, str]:
    """The accelerator for a guest and why: KVM when requested or when a probe boot with it works, else TCG."""
    if requested == "tcg":
        return "tcg", "requested (--accel tcg)"
    unusable = kvm_usable()
    if unusable:
        if requested == "kvm":
            raise VMError(f"--accel kvm: {unusable}")
        return "tcg", f"KVM not used: {unusable}"
    works, detail = probe_kvm(kernel, ledger, cache, say=progress.say)
    if works or requested == "kvm":
        return "kvm", detail
    return "tcg", f"KVM not used: {detail}"


@dataclass
class Prepared:
    """A guest ready to boot: its kernel, initramfs and accelerator (made one after another, before any boot)."""

    run: Run
    kernel: Kernel | None = None
    initramfs: Path | None = None


def prepare_guest(spec: str, options: Options, ledger: ProcessLedger, progress: Progress) -> Prepared:
    run = Run(spec, "guest", spec, package=spec)
    try:
        kernel = fetch(spec, options.cache, say=progress.say)
    except VMError as error:
        run.status, run.reason = "fetch-failed", f"kernel package {spec} could not be fetched: {error}"
        progress.say(f"[{spec}] {run.reason}")
        return Prepared(run)
    run.label = run.kernel_release = kernel.release
    run.package, run.version = kernel.package, kernel.version
    try:
        initramfs, absent = build_initramfs(kernel)
        if absent:
            progress.say(f"[{run.label}] not in this kernel (neither module nor built in): {', '.join(absent)}")
        run.accel, run.accel_note = choose_accel(options.accel, kernel, ledger, options.cache, progress)
    except VMError as error:
        run.status, run.reason = "no-boot", str(error)
        return Prepared(run)
    return Prepared(run, kernel, initramfs)


def boot_guest(prepared: Prepared, options: Options, ledger: ProcessLedger, progress: Progress) -> Run:
    """Boot the guest, run the suite in it, bring its report and console log home."""
    run, kernel = prepared.run, prepared.kernel
    if kernel is None:
        return run
    label = run.label
    directory = ledger.root / label
    directory.mkdir()
    guest = Guest(kernel, prepared.initramfs, directory, ledger.marker(label), accel=run.accel)
    guest.prepare(job_script(sys.executable, options.fs, options.profile, options.timeout, options.pytest_args))
    progress.say(f"[{label}] booting {kernel.package} {kernel.version} under QEMU ({run.accel}, {guest.cpus} CPU, "
                 f"{guest.memory_mb} MB)")

    def on_line(line: str) -> None:
        found = parse_progress(line)
        if found:
            progress.test(label, found)
        elif line.startswith(MARKER):
            progress.say(f"[{label}] {line.removeprefix(MARKER).strip()}")

    # The guest stops its suite after --timeout; the host kills the guest if even that does not end it.
    boot = boot_and_wait(guest, ledger, timeout=options.boot_timeout + options.timeout + 300,
                         boot_timeout=options.boot_timeout, on_line=on_line)
    progress.done(label)
    run.console_log = options.out / f"{label}.console.log"
    (directory / "console.log").replace(run.console_log)
    run.boot_s, run.total_s, run.console_tail = boot.boot_s, boot.total_s, _tail(boot.console)
    report = guest.results / "report.json"
    if report.is_file():
        run.report = options.out / f"{label}.json"
        report.replace(run.report)
    run.status, run.reason = boot.status, boot.reason
    if boot.status == "ok" and boot.exit_status == 124:  # timeout(1): the suite ran out of time
        run.status, run.reason = "suite-timeout", f"the suite did not finish in {options.timeout:.0f} s (stopped in the guest)"
    elif boot.status == "ok" and run.report is None:
        run.status, run.reason = "crashed", f"the suite wrote no report (exit status {boot.exit_status})"
    if not options.keep:
        remove_guest_files(guest)
    return run
