"""Shared pieces of the judge self-tests: outcomes as scenarios record them, and the two checks.

Each ``tests/judges/test_<topic>.py`` defines ``CASES = {judge: (params, conforming, [violating, ...])}``
with hand-written observations (judges are pure: no kernel involved) and binds the checks with
``test_accepts_conforming, test_rejects_violating = self_tests(CASES)``.
"""

from __future__ import annotations

import signal

import pytest

from fixtures.outcome import returned, signalled, timed_out

RETURNED_NONE = returned(None)
SIGBUS = signalled(signal.SIGBUS)
SIGSEGV = signalled(signal.SIGSEGV)
TIMEOUT = timed_out()


def _judge_id(judge) -> str:
    return judge.__name__


def self_tests(cases: dict):
    @pytest.mark.parametrize("judge", list(cases), ids=_judge_id)
    def accepts_conforming(judge):
        params, conforming, _ = cases[judge]
        finding = judge(params, conforming)
        assert finding.verdict in ("holds", "observed"), finding

    @pytest.mark.parametrize(
        "judge, violating",
        [(judge, violating) for judge, (_, _, violations) in cases.items() for violating in violations],
        ids=lambda x: _judge_id(x) if callable(x) else type(x).__name__,
    )
    def rejects_violating(judge, violating):
        finding = judge(cases[judge][0], violating)
        assert finding.verdict == "refuted" and finding.detail, finding

    return accepts_conforming, rejects_violating
