"""The run report: every catalog claim × every target, with the platform's identity.

Format ``mmapconf-report`` version 1 (documented in README.md, "Report format").
"""

from __future__ import annotations

FORMAT = "mmapconf-report"
VERSION = 1

# When several tests check one claim on one target, the cell shows the most telling verdict.
_PRECEDENCE = ("error", "refuted", "observed", "holds", "unsupported")


def result_cell(claim: str, target: str, inventory: list[str], verdict: str, detail: str, *, as_expected: bool,
                alternative_examples: dict | None = None, counterexample: dict | None = None, examples: int = 0,
                duration_s: float = 0.0, expected: dict | None = None, tests: list[str] | None = None,
                test_locations: list[dict] | None = None, replay: str | None = None) -> dict:
    """One result cell (README, "Report format"): what one test, or every test of a claim, found on one target.
    ``alternative_examples``: an example per alternative observed (its keys are the cell's ``alternatives``);
    ``test_locations``: where the tests' functions are ({file, line}, the file from the checkout's root);
    ``replay``: the command that runs the claim on the target again, from the checkout (harness/replay.py)."""
    return {
        "claim": claim,
        "target": target,
        "inventory": list(inventory),
        "verdict": verdict,
        "detail": detail,
        "alternatives": sorted(alternative_examples or {}),
        "alternative_examples": alternative_examples or {},
        "counterexample": counterexample,
        "examples": examples,
        "duration_s": duration_s,
        "expected": expected,
        "as_expected": as_expected,
        "tests": list(tests or []),
        "test_locations": list(test_locations or []),
        "replay": replay,
    }


def combine(results: list[dict]) -> dict:
    """One cell from the results of every test of a claim on a target."""
    ordered = sorted(results, key=lambda r: _PRECEDENCE.index(r["verdict"]))
    cell = dict(ordered[0])
    cell["alternatives"] = sorted({a for r in results for a in r["alternatives"]})
    cell["examples"] = sum(r["examples"] for r in results)
    cell["duration_s"] = round(sum(r["duration_s"] for r in results), 3)
    cell["as_expected"] = all(r["as_expected"] for r in results)
    cell["tests"] = sorted(t for r in results for t in r["tests"])
    places = {(place["file"], place["line"]) for r in results for place in r["test_locations"]}
    cell["test_locations"] = [{"file": file, "line": line} for file, line in sorted(places)]
    return cell


def not_run(claim: dict, target: dict) -> dict:
    return result_cell(claim["id"], target["id"], claim["inventory"], "not run",
                       "no test of this claim ran on this target (none selected, or none written yet)", as_expected=True)


def build(*, run: dict, host: dict, targets: list[dict], claims: list[dict], results: list[dict]) -> dict:
    """The report document; ``results`` are per-test records (claim, target, verdict, ...)."""
    by_cell: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        by_cell.setdefault((result["claim"], result["target"]), []).append(result)
    cells = []
    for claim in claims:
        for target in targets:
            found = by_cell.get((claim["id"], target["id"]))
            cells.append(combine(found) if found else not_run(claim, target))
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell["verdict"]] = counts.get(cell["verdict"], 0) + 1
    return {
        "format": FORMAT,
        "version": VERSION,
        "run": run,
        "host": host,
        "targets": targets,
        "claims": claims,
        "results": cells,
        "summary": {
            "verdicts": counts,
            "unexpected": sum(1 for c in cells if not c["as_expected"]),
        },
    }
