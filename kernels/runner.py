"""python -m kernels: the suite, unchanged, under other Linux kernels in QEMU guests, and one matrix.

Each kernel (by default Debian's newest linux-image-6.1.0-*-amd64 and
linux-image-6.12.*-amd64, fetched into .tox/kernels/) boots in a QEMU guest
that runs this checkout's suite with the host's Python (kernels/vm.py); the
host runs it too (``--no-host``: only the guests). Every run provisions the
same filesystems (``--fs``; default: every filesystem the suite knows, so each
kernel reports which it supports) with the same Hypothesis profile (``kernel-matrix``:
derandomized, so every kernel gets the same examples). The runs' reports are
merged into one matrix (JSON, HTML, Markdown) and a summary shows where the
kernels differ. A kernel that does not boot, a guest that times out and a
filesystem a guest lacks become ``error`` or ``unsupported`` cells that say why,
with the guest's console tail.

  python -m kernels [--kernel SPEC]... [--no-host] [--fs NAME,...] [--timeout S] [options] [-- pytest options]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import datetime as dt
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fixtures import provision
from kernels import vm

CHECKOUT = vm.CHECKOUT
DEFAULT_KERNELS = ("6.1", "6.12")
DEFAULT_PROFILE = "kernel-matrix"
VERDICTS = ("holds", "refuted", "observed", "unsupported", "error", "not run")
# pytest options the runner sets itself (per run): a user giving them would break the matrix.
RESERVED = ("--fs", "--target-dir", "--report", "--report-html", "--hypothesis-profile", "-n", "--numprocesses")
# 0: every run gave its report and no cell contradicts the expectations; 1: a cell is refuted or an error where the
# expectations say otherwise (a claim recorded as refuted that holds is not counted: a profile of a few examples
# need not find the counterexample); 2: bad command line; 3: QEMU, busybox or pytest missing and not installable;
# 4: a run failed as a whole (a kernel not fetched or not booted, a guest that hung or crashed, a suite stopped).
EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_SETUP, EXIT_RUN_FAILED = 0, 1, 2, 3, 4
SHOWN_CONTRADICTIONS = 20  # in the printed summary; the matrix has them all


class UsageError(Exception):
    """A bad command line; the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, not the usage block
        raise UsageError(message)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def parser() -> _Parser:
    p = _Parser(prog="python -m kernels", description=__doc__.splitlines()[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Anything after -- goes to pytest in every run (e.g. -- -k 'BUS or SYNC').")
    p.add_argument("--kernel", action="append", default=[], metavar="SPEC",
                   help="a guest kernel: a Debian series (6.1, 6.12: the newest generic -amd64 package in the apt "
                        "sources), a package name (linux-image-6.1.0-56-amd64) or a .deb file; repeatable "
                        f"(default: {' and '.join(DEFAULT_KERNELS)})")
    p.add_argument("--host", action=argparse.BooleanOptionalAction, default=True,
                   help="run the suite on the host too, its kernel beside the guests' (default; --no-host: guests only)")
    p.add_argument("--fs", action="append", default=[], metavar="NAME[,NAME...]",
                   help="filesystems every run provisions (default: all the suite knows; a kernel that lacks one "
                        "reports it unsupported)")
    p.add_argument("--profile", default=DEFAULT_PROFILE, metavar="NAME",
                   help=f"Hypothesis profile of every run (default {DEFAULT_PROFILE}; kernel-smoke: one example per claim)")
    p.add_argument("--timeout", type=_positive, default=7200, metavar="S",
                   help="seconds each run's suite may take; then it is stopped, the claims it did not reach become "
                        "error cells (default 7200)")
    p.add_argument("--boot-timeout", type=_positive, default=300, metavar="S",
                   help="seconds a guest kernel has to reach its init (default 300)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="QEMU accelerator: auto (KVM when a probe boot works, else TCG), kvm, tcg")
    p.add_argument("--jobs", type=_count, default=os.cpu_count() or 1, metavar="N",
                   help="runs at the same time, each on one CPU (guests first, then the host; default: the host's CPUs)")
    p.add_argument("--cache", type=Path, default=vm.DEFAULT_CACHE, metavar="DIR",
                   help=f"kernel packages, initramfs images and run directories (default {vm.DEFAULT_CACHE})")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where the reports go (default reports/out/kernel-matrix-<time>/)")
    p.add_argument("--keep", action="store_true", help="keep each guest's directory (scratch disk, shares, job) for debugging")
    return p


@dataclass
class Options:
    kernels: list[str]
    host: bool
    fs: list[str]
    profile: str
    timeout: float
    boot_timeout: float
    accel: str
    jobs: int
    cache: Path
    out: Path
    keep: bool
    pytest_args: list[str] = field(default_factory=list)


def fs_names(values: list[str]) -> list[str]:
    """--fs values -> filesystem names; 'all' (the default) is every filesystem the suite knows."""
    names = [n.strip() for value in values for n in value.split(",") if n.strip()] or ["all"]
    known = list(provision.FILESYSTEMS)
    expanded = []
    for name in names:
        expanded += known if name == "all" else [name]
    unknown = [n for n in expanded if n not in known]
    if unknown:
        raise UsageError(f"unknown filesystem {', '.join(dict.fromkeys(unknown))} (known: {', '.join(known)})")
    return list(dict.fromkeys(expanded))


def parse(argv: list[str]) -> Options:
    own, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = parser().parse_args(own)
    for arg in pytest_args:
        if arg.split("=")[0] in RESERVED or re.match(r"^-n\d", arg):
            raise UsageError(f"pytest option {arg.split('=')[0]} is set by the kernel matrix (use its own options)")
    from hypothesis import settings
    importlib.import_module("harness.profiles")  # registers the profiles
    try:
        settings.get_profile(args.profile)
    except Exception:
        raise UsageError(f"unknown Hypothesis profile {args.profile!r} (kernel-matrix, kernel-smoke, ci, dev, thorough)") from None
    kernels = list(dict.fromkeys(args.kernel)) or list(DEFAULT_KERNELS)
    for spec in kernels:
        if not (spec.endswith(".deb") or vm.SERIES_RE.match(spec) or vm.PACKAGE_RE.match(spec)):
            raise UsageError(f"--kernel {spec}: give a series (6.1, 6.12), a package (linux-image-6.1.0-56-amd64) or a .deb file")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or CHECKOUT / "reports" / "out" / f"kernel-matrix-{stamp}"
    return Options(kernels=kernels, host=args.host, fs=fs_names(args.fs), profile=args.profile, timeout=args.timeout,
                   boot_timeout=args.boot_timeout, accel=args.accel, jobs=args.jobs, cache=args.cache.resolve(),
                   out=out.resolve(), keep=args.keep, pytest_args=pytest_args)


# --- progress ---------------------------------------------------------------------------------------

# pytest -v with console_output_style=count (pytest_command): "suite/test_x.py::test_y[ext4] PASSED [  12/1530]"
PROGRESS = re.compile(r"^(?P<node>\S+::\S+) (?P<outcome>PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR)\b.*?"
                      r"\[\s*(?P<done>\d+)/(?P<total>\d+)\]\s*$")


def parse_progress(line: str) -> dict | None:
    """A progress line -> {node, outcome, target, done, total}; None for any other line."""
    match = PROGRESS.match(line)
    if not match:
        return None
    node = match["node"]
    target = node[node.rindex("[") + 1:-1] if node.endswith("]") and "[" in node else ""
    return {"node": node.split("/")[-1], "outcome": match["outcome"], "target": target,
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


# --- runs -------------------------------------------------------------------------------------------

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
    suite_s: float | None = None
    total_s: float | None = None
    console_tail: list[str] = field(default_factory=list)
    report: Path | None = None
    console_log: Path | None = None

    def info(self) -> dict:
        return {"kind": self.kind, "package": self.package, "version": self.version, "accel": self.accel,
                "accel_note": self.accel_note, "status": self.status, "reason": self.reason, "boot_s": self.boot_s,
                "suite_s": self.suite_s, "total_s": self.total_s, "console_tail": self.console_tail}


def pytest_command(python: str, fs: list[str], profile: str, report: str, extra: list[str]) -> list[str]:
    """The suite, one test at a time (-v with a count: the progress lines the host follows)."""
    return [python, "-m", "pytest", str(CHECKOUT / "suite"), "-p", "no:cacheprovider", "-v", "--color=no",
            "-o", "console_output_style=count", "--fs", ",".join(fs), "--hypothesis-profile", profile,
            "--report", report, *extra]


def job_script(python: str, fs: list[str], profile: str, timeout: float, extra: list[str]) -> str:
    """What the guest runs (as root, in its scratch directory): the suite with the host's interpreter, stopped
    with SIGTERM after ``timeout`` seconds (the suite then still writes its report)."""
    command = pytest_command(python, fs, profile, "/run/mmapconf/results/report.json", extra)
    return "\n".join([
        "# written by python -m kernels; run by the guest's stage 2 (kernels/vm.py)",
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8",
        f"export PYTHONUNBUFFERED=1 PYTHONPATH={shlex.quote(str(CHECKOUT))}",
        "cd /run/mmapconf/work",
        f"echo {shlex.quote('mmapconf-guest: suite starting: ' + shlex.join(command[3:]))}",
        f"timeout -s TERM -k 120 {int(timeout)} {shlex.join(command)}",
        "",
    ])


def _tail(lines: list[str], n: int = 25) -> list[str]:
    return [line[-300:] for line in lines[-n:]]


def run_host(options: Options, ledger: vm.Ledger, progress: Progress) -> Run:
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


def choose_accel(requested: str, kernel: vm.Kernel, ledger: vm.Ledger, cache: Path, progress: Progress) -> tuple[str, str]:
    """The accelerator for a guest and why: KVM when requested or when a probe boot with it works, else TCG."""
    if requested == "tcg":
        return "tcg", "requested (--accel tcg)"
    unusable = vm.kvm_usable()
    if unusable:
        if requested == "kvm":
            raise vm.VMError(f"--accel kvm: {unusable}")
        return "tcg", f"KVM not used: {unusable}"
    works, detail = vm.probe_kvm(kernel, ledger, cache, say=progress.say)
    if works or requested == "kvm":
        return "kvm", detail
    return "tcg", f"KVM not used: {detail}"


@dataclass
class Prepared:
    """A guest ready to boot: its kernel, initramfs and accelerator (made one after another, before any boot)."""

    run: Run
    kernel: vm.Kernel | None = None
    initramfs: Path | None = None


def prepare_guest(spec: str, options: Options, ledger: vm.Ledger, progress: Progress) -> Prepared:
    run = Run(spec, "guest", spec, package=spec)
    try:
        kernel = vm.fetch(spec, options.cache, say=progress.say)
    except vm.VMError as error:
        run.status, run.reason = "fetch-failed", f"kernel package {spec} could not be fetched: {error}"
        progress.say(f"[{spec}] {run.reason}")
        return Prepared(run)
    run.label = run.kernel_release = kernel.release
    run.package, run.version = kernel.package, kernel.version
    try:
        initramfs, absent = vm.build_initramfs(kernel)
        if absent:
            progress.say(f"[{run.label}] not in this kernel (neither module nor built in): {', '.join(absent)}")
        run.accel, run.accel_note = choose_accel(options.accel, kernel, ledger, options.cache, progress)
    except vm.VMError as error:
        run.status, run.reason = "no-boot", str(error)
        return Prepared(run)
    return Prepared(run, kernel, initramfs)


def boot_guest(prepared: Prepared, options: Options, ledger: vm.Ledger, progress: Progress) -> Run:
    """Boot the guest, run the suite in it, bring its report and console log home."""
    run, kernel = prepared.run, prepared.kernel
    if kernel is None:
        return run
    label = run.label
    directory = ledger.root / label
    directory.mkdir()
    guest = vm.Guest(kernel, prepared.initramfs, directory, ledger.marker(label), accel=run.accel)
    guest.prepare(job_script(sys.executable, options.fs, options.profile, options.timeout, options.pytest_args))
    progress.say(f"[{label}] booting {kernel.package} {kernel.version} under QEMU ({run.accel}, {guest.cpus} CPU, "
                 f"{guest.memory_mb} MB)")

    def on_line(line: str) -> None:
        found = parse_progress(line)
        if found:
            progress.test(label, found)
        elif line.startswith(vm.MARKER):
            progress.say(f"[{label}] {line.removeprefix(vm.MARKER).strip()}")

    # The guest stops its suite after --timeout; the host kills the guest if even that does not end it.
    boot = vm.run(guest, ledger, timeout=options.boot_timeout + options.timeout + 300,
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
        vm.remove_guest_files(guest)
    return run


# --- reports ----------------------------------------------------------------------------------------

def _placeholder_fs(name: str) -> dict:
    return {"type": name, "magic": "", "block_size": 0, "fragment_size": 0, "mount_point": None, "mount_type": None,
            "mount_source": None, "mount_options": None, "super_options": None, "read_only": False, "noexec": False}


def _console_note(run: Run, lines: int = 12) -> str:
    return "; guest console tail:\n" + "\n".join(run.console_tail[-lines:]) if run.console_tail else ""


def failed_report(run: Run, fs: list[str], profile: str) -> dict:
    """A run report for a kernel that gave none: every claim x filesystem an error cell with the reason."""
    from fixtures.platform import host_identity
    from reports import document
    from harness.catalog import catalog

    host = dict(host_identity(), kernel_release=run.kernel_release,
                kernel_version=f"{run.package} {run.version or ''} (did not report)".strip())
    targets = [{"id": name, "directory": "", "fs": _placeholder_fs(name)} for name in fs]
    detail = f"{run.reason}{_console_note(run)}"
    results = [{"claim": claim.id, "target": name, "inventory": list(claim.inventory), "verdict": "error",
                "detail": detail, "alternatives": [], "examples": 0, "duration_s": 0.0, "as_expected": False,
                "tests": []} for claim in catalog().claims for name in fs]
    return document.build(
        run={"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "duration_s": run.total_s or 0.0,
             "hypothesis_profile": profile, "argv": [], "exit_status": -1, "mmapconf_commit": None,
             "kernel_matrix": dict(run.info(), stand_in=True)},
        host=host, targets=targets, claims=[c.as_dict() for c in catalog().claims], results=results)


MODULE_LINE = re.compile(rf"^{re.escape(vm.MARKER)} module (\S+) not loaded")


def annotate(doc: dict, run: Run) -> dict:
    """Add the run's facts to its report; say why in cells the run could not reach: a filesystem the kernel
    lacks (with the guest's module messages), claims a stopped suite never ran."""
    doc["run"]["kernel_matrix"] = run.info()
    run.suite_s = doc["run"].get("duration_s")
    unavailable = {t["id"] for t in doc["targets"] if t["fs"].get("mount_point") is None and not t["fs"].get("magic")}
    console = run.console_log.read_text(errors="replace").splitlines() if run.console_log else run.console_tail
    module_lines = [line for line in console if MODULE_LINE.match(line)]
    for cell in doc["results"]:
        if cell["target"] in unavailable and cell["verdict"] == "unsupported":
            fs = provision.FILESYSTEMS.get(cell["target"])
            relevant = [line for line in module_lines if fs and fs.fs_type in MODULE_LINE.match(line)[1]]
            if relevant:  # why the guest's kernel lacks it
                cell["detail"] += "; guest console: " + " | ".join(relevant)
        elif cell["verdict"] == "not run" and run.status in ("suite-timeout", "timeout", "crashed"):
            cell.update(verdict="error", as_expected=False, detail=f"{run.reason}: this claim was not reached{_console_note(run, 5)}")
    from reports.matrix import summarise
    doc["summary"] = summarise(doc["results"])
    return doc


def collect(runs: list[Run], options: Options) -> list[dict]:
    """Every run's report (a stand-in full of error cells where there is none), annotated; saved next to the matrix."""
    documents = []
    for run in runs:
        if run.report is not None:
            doc = annotate(json.loads(run.report.read_text()), run)
        else:
            doc = failed_report(run, options.fs, options.profile)
            run.report = options.out / f"{run.label.split(' ')[0]}.{run.kind}.failed.json"
        run.report.write_text(json.dumps(doc, indent=1) + "\n")
        documents.append(doc)
    return documents


# --- the summary ------------------------------------------------------------------------------------

def _kernel_of(column: dict) -> str:
    info = column["run"].get("kernel_matrix") or {}
    return column["kernel_release"] + (" (host)" if info.get("kind") == "host" else "")


def failed_column(matrix: dict, column_id: str) -> bool:
    """Whether the column stands in for a run that gave no report (failed_report: nothing but error cells)."""
    column = next(c for c in matrix["columns"] if c["id"] == column_id)
    return bool((column["run"].get("kernel_matrix") or {}).get("stand_in"))


def differences(matrix: dict) -> tuple[list[dict], dict[str, dict[str, str]]]:
    """Claims whose verdict differs between kernels on the same filesystem (among the kernels that could
    provision it; a kernel whose run failed as a whole is left out: the summary says why once); and per
    filesystem, per kernel, why it could not be provisioned (coverage)."""
    from reports.matrix import cell_grid, verdict_key

    grid = cell_grid(matrix)
    by_fs: dict[str, list[dict]] = {}
    for column in matrix["columns"]:
        by_fs.setdefault(column["target"], []).append(column)
    coverage: dict[str, dict[str, str]] = {}
    found = []
    for fs, columns in by_fs.items():
        usable = []
        for column in columns:
            if failed_column(matrix, column["id"]):
                continue  # a kernel that gave no report at all: the summary shows why, once
            cells = [grid[(claim["id"], column["id"])] for claim in matrix["claims"]]
            info = column["target_info"]["fs"]
            if info.get("mount_point") is None and not info.get("magic"):
                coverage.setdefault(fs, {})[_kernel_of(column)] = next(
                    (c["detail"] for c in cells if c["verdict"] == "unsupported"), "not provisioned")
            else:
                usable.append(column)
        if len(usable) < 2:
            continue
        for claim in matrix["claims"]:
            cells = {_kernel_of(c): grid[(claim["id"], c["id"])] for c in usable}
            keys = {k: verdict_key(cell) for k, cell in cells.items()}
            if "not run" in keys.values() or len(set(keys.values())) < 2:
                continue
            found.append({"claim": claim["id"], "name": claim["name"], "fs": fs, "verdicts": keys,
                          "details": {k: cell.get("detail", "") for k, cell in cells.items()}})
    return found, coverage


def contradictions(matrix: dict) -> list[dict]:
    """Cells that contradict the expectations: refuted or in error where they say otherwise. A claim recorded as
    refuted that holds here is left out: a profile of a few examples need not find the counterexample."""
    return [c for c in matrix["results"] if not c["as_expected"] and c["verdict"] in ("refuted", "error")]


def split_differences(found: list[dict]) -> tuple[list[dict], list[dict]]:
    """Differences where every kernel checked the claim (the kernels behave differently), and those where some
    kernel could not check it (unsupported there: a feature it lacks)."""
    partly = [item for item in found if "unsupported" in item["verdicts"].values()]
    return [item for item in found if item not in partly], partly


def _by_claim(items: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for item in items:
        grouped.setdefault(item["claim"], []).append(item)
    return grouped


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def summary_lines(matrix: dict, runs: list[Run], options: Options, total_s: float, color: bool = False) -> list[str]:
    from reports.matrix import cell_grid

    bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
    hot = (lambda s: f"\033[1;33m{s}\033[0m") if color else (lambda s: s)
    grid = cell_grid(matrix)
    lines = [bold(f"kernel matrix: {len(runs)} kernel(s) x {len(options.fs)} filesystem(s), {len(matrix['claims'])} claims, "
                  f"profile {options.profile}, {_seconds(total_s)} in all"), ""]
    lines.append(f"{'kernel':<32} {'how':<10} {'boot':>7} {'suite':>9} {'total':>9}  cells (" + " / ".join(VERDICTS) + ")")
    for run in runs:
        columns = [c for c in matrix["columns"] if _kernel_of(c) == run.label]
        tally = {v: 0 for v in VERDICTS}
        for column in columns:
            for claim in matrix["claims"]:
                tally[grid[(claim["id"], column["id"])]["verdict"]] += 1
        how = "host" if run.kind == "host" else f"qemu {run.accel or '-'}"
        lines.append(f"{run.label:<32} {how:<10} {_seconds(run.boot_s):>7} {_seconds(run.suite_s):>9} "
                     f"{_seconds(run.total_s):>9}  " + " / ".join(str(tally[v]) for v in VERDICTS))
        if run.status != "ok":
            lines.append(hot(f"  !! {run.status}: {run.reason}"))
            lines += [f"     | {line}" for line in run.console_tail[-8:]]
        if run.accel_note and run.kind == "guest":
            lines.append(f"  accelerator: {run.accel} ({run.accel_note})")
    found, coverage = differences(matrix)
    lines += ["", bold("filesystems a kernel could not provide (its cells are unsupported):")]
    if not coverage:
        lines.append("  none")
    for fs, why in coverage.items():
        for kernel, detail in why.items():
            lines.append(f"  {fs:<14} {kernel:<32} {detail.splitlines()[0][:110] if detail else ''}")
    differ, partly = split_differences(found)
    lines += ["", bold(f"differences between kernels (same claim, same filesystem, checked on each, different verdict): "
                       f"{len(differ)}")]
    if not differ:
        lines.append("  none: every claim checked on every kernel has the same verdict on each")
    for claim, items in _by_claim(differ).items():
        lines.append(hot(f">> {claim} {items[0]['name']}"))
        groups: dict[tuple, list[str]] = {}
        for item in items:
            groups.setdefault(tuple(sorted(item["verdicts"].items())), []).append(item["fs"])
        for verdicts, filesystems in groups.items():
            lines.append(f"     {', '.join(filesystems)}: " + " | ".join(f"{k}: {v}" for k, v in verdicts))
            example = items[[i["fs"] for i in items].index(filesystems[0])]
            for kernel, verdict in verdicts:
                detail = example["details"][kernel]
                if verdict not in ("holds",) and detail:
                    lines.append(f"       {kernel}: {detail.splitlines()[0][:140]}")
    lines += ["", bold(f"claims checked on some kernels only (unsupported on the others): {len(partly)}")]
    for claim, items in _by_claim(partly).items():
        unsupported = {k for item in items for k, v in item["verdicts"].items() if v == "unsupported"}
        example = next(d for item in items for k, d in item["details"].items() if k in unsupported)
        lines.append(f"  {claim:<22} unsupported on {', '.join(sorted(unsupported))} ({', '.join(i['fs'] for i in items)}): "
                     f"{(example or '').splitlines()[0][:90] if example else ''}")
    contradicting = [c for c in contradictions(matrix) if not failed_column(matrix, c["column"])]
    lines += ["", bold(f"cells refuted or in error against the expectations: {len(contradicting)}")]
    for cell in contradicting[:SHOWN_CONTRADICTIONS]:
        lines.append(f"  {cell['claim']:<22} {cell['column']:<50} {cell['verdict']}: {(cell['detail'] or '').splitlines()[0][:100] if cell['detail'] else ''}")
    if len(contradicting) > SHOWN_CONTRADICTIONS:
        lines.append(f"  ... and {len(contradicting) - SHOWN_CONTRADICTIONS} more (matrix.html: filter by verdict)")
    return lines


def markdown(matrix: dict, runs: list[Run], options: Options, total_s: float) -> str:
    from reports import markdown as md

    found, coverage = differences(matrix)
    out = ["# mmapconf kernel matrix", "",
           f"{len(runs)} kernel(s) x {len(options.fs)} filesystem(s), profile `{options.profile}`, {_seconds(total_s)}.", "",
           "| kernel | how | boot | suite | total | status |", "|---|---|---|---|---|---|"]
    for run in runs:
        how = "host" if run.kind == "host" else f"QEMU {run.accel}"
        out.append(f"| {run.label} | {how} | {_seconds(run.boot_s)} | {_seconds(run.suite_s)} | {_seconds(run.total_s)} | "
                   f"{run.status}{': ' + run.reason if run.reason else ''} |")
    kernels = list(dict.fromkeys(k for item in found for k in item["verdicts"]))
    for title, items in zip(("Differences between kernels", "Checked on some kernels only"), split_differences(found)):
        out += ["", f"## {title} ({len(items)})", ""]
        if not items:
            out.append("None.")
            continue
        out += ["| claim | filesystem | " + " | ".join(kernels) + " |", "|---|---|" + "---|" * len(kernels)]
        for item in items:
            out.append(f"| **{item['claim']}** {item['name']} | {item['fs']} | "
                       + " | ".join(item["verdicts"].get(k, "") for k in kernels) + " |")
    if coverage:
        out += ["", "## Filesystems a kernel could not provide", ""]
        for fs, why in coverage.items():
            for kernel, detail in why.items():
                out.append(f"- `{fs}` on {kernel}: {detail.splitlines()[0] if detail else ''}")
    return "\n".join(out) + "\n\n" + md.render(matrix)


# --- main -------------------------------------------------------------------------------------------

def _terminate(signum, frame):
    raise KeyboardInterrupt(f"received signal {signum}")


def _stopping() -> None:
    """From here on the run only stops things: a second Ctrl-C or SIGTERM (tox sends SIGINT after the terminal's
    own) must not cut the teardown short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run_all(options: Options, ledger: vm.Ledger, progress: Progress) -> list[Run]:
    """Every guest (kernels fetched and prepared one after another) and the host's run, ``--jobs`` at a time."""
    prepared = [prepare_guest(spec, options, ledger, progress) for spec in options.kernels]
    # The guests first: they take longest, and the host's run then does not compete with two of them.
    tasks = [lambda p=p: boot_guest(p, options, ledger, progress) for p in prepared]
    if options.host:
        tasks.append(lambda: run_host(options, ledger, progress))
    with ThreadPoolExecutor(max_workers=min(options.jobs, len(tasks))) as pool:
        futures = [pool.submit(task) for task in tasks]
        try:
            runs = [future.result() for future in futures]
        except BaseException:
            _stopping()
            for future in futures:
                future.cancel()
            ledger.teardown(keep=True)  # stop every QEMU now, so the threads end
            raise
    return runs[-1:] + runs[:-1] if options.host else runs  # the host's kernel first in the summary


def main(argv: list[str] | None = None) -> int:
    prog = "python -m kernels"
    try:
        options = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return EXIT_USAGE
    progress = Progress()
    if importlib.util.find_spec("pytest") is None:  # the guests run the suite with this interpreter
        print(f"{prog}: {sys.executable} has no pytest: run it with the suite's interpreter (./mmapconf kernels, tox -e kernels)",
              file=sys.stderr)
        return EXIT_SETUP
    try:
        for spec in options.kernels:
            vm.resolve(spec)
    except vm.VMError as error:  # no such package, series or file: a usage error
        print(f"{prog}: {error}", file=sys.stderr)
        return EXIT_USAGE
    for directory, option in ((options.out, "--out"), (options.cache, "--cache")):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"{prog}: {option} {directory}: {error.strerror}", file=sys.stderr)
            return EXIT_USAGE
    try:
        vm.ensure_host_tools(say=progress.say)
    except vm.VMError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return EXIT_SETUP
    for problem in vm.clean_stale(options.cache):
        progress.say(f"stale run: {problem}")
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    ledger = vm.Ledger.create(options.cache)
    try:
        runs = run_all(options, ledger, progress)
    except KeyboardInterrupt as interrupt:
        progress.say(f"{prog}: interrupted ({str(interrupt) or 'Ctrl-C'}): every QEMU and suite run stopped, no matrix written")
        return 130
    finally:
        _stopping()
        for problem in ledger.teardown(keep=options.keep):
            progress.say(f"teardown: {problem}")
        left = vm.processes_with_prefix(ledger.marker(""))
        if left:
            progress.say(f"QEMU processes left behind: {'; '.join(map(str, left))}")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    total_s = time.monotonic() - started
    from reports import html
    from reports.matrix import merge, load

    collect(runs, options)
    matrix = merge([load(run.report) for run in runs])
    (options.out / "matrix.json").write_text(json.dumps(matrix, indent=1) + "\n")
    (options.out / "matrix.html").write_text(html.render(matrix))
    (options.out / "summary.md").write_text(markdown(matrix, runs, options, total_s))
    lines = summary_lines(matrix, runs, options, total_s, color=sys.stdout.isatty())
    print("\n".join(lines))
    print(f"\nmatrix: {options.out / 'matrix.json'}\nhtml:   {options.out / 'matrix.html'}\n"
          f"summary: {options.out / 'summary.md'}\nruns:   " + ", ".join(str(r.report.name) for r in runs))
    failed = [r for r in runs if r.status != "ok"]
    if failed:
        print(f"exit {EXIT_RUN_FAILED}: run(s) failed as a whole: " + ", ".join(f"{r.label} ({r.status})" for r in failed))
        return EXIT_RUN_FAILED
    contradicting = contradictions(matrix)
    if contradicting:
        print(f"exit {EXIT_UNEXPECTED}: {len(contradicting)} cell(s) refuted or in error where the expectations say "
              f"otherwise: " + ", ".join(f"{c['claim']} on {c['column']}" for c in contradicting[:10])
              + (", ..." if len(contradicting) > 10 else ""))
        return EXIT_UNEXPECTED
    return EXIT_OK
