"""Plugin: the directories claims run in (``--target-dir``), set up once per run.

The controlling process validates each target, makes a 0700 run directory in
it and removes it at the end (also on Ctrl-C and SIGTERM); xdist workers get
the list from the controller instead of making their own. Claim tests take a
``target`` argument and are parametrized over every target.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.files import TargetError, make_run_dir, remove_run_dir
from fixtures.platform import fs_identity

WORKER_KEY = "mmapconf_targets"


@dataclass(frozen=True)
class Target:
    """One directory claims run in: an ID for reports, where files go, and its filesystem."""

    id: str
    directory: str
    run_dir: str
    fs: dict
    state_dir: str  # shared by every process of the run (the first target's run directory): locks, records

    def as_dict(self) -> dict:
        return {"id": self.id, "directory": self.directory, "fs": self.fs}

    def __repr__(self) -> str:  # keeps Hypothesis' failing-example lines short
        return f"Target({self.id!r})"

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis pretty-prints dataclasses field by field
        printer.text(repr(self))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmapconf")
    group.addoption(
        "--target-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="run every claim in a fresh directory inside DIR (repeatable; default: one in the current directory)",
    )


def _target_id(directory: Path, taken: set[str], default: bool) -> str:
    base = "default" if default else (re.sub(r"[^A-Za-z0-9]+", "-", directory.resolve().name).strip("-") or "root")
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _make_targets(dirs: list[str]) -> list[Target]:
    targets: list[Target] = []
    requested = [(Path(d).expanduser(), False) for d in dirs] or [(Path.cwd(), True)]
    try:
        for directory, default in requested:
            run_dir = make_run_dir(directory)
            targets.append(Target(
                id=_target_id(directory, {t.id for t in targets}, default),
                directory=str(directory.resolve()),
                run_dir=str(run_dir),
                fs=fs_identity(str(run_dir)).as_dict(),
                state_dir=targets[0].state_dir if targets else str(run_dir),
            ))
    except BaseException:  # a bad target, or SIGTERM/Ctrl-C half-way: remove what was made
        _remove(targets)
        raise
    return targets


def _remove(targets: list[Target]) -> None:
    for target in targets:
        remove_run_dir(Path(target.run_dir))


def _terminate(signum, frame):
    # SIGTERM ends the run the way Ctrl-C does, so teardown (pytest_unconfigure) runs.
    raise KeyboardInterrupt(f"received signal {signum}")


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if is_worker(config):
        config.mmapconf_targets = [Target(**t) for t in config.workerinput[WORKER_KEY]]
        return
    signal.signal(signal.SIGTERM, _terminate)  # before any run directory exists
    try:
        config.mmapconf_targets = _make_targets(config.getoption("target_dir"))
    except TargetError as error:
        raise pytest.UsageError(str(error)) from None
    config.mmapconf_owner = os.getpid()


def pytest_unconfigure(config: pytest.Config) -> None:
    if not is_worker(config) and getattr(config, "mmapconf_owner", None) == os.getpid():
        _remove(config.mmapconf_targets)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: hand the controller's targets to each worker."""
    node.workerinput[WORKER_KEY] = [t.__dict__ for t in node.config.mmapconf_targets]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        targets = metafunc.config.mmapconf_targets
        metafunc.parametrize("target", targets, ids=[t.id for t in targets], scope="session")
