"""python -m reports on a real run: schema, merge, markdown, JUnit, HTML, and diff against a doctored copy."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import referencing

from harness.results import repository_url
from reports import validation
from reports.matrix import from_run, merge
from tests.reporting import ROOT, real_run

SCHEMAS = ROOT / "reports" / "schema"


@pytest.fixture(scope="module")
def run_report(tmp_path_factory) -> Path:
    return real_run(tmp_path_factory.mktemp("run"))


def reports_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reports", *map(str, args)], cwd=ROOT, capture_output=True, text=True)


def validator(name: str) -> jsonschema.Draft202012Validator:
    schemas = {path.stem: json.loads(path.read_text()) for path in SCHEMAS.glob("*.json")}
    registry = referencing.Registry().with_resources(
        (schema["$id"], referencing.Resource.from_contents(schema)) for schema in schemas.values())
    jsonschema.Draft202012Validator.check_schema(schemas[name])
    return jsonschema.Draft202012Validator(schemas[name], registry=registry)


def test_run_report_matches_its_schema(run_report):
    validator("report-v1").validate(json.loads(run_report.read_text()))


def test_merged_matrix_matches_its_schema_and_keeps_both_runs(run_report, tmp_path):
    out = tmp_path / "matrix.json"
    done = reports_cli("merge", run_report, run_report, "-o", out)
    assert done.returncode == 0, done.stderr
    matrix = json.loads(out.read_text())
    validator("matrix-v1").validate(matrix)
    single = from_run(json.loads(run_report.read_text()))
    assert len(matrix["columns"]) == 2 * len(single["columns"])
    assert len({c["id"] for c in matrix["columns"]}) == len(matrix["columns"])
    assert len(matrix["results"]) == len(matrix["claims"]) * len(matrix["columns"])


def test_schema_rejects_a_malformed_report(run_report):
    document = json.loads(run_report.read_text())
    document["results"][0]["verdict"] = "probably"
    with pytest.raises(jsonschema.ValidationError):
        validator("report-v1").validate(document)


def test_markdown_summary(run_report):
    done = reports_cli("markdown", run_report)
    assert done.returncode == 0
    assert done.stdout.startswith("## mmapconf conformance")
    assert re.search(r"\| `[^`]+/tmpfs/shm` \|", done.stdout) or "/dev/shm" not in done.stdout


def test_junit_has_one_testcase_per_claim_per_cell(run_report):
    done = reports_cli("junit", run_report)
    root = ET.fromstring(done.stdout)
    matrix = from_run(json.loads(run_report.read_text()))
    cases = root.findall(".//testcase")
    assert len(cases) == len(matrix["claims"]) * len(matrix["columns"])
    eof1 = next(c for c in cases if c.get("name").startswith("EOF-1 "))
    properties = {p.get("name"): p.get("value") for p in eof1.findall("properties/property")}
    assert properties["claim"] == "EOF-1" and properties["inventory"] == "EOF-1" and properties["verdict"] in ("holds", "refuted")


def test_html_is_self_contained(run_report, tmp_path):
    out = tmp_path / "report.html"
    assert reports_cli("html", run_report, "-o", out).returncode == 0
    page = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page loads something from the network"
    assert "EOF-1" in page and "matrix-data" in page


def test_html_opens_with_the_run_summary(run_report, tmp_path):
    out = tmp_path / "report.html"
    assert reports_cli("html", run_report, "-o", out).returncode == 0
    page = out.read_text()
    run = json.loads(run_report.read_text())["run"]
    summary = page[page.index('<details id="summary" open>'):page.index("</details>")]
    assert page.index(summary) < page.index('<table id="matrix">')
    assert '<td class="profile">ci</td>' in summary
    assert f'<td class="argv">{html.escape(shlex.join(["pytest", *run["argv"]]))}</td>' in summary
    assert "-k &#x27;SYNC-4 or EOF-1 or FORK-2&#x27;" in summary
    assert f'<td class="commit">{run["mmapconf_commit"] or "unknown"}<div class="where">' in summary
    assert f'<td class="duration">{run["duration_s"]:.1f} s</td>' in summary


def test_report_says_where_each_claim_and_its_test_are(run_report):
    report = json.loads(run_report.read_text())
    assert report["run"]["source"]["checkout"] == str(ROOT)
    for claim in report["claims"]:  # each entry: from its [[claim]] header to the next one, its id in between
        lines = (ROOT / claim["catalog"]["file"]).read_text().splitlines()
        start = claim["catalog"]["line"] - 1
        end = next((n for n in range(start + 1, len(lines)) if lines[n] == "[[claim]]"), len(lines))
        assert lines[start] == "[[claim]]" and f'id = "{claim["id"]}"' in lines[start:end]
    ran = [cell for cell in report["results"] if cell["verdict"] != "not run"]
    assert {cell["claim"] for cell in ran} == {"SYNC-4", "EOF-1", "FORK-2"}
    for cell in ran:
        [place] = cell["test_locations"]
        assert place["file"] == cell["tests"][0].split("::")[0]
        line = (ROOT / place["file"]).read_text().splitlines()[place["line"] - 1]
        assert line == f'@pytest.mark.claim("{cell["claim"]}")'


@pytest.mark.parametrize("remote, url", [
    ("https://github.com/example/mmapconf.git", "https://github.com/example/mmapconf"),
    ("https://ci-bot:s3cret@gitlab.com/group/sub/mmapconf/", "https://gitlab.com/group/sub/mmapconf"),
    ("https://gitlab.example.org:8443/group/mmapconf", "https://gitlab.example.org:8443/group/mmapconf"),
    ("git@github.com:example/mmapconf.git", None),
    ("http://github.com/example/mmapconf", None),
    ("https://example.org/example/mmapconf", None),
    ("https://github.com/example", None),
    (None, None),
])
def test_repository_url_is_an_https_forge_address_without_credentials(tmp_path, remote, url):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    if remote:
        subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", remote], check=True)
    assert repository_url(tmp_path) == url


def test_repository_url_is_none_inside_another_projects_checkout(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", "https://github.com/other/project"], check=True)
    (tmp_path / "unpacked").mkdir()  # e.g. a bundle unpacked there
    assert repository_url(tmp_path) == "https://github.com/other/project"
    assert repository_url(tmp_path / "unpacked") is None


def doctor(run_report: Path, tmp_path: Path, claim: str, verdict: str) -> Path:
    document = json.loads(run_report.read_text())
    cell = next(c for c in document["results"] if c["claim"] == claim)
    cell["verdict"] = verdict
    copy = tmp_path / "doctored.json"
    copy.write_text(json.dumps(document))
    return copy, cell["target"]


def test_diff_reports_exactly_the_doctored_change(run_report, tmp_path):
    document = json.loads(run_report.read_text())
    assert next(c for c in document["results"] if c["claim"] == "SYNC-4")["verdict"] == "holds"
    doctored, target = doctor(run_report, tmp_path, "SYNC-4", "refuted")
    done = reports_cli("diff", run_report, doctored)
    assert done.returncode == 1
    changes = [line for line in done.stdout.splitlines() if line.startswith("SYNC-4") or re.match(r"^[A-Z]+-\d", line)]
    assert len(changes) == 1 and f"/{target}: holds -> refuted  REGRESSION" in changes[0]
    assert done.stdout.endswith("1 verdict change(s), 1 regression(s): held or observed, now refuted, error, "
                                "unsupported or not run\n")


@pytest.mark.parametrize("verdict", ["error", "unsupported", "not run"])
def test_diff_counts_a_claim_no_longer_checked_as_a_regression(run_report, tmp_path, verdict):
    doctored, target = doctor(run_report, tmp_path, "SYNC-4", verdict)
    done = reports_cli("diff", run_report, doctored)
    assert done.returncode == 1 and f"/{target}: holds -> {verdict}  REGRESSION" in done.stdout
    narrowed = reports_cli("diff", run_report, doctored, "--regressions", "refuted")
    assert narrowed.returncode == 0 and f"/{target}: holds -> {verdict}\n" in narrowed.stdout
    assert narrowed.stdout.endswith("1 verdict change(s), 0 regression(s): held or observed, now refuted\n")


def test_diff_of_identical_reports_exits_zero(run_report):
    done = reports_cli("diff", run_report, run_report)
    assert done.returncode == 0 and done.stdout.endswith("0 verdict change(s), 0 regression(s): held or observed, "
                                                         "now refuted, error, unsupported or not run\n")


def test_diff_refuses_an_unknown_regression_verdict(run_report):
    done = reports_cli("diff", run_report, run_report, "--regressions", "refuted,passed")
    assert done.returncode == 2 and "'passed': the verdicts are refuted, error, unsupported, not run" in done.stderr


def test_diff_that_compares_no_column_fails(run_report, tmp_path):
    other = json.loads(run_report.read_text())
    for target in other["targets"]:
        target["fs"]["type"] = "ext9"  # no column shares an ID, a target and filesystem type
    copy = tmp_path / "other.json"
    copy.write_text(json.dumps(other))
    done = reports_cli("diff", run_report, copy)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"python -m reports: diff: no column of {run_report} pairs with one of {copy} ")
    assert len(done.stderr.splitlines()) == 1


def test_diff_pairs_columns_across_kernels(run_report):
    base = from_run(json.loads(run_report.read_text()))
    other_kernel = json.loads(run_report.read_text())
    other_kernel["host"]["kernel_release"] = "6.1.0-99-amd64"
    new = from_run(other_kernel)
    from reports.diff import pair_columns
    pairs = pair_columns(base, new)
    assert len(pairs) == len(base["columns"]) and all(a["target"] == b["target"] for a, b in pairs)
    assert merge([base, new])["columns"][-1]["kernel_release"] == "6.1.0-99-amd64"


def test_kernel_summary_of_plain_runs_shows_where_their_kernels_differ(run_report, tmp_path):
    other = json.loads(run_report.read_text())
    other["host"]["kernel_release"] = "6.1.0-99-amd64"
    next(c for c in other["results"] if c["claim"] == "SYNC-4")["verdict"] = "refuted"
    copy = tmp_path / "other.json"
    copy.write_text(json.dumps(other))
    done = reports_cli("kernels", run_report, copy)
    assert done.returncode == 0, done.stderr
    release = json.loads(run_report.read_text())["host"]["kernel_release"]
    assert done.stdout.startswith("kernel matrix: 2 kernel(s) x ")
    platform = f"{os.uname().machine}, {os.sysconf('SC_PAGE_SIZE') >> 10} KiB pages, {'LE' if sys.byteorder == 'little' else 'BE'}"
    # not run by the kernel matrix: how unknown
    assert re.search(rf"^{re.escape(release)} +{re.escape(platform)} +- +- ", done.stdout, re.M)
    assert ">> SYNC-4 " in done.stdout
    assert reports_cli("kernels", "--markdown", run_report, copy).stdout.startswith("# mmapconf kernel matrix")


def test_bad_input_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    for args in (("html", tmp_path / "missing.json"), ("markdown", bad), ("diff", bad, bad)):
        done = reports_cli(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_pytest_writes_html_directly(tmp_path):
    page = tmp_path / "page.html"
    real_run(tmp_path, f"--report-html={page}")
    assert "matrix-data" in page.read_text()


# Every input is checked against its schema first: one line naming the file and what is wrong, exit 2.

def mutated(document: dict, change) -> dict:
    copy = json.loads(json.dumps(document))
    change(copy)
    return copy


def first_cell_of(document: dict, claim: str) -> dict:
    return next(c for c in document["results"] if c["claim"] == claim)


BAD_REPORTS = {
    "only-a-header": (lambda d: [d.pop(k) for k in ("run", "host", "targets", "claims", "results", "summary")],
                      "missing run, host, targets, claims, results, summary"),
    "verdict-passed": (lambda d: first_cell_of(d, "SYNC-4").update(verdict="passed"),
                       '"passed" is not one of "holds", "refuted", "observed", "unsupported", "error", "not run"'),
    "page-size-a-string": (lambda d: d["host"].update(page_size="4096"), "host.page_size: string, not integer"),
    "unknown-field": (lambda d: d.update(colour="red"), 'unknown field "colour"'),
    "negative-examples": (lambda d: first_cell_of(d, "SYNC-4").update(examples=-1), "is below the minimum 0"),
    "cell-of-no-target": (lambda d: first_cell_of(d, "SYNC-4").update(target="nowhere"), '"nowhere" is not in targets'),
    "cell-of-no-claim": (lambda d: first_cell_of(d, "SYNC-4").update(claim="NOPE-1"), '"NOPE-1" is not in claims'),
}


@pytest.mark.parametrize("command", ["merge", "html", "markdown", "junit", "kcidb", "kernels", "diff"])
@pytest.mark.parametrize("name", BAD_REPORTS)
def test_every_subcommand_refuses_a_bad_report_in_one_line(run_report, tmp_path, command, name):
    change, problem = BAD_REPORTS[name]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(mutated(json.loads(run_report.read_text()), change)))
    done = reports_cli(command, *((run_report, bad) if command == "diff" else (bad,)))
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"python -m reports: {bad}: ") and line.endswith(problem), line


def test_a_matrix_lacking_a_cell_is_refused(run_report, tmp_path):
    matrix = tmp_path / "matrix.json"
    assert reports_cli("merge", run_report, "-o", matrix).returncode == 0
    holey = json.loads(matrix.read_text())
    gone = holey["results"].pop(0)
    matrix.write_text(json.dumps(holey))
    done = reports_cli("diff", matrix, matrix)
    assert done.returncode == 2
    assert done.stderr == (f"python -m reports: {matrix}: results: no cell for claim {gone['claim']} "
                           f"in column {gone['column']}\n")


def test_validation_agrees_with_jsonschema(run_report):
    report = json.loads(run_report.read_text())
    matrix = merge([from_run(report), from_run(report)])
    cases = [("report-v1", report), ("matrix-v1", matrix)]
    cases += [("report-v1", mutated(report, change)) for change, _ in BAD_REPORTS.values()
              if change not in (BAD_REPORTS["cell-of-no-target"][0], BAD_REPORTS["cell-of-no-claim"][0])]
    cases += [
        ("report-v1", mutated(report, lambda d: d.update(version=True))),  # true is not 1
        ("report-v1", mutated(report, lambda d: d["run"].update(mmapconf_commit=None))),
        ("report-v1", mutated(report, lambda d: d["run"].update(mmapconf_commit=5))),
        ("report-v1", mutated(report, lambda d: d["host"]["packages"].update(pytest=3))),
        ("report-v1", mutated(report, lambda d: first_cell_of(d, "SYNC-4").update(counterexample={"parameters": 1}))),
        ("report-v1", mutated(report, lambda d: first_cell_of(d, "SYNC-4").update(duration_s=1.5))),
        ("report-v1", mutated(report, lambda d: d["claims"][0].update(kind="folklore"))),
        ("report-v1", mutated(report, lambda d: d["claims"][0]["catalog"].pop("line"))),
        ("report-v1", mutated(report, lambda d: first_cell_of(d, "SYNC-4")["test_locations"][0].update(line=0))),
        ("report-v1", mutated(report, lambda d: d["run"]["source"].update(repository=5))),
        ("matrix-v1", mutated(matrix, lambda d: d["results"][0].pop("column"))),
        ("matrix-v1", mutated(matrix, lambda d: d["columns"][0]["host"].pop("arch"))),
        ("matrix-v1", mutated(matrix, lambda d: d["columns"][0]["run"].update(kernel_matrix={"kind": "vm", "status": "ok"}))),
    ]
    for name, document in cases:
        assert (validation.first_problem(document, f"mmapconf-{name}") is None) == validator(name).is_valid(document), \
            validation.first_problem(document, f"mmapconf-{name}")
    assert sum(validator(name).is_valid(document) for name, document in cases) == 4


def test_validation_refuses_a_schema_keyword_it_does_not_check(tmp_path, monkeypatch):
    (tmp_path / "x-v1.json").write_text(json.dumps({"$id": "x-v1", "type": "string", "pattern": "^a"}))
    monkeypatch.setattr(validation, "SCHEMA_DIR", tmp_path)
    validation.schemas.cache_clear()
    try:
        with pytest.raises(ValueError, match="uses JSON Schema keyword\\(s\\) pattern"):
            validation.schemas()
    finally:
        validation.schemas.cache_clear()
