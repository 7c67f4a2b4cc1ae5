"""Plugin: Hypothesis profiles. ``dev`` by default, ``ci`` when CI is set, ``thorough`` on request.

Select one with ``--hypothesis-profile NAME``. No deadline: examples fork
children and timings are not verdicts. ``ci`` is derandomized so that the same
platform gives the same verdicts on every run, whichever tests it selects.

Hypothesis keeps its files (the example database: every failing example, tried
first on the next run of that test) in ``.hypothesis/`` in the checkout, never
in the current directory, which may be a target another user can write to.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

from harness.catalog import ROOT

set_hypothesis_home_dir(ROOT / ".hypothesis")
# Named, not inherited: Hypothesis' defaults keep no database when it thinks it runs in CI (tox's variables too).
_DATABASE = DirectoryBasedExampleDatabase(ROOT / ".hypothesis" / "examples")

# Examples come from the strategies and the seed alone. Hypothesis would also draw literals it reads from the
# source of every loaded module of the checkout (harness, fixtures, suite): a derandomized run's examples, and
# so its verdicts, would change with which modules a run happened to import and with any edit to any of them.
providers._get_local_constants = Constants  # an empty pool

_COMMON = dict(
    deadline=None,
    print_blob=True,
    report_multiple_bugs=False,  # one minimal counterexample per claim
    # ``conformance`` is function-scoped on purpose: it collects every example's finding.
    # filter_too_much: on a read-only target most drawn examples have no file in the image and are rejected.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# The kernel matrix (python -m kernels) runs every claim on every filesystem in emulated guests
# (QEMU TCG: Python runs 30-80 times slower): few examples, derandomized so that every kernel gets the same
# examples and a verdict that differs between kernels is the kernels' difference, not the draw's; no shrink
# phase (shrinking one refutation takes minutes under emulation), so a refuted cell shows the first failing
# example rather than the minimal one. ``kernel-smoke`` (one example per claim) only checks that the runner
# works (CI).
_KERNEL_MATRIX = dict(_COMMON, derandomize=True, database=None,
                      phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target))
PROFILES = {
    "dev": dict(max_examples=40, database=_DATABASE, **_COMMON),
    "ci": dict(max_examples=40, derandomize=True, database=None, **_COMMON),
    "thorough": dict(max_examples=500, database=_DATABASE, **_COMMON),
    "kernel-matrix": dict(max_examples=3, **_KERNEL_MATRIX),
    "kernel-smoke": dict(max_examples=1, **_KERNEL_MATRIX),
}
for profile, options in PROFILES.items():
    settings.register_profile(profile, **options)
# Hypothesis' own --hypothesis-profile option, applied at configure time, overrides this default.
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def unknown_profile(name: str) -> str | None:
    """Why ``name`` is not a profile of the suite (None: it is one). Hypothesis's own ``default`` is not: its
    200 ms deadline fails examples that fork, and under emulation whole examples."""
    if name in PROFILES:
        return None
    return f"no such profile; the profiles are {', '.join(PROFILES)}"


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """An unknown profile is a usage error before the run (Hypothesis' plugin would fail with an internal error)."""
    name = config.getoption("hypothesis_profile", None)
    problem = None if name is None else unknown_profile(name)
    if problem:
        raise pytest.UsageError(f"--hypothesis-profile {name}: {problem}")
