"""Plugin: turns each claim test's run into a verdict for (claim, target).

A claim test is marked ``@pytest.mark.claim("ID")`` and takes ``conformance``
(this module's fixture) and ``target``. Each Hypothesis example hands a judge's
finding to ``conformance.judge``; at the end of the test the verdict is:

- refuted: an example refuted the claim (the last one raised is Hypothesis'
  shrunk, minimal counterexample; or, when the kernel did not do the same
  again as Hypothesis replayed it, the example that refuted, said so);
- observed: an implementation-defined claim took the recorded alternative(s);
- holds: every example held;
- unsupported: the target lacks what the claim requires (catalog ``requires``,
  harness/requirements.py: measured once per target, checked before the test
  runs), or no example could be set up on the target (each was rejected:
  ``conformance.reject``), or the test said so (``conformance.unsupported``);
- error: anything else went wrong (including a test that judged nothing).

The verdict travels to the controlling process in the report's
``user_properties`` (through pytest-forked and xdist alike). Expectations
(harness/expectations.py) decide whether it counts as a pass.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gc
import inspect
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import hypothesis
import pytest
from hypothesis.errors import Flaky, Unsatisfiable
from hypothesis.internal import charmap
from pytest_forked import forked_run_report

from fixtures import scenario_server
from fixtures.files import Rejected, Workspace
from fixtures.platform import host_identity
from harness.catalog import CatalogError, Claim, catalog
from harness.expectations import (EXPECTATIONS_DIR, Expectation, expectation_for, expectations, fs_names_in_expectations,
                                  has_small_blocks)
from harness.requirements import unmet
from harness.targets import Target
from harness.findings import Finding, found_in, plain
from reports.document import result_cell

RESULT_PROPERTY = "mmapconf.result"
ITEM_PROPERTY = "mmapconf.item"
_RECORD = pytest.StashKey["ClaimRecord"]()
_CLAIM = pytest.StashKey[Claim]()
_RUN_ALONE = pytest.StashKey["RunAlone"]()


class ClaimRefuted(AssertionError):
    """One example refuted a claim: carries the example's parameters and observation."""

    def __init__(self, claim_id: str, detail: str, params: Any, observation: Any):
        self.claim_id = claim_id
        self.detail = detail
        self.params = params
        self.observation = observation
        super().__init__(
            f"{claim_id} refuted: {detail}\n  parameters:  {json.dumps(plain(params))}"
            f"\n  observation: {json.dumps(plain(observation))}"
        )


@dataclass
class ClaimRecord:
    """What one claim test found on one target."""

    claim: Claim
    target: Target
    examples: int = 0
    alternatives: dict[str, Any] = field(default_factory=dict)
    verdict: str | None = None
    detail: str = ""
    counterexample: dict | None = None
    rejected: Counter = field(default_factory=Counter)  # why drawn examples could not be set up here
    started: float = field(default_factory=time.monotonic)

    def add(self, finding: Finding, params: Any, observation: Any, examples: int = 1) -> None:
        __tracebackhide__ = True  # a refutation's traceback ends at the test's judge line (and is formatted faster)
        self.examples += examples
        if finding.verdict == "refuted":
            raise ClaimRefuted(self.claim.id, finding.detail, params, observation)
        if finding.verdict == "observed":
            if finding.alternative not in self.claim.alternatives:
                raise ValueError(f"judge returned alternative {finding.alternative!r}, not one of {self.claim.alternatives}")
            self.alternatives.setdefault(finding.alternative, {"parameters": plain(params), "observation": plain(observation)})
        elif self.claim.kind == "impl":
            raise ValueError(f"{self.claim.id} is implementation-defined: its judge must name the alternative observed")

    def as_dict(self, expectation: Expectation | None, as_expected: bool) -> dict:
        return result_cell(self.claim.id, self.target.id, self.claim.inventory, self.verdict, self.detail,
                           as_expected=as_expected, alternative_examples=self.alternatives,
                           counterexample=self.counterexample, examples=self.examples,
                           duration_s=round(time.monotonic() - self.started, 3),
                           expected=expectation.as_dict() if expectation else None)


class Conformance:
    """What a claim test uses: scratch files on the target, and the judge's verdict sink."""

    def __init__(self, record: ClaimRecord):
        self.claim = record.claim
        self.target = record.target
        self.workspace = Workspace(Path(record.target.run_dir), record.target.fs.get("provisioned"), self.reject,
                                   record.target.fs.get("lacks"))
        self.state_dir = Path(record.target.state_dir)
        self._record = record
        self._server: scenario_server.ScenarioServer | None = None

    def observe(self, scenario: Callable, *args: Any) -> Any:
        """``scenario(*args)`` (``workspace`` among them, as it is), run in this claim test's scenario server
        (fixtures/scenario_server.py): its observation. An example the scenario found the target cannot hold is
        rejected (reject())."""
        if self._server is None:
            self._server = scenario_server.server()
        try:
            return self._server.observe(scenario, *args)
        except Rejected as rejection:
            self.reject(str(rejection))

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def __repr__(self) -> str:
        return f"Conformance({self.claim.id!r})"

    def judge(self, judge: Callable[[Any, Any], Finding], params: Any, observation: Any, examples: int = 1) -> None:
        """Apply a pure judge to one example; a refutation fails the example (and Hypothesis shrinks it).

        ``examples``: how many examples the observation covers (the model test judges all its sequences at once).
        An example the target refused (Workspace.refused_here: a write on a read-only filesystem, a shared
        mapping the filesystem will not make) is rejected, not judged."""
        __tracebackhide__ = True  # as in ClaimRecord.add
        reason = self.workspace.refused_here(observation)
        if reason:
            self.reject(reason)
        self._record.add(judge(params, observation), params, observation, examples)

    @staticmethod
    def unsupported(reason: str) -> None:
        """The claim cannot be checked here for a reason no requirement measures (the model: the expectations
        record no platform for it). A platform's lack is a requirement (harness/requirements.py) instead."""
        pytest.skip(f"unsupported: {reason}")

    def reject(self, reason: str) -> None:
        """This example cannot be set up on the target (another may): Hypothesis draws another. If none can,
        the claim is unsupported here, for the reason given most often."""
        self._record.rejected[reason] += 1
        hypothesis.reject()


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> Iterator[Conformance]:
    record = request.node.stash.get(_RECORD, None)
    if record is None:
        raise pytest.UsageError(f"{request.node.nodeid}: 'conformance' needs @pytest.mark.claim(ID) and a 'target' argument")
    conformance = Conformance(record)
    yield conformance
    conformance.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("mmapconf").addoption(
        "--expectations", metavar="DIR", type=Path, default=EXPECTATIONS_DIR,
        help="directory of expectation files: known platform behaviour (default: suite/expectations)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """A malformed claim or expectation file, or a missing expectations directory, stops the run before any
    plugin configures (targets provision filesystems then); the message names the file."""
    try:
        expectations(config.getoption("expectations"))  # loads the catalog too
    except CatalogError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the catalog claim this test checks (see suite/claims/)")
    config.addinivalue_line("markers", "run_alone: the claim depends on machine-wide state (write-back, page-cache "
                                       "residency): no other claim test runs at the same time, even under xdist")
    config.stash[_RUN_ALONE] = RunAlone()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RUN_ALONE in config.stash:
        config.stash[_RUN_ALONE].release()
    scenario_server.stop_zygote()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cat = catalog()
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker is None:
            continue
        claim_id = marker.args[0] if marker.args else None
        if claim_id not in cat:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim({claim_id!r}) names no claim in the catalog")
        claim = cat[claim_id]
        item.stash[_CLAIM] = claim
        item.extra_keyword_matches.update({claim.id, claim.topic, *claim.inventory})
        target = item.callspec.params.get("target") if hasattr(item, "callspec") else None
        item.user_properties.append((ITEM_PROPERTY, {"claim": claim.id, "target": target.id if target else None}))
    items.sort(key=lambda item: item.get_closest_marker("run_alone") is None)  # run_alone first (RunAlone); stable


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Run each claim test in its own forked process (pytest-forked's runner), so mappings, signal
    dispositions and rlimits never leak between claims. (Not via the ``forked`` marker: its name
    would make ``-k fork`` select every claim.)"""
    if _CLAIM not in item.stash:
        return None
    scenario_server.start_zygote()  # before the fork: every claim test's process asks it for a scenario server
    host_identity()  # found once, before the fork: every claim test's process inherits it
    _fill_caches_before_forks()
    run_alone = item.config.stash[_RUN_ALONE]
    run_alone.take(item)
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    # What this process holds is left out of the forked process's garbage collections: a collection there (Hypothesis
    # runs one before a test's first example) would write to every object's header, copying the whole heap page by
    # page (the kernel-matrix profile's claim tests, serially on the host: 11.8-12.0 s -> 9.7-9.9 s).
    gc.freeze()
    try:
        reports = forked_run_report(item)
    finally:
        gc.unfreeze()
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.session._setupstate.teardown_exact(nextitem)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    run_alone.keep_for(nextitem)
    return True


@functools.cache
def _fill_caches_before_forks() -> None:
    """Fill, once, caches that every forked claim test's process would otherwise fill for itself:
    - Hypothesis's table of Unicode categories, which st.characters() needs (read from .hypothesis/ in 5 ms, or made
      afresh in 85 ms on the host; about 1 s in an emulated guest);
    - inspect's map from files to modules: pytest formats a traceback with it, and Hypothesis has pytest format each
      failure twice; the map's first use resolves the path of every module loaded (30 ms on the host per refuted
      claim test)."""
    charmap.charmap()
    inspect.getmodule(_fill_caches_before_forks.__wrapped__.__code__)


def pytest_runtest_setup(item: pytest.Item) -> None:
    claim = item.stash.get(_CLAIM, None)
    if claim is None:
        return
    record = item.stash[_RECORD] = ClaimRecord(claim, item.callspec.params["target"])
    reason = _unsupported_reason(claim, record.target)
    if reason:
        record.verdict, record.detail = "unsupported", reason
        _finish(item, record)
        pytest.skip(f"unsupported: {reason}")


class RunAlone:
    """Claim tests share a lock in the run's state directory: run_alone ones take it exclusively, the others shared,
    so a write-back or residency claim never measures a machine that another claim test is busy writing to.

    The process that forks the claim tests (pytest's, or an xdist worker's) takes the lock before each fork. It keeps
    an exclusive lock for the next test when that one is run_alone too, and run_alone tests come first in the run
    (pytest_collection_modifyitems), so they run one after another under one lock, instead of each waiting for the
    claim test another worker is in the middle of. A shared lock is let go after each test, so a worker that waits
    for the exclusive one gets it between two tests."""

    def __init__(self) -> None:
        self._held: tuple[tuple[Path, int], IO] | None = None  # (lock file, mode), and the open lock file

    def take(self, item: pytest.Item) -> None:
        wanted = _lock_wanted(item)
        if self._held and self._held[0] == wanted:
            return
        self.release()
        if wanted:
            lock = open(wanted[0], "a")
            fcntl.flock(lock, wanted[1])
            self._held = wanted, lock

    def keep_for(self, nextitem: pytest.Item | None) -> None:
        """After a test: keep an exclusive lock the next test would take again, let go of anything else."""
        if self._held and not (self._held[0][1] == fcntl.LOCK_EX and _lock_wanted(nextitem) == self._held[0]):
            self.release()

    def release(self) -> None:
        if self._held:
            self._held[1].close()
            self._held = None


def _lock_wanted(item: pytest.Item | None) -> tuple[Path, int] | None:
    """The lock (file, mode) a claim test runs under; None for other tests, and for one that will not run its
    body (its target lacks what it requires: it is skipped at set-up)."""
    claim = item.stash.get(_CLAIM, None) if item is not None else None
    if claim is None:
        return None
    target = item.callspec.params["target"]
    if not target.state_dir or _unsupported_reason(claim, target):
        return None
    mode = fcntl.LOCK_EX if item.get_closest_marker("run_alone") else fcntl.LOCK_SH
    return Path(target.state_dir) / "run-alone.lock", mode


def _unsupported_reason(claim: Claim, target: Target) -> str | None:
    """The one place a claim becomes unsupported for a platform reason: what its target lacks of its requirements."""
    return target.unavailable or unmet(claim.requires, target.fs.get("lacks", {}))


def _finish(item: pytest.Item, record: ClaimRecord) -> tuple[Expectation | None, bool]:
    host = host_identity()
    expectation = expectation_for(item.config.getoption("expectations"), record.claim.id, host["os"],
                                  host["kernel_upstream"], fs_names_in_expectations(record.target.fs),
                                  has_small_blocks(record.target.fs))
    if record.verdict in ("unsupported", "error"):
        as_expected = record.verdict == "unsupported"
    elif expectation is None:
        as_expected = record.verdict in ("holds", "observed")
    elif expectation.verdict == "observed":
        as_expected = record.verdict == "observed" and sorted(record.alternatives) == sorted(expectation.alternatives)
    else:
        as_expected = record.verdict == expectation.verdict
    item.user_properties.append((RESULT_PROPERTY, record.as_dict(expectation, as_expected)))
    return expectation, as_expected


def _refuted(item: pytest.Item, record: ClaimRecord, refutation: ClaimRefuted, note: str = "") -> None:
    """Record the refutation; a recorded one (expectations) ends the test as an expected failure."""
    record.verdict, record.detail = "refuted", refutation.detail + note
    record.counterexample = {
        "parameters": plain(refutation.params),
        "observation": plain(refutation.observation),
        "hypothesis": getattr(refutation, "__notes__", []),  # the failing example and its replay line
    }
    expectation, as_expected = _finish(item, record)
    if as_expected:
        # Its reason is all an xfail report shows: no traceback (pytest would format the whole chain, source
        # lines included, which takes seconds per claim in an emulated guest).
        raise pytest.xfail.Exception(f"{record.claim.id} refuted, as recorded in {expectation.file}: "
                                     f"{expectation.reason}", pytrace=False) from None


@contextlib.contextmanager
def _native_tracebacks(config: pytest.Config) -> Iterator[None]:
    """While the claim test runs, failures are formatted as Python does (--tb=native). Hypothesis has pytest format
    every failure twice for its own use (before and after replaying the failing example; the text is only shown
    if the replay goes differently); pytest's default style parses each frame's source file to show whole
    statements: 0.84-0.89 s of a refuted claim test in a 6.12 TCG guest, 0.19-0.20 s natively (on the host 22 ms
    against 2 ms, under cProfile). The test's report, made after this, is formatted in the style the run asked for."""
    style = config.option.tbstyle
    config.option.tbstyle = "native"
    try:
        yield
    finally:
        config.option.tbstyle = style


def _reasons(rejected: Counter) -> str:
    return "; ".join(f"{reason} ({count}x)" for reason, count in rejected.most_common(2))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    record = item.stash.get(_RECORD, None)
    if record is None:
        return (yield)
    try:
        with _native_tracebacks(item.config):
            result = yield
    except ClaimRefuted as refutation:
        _refuted(item, record, refutation)
        raise
    except pytest.skip.Exception as skip:
        record.verdict, record.detail = "unsupported", str(skip.msg).removeprefix("unsupported: ")
        _finish(item, record)
        raise
    except Unsatisfiable:
        if not record.rejected:
            raise
        record.verdict, record.detail = "unsupported", f"no example could be set up: {_reasons(record.rejected)}"
        _finish(item, record)
        pytest.skip(f"unsupported: {record.detail}")
    except BaseException as error:
        # Flaky: an example refuted the claim, and the kernel did not do the same when Hypothesis replayed it
        refutation = found_in(error, ClaimRefuted) if isinstance(error, Flaky) else None
        if refutation is not None:
            _refuted(item, record, refutation, " (it did not happen again when Hypothesis replayed the example)")
        else:
            record.verdict, record.detail = "error", f"{type(error).__name__}: {error}"
            _finish(item, record)
        raise
    if record.examples == 0:
        record.verdict, record.detail = "error", "the test judged no example"
    else:
        record.verdict = "observed" if record.alternatives else "holds"
        if record.rejected:
            record.detail = (f"{record.examples} examples ran; {sum(record.rejected.values())} drawn could not be "
                             f"set up here: {_reasons(record.rejected)}")
    expectation, as_expected = _finish(item, record)
    if record.verdict == "error":
        pytest.fail(f"{record.claim.id}: {record.detail}", pytrace=False)
    if not as_expected:
        seen = f"observed {', '.join(sorted(record.alternatives))}" if record.alternatives else "holds"
        wanted = (f"{expectation.verdict} {', '.join(expectation.alternatives)}".strip()) if expectation else "?"
        pytest.fail(
            f"{record.claim.id} {seen} on this platform, but {expectation.file} records it as {wanted} "
            f"({expectation.reason}); update the expectation if the change is right",
            pytrace=False,
        )
    return result
