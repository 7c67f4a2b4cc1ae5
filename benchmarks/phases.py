"""Benchmark: where a suite run's time goes, per claim and per phase, against the cost of a fork measured in the same run.

    python benchmarks/phases.py [--target-dir DIR] [-k/--claim EXPRESSION] [--out FILE.json] [pytest options]
    python benchmarks/phases.py --from-log PHASES.jsonl [--out FILE.json]

Runs the real suite serially (pytest in a subprocess, with the instrumentation plugin benchmarks/phases_plugin.py,
which wraps the harness's functions from outside) and prints, per claim, sorted by time (worst first):

  ex       examples run: calls of the test's body by Hypothesis (shrinking and rejected draws included); for a
           test without @given (MODEL-1), the examples it judged
  wall     the claim test's time in the controlling process (s); ms/ex = wall / ex; xfork = ms/ex / fork floor
  fk/ex    processes made per example in the claim test's process (every os.fork() and subprocess start; not
           those of its scenario server, whose time is the server phase)
  then the wall time split into phases (s):
  forked   pytest-forked: forking the pytest process for the claim test, that process starting and exiting,
           its reports' way back
  pytest   set-up and teardown (fixtures) and pytest's own work in the claim test's process
  verdict  the verdict and its expectation (harness/verdicts.py _finish)
  hypo     Hypothesis outside the example bodies: generation, shrinking, database (0 for a test without @given:
           there it is part of scen)
  server   scenarios run in the claim test's scenario server (fixtures/scenario_server.py): their files, forks,
           children and own work there, and the rendezvous (the next phases are what runs in the test's process)
  files    scratch files made and removed (fixtures/files.py Workspace)
  forks    fork children made and reaped (fixtures/probe.py Child: pipes, fork, waiting for the child's exit);
           processes started (subprocess: fork and exec)
  child    calls into fork children as the test sees them: the child's work (its first call also pays for the
           child's set-up and its copy-on-write faults) and the rendezvous
  judge    Conformance.judge and the judge functions
  scen     the rest of the example bodies: the scenario's work in the test's own process (mmap, loads, stores)
  report   per-test reporting in the controlling process (terminal line, verdict collection)
  unacc    wall minus all of the above

then the run (start-up to the first test, the tests, the end), the floors (measured in the same run, in the same
pytest process, before the first test and after the last: fork + waitpid (and the same in a scenario server, for
comparison); a Hypothesis example that forks once, as many examples a run as the profile gives a claim test;
probe() of a no-op, and a Child's) and the cost per example against them. Serial only: the split is per process
(-n is refused).

``--from-log`` prints the same figures from a log the plugin wrote in a run elsewhere, such as a kernel guest:

    ./mmapconf kernels --no-host --kernel 6.12 --fs tmpfs --keep -- \
        -p benchmarks.phases_plugin --phases-log /run/mmapconf/results/phases.jsonl

(the guest's results share is kept under the run directory the summary names). The process's start and exit are not
in the log, so the run's time there starts at the plugin's import and ends at unconfigure.

Prints figures; decides nothing (timings are never test verdicts).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("forked", "pytest", "verdict", "hypo", "server", "files", "forks", "child", "judge", "scen", "report", "unacc")
# the plugin's phase names -> the table's
FROM_PLUGIN = {"pytest": "pytest", "verdict": "verdict", "hypothesis": "hypo", "server": "server", "files": "files",
               "forks": "forks",
               "child": "child", "judge": "judge", "scenario": "scen"}
USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR (pytest is not imported here)
PARALLEL_OPTIONS = ("-n", "--numprocesses", "--dist", "--maxprocesses", "-d", "--tx")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: {message}\n")


def parse_args() -> tuple[argparse.Namespace, list[str]]:
    parser = OneLineParser(description=__doc__.splitlines()[0],
                           epilog="Other options go to pytest as they are (e.g. --hypothesis-profile).")
    parser.add_argument("--target-dir", action="append", default=[], metavar="DIR",
                        help="the suite's --target-dir (default: the suite's default, the current directory)")
    parser.add_argument("-k", "--claim", dest="keyword", metavar="EXPRESSION",
                        help="the claims to run (pytest -k: claim IDs, topics, test names)")
    parser.add_argument("--out", type=Path, metavar="FILE.json", help="also write the figures as JSON to FILE.json")
    parser.add_argument("--floor-samples", type=int, default=200, metavar="N",
                        help="forks (and Hypothesis examples) per floor measurement (default 200)")
    parser.add_argument("--from-log", type=Path, metavar="PHASES.jsonl",
                        help="print the figures of a run recorded elsewhere with the plugin's --phases-log (no run here)")
    args, pytest_args = parser.parse_known_args()
    run_options = pytest_args + ["-k"] * bool(args.keyword) + ["--target-dir"] * bool(args.target_dir)
    if args.from_log and run_options:
        parser.error(f"{run_options[0]}: --from-log runs nothing, so it takes no options for a run")
    if args.from_log and not args.from_log.is_file():
        parser.error(f"--from-log: {args.from_log} is not a file")
    parallel = [a for a in pytest_args if a.split("=")[0] in PARALLEL_OPTIONS or (a.startswith("-n") and a[2:].isdigit())]
    if parallel:
        parser.error(f"{parallel[0]}: the split is per process, so the suite runs serially here (no xdist options)")
    if args.floor_samples < 1:
        parser.error("--floor-samples must be at least 1")
    return args, pytest_args


def run_suite(args: argparse.Namespace, pytest_args: list[str], scratch: Path) -> tuple[int, float, float, list[dict]]:
    log = scratch / "phases.jsonl"
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), "suite", "-n", "0",  # not parallel
               "-p", "benchmarks.phases_plugin", "--phases-log", str(log),
               "--phases-floor-samples", str(args.floor_samples), "--report", str(scratch / "report.json")]
    command += [option for directory in args.target_dir for option in ("--target-dir", directory)]
    command += ["-k", args.keyword] if args.keyword else []
    with open(scratch / "pytest.out", "w") as output:
        started = time.monotonic()
        status = subprocess.run(command + pytest_args, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT).returncode
        ended = time.monotonic()
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return status, started, ended, records


def claim_rows(records: list[dict], fork_floor: float | None) -> list[dict]:
    parents = {r["nodeid"]: r for r in records if r["kind"] == "item-parent"}
    children = {r["nodeid"]: r for r in records if r["kind"] == "item"}
    by_claim: dict[str, dict] = defaultdict(lambda: {"examples": 0, "judged": 0, "fork_count": 0, "steps": 0, "wall": 0.0,
                                                     "verdicts": [], **{phase: 0.0 for phase in PHASES}})
    for nodeid, parent in parents.items():
        child = children.get(nodeid)  # missing: the claim test's process died before its teardown ended
        row = by_claim[child["claim"] if child else nodeid]
        wall = parent["end"] - parent["start"]
        row["wall"] += wall
        row["report"] += parent["reporting"]
        accounted = parent["forked"] + parent["reporting"]
        if child:
            span = child["end"] - child["start"]
            if child["in_forked_child"]:
                row["forked"] += parent["forked"] - span
            else:
                accounted += span
            for phase, seconds in child["phases"].items():
                row[FROM_PLUGIN[phase]] += seconds
            counts = child["counts"]
            row["examples"] += counts.get("bodies", child["judged"] or 0)
            row["judged"] += child["judged"] or 0
            row["fork_count"] += counts.get("forks", 0)
            row["steps"] += counts.get("steps", 0)
            row["verdicts"].append(child["verdict"])
        else:
            row["forked"] += parent["forked"]
            row["verdicts"].append("crashed")
        row["unacc"] += wall - accounted
    rows = []
    for claim, row in by_claim.items():
        examples = row["examples"]
        row.update(claim=claim, ms_per_example=1000 * row["wall"] / examples if examples else None,
                   forks_per_example=row["fork_count"] / examples if examples else None)
        row["x_fork_floor"] = row["ms_per_example"] / (1000 * fork_floor) if examples and fork_floor else None
        rows.append(row)
    return sorted(rows, key=lambda r: -r["wall"])


def run_phases(run: dict, started: float, ended: float, items: list[dict], claims_wall: float) -> dict:
    """The run's time, start to end, in consecutive pieces (s); unaccounted: what lies between them."""
    floors = {when: end - start for when, (start, end) in run["floors"].items()}
    first = min(i["start"] for i in items) if items else run["runtestloop"][0] + floors.get("before", 0.0)
    last = max(i["end"] for i in items) if items else first
    pieces = {
        "process start and imports": run["imported"] - started,
        "pytest set-up (options, conftests, catalog)": run["configure"][0] - run["imported"],
        "configure": run["configure"][1] - run["configure"][0],
        "session start": run["collection"][0] - run["configure"][1],
        "collection": run["collection"][1] - run["collection"][0],
        "until the first test": first - run["collection"][1] - floors.get("before", 0.0),
        "claim tests": claims_wall,
        "between tests": (last - first) - claims_wall,
        "after the last test": run["runtestloop"][1] - last - floors.get("after", 0.0),
        "floor measurement (this benchmark's)": sum(floors.values()),
        "session finish (verdict table, JSON report)": run["sessionfinish"][1] - run["sessionfinish"][0],
        "unconfigure (targets removed)": run["unconfigure"][1] - run["unconfigure"][0],
        "process exit": ended - run["unconfigure"][1],
    }
    total = ended - started
    return {"total": total, "pieces": pieces, "unaccounted": total - sum(pieces.values()),
            "target_set_up": run.get("make_targets", 0.0), "terminal_summary": run.get("terminal_summary", 0.0),
            "start_up": first - started - floors.get("before", 0.0)}


def mean_floors(measured: list[dict]) -> dict | None:
    """The floors: the mean of their measurements (before the first test, after the last), which are kept too."""
    if not measured:
        return None
    figures = ("fork_wait", "server_fork_wait", "hypothesis_example", "probe_noop")
    parts = measured[0]["probe_split"]
    return {"samples": measured[0]["samples"], "measured": {m["when"]: m for m in measured},
            **{figure: sum(m[figure] for m in measured) / len(measured) for figure in figures},
            "probe_split": {part: sum(m["probe_split"][part] for m in measured) / len(measured) for part in parts}}


def fmt(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.1f}"


def print_table(rows: list[dict], totals: dict) -> None:
    header = f"{'claim':<22} {'ex':>5} {'wall':>7} {'ms/ex':>7} {'xfork':>6} {'fk/ex':>6} " + " ".join(
        f"{p:>7}" for p in PHASES)
    print(header)
    for row in rows + [totals]:
        print(f"{row['claim']:<22} {row['examples']:>5} {row['wall']:>7.2f} {fmt(row['ms_per_example'], 7)} "
              f"{fmt(row['x_fork_floor'], 6)} {fmt(row['forks_per_example'], 6)} "
              + " ".join(f"{row[p]:>7.2f}" for p in PHASES))
    if totals["examples"]:
        per_example = {p: 1000 * totals[p] / totals["examples"] for p in PHASES}
        print(f"{'per example (ms)':<22} {'':>5} {'':>7} {totals['ms_per_example']:>7.1f} {'':>6} {'':>6} "
              + " ".join(f"{per_example[p]:>7.2f}" for p in PHASES))


def recorded_run(log: Path) -> tuple[int, float, float, list[dict]]:
    """A log written elsewhere: the run starts at the plugin's import and ends at unconfigure."""
    try:
        records = [json.loads(line) for line in log.read_text().splitlines()]
    except (OSError, ValueError) as error:
        raise SystemExit(f"phases.py: --from-log: cannot read {log} as a phases log (JSON lines): {error}")
    if not all(isinstance(r, dict) and "kind" in r for r in records):
        raise SystemExit(f"phases.py: --from-log: {log} is not a phases log (a line is not one of its records)")
    runs = [r for r in records if r["kind"] == "run" and "unconfigure" in r]
    if not runs:
        raise SystemExit(f"phases.py: --from-log: {log} holds no finished run (the run was stopped before its end?)")
    return 0, runs[0]["imported"], runs[0]["unconfigure"][1], records


def main() -> int:
    args, pytest_args = parse_args()
    if args.from_log:
        status, started, ended, records = recorded_run(args.from_log)
        output = ""
    else:
        with tempfile.TemporaryDirectory(prefix="mmapconf-phases-") as scratch:
            status, started, ended, records = run_suite(args, pytest_args, Path(scratch))
            output = (Path(scratch) / "pytest.out").read_text()
    runs = [r for r in records if r["kind"] == "run"]
    if not runs or status not in (0, 1):  # 1: some test failed; the figures stand
        sys.stderr.write(output[-4000:])
        if status != USAGE_ERROR:  # pytest's one line says it all
            print(f"phases.py: the suite run ended with status {status}; no figures", file=sys.stderr)
        return status or 1
    floors = mean_floors([r for r in records if r["kind"] == "floors"])
    fork_floor = floors["fork_wait"] if floors else None
    rows = claim_rows(records, fork_floor)
    totals = {"claim": f"total ({len(rows)} claims)", **{key: sum(r[key] for r in rows) for key in
                                                           ("examples", "judged", "fork_count", "steps", "wall", *PHASES)}}
    examples = totals["examples"]
    totals.update(ms_per_example=1000 * totals["wall"] / examples if examples else None,
                  forks_per_example=totals["fork_count"] / examples if examples else None,
                  x_fork_floor=totals["wall"] / examples / fork_floor if examples and fork_floor else None)
    items = [r for r in records if r["kind"] == "item-parent"]
    run = run_phases(runs[0], started, ended, items, totals["wall"])

    if args.from_log:
        print(f"recorded in {args.from_log} (serial; process start and exit not recorded)")
    else:
        print(f"pytest {' '.join(['suite', *pytest_args])} (serial), exit status {status}"
              + (" (some tests failed)" if status == 1 else ""))
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):  # pytest's short summary: which tests failed
            print(f"  {line}")
    print_table(rows, totals)
    print(f"\nrun: {run['total']:.1f} s; start-up to the first test {run['start_up']:.1f} s (the floors' measurement "
          f"not counted)")
    for name, seconds in run["pieces"].items():
        print(f"  {name:<46} {seconds:8.2f} s")
    print(f"  {'unaccounted':<46} {run['unaccounted']:8.2f} s")
    print(f"  (configure includes target set-up and capability probes: {run['target_set_up']:.2f} s; session finish "
          f"includes the terminal summary: {run['terminal_summary']:.2f} s)")
    suite_time = run["total"] - run["pieces"]["floor measurement (this benchmark's)"]
    if floors:
        print(f"\nfloors (ms; {floors['samples']} samples each, in the pytest process; the mean of the measurements "
              f"before the first test and after the last is the floor):")
        for when, measured in [*floors["measured"].items(), ("floor", floors)]:
            split = measured["probe_split"]
            print(f"  {when:<6} fork + waitpid {1000 * measured['fork_wait']:.2f} (in a scenario server "
                  f"{1000 * measured['server_fork_wait']:.2f}); Hypothesis example with one fork "
                  f"{1000 * measured['hypothesis_example']:.2f}; probe() of a no-op {1000 * measured['probe_noop']:.2f}; "
                  f"a Child's no-op {1000 * sum(split.values()):.2f} (Child() {1000 * split['create']:.2f}, "
                  f"call {1000 * split['call']:.2f}, close {1000 * split['close']:.2f})")
    if floors and examples:
        per_example = totals["wall"] / examples
        print(f"cost per example: {1000 * per_example:.1f} ms in the claim tests ({examples} examples, "
              f"{totals['judged']} judged, {totals['wall']:.1f} s) = {per_example / floors['fork_wait']:.1f}x the fork "
              f"floor, {per_example / floors['hypothesis_example']:.1f}x the Hypothesis-example floor; "
              f"{1000 * suite_time / examples:.1f} ms over the whole run ({suite_time:.1f} s without the floors)")
    for row in rows:
        if row["steps"]:
            print(f"{row['claim']} ({', '.join(row['verdicts'])}): {row['steps']} checked steps in {row['wall']:.1f} s: "
                  f"{row['steps'] / row['wall']:.0f} steps/s")
    if args.out:
        args.out.write_text(json.dumps({"argv": sys.argv[1:], "pytest_exit_status": status, "run": run,
                                        "floors": floors, "claims": rows, "totals": totals}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
