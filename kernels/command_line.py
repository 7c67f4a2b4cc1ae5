"""python -m kernels: the suite, unchanged, under other Linux kernels in QEMU guests, and one matrix.

The command line: which architectures (``--arch``) and kernels (``--kernel``), filesystems (``--fs``), Hypothesis
profile, time limits and accelerator; anything after ``--`` goes to pytest in every run. ``--help`` lists every
option.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from fixtures import provision
from harness import profiles  # the suite's profiles, which --profile names
from kernels import CHECKOUT
from kernels.arguments import Parser, UsageError, count, positive
from kernels.architectures import ARCHITECTURES, DEFAULT_ARCH, Architecture
from kernels.packages import DEFAULT_CACHE, PACKAGE_RE, SERIES_RE

DEFAULT_PROFILE = "kernel-matrix"
# pytest options the runner sets itself (per run): a user giving them would break the matrix.
RESERVED = ("--fs", "--target-dir", "--report", "--report-html", "--hypothesis-profile", "-n", "--numprocesses")


def parser() -> Parser:
    p = Parser(prog="python -m kernels", description=__doc__.splitlines()[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Anything after -- goes to pytest in every run (e.g. -- -k 'BUS or SYNC').")
    p.add_argument("--arch", action="append", default=[], metavar="ARCH[,ARCH...]",
                   help=f"guest architectures (default {DEFAULT_ARCH}; 'all': every one): " + "; ".join(
                       f"{a.name} ({a.describe()}; kernels {', '.join(a.default_series)}; filesystems "
                       f"{', '.join(a.default_fs) if a.default_fs else 'all'})" for a in ARCHITECTURES.values()))
    p.add_argument("--kernel", action="append", default=[], metavar="SPEC",
                   help="a guest kernel: a Debian series (6.1, 6.12: the newest generic package of each --arch's "
                        "flavour in the apt sources), a package name (linux-image-6.1.0-56-amd64) or a .deb file; "
                        "repeatable (default: each architecture's kernels, listed under --arch)")
    p.add_argument("--host", action=argparse.BooleanOptionalAction, default=True,
                   help="run the suite on the host too, its kernel beside the guests' (default; --no-host: guests only)")
    p.add_argument("--guests", action=argparse.BooleanOptionalAction, default=True,
                   help="boot the guests (default; --no-guests: only the host's run, e.g. a CI runner's kernel as cells)")
    p.add_argument("--fs", action="append", default=[], metavar="NAME[,NAME...]",
                   help="filesystems every run provisions ('all': every one the suite knows; a kernel that lacks "
                        "one reports it unsupported; default: each architecture's, listed under --arch)")
    p.add_argument("--profile", default=DEFAULT_PROFILE, metavar="NAME",
                   help=f"Hypothesis profile of every run (default {DEFAULT_PROFILE}; kernel-smoke: one example per claim)")
    p.add_argument("--timeout", type=positive, default=7200, metavar="S",
                   help="seconds each run's suite may take; then it is stopped, the claims it did not reach become "
                        "error cells (default 7200)")
    p.add_argument("--boot-timeout", type=positive, default=300, metavar="S",
                   help="seconds a guest kernel has to reach its init (default 300)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="QEMU accelerator: auto (KVM when a probe boot works, else TCG), kvm, tcg")
    p.add_argument("--jobs", type=count, default=os.cpu_count() or 1, metavar="N",
                   help="runs at the same time, each on one CPU (guests first, then the host; default: the host's CPUs)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, metavar="DIR",
                   help=f"kernel packages, initramfs images and run directories (default {DEFAULT_CACHE})")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where the reports go (default reports/out/kernel-matrix-<time>/)")
    p.add_argument("--keep", action="store_true", help="keep each guest's directory (scratch disk, shares, job) for debugging")
    cells = p.add_argument_group("cells: the matrix as separate jobs (CI runners, other machines; kernels/cells.py)")
    jobs = cells.add_mutually_exclusive_group()
    jobs.add_argument("--plan", nargs="?", const="text", choices=("text", "json", "gitlab"),
                      help="print the matrix these options give as cells (text; json for a CI engine's job matrix; "
                           "gitlab: a GitLab child pipeline, a job per cell and the merge) and run nothing")
    jobs.add_argument("--cell", metavar="ID", help="run only this cell of the plan (give the plan's options too)")
    cells.add_argument("--cell-minutes", type=positive, default=60, metavar="M",
                       help="the expected time a cell may take, so that it fits a CI job (default 60)")
    cells.add_argument("--timings", type=Path, metavar="MATRIX",
                       help="expected times from a previous matrix.json (its profile's cells), where it has them")
    return p


@dataclass
class Options:
    architectures: list[Architecture]
    kernel_specs: list[str]  # empty: each architecture's default series
    host: bool
    fs: list[str] | None  # None: each architecture's default filesystems
    profile: str
    timeout: float
    boot_timeout: float
    accel: str
    jobs: int
    cache: Path
    out: Path
    keep: bool
    plan: str | None = None  # "text", "json" or "gitlab": print the cells and run nothing
    cell: str | None = None  # run only this cell
    cell_minutes: float = 60
    timings: Path | None = None
    pytest_args: list[str] = field(default_factory=list)

    def kernels(self, arch: Architecture) -> list[str]:
        return self.kernel_specs or list(arch.default_series)

    def filesystems(self, arch: Architecture | None) -> list[str]:
        """What a run provisions: --fs, else its architecture's default set (the host's run: every one)."""
        if self.fs is not None:
            return self.fs
        return list(arch.default_fs) if arch is not None and arch.default_fs else matrix_filesystems(["all"])


def matrix_filesystems(values: list[str]) -> list[str]:
    """--fs values -> filesystem names; 'all' is every filesystem the suite knows (a guest's kernel may provide
    one the host's lacks)."""
    names = [n.strip() for value in values for n in value.split(",") if n.strip()] or ["all"]
    known = list(provision.FILESYSTEMS)
    expanded = []
    for name in names:
        expanded += known if name == "all" else [name]
    unknown = [n for n in expanded if n not in known]
    if unknown:
        raise UsageError(f"unknown filesystem {', '.join(dict.fromkeys(unknown))} (known: {', '.join(known)})")
    return list(dict.fromkeys(expanded))


def parse_architectures(values: list[str]) -> list[Architecture]:
    names = [n.strip() for value in values for n in value.split(",") if n.strip()] or [DEFAULT_ARCH]
    expanded = [n for name in names for n in (ARCHITECTURES if name == "all" else [name])]
    unknown = [n for n in expanded if n not in ARCHITECTURES]
    if unknown:
        raise UsageError(f"unknown architecture {', '.join(dict.fromkeys(unknown))} (known: {', '.join(ARCHITECTURES)}, all)")
    return [ARCHITECTURES[n] for n in dict.fromkeys(expanded)]


def parse(argv: list[str]) -> Options:
    own, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = parser().parse_args(own)
    for arg in pytest_args:
        if arg.split("=")[0] in RESERVED or re.match(r"^-n\d", arg):
            raise UsageError(f"pytest option {arg.split('=')[0]} is set by the kernel matrix (use its own options)")
    problem = profiles.unknown_profile(args.profile)
    if problem:
        raise UsageError(f"--profile {args.profile}: {problem}")
    if not args.host and not args.guests:
        raise UsageError("--no-host with --no-guests leaves nothing to run")
    architectures = parse_architectures(args.arch) if args.guests else []
    kernels = list(dict.fromkeys(args.kernel))
    for spec in kernels:
        if not (spec.endswith(".deb") or SERIES_RE.match(spec) or PACKAGE_RE.match(spec)):
            raise UsageError(f"--kernel {spec}: give a series (6.1, 6.12), a package (linux-image-6.1.0-56-amd64) or a .deb file")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or CHECKOUT / "reports" / "out" / f"kernel-matrix-{stamp}"
    return Options(architectures=architectures, kernel_specs=kernels, host=args.host,
                   fs=matrix_filesystems(args.fs) if args.fs else None, profile=args.profile,
                   timeout=args.timeout, boot_timeout=args.boot_timeout, accel=args.accel, jobs=args.jobs,
                   cache=args.cache.resolve(), out=out.resolve(), keep=args.keep, plan=args.plan, cell=args.cell,
                   cell_minutes=args.cell_minutes, timings=args.timings, pytest_args=pytest_args)
