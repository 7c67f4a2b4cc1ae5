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

from kernels import CHECKOUT, VMError, userland
from kernels.architectures import Architecture
from kernels.command_line import Options
from kernels.guest import Guest, boot_and_wait, kvm_usable, probe_kvm, remove_guest_files
from kernels.initramfs import MARKER, build_initramfs
from kernels.packages import BUSYBOX, Kernel, fetch
from kernels.processes import ProcessLedger
from kernels.progress import Progress, parse_progress


@dataclass
class Run:
    """One kernel's run: where it ran and how it went."""

    label: str  # shown in progress and summary
    kind: str  # "host" or "guest"
    kernel_release: str
    arch: str | None = None  # --arch (None: the host's run)
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
        return {"kind": self.kind, "arch": self.arch, "package": self.package, "version": self.version, "accel": self.accel,
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


def job_script(python: str, fs: list[str], profile: str, timeout: float, extra: list[str],
               python_path: tuple[Path, ...] = ()) -> str:
    """What the guest runs (as root, in its scratch directory): the suite with ``python`` (the host's
    interpreter, or a foreign userland's with its pinned packages on ``python_path``), stopped with SIGTERM
    after ``timeout`` seconds (the suite then still writes its report)."""
    command = pytest_command(python, fs, profile, "/run/mmapconf/results/report.json", extra)
    path = ":".join(map(str, (CHECKOUT, *python_path)))
    return "\n".join([
        "# written by python -m kernels; run by the guest's stage 2 (kernels/initramfs.py)",
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8",
        f"export PYTHONUNBUFFERED=1 PYTHONPATH={shlex.quote(path)}",
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
    fs = options.filesystems(None)
    command = pytest_command(sys.executable, fs, options.profile, str(report), options.pytest_args)
    progress.say(f"[{label}] running the suite on the host ({len(fs)} filesystems)")
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


def choose_accel(requested: str, arch: Architecture, kernel: Kernel, ledger: ProcessLedger, cache: Path,
                 progress: Progress) -> tuple[str, str]:
    """The accelerator for a guest and why: KVM when requested or when a probe boot with it works, else TCG."""
    if requested == "tcg":
        return "tcg", "requested (--accel tcg)"
    if not arch.native:
        if requested == "kvm":
            raise VMError(f"--accel kvm: {arch.name} guests cannot run under KVM on this {os.uname().machine} host")
        return "tcg", f"{arch.name} on an {os.uname().machine} host: emulated"
    unusable = kvm_usable()
    if unusable:
        if requested == "kvm":
            raise VMError(f"--accel kvm: {unusable}")
        return "tcg", f"KVM not used: {unusable}"
    works, detail = probe_kvm(arch, kernel, ledger, cache, say=progress.say)
    if works or requested == "kvm":
        return "kvm", detail
    return "tcg", f"KVM not used: {detail}"


@dataclass
class Prepared:
    """A guest ready to boot: its kernel, initramfs and accelerator (made one after another, before any boot)."""

    run: Run
    arch: Architecture
    kernel: Kernel | None = None
    initramfs: Path | None = None
    foreign: userland.Userland | None = None  # a foreign architecture's root and pinned packages


def prepare_guest(arch: Architecture, spec: str, options: Options, ledger: ProcessLedger, progress: Progress) -> Prepared:
    name = f"{spec} ({arch.name})"
    run = Run(name, "guest", spec, arch=arch.name, package=spec)
    try:
        kernel = fetch(spec, arch, options.cache, say=progress.say)
    except VMError as error:
        run.status, run.reason = "fetch-failed", f"kernel package {spec} for {arch.name} could not be fetched: {error}"
        progress.say(f"[{name}] {run.reason}")
        return Prepared(run, arch)
    run.label = run.kernel_release = kernel.release
    run.package, run.version = kernel.package, kernel.version
    try:
        guest_userland = None if arch.native else userland.prepare(arch, options.cache, say=progress.say)
        busybox = guest_userland.busybox if guest_userland else Path(BUSYBOX)
        initramfs, absent = build_initramfs(kernel, busybox, arch.modules, same_path(guest_userland))
        if absent:
            progress.say(f"[{run.label}] not in this kernel (neither module nor built in): {', '.join(absent)}")
        run.accel, run.accel_note = choose_accel(options.accel, arch, kernel, ledger, options.cache, progress)
    except VMError as error:
        run.status, run.reason = "no-boot", str(error)
        return Prepared(run, arch)
    return Prepared(run, arch, kernel, initramfs, guest_userland)


def same_path(guest_userland: userland.Userland | None) -> tuple[Path, ...]:
    """What a foreign guest sees at the host's path: the checkout, then its pinned packages (which may be inside
    the checkout's cache: parents first)."""
    if guest_userland is None:
        return ()
    return (CHECKOUT, guest_userland.site)


def boot_guest(prepared: Prepared, options: Options, ledger: ProcessLedger, progress: Progress) -> Run:
    """Boot the guest, run the suite in it, bring its report and console log home."""
    run, kernel = prepared.run, prepared.kernel
    if kernel is None:
        return run
    label = run.label
    directory = ledger.root / label
    directory.mkdir()
    foreign = prepared.foreign
    guest = Guest(prepared.arch, kernel, prepared.initramfs, directory, ledger.marker(label), accel=run.accel,
                  root=foreign.root if foreign else Path("/"), same_path=same_path(foreign))
    fs = options.filesystems(prepared.arch)
    if foreign:
        job = job_script("/usr/bin/python3", fs, options.profile, options.timeout, options.pytest_args, (foreign.site,))
    else:
        job = job_script(sys.executable, fs, options.profile, options.timeout, options.pytest_args)
    guest.prepare(job)
    progress.say(f"[{label}] booting {kernel.package} {kernel.version} ({prepared.arch.name}) under QEMU ({run.accel}, {guest.cpus} CPU, "
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
