"""The kernel matrix as cells: jobs that CI runners or other machines run one each (``--plan``, ``--cell ID``).

A cell is one run of the suite (the host's kernel, or one kernel of one
architecture in a guest) on some of its filesystems, sized by its expected time
to fit a CI job (``--cell-minutes``). The plan is a function of the options
alone (no kernel is fetched), so a plan job and every cell job, given the same
options, agree on the cells; ``python -m reports merge`` of the cells' matrices,
given in plan order (the cell IDs sort in that order), is the matrix one
monolithic run would give.

Expected times come from a previous matrix (``--timings``: the suite's own time
per filesystem on each architecture) where it has the architecture, filesystem
and profile, and otherwise from figures measured on a 2-CPU x86-64 host
(``HOST_SECONDS``) scaled by each architecture's slowdown under emulation.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from kernels.architectures import Architecture
from kernels.command_line import Options, UsageError
from reports.matrix import ReportError, load

FORMAT, VERSION = "mmapconf-plan", 1

# The suite's own seconds per filesystem on the host, kernel-matrix profile: the sum of its claims' times in
# `./mmapconf suite -n 2 --fs all --hypothesis-profile kernel-matrix` (2-CPU x86-64, host 6.18, 2026-12-03). The
# filesystems only guests have (vfat, the 9p shares) cost the median.
HOST_SECONDS = {"tmpfs": 22.6, "ramfs": 23.9, "ext2-1k": 36.0, "ext4": 51.6, "ext4-1k": 45.6, "xfs": 42.7, "btrfs": 48.1,
                "overlay-tmpfs": 33.7, "overlay-ext4": 42.0, "fuse-bindfs": 29.0, "fuse-python": 25.8, "hugetlbfs": 23.7,
                "squashfs": 6.8, "erofs": 7.1}
MEDIAN_SECONDS = sorted(HOST_SECONDS.values())[len(HOST_SECONDS) // 2]
# One run's start-up (interpreter, plugin, collection, provisioning) on the host, seconds: that run's wall time
# less its claims' time per worker.
HOST_START_S = 10.0
# How many times longer each profile takes than kernel-matrix: ci's 40 examples took 3.9x as long in the CI's
# filesystem matrix (same host, same 14 filesystems); dev draws as many; thorough's 500 is 12.5x ci's examples;
# kernel-smoke's one example took 0.45-1.0x as long as kernel-matrix's three in 6.12 guests (tmpfs).
PROFILE_FACTOR = {"kernel-matrix": 1.0, "kernel-smoke": 0.7, "ci": 3.9, "dev": 3.9, "thorough": 49.0}
# How many times slower the suite runs in a TCG guest than on the host: x86_64 3.3-6.3x in six 6.12 guest runs here
# (tmpfs, ext4; 3.5x with the current code) and 35-67 s of start-up; arm64-16k's claims took 0.85x x86_64's in one
# smoke run of both (tmpfs, ext2-1k); against arm64, ppc64le forks and interprets faster and s390x 1.5x slower
# (../shared/notes/other-architectures.md). Guest runs here vary by up to 2x from one run to the next.
GUEST_SLOWDOWN = {"x86_64": 4.0, "arm64": 3.5, "arm64-16k": 3.5, "ppc64le": 3.5, "s390x": 5.5}
# QEMU's start to the guest's init, seconds (measured: x86_64 9-18, arm64 4-7, ppc64le and s390x 4-5).
GUEST_BOOT_S = {"x86_64": 12.0, "arm64": 6.0, "arm64-16k": 6.0, "ppc64le": 5.0, "s390x": 5.0}


@dataclass(frozen=True)
class Cell:
    id: str
    kind: str  # "host" or "guest"
    arch: str | None  # --arch name; None for the host
    kernel: str | None  # the --kernel spec; None for the host
    filesystems: tuple[str, ...]
    profile: str
    expected_s: float

    def as_dict(self) -> dict:
        return dict(dataclasses.asdict(self), filesystems=list(self.filesystems))


class Timings:
    """Expected seconds: measured ones from a previous matrix where it has them, the built-in model otherwise."""

    def __init__(self, profile: str, previous: dict | None = None):
        self.profile = profile
        self.measured: dict[tuple[str, str], float] = {}
        self.start: dict[str, float] = {}
        if previous is not None:
            self._learn(previous)

    def _learn(self, matrix: dict) -> None:
        by_column: dict[str, float] = {}
        for cell in matrix["results"]:
            by_column[cell["column"]] = by_column.get(cell["column"], 0.0) + cell["duration_s"]
        runs: dict[str, list] = {}
        for column in matrix["columns"]:
            if column["run"]["hypothesis_profile"] != self.profile:
                continue
            facts = column["run"].get("kernel_matrix") or {}
            if facts.get("stand_in"):
                continue
            where = facts.get("arch") or "host"
            self.measured[(where, column["target"])] = by_column[column["id"]]
            runs.setdefault(json.dumps(column["run"], sort_keys=True), [where, column["run"]["duration_s"], 0.0])[2] += \
                by_column[column["id"]]
        for where, duration, in_claims in runs.values():
            self.start[where] = max(duration - in_claims, 0.0)

    def filesystem(self, arch: Architecture | None, fs: str) -> float:
        where = arch.name if arch else "host"
        if (where, fs) in self.measured:
            return self.measured[(where, fs)]
        host = HOST_SECONDS.get(fs, MEDIAN_SECONDS) * PROFILE_FACTOR[self.profile]
        return host * (GUEST_SLOWDOWN[arch.name] if arch else 1.0)

    def start_up(self, arch: Architecture | None) -> float:
        where = arch.name if arch else "host"
        if where in self.start:
            return self.start[where] + (GUEST_BOOT_S[arch.name] if arch else 0.0)
        return HOST_START_S * (GUEST_SLOWDOWN[arch.name] if arch else 1.0) + (GUEST_BOOT_S[arch.name] if arch else 0.0)


def _slug(text: str) -> str:
    """A kernel spec as part of a cell ID (a .deb file by its name): letters, digits, '.', '_', '-' only, as CI
    engines take in job and artifact names."""
    name = Path(text).name.removesuffix(".deb") if text.endswith(".deb") else text
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _split(filesystems: list[str], cost, start: float, budget: float) -> list[list[str]]:
    """The filesystems in order, in groups whose expected time (one start-up each) fits the budget where it can: a
    filesystem that alone exceeds it is a group of its own."""
    groups: list[list[str]] = []
    spent = 0.0
    for fs in filesystems:
        if groups and spent + cost(fs) <= budget:
            groups[-1].append(fs)
            spent += cost(fs)
        else:
            groups.append([fs])
            spent = start + cost(fs)
    return groups


def plan(options: Options, timings: Timings) -> list[Cell]:
    """Every cell of the matrix, in the order a monolithic run reports them: the host first, then each
    architecture's kernels."""
    runs: list[tuple[str, Architecture | None, str | None]] = [("host", None, None)] if options.host else []
    runs += [(f"{arch.name}-{_slug(spec)}", arch, spec) for arch in options.architectures for spec in options.kernels(arch)]
    drafts = []
    budget = options.cell_minutes * 60
    for name, arch, spec in runs:
        start = timings.start_up(arch)
        groups = _split(options.filesystems(arch), lambda fs: timings.filesystem(arch, fs), start, budget)
        for part, group in enumerate(groups, 1):
            suffix = f"-{part}of{len(groups)}" if len(groups) > 1 else ""
            expected = start + sum(timings.filesystem(arch, fs) for fs in group)
            drafts.append((name + suffix, arch, spec, group, expected))
    width = len(str(len(drafts)))
    return [Cell(f"{index:0{width}d}-{name}", "guest" if arch else "host", arch.name if arch else None, spec,
                 tuple(group), options.profile, round(expected))
            for index, (name, arch, spec, group, expected) in enumerate(drafts, 1)]


def load_timings(options: Options) -> Timings:
    """The --timings matrix read as python -m reports reads its inputs (a bad one is a usage error)."""
    if options.timings is None:
        return Timings(options.profile)
    try:
        return Timings(options.profile, load(options.timings))
    except ReportError as error:
        raise UsageError(f"--timings {error}") from None


def find(cells: list[Cell], cell_id: str) -> Cell:
    for cell in cells:
        if cell.id == cell_id:
            return cell
    raise UsageError(f"--cell {cell_id}: no such cell in this plan (the same options give: "
                     f"{', '.join(c.id for c in cells)})")


def narrowed(options: Options, cell: Cell) -> Options:
    """The options of a monolithic run that is exactly this cell; its suite stops at the cell's limit (or --timeout,
    if less), so that the claims it did not reach are error cells before its CI job's limit ends the job."""
    arch = [a for a in options.architectures if a.name == cell.arch]
    return dataclasses.replace(options, architectures=arch, kernel_specs=[cell.kernel] if cell.kernel else [],
                               host=cell.kind == "host", fs=list(cell.filesystems),
                               timeout=min(options.timeout, suite_limit_s(cell)))


def suite_limit_s(cell: Cell) -> float:
    """How long a cell's suite may run: twice its expected time (the figures are one machine's; runners differ),
    at least 10 minutes."""
    return max(2.0 * cell.expected_s, 600.0)


def job_minutes(cell: Cell) -> int:
    """The time limit of a cell's CI job: its suite's limit, and 30 minutes to set up (system packages, the tox env,
    the kernel's download, a foreign userland), boot, stop the guest and write the reports."""
    return math.ceil(suite_limit_s(cell) / 60) + 30


def document(cells: list[Cell], options: Options) -> dict:
    """The plan as JSON: each cell's job, for a CI engine's matrix (GitHub Actions: strategy.matrix.include)."""
    return {"format": FORMAT, "version": VERSION, "cell_minutes": options.cell_minutes,
            "expected_s": round(sum(c.expected_s for c in cells)),
            "cells": [dict(c.as_dict(), job_minutes=job_minutes(c)) for c in cells]}


# The GitLab child pipeline's jobs run in the image of the plan job of .gitlab-ci.yml (a test holds them equal):
# Debian, whose apt sources have the guests' kernels. The merge needs only Python's standard library.
GITLAB_IMAGE, GITLAB_MERGE_IMAGE = "debian:bookworm", "python:3-slim"
# The child pipeline's merge: the cells' matrices in plan order (their directories sort so), the web page, the kernel
# summary in Markdown (printed too: GitLab has no job summary page).
MERGE_COMMANDS = ["python3 -m reports merge cells/*/matrix.json -o matrix.json",
                  "python3 -m reports html matrix.json -o matrix.html",
                  "python3 -m reports kernels --markdown matrix.json | tee summary.md"]


def gitlab(cells: list[Cell]) -> str:
    """The plan as a GitLab child pipeline (JSON, which is YAML): a job per cell, each keeping its report directory as
    artifacts whether it passed or not, then a merge job that gets them all (a later stage's job gets every earlier
    job's artifacts: no needs list, which GitLab caps at 50 jobs). Each cell job runs .ci/kernels, which adds the
    options of MMAPCONF_OPTIONS, forwarded from the parent pipeline: the options that gave this plan."""
    jobs: dict = {"stages": ["cells", "merge"]}
    for cell in cells:
        jobs[f"cell {cell.id}"] = {
            "stage": "cells", "image": GITLAB_IMAGE, "timeout": f"{job_minutes(cell)} minutes",
            "script": [f".ci/kernels --cell {cell.id} --out cells/{cell.id}"],
            "artifacts": {"when": "always", "paths": [f"cells/{cell.id}/"]}}
    jobs["merge"] = {"stage": "merge", "image": GITLAB_MERGE_IMAGE, "when": "always", "script": MERGE_COMMANDS,
                     "artifacts": {"when": "always", "paths": ["matrix.json", "matrix.html", "summary.md"]}}
    return json.dumps(jobs, indent=1) + "\n"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def text(cells: list[Cell], options: Options) -> str:
    budget = options.cell_minutes * 60
    lines = [f"{'cell':<28} {'kernel':<30} {'expected':>10}  filesystems"]
    for cell in cells:
        kernel = f"{cell.kernel} ({cell.arch})" if cell.kind == "guest" else "the host's"
        over = "  (over --cell-minutes: one filesystem alone)" if cell.expected_s > budget else ""
        lines.append(f"{cell.id:<28} {kernel:<30} {_minutes(cell.expected_s):>10}  {','.join(cell.filesystems)}{over}")
    lines.append(f"{len(cells)} cell(s), profile {options.profile}, {_minutes(sum(c.expected_s for c in cells))} in all "
                 f"(each at most {options.cell_minutes:g} min where one filesystem fits); run one with the same options "
                 f"and --cell ID")
    return "\n".join(lines) + "\n"
