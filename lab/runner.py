"""python -m lab: the suite on lab machines over SSH (each testing its own directory), merged into one matrix.

First every machine is asked (in parallel) what it is: ``uname -m``, its kernel, page size and python3's version.
One bundle (python -m bundle) then carries the pinned packages of every architecture and CPython version found;
each machine gets it over its ssh connection and runs the suite from a private temporary directory, which is removed
whatever happens (lab/remote.py). The reports come back over the same connection and are merged into one matrix
(JSON, HTML, Markdown) in --out. A machine that cannot be reached is a line of the summary; one that answered but
gave no report (no python3, no packages for it, a suite that failed) is a column of error cells saying why.

  python -m lab --machine [USER@]HOST[:PORT]:DIR [--machine ...] [--profile NAME] [--timeout S] [-F FILE]
                [--ssh-option OPTION=VALUE]... [--out DIR] [-- pytest options]
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from bundle import BuildError, sites
from bundle import build as bundle_build
from kernels.progress import Progress
from lab.command_line import Machine, Options, UsageError, parse
from lab.run_reports import annotate, stand_in_report
from lab.ssh import MachineFailure, Outcome, Probe, RemoteRun, probe
from reports import html, markdown
from reports.kernel_summary import contradictions, contradictions_line
from reports.matrix import ReportError, from_run, merge, platform, read

PROG = "python -m lab"
# 0: every machine gave its report and no cell contradicts the expectations; 1: a cell is refuted or an error where
# the expectations say otherwise; 2: a bad command line; 3: no ssh client or pip, or the bundle cannot be built;
# 4: a machine failed as a whole (unreachable, no python3, no packages for it, its suite gave no report, stopped
# at --timeout); 130: interrupted (every suite stopped, every remote directory removed).
EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_SETUP, EXIT_MACHINE_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
# After an interrupt: time for the agents to stop their suites (which tear down what they provisioned, up to a
# minute) and remove their directories, before the ssh clients are killed.
STOP_GRACE_S = 90


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"received signal {signum}")


def _stopping() -> None:
    """From here on the runner only stops things: a second Ctrl-C or SIGTERM must not cut the stopping short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _file_name(machine: Machine) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", f"{machine.label}-{machine.directory}").strip("-")


def probe_all(options: Options) -> dict[Machine, Probe | MachineFailure]:
    def ask(machine: Machine) -> Probe | MachineFailure:
        try:
            return probe(machine, options)
        except MachineFailure as failure:
            return failure
    with ThreadPoolExecutor(max_workers=len(options.machines)) as pool:
        return dict(zip(options.machines, pool.map(ask, options.machines)))


def bundle_site(found: Probe) -> sites.Site | MachineFailure:
    """The bundle's site for a machine, or why the bundle can carry none for it."""
    if found.python is None:
        return MachineFailure("no-python", "no python3 on the machine (the suite runs with python3)")
    if found.arch not in sites.ARCHITECTURES:
        return MachineFailure("no-packages", f"no wheels for its architecture {found.arch} (a bundle carries "
                                             f"{', '.join(sites.ARCHITECTURES)})")
    if found.python not in sites.PYTHONS:
        return MachineFailure("no-packages", f"its python3 is CPython {found.python}; the pinned packages need "
                                             f"{sites.PYTHONS[0]} to {sites.PYTHONS[-1]}")
    return sites.Site(found.arch, found.python)


def build_bundle(needed: list[sites.Site], options: Options, path: Path) -> None:
    source = bundle_build.checkout()
    with bundle_build.Output(path) as output:
        bundle_build.build(bundle_build.Options(sites=needed, output=path, cache=options.cache), source, output, _say)


def run_all(machines: list[Machine], options: Options, bundle: Path, progress: Progress) -> dict[Machine, Outcome]:
    """Every machine's run at once; on an interrupt every agent is asked to stop (and remove its directory) before
    the interrupt goes on."""
    runs = {machine: RemoteRun(machine, options, bundle, progress) for machine in machines}
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {machine: pool.submit(run.run) for machine, run in runs.items()}
        try:
            return {machine: future.result() for machine, future in futures.items()}
        except BaseException:
            _stopping()
            for run in runs.values():
                run.stop("interrupted")
            wait(futures.values(), timeout=STOP_GRACE_S)
            for machine, run in runs.items():
                if not futures[machine].done():
                    progress.say(f"[{machine.label}] did not stop within {STOP_GRACE_S} s: ssh killed; its "
                                 f"remote directory {run.remote_dir or '(not known)'} may be left")
                    run.kill()
            unconfirmed = [f"{m.label} ({r.remote_dir})" for m, r in runs.items() if r.remote_dir and not r.removed]
            if unconfirmed:
                progress.say(f"remote directories not confirmed removed: {', '.join(unconfirmed)}")
            raise


def machine_report(machine: Machine, found: Probe, outcome: Outcome, options: Options) -> dict:
    """The machine's report, annotated and saved in --out; a stand-in where it gave none or an invalid one."""
    path = options.out / f"{_file_name(machine)}.json"
    if outcome.report:
        path.write_bytes(outcome.report)
        try:
            doc = annotate(read(path), machine, outcome)
        except ReportError as error:
            outcome.status, outcome.reason = "failed", f"its report is not valid: {error}"
    if not outcome.report or outcome.status == "failed":
        doc = stand_in_report(machine, found, outcome.status, outcome.reason, options.profile, outcome.total_s)
        path = path.with_suffix(".failed.json")
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def _line(machine: Machine, what: str) -> str:
    return f"  {machine.label}:{machine.directory}  {what}"


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        _say(f"{PROG}: {error}")
        return EXIT_USAGE
    if shutil.which("ssh") is None:
        _say(f"{PROG}: no ssh client on PATH (Debian: apt-get install openssh-client)")
        return EXIT_SETUP
    if importlib.util.find_spec("pip") is None:
        _say(f"{PROG}: {sys.executable} has no pip, which builds the bundle (Debian: apt-get install python3-pip)")
        return EXIT_SETUP
    try:
        options.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _say(f"{PROG}: --out {options.out}: {error.strerror}")
        return EXIT_USAGE
    progress = Progress()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _terminate)
    lines, documents, failed = [], [], []
    try:
        probes = probe_all(options)
        runnable: dict[Machine, sites.Site] = {}
        for machine, found in probes.items():
            site = found if isinstance(found, MachineFailure) else bundle_site(found)
            if isinstance(site, MachineFailure):
                failed.append(f"{machine.label} ({site.status})")
                lines.append(_line(machine, f"{site.status}: {site.reason}"))
                if isinstance(found, Probe):
                    documents.append(stand_in_report(machine, found, site.status, site.reason, options.profile, 0.0))
                    (options.out / f"{_file_name(machine)}.failed.json").write_text(json.dumps(documents[-1], indent=1) + "\n")
            else:
                runnable[machine] = site
        if runnable:
            with tempfile.TemporaryDirectory(prefix="mmapconf-lab-bundle-") as scratch:
                bundle = Path(scratch) / "mmapconf.tar.gz"
                needed = list(dict.fromkeys(runnable.values()))
                progress.say(f"bundle for {', '.join(site.name for site in needed)}; machines: "
                             f"{', '.join(m.label for m in runnable)}")
                build_bundle(needed, options, bundle)
                outcomes = run_all(list(runnable), options, bundle, progress)
            for machine, outcome in outcomes.items():
                found = probes[machine]
                doc = machine_report(machine, found, outcome, options)
                documents.append(doc)
                what = (f"{outcome.status}{': ' + outcome.reason if outcome.reason else ''}; {platform(doc['host'])}, "
                        f"kernel {found.release}, CPython {found.python}; {outcome.total_s:.1f} s")
                if outcome.remote_dir and not outcome.removed:
                    what += f"; its remote directory {outcome.remote_dir} was not confirmed removed"
                lines.append(_line(machine, what))
                if outcome.status != "ok":
                    failed.append(f"{machine.label} ({outcome.status})")
    except KeyboardInterrupt as interrupt:
        progress.say(f"{PROG}: interrupted ({str(interrupt) or 'Ctrl-C'}): every suite stopped, no matrix written")
        return EXIT_INTERRUPTED
    except (BuildError, bundle_build.UsageError) as error:
        _say(f"{PROG}: the bundle cannot be built: {error}")
        return EXIT_SETUP
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("machines:\n" + "\n".join(lines))
    if not documents:
        print(f"exit {EXIT_MACHINE_FAILED}: no machine gave a report (nothing to merge): " + ", ".join(failed))
        return EXIT_MACHINE_FAILED
    matrix = merge([from_run(doc) for doc in documents])
    (options.out / "matrix.json").write_text(json.dumps(matrix, indent=1) + "\n")
    (options.out / "matrix.html").write_text(html.render(matrix))
    summary = markdown.render(matrix)
    (options.out / "summary.md").write_text(summary)
    print(f"\n{summary}\nmatrix:  {options.out / 'matrix.json'}\nhtml:    {options.out / 'matrix.html'}\n"
          f"summary: {options.out / 'summary.md'}")
    if failed:
        print(f"exit {EXIT_MACHINE_FAILED}: machine(s) failed as a whole: {', '.join(failed)}")
        return EXIT_MACHINE_FAILED
    contradicting = contradictions(matrix)
    if contradicting:
        print(f"exit {EXIT_UNEXPECTED}: {contradictions_line(contradicting)}")
        return EXIT_UNEXPECTED
    return EXIT_OK
