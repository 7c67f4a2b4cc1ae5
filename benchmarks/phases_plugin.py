"""pytest plugin of benchmarks/phases.py (``-p benchmarks.phases_plugin --phases-log FILE``): where a run's time goes.

It wraps the harness's and the fixtures' functions from outside (nothing in harness/ or fixtures/ knows of it) and
appends one JSON object a line to FILE:

- ``item``: from each claim test's own process (pytest-forked's child): when that process's set-up began and its
  teardown ended, and its time split into exclusive phases (``PHASES``), with its example and fork counts;
- ``item-parent``: from the controlling process: the test's wall time, the time in pytest-forked's runner (which
  holds the child) and in per-test reporting;
- ``floors``: fork + waitpid, a Hypothesis example that forks once, and probe() and a Child of a no-op, measured in the
  controlling process after the last test (so with everything the tests had loaded);
- ``run``: the controlling process's run-level timestamps (configure, collection, tests, floors, session finish,
  unconfigure).

Timestamps are time.monotonic() (CLOCK_MONOTONIC: one clock for every process of the machine).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any, Callable, Iterator

import pytest

IMPORTED = time.monotonic()


class Phases:
    """Exclusive time per phase: time goes to the innermost phase entered, so the phases add up to the time between
    start() and stop(). Inactive (every call a no-op) outside a claim test's process."""

    def __init__(self) -> None:
        self.active = False
        self.totals: Counter = Counter()
        self.counts: Counter = Counter()
        self._stack: list[str] = []
        self._mark = 0.0

    def start(self, base: str) -> float:
        self.active, self._stack, self.totals, self.counts = True, [base], Counter(), Counter()
        self._mark = time.monotonic()
        return self._mark

    def stop(self) -> float:
        now = time.monotonic()
        self.totals[self._stack[-1]] += now - self._mark
        self.active, self._stack = False, []
        return now

    def enter(self, phase: str) -> None:
        if self.active:
            now = time.monotonic()
            self.totals[self._stack[-1]] += now - self._mark
            self._stack.append(phase)
            self._mark = now

    def leave(self) -> None:
        if self.active:
            now = time.monotonic()
            self.totals[self._stack.pop()] += now - self._mark
            self._mark = now

    @contextlib.contextmanager
    def within(self, phase: str) -> Iterator[None]:
        self.enter(phase)
        try:
            yield
        finally:
            self.leave()

    def count(self, what: str, n: int = 1) -> None:
        if self.active:
            self.counts[what] += n


PHASES = Phases()


def _timed(phase: str, function: Callable, counted: str | None = None) -> Callable:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if counted:
            PHASES.count(counted)
        with PHASES.within(phase):
            return function(*args, **kwargs)
    return timed


def _timed_file(original: Callable) -> Callable:
    """Workspace.file: making the file and removing it are file set-up; what the example does meanwhile is not."""
    @contextlib.contextmanager
    @functools.wraps(original)
    def file(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        manager = original(self, *args, **kwargs)
        with PHASES.within("files"):
            path = manager.__enter__()
        try:
            yield path
        except BaseException:
            with PHASES.within("files"):
                if not manager.__exit__(*sys.exc_info()):
                    raise
        else:
            with PHASES.within("files"):
                manager.__exit__(None, None, None)
    return file


def _counted_fork(fork: Callable[[], int]) -> Callable[[], int]:
    @functools.wraps(fork)
    def counted() -> int:
        PHASES.count("forks")
        return fork()
    return counted


def _observed_steps(judge: Callable) -> Callable:
    """The model test's observation counts the steps it checked (issue 16 sets a target for MODEL-1's rate)."""
    @functools.wraps(judge)
    def judging(self, judge_fn, params, observation, examples=1):
        steps = getattr(observation, "steps", None)
        if isinstance(steps, int):
            PHASES.count("steps", steps)
        return judge(self, judge_fn, params, observation, examples)
    return judging


class Recorder:
    def __init__(self, config: pytest.Config, log: str):
        self.config = config
        self.log = log
        self.main_pid = os.getpid()
        self.run: dict[str, Any] = {"imported": IMPORTED}
        self.item: dict[str, Any] = {}  # the controlling process's figures for the test running now
        self.child_started = 0.0
        self.fork = os.fork

    def write(self, record: dict) -> None:
        with open(self.log, "a") as log:
            log.write(json.dumps(record) + "\n")

    def install(self) -> None:
        """Wrap what the phases are made of. Classes are patched in the controlling process: every claim test's
        process is forked from it."""
        from fixtures import probe
        from fixtures.files import Workspace
        from harness import targets, verdicts

        probe.Child.__init__ = _timed("forks", probe.Child.__init__)
        probe.Child.close = _timed("forks", probe.Child.close)
        probe.Child._reap = _timed("forks", probe.Child._reap)
        probe.Child.call = _timed("child", probe.Child.call)
        # Processes a scenario starts (ELF: programs run from the file under test): fork and exec, counted as forks.
        subprocess.Popen._execute_child = _timed("forks", subprocess.Popen._execute_child, counted="forks")
        Workspace.new_file = _timed("files", Workspace.new_file)
        Workspace.file = _timed_file(Workspace.file)
        verdicts.Conformance.judge = _observed_steps(_timed("judge", verdicts.Conformance.judge))
        verdicts.Conformance.observe = _timed("server", verdicts.Conformance.observe)
        verdicts._finish = _timed("verdict", verdicts._finish)
        os.fork = _counted_fork(self.fork)

        runner = verdicts.forked_run_report

        def forked_run_report(item):
            started = time.monotonic()
            try:
                return runner(item)
            finally:
                self.item["forked"] = time.monotonic() - started
        verdicts.forked_run_report = forked_run_report

        make_targets = targets._make_targets

        def timed_make_targets(*args, **kwargs):
            started = time.monotonic()
            try:
                return make_targets(*args, **kwargs)
            finally:
                self.run["make_targets"] = time.monotonic() - started
        targets._make_targets = timed_make_targets

    # --- the controlling process: run-level timestamps -------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config):
        self.run["configure"] = [time.monotonic()]

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session):
        self.run["collection"] = [time.monotonic()]
        try:
            return (yield)
        finally:
            self.run["collection"].append(time.monotonic())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session):
        # Before the first test and after the last: the machine's load may change in between.
        self.run["runtestloop"], self.run["floors"] = [time.monotonic()], {}
        if session.items:
            self.floors("before")
        result = yield
        if session.items:
            self.floors("after")
        self.run["runtestloop"].append(time.monotonic())
        return result

    def floors(self, when: str) -> None:
        started = time.monotonic()
        self.write({"kind": "floors", "when": when, **self.measure_floors()})
        self.run["floors"][when] = [started, time.monotonic()]

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session, exitstatus):
        self.run["sessionfinish"] = [time.monotonic()]
        try:
            return (yield)
        finally:
            self.run["sessionfinish"].append(time.monotonic())

    @pytest.hookimpl(wrapper=True)
    def pytest_terminal_summary(self, terminalreporter):
        started = time.monotonic()
        try:
            return (yield)
        finally:
            self.run["terminal_summary"] = time.monotonic() - started

    # --- each test: the controlling process's side ----------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.item = {"kind": "item-parent", "nodeid": item.nodeid, "start": time.monotonic(), "forked": 0.0,
                     "reporting": 0.0}
        try:
            return (yield)
        finally:
            self.item["end"] = time.monotonic()
            self.write(self.item)

    def _reporting(self):
        started = time.monotonic()
        try:
            return (yield)
        finally:
            if self.item:
                self.item["reporting"] += time.monotonic() - started

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logstart(self, nodeid, location):
        return (yield from self._reporting())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report):
        return (yield from self._reporting())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logfinish(self, nodeid, location):
        return (yield from self._reporting())

    # --- each test: its own process -------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        self.child_started = PHASES.start("pytest")
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        hypothesis_test = getattr(pyfuncitem.obj, "hypothesis", None)
        if hypothesis_test is None:  # no @given: the whole test is its example (the model's Hypothesis work included)
            with PHASES.within("scenario"):
                return (yield)
        inner = hypothesis_test.inner_test  # Hypothesis looks it up for each run, so that plugins may wrap it
        hypothesis_test.inner_test = _timed("scenario", inner, counted="bodies")
        try:
            with PHASES.within("hypothesis"):
                return (yield)
        finally:
            hypothesis_test.inner_test = inner

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        try:
            return (yield)
        finally:
            ended = PHASES.stop()
            from harness.verdicts import RESULT_PROPERTY
            result = dict(item.user_properties).get(RESULT_PROPERTY) or {}
            marker = item.get_closest_marker("claim")
            self.write({"kind": "item", "nodeid": item.nodeid, "claim": marker.args[0] if marker else item.nodeid,
                        "in_forked_child": os.getpid() != self.main_pid, "start": self.child_started, "end": ended,
                        "phases": dict(PHASES.totals), "counts": dict(PHASES.counts),
                        "judged": result.get("examples"), "verdict": result.get("verdict")})

    # --- floors ---------------------------------------------------------------------------------------------------

    def measure_floors(self) -> dict:
        from hypothesis import HealthCheck, given, settings, strategies as st

        from benchmarks import fork_floor
        from fixtures import scenario_server
        from fixtures.probe import Child, probe

        fork, samples = self.fork, self.config.getoption("phases_floor_samples")
        started = time.monotonic()
        for _ in range(samples):
            pid = fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        fork_wait = (time.monotonic() - started) / samples
        scenario_server.start_zygote()
        server = scenario_server.server()
        try:
            server_fork_wait = server.observe(fork_floor.fork_wait, samples)
        finally:
            server.close()

        bodies = 0

        # The profile in force, as the claim tests have it (so as many examples a run), without its example
        # database: nothing of this is kept.
        @settings(database=None, suppress_health_check=list(HealthCheck))
        @given(st.integers(0, 2 ** 20))
        def one_fork(n):
            nonlocal bodies
            bodies += 1
            pid = fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)

        started = time.monotonic()
        while bodies < samples:
            one_fork()
        hypothesis_example = (time.monotonic() - started) / bodies

        started = time.monotonic()
        for _ in range(samples):
            probe(os.getpid)
        probe_noop = (time.monotonic() - started) / samples
        split = Counter()
        for _ in range(samples):
            marks = [time.monotonic()]
            child = Child()
            marks.append(time.monotonic())
            child.call(os.getpid)
            marks.append(time.monotonic())
            child.close()
            marks.append(time.monotonic())
            for name, (a, b) in zip(("create", "call", "close"), zip(marks, marks[1:])):
                split[name] += b - a
        probe_split = {name: total / samples for name, total in split.items()}
        return {"samples": samples, "fork_wait": fork_wait, "server_fork_wait": server_fork_wait,
                "hypothesis_example": hypothesis_example,
                "hypothesis_examples": bodies, "probe_noop": probe_noop, "probe_split": probe_split}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("phases benchmark")
    group.addoption("--phases-log", metavar="FILE", help="benchmarks/phases.py: append the run's timings to FILE (JSON lines)")
    group.addoption("--phases-floor-samples", metavar="N", type=int, default=200,
                    help="benchmarks/phases.py: forks (and Hypothesis examples) per floor measurement (default 200)")


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    """Install before any plugin configures: the targets are set up in pytest_configure."""
    log = config.getoption("phases_log")
    if log and not hasattr(config, "workerinput"):
        recorder = Recorder(config, log)
        recorder.install()
        config.pluginmanager.register(recorder, "phases-recorder")
    return (yield)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    recorder = config.pluginmanager.get_plugin("phases-recorder")
    if recorder is not None:
        recorder.run["configure"].append(time.monotonic())


@pytest.hookimpl(wrapper=True)
def pytest_unconfigure(config: pytest.Config):
    recorder = config.pluginmanager.get_plugin("phases-recorder")
    started = time.monotonic()
    try:
        return (yield)
    finally:
        if recorder is not None and os.getpid() == recorder.main_pid:
            recorder.run["unconfigure"] = [started, time.monotonic()]
            recorder.write({"kind": "run", **recorder.run})
