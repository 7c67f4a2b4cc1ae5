"""JUnit XML: one testcase per claim per cell, for CI systems."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from reports.matrix import cell_grid, verdict_key


def render(matrix: dict) -> str:
    grid = cell_grid(matrix)
    suites = ET.Element("testsuites", name="mmapconf")
    for column in matrix["columns"]:
        suite = ET.SubElement(suites, "testsuite", name=f"mmapconf.{column['id']}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        time = 0.0
        for claim in matrix["claims"]:
            cell = grid[(claim["id"], column["id"])]
            case = ET.SubElement(suite, "testcase", classname=f"mmapconf.{column['id']}",
                                 name=f"{claim['id']} {claim['name']}", time=f"{cell['duration_s']:.3f}")
            properties = ET.SubElement(case, "properties")
            for name, value in (("claim", claim["id"]), ("inventory", ",".join(claim["inventory"])),
                                ("verdict", verdict_key(cell)), ("as_expected", str(cell["as_expected"]).lower()),
                                ("kernel", column["kernel_release"]), ("filesystem", column["fs_type"])):
                ET.SubElement(properties, "property", name=name, value=value)
            counts["tests"] += 1
            time += cell["duration_s"]
            detail = cell.get("detail") or ""
            if cell["verdict"] == "error":
                ET.SubElement(case, "error", message=detail[:500]).text = detail
                counts["errors"] += 1
            elif not cell["as_expected"]:
                failure = ET.SubElement(case, "failure", message=f"{verdict_key(cell)}: {detail}"[:500])
                failure.text = json.dumps(cell.get("counterexample"), indent=1) if cell.get("counterexample") else detail
                counts["failures"] += 1
            elif cell["verdict"] in ("unsupported", "not run"):
                ET.SubElement(case, "skipped", message=f"{cell['verdict']}: {detail}"[:500])
                counts["skipped"] += 1
        suite.set("time", f"{time:.3f}")
        for key, value in counts.items():
            suite.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
