"""Every claim's cases fit the page size they are drawn at, on this host whatever its own page size: each explicit
example and a sample of each strategy, built at 4, 16 and 64 KiB pages (arm64's and ppc64le's) and at 2 MiB
(hugetlbfs's), stays inside the mapping and the file it describes (PagedCase.check, which
suite.strategies.draw_case applies in real runs too). Nothing is mapped: a claim test runs up to where its case is
drawn, against a target that only says its page size."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suite
from harness.targets import Target
from suite.model import machine, sequences
from suite.scenarios.bus import PrivateTruncated
from suite.scenarios.case import CaseError, PagedCase
from suite.strategies import PageRelative

PAGE_SIZES = (4096, 16384, 65536, 2 << 20)  # and hugetlbfs's 2 MiB pages
SAMPLES = 12  # cases drawn per claim test and page size
# Claim tests whose cases do not involve their target's page size: they take a ``case`` drawn without one.
PAGE_FREE = {
    "ELF-1": "the libraries' code mappings, whatever the target",
    "ELF-2": "the libraries' code pages, whatever the target",
    "SEED-1": "t_mmap maps the first MEM_SIZE bytes of a file of at least that size",
    "SEED-2": "the counter programs map a file of the size they make",
    "SEED-3": "the record programs map a file of the size they make",
    "SEED-4": "the demo maps a file of the size it makes",
    "SEED-5": "the doubling programs map a file of the size they make",
    "MODEL-1": "the state machine reads its arguments at its target's page size itself (suite/model/machine.py)",
}


def _claim_tests() -> list[tuple[str, object]]:
    found = []
    for path in sorted(Path(suite.__file__).parent.glob("test_*.py")):
        module = importlib.import_module(f"suite.{path.stem}")
        for name, function in sorted(vars(module).items()):
            marks = [m for m in getattr(function, "pytestmark", []) if m.name == "claim"]
            if name.startswith("test_") and marks:
                found.append((marks[0].args[0], function))
    return found


CLAIM_TESTS = _claim_tests()
DRAWING = [(claim, test) for claim, test in CLAIM_TESTS if claim not in PAGE_FREE]
EXPLICIT = [(claim, test, number, example.kwargs.get("data"))
            for claim, test in DRAWING for number, example in enumerate(getattr(test, "hypothesis_explicit_examples", []))]


def _target(page_size: int) -> Target:
    """A writable target that says its page size; its run directory is only looked at (PAGE-2 and PAGE-3 read its
    device's readahead window from sysfs)."""
    here = str(Path(__file__).parent)
    return Target(f"pages-{page_size}", here, here, {"type": "ext4", "noexec": False, "lacks": {}, "page_size": page_size},
                  "")


class _CaseDrawn(Exception):
    """The claim test got its case (checked) and went on to use its conformance fixture: nothing more to see."""


class _StopAtConformance:
    """Stands in for the claim test's conformance fixture (and any other but its target): the test stops where it
    would first use it."""

    def __getattr__(self, name: str):
        raise _CaseDrawn


class _Recording:
    """Stands in for Hypothesis' data object: draws through the real one and keeps what it drew."""

    def __init__(self, data):
        self.data, self.drawn = data, []

    def draw(self, strategy, label=None):
        self.drawn.append(self.data.draw(strategy, label=label))
        return self.drawn[-1]


def _run_to_case(test, page_size: int, data) -> None:
    fixtures = {name: _StopAtConformance() for name in inspect.signature(test.hypothesis.inner_test).parameters}
    with pytest.raises(_CaseDrawn):
        test.hypothesis.inner_test(**dict(fixtures, target=_target(page_size), data=data))


def test_every_claim_test_is_seen():
    claims = {claim for claim, _ in CLAIM_TESTS}
    assert {"BUS-5/untouched", "EOF-3", "GEOM-1"} <= claims and set(PAGE_FREE) <= claims
    assert len(DRAWING) > 40 and EXPLICIT


@pytest.mark.parametrize("claim, test", CLAIM_TESTS, ids=[claim for claim, _ in CLAIM_TESTS])
def test_a_claim_test_draws_its_case_at_its_targets_page_size(claim, test):
    """A page-free claim test takes a ``case``; every other one its ``data``, to draw with draw_case()."""
    parameters = set(inspect.signature(test.hypothesis.inner_test if hasattr(test, "hypothesis") else test).parameters)
    if claim == "MODEL-1":
        assert not hasattr(test, "hypothesis")
    elif claim in PAGE_FREE:
        assert "case" in parameters and "data" not in parameters
    else:
        assert {"target", "data"} <= parameters and "case" not in parameters


@pytest.mark.parametrize("page_size", PAGE_SIZES)
@pytest.mark.parametrize("claim, test, number, example", EXPLICIT,
                         ids=[f"{claim}#{number}" for claim, _, number, _ in EXPLICIT])
def test_explicit_examples_fit_every_page_size(claim, test, number, example, page_size):
    assert isinstance(example, PageRelative), f"{claim}'s explicit example #{number} is not written for every page size"
    _run_to_case(test, page_size, example)  # draw_case() builds and checks it


@pytest.mark.parametrize("page_size", PAGE_SIZES)
@pytest.mark.parametrize("claim, test", DRAWING, ids=[claim for claim, _ in DRAWING])
def test_drawn_cases_fit_every_page_size(claim, test, page_size):
    @settings(max_examples=SAMPLES, database=None, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(data=st.data())
    def drawn(data):
        recording = _Recording(data)
        _run_to_case(test, page_size, recording)  # draw_case() checks what it draws
        case = recording.drawn[0]
        assert isinstance(case, PagedCase) and case.page_size == page_size

    drawn()


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_the_state_machine_reads_its_arguments_at_its_page_size(page_size):
    @settings(max_examples=SAMPLES * 4, database=None, deadline=None, derandomize=True)
    @given(word=sequences.WORDS)
    def reads_inside(word):
        digits = machine.Digits(word)
        size, delta, length, gap, trim = (machine.ARGUMENTS[name](digits, page_size)
                                          for name in ("size", "delta", "length", "gap", "trim"))
        page = page_size
        assert 0 <= size <= machine.MAX_FILE_PAGES * page  # the file the model knows
        assert -page <= delta <= 2 * page and 1 <= length <= 2 * page and 1 <= gap <= 2 * page
        assert 0 <= trim < page  # a mapping of `pages` pages, shortened by trim, still reaches its last page

    reads_inside()


class WidestDigits(machine.Digits):
    """Takes every digit at its largest, so each argument takes its widest branch, and multiplies the bases."""

    def __init__(self):
        super().__init__(0)
        self.needed = 1

    def below(self, n: int) -> int:
        self.needed *= n
        return n - 1


@pytest.mark.parametrize("page_size", PAGE_SIZES)
@pytest.mark.parametrize("rule", machine.RULES, ids=[rule.name for rule in machine.RULES])
def test_a_word_holds_every_argument_of_a_rule_at_its_page_size(rule, page_size):
    """Else a word would run out before a rule's last arguments, which would always take their first choices
    (at 64 KiB pages a pwrite() would never be done by a fork child). With room to spare: the highest digit
    is then as uniform as the others, to 1/256."""
    digits = WidestDigits()
    digits.below(machine.RULE_DIGIT)
    for name in rule.arguments:
        machine.ARGUMENTS[name](digits, page_size)
    assert digits.needed * 256 <= 1 << (8 * sequences.WORD_BYTES), (rule.name, digits.needed.bit_length())


@pytest.mark.parametrize("page_size", PAGE_SIZES[1:])
def test_a_case_written_for_4_kib_pages_does_not_fit_larger_ones(page_size):
    """BUS-5's old explicit example, in bytes for 4 KiB pages: page 2 of a 12517-byte file is past the one larger page
    that maps it, where arm64-16k and ppc64le guests read a neighbouring mapping's bytes."""
    at_4k = PrivateTruncated(4096, 12517, 8191, 2, "O_RDONLY", "no", (1250, bytes.fromhex("e55c79354de718416e")), "other")
    at_4k.check()
    with pytest.raises(CaseError, match="page 2 among the old file's 1 page"):
        replace(at_4k, page_size=page_size).check()
