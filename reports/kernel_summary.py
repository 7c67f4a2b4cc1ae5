"""The kernel summary of a matrix: per kernel how it ran, its times and verdict counts; the filesystems a kernel
could not provide; where kernels differ; claims some kernels could not check; cells against the expectations.

Made from the matrix alone (``python -m reports kernels MATRIX.json``), so a kernel matrix made on any machine can be
summarised. How each kernel ran comes from its columns' run section, ``run.kernel_matrix``, written by the kernel
matrix (kernels/run_reports.py); a column of a plain suite run has none and shows what its report says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reports import markdown as matrix_markdown
from reports.matrix import cell_grid, platform, verdict_key

VERDICTS = ("holds", "refuted", "observed", "unsupported", "error", "not run")
SHOWN_CONTRADICTIONS = 20  # in the printed summary; the matrix has them all


@dataclass
class KernelRun:
    """One kernel's run, as its columns record it."""

    label: str  # the kernel release, "(host)" after the host's
    kind: str | None  # "host", "guest", or None: not run by the kernel matrix
    platform: str  # architecture, page size and byte order (reports.matrix.platform)
    accel: str | None = None
    accel_note: str = ""
    status: str = "ok"
    reason: str = ""
    boot_s: float | None = None
    suite_s: float | None = None  # the suite's own duration (the run report's); None for a stand-in
    total_s: float | None = None
    console_tail: list[str] = field(default_factory=list)
    columns: list[dict] = field(default_factory=list)

    @property
    def how(self) -> str:
        if self.kind == "host":
            return "host"
        return f"qemu {self.accel or '-'}" if self.kind == "guest" else "-"


def kernel_matrix_facts(column: dict) -> dict:
    """How the kernel matrix ran the column's kernel (its run.kernel_matrix); empty for a plain suite run."""
    return column["run"].get("kernel_matrix") or {}


def kernel_label(column: dict) -> str:
    return column["kernel_release"] + (" (host)" if kernel_matrix_facts(column).get("kind") == "host" else "")


def kernel_runs(matrix: dict) -> list[KernelRun]:
    """Every kernel of the matrix, in column order, with how its run went. A kernel whose filesystems were run as
    several cells (kernels/cells.py) has several runs: their times add up, and the first that failed says how."""
    found: dict[str, KernelRun] = {}
    for column in matrix["columns"]:
        label = kernel_label(column)
        facts = kernel_matrix_facts(column)
        kernel = found.get(label)
        if kernel is None:
            kernel = found[label] = KernelRun(label, facts.get("kind"), platform(column["host"]), accel=facts.get("accel"),
                                              accel_note=facts.get("accel_note", ""))
        if all(column["run"] != seen["run"] for seen in kernel.columns):
            suite_s = None if facts.get("stand_in") else column["run"]["duration_s"]
            kernel.boot_s, kernel.suite_s, kernel.total_s = (
                _add(kernel.boot_s, facts.get("boot_s")), _add(kernel.suite_s, suite_s), _add(kernel.total_s, facts.get("total_s")))
            if kernel.status == "ok" and facts.get("status", "ok") != "ok":
                kernel.status, kernel.reason, kernel.console_tail = facts["status"], facts.get("reason", ""), facts.get("console_tail", [])
        kernel.columns.append(column)
    return list(found.values())


def _add(total: float | None, more: float | None) -> float | None:
    return more if total is None else total if more is None else round(total + more, 1)


def not_provided(fs: dict) -> bool:
    """Whether a target's filesystem identity is that of one the run could not provide (no magic, not mounted)."""
    return fs.get("mount_point") is None and not fs.get("magic")


def stand_in_column(matrix: dict, column_id: str) -> bool:
    """Whether the column stands in for a run that gave no report (nothing but error cells)."""
    column = next(c for c in matrix["columns"] if c["id"] == column_id)
    return bool(kernel_matrix_facts(column).get("stand_in"))


def differences(matrix: dict) -> tuple[list[dict], dict[str, dict[str, str]]]:
    """Claims whose verdict differs between kernels on the same filesystem (among the kernels that could
    provision it; a kernel whose run failed as a whole is left out: the summary says why once); and per
    filesystem, per kernel, why it could not be provisioned (coverage)."""
    grid = cell_grid(matrix)
    by_fs: dict[str, list[dict]] = {}
    for column in matrix["columns"]:
        by_fs.setdefault(column["target"], []).append(column)
    coverage: dict[str, dict[str, str]] = {}
    found = []
    for fs, columns in by_fs.items():
        usable = []
        for column in columns:
            if stand_in_column(matrix, column["id"]):
                continue  # a kernel that gave no report at all: the summary shows why, once
            cells = [grid[(claim["id"], column["id"])] for claim in matrix["claims"]]
            if not_provided(column["target_info"]["fs"]):
                coverage.setdefault(fs, {})[kernel_label(column)] = next(
                    (c["detail"] for c in cells if c["verdict"] == "unsupported"), "not provisioned")
            else:
                usable.append(column)
        if len(usable) < 2:
            continue
        for claim in matrix["claims"]:
            cells = {kernel_label(c): grid[(claim["id"], c["id"])] for c in usable}
            keys = {k: verdict_key(cell) for k, cell in cells.items()}
            if "not run" in keys.values() or len(set(keys.values())) < 2:
                continue
            found.append({"claim": claim["id"], "name": claim["name"], "fs": fs, "verdicts": keys,
                          "details": {k: cell.get("detail", "") for k, cell in cells.items()}})
    return found, coverage


def platform_differences(matrix: dict, verdicts: dict[str, str]) -> list[str]:
    """Where kernels of one series on different platforms (architecture, page size, byte order) give different
    verdicts: one line per such series, e.g. '6.12: aarch64, 4 KiB pages, LE: holds | ppc64le, 64 KiB pages, LE:
    refuted'. A difference across series alone is the kernels'; within a series, the platform's."""
    runs = {run.label: run for run in kernel_runs(matrix)}
    series: dict[str, dict[str, set[str]]] = {}
    for label, verdict in verdicts.items():
        name = ".".join(runs[label].columns[0]["kernel_release"].split(".")[:2])  # 6.12.117+deb12-arm64 -> 6.12
        series.setdefault(name, {}).setdefault(runs[label].platform, set()).add(verdict)
    lines = []
    for name, by_platform in sorted(series.items()):
        if len(by_platform) > 1 and len({frozenset(v) for v in by_platform.values()}) > 1:
            lines.append(f"{name}: " + " | ".join(f"{p}: {'/'.join(sorted(v))}" for p, v in sorted(by_platform.items())))
    return lines


def contradictions(matrix: dict) -> list[dict]:
    """Cells that contradict the expectations: refuted or in error where they say otherwise. A claim recorded as
    refuted that holds here is left out: a profile of a few examples need not find the counterexample."""
    return [c for c in matrix["results"] if not c["as_expected"] and c["verdict"] in ("refuted", "error")]


def contradictions_line(contradicting: list[dict], shown: int = 10) -> str:
    """The contradicting cells as a runner's exit line says them: how many, and the first ``shown``."""
    return (f"{len(contradicting)} cell(s) refuted or in error where the expectations say otherwise: "
            + ", ".join(f"{c['claim']} on {c['column']}" for c in contradicting[:shown])
            + (", ..." if len(contradicting) > shown else ""))


def split_differences(found: list[dict]) -> tuple[list[dict], list[dict]]:
    """Differences where every kernel checked the claim (the kernels behave differently), and those where some
    kernel could not check it (unsupported there: a feature it lacks)."""
    partly = [item for item in found if "unsupported" in item["verdicts"].values()]
    return [item for item in found if item not in partly], partly


def _by_claim(items: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for item in items:
        grouped.setdefault(item["claim"], []).append(item)
    return grouped


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _overview(matrix: dict) -> tuple[int, str, str]:
    """How many filesystems, which Hypothesis profile(s), and how long the whole kernel matrix took."""
    filesystems = {column["target"] for column in matrix["columns"]}
    profiles = ", ".join(dict.fromkeys(column["run"]["hypothesis_profile"] for column in matrix["columns"]))
    walls = [kernel_matrix_facts(column)["matrix_wall_s"] for column in matrix["columns"]
             if "matrix_wall_s" in kernel_matrix_facts(column)]
    return len(filesystems), profiles, _seconds(max(walls) if walls else None)


def lines(matrix: dict, color: bool = False) -> list[str]:
    """The summary as printed (``color``: ANSI bold and highlights)."""
    bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
    hot = (lambda s: f"\033[1;33m{s}\033[0m") if color else (lambda s: s)
    grid = cell_grid(matrix)
    runs = kernel_runs(matrix)
    filesystems, profiles, wall = _overview(matrix)
    out = [bold(f"kernel matrix: {len(runs)} kernel(s) x {filesystems} filesystem(s), {len(matrix['claims'])} claims, "
                f"profile {profiles}, {wall} in all"), ""]
    out.append(f"{'kernel':<32} {'platform':<27} {'how':<10} {'boot':>7} {'suite':>9} {'total':>9}  cells (" + " / ".join(VERDICTS) + ")")
    for run in runs:
        tally = {v: 0 for v in VERDICTS}
        for column in run.columns:
            for claim in matrix["claims"]:
                tally[grid[(claim["id"], column["id"])]["verdict"]] += 1
        out.append(f"{run.label:<32} {run.platform:<27} {run.how:<10} {_seconds(run.boot_s):>7} {_seconds(run.suite_s):>9} "
                   f"{_seconds(run.total_s):>9}  " + " / ".join(str(tally[v]) for v in VERDICTS))
        if run.status != "ok":
            out.append(hot(f"  !! {run.status}: {run.reason}"))
            out += [f"     | {line}" for line in run.console_tail[-8:]]
        if run.accel_note and run.kind == "guest":
            out.append(f"  accelerator: {run.accel} ({run.accel_note})")
    found, coverage = differences(matrix)
    out += ["", bold("filesystems a kernel could not provide (its cells are unsupported):")]
    if not coverage:
        out.append("  none")
    for fs, why in coverage.items():
        for kernel, detail in why.items():
            out.append(f"  {fs:<14} {kernel:<32} {detail.splitlines()[0][:110] if detail else ''}")
    differ, partly = split_differences(found)
    out += ["", bold(f"differences between kernels (same claim, same filesystem, checked on each, different verdict): "
                     f"{len(differ)}")]
    if not differ:
        out.append("  none: every claim checked on every kernel has the same verdict on each")
    for claim, items in _by_claim(differ).items():
        out.append(hot(f">> {claim} {items[0]['name']}"))
        groups: dict[tuple, list[str]] = {}
        for item in items:
            groups.setdefault(tuple(sorted(item["verdicts"].items())), []).append(item["fs"])
        for verdicts, filesystems_alike in groups.items():
            out.append(f"     {', '.join(filesystems_alike)}: " + " | ".join(f"{k}: {v}" for k, v in verdicts))
            out += [f"       by platform, same series {line}" for line in platform_differences(matrix, dict(verdicts))]
            example = items[[i["fs"] for i in items].index(filesystems_alike[0])]
            for kernel, verdict in verdicts:
                detail = example["details"][kernel]
                if verdict not in ("holds",) and detail:
                    out.append(f"       {kernel}: {detail.splitlines()[0][:140]}")
    out += ["", bold(f"claims checked on some kernels only (unsupported on the others): {len(partly)}")]
    for claim, items in _by_claim(partly).items():
        unsupported = {k for item in items for k, v in item["verdicts"].items() if v == "unsupported"}
        example = next(d for item in items for k, d in item["details"].items() if k in unsupported)
        out.append(f"  {claim:<22} unsupported on {', '.join(sorted(unsupported))} ({', '.join(i['fs'] for i in items)}): "
                   f"{(example or '').splitlines()[0][:90] if example else ''}")
    contradicting = [c for c in contradictions(matrix) if not stand_in_column(matrix, c["column"])]
    out += ["", bold(f"cells refuted or in error against the expectations: {len(contradicting)}")]
    for cell in contradicting[:SHOWN_CONTRADICTIONS]:
        detail = cell["detail"].splitlines()[0][:100] if cell["detail"] else ""
        out.append(f"  {cell['claim']:<22} {cell['column']:<50} {cell['verdict']}: {detail}")
    if len(contradicting) > SHOWN_CONTRADICTIONS:
        out.append(f"  ... and {len(contradicting) - SHOWN_CONTRADICTIONS} more (matrix.html: filter by verdict)")
    return out


def markdown(matrix: dict) -> str:
    """The summary as Markdown (summary.md), followed by the matrix's own Markdown summary."""
    runs = kernel_runs(matrix)
    filesystems, profiles, wall = _overview(matrix)
    found, coverage = differences(matrix)
    out = ["# mmapconf kernel matrix", "",
           f"{len(runs)} kernel(s) x {filesystems} filesystem(s), profile `{profiles}`, {wall}.", "",
           "| kernel | platform | how | boot | suite | total | status |", "|---|---|---|---|---|---|---|"]
    for run in runs:
        how = run.how.replace("qemu", "QEMU")
        out.append(f"| {run.label} | {run.platform} | {how} | {_seconds(run.boot_s)} | {_seconds(run.suite_s)} | {_seconds(run.total_s)} | "
                   f"{run.status}{': ' + run.reason if run.reason else ''} |")
    kernels = list(dict.fromkeys(k for item in found for k in item["verdicts"]))
    for title, items in zip(("Differences between kernels", "Checked on some kernels only"), split_differences(found)):
        out += ["", f"## {title} ({len(items)})", ""]
        if not items:
            out.append("None.")
            continue
        out += ["| claim | filesystem | " + " | ".join(kernels) + " |", "|---|---|" + "---|" * len(kernels)]
        for item in items:
            out.append(f"| **{item['claim']}** {item['name']} | {item['fs']} | "
                       + " | ".join(item["verdicts"].get(k, "") for k in kernels) + " |")
    if coverage:
        out += ["", "## Filesystems a kernel could not provide", ""]
        for fs, why in coverage.items():
            for kernel, detail in why.items():
                out.append(f"- `{fs}` on {kernel}: {detail.splitlines()[0] if detail else ''}")
    return "\n".join(out) + "\n\n" + matrix_markdown.render(matrix)
