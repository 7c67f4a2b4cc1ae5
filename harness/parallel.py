"""Plugin: a run is parallel by default (pytest-xdist's ``-n auto``: one worker per CPU this process may use).

Nothing changes when the user chose (``-n N``, ``-n 0`` for one process, ``--dist``, ``--tx``, ``-p no:xdist``),
when fewer than two CPUs are usable (a kernel guest with one vCPU: a worker would only add its start-up), or when
no test runs or one process is needed (``--collect-only``, ``--pdb``, an xdist worker itself).
"""

from __future__ import annotations

import os

import pytest


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0))


def _user_chose_nothing(config: pytest.Config) -> bool:
    option = config.option
    return option.numprocesses is None and option.dist == "no" and not option.tx


def _parallel_by_default(config: pytest.Config) -> bool:
    return (config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput")
            and _user_chose_nothing(config) and not config.option.collectonly
            and not config.getoption("usepdb") and usable_cpus() > 1)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    """Before xdist's own (a wrapper runs before every plain hook), which turns ``auto`` into workers."""
    if _parallel_by_default(config):
        config.option.numprocesses = "auto"
    return (yield)
