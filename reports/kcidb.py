"""KCIDB (KernelCI's common results database) I/O data, schema v5.0: a checkout and a build per kernel and
architecture, a test per claim per column (kernel x filesystem target) with the path mmapconf.<topic>.<claim>.

IDs are made from the matrix alone, so the same matrix gives the same IDs: KCIDB keeps one object per ID, and a
resubmission updates it. A test's ID names its run's start time and its column, so a new run is new tests.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from reports.kernel_summary import kernel_matrix_facts, stand_in_column
from reports.matrix import ReportError, cell_grid, platform, verdict_key

DEFAULT_ORIGIN = "mmapconf"
ORIGIN = re.compile(r"[a-z0-9_]+")  # the schema's origin pattern
SCHEMA_VERSION = {"major": 5, "minor": 0}  # the lowest v5 that has every field used here
PATH_COMPONENT = re.compile(r"[a-zA-Z0-9_-]+")  # what the schema allows between a test path's dots
ARCHITECTURE = re.compile(r"[a-z0-9_]*")
LOG_EXCERPT_MAX = 16384  # the schema's maxLength

# The verdict's KCIDB status; "not run" cells are left out (see README, "KernelCI (KCIDB)").
STATUS = {"holds": "PASS", "refuted": "FAIL", "observed": "DONE", "unsupported": "SKIP", "error": "ERROR"}
STAND_IN_STATUS = "MISS"  # every cell of a run that gave no report: the harness failed, no test ran


def test_path(claim: dict) -> str:
    """mmapconf.<topic>.<claim ID, its '/' a '.'>: BUS-5/untouched -> mmapconf.bus.BUS-5.untouched; the claim ID
    is the components after the topic joined by '/'."""
    components = [claim["topic"], *claim["id"].split("/")]
    if not all(PATH_COMPONENT.fullmatch(c) for c in components):
        raise ReportError(f"claim {json.dumps(claim['id'])} (topic {json.dumps(claim['topic'])}): a KCIDB test path "
                          f"takes letters, digits, '-' and '_' (the claim ID's '/' becomes a '.')")
    return ".".join(["mmapconf", *components])


def _kernel(column: dict) -> str:
    """What names a kernel build: its release, architecture and (installed by the kernel matrix) package version."""
    version = kernel_matrix_facts(column).get("version")
    if not ARCHITECTURE.fullmatch(column["arch"]):
        raise ReportError(f"column {column['id']}: architecture {json.dumps(column['arch'])} is not one KCIDB "
                          f"takes (lower-case letters, digits, '_')")
    return "/".join([column["kernel_release"], column["arch"], *([version] if version else [])])


def _started(column: dict) -> str:
    """The run's start, as RFC 3339 (KCIDB's date-time)."""
    text = column["run"]["started"]
    try:
        started = dt.datetime.fromisoformat(text)
    except ValueError:
        started = None
    if started is None or started.tzinfo is None:
        raise ReportError(f"column {column['id']}: run.started {json.dumps(text)} is not a time with a UTC offset")
    return started.isoformat()


def _present(fields: dict) -> dict:
    """KCIDB has no null properties: a fact the matrix lacks is left out."""
    return {name: value for name, value in fields.items() if value is not None and value != ""}


def _checkout(origin: str, key: str, column: dict) -> dict:
    facts = kernel_matrix_facts(column)
    package = " ".join(filter(None, (facts.get("package"), facts.get("version"))))
    return _present({
        "id": f"{origin}:checkout:{key}",
        "origin": origin,
        "comment": f"Linux {column['kernel_release']}" + (f" (package {package})" if package else ""),
        "valid": True,  # the kernel was built from it: it ran, or its package was published
        # A packaged or running kernel has no git commit here: what names its source goes in misc.
        "misc": _present({"kernel_release": column["kernel_release"],
                          "kernel_upstream": column["host"].get("kernel_upstream"),
                          "package": facts.get("package"), "package_version": facts.get("version")}),
    })


def _build(origin: str, key: str, column: dict) -> dict:
    facts = kernel_matrix_facts(column)
    return _present({
        "id": f"{origin}:build:{key}",
        "checkout_id": f"{origin}:checkout:{key}",
        "origin": origin,
        "architecture": column["arch"],
        "config_name": facts.get("package"),  # a Debian flavour's package is its configuration
        "comment": f"Linux {column['kernel_release']} for {column['arch']}",
        "status": "PASS",  # not built here: a published package or a running kernel
        "misc": _present({"kernel_release": column["kernel_release"], "package": facts.get("package"),
                          "package_version": facts.get("version")}),
    })


def _environment(column: dict) -> dict:
    host, fs, facts = column["host"], column["target_info"]["fs"], kernel_matrix_facts(column)
    return {
        "comment": f"{column.get('platform') or platform(host)}; {column['fs_type']} ({column['target']})",
        "misc": _present({
            "filesystem": column["fs_type"], "target": column["target"], "mount_type": fs.get("mount_type"),
            "mount_options": fs.get("mount_options"), "super_options": fs.get("super_options"),
            "block_size": fs.get("block_size"), "read_only": fs["read_only"],
            "arch": host["arch"], "page_size": host["page_size"], "byte_order": host.get("byte_order"),
            "kernel_release": host["kernel_release"], "kernel_version": host["kernel_version"],
            "run_by": facts.get("kind"), "accel": facts.get("accel"),
        }),
    }


def _test(origin: str, build_id: str, column: dict, claim: dict, cell: dict, stand_in: bool) -> dict:
    run = column["run"]
    started = _started(column)
    detail = (cell.get("detail") or "").replace("\0", "\\0")[:LOG_EXCERPT_MAX]
    return _present({
        "id": f"{origin}:test:{started}:{column['id']}:{claim['id']}",
        "build_id": build_id,
        "origin": origin,
        "path": test_path(claim),
        "status": STAND_IN_STATUS if stand_in else STATUS[cell["verdict"]],
        "comment": f"{claim['id']} {claim['name']} on {column['fs_type']}: {verdict_key(cell)}",
        "start_time": started,  # the run's: the matrix keeps no start time per claim
        "duration": cell["duration_s"],
        "log_excerpt": detail,
        "environment": _environment(column),
        "misc": _present({
            "claim": claim["id"], "statement": claim["statement"], "kind": claim["kind"],
            "inventory": claim["inventory"], "verdict": cell["verdict"],
            "alternatives": cell["alternatives"] or None,  # what an observed claim found
            "expected": cell.get("expected"), "as_expected": cell["as_expected"],
            "counterexample": cell.get("counterexample"), "examples": cell["examples"],
            "hypothesis_profile": run["hypothesis_profile"], "mmapconf_commit": run.get("mmapconf_commit"),
        }),
    })


def document(matrix: dict, origin: str = DEFAULT_ORIGIN) -> dict:
    """The KCIDB data of a matrix."""
    grid = cell_grid(matrix)
    checkouts, builds, tests = {}, {}, []
    for column in matrix["columns"]:
        key = _kernel(column)
        if key not in builds:
            checkouts[key] = _checkout(origin, key, column)
            builds[key] = _build(origin, key, column)
        stand_in = stand_in_column(matrix, column["id"])
        for claim in matrix["claims"]:
            cell = grid[(claim["id"], column["id"])]
            if cell["verdict"] != "not run":
                tests.append(_test(origin, builds[key]["id"], column, claim, cell, stand_in))
    return {"version": SCHEMA_VERSION, "checkouts": list(checkouts.values()), "builds": list(builds.values()),
            "tests": tests}


def render(matrix: dict, origin: str = DEFAULT_ORIGIN) -> str:
    return json.dumps(document(matrix, origin), indent=1) + "\n"
