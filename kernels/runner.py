"""python -m kernels: the suite, unchanged, under other Linux kernels in QEMU guests, and one matrix.

Each kernel of each architecture (by default x86_64: Debian's newest
linux-image-6.1.0-*-amd64 and linux-image-6.12.*-amd64, fetched into
.tox/kernels/; ``--arch`` adds arm64, arm64-16k, ppc64le and s390x,
kernels/architectures.py) boots in a QEMU guest that runs this checkout's suite
with the host's Python, or another architecture's own (kernels/userland.py);
the host runs it too (``--no-host``: only the guests). Every run provisions the
same filesystems (``--fs``; default: the architecture's set, for x86_64 and the
host every filesystem the suite knows, so each kernel reports which it
supports) with the same Hypothesis profile (``kernel-matrix``:
derandomized, so every kernel gets the same examples). The runs' reports are
merged into one matrix (JSON, HTML, Markdown) and a summary shows where the
kernels differ (reports/kernel_summary.py). A kernel that does not boot, a guest
that times out and a filesystem a guest lacks become ``error`` or ``unsupported``
cells that say why, with the guest's console tail.

  python -m kernels [--arch ARCH,...] [--kernel SPEC]... [--no-host] [--fs NAME,...] [--timeout S] [options] [-- pytest options]
"""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from kernels import VMError, cells, packages, runs
from kernels.command_line import Options, UsageError, parse
from kernels.processes import ProcessLedger, clean_stale, processes_with_prefix
from kernels.progress import Progress
from kernels.run_reports import collect
from kernels.runs import Run
from reports import html, kernel_summary
from reports.matrix import from_run, merge

# 0: every run gave its report and no cell contradicts the expectations; 1: a cell is refuted or an error where the
# expectations say otherwise (a claim recorded as refuted that holds is not counted: a profile of a few examples
# need not find the counterexample); 2: bad command line; 3: QEMU, busybox or pytest missing and not installable;
# 4: a run failed as a whole (a kernel not fetched or not booted, a guest that hung or crashed, a suite stopped).
EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_SETUP, EXIT_RUN_FAILED = 0, 1, 2, 3, 4
PROG = "python -m kernels"


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"received signal {signum}")


def _stopping() -> None:
    """From here on the run only stops things: a second Ctrl-C or SIGTERM (tox sends SIGINT after the terminal's
    own) must not cut the teardown short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run_all(options: Options, ledger: ProcessLedger, progress: Progress) -> list[Run]:
    """Every guest (kernels fetched and prepared one after another) and the host's run, ``--jobs`` at a time."""
    prepared = [runs.prepare_guest(arch, spec, options, ledger, progress)
                for arch in options.architectures for spec in options.kernels(arch)]
    # The guests first: they take longest, and the host's run then does not compete with two of them.
    tasks = [lambda p=p: runs.boot_guest(p, options, ledger, progress) for p in prepared]
    if options.host:
        tasks.append(lambda: runs.run_host(options, ledger, progress))
    with ThreadPoolExecutor(max_workers=min(options.jobs, len(tasks))) as pool:
        futures = [pool.submit(task) for task in tasks]
        try:
            done = [future.result() for future in futures]
        except BaseException:
            _stopping()
            for future in futures:
                future.cancel()
            ledger.teardown(keep=True)  # stop every QEMU now, so the threads end
            raise
    return done[-1:] + done[:-1] if options.host else done  # the host's kernel first in the summary


def _set_up(options: Options, progress: Progress) -> int | None:
    """Check what the runs need before any starts: an exit status when something is missing, else None."""
    if importlib.util.find_spec("pytest") is None:  # the guests run the suite with this interpreter
        print(f"{PROG}: {sys.executable} has no pytest: run it with the suite's interpreter (./mmapconf kernels, "
              f"tox -e kernels)", file=sys.stderr)
        return EXIT_SETUP
    for directory, option in ((options.out, "--out"), (options.cache, "--cache")):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"{PROG}: {option} {directory}: {error.strerror}", file=sys.stderr)
            return EXIT_USAGE
    try:
        for arch in options.architectures:
            for spec in options.kernels(arch):
                packages.resolve(spec, arch, options.cache)
    except VMError as error:  # no such package, series or file: a usage error
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        packages.ensure_host_tools(options.architectures, say=progress.say)
    except VMError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_SETUP
    return None


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if options.plan or options.cell:
        try:
            planned = cells.plan(options, cells.load_timings(options))
            if options.cell:
                options = cells.narrowed(options, cells.find(planned, options.cell))
        except UsageError as error:
            print(f"{PROG}: {error}", file=sys.stderr)
            return EXIT_USAGE
        if options.plan == "json":
            print(json.dumps(cells.document(planned, options), indent=1))
            return EXIT_OK
        if options.plan == "gitlab":
            sys.stdout.write(cells.gitlab(planned))
            return EXIT_OK
        if options.plan:
            sys.stdout.write(cells.text(planned, options))
            return EXIT_OK
    progress = Progress()
    failed_set_up = _set_up(options, progress)
    if failed_set_up is not None:
        return failed_set_up
    for problem in clean_stale(options.cache):
        progress.say(f"stale run: {problem}")
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    ledger = ProcessLedger.create(options.cache)
    try:
        finished = run_all(options, ledger, progress)
    except KeyboardInterrupt as interrupt:
        progress.say(f"{PROG}: interrupted ({str(interrupt) or 'Ctrl-C'}): every QEMU and suite run stopped, no matrix written")
        return 130
    finally:
        _stopping()
        for problem in ledger.teardown(keep=options.keep):
            progress.say(f"teardown: {problem}")
        left = processes_with_prefix(ledger.marker(""))
        if left:
            progress.say(f"QEMU processes left behind: {'; '.join(map(str, left))}")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    matrix = merge([from_run(doc) for doc in collect(finished, options, time.monotonic() - started)])
    (options.out / "matrix.json").write_text(json.dumps(matrix, indent=1) + "\n")
    (options.out / "matrix.html").write_text(html.render(matrix))
    (options.out / "summary.md").write_text(kernel_summary.markdown(matrix))
    print("\n".join(kernel_summary.lines(matrix, color=sys.stdout.isatty())))
    print(f"\nmatrix: {options.out / 'matrix.json'}\nhtml:   {options.out / 'matrix.html'}\n"
          f"summary: {options.out / 'summary.md'}\nruns:   " + ", ".join(str(r.report.name) for r in finished))
    failed = [r for r in finished if r.status != "ok"]
    if failed:
        print(f"exit {EXIT_RUN_FAILED}: run(s) failed as a whole: " + ", ".join(f"{r.label} ({r.status})" for r in failed))
        return EXIT_RUN_FAILED
    contradicting = kernel_summary.contradictions(matrix)
    if contradicting:
        print(f"exit {EXIT_UNEXPECTED}: {kernel_summary.contradictions_line(contradicting)}")
        return EXIT_UNEXPECTED
    return EXIT_OK
