"""Each machine's report with the lab's facts (``run.lab``), or a stand-in for a machine that gave none.

A target's id gets the machine's name in front (``board:test``), so each machine has its own columns even where two
run the same kernel and test directories of the same name; ``python -m reports diff`` then pairs a machine's
columns with the same machine's in another lab run. A machine that answered the probe but gave no report (no
python3, no packages for it in the bundle, a suite that failed) is a column of error cells saying why, with the
platform the probe found; one that could not be reached has no column (nothing is known of its platform) and is
a line of the summary.
"""

from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath

from fixtures.platform import CAP_SYS_ADMIN, unprovisioned_fs_identity
from harness.catalog import catalog
from lab.command_line import Machine
from lab.ssh import Outcome, Probe
from reports import document
from reports.matrix import summarise


def facts(machine: Machine, status: str, reason: str, total_s: float, stand_in: bool = False) -> dict:
    """The run's section of its report, ``run.lab``."""
    return {"machine": machine.label, "destination": machine.destination, "directory": machine.directory,
            "status": status, "reason": reason, "total_s": round(total_s, 1), "stand_in": stand_in}


def target_id(machine: Machine, suite_id: str) -> str:
    return f"{machine.label}:{suite_id}"


def annotate(doc: dict, machine: Machine, outcome: Outcome) -> dict:
    """Add the lab's facts; the machine's name in each target id; a stopped suite's unreached claims are errors."""
    doc["run"]["lab"] = facts(machine, outcome.status, outcome.reason, outcome.total_s)
    ids = {target["id"]: target_id(machine, target["id"]) for target in doc["targets"]}
    for target in doc["targets"]:
        target["id"] = ids[target["id"]]
    for cell in doc["results"]:
        cell["target"] = ids[cell["target"]]
        if cell["verdict"] == "not run" and outcome.status == "timeout":
            cell.update(verdict="error", as_expected=False, detail=f"{outcome.reason}: this claim was not reached")
    doc["summary"] = summarise(doc["results"])
    return doc


def stand_in_report(machine: Machine, probe: Probe, status: str, reason: str, profile: str, total_s: float) -> dict:
    """A run report for a machine that gave none: every claim an error cell with the reason, on the platform the
    probe found (the target's filesystem was not measured: ``unknown``)."""
    host = {"os": probe.os, "kernel_release": probe.release, "kernel_version": probe.version, "arch": probe.arch,
            "page_size": probe.page_size, "libc": None,
            "python": f"CPython {probe.python}" if probe.python else "none", "packages": {}, "euid": probe.euid,
            "capabilities": f"0x{probe.capabilities:x}", "cap_sys_admin": bool(probe.capabilities >> CAP_SYS_ADMIN & 1)}
    fs = dict(unprovisioned_fs_identity("unknown").as_dict(), page_size=probe.page_size)
    target = {"id": target_id(machine, PurePosixPath(machine.directory).name or "root"),
              "directory": machine.directory, "fs": fs}
    results = [document.result_cell(claim.id, target["id"], claim.inventory, "error", reason, as_expected=False)
               for claim in catalog().claims]
    return document.build(
        run={"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "duration_s": 0.0,
             "hypothesis_profile": profile, "argv": [], "exit_status": -1, "mmapconf_commit": None,
             "lab": facts(machine, status, reason, total_s, stand_in=True)},
        host=host, targets=[target], claims=[c.as_dict() for c in catalog().claims], results=results)
