"""The conformance matrix: claims down, (kernel, filesystem target) cells across, from any number of runs.

Format ``mmapconf-matrix`` version 1 (schema: reports/schema/matrix-v1.json). A
run report (``mmapconf-report``) becomes a matrix with one column per target;
``merge`` joins matrices, so runs from any machines combine.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from reports import document, validation

FORMAT = "mmapconf-matrix"
VERSION = 1


class ReportError(Exception):
    """What stops python -m reports (an input that is not a report it reads, an output it cannot write, a diff
    with nothing to compare); the message is one line for the user."""


def load(path: Path) -> dict:
    """A matrix from a run report or a matrix file."""
    data = read(path)
    return from_run(data) if data["format"] == document.FORMAT else data


def read(path: Path) -> dict:
    """A run report or a matrix file as written, checked against its schema (ReportError: why it is not one)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise ReportError(f"{path}: {error.strerror}") from None
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep to parse
        raise ReportError(f"{path}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not an mmapconf report")
    versions = {document.FORMAT: document.VERSION, FORMAT: VERSION}
    kind, version = data.get("format"), data.get("version")
    if not isinstance(kind, str) or type(version) is not int or versions.get(kind) != version:
        raise ReportError(f"{path}: format {json.dumps(kind)} version {json.dumps(version)} is not "
                          f"{document.FORMAT} or {FORMAT} version 1")
    problem = validation.first_problem(data, f"{kind}-v{version}") or _unresolved(data)
    if problem:
        raise ReportError(f"{path}: {problem}")
    return data


def _unresolved(data: dict) -> str | None:
    """What a schema cannot say: each result cell names a claim and a target (a matrix: a column) the document
    has, and a matrix has a cell for every claim in every column."""
    claims = {c["id"] for c in data["claims"]}
    key, places = ("target", data["targets"]) if data["format"] == document.FORMAT else ("column", data["columns"])
    known = {p["id"] for p in places}
    for index, cell in enumerate(data["results"]):
        if cell["claim"] not in claims:
            return f"results[{index}].claim: {json.dumps(cell['claim'])} is not in claims"
        if cell[key] not in known:
            return f"results[{index}].{key}: {json.dumps(cell[key])} is not in {key}s"
    if key == "column":
        cells = {(c["claim"], c["column"]) for c in data["results"]}
        missing = next(((claim, column) for claim in claims for column in known if (claim, column) not in cells), None)
        if missing:
            return f"results: no cell for claim {missing[0]} in column {missing[1]}"
    return None


def platform(host: dict) -> str:
    """Architecture, page size and byte order, as columns and summaries show them: 'aarch64, 16 KiB pages, LE'."""
    size = host["page_size"]
    pages = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB" if size >= 1024 else f"{size} B"
    order = {"little": ", LE", "big": ", BE"}.get(host.get("byte_order"), "")
    return f"{host['arch']}, {pages} pages{order}"


def column_id(host: dict, target: dict) -> str:
    return f"{host['kernel_release']}/{target['fs']['type']}/{target['id']}"


def from_run(run: dict) -> dict:
    host = run["host"]
    columns, ids = [], {}
    for target in run["targets"]:
        column = {
            "id": column_id(host, target),
            "kernel_release": host["kernel_release"],
            "arch": host["arch"],
            "platform": platform(host),
            "fs_type": target["fs"]["type"],
            "target": target["id"],
            "host": host,
            "target_info": target,
            "run": run["run"],
        }
        ids[target["id"]] = column["id"]
        columns.append(column)
    results = [dict(cell, column=ids[cell["target"]]) for cell in run["results"]]
    return _matrix(run["claims"], columns, results)


def merge(matrices: list[dict]) -> dict:
    """One matrix from many; a column that appears twice (same kernel, filesystem and target) gets a #n suffix."""
    claims: dict[str, dict] = {}
    columns, results = [], []
    for matrix in matrices:
        for claim in matrix["claims"]:
            claims[claim["id"]] = claim
        renamed = {}
        taken = {c["id"] for c in columns}
        for column in matrix["columns"]:
            new_id, n = column["id"], 2
            while new_id in taken:
                new_id, n = f"{column['id']}#{n}", n + 1
            taken.add(new_id)
            renamed[column["id"]] = new_id
            columns.append(dict(column, id=new_id))
        results += [dict(cell, column=renamed[cell["column"]]) for cell in matrix["results"]]
    return _matrix(sorted(claims.values(), key=lambda c: _claim_order(c["id"])), columns, results)


def _claim_order(claim_id: str) -> tuple:
    topic, _, rest = claim_id.partition("-")
    number, _, reading = rest.partition("/")
    return topic, int(number) if number.isdigit() else 0, reading


def _matrix(claims: list[dict], columns: list[dict], results: list[dict]) -> dict:
    by_key = {(r["claim"], r["column"]): r for r in results}
    cells = []
    for claim in claims:
        for column in columns:
            cell = by_key.get((claim["id"], column["id"]))
            if cell is None:  # a claim the run's catalog did not have yet
                cell = dict(document.not_run(claim, {"id": column["target"]}), column=column["id"])
            cells.append(cell)
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "claims": claims,
        "columns": columns,
        "results": cells,
        "summary": summarise(cells),
    }


def summarise(cells: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell["verdict"]] = counts.get(cell["verdict"], 0) + 1
    return {"verdicts": counts, "unexpected": sum(1 for c in cells if not c["as_expected"])}


def cell_grid(matrix: dict) -> dict[tuple[str, str], dict]:
    return {(c["claim"], c["column"]): c for c in matrix["results"]}


def verdict_key(cell: dict) -> str:
    """What makes two cells differ: the verdict, and the alternatives for observed ones."""
    if cell["verdict"] == "observed":
        return "observed: " + ", ".join(cell["alternatives"])
    return cell["verdict"]


def rows_that_differ(matrix: dict) -> set[str]:
    """Claims whose run cells (not-run cells aside) do not all agree."""
    grid = cell_grid(matrix)
    differ = set()
    for claim in matrix["claims"]:
        keys = {verdict_key(grid[(claim["id"], col["id"])]) for col in matrix["columns"]} - {"not run"}
        if len(keys) > 1:
            differ.add(claim["id"])
    return differ
