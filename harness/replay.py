"""The replay line: the command that runs one claim's tests on one target again, as the run did.

It is written to run from the checkout (or unpacked bundle) as printed (reports
show it): ``./mmapconf suite`` (whatever started the run: it is the one command
that works in both), ``--claim ID``, the option that made
the target (``--fs NAME`` or ``--target-dir DIR``; none for a default target
that was the checkout itself), the Hypothesis profile, and the seed and
expectations when the run was given them. Paths inside the checkout are
written from it. The target keeps its ID, so the test keeps its node ID and
Hypothesis replays the examples it saved for it (harness/profiles.py keeps
them in the checkout) — except after a clash of directory names (``x-2``) or
for a default target elsewhere, which replays as ``--target-dir DIR``.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from hypothesis import settings

from harness.catalog import ROOT
from harness.expectations import EXPECTATIONS_DIR
from harness.targets import Target


def from_checkout(path: str | Path) -> str:
    """A path as the replay line writes it: from the checkout's root when inside it, else absolute (symbolic
    links kept: the user wrote them)."""
    absolute = Path(os.path.abspath(path))
    return str(absolute.relative_to(ROOT)) if absolute.is_relative_to(ROOT) else str(absolute)


def target_options(target: Target) -> list[str]:
    if target.options:
        option, value = target.options
        return [option, from_checkout(value) if option == "--target-dir" else value]
    return [] if Path(target.directory) == ROOT else ["--target-dir", target.directory]


def replay_line(config: pytest.Config, claim_id: str, target: Target) -> str:
    command = ["./mmapconf", "suite", "--claim", claim_id, *target_options(target),
               "--hypothesis-profile", settings.get_current_profile_name()]
    seed = config.getoption("hypothesis_seed", None)
    if seed is not None:
        command += ["--hypothesis-seed", str(seed)]
    expectations = Path(config.getoption("expectations")).resolve()
    if expectations != EXPECTATIONS_DIR.resolve():
        command += ["--expectations", from_checkout(expectations)]
    return shlex.join(command)
