"""Plugin: gathers verdicts in the controlling process, prints the table, writes the JSON report."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import settings

from fixtures.platform import host_identity
from reports import document, html, junit, matrix, table
from harness.catalog import ROOT, catalog, shown_path
from harness.replay import replay_line
from harness.targets import is_worker
from harness.verdicts import ITEM_PROPERTY, RESULT_PROPERTY


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmapconf")
    group.addoption(
        "--report", metavar="PATH", default=None,
        help="write the JSON report to PATH (default: reports/out/mmapconf-<time>.json)",
    )
    group.addoption("--report-html", metavar="PATH", default=None, help="also write the report as an HTML page to PATH")


# --junitxml is pytest's option, its writer blocked (-p no:junitxml in tox.ini): the run writes its report as JUnit
# XML there, as `python -m reports junit` does (reports/junit.py, the one JUnit producer).
OUTPUTS = (("report", "--report"), ("report_html", "--report-html"), ("xmlpath", "--junitxml"))


def _open_output(path: Path, flags: int) -> int:
    """A descriptor to write ``path``, never through a symbolic link (in /tmp or /dev/shm another user may have
    planted one to make this run overwrite a file of the link's choosing)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | flags, 0o644)


def unwritable(path: Path) -> str | None:
    """Why a file could not be written at ``path``, found by opening it for appending as the run will write it
    (a file this made is removed again; an existing one is left as it was)."""
    if path.is_symlink():
        return "is a symbolic link (a report is never written through one)"
    if path.is_dir():
        return "is a directory"
    if path.exists() and path.stat().st_uid != os.geteuid():
        return "belongs to another user"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:
        return f"{error.filename} is not a directory"
    except OSError as error:
        return f"cannot make the directory {error.filename}: {error.strerror}"
    made = not path.exists()
    try:
        os.close(_open_output(path, os.O_APPEND))
    except OSError as error:
        return f"cannot write the file: {error.strerror}"
    if made:
        path.unlink()
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """An output the run could not write is a usage error before the run, not a line after it."""
    if is_worker(config):
        return
    for option, flag in OUTPUTS:
        path = config.getoption(option)
        problem = unwritable(Path(path)) if path else None
        if problem:
            raise pytest.UsageError(f"{flag} {path}: {problem}")


class Results:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.records: dict[str, dict] = {}
        self.started = dt.datetime.now(dt.timezone.utc)
        self.clock = time.monotonic()
        self.path: Path | None = None
        self.html_path: Path | None = None
        self.junit_path: Path | None = None
        self.document: dict | None = None
        self.unwritten: list[str] = []  # the outputs that could not be written after all (a full disk)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        item = properties.get(ITEM_PROPERTY)
        if item is None:
            return
        result = properties.get(RESULT_PROPERTY)
        test_locations = [self._test_location(report)]
        target = next((t for t in self.config.mmapconf_targets if t.id == item["target"]), None)
        replay = replay_line(self.config, item["claim"], target) if target else None
        if result is not None:  # the verdict, from the call (or from set-up, for an unavailable target)
            self.records[report.nodeid] = dict(result, tests=[report.nodeid], test_locations=test_locations,
                                               replay=replay)
        elif report.nodeid not in self.records and (report.failed or report.skipped):
            # setup or teardown went wrong, or the forked child crashed before a verdict
            reason = report.longreprtext.strip().splitlines()[-1] if report.longreprtext.strip() else report.outcome
            self.records[report.nodeid] = document.result_cell(
                item["claim"], item["target"], catalog()[item["claim"]].inventory,
                "unsupported" if report.skipped else "error", reason, as_expected=bool(report.skipped),
                duration_s=round(report.duration, 3), tests=[report.nodeid], test_locations=test_locations,
                replay=replay)

    def _test_location(self, report: pytest.TestReport) -> dict:
        """Where the test's function is, for the report's links: its file as the catalog's entries name theirs."""
        file, line, _ = report.location  # the file from the root directory, the line from 0
        return {"file": shown_path(self.config.rootpath / file), "line": (line or 0) + 1}

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.records:
            return  # no claim test ran (e.g. only the harness tests): no conformance report
        targets = self.config.mmapconf_targets
        self.document = document.build(
            run={
                "started": self.started.isoformat(timespec="seconds"),
                "duration_s": round(time.monotonic() - self.clock, 1),
                "hypothesis_profile": settings.get_current_profile_name(),
                "argv": sys.argv[1:],
                "exit_status": int(exitstatus),
                "mmapconf_commit": _commit(self.config.rootpath),
                "source": {"checkout": str(ROOT), "repository": repository_url(ROOT)},
            },
            host=host_identity(),
            targets=[t.as_dict() for t in targets],
            claims=[c.as_dict() for c in catalog().claims],
            results=list(self.records.values()),
        )
        option = self.config.getoption("report")
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        self.path = Path(option) if option else self.config.rootpath / "reports" / "out" / f"mmapconf-{stamp}-{os.getpid()}.json"
        self.path = self._write(self.path, json.dumps(self.document, indent=1) + "\n")
        html_option = self.config.getoption("report_html")
        if html_option:
            self.html_path = self._write(Path(html_option), html.render(matrix.from_run(self.document)))
        junit_option = self.config.getoption("xmlpath")
        if junit_option:
            self.junit_path = self._write(Path(junit_option), junit.render(matrix.from_run(self.document)))
        if self.unwritten and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR  # the run did not leave what was asked of it

    def _write(self, path: Path, text: str) -> Path | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with os.fdopen(_open_output(path, os.O_TRUNC), "w") as output:
                output.write(text)
        except OSError as error:
            self.unwritten.append(f"mmapconf: cannot write {path}: {error.strerror}")
            return None
        return path

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.document is None:
            asked = [flag for option, flag in OUTPUTS if self.config.getoption(option)]
            if asked:
                terminalreporter.line(f"mmapconf: no claim test ran, so nothing was written for {', '.join(asked)}")
            return
        terminalreporter.section("mmapconf verdicts")
        for line in table.render(self.document):
            terminalreporter.line(line)
        if self.path:
            terminalreporter.line(f"report: {self.path}")
        if self.html_path:
            terminalreporter.line(f"html: {self.html_path}")
        if self.junit_path:
            terminalreporter.line(f"junit: {self.junit_path}")
        for problem in self.unwritten:
            terminalreporter.line(problem, red=True)


def _git(root: Path, *args: str) -> str | None:
    """What a git command prints about the checkout at ``root``; None when it is not one (or git is missing)."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _commit(root: Path) -> str | None:
    """The checkout's commit: an unpacked bundle's from its manifest (./mmapconf bundle: it may lie inside another
    git checkout, or none), else git's."""
    manifest = root / "bundle-manifest.json"
    if manifest.is_file():
        return json.loads(manifest.read_text())["commit"]
    return _git(root, "rev-parse", "--short", "HEAD")


def repository_url(root: Path) -> str | None:
    """The checkout's ``origin`` as a web address to link files at a commit (``…/blob/COMMIT/FILE#LLINE``): an https
    remote on GitHub or GitLab (github.com, gitlab.com, or a host named github.* or gitlab.*), without any user
    name or token in it; else None (the HTML page then links into the checkout itself). Only a git checkout of its
    own counts: an unpacked bundle inside another project's checkout is not that project."""
    if _git(root, "rev-parse", "--show-toplevel") != str(root.resolve()):
        return None
    parts = urlsplit(_git(root, "remote", "get-url", "origin") or "")
    host = parts.hostname or ""
    path = parts.path.rstrip("/").removesuffix(".git")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a port number: not a remote to link to
        return None
    forge = host in ("github.com", "gitlab.com") or host.startswith(("github.", "gitlab."))
    if parts.scheme != "https" or not forge or path.count("/") < 2:  # an https address of /owner/name
        return None
    return f"https://{host}{port}{path}"


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not is_worker(config):
        config.pluginmanager.register(Results(config), "mmapconf-results")
