"""Verdict changes between two reports (two kernels, two filesystems' runs, two commits)."""

from __future__ import annotations

from reports.matrix import cell_grid, verdict_key

CHECKED = ("holds", "observed")  # a claim checked in the base report: it held, or took an alternative
# A checked claim that turns into one of these is a regression by default (``--regressions`` narrows the list):
# a claim no longer checked is as much a loss as one refuted.
REGRESSIONS = ("refuted", "error", "unsupported", "not run")


def pair_columns(base: dict, new: dict) -> list[tuple[dict, dict]]:
    """Columns to compare: the same column ID where the two share IDs (same kernel), otherwise the same
    target and filesystem type (the usual case when comparing kernels)."""
    new_by_id = {c["id"]: c for c in new["columns"]}
    if any(c["id"] in new_by_id for c in base["columns"]):
        return [(c, new_by_id[c["id"]]) for c in base["columns"] if c["id"] in new_by_id]
    new_by_target = {}
    for column in new["columns"]:
        new_by_target.setdefault((column["target"], column["fs_type"]), column)
    return [(c, new_by_target[(c["target"], c["fs_type"])]) for c in base["columns"]
            if (c["target"], c["fs_type"]) in new_by_target]


def changes(base: dict, new: dict, regressions: tuple[str, ...] = REGRESSIONS) -> list[dict]:
    """Every (claim, column pair) whose verdict differs; claims present in both reports only. A claim checked in
    ``base`` whose verdict in ``new`` is one of ``regressions`` is a regression."""
    base_grid, new_grid = cell_grid(base), cell_grid(new)
    new_claims = {c["id"] for c in new["claims"]}
    found = []
    for old_column, new_column in pair_columns(base, new):
        for claim in base["claims"]:
            if claim["id"] not in new_claims:
                continue
            before = base_grid[(claim["id"], old_column["id"])]
            after = new_grid[(claim["id"], new_column["id"])]
            if verdict_key(before) != verdict_key(after):
                found.append({
                    "claim": claim["id"],
                    "base_column": old_column["id"],
                    "new_column": new_column["id"],
                    "before": verdict_key(before),
                    "after": verdict_key(after),
                    "regression": before["verdict"] in CHECKED and after["verdict"] in regressions,
                })
    return found


def render(found: list[dict], pairs: list[tuple[dict, dict]], regressions: tuple[str, ...] = REGRESSIONS) -> list[str]:
    lines = [f"compared {len(pairs)} column pair(s): "
             + ", ".join(a["id"] if a["id"] == b["id"] else f"{a['id']} -> {b['id']}" for a, b in pairs)]
    for change in found:
        where = change["base_column"] if change["base_column"] == change["new_column"] \
            else f"{change['base_column']} -> {change['new_column']}"
        mark = "  REGRESSION" if change["regression"] else ""
        lines.append(f"{change['claim']:<22} {where}: {change['before']} -> {change['after']}{mark}")
    count = sum(c["regression"] for c in found)
    now = " or ".join(filter(None, (", ".join(regressions[:-1]), regressions[-1])))
    lines.append(f"{len(found)} verdict change(s), {count} regression(s): held or observed, now {now}")
    return lines
