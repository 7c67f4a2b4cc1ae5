"""Plugin: gathers verdicts in the controlling process, prints the table, writes the JSON report."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import settings

from fixtures.platform import host_identity
from reports import document, html, matrix, table
from harness.catalog import catalog
from harness.targets import is_worker
from harness.verdicts import ITEM_PROPERTY, RESULT_PROPERTY


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmapconf")
    group.addoption(
        "--report", metavar="PATH", default=None,
        help="write the JSON report to PATH (default: reports/out/mmapconf-<time>.json)",
    )
    group.addoption("--report-html", metavar="PATH", default=None, help="also write the report as an HTML page to PATH")


class Results:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.records: dict[str, dict] = {}
        self.started = dt.datetime.now(dt.timezone.utc)
        self.clock = time.monotonic()
        self.path: Path | None = None
        self.html_path: Path | None = None
        self.document: dict | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        item = properties.get(ITEM_PROPERTY)
        if item is None:
            return
        result = properties.get(RESULT_PROPERTY)
        if result is not None:  # the verdict, from the call (or from set-up, for an unavailable target)
            self.records[report.nodeid] = dict(result, tests=[report.nodeid])
        elif report.nodeid not in self.records and (report.failed or report.skipped):
            # setup or teardown went wrong, or the forked child crashed before a verdict
            reason = report.longreprtext.strip().splitlines()[-1] if report.longreprtext.strip() else report.outcome
            self.records[report.nodeid] = document.result_cell(
                item["claim"], item["target"], catalog()[item["claim"]].inventory,
                "unsupported" if report.skipped else "error", reason, as_expected=bool(report.skipped),
                duration_s=round(report.duration, 3), tests=[report.nodeid])

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

    def _write(self, path: Path, text: str) -> Path | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as error:
            self.config.get_terminal_writer().line(f"mmapconf: cannot write {path}: {error.strerror}", red=True)
            return None
        return path

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.document is None:
            return
        terminalreporter.section("mmapconf verdicts")
        for line in table.render(self.document):
            terminalreporter.line(line)
        if self.path:
            terminalreporter.line(f"report: {self.path}")
        if self.html_path:
            terminalreporter.line(f"html: {self.html_path}")


def _commit(root: Path) -> str | None:
    """The checkout's commit, when the suite runs from a git checkout."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not is_worker(config):
        config.pluginmanager.register(Results(config), "mmapconf-results")
