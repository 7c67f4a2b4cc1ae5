"""Plugin: the directories claims run in, set up once per run by the controlling process.

Targets come from ``--target-dir`` (existing directories) and ``--fs``
(filesystems the suite provisions itself, as root: fixtures/provision.py; it
first installs, with apt-get, the tools they lack, unless --no-install).
The controlling process validates each, makes a 0700 run directory in it,
measures what it lacks of the claims' requirements (harness/requirements.py) and
removes the run directory at the end, unmounting what it provisioned (also on Ctrl-C and
SIGTERM, which it then ignores until that is done); xdist workers get the list from the
controller instead of making their own. Claim tests take a ``target`` argument, parametrized over every
target; on a filesystem that could not be provisioned every claim is
unsupported, with the reason.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator

import pytest

from fixtures import apt, mounts, provision
from fixtures.run_dirs import TargetError, check_target_dir, make_run_dir, remove_run_dir
from fixtures.libc import PAGE_SIZE
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
    # The options that make this target on its own (--fs NAME, --target-dir DIR); none for the default target.
    options: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"id": self.id, "directory": self.directory, "fs": self.fs}

    @property
    def page_size(self) -> int:
        """The page size this target's files are mapped in (its fs identity's), which claim tests draw sizes,
        offsets and page indices in; the host's where the identity does not say."""
        return self.fs.get("page_size") or PAGE_SIZE

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
        help="provision these filesystems (root; installs the mkfs/FUSE tools they lack with apt-get; 'all' for every "
             "one this host can provision, 'list' to see them) and run every claim on each",
    )
    group.addoption(
        "--no-install",
        action="store_true",
        help="with --fs: install nothing; a filesystem whose tools are missing is unavailable, naming the apt-get command",
    )


def _target_id(directory: Path, taken: set[str], default: bool) -> str:
    base = "default" if default else (re.sub(r"[^A-Za-z0-9]+", "-", directory.resolve().name).strip("-") or "root")
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _installing(config: pytest.Config) -> bool:
    """Whether --fs installs the tools its filesystems lack: as root where apt-get is, unless --no-install."""
    return not config.getoption("no_install") and apt.can_install()


def _package_list(wanted: dict[str, tuple[str, ...]]) -> list[str]:
    return list(dict.fromkeys(package for packages in wanted.values() for package in packages))


def _filesystems_to_provision(values: list[str], installing: bool) -> list[str]:
    """--fs values -> filesystem names; 'all' is every filesystem this host can provision (also those that lack
    only their tools, when ``installing``)."""
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    if "all" in names:
        installable = provision.packages_to_install(list(provision.FILESYSTEMS)) if installing else {}
        available = [name for name, reason in provision.availability().items() if reason is None or name in installable]
        names = available + [n for n in names if n not in ("all", *available)]
    unknown = [n for n in names if n not in provision.availability()]
    if unknown:
        raise TargetError(f"unknown filesystem {', '.join(unknown)} (see --fs list)")
    return list(dict.fromkeys(names))


def _install_tools(names: list[str], say: Callable[[str], None]) -> None:
    """Install (apt-get) the packages the named filesystems lack of their tools, once, before provisioning; when
    that fails, one line says why and each of them stays unavailable, naming the command that installs its tools."""
    wanted = provision.packages_to_install(names)
    if not wanted:
        return
    say(f"installing {' '.join(_package_list(wanted))} for --fs {','.join(wanted)} (apt-get; --no-install: never)")
    try:
        apt.install(_package_list(wanted))
    except apt.InstallError as error:
        say(str(error))


def _list_filesystems(installing: bool) -> str:
    lines = ["filesystems mmapconf can provision (--fs NAME[,NAME...] or --fs all):"]
    known = provision.availability()
    to_install = provision.packages_to_install(list(known)) if installing else {}
    width = max(map(len, known))
    for name, reason in known.items():
        fs = provision.FILESYSTEMS.get(name)
        if reason is None:
            status, text = "available", fs.description
        elif name in to_install:
            status, text = "to install", f"{', '.join(fs.missing_tools())} not installed: --fs installs {' '.join(to_install[name])}"
        else:
            status, text = "unavailable", reason
        lines.append(f"  {name:<{width}}  {status:<11}  {text}")
    if to_install:
        lines.append(f"--fs all installs {' '.join(_package_list(to_install))} (apt-get; --no-install: never)")
    return "\n".join(lines)


def _make_targets(dirs: list[str], filesystems: list[provision.Provisioned], ledger_root: Path | None) -> list[Target]:
    made: list[dict] = []
    requested = [(Path(d).expanduser(), None) for d in dirs] + [(p.directory, p) for p in filesystems]
    if not requested:
        requested = [(Path.cwd(), None)]
    try:
        for directory, provisioned in requested:
            if provisioned is not None and provisioned.directory is None:
                made.append(dict(id=provisioned.name, directory="", run_dir="", options=("--fs", provisioned.name),
                                 fs=unprovisioned_fs_identity(provisioned.name).as_dict(), unavailable=provisioned.reason))
                continue
            read_only = bool(provisioned and provisioned.facts.get("read_only"))
            run_dir = directory if read_only else make_run_dir(directory)  # nothing is ever created on a read-only one
            fs = fs_identity(str(run_dir)).as_dict()
            if provisioned is not None:
                fs["provisioned"] = provisioned.facts
            fs["lacks"] = lacking(run_dir, fs)
            if provisioned is not None:
                options = ("--fs", provisioned.name)
            else:  # no --target-dir: the default target, the current directory
                options = ("--target-dir", str(directory.resolve())) if dirs else ()
            made.append(dict(
                id=provisioned.name if provisioned else _target_id(directory, {t["id"] for t in made}, not dirs),
                directory=str(directory.resolve()), run_dir=str(run_dir), fs=fs, options=options,
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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# What this plugin knows of the signals, which are the process's: the stop signal the run received (if any), the
# process that took it over (pytest's, or an xdist worker's), and whether os.fork() is running its callbacks (logging's
# among them), where an exception would be printed as "Exception ignored" and lost. Callbacks before the fork run in
# the reverse order of registration, those after it in order, so these bracket the ones registered earlier (pytest
# imports logging before this plugin); they are C callables, in which no signal handler can run.
_signals = types.SimpleNamespace(received=None, owner=None, in_fork=False)
os.register_at_fork(before=functools.partial(setattr, _signals, "in_fork", True),
                    after_in_parent=functools.partial(setattr, _signals, "in_fork", False),
                    after_in_child=functools.partial(setattr, _signals, "in_fork", False))


def _stop(signum: int, frame) -> None:
    """The handler of Ctrl-C and SIGTERM, in every pytest process of the run: SIGTERM ends the run as Ctrl-C does,
    so it is reported and torn down too. A process the tests fork (pytest-forked's child, a scenario's) holds
    nothing to clean up: it ends at once, by the signal, as without a handler."""
    __tracebackhide__ = True  # pytest names the line the run was at, not this one
    if os.getpid() != _signals.owner:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _signals.received = signal.Signals(signum).name
    _kill_forked_children()
    if _signals.in_fork:
        return  # see pytest_runtest_setup and pytest_runtest_logreport
    raise KeyboardInterrupt(f"received {_signals.received}")


def _kill_forked_children() -> None:
    """SIGKILL the children that are forks of this process (pytest-forked's, running a test): one forked just after
    the signal was sent did not get it. Children that run another program (FUSE servers: teardown needs them) are
    not forks."""
    me, cmdline = os.getpid(), Path("/proc/self/cmdline").read_bytes()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            parent = int(text[text.rindex(")") + 2:].split()[1])  # after "pid (comm) state"
            if parent == me and (stat.parent / "cmdline").read_bytes() == cmdline:
                os.kill(int(stat.parent.name), signal.SIGKILL)
        except OSError:  # it has exited meanwhile
            continue


def _ignore_stop_signals() -> None:
    """From the end of the tests (or the interrupt) until teardown is done: a second Ctrl-C, or the same one again
    from a parent that forwards it as tox does, would break off the report or the teardown half-way."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if "list" in config.getoption("fs"):
        print(_list_filesystems(_installing(config)))
        return 0
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Every process of the run, xdist workers too: a terminal's Ctrl-C reaches them all.
    _signals.received, _signals.owner = None, os.getpid()
    config.mmapconf_signal_handlers = {s: signal.signal(s, _stop) for s in STOP_SIGNALS}
    if is_worker(config):
        config.mmapconf_targets = [Target(**t) for t in config.workerinput[WORKER_KEY]]
        return
    config.mmapconf_targets, config.mmapconf_ledger = [], None
    config.mmapconf_owner = os.getpid()
    try:  # a user mistake stops the run before anything is installed or mounted
        for directory in config.getoption("target_dir"):
            check_target_dir(Path(directory).expanduser())
        names = _filesystems_to_provision(config.getoption("fs"), _installing(config))
    except TargetError as error:
        raise pytest.UsageError(str(error)) from None
    if _installing(config):  # before Ctrl-C is held off: apt-get may take minutes
        _install_tools(names, say=lambda line: print(f"mmapconf: {line}", file=sys.stderr))
    # Ctrl-C and SIGTERM wait until every run directory and mount made here is on record (then teardown sees it).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
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


# A stop signal taken while os.fork() ran its callbacks takes effect at the next of these two safe places.


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup() -> None:
    """In the test's forked child, when the parent took the signal before the fork: it ends by that signal."""
    if _signals.received:
        signal.raise_signal(signal.Signals[_signals.received])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> Generator[None]:
    """In the parent: the test the signal broke off (its child ended by it) is not reported, it was not run."""
    if _signals.received:
        raise KeyboardInterrupt(f"received {_signals.received}")
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt() -> None:
    _ignore_stop_signals()  # before pytest's own hook, which reads the source files of the interrupted frames


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None]:
    """Around every other plugin's: the report, xdist stopping its workers, the summary."""
    _ignore_stop_signals()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if _signals.received and reporter and not is_worker(session.config):
        reporter.line("")  # ends the line of progress the interrupt broke into, as pytest's summary does
        reporter.line(f"mmapconf: interrupted ({_signals.received}): reporting what finished and "
                      "cleaning up; further interrupts are ignored")
    return (yield)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "mmapconf_signal_handlers"):
        return  # a usage error stopped pytest_configure before this plugin's
    _ignore_stop_signals()
    if not is_worker(config) and getattr(config, "mmapconf_owner", None) == os.getpid():
        _teardown(config)
    # The caller's handlers again, for a process that goes on (pytester, pytest.main); an interrupted run's process
    # ends next, and a late Ctrl-C must not break that off.
    if not _signals.received:
        for stop_signal, handler in config.mmapconf_signal_handlers.items():
            signal.signal(stop_signal, handler)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: hand the controller's targets to each worker."""
    node.workerinput[WORKER_KEY] = [t.__dict__ for t in node.config.mmapconf_targets]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A claim test's ID names its claim and its target, ``test_x[OPEN-1:shm]`` (``:`` is in neither, and -k
    takes it: ``-k "OPEN-1:shm"``)."""
    if "target" in metafunc.fixturenames:
        targets = metafunc.config.mmapconf_targets
        claim = metafunc.definition.get_closest_marker("claim")
        prefix = f"{claim.args[0]}:" if claim and claim.args else ""
        metafunc.parametrize("target", targets, ids=[prefix + t.id for t in targets], scope="session")
