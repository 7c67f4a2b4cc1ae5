"""A guest: one QEMU boot of a kernel with its shares and scratch disk, and the accelerator it runs under.

The guest gets a root (read-only: the host's own, or for another architecture
its userland, kernels/userland.py), host directories it sees at the same path
(a foreign guest's checkout and pinned packages), a results share, the kernel's
modules and two spare 9p shares, ``mmapconf-9p-cache-none`` and
``mmapconf-9p-cache-mmap``, that fixtures/provision.py mounts as the
``9p-cache-*`` filesystems; its scratch disk is a sparse ext4 image.

Measured here (2 host CPUs, /dev/kvm present): KVM cannot run these kernels
(6.12: "KVM internal error. Suberror: 1", an emulation failure in the kernel's
decompressor; 6.1: no output at all), so guests run under TCG
(``-accel tcg,thread=multi``, ``-cpu`` as kernels/architectures.py says), about 7 s from QEMU's start
to the first command on the guest's root. Other architectures always run under TCG.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fixtures.commands import run_tool
from kernels import VMError
from kernels.architectures import Architecture
from kernels.initramfs import MARKER, MODULES_TAG, RESULTS_TAG, ROOT_TAG, cpio, same_path_tag
from kernels.packages import BUSYBOX, Kernel
from kernels.processes import ProcessLedger

# Empty host directories the guest's fixtures/provision.py mounts as its 9p-cache-* filesystems (tag mmapconf-<name>).
SPARE_SHARES = ("9p-cache-none", "9p-cache-mmap")


# --- accelerator ------------------------------------------------------------------------------------

def kvm_usable() -> str | None:
    """None when /dev/kvm can be opened read-write, else why not (the caller still has to try a boot)."""
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible to this user"
    return None


def machine_args(arch: Architecture, accel: str) -> list[str]:
    """-machine, -accel and -cpu: KVM with the host's CPU, or TCG with the architecture's CPU model."""
    if accel == "kvm":
        return ["-machine", arch.qemu_machine, "-accel", "kvm", "-cpu", "host"]
    return ["-machine", arch.qemu_machine, "-accel", "tcg,thread=multi", *(["-cpu", arch.tcg_cpu] if arch.tcg_cpu else [])]


# --- a guest ----------------------------------------------------------------------------------------

@dataclass
class Guest:
    """One boot of a kernel: its shares and disk in a directory of the run, its QEMU command line."""

    arch: Architecture
    kernel: Kernel
    initramfs: Path
    directory: Path  # results/, shares, scratch disk, console log
    marker: str
    root: Path = Path("/")  # the guest's root: the host's, or a foreign userland
    same_path: tuple[Path, ...] = ()  # host directories the guest sees at the same path (initramfs.same_path_tag)
    accel: str = "tcg"
    memory_mb: int = 3072
    cpus: int = 1  # 2 vCPUs under multi-threaded TCG: a 6.12 boot panicked on a stale int3 from text patching
    scratch_gb: int = 8

    @property
    def results(self) -> Path:
        return self.directory / "results"

    @property
    def disk(self) -> Path:
        """The scratch disk (ext4): the suite's working directory, where it makes its filesystem images."""
        return self.directory / "scratch.img"

    def prepare(self, job: str) -> None:
        """The results share with job.sh, the spare shares, and a fresh ext4 scratch disk."""
        self.results.mkdir(parents=True, exist_ok=True)
        (self.results / "job.sh").write_text(job)
        for name in SPARE_SHARES:
            (self.directory / "share" / name).mkdir(parents=True, exist_ok=True)
        with open(self.disk, "wb") as handle:  # sparse: only what the guest writes takes space
            handle.truncate(self.scratch_gb << 30)
        run_tool("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", "-L", "mmapconf-work",
                 str(self.disk), error=VMError, timeout=600)

    def argv(self) -> list[str]:
        bus = self.arch.virtio_bus
        share = lambda tag, path, ro: [  # noqa: E731
            "-fsdev", f"local,id={tag},path={path},security_model=none,multidevs=remap{',readonly=on' if ro else ''}",
            "-device", f"virtio-9p-{bus},fsdev={tag},mount_tag={tag}"]
        argv = [self.arch.qemu, "-name", self.marker, *machine_args(self.arch, self.accel),
                "-m", str(self.memory_mb), "-smp", str(self.cpus),
                "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
                "-kernel", str(self.kernel.image), "-initrd", str(self.initramfs),
                "-append", f"console={self.arch.console} quiet panic=-1 rdinit=/init",
                *share(ROOT_TAG, self.root, True), *share(RESULTS_TAG, self.results, False),
                *share(MODULES_TAG, self.kernel.modules, True)]
        for index, path in enumerate(self.same_path):
            argv += share(same_path_tag(index), path, True)
        for name in SPARE_SHARES:
            argv += share(f"mmapconf-{name}", self.directory / "share" / name, False)
        return argv + ["-drive", f"file={self.disk},format=raw,if=none,id=scratch,cache=unsafe",
                       "-device", f"virtio-blk-{bus},drive=scratch"]


@dataclass
class Boot:
    """What happened to one guest."""

    status: str  # "ok" (the job ran to its end), "no-boot", "timeout", "crashed"
    reason: str
    exit_status: int | None
    boot_s: float | None  # QEMU start -> stage 2 (the first command on the overlaid root)
    total_s: float
    console: list[str]


def boot_and_wait(guest: Guest, ledger: ProcessLedger, timeout: float, boot_timeout: float = 300,
                  on_line: Callable[[str], None] = lambda line: None) -> Boot:
    """Boot the guest, stream its console to ``on_line`` (and console.log), wait for it to power off; kill it
    when it does not boot in ``boot_timeout`` seconds or does not finish in ``timeout``."""
    log = open(guest.directory / "console.log", "w", errors="replace")
    lines: queue.Queue = queue.Queue()
    started = time.monotonic()
    process = ledger.start(guest.argv(), guest.marker, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)

    def read() -> None:
        for raw in process.stdout:
            lines.put(raw.decode(errors="replace").rstrip("\r\n").replace("\r", ""))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    console: list[str] = []
    boot_s = None
    status, reason = None, ""
    try:
        while True:
            now = time.monotonic() - started
            limit = timeout if boot_s is not None else min(timeout, boot_timeout)
            try:
                line = lines.get(timeout=max(0.1, min(1.0, limit - now)))
            except queue.Empty:
                if time.monotonic() - started >= limit:
                    if boot_s is None:
                        status, reason = "no-boot", f"the kernel did not reach its init in {limit:.0f} s (killed)"
                    else:
                        status, reason = "timeout", f"the guest did not finish in {timeout:.0f} s (killed)"
                    break
                continue
            if line is None:
                break
            console.append(line)
            log.write(line + "\n")
            log.flush()
            if boot_s is None and line.startswith(MARKER + " stage2"):
                boot_s = round(time.monotonic() - started, 1)
            on_line(line)
    finally:
        left = ledger.stop(guest.marker)
        if left:
            reason += f"; qemu pid {left} would not die"
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        log.close()
    total = round(time.monotonic() - started, 1)
    exit_file = guest.results / "exit_status"
    exit_status = int(exit_file.read_text().strip()) if exit_file.is_file() and exit_file.read_text().strip().isdigit() else None
    if status is None:
        failed = next((l for l in console if l.startswith(MARKER + " FAILED")), None)
        if failed:
            status, reason = "no-boot", failed.removeprefix(MARKER + " ").strip()
        elif exit_status is None and boot_s is None:
            status = "no-boot"
            reason = f"the kernel did not reach its init (qemu exited with status {process.returncode})"
        elif exit_status is None:
            status, reason = "crashed", f"the guest stopped before the job ended (qemu exited with status {process.returncode})"
        else:
            status = "ok"
    return Boot(status, reason.lstrip("; "), exit_status, boot_s, total, console)


def remove_guest_files(guest: Guest) -> None:
    """A finished guest's directory (scratch disk, shares); its results were moved out first."""
    shutil.rmtree(guest.directory, ignore_errors=True)


# --- KVM probe --------------------------------------------------------------------------------------

PROBE_INIT = """#!/bin/busybox sh
/bin/busybox echo "mmapconf-guest: kvm probe reached init"
/bin/busybox poweroff -f
"""


def qemu_version(arch: Architecture) -> str:
    try:
        return run_tool(arch.qemu, "--version", error=VMError, timeout=600).splitlines()[0]
    except (VMError, IndexError):
        return "unknown"


def probe_kvm(arch: Architecture, kernel: Kernel, ledger: ProcessLedger, cache: Path, timeout: float = 30,
              say: Callable[[str], None] = print) -> tuple[bool, str]:
    """Whether ``kernel`` (of the host's architecture) boots to its init under KVM here, and what was seen. One
    boot with a minimal initramfs; the answer is cached per host kernel, QEMU version and kernel package."""
    key = f"{os.uname().release} | {qemu_version(arch)} | {kernel.package} {kernel.version}"
    record = cache / "kvm-probe.json"
    known = json.loads(record.read_text()) if record.is_file() else {}
    if key in known:
        return known[key]["works"], known[key]["detail"] + " (cached probe)"
    say(f"probing KVM with {kernel.release} (up to {timeout:.0f} s)")
    directory = Path(tempfile.mkdtemp(prefix="kvm-probe-", dir=ledger.root))
    initramfs = directory / "probe.cpio"
    initramfs.write_bytes(cpio([("bin", 0o040755, b"", 0), ("dev", 0o040755, b"", 0),
                                ("dev/console", 0o020600, b"", 5 << 8 | 1),
                                ("bin/busybox", 0o100755, Path(BUSYBOX).read_bytes(), 0),
                                ("init", 0o100755, PROBE_INIT.encode(), 0)]))
    marker = ledger.marker("kvm-probe")
    argv = [arch.qemu, "-name", marker, *machine_args(arch, "kvm"), "-m", "256", "-nodefaults",
            "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", str(kernel.image),
            "-initrd", str(initramfs), "-append",
            f"console={arch.console} {'earlyprintk=serial,ttyS0 ' if arch.console == 'ttyS0' else ''}panic=-1 rdinit=/init"]
    started = time.monotonic()
    output = b""
    process = ledger.start(argv, marker, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ended = f"no init in {timeout:.0f} s"
    try:
        os.set_blocking(process.stdout.fileno(), False)
        while time.monotonic() - started < timeout:
            chunk = process.stdout.read() or b""
            output += chunk
            if b"kvm probe reached init" in output or b"KVM internal error" in output:
                time.sleep(0.2)  # the rest of QEMU's report
                output += process.stdout.read() or b""
                ended = "KVM stopped the guest" if b"KVM internal error" in output else "reached init"
                break
            if process.poll() is not None and not chunk:
                ended = f"qemu exited with status {process.returncode}"
                break
            time.sleep(0.05)
    finally:
        ledger.stop(marker)
        if process.poll() is None:
            process.kill()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)
    text = output.decode(errors="replace").replace("\r", "")
    works = "mmapconf-guest: kvm probe reached init" in text
    seen = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("qemu-system")]
    errors = [line for line in seen if "KVM" in line or "emulation failure" in line.lower()]
    if works:
        detail = f"KVM boots {kernel.release} to its init in {time.monotonic() - started:.1f} s"
    else:
        shown = errors[0] if errors else (seen[-1] if seen else "none")
        detail = f"KVM probe: {ended}; {'KVM said' if errors else 'last output'}: {shown[:160]}"
    known[key] = {"works": works, "detail": detail}
    record.write_text(json.dumps(known, indent=1))
    return works, detail
