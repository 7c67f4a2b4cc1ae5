"""The kernel matrix as cells (kernels/cells.py): the plan, one cell's run, and the cells' reports merged into the
matrix a monolithic run gives."""

from __future__ import annotations

import json
import math
import random
import re
import zlib

import pytest

from harness.catalog import catalog
from kernels import cells, packages, runner, runs
from kernels.command_line import parse
from reports import kernel_summary
from reports.__main__ import main as reports_main
from reports.matrix import verdict_key
from tests.test_kernel_matrix import ok_report

KERNEL_VERDICTS = ("holds",) * 6 + ("refuted", "observed", "unsupported")


def plan_of(*args: str) -> list[cells.Cell]:
    options = parse(list(args))
    return cells.plan(options, cells.load_timings(options))


def test_the_default_plan_is_the_host_then_each_kernel_each_filesystem_once_in_ids_that_sort_in_plan_order():
    options = parse([])
    planned = plan_of()
    assert [c.id for c in planned] == sorted(c.id for c in planned)
    assert planned[0].kind == "host" and {c.kernel for c in planned[1:]} == {"6.1", "6.12"}
    runs_in_plan = [(c.arch, c.kernel) for c in planned]
    assert runs_in_plan == sorted(runs_in_plan, key=runs_in_plan.index)  # a run's cells follow each other
    for arch, kernel in dict.fromkeys(runs_in_plan):
        spread = [fs for c in planned if (c.arch, c.kernel) == (arch, kernel) for fs in c.filesystems]
        assert spread == options.filesystems(None)  # in order, each once
    budget = options.cell_minutes * 60
    assert all(c.expected_s <= budget or len(c.filesystems) == 1 for c in planned)


def test_a_run_s_cells_are_contiguous_and_a_smaller_budget_gives_more_cells_of_the_same_filesystems():
    coarse, fine = plan_of("--fs", "tmpfs,ext4,xfs,vfat"), plan_of("--fs", "tmpfs,ext4,xfs,vfat", "--cell-minutes", "0.1")
    assert len(coarse) == 3 and len(fine) == 12
    assert [c.id for c in fine[:5]] == ["01-host-1of4", "02-host-2of4", "03-host-3of4", "04-host-4of4", "05-x86_64-6.1-1of4"]
    for planned in (coarse, fine):
        order = [(c.arch, c.kernel) for c in planned]
        assert order == sorted(order, key=order.index)  # a run's cells follow each other
        assert [fs for c in planned if c.kernel == "6.12" for fs in c.filesystems] == ["tmpfs", "ext4", "xfs", "vfat"]


@pytest.mark.parametrize("timeout, limit", [("7200", 600.0), ("300", 300.0)])
def test_a_cell_s_suite_stops_before_its_ci_job_would_be_stopped(timeout, limit):
    options = parse(["--fs", "tmpfs", "--timeout", timeout])
    host = cells.plan(options, cells.Timings(options.profile))[0]
    assert host.expected_s * 2 < 600  # a small cell: the 10-minute floor applies
    assert cells.narrowed(options, host).timeout == limit < cells.job_minutes(host) * 60


def test_no_guests_plans_the_host_s_run_alone():
    assert [(c.id, c.kind, c.filesystems) for c in plan_of("--no-guests", "--fs", "tmpfs,ext4", "--cell-minutes", "0.1")] == [
        ("1-host-1of2", "host", ("tmpfs",)), ("2-host-2of2", "host", ("ext4",))]


def test_a_guest_costs_more_than_the_host_and_s390x_most():
    host, x86, s390x = (plan_of("--fs", "ext4", *extra)[0] for extra in (
        (), ("--no-host", "--kernel", "6.12"), ("--no-host", "--arch", "s390x", "--kernel", "6.1")))
    assert host.expected_s < x86.expected_s < s390x.expected_s


def test_plan_json_is_the_cells_for_a_ci_matrix_and_fetches_nothing(monkeypatch, capsys):
    monkeypatch.setattr(packages, "resolve", lambda *a: pytest.fail("a plan must not look up kernels"))
    monkeypatch.setattr(packages, "ensure_host_tools", lambda *a, **k: pytest.fail("a plan must not install tools"))
    assert runner.main(["--arch", "x86_64,arm64-16k", "--fs", "tmpfs,ext4", "--plan", "json"]) == runner.EXIT_OK
    plan = json.loads(capsys.readouterr().out)
    assert plan["format"] == "mmapconf-plan" and plan["version"] == 1
    assert [c["id"] for c in plan["cells"]] == ["1-host", "2-x86_64-6.1", "3-x86_64-6.12", "4-arm64-16k-6.12"]
    assert plan["cells"][3] == {"id": "4-arm64-16k-6.12", "kind": "guest", "arch": "arm64-16k", "kernel": "6.12",
                                "filesystems": ["tmpfs", "ext4"], "profile": "kernel-matrix",
                                "expected_s": plan["cells"][3]["expected_s"],
                                "job_minutes": plan["cells"][3]["job_minutes"]}
    assert all(c["job_minutes"] == math.ceil(max(c["expected_s"] * 2, 600) / 60) + 30 for c in plan["cells"])
    assert plan["expected_s"] == sum(c["expected_s"] for c in plan["cells"])
    assert runner.main(["--fs", "tmpfs", "--plan"]) == runner.EXIT_OK
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["cell", "kernel", "expected", "filesystems"] and table[1].startswith("1-host ")
    assert table[-1].startswith("3 cell(s), profile kernel-matrix, ")


@pytest.mark.parametrize("args, message", [
    (["--cell", "9-nowhere"], "--cell 9-nowhere: no such cell in this plan (the same options give: 1-host, 2-x86_64-6.1, "
                              "3-x86_64-6.12)"),
    (["--cell", "1-host", "--plan"], "argument --plan: not allowed with argument --cell"),
    (["--cell-minutes", "0"], "argument --cell-minutes: must be positive: '0'"),
    (["--no-host", "--no-guests"], "--no-host with --no-guests leaves nothing to run"),
])
def test_a_wrong_cell_option_is_one_line(args, message, capsys):
    assert runner.main(["--fs", "tmpfs"] + args) == runner.EXIT_USAGE
    assert capsys.readouterr().err == f"python -m kernels: {message}\n"


def test_expected_times_come_from_a_previous_matrix_where_it_has_them(tmp_path, capsys):
    previous = ok_report("6.12.9-amd64", {}, ["tmpfs", "ext4"])
    for cell in previous["results"]:
        cell["duration_s"] = 2.0 if cell["target"] == "tmpfs" else 5.0
    previous["run"].update(duration_s=len(catalog().claims) * 7.0 + 30.0, hypothesis_profile="kernel-matrix")
    previous["run"]["kernel_matrix"] = runs.Run("6.12.9-amd64", "guest", "6.12.9-amd64", arch="x86_64").info()
    (tmp_path / "previous.json").write_text(json.dumps(previous))
    claims = len(catalog().claims)
    guest = plan_of("--no-host", "--kernel", "6.12", "--fs", "tmpfs,ext4,xfs", "--timings", str(tmp_path / "previous.json"))[0]
    x86_64 = parse([]).architectures[0]
    modelled_xfs = cells.Timings("kernel-matrix").filesystem(x86_64, "xfs")
    assert guest.expected_s == round(30.0 + cells.GUEST_BOOT_S["x86_64"] + claims * (2.0 + 5.0) + modelled_xfs)
    # another profile's times do not apply
    smoke = plan_of("--no-host", "--kernel", "6.12", "--fs", "tmpfs", "--profile", "kernel-smoke", "--timings", str(tmp_path / "previous.json"))[0]
    assert smoke.expected_s == plan_of("--no-host", "--kernel", "6.12", "--fs", "tmpfs", "--profile", "kernel-smoke")[0].expected_s
    (tmp_path / "broken.json").write_text("{")
    assert runner.main(["--plan", "--timings", str(tmp_path / "broken.json")]) == runner.EXIT_USAGE
    assert capsys.readouterr().err.startswith(f"python -m kernels: --timings {tmp_path / 'broken.json'}: not JSON")


# --- cells merged = one monolithic run ---------------------------------------------------------------

def _verdicts(release: str, filesystems: list[str]) -> dict[tuple[str, str], str]:
    """What a kernel 'finds': a fixed function of kernel, filesystem and claim, so that any run of the same cell
    finds the same."""
    return {(claim.id, fs): KERNEL_VERDICTS[zlib.crc32(f"{release}/{fs}/{claim.id}".encode()) % len(KERNEL_VERDICTS)]
            for claim in catalog().claims for fs in filesystems}


@pytest.fixture
def simulated_runs(monkeypatch):
    """main() with each run replaced by one that reports at once: verdicts a function of kernel, filesystem and
    claim (6.1 on x86_64 never boots), times random, as real runs' are."""
    monkeypatch.setattr(packages, "resolve", lambda spec, arch, cache: spec)
    monkeypatch.setattr(packages, "ensure_host_tools", lambda architectures, say: None)
    monkeypatch.setattr(runs, "prepare_guest", lambda arch, spec, options, ledger, progress: runs.Prepared(
        runs.Run(f"{spec}.0-1-{arch.debian}", "guest", f"{spec}.0-1-{arch.debian}", arch=arch.name, accel="tcg"), arch))

    def finish(run: runs.Run, options, arch) -> runs.Run:
        run.boot_s, run.total_s = round(random.uniform(5, 20), 1), round(random.uniform(60, 600), 1)
        if run.label.startswith("6.1.0-1-amd64"):
            run.status, run.reason, run.console_tail = "no-boot", "the kernel did not reach its init in 300 s", ["panic"]
            return run
        filesystems = options.filesystems(arch)
        doc = ok_report(run.kernel_release, _verdicts(run.kernel_release, filesystems), filesystems)
        doc["run"].update(duration_s=round(random.uniform(30, 900), 1), started=f"2026-12-03T10:{random.randrange(60):02d}:00+00:00")
        for cell in doc["results"]:
            cell["duration_s"] = round(random.uniform(0.1, 9), 2)
        run.report = options.out / f"{run.label}.json"
        run.report.write_text(json.dumps(doc))
        return run

    monkeypatch.setattr(runs, "boot_guest", lambda prepared, options, ledger, progress: finish(prepared.run, options, prepared.arch))
    monkeypatch.setattr(runs, "run_host", lambda options, ledger, progress: finish(runs.Run("host (host)", "host", "host"), options, None))


def _timeless(text: str) -> str:
    return re.sub(r" +(\d+(\.\d+)? (s|min)|-)(?= )", " T", text)


@pytest.mark.parametrize("budget", ["60", "0.1"])
def test_every_cell_run_alone_and_merged_gives_the_monolithic_matrix_and_summary(simulated_runs, tmp_path, capsys, budget):
    options = ["--arch", "x86_64,arm64-16k", "--fs", "tmpfs,ext4,vfat", "--cache", str(tmp_path / "cache"), "--cell-minutes", budget]
    assert runner.main(options + ["--out", str(tmp_path / "whole")]) == runner.EXIT_RUN_FAILED
    capsys.readouterr()
    assert runner.main(options + ["--plan", "json"]) == runner.EXIT_OK
    planned = [c["id"] for c in json.loads(capsys.readouterr().out)["cells"]]
    assert len(planned) == (4 if budget == "60" else 12)
    for cell_id in planned:
        status = runner.main(options + ["--cell", cell_id, "--out", str(tmp_path / "cells" / cell_id)])
        assert status == (runner.EXIT_RUN_FAILED if re.search(r"x86_64-6\.1(-|$)", cell_id) else runner.EXIT_OK), cell_id
    capsys.readouterr()
    parts = sorted(str(p) for p in (tmp_path / "cells").glob("*/matrix.json"))  # as a CI merge job finds them
    assert reports_main(["merge", *parts, "-o", str(tmp_path / "merged.json")]) == 0

    whole, merged = (json.loads((tmp_path / name).read_text()) for name in ("whole/matrix.json", "merged.json"))
    assert [c["id"] for c in merged["columns"]] == [c["id"] for c in whole["columns"]]
    assert len(whole["columns"]) == 12
    cells_of = {m: {(c["claim"], c["column"]): verdict_key(c) for c in doc["results"]} for m, doc in (("w", whole), ("m", merged))}
    assert cells_of["m"] == cells_of["w"]
    assert {v for v in cells_of["w"].values()} >= {"holds", "refuted", "unsupported", "error"}
    assert merged["summary"] == whole["summary"]
    assert _timeless("\n".join(kernel_summary.lines(merged))) == _timeless("\n".join(kernel_summary.lines(whole)))
    assert _timeless(kernel_summary.markdown(merged)) == _timeless(kernel_summary.markdown(whole))


def test_a_kernel_run_as_several_cells_adds_up_its_times_and_keeps_the_failure(simulated_runs, tmp_path, capsys):
    options = ["--no-host", "--kernel", "6.1", "--fs", "tmpfs,ext4", "--cache", str(tmp_path / "cache"), "--cell-minutes", "0.1"]
    for cell_id in ("1-x86_64-6.1-1of2", "2-x86_64-6.1-2of2"):
        assert runner.main(options + ["--cell", cell_id, "--out", str(tmp_path / cell_id)]) == runner.EXIT_RUN_FAILED
    capsys.readouterr()
    parts = [json.loads((tmp_path / c / "matrix.json").read_text()) for c in ("1-x86_64-6.1-1of2", "2-x86_64-6.1-2of2")]
    assert reports_main(["merge", *(str(tmp_path / c / "matrix.json") for c in ("1-x86_64-6.1-1of2", "2-x86_64-6.1-2of2")),
                         "-o", str(tmp_path / "merged.json")]) == 0
    (kernel,) = kernel_summary.kernel_runs(json.loads((tmp_path / "merged.json").read_text()))
    boots = [p["columns"][0]["run"]["kernel_matrix"]["boot_s"] for p in parts]
    assert kernel.boot_s == round(sum(boots), 1) and kernel.status == "no-boot" and kernel.console_tail == ["panic"]
    assert len(kernel.columns) == 2


def test_the_host_s_real_run_as_cells_merges_into_the_same_verdicts_as_in_one_run(tmp_path, capsys):
    options = ["--no-guests", "--fs", "tmpfs,ext4", "--profile", "kernel-smoke", "--cell-minutes", "0.1",
               "--cache", str(tmp_path / "cache"), "--", "-k", "EOF-1 or OPEN-1 or BUS-1"]
    assert runner.main(options[:-3] + ["--out", str(tmp_path / "whole")] + options[-3:]) == runner.EXIT_OK
    for cell_id in ("1-host-1of2", "2-host-2of2"):
        assert runner.main(options[:-3] + ["--cell", cell_id, "--out", str(tmp_path / cell_id)] + options[-3:]) == runner.EXIT_OK
    capsys.readouterr()
    assert reports_main(["merge", str(tmp_path / "1-host-1of2" / "matrix.json"), str(tmp_path / "2-host-2of2" / "matrix.json"),
                         "-o", str(tmp_path / "merged.json")]) == 0
    whole, merged = (json.loads((tmp_path / name).read_text()) for name in ("whole/matrix.json", "merged.json"))
    assert [c["target"] for c in merged["columns"]] == [c["target"] for c in whole["columns"]] == ["tmpfs", "ext4"]
    verdicts = [{(c["claim"], c["column"]): verdict_key(c) for c in doc["results"] if c["verdict"] != "not run"}
                for doc in (whole, merged)]
    assert verdicts[0] == verdicts[1] and len(verdicts[0]) >= 6
    assert merged["summary"] == whole["summary"]
