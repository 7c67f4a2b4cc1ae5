"""python -m lab: the suite on lab machines over SSH, merged into one matrix.

  python -m lab --machine [USER@]HOST[:PORT]:DIR [--machine ...] [options] [-- pytest options]

Each --machine names a machine as ssh reaches it (a name from ~/.ssh/config works) and the directory the suite
tests there; anything after -- goes to pytest on every machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from bundle import CHECKOUT
from kernels.arguments import Parser, UsageError, positive

# harness/profiles.py registers these; it imports Hypothesis, which the runner's python3 need not have
# (tests/test_lab.py keeps the two lists the same).
PROFILES = ("ci", "dev", "thorough", "kernel-matrix", "kernel-smoke")
DEFAULT_PROFILE = "ci"
# pytest options the runner sets itself, or whose files would stay in the remote directory it removes.
RESERVED = ("--target-dir", "--report", "--report-html", "--junitxml", "--hypothesis-profile")
# [user@]host[:port]:/directory, as scp writes a remote path, with an optional port; an IPv6 address in brackets.
MACHINE_RE = re.compile(r"(?:(?P<user>[^@:/\s]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@:/\[\]\s]+)"
                        r"(?::(?P<port>\d+))?:(?P<directory>/.*)")


@dataclass(frozen=True)
class Machine:
    user: str | None
    host: str  # as given: a name, an address, [an IPv6 address]
    port: int | None
    directory: str  # absolute, on the machine

    @property
    def label(self) -> str:
        """How progress, summary and column ids name the machine: its host (and port), as given."""
        return self.host + (f":{self.port}" if self.port else "")

    @property
    def destination(self) -> str:
        """The ssh client's destination argument."""
        host = self.host.strip("[]")
        return f"{self.user}@{host}" if self.user else host


def parse_machine(spec: str) -> Machine:
    match = MACHINE_RE.fullmatch(spec)
    if not match:
        raise UsageError(f"--machine {spec}: give [USER@]HOST[:PORT]:DIR, DIR an absolute path on the machine "
                         "(e.g. board:/mnt/test, root@10.0.0.7:2222:/srv/test)")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--machine {spec}: port {port} is not a TCP port")
    return Machine(user=match["user"], host=match["host"], port=port, directory=match["directory"])


def parser() -> Parser:
    p = Parser(prog="python -m lab", description=__doc__.splitlines()[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Anything after -- goes to pytest on every machine (e.g. -- -k 'BUS or SYNC' -n 4).")
    p.add_argument("--machine", action="append", default=[], metavar="[USER@]HOST[:PORT]:DIR",
                   help="a machine ssh reaches (a Host of your ssh configuration too) and the directory the suite "
                        "tests on it; repeatable, at least one")
    p.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES, metavar="NAME",
                   help=f"Hypothesis profile of every run (default {DEFAULT_PROFILE}: 40 examples per claim, "
                        f"derandomized, so every machine gets the same examples; also: {', '.join(PROFILES[1:])})")
    p.add_argument("--timeout", type=positive, default=7200, metavar="S",
                   help="seconds each machine's run may take, the bundle's transfer included; then its suite is "
                        "stopped and the claims it did not reach become error cells (default 7200)")
    p.add_argument("-F", "--ssh-config", type=Path, default=None, metavar="FILE",
                   help="the ssh client's configuration file (ssh -F; default: ~/.ssh/config and the system's)")
    p.add_argument("--ssh-option", action="append", default=[], metavar="OPTION=VALUE",
                   help="an ssh client option (ssh -o), e.g. IdentityFile=~/.ssh/lab; repeatable")
    p.add_argument("--cache", type=Path, default=CHECKOUT / ".tox" / "bundle", metavar="DIR",
                   help="the bundle's downloaded wheels (default .tox/bundle in the checkout)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where the reports go (default reports/out/lab-<time>/)")
    return p


@dataclass
class Options:
    machines: list[Machine]
    profile: str
    timeout: float
    ssh_config: Path | None
    ssh_options: list[str]
    cache: Path
    out: Path
    pytest_args: list[str] = field(default_factory=list)


def parse(argv: list[str]) -> Options:
    own, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = parser().parse_args(own)
    if not args.machine:
        raise UsageError("give at least one --machine [USER@]HOST[:PORT]:DIR")
    machines = [parse_machine(spec) for spec in args.machine]
    twice = [m for i, m in enumerate(machines) if m in machines[:i]]
    if twice:
        raise UsageError(f"--machine {twice[0].label}:{twice[0].directory} is given twice")
    for arg in pytest_args:
        if arg.split("=")[0] in RESERVED:
            raise UsageError(f"pytest option {arg.split('=')[0]} is set by the lab runner (use its own options)")
    for option in args.ssh_option:
        if "=" not in option:
            raise UsageError(f"--ssh-option {option}: give OPTION=VALUE, as ssh -o takes it")
    if args.ssh_config is not None and not args.ssh_config.is_file():
        raise UsageError(f"--ssh-config {args.ssh_config}: no such file")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or CHECKOUT / "reports" / "out" / f"lab-{stamp}"
    return Options(machines=machines, profile=args.profile, timeout=args.timeout, ssh_config=args.ssh_config,
                   ssh_options=args.ssh_option, cache=args.cache.resolve(), out=out.resolve(), pytest_args=pytest_args)
