"""Plugin: Hypothesis profiles. ``dev`` by default, ``ci`` when CI is set, ``thorough`` on request.

Select one with ``--hypothesis-profile NAME``. No deadline: examples fork
children and timings are not verdicts. ``ci`` is derandomized so that the same
platform gives the same verdicts on every run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    deadline=None,
    print_blob=True,
    report_multiple_bugs=False,  # one minimal counterexample per claim
    # ``conformance`` is function-scoped on purpose: it collects every example's finding.
    # filter_too_much: on a read-only target most drawn examples have no file in the image and are rejected.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)

settings.register_profile("dev", max_examples=40, **_COMMON)
settings.register_profile("ci", max_examples=40, derandomize=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=500, **_COMMON)
# The kernel matrix (python -m kernels) runs every claim on every filesystem in emulated guests
# (QEMU TCG: Python runs 30-80 times slower): few examples, derandomized so that every kernel gets the same
# examples and a verdict that differs between kernels is the kernels' difference, not the draw's; no shrink
# phase (shrinking one refutation takes minutes under emulation), so a refuted cell shows the first failing
# example rather than the minimal one. ``kernel-smoke`` (one example per claim) only checks that the runner
# works (CI).
_KERNEL_MATRIX = dict(_COMMON, derandomize=True, database=None,
                      phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target))
settings.register_profile("kernel-matrix", max_examples=3, **_KERNEL_MATRIX)
settings.register_profile("kernel-smoke", max_examples=1, **_KERNEL_MATRIX)
# Hypothesis' own --hypothesis-profile option, applied at configure time, overrides this default.
settings.load_profile("ci" if os.environ.get("CI") else "dev")
