"""Each run's report, with the run's facts added (``run.kernel_matrix``), or a stand-in for a run that gave none.

Failures are cells, never gaps: a kernel that was not fetched or did not boot,
a guest that hung or crashed, a suite that wrote no report or an invalid one
(each is checked against reports/schema) become ``error``
cells that say why, with the guest's console tail; so do the claims a stopped
suite never reached. The kernel summary (reports/kernel_summary.py) reads
these facts back from the merged matrix.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from fixtures import provision
from fixtures.platform import host_identity, unprovisioned_fs_identity
from harness.catalog import catalog
from kernels.architectures import ARCHITECTURES
from kernels.command_line import Options
from kernels.initramfs import MARKER
from kernels.runs import Run
from reports import document
from reports.kernel_summary import not_provided
from reports.matrix import ReportError, read, summarise

MODULE_LINE = re.compile(rf"^{re.escape(MARKER)} module (\S+) not loaded")


def _console_note(run: Run, lines: int = 12) -> str:
    return "; guest console tail:\n" + "\n".join(run.console_tail[-lines:]) if run.console_tail else ""


def stand_in_report(run: Run, fs: list[str], profile: str) -> dict:
    """A run report for a kernel that gave none: every claim x filesystem an error cell with the reason."""
    arch = ARCHITECTURES.get(run.arch)
    guest_platform = {"arch": arch.machine, "page_size": arch.page_size, "byte_order": arch.byte_order} if arch else {}
    host = dict(host_identity(), **guest_platform, kernel_release=run.kernel_release,
                kernel_version=f"{run.package} {run.version or ''} (did not report)".strip())
    targets = [{"id": name, "directory": "", "fs": unprovisioned_fs_identity(name).as_dict()} for name in fs]
    detail = f"{run.reason}{_console_note(run)}"
    results = [document.result_cell(claim.id, name, claim.inventory, "error", detail, as_expected=False)
               for claim in catalog().claims for name in fs]
    return document.build(
        run={"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "duration_s": run.total_s or 0.0,
             "hypothesis_profile": profile, "argv": [], "exit_status": -1, "mmapconf_commit": None,
             "kernel_matrix": dict(run.info(), stand_in=True)},
        host=host, targets=targets, claims=[c.as_dict() for c in catalog().claims], results=results)


def annotate(doc: dict, run: Run) -> dict:
    """Add the run's facts to its report; say why in cells the run could not reach: a filesystem the kernel
    lacks (with the guest's module messages), claims a stopped suite never ran."""
    doc["run"]["kernel_matrix"] = run.info()
    unavailable = {t["id"] for t in doc["targets"] if not_provided(t["fs"])}
    console = run.console_log.read_text(errors="replace").splitlines() if run.console_log else run.console_tail
    module_lines = [line for line in console if MODULE_LINE.match(line)]
    for cell in doc["results"]:
        if cell["target"] in unavailable and cell["verdict"] == "unsupported":
            fs = provision.FILESYSTEMS.get(cell["target"])
            relevant = [line for line in module_lines if fs and fs.fs_type in MODULE_LINE.match(line)[1]]
            if relevant:  # why the guest's kernel lacks it
                cell["detail"] += "; guest console: " + " | ".join(relevant)
        elif cell["verdict"] == "not run" and run.status in ("suite-timeout", "timeout", "crashed"):
            cell.update(verdict="error", as_expected=False, detail=f"{run.reason}: this claim was not reached{_console_note(run, 5)}")
    doc["summary"] = summarise(doc["results"])
    return doc


def read_report(run: Run) -> dict | None:
    """The run's report, checked as python -m reports checks its inputs (a guest wrote it: it may be cut short or
    anything else); None when it is not a valid run report, the run then failed as a whole and its reason says why."""
    try:
        doc = read(run.report)
        if doc["format"] != document.FORMAT:
            raise ReportError(f"{run.report}: a {doc['format']} file, not a run report ({document.FORMAT})")
    except ReportError as error:
        invalid = f"its report is not valid: {error}"
        run.reason = f"{run.reason}; {invalid}" if run.reason else invalid
        run.status = "crashed" if run.status == "ok" else run.status
        return None
    return doc


def collect(runs: list[Run], options: Options, matrix_wall_s: float) -> list[dict]:
    """Every run's report (a stand-in full of error cells where there is none or it is invalid), annotated, with the whole matrix's
    wall-clock time; saved next to the matrix."""
    documents = []
    for run in runs:
        doc = read_report(run) if run.report is not None else None
        if doc is not None:
            doc = annotate(doc, run)
        else:
            doc = stand_in_report(run, options.filesystems(ARCHITECTURES.get(run.arch)), options.profile)
            run.report = options.out / f"{run.label.split(' ')[0]}.{run.kind}.failed.json"
        doc["run"]["kernel_matrix"]["matrix_wall_s"] = round(matrix_wall_s, 1)
        run.report.write_text(json.dumps(doc, indent=1) + "\n")
        documents.append(doc)
    return documents
