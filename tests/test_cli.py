"""The suite as a user runs it: bad targets give one clear line; a run writes the report and the table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Callable

import pytest

from harness.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[1]


def run_suite(*args: str, cwd: Path = ROOT, cache: Path | None = None,
              preexec_fn: Callable[[], None] | None = None, path: tuple[Path, ...] = (),
              without_site_packages: bool = False) -> subprocess.CompletedProcess:
    """The suite run as pytest; pytest's cache is off (the checkout's stays as it was) unless ``cache`` names one.
    ``path``: more directories to import from (after the checkout); ``without_site_packages``: python -S, so
    ``path`` is all there is besides the standard library."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, (ROOT, *path))))
    cache_options = ["-o", f"cache_dir={cache}"] if cache else ["-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, *(["-S"] if without_site_packages else []), "-m", "pytest", "-c", str(ROOT / "tox.ini"), str(ROOT / "suite"), *cache_options, "-q", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, preexec_fn=preexec_fn,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess, message: str) -> None:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert "Traceback" not in output
    assert output.splitlines() == [f"ERROR: {message}"], output


def test_missing_target(tmp_path):
    missing = tmp_path / "missing"
    assert_one_clear_line(run_suite("--target-dir", str(missing)), f"target directory {missing} does not exist")


def test_target_is_a_file(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    assert_one_clear_line(run_suite("--target-dir", str(file)), f"target {file} is not a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any directory whatever its mode")
def test_target_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_one_clear_line(run_suite("--target-dir", str(locked)), f"target directory {locked} is not writable by this user")


@pytest.fixture
def read_only_mount(tmp_path):
    point = tmp_path / "ro"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only filesystem needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "mmapconf-test-ro", str(point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_target_on_read_only_mount(read_only_mount):
    assert_one_clear_line(run_suite("--target-dir", str(read_only_mount)),
                          f"target directory {read_only_mount} is on a read-only mount")


def test_run_reports_every_claim_per_target(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    report = tmp_path / "report.json"
    result = run_suite("-k", "SYNC-4", "--target-dir", str(first), "--target-dir", str(second),
                       "--report", str(report), "--hypothesis-profile", "ci")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mmapconf verdicts" in result.stdout and f"report: {report}" in result.stdout
    document = json.loads(report.read_text())
    assert document["format"] == "mmapconf-report" and document["version"] == 1
    assert [t["directory"] for t in document["targets"]] == [str(first), str(second)]
    catalog_ids = [c.id for c in load_catalog().claims]
    assert [c["id"] for c in document["claims"]] == catalog_ids
    cells = {(r["claim"], r["target"]): r for r in document["results"]}
    assert len(cells) == len(catalog_ids) * 2
    for target in document["targets"]:
        cell = cells[("SYNC-4", target["id"])]
        assert cell["verdict"] in ("holds", "refuted") and cell["examples"] > 0
        assert cells[("OPEN-1", target["id"])]["verdict"] == "not run"
    assert document["host"]["page_size"] > 0 and document["targets"][0]["fs"]["type"]
    assert not list(first.iterdir()) and not list(second.iterdir()), "the run left files in its targets"


# Mistakes found before the run: one line, pytest's usage status. Each run names a missing target directory
# too: the line is about the mistake, not the target, so it was found before the targets were looked at (and
# before any filesystem is provisioned).

@pytest.fixture
def target_dir(tmp_path):
    return tmp_path / "missing-target"


def assert_refused_before_the_run(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, message)


def not_a_directory(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "file").write_text("")
    return str(tmp_path / "file" / "r.json"), f"{tmp_path / 'file'} is not a directory"


def planted_link(tmp_path: Path) -> tuple[str, str]:
    """A link another user could plant in /tmp or /dev/shm where a report is to go: never written through."""
    victim = tmp_path / "victim"
    victim.write_text("kept")
    (tmp_path / "r.json").symlink_to(victim)
    return str(tmp_path / "r.json"), "is a symbolic link (a report is never written through one)"


def another_users_file(tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / "r.json"
    path.write_text("theirs")
    os.chown(path, 65534, 65534) if os.geteuid() == 0 else pytest.skip("only root can give a file to another user")
    return str(path), "belongs to another user"


@pytest.mark.parametrize("option", ["--report", "--report-html", "--junitxml"])
@pytest.mark.parametrize("output", [
    lambda tmp_path: ("/proc/nope.json", "cannot write the file: No such file or directory"),
    lambda tmp_path: (str(tmp_path), "is a directory"),
    lambda tmp_path: ("/proc/nope/r.json", "cannot make the directory /proc/nope: No such file or directory"),
    not_a_directory,
    planted_link,
    another_users_file,
], ids=["proc", "directory", "parent-cannot-be-made", "parent-is-a-file", "planted-link", "another-users-file"])
def test_unwritable_output_is_refused_before_the_run(tmp_path, target_dir, option, output):
    path, problem = output(tmp_path)
    result = run_suite("-k", "SYNC-4", f"--target-dir={target_dir}", f"{option}={path}")
    if option == "--junitxml" and problem == "is a directory":  # pytest's own check of its option speaks first
        assert_refused_before_the_run(result, f"--junitxml must be a filename, given: {path}")
    else:
        assert_refused_before_the_run(result, f"{option} {path}: {problem}")
    assert not (tmp_path / "victim").exists() or (tmp_path / "victim").read_text() == "kept"


def test_output_check_leaves_no_file(tmp_path):
    report = tmp_path / "out" / "r.json"
    result = run_suite("--collect-only", f"--target-dir={tmp_path}", f"--report={report}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not report.exists() and report.parent.is_dir()


@pytest.mark.parametrize("name", ["nosuch", "default"])  # default: Hypothesis's own, with its 200 ms deadline
def test_unknown_hypothesis_profile(target_dir, name):
    result = run_suite("-k", "SYNC-4", f"--target-dir={target_dir}", "--hypothesis-profile", name)
    assert_refused_before_the_run(
        result, f"--hypothesis-profile {name}: no such profile; the profiles are dev, ci, thorough, kernel-matrix, "
                "kernel-smoke")


@pytest.mark.parametrize("make, problem", [(lambda path: None, "does not exist"),
                                           (lambda path: path.write_text(""), "is not a directory")])
def test_expectations_path_that_is_no_directory(tmp_path, target_dir, make, problem):
    path = tmp_path / "expectations"
    make(path)
    result = run_suite("-k", "SYNC-4", f"--target-dir={target_dir}", "--expectations", str(path))
    assert_refused_before_the_run(
        result, f"expectations directory {path} {problem} (expectation files: suite/expectations/*.toml)")


def test_expectation_error_names_the_file_with_its_directory(tmp_path, target_dir):
    expectations = tmp_path / "expectations"
    expectations.mkdir()
    (expectations / "open.toml").write_text('[[expect]]\nclaim = "OPEN-1"\nverdict = "holds"\nreason = "r"\nreference = "x"\n')
    result = run_suite("-k", "SYNC-4", f"--target-dir={target_dir}", f"--expectations={expectations}")
    assert_refused_before_the_run(
        result, f"{expectations / 'open.toml'} entry #1: verdict must be 'refuted', or 'observed' with alternatives")


@pytest.mark.parametrize("workers", [("-n", "0"), ("-n", "2")], ids=["one-process", "xdist"])
def test_selection_that_matches_no_claim_says_how_to_list_them(workers):
    result = run_suite("-k", "NOSUCH", *workers)
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED  # pytest's status, kept
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "mmapconf: -k 'NOSUCH' selects no test; `./mmapconf suite --collect-only -q` lists the tests, "
        "`./mmapconf suite --list-claims` the claims (-k matches claim IDs, topics and test names, "
        "--claim claim IDs only)"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (opens, then every write fails: ENOSPC)")
def test_report_that_cannot_be_written_at_the_end_is_its_own_line_and_fails_the_run(tmp_path):
    result = run_suite("-k", "SYNC-4", f"--target-dir={tmp_path}", "--hypothesis-profile=ci", "--report=/dev/full")
    assert result.returncode == pytest.ExitCode.INTERNAL_ERROR, result.stdout + result.stderr
    assert "mmapconf: cannot write /dev/full: No space left on device" in result.stdout.splitlines()


# The plugins a run loads: the ones tox.ini names, and no other.

SEEN_BY_PLUGIN = """
import json, os, sys

def pytest_configure(config):
    with open(os.environ["MMAPCONF_SEEN"], "w") as seen:
        json.dump({"plugins": [name for name, _ in config.pluginmanager.list_name_plugin()],
                   "hypothesis_loader": type(sys.modules["hypothesis.core"].__spec__.loader).__name__}, seen)
"""


@pytest.fixture
def seen_at_configure(tmp_path, monkeypatch):
    """What a run has loaded when it configures, with a stray pytest plugin installed on its path (a distribution
    with a pytest11 entry point, as pip would leave it): the run's plugin names and how hypothesis was imported."""
    (tmp_path / "seen_by_plugin.py").write_text(SEEN_BY_PLUGIN)
    (tmp_path / "stray_plugin.py").write_text("")
    dist = tmp_path / "stray_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: stray-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\nstray = stray_plugin\n")
    (dist / "RECORD").write_text("stray_plugin.py,,\n")
    monkeypatch.setenv("MMAPCONF_SEEN", str(tmp_path / "seen.json"))
    result = run_suite("--collect-only", "-p", "seen_by_plugin", path=(tmp_path,))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((tmp_path / "seen.json").read_text())


def test_run_loads_the_plugins_tox_ini_names_and_no_other(seen_at_configure):
    plugins = seen_at_configure["plugins"]
    assert {"hypothesispytest", "pytest_forked", "xdist", "harness.plugin"} <= set(plugins)
    assert "stray" not in plugins


def test_hypothesis_is_imported_as_it_is_not_rewritten_by_pytest(seen_at_configure):
    assert seen_at_configure["hypothesis_loader"] == "SourceFileLoader"


def test_a_plugin_the_suite_needs_that_is_not_installed_is_one_line(tmp_path):
    """This environment's packages, pytest-xdist left out."""
    packages = tmp_path / "packages"
    packages.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("xdist", "pytest_xdist")):
            (packages / entry.name).symlink_to(entry)
    assert_one_clear_line(run_suite("--collect-only", path=(packages,), without_site_packages=True),
                          "this Python lacks pytest-xdist, which the suite needs: run it with ./mmapconf suite "
                          "(which installs what it needs), or pip install -r requirements.txt")


# Selecting claims: --claim (exact IDs and globs), --list-claims, and test IDs that name claim and target.

@pytest.fixture
def t_dir(tmp_path):
    """A target directory whose target ID is "t". (A fixture named ``target`` would be the harness's parameter.)"""
    (tmp_path / "t").mkdir()
    return tmp_path / "t"


def collected(result: subprocess.CompletedProcess) -> list[str]:
    """The node IDs a --collect-only -q run lists."""
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def claims_in(nodeids: list[str]) -> list[str]:
    """The claim each test ID on target "t" names: test_x[CLAIM:t]."""
    assert nodeids and all(n.endswith(":t]") for n in nodeids), nodeids
    return [n[n.rindex("[") + 1:-len(":t]")] for n in nodeids]


def test_every_test_id_names_its_claim_and_its_target(t_dir):
    nodeids = collected(run_suite("--collect-only", f"--target-dir={t_dir}"))
    assert sorted(claims_in(nodeids)) == sorted(c.id for c in load_catalog().claims)
    one = next(n for n in nodeids if n.endswith("[SYNC-1:t]"))
    assert collected(run_suite("--collect-only", f"--target-dir={t_dir}", "-k", "SYNC-1:t")) == [one]


def test_claim_selects_exactly_that_claim(t_dir):
    assert claims_in(collected(run_suite("--collect-only", f"--target-dir={t_dir}", "--claim", "SYNC-1"))) == ["SYNC-1"]
    by_keyword = claims_in(collected(run_suite("--collect-only", f"--target-dir={t_dir}", "-k", "SYNC-1")))
    assert "SYNC-10" in by_keyword  # what -k matches besides: the reason for --claim


@pytest.mark.parametrize("patterns, chosen", [
    (["PAGE-*"], lambda claim_id: claim_id.startswith("PAGE-")),
    (["page-4/*"], lambda claim_id: claim_id.startswith("PAGE-4/")),
    (["SYNC-4", "EOF-?"], lambda claim_id: claim_id == "SYNC-4" or claim_id.startswith("EOF-")),
], ids=["topic", "readings-any-case", "exact-and-glob"])
def test_claim_globs_select_every_claim_they_match(t_dir, patterns, chosen):
    wanted = [c.id for c in load_catalog().claims if chosen(c.id)]
    assert len(wanted) > 1
    result = run_suite("--collect-only", f"--target-dir={t_dir}", *[f"--claim={p}" for p in patterns])
    assert sorted(claims_in(collected(result))) == sorted(wanted)


def test_claim_that_names_no_claim_is_refused_before_the_run(target_dir):
    assert_refused_before_the_run(run_suite("--claim", "SYNC-4", "--claim", "NOSUCH-*", f"--target-dir={target_dir}"),
                                  "--claim NOSUCH-*: no claim ID matches; `./mmapconf suite --list-claims` "
                                  "lists them")


def test_claims_that_select_no_test_say_how_to_list_them(t_dir):
    result = run_suite("--claim", "SYNC-4", "-k", "EOF", f"--target-dir={t_dir}")
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert result.stderr.strip().splitlines() == [
        "mmapconf: -k 'EOF' --claim 'SYNC-4' selects no test; `./mmapconf suite --collect-only -q` lists the "
        "tests, `./mmapconf suite --list-claims` the claims (-k matches claim IDs, topics and test names, "
        "--claim claim IDs only)"]


def test_list_claims_prints_the_catalog_and_runs_nothing(target_dir):
    result = run_suite("--list-claims", f"--target-dir={target_dir}")  # a missing target: never looked at
    assert result.returncode == 0 and result.stderr == "", result.stdout + result.stderr
    lines = result.stdout.splitlines()
    claims = load_catalog().claims
    assert len(lines) == len(claims)
    for line, claim in zip(lines, claims):
        assert line.split(maxsplit=3) == [claim.id, claim.kind, claim.topic, " ".join(claim.statement.split())]


# pytest's cache and Hypothesis' files live in the checkout, whatever the current directory.

def test_last_failed_reruns_only_the_failure(tmp_path, t_dir):
    cache, expectations = tmp_path / "cache", tmp_path / "expectations"
    expectations.mkdir()
    # SYNC-4 holds here: recorded as refuted, it fails the run (EOF-1 has no entry: it holds and passes).
    (expectations / "sync.toml").write_text('[[expect]]\nclaim = "SYNC-4"\nverdict = "refuted"\nos = "Linux"\n'
                                            'reason = "a reason"\nreference = "a reference"\n')

    def run(*args: str) -> dict:
        report = tmp_path / "report.json"
        result = run_suite("--claim=SYNC-4", "--claim=EOF-1", f"--target-dir={t_dir}", f"--expectations={expectations}",
                           "--hypothesis-profile=ci", f"--report={report}", *args, cwd=t_dir, cache=cache)
        assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
        return {c["claim"]: c["verdict"] for c in json.loads(report.read_text())["results"] if c["verdict"] != "not run"}

    assert run() == {"SYNC-4": "holds", "EOF-1": "holds"}
    assert run("--lf") == {"SYNC-4": "holds"}
    assert not list(t_dir.iterdir()), "the run left files in its target (its current directory)"


def test_pytest_cache_and_hypothesis_files_are_in_the_checkout(tmp_path):
    # Without tox's TOX_ENV_DIR, with which pytest keeps its cache in the tox environment (also in the checkout).
    env = {name: value for name, value in os.environ.items() if name != "TOX_ENV_DIR"}
    env["PYTHONPATH"] = str(ROOT)
    shown = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), "--cache-show"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert f"cachedir: {ROOT / '.pytest_cache'}" in shown.stdout.splitlines(), shown.stdout + shown.stderr
    database = subprocess.run(
        [sys.executable, "-c", "import harness.profiles; from hypothesis import settings; "
                               "print(settings.get_profile('dev').database.path)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert database.stdout.strip() == str(ROOT / ".hypothesis" / "examples")
    assert not list(tmp_path.iterdir())


# A report's replay line and its JUnit XML, from one real run: BUS-4/mapping-end is refuted on Linux, as recorded.

@pytest.fixture(scope="module")
def refuted_run(tmp_path_factory) -> tuple[Path, Path]:
    """The JSON report and the --junitxml file of the run."""
    directory = tmp_path_factory.mktemp("refuted")
    (directory / "target").mkdir()
    report, junit = directory / "report.json", directory / "junit.xml"
    result = run_suite("--claim=BUS-4/mapping-end", f"--target-dir={directory / 'target'}", "--hypothesis-profile=ci",
                       f"--report={report}", f"--junitxml={junit}")
    assert result.returncode == 0, result.stdout + result.stderr
    return report, junit


def bus_4_cell(report: Path) -> dict:
    return next(c for c in json.loads(report.read_text())["results"] if c["claim"] == "BUS-4/mapping-end")


def test_replay_line_runs_as_printed_and_gives_the_same_verdict(refuted_run):
    cell = bus_4_cell(refuted_run[0])
    assert cell["verdict"] == "refuted" and cell["as_expected"]
    assert cell["replay"].startswith("./mmapconf suite --claim BUS-4/mapping-end --target-dir ")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env["PYTEST_ADDOPTS"] = "-p no:cacheprovider"  # keeps the checkout's pytest cache as it was
    replayed = subprocess.run(cell["replay"], shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    report = Path(next(line for line in replayed.stdout.splitlines() if line.startswith("report: "))[len("report: "):])
    try:
        again = bus_4_cell(report)
    finally:
        report.unlink()
    assert (again["verdict"], again["as_expected"], again["replay"]) == ("refuted", True, cell["replay"])
    assert again["tests"] == cell["tests"]  # the same node ID: Hypothesis replays the examples it saved for it


def test_junitxml_is_what_reports_junit_makes_of_the_report(refuted_run):
    report, junit = refuted_run
    rendered = subprocess.run([sys.executable, "-m", "reports", "junit", str(report)], cwd=ROOT,
                              capture_output=True, text=True, check=True)
    assert junit.read_text() == rendered.stdout
    assert 'name="claim" value="BUS-4/mapping-end"' in rendered.stdout
