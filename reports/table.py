"""The verdict table printed at the end of a run: claims down, targets across."""

from __future__ import annotations

from reports.matrix import platform, verdict_key


def cell_text(cell: dict) -> str:
    verdict = cell["verdict"]
    if verdict == "observed":
        text = "observed: " + ", ".join(cell["alternatives"])
    elif verdict == "refuted":
        text = "refuted (expected)" if cell["as_expected"] else "REFUTED"
    elif verdict == "error":
        text = "ERROR"
    else:
        text = verdict
    if not cell["as_expected"] and verdict not in ("refuted", "error"):
        text += " (UNEXPECTED)"
    return text


def render(document: dict) -> list[str]:
    host = document["host"]
    targets = document["targets"]
    cells = {(c["claim"], c["target"]): c for c in document["results"]}
    header = ["claim", "kind"] + [t["id"] if t["fs"]["type"].split("/")[0] in t["id"] else f"{t['id']} ({t['fs']['type']})"
                                  for t in targets]
    rows, idle = [], []
    for claim in document["claims"]:
        row_cells = [cells[(claim["id"], t["id"])] for t in targets]
        if all(c["verdict"] == "not run" for c in row_cells):
            idle.append(claim["id"])
            continue
        verdicts = {verdict_key(c) for c in row_cells} - {"not run"}
        rows.append([claim["id"] + (" ≠" if len(verdicts) > 1 else ""), claim["kind"]] + [cell_text(c) for c in row_cells])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = [
        f"{host['os']} {host['kernel_release']} {platform(host)}, "
        f"{host['libc']}, {host['python']}, euid {host['euid']}",
    ]
    for target in targets:
        fs = target["fs"]
        lines.append(f"  {target['id']}: {target['directory']} — {fs['type']} on {fs['mount_point']} "
                     f"({fs['mount_options']}), block size {fs['block_size']}")
    lines.append("")
    for row in [header] + rows:
        lines.append("  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip())
    if any(row[0].endswith(" ≠") for row in rows):
        lines.append("≠: the verdict differs between targets")
    if idle:
        lines.append(f"not run on any target ({len(idle)}): {', '.join(idle)}")
    summary = document["summary"]
    counts = ", ".join(f"{n} {v}" for v, n in sorted(summary["verdicts"].items()))
    lines.append(f"cells: {counts}; unexpected: {summary['unexpected']}")
    return lines
