"""Plugin: the directories claims run in, set up once per run by the controlling process.

Targets come from ``--target-dir`` (existing directories) and ``--fs``
(filesystems the suite provisions itself, as root: fixtures/provision.py).
The controlling process validates each, makes a 0700 run directory in it,
measures what it lacks of the claims' requirements (harness/requirements.py) and
removes the run directory at the end, unmounting what it provisioned (also on Ctrl-C and
SIGTERM); xdist workers get the list from the controller instead of making
their own. Claim tests take a ``target`` argument, parametrized over every
target; on a filesystem that could not be provisioned every claim is
unsupported, with the reason.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures import mounts, provision
from fixtures.files import TargetError, check_target_dir, make_run_dir, remove_run_dir
from fixtures.platform import fs_identity, unprovisioned_fs_identity
from harness.requirements import REQUIREMENTS, lacking

WORKER_KEY = "mmapconf_targets"


@dataclass(frozen=True)
class Target:
    """One directory claims run in: an ID for reports, where files go, and its filesystem."""

    id: str
    directory: str
    run_dir: str
    fs: dict
    state_dir: str  # shared by every process of the run: locks, records
    unavailable: str | None = None  # why this target could not be set up (then every claim is unsupported)

    def as_dict(self) -> dict:
        return {"id": self.id, "directory": self.directory, "fs": self.fs}

    def meets(self, requirement: str) -> bool:
        """Whether this target has what the requirement (harness/requirements.py) names, as measured at set-up."""
        if requirement not in REQUIREMENTS:
            raise KeyError(f"no requirement {requirement!r} in harness/requirements.py")
        return requirement not in self.fs.get("lacks", {})

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
    group.addoption(
        "--fs",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="provision these filesystems (root; 'all' for every one available, 'list' to see them) and run every claim on each",
    )


def _target_id(directory: Path, taken: set[str], default: bool) -> str:
    base = "default" if default else (re.sub(r"[^A-Za-z0-9]+", "-", directory.resolve().name).strip("-") or "root")
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _filesystems_to_provision(values: list[str]) -> list[str]:
    """--fs values -> filesystem names; 'all' is every filesystem this host can provision."""
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    if "all" in names:
        available = [name for name, reason in provision.availability().items() if reason is None]
        names = available + [n for n in names if n not in ("all", *available)]
    unknown = [n for n in names if n not in provision.availability()]
    if unknown:
        raise TargetError(f"unknown filesystem {', '.join(unknown)} (see --fs list)")
    return list(dict.fromkeys(names))


def _list_filesystems() -> str:
    lines = ["filesystems mmapconf can provision (--fs NAME[,NAME...] or --fs all):"]
    known = provision.availability()
    width = max(map(len, known))
    for name, reason in known.items():
        fs = provision.FILESYSTEMS.get(name)
        lines.append(f"  {name:<{width}}  {'available  ' if reason is None else 'unavailable'}"
                     f"  {fs.description if fs and reason is None else reason}")
    return "\n".join(lines)


def _make_targets(dirs: list[str], filesystems: list[provision.Provisioned], ledger_root: Path | None) -> list[Target]:
    made: list[dict] = []
    requested = [(Path(d).expanduser(), None) for d in dirs] + [(p.directory, p) for p in filesystems]
    if not requested:
        requested = [(Path.cwd(), None)]
    try:
        for directory, provisioned in requested:
            if provisioned is not None and provisioned.directory is None:
                made.append(dict(id=provisioned.name, directory="", run_dir="",
                                 fs=unprovisioned_fs_identity(provisioned.name).as_dict(), unavailable=provisioned.reason))
                continue
            read_only = bool(provisioned and provisioned.facts.get("read_only"))
            run_dir = directory if read_only else make_run_dir(directory)  # nothing is ever created on a read-only one
            fs = fs_identity(str(run_dir)).as_dict()
            if provisioned is not None:
                fs["provisioned"] = provisioned.facts
            fs["lacks"] = lacking(run_dir, fs)
            made.append(dict(
                id=provisioned.name if provisioned else _target_id(directory, {t["id"] for t in made}, not dirs),
                directory=str(directory.resolve()), run_dir=str(run_dir), fs=fs,
            ))
    except BaseException:  # a bad target, or SIGTERM/Ctrl-C half-way: remove what was made
        _remove([Target(state_dir="", **t) for t in made])
        raise
    # One directory every process of the run shares (locks, records): the provisioning directory (on the
    # current disk) when there is one, else the first target's run directory.
    state_dir = str(ledger_root) if ledger_root else made[0]["run_dir"]
    return [Target(state_dir=state_dir, **t) for t in made]


def _remove(targets: list[Target]) -> None:
    for target in targets:
        if target.run_dir:
            remove_run_dir(Path(target.run_dir))


def _terminate(signum, frame):
    # SIGTERM ends the run the way Ctrl-C does, so teardown (pytest_unconfigure) runs.
    raise KeyboardInterrupt(f"received signal {signum}")


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if "list" in config.getoption("fs"):
        print(_list_filesystems())
        return 0
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if is_worker(config):
        config.mmapconf_targets = [Target(**t) for t in config.workerinput[WORKER_KEY]]
        return
    config.mmapconf_targets, config.mmapconf_ledger = [], None
    config.mmapconf_owner = os.getpid()
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C and SIGTERM wait until every run directory and mount made here is on record (then teardown sees it).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        for directory in config.getoption("target_dir"):
            check_target_dir(Path(directory).expanduser())  # a user mistake stops the run before anything is mounted
        names = _filesystems_to_provision(config.getoption("fs"))
        filesystems = []
        if names:
            config.mmapconf_ledger, filesystems = provision.provision(names, Path.cwd())
        config.mmapconf_targets = _make_targets(config.getoption("target_dir"), filesystems,
                                                config.mmapconf_ledger.root if config.mmapconf_ledger else None)
    except (TargetError, mounts.ProvisionError) as error:
        _teardown(config)
        raise pytest.UsageError(str(error)) from None
    except BaseException:
        _teardown(config)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _teardown(config: pytest.Config) -> None:
    _remove(config.mmapconf_targets)
    if config.mmapconf_ledger is not None:
        for problem in config.mmapconf_ledger.teardown():
            print(f"mmapconf: teardown: {problem}", file=sys.stderr)
        config.mmapconf_ledger = None


def pytest_unconfigure(config: pytest.Config) -> None:
    if not is_worker(config) and getattr(config, "mmapconf_owner", None) == os.getpid():
        _teardown(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: hand the controller's targets to each worker."""
    node.workerinput[WORKER_KEY] = [t.__dict__ for t in node.config.mmapconf_targets]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        targets = metafunc.config.mmapconf_targets
        metafunc.parametrize("target", targets, ids=[t.id for t in targets], scope="session")
