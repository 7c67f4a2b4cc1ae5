"""Plugin: Hypothesis profiles. ``dev`` by default, ``ci`` when CI is set, ``thorough`` on request.

Select one with ``--hypothesis-profile NAME``. No deadline: examples fork
children and timings are not verdicts. ``ci`` is derandomized so that the same
platform gives the same verdicts on every run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    print_blob=True,
    report_multiple_bugs=False,  # one minimal counterexample per claim
    # ``conformance`` is function-scoped on purpose: it collects every example's finding.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

settings.register_profile("dev", max_examples=40, **_COMMON)
settings.register_profile("ci", max_examples=40, derandomize=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=500, **_COMMON)
# Hypothesis' own --hypothesis-profile option, applied at configure time, overrides this default.
settings.load_profile("ci" if os.environ.get("CI") else "dev")
