"""python -m reports kcidb: KCIDB v5 data of a real run and of a kernel-matrix-like matrix, checked with KernelCI's
own schema validation (kcidb-io)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from kcidb_io import schema as kcidb_schema

from harness.catalog import catalog
from kernels import run_reports, runs
from reports import kcidb
from reports.matrix import ReportError, from_run
from tests.reporting import real_run
from tests.test_kernel_matrix import failed_run, ok_report
from tests.test_reports import reports_cli

OBSERVED = "BUS-5/untouched"  # a claim with alternatives: its cell is observed on x86_64
X86, ARM = "6.12.57+deb13-amd64", "6.12.57+deb13-arm64-16k"


def valid(data: dict) -> dict:
    """``data`` as KCIDB's own validation takes it: exactly v5.0, and as the newest schema after its upgrade."""
    assert kcidb_schema.V5_0.is_compatible_exactly(data)
    kcidb_schema.V5_0.validate_exactly(data)
    kcidb_schema.LATEST.validate_exactly(kcidb_schema.LATEST.upgrade(data))
    return data


@pytest.fixture(scope="module")
def run_report(tmp_path_factory) -> Path:
    return real_run(tmp_path_factory.mktemp("run"))


def guest(release: str, arch: str, machine: str, page_size: int, byte_order: str, verdicts: dict) -> dict:
    """A guest's run report as the kernel matrix annotates it (package, version, how it ran)."""
    doc = ok_report(release, verdicts, ["tmpfs", "ext4"])
    doc["host"].update(arch=machine, page_size=page_size, byte_order=byte_order)
    for target in doc["targets"]:
        target["fs"]["mount_options"] = "rw,relatime"
    doc["run"]["kernel_matrix"] = runs.Run(release, "guest", release, arch=arch, package=f"linux-image-{release}",
                                           version="6.12.57-1", accel="tcg").info()
    return doc


@pytest.fixture
def kernel_reports(tmp_path) -> list[Path]:
    """Two kernels on two architectures (x86_64 4 KiB LE; aarch64 16 KiB), and a kernel whose guest never booted; one
    cell of each verdict on x86_64."""
    first = catalog().claims[0].id
    x86 = guest(X86, "x86_64", "x86_64", 4096, "little",
                {(first, "ext4"): "refuted", (first, "tmpfs"): "unsupported", (OBSERVED, "ext4"): "observed",
                 (OBSERVED, "tmpfs"): "error", ("SYNC-4", "tmpfs"): "not run"})
    cell = next(c for c in x86["results"] if (c["claim"], c["target"]) == (OBSERVED, "ext4"))
    cell.update(alternatives=["zeros"], alternative_examples={"zeros": {"offset": 0}})
    arm = guest(ARM, "arm64-16k", "aarch64", 16384, "little", {})
    broken = run_reports.stand_in_report(failed_run(), ["tmpfs"], "kernel-matrix")
    paths = []
    for name, doc in (("x86", x86), ("arm", arm), ("broken", broken)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(doc))
    return paths


def kcidb_of(*reports: Path, origin: str | None = None) -> dict:
    done = reports_cli("kcidb", *reports, *(["--origin", origin] if origin else []))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return valid(json.loads(done.stdout))


def test_a_plain_host_run_is_one_checkout_one_build_and_a_test_per_cell_run(run_report):
    data = kcidb_of(run_report)
    matrix = from_run(json.loads(run_report.read_text()))
    [checkout], [build] = data["checkouts"], data["builds"]
    assert build["architecture"] == os.uname().machine and build["checkout_id"] == checkout["id"]
    assert "config_name" not in build  # no kernel matrix facts: no package to name the configuration
    assert checkout["misc"]["kernel_release"] == os.uname().release
    ran = [c for c in matrix["results"] if c["verdict"] != "not run"]
    assert len(data["tests"]) == len(ran) > 0 and {t["build_id"] for t in data["tests"]} == {build["id"]}
    topics = {c["id"]: c["topic"] for c in matrix["claims"]}
    assert {t["path"] for t in data["tests"]} == {f"mmapconf.{topics[c]}.{c}" for c in ("SYNC-4", "EOF-1", "FORK-2")}


def build_of(data: dict, release: str) -> dict:
    return next(b for b in data["builds"] if b["misc"]["kernel_release"] == release)


def test_a_kernel_matrix_has_a_checkout_and_build_per_kernel_and_architecture(kernel_reports):
    data = kcidb_of(*kernel_reports)
    builds = {"x86_64": build_of(data, X86), "aarch64": build_of(data, ARM)}
    assert [b["architecture"] for b in builds.values()] == ["x86_64", "aarch64"]
    assert builds["aarch64"]["config_name"] == f"linux-image-{ARM}"
    assert len(data["builds"]) == len(data["checkouts"]) == 3  # and the kernel that never booted
    checkouts = {c["id"]: c for c in data["checkouts"]}
    for build in data["builds"]:
        checkout = checkouts[build["checkout_id"]]
        assert "git_commit_hash" not in checkout and checkout["misc"]["kernel_release"] == build["misc"]["kernel_release"]
    assert checkouts[builds["aarch64"]["checkout_id"]]["misc"]["package_version"] == "6.12.57-1"
    claims = len(catalog().claims)
    per_build = {b["id"]: sum(t["build_id"] == b["id"] for t in data["tests"]) for b in data["builds"]}
    assert per_build[builds["aarch64"]["id"]] == 2 * claims  # tmpfs and ext4
    assert per_build[builds["x86_64"]["id"]] == 2 * claims - 1  # its "not run" cell is left out


def kcidb_tests_of(data: dict, release: str) -> dict[tuple[str, str], dict]:
    build = build_of(data, release)["id"]
    return {(t["misc"]["claim"], t["environment"]["misc"]["filesystem"]): t for t in data["tests"]
            if t["build_id"] == build}


def test_each_verdict_has_its_status_and_a_run_that_gave_no_report_is_missed(kernel_reports):
    data = kcidb_of(*kernel_reports)
    tests = kcidb_tests_of(data, X86)
    first = catalog().claims[0].id
    statuses = {(claim, fs): tests[(claim, fs)]["status"] for claim, fs in
                ((first, "ext4"), (first, "tmpfs"), (OBSERVED, "ext4"), (OBSERVED, "tmpfs"), ("EOF-1", "ext4"))}
    assert statuses == {(first, "ext4"): "FAIL", (first, "tmpfs"): "SKIP", (OBSERVED, "ext4"): "DONE",
                        (OBSERVED, "tmpfs"): "ERROR", ("EOF-1", "ext4"): "PASS"}
    assert ("SYNC-4", "tmpfs") not in tests and ("SYNC-4", "ext4") in tests
    observed = tests[(OBSERVED, "ext4")]
    assert observed["misc"]["verdict"] == "observed" and observed["misc"]["alternatives"] == ["zeros"]
    assert observed["comment"].endswith("on ext4: observed: zeros")
    never_booted = [t for t in data["tests"] if t["environment"]["misc"]["kernel_release"] == "6.99.0-test-amd64"]
    assert len(never_booted) == len(catalog().claims) and {t["status"] for t in never_booted} == {"MISS"}
    assert never_booted[0]["log_excerpt"].startswith("the kernel did not reach its init in 300 s (killed)")


def test_environment_and_test_misc_say_where_and_what_was_checked(kernel_reports):
    data = kcidb_of(*kernel_reports)
    arm = kcidb_tests_of(data, ARM)[("EOF-1", "ext4")]
    environment = arm["environment"]["misc"]
    assert (environment["filesystem"], environment["mount_options"], environment["page_size"],
            environment["byte_order"], environment["run_by"], environment["accel"]) == (
        "ext4", "rw,relatime", 16384, "little", "guest", "tcg")
    assert arm["environment"]["comment"] == "aarch64, 16 KiB pages, LE; ext4 (ext4)"
    claim = next(c for c in catalog().claims if c.id == "EOF-1")
    assert arm["misc"]["statement"] == claim.statement and arm["misc"]["inventory"] == list(claim.inventory)
    assert arm["misc"]["as_expected"] is True and arm["misc"]["verdict"] == "holds"
    assert "expected" not in arm["misc"]  # no expectation: KCIDB takes no nulls


def test_ids_are_deterministic_unique_and_a_new_run_is_new_tests(kernel_reports, tmp_path):
    first, again = kcidb_of(*kernel_reports), kcidb_of(*kernel_reports)
    assert first == again  # the matrix's own "generated" time changed in between
    for kind in ("checkouts", "builds", "tests"):
        ids = [item["id"] for item in first[kind]]
        assert len(set(ids)) == len(ids) and all(i.startswith("mmapconf:") for i in ids)
    later = json.loads(kernel_reports[0].read_text())
    later["run"]["started"] = "2031-01-01T00:00:00+00:00"
    rerun = tmp_path / "rerun.json"
    rerun.write_text(json.dumps(later))
    second = kcidb_of(rerun)
    assert [b["id"] for b in second["builds"]] == [first["builds"][0]["id"]]  # the same kernel build
    assert not {t["id"] for t in second["tests"]} & {t["id"] for t in first["tests"]}
    both = kcidb_of(kernel_reports[0], rerun)  # one matrix of both runs: one build, every test distinct
    assert len(both["builds"]) == 1 and len({t["id"] for t in both["tests"]}) == len(both["tests"])


def test_every_claim_s_path_is_a_schema_path_that_gives_back_its_claim():
    paths = {}
    for claim in catalog().claims:
        path = kcidb.test_path(claim.as_dict())
        assert kcidb_schema.LATEST.path_re.fullmatch(path), path
        root, topic, *rest = path.split(".")
        assert (root, topic, "/".join(rest)) == ("mmapconf", claim.topic, claim.id)
        paths[path] = claim.id
    assert len(paths) == len(catalog().claims)


def test_kcidb_validation_rejects_what_the_mapping_avoids(run_report):
    data = kcidb_of(run_report)
    for change in (lambda d: d["tests"][0].update(path="mmapconf.bus.BUS-5/untouched"),  # a claim ID as it is
                   lambda d: d["tests"][0].update(status="HOLDS"),
                   lambda d: d["tests"][0].update(duration=None),  # KCIDB takes no nulls
                   lambda d: d["builds"][0].update(id="MMAPCONF:build")):
        broken = json.loads(json.dumps(data))
        change(broken)
        with pytest.raises(jsonschema.ValidationError):
            kcidb_schema.V5_0.validate_exactly(broken)


def test_origin_prefixes_every_id_and_a_wrong_one_is_one_line(run_report):
    data = kcidb_of(run_report, origin="my_lab")
    objects = data["checkouts"] + data["builds"] + data["tests"]
    assert {o["origin"] for o in objects} == {"my_lab"} and all(o["id"].startswith("my_lab:") for o in objects)
    assert all(t["build_id"].startswith("my_lab:") for t in data["tests"])
    done = reports_cli("kcidb", run_report, "--origin", "My-Lab")
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert "'My-Lab': a KCIDB origin is lower-case letters, digits and '_'" in done.stderr


def test_a_claim_id_no_path_can_hold_is_refused(run_report):
    matrix = from_run(json.loads(run_report.read_text()))
    next(c for c in matrix["claims"] if c["id"] == "EOF-1")["id"] = "EOF 1.a"
    for cell in matrix["results"]:
        if cell["claim"] == "EOF-1":
            cell["claim"] = "EOF 1.a"
    with pytest.raises(ReportError, match=r'^claim "EOF 1.a" \(topic "eof"\): a KCIDB test path takes letters'):
        kcidb.document(matrix)


def test_a_start_time_kcidb_cannot_take_is_one_line(run_report, tmp_path):
    report = json.loads(run_report.read_text())
    report["run"]["started"] = "2026-12-03 10:02"  # no UTC offset: not an RFC 3339 date-time
    naive = tmp_path / "naive.json"
    naive.write_text(json.dumps(report))
    done = reports_cli("kcidb", naive)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.endswith('run.started "2026-12-03 10:02" is not a time with a UTC offset'), line
