"""The verdict plugin: how a claim test's examples become holds / refuted / observed / unsupported / error,
and how expectation files turn a recorded refutation into an expected failure (strictly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ["-p", "harness.plugin"]

CLAIM_TESTS = '''
import gc

import pytest
from hypothesis import given, strategies as st
from harness.findings import holds, observed, refuted


def judge_even(n, seen):
    return holds() if seen % 2 == 0 else refuted(f"{seen} is odd")


def judge_always_holds(n, seen):
    return holds()


def judge_hint(n, seen):
    return observed(seen)


@pytest.mark.claim("SYNC-4")
@given(n=st.integers(0, 1000))
def test_refuted(conformance, target, n):
    conformance.judge(judge_even, n, n)


@pytest.mark.claim("SYNC-5")
@given(n=st.integers(0, 1000))
def test_holds(conformance, target, n):
    conformance.judge(judge_always_holds, n, n)


@pytest.mark.claim("GEOM-6")
@given(n=st.integers(0, 10))
def test_observed(conformance, target, n):
    conformance.judge(judge_hint, n, "hint-ignored")


@pytest.mark.claim("GEOM-6")
@given(n=st.integers(0, 10))
def test_impl_judged_as_holds(conformance, target, n):
    conformance.judge(judge_always_holds, n, n)


@pytest.mark.claim("SYNC-8")
def test_unsupported(conformance, target):
    conformance.unsupported("no such thing here")


REFUTED_ONCE = []  # a kernel that misbehaves only the first time: the replay of the failing example holds


def judge_first_call_refutes(n, seen):
    return refuted("the first call refutes") if seen == 1 else holds()


@pytest.mark.claim("SYNC-1")
@given(n=st.integers(0, 10))
def test_refuted_once(conformance, target, n):
    REFUTED_ONCE.append(n)
    conformance.judge(judge_first_call_refutes, n, len(REFUTED_ONCE))


@pytest.mark.claim("SYNC-6")
@given(n=st.integers(0, 10))
def test_judges_nothing(conformance, target, n):
    pass


@pytest.mark.claim("SYNC-10")
@given(n=st.integers(0, 10))
def test_scenario_breaks(conformance, target, n):
    raise OSError(5, "set-up failed")


@pytest.mark.claim("EOF-1")
@given(n=st.integers(0, 10))
def test_no_example_can_be_set_up(conformance, target, n):
    conformance.reject("the target cannot hold this file")


@pytest.mark.claim("EOF-2")
@given(n=st.integers(0, 10))
def test_odd_examples_cannot_be_set_up(conformance, target, n):
    if n % 2:
        conformance.reject("odd files do not fit")
    conformance.judge(judge_always_holds, n, n)


@pytest.mark.claim("SHARED-5")
@given(n=st.integers(0, 10))
def test_needs_page_frames(conformance, target, n):
    raise AssertionError("a claim test whose requirement the target lacks must not run")


LEAKED = []


def judge_nothing_leaked(n, leaked):
    return holds() if not leaked else refuted("state leaked from another claim test")


@pytest.mark.claim("UNMAP-1")
@given(n=st.integers(0, 10))
def test_leaves_state(conformance, target, n):
    LEAKED.append(n)
    conformance.judge(judge_always_holds, n, n)


@pytest.mark.claim("UNMAP-2")
@given(n=st.integers(0, 10))
def test_sees_no_state(conformance, target, n):
    conformance.judge(judge_nothing_leaked, n, LEAKED)


def judge_heap_frozen(n, frozen):
    return holds() if frozen else refuted("the claim test's process would collect the whole heap it inherited")


@pytest.mark.claim("UNMAP-3")
@given(n=st.integers(0, 10))
def test_inherits_a_frozen_heap(conformance, target, n):
    conformance.judge(judge_heap_frozen, n, gc.get_freeze_count())


def judge_caches_filled(n, filled):
    return holds() if all(filled) else refuted(f"caches left for the claim test's process to fill: {filled}")


@pytest.mark.claim("UNMAP-4")
@given(n=st.integers(0, 10))
def test_inherits_filled_caches(conformance, target, n):
    import inspect
    from hypothesis.internal import charmap
    # imported after collection by the conftest of the test below: only a map made before the fork holds it
    conformance.judge(judge_caches_filled, n, (charmap._charmap is not None, "wave" in inspect._filesbymodname))
'''


@pytest.fixture
def run(pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_claims=CLAIM_TESTS)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    expectations = tmp_path / "expectations"
    expectations.mkdir()

    def run(*args, expect: str = ""):
        (expectations / "x.toml").write_text(expect)
        report = tmp_path / "report.json"
        result = pytester.runpytest_subprocess(
            *PLUGINS, "--target-dir", str(tmp_path), "--report", str(report), "--expectations", str(expectations),
            "--hypothesis-profile", "ci", "-p", "no:cacheprovider", *args)
        document = json.loads(report.read_text()) if report.exists() else None
        cells = {r["claim"]: r for r in document["results"]} if document else {}
        return result, cells

    return run


def test_refutation_is_shrunk_to_the_minimal_counterexample(run):
    result, cells = run("test_claims.py::test_refuted")
    assert result.ret == 1
    cell = cells["SYNC-4"]
    assert cell["verdict"] == "refuted" and not cell["as_expected"]
    assert cell["counterexample"]["parameters"] == 1 and cell["detail"] == "1 is odd"
    notes = "\n".join(cell["counterexample"]["hypothesis"])
    assert "test_refuted(" in notes and "n=1" in notes and "@reproduce_failure" in notes
    result.stdout.fnmatch_lines(["*SYNC-4 refuted: 1 is odd*", "*SYNC-4*REFUTED*"])
    # the traceback ends at the test's judge line: the harness's own frames are hidden
    assert "harness/verdicts.py" not in result.stdout.str()


def test_recorded_refutation_is_an_expected_failure(run):
    result, cells = run("test_claims.py::test_refuted", expect=EXPECT_REFUTED.format(claim="SYNC-4"))
    assert result.ret == 0
    result.assert_outcomes(xfailed=1)
    assert cells["SYNC-4"]["verdict"] == "refuted" and cells["SYNC-4"]["as_expected"]
    assert cells["SYNC-4"]["expected"]["reason"] == "a reason"


def test_recorded_refutation_reports_its_reason_without_a_traceback(run, pytester):
    # An xfail report shows only its reason; formatting the refutation's traceback chain cost seconds in guests.
    pytester.makeconftest("""
def pytest_runtest_logreport(report):
    if hasattr(report, "wasxfail"):
        open("xfail-longrepr.txt", "w").write(report.longreprtext)
""")
    result, _ = run("test_claims.py::test_refuted", expect=EXPECT_REFUTED.format(claim="SYNC-4"))
    assert result.ret == 0
    shown = (pytester.path / "xfail-longrepr.txt").read_text()
    assert shown.splitlines()[-1] == "SYNC-4 refuted, as recorded in x.toml: a reason", shown
    assert "Traceback" not in shown and "conformance.judge" not in shown and "ClaimRefuted" not in shown, shown


def test_hypothesis_formats_a_refutation_for_itself_natively_and_the_report_keeps_the_run_style(run, pytester):
    # Hypothesis has pytest format each failure twice for its own use: pytest's default style parsed the source of
    # every frame's file (0.7 s a refuted claim test in an emulated guest).
    pytester.makeconftest("""
import hypothesis.core

_format = hypothesis.core.format_exception


def _kept(err, tb):
    text = _format(err, tb)
    with open("hypothesis-tracebacks.txt", "a") as f:
        f.write(text + "\\0")
    return text


hypothesis.core.format_exception = _kept
""")
    result, cells = run("test_claims.py::test_refuted")
    assert cells["SYNC-4"]["verdict"] == "refuted"
    formatted = [text for text in (pytester.path / "hypothesis-tracebacks.txt").read_text().split("\0") if text]
    assert len(formatted) == 2, formatted
    assert all(text.startswith("Traceback (most recent call last):") for text in formatted), formatted
    # the run's report: pytest's own style, the test's source with its failing line marked
    result.stdout.fnmatch_lines([">*conformance.judge(judge_even, n, n)"])


def test_claim_that_starts_to_hold_against_its_record_fails(run):
    result, cells = run("test_claims.py::test_holds", expect=EXPECT_REFUTED.format(claim="SYNC-5"))
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*SYNC-5 holds on this platform, but x.toml records it as refuted*"])
    assert cells["SYNC-5"]["verdict"] == "holds" and not cells["SYNC-5"]["as_expected"]


def test_expectation_for_another_kernel_does_not_apply(run):
    result, cells = run("test_claims.py::test_refuted", expect=EXPECT_REFUTED.format(claim="SYNC-4") + 'kernel = "<2.0"\n')
    assert result.ret == 1 and not cells["SYNC-4"]["as_expected"]


def test_holds(run):
    result, cells = run("test_claims.py::test_holds")
    assert result.ret == 0 and cells["SYNC-5"]["verdict"] == "holds" and cells["SYNC-5"]["examples"] > 0


def test_observed_alternative_is_recorded(run):
    result, cells = run("test_claims.py::test_observed")
    assert result.ret == 0
    assert cells["GEOM-6"]["verdict"] == "observed" and cells["GEOM-6"]["alternatives"] == ["hint-ignored"]


def test_observed_alternative_other_than_recorded_fails(run):
    expect = EXPECT_OBSERVED.format(claim="GEOM-6", alternative="hint-honoured")
    result, cells = run("test_claims.py::test_observed", expect=expect)
    assert result.ret == 1 and not cells["GEOM-6"]["as_expected"]
    result.stdout.fnmatch_lines(["*GEOM-6 observed hint-ignored on this platform, but x.toml records it as observed hint-honoured*"])


def test_impl_claim_judged_without_alternative_is_an_error(run):
    result, cells = run("test_claims.py::test_impl_judged_as_holds")
    assert result.ret == 1 and cells["GEOM-6"]["verdict"] == "error"


def test_unsupported_is_a_skip_with_reason(run):
    result, cells = run("test_claims.py::test_unsupported")
    assert result.ret == 0
    result.assert_outcomes(skipped=1)
    assert cells["SYNC-8"]["verdict"] == "unsupported" and cells["SYNC-8"]["detail"] == "no such thing here"


def test_claim_whose_every_example_is_rejected_is_unsupported_with_the_reason(run):
    result, cells = run("test_claims.py::test_no_example_can_be_set_up")
    assert result.ret == 0
    result.assert_outcomes(skipped=1)
    assert cells["EOF-1"]["verdict"] == "unsupported"
    assert cells["EOF-1"]["detail"].startswith("no example could be set up: the target cannot hold this file (")


def test_rejected_examples_are_counted_in_the_verdict_of_those_that_ran(run):
    result, cells = run("test_claims.py::test_odd_examples_cannot_be_set_up")
    assert result.ret == 0 and cells["EOF-2"]["verdict"] == "holds" and cells["EOF-2"]["examples"] > 0
    assert "could not be set up here: odd files do not fit" in cells["EOF-2"]["detail"]


def test_refutation_that_does_not_happen_again_when_replayed_is_still_a_refutation_and_says_so(run):
    result, cells = run("test_claims.py::test_refuted_once")
    assert result.ret == 1
    cell = cells["SYNC-1"]
    assert cell["verdict"] == "refuted", cell["detail"]
    assert cell["detail"] == ("the first call refutes (it did not happen again when Hypothesis replayed the "
                              "example)")
    assert cell["counterexample"]["observation"] == 1
    result, cells = run("test_claims.py::test_refuted_once", expect=EXPECT_REFUTED.format(claim="SYNC-1"))
    assert result.ret == 0 and cells["SYNC-1"]["as_expected"]
    result.assert_outcomes(xfailed=1)


def test_test_that_judges_nothing_is_an_error(run):
    result, cells = run("test_claims.py::test_judges_nothing")
    assert result.ret == 1 and cells["SYNC-6"]["verdict"] == "error"
    assert "judged no example" in cells["SYNC-6"]["detail"]


def test_broken_scenario_is_an_error_not_a_refutation(run):
    result, cells = run("test_claims.py::test_scenario_breaks")
    assert result.ret == 1 and cells["SYNC-10"]["verdict"] == "error"
    assert "set-up failed" in cells["SYNC-10"]["detail"]


def test_each_claim_test_runs_in_its_own_process(run):
    result, cells = run("test_claims.py::test_leaves_state", "test_claims.py::test_sees_no_state")
    assert result.ret == 0 and cells["UNMAP-2"]["verdict"] == "holds"


def test_a_claim_test_forks_from_a_frozen_heap_and_the_pytest_process_collects_again(run, pytester):
    """Its garbage collections leave the objects it inherited alone (a collection writes to each object's header:
    copy-on-write of the whole heap); the pytest process itself unfreezes afterwards, so its garbage is collected."""
    pytester.makeconftest(f"""
import gc
def pytest_sessionfinish(session):
    open({str(pytester.path / "frozen-at-the-end.txt")!r}, "w").write(str(gc.get_freeze_count()))
""")
    result, cells = run("-n", "0", "test_claims.py::test_inherits_a_frozen_heap")  # the process that forks it
    assert cells["UNMAP-3"]["verdict"] == "holds"
    assert (pytester.path / "frozen-at-the-end.txt").read_text() == "0"


def test_a_claim_test_inherits_the_caches_every_claim_test_would_fill(run, pytester):
    """Hypothesis's Unicode table (st.characters()) and inspect's module map (pytest's tracebacks of failures)."""
    pytester.makeconftest("""
def pytest_collection_finish(session):
    import wave
""")
    result, cells = run("test_claims.py::test_inherits_filled_caches")
    assert cells["UNMAP-4"]["verdict"] == "holds", cells["UNMAP-4"]


ALONE_TESTS = '''
import os
import time

import pytest

from harness.findings import holds


def spend_a_while(name, conformance):
    with open(os.environ["TIMELINE"], "a") as timeline:
        timeline.write(f"{name} {time.monotonic()} ")
        time.sleep(0.3)
        timeline.write(f"{time.monotonic()}\\n")
    conformance.judge(lambda case, seen: holds(), 0, 0)
''' + "".join(f'''

@pytest.mark.claim("{claim}"){alone}
def test_{name.replace("-", "_")}(conformance, target):
    spend_a_while("{name}", conformance)
''' for name, claim, alone in [("beside-1", "PAGE-3", ""), ("alone-1", "PAGE-1", "\n@pytest.mark.run_alone"),
                                ("beside-2", "PAGE-5", ""), ("alone-2", "PAGE-2", "\n@pytest.mark.run_alone"),
                                ("beside-3", "SYNC-1", ""), ("beside-4", "SYNC-2", "")])


@pytest.mark.parametrize("workers", ["0", "2"])
def test_run_alone_claim_tests_come_first_one_after_another_and_never_beside_another(run, pytester, tmp_path,
                                                                                     monkeypatch, workers):
    pytester.makepyfile(test_alone=ALONE_TESTS)
    timeline = tmp_path / "timeline"
    monkeypatch.setenv("TIMELINE", str(timeline))
    result, cells = run("-n", workers, "test_alone.py")
    ran = {claim: cell["verdict"] for claim, cell in cells.items() if cell["verdict"] != "not run"}
    assert result.ret == 0 and len(ran) == 6 and set(ran.values()) == {"holds"}, result.stdout.str()
    spans = sorted((float(start), float(end), name) for name, start, end in
                   (line.split() for line in timeline.read_text().splitlines()))
    names = [name for _, _, name in spans]
    assert names.index("alone-2") == names.index("alone-1") + 1  # back to back
    if workers == "0":
        assert names[:2] == ["alone-1", "alone-2"]  # first (under xdist another worker may start beside them)
    for start, end, name in spans:
        if name.startswith("alone"):
            assert all(other == name or e <= start or s >= end for s, e, other in spans), (name, spans)


def test_verdicts_survive_xdist(run):
    result, cells = run("-n", "2", "test_claims.py::test_refuted", "test_claims.py::test_holds", "test_claims.py::test_observed")
    assert {c: cells[c]["verdict"] for c in ("SYNC-4", "SYNC-5", "GEOM-6")} == \
        {"SYNC-4": "refuted", "SYNC-5": "holds", "GEOM-6": "observed"}


EXPECT_REFUTED = '''
[[expect]]
claim = "{claim}"
verdict = "refuted"
os = "Linux"
reason = "a reason"
reference = "a reference"
'''

EXPECT_OBSERVED = '''
[[expect]]
claim = "{claim}"
verdict = "observed"
alternatives = ["{alternative}"]
reason = "a reason"
reference = "a reference"
'''


# The run's target lacks page frame numbers, whatever this machine gives (conftest: loaded before targets are made).
LACKING_FRAMES = '''
import dataclasses
from harness.requirements import REQUIREMENTS

REQUIREMENTS["pagemap-frames"] = dataclasses.replace(REQUIREMENTS["pagemap-frames"], probe=lambda run_dir, fs: "no frames here")
'''


def test_a_claim_requiring_what_the_target_lacks_is_unsupported_before_any_example(run, pytester, tmp_path):
    pytester.makeconftest(LACKING_FRAMES)
    result, cells = run("test_claims.py::test_needs_page_frames")
    assert result.ret == 0
    result.assert_outcomes(skipped=1)
    assert cells["SHARED-5"]["verdict"] == "unsupported" and cells["SHARED-5"]["examples"] == 0
    assert cells["SHARED-5"]["detail"] == \
        "its test compares page frame numbers from /proc/PID/pagemap (pagemap-frames), but no frames here"
    target = json.loads((tmp_path / "report.json").read_text())["targets"][0]
    assert target["fs"]["lacks"]["pagemap-frames"] == "no frames here"  # its identity says what it lacks


def test_the_reason_names_each_requirement_the_target_lacks_and_why():
    from harness.catalog import catalog
    from harness.requirements import unmet

    lacks = {"writable-shared-mapping": "mmap() ... fails here with EINVAL", "pagemap-frames": "zeros"}
    assert unmet(catalog()["SHARED-3"].requires, lacks) == \
        "its test maps its file, opened O_RDWR, with MAP_SHARED (writable-shared-mapping), but mmap() ... fails here with EINVAL"
    assert unmet(catalog()["SHARED-6"].requires, lacks) == (
        "its test maps its file, opened O_RDWR, with MAP_SHARED (writable-shared-mapping), but mmap() ... fails here "
        "with EINVAL; its test compares page frame numbers from /proc/PID/pagemap (pagemap-frames), but zeros")
    assert unmet(catalog()["EOF-1"].requires, lacks) is None  # reads only
    assert unmet(catalog()["SHARED-3"].requires, {}) is None
