"""A compact Markdown summary for CI step summaries and issue comments."""

from __future__ import annotations

from reports.matrix import cell_grid, platform, rows_that_differ, verdict_key

SYMBOL = {"holds": "✅", "refuted": "❌", "observed": "🔵", "unsupported": "⚪", "error": "💥", "not run": "·"}


def _cell(cell: dict) -> str:
    text = f"{SYMBOL[cell['verdict']]} {verdict_key(cell)}"
    return text + (" ⚠ unexpected" if not cell["as_expected"] else "")


def render(matrix: dict) -> str:
    grid = cell_grid(matrix)
    columns = matrix["columns"]
    summary = matrix["summary"]
    counts = ", ".join(f"{n} {v}" for v, n in sorted(summary["verdicts"].items()))
    lines = [
        "## mmapconf conformance",
        "",
        f"{len(matrix['claims'])} claims × {len(columns)} column(s): {counts}; "
        f"**{summary['unexpected']} unexpected**.",
        "",
        "| column | kernel | platform | filesystem | holds | refuted | observed | unsupported | error | not run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for column in columns:
        tally = {}
        for claim in matrix["claims"]:
            verdict = grid[(claim["id"], column["id"])]["verdict"]
            tally[verdict] = tally.get(verdict, 0) + 1
        lines.append(f"| `{column['id']}` | {column['kernel_release']} | {platform(column['host'])} | {column['fs_type']} | "
                     + " | ".join(str(tally.get(v, 0)) for v in SYMBOL) + " |")
    differ = rows_that_differ(matrix)
    notable = [c for c in matrix["claims"]
               if c["id"] in differ or any(grid[(c["id"], col["id"])]["verdict"] not in ("holds", "not run")
                                           or not grid[(c["id"], col["id"])]["as_expected"] for col in columns)]
    if notable:
        lines += ["", "### Claims that do not simply hold", "",
                  "| claim | " + " | ".join(f"`{c['id']}`" for c in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for claim in notable:
            mark = " (differs)" if claim["id"] in differ else ""
            lines.append(f"| **{claim['id']}**{mark} {claim['name']} | "
                         + " | ".join(_cell(grid[(claim["id"], col["id"])]) for col in columns) + " |")
    return "\n".join(lines) + "\n"
