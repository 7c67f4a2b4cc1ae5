"""The kernel matrix's CI files (.github/workflows/kernel-matrix.yml, .gitlab-ci.yml and the child pipeline that
``./mmapconf kernels --plan gitlab`` writes): valid against each engine's published schema (check-jsonschema's
vendored copies, offline), and every job's commands run here, in the engine's order, on a small host-only matrix
(two cells of the runner's own kernel), each job in a checkout of its own that gets only what the artifacts carry.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from ruamel.yaml import YAML  # check-jsonschema's YAML parser

from kernels import CHECKOUT, cells
from reports import kernel_summary

WORKFLOW = CHECKOUT / ".github" / "workflows" / "kernel-matrix.yml"
GITLAB = CHECKOUT / ".gitlab-ci.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
# Two host cells that really run the suite (about 15 s each): what a user would type in the CI form.
OPTIONS = "--no-guests --fs tmpfs,ext4 --cell-minutes 0.1 --profile kernel-smoke -- -k 'EOF-1 or OPEN-1'"
CELL_IDS = ["1-host-1of2", "2-host-2of2"]
# Every ${{ ... }} the workflow may use, and how this test gives its value (the context of the job that evaluates it).
# An expression not here fails the test: the emulation cannot drift from the file unnoticed.
EXPRESSIONS = {
    "inputs.options": lambda context: OPTIONS,
    "steps.plan.outputs.plan": lambda context: context["step outputs"]["plan"]["plan"],
    "fromJSON(needs.plan.outputs.plan).cells": lambda context: json.loads(context["needs"]["plan"]["plan"])["cells"],
    "matrix.id": lambda context: context["matrix"]["id"],
    "matrix.arch": lambda context: str(context["matrix"]["arch"] or ""),
    "matrix.kernel": lambda context: str(context["matrix"]["kernel"] or ""),
    "matrix.job_minutes": lambda context: str(context["matrix"]["job_minutes"]),
    "github.run_id": lambda context: "1",
    "hashFiles('mmapconf', 'tox.ini', 'requirements.txt')": lambda context: "hash",
}
EXPRESSION_RE = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_yaml(path: Path):
    return YAML(typ="safe").load(path.read_text())


def dump_yaml(document, path: Path) -> Path:
    stream = StringIO()
    YAML(typ="safe").dump(document, stream)
    path.write_text(stream.getvalue())
    return path


def validate(schema: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(path)], capture_output=True, text=True)


def child_pipeline(*options: str) -> str:
    return subprocess.run([str(CHECKOUT / "mmapconf"), "kernels", "--plan", "gitlab", *options], check=True,
                          capture_output=True, text=True).stdout


def generated_child(tmp_path: Path) -> Path:
    path = tmp_path / "kernel-matrix-cells.yml"
    path.write_text(child_pipeline("--fs", "tmpfs,ext4", "--cell-minutes", "0.1"))
    return path


def break_workflow(workflow: dict) -> None:
    del workflow["jobs"]["plan"]["runs-on"]


def break_gitlab(pipeline: dict) -> None:
    pipeline["kernel-matrix"]["trigger"]["strategy"] = "eventually"


def break_child(pipeline: dict) -> None:
    pipeline["merge"]["when"] = "whenever"


@pytest.mark.parametrize("schema, ci_file, breakage", [
    ("vendor.github-workflows", lambda tmp_path: WORKFLOW, break_workflow),
    ("vendor.gitlab-ci", lambda tmp_path: GITLAB, break_gitlab),
    ("vendor.gitlab-ci", generated_child, break_child),
], ids=["github-workflow", "gitlab-ci", "gitlab-child-pipeline"])
def test_the_ci_files_validate_against_their_engine_s_schema_and_a_broken_one_does_not(tmp_path, schema, ci_file, breakage):
    path = ci_file(tmp_path)
    result = validate(schema, path)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = load_yaml(path)
    breakage(broken)
    result = validate(schema, dump_yaml(broken, tmp_path / "broken.yml"))
    assert result.returncode == 1 and "Schema validation errors were encountered" in result.stdout + result.stderr


def test_the_workflow_uses_only_expressions_the_emulation_knows():
    used = set(EXPRESSION_RE.findall(WORKFLOW.read_text()))
    assert used <= set(EXPRESSIONS), f"unknown to this test: {sorted(used - set(EXPRESSIONS))}"
    assert {"fromJSON(needs.plan.outputs.plan).cells", "inputs.options", "matrix.id"} <= used


def test_ci_kernels_splits_the_options_as_a_shell_would_and_evaluates_nothing(tmp_path):
    planted = tmp_path / "planted"
    env = dict(os.environ, MMAPCONF_OPTIONS=f"--no-guests $(touch {planted}) -- -k 'EOF-1 or OPEN-1'")
    result = subprocess.run([str(CHECKOUT / ".ci" / "kernels"), "--plan", "json"], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and f"unrecognized arguments: $(touch {planted})" in result.stderr
    assert not planted.exists()
    env["MMAPCONF_OPTIONS"] = "--no-guests --fs tmpfs -- -k 'EOF-1 or OPEN-1'"
    result = subprocess.run([str(CHECKOUT / ".ci" / "kernels"), "--plan", "json"], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and [c["id"] for c in json.loads(result.stdout)["cells"]] == ["1-host"]
    env["MMAPCONF_OPTIONS"] = "--fs 'tmpfs"
    result = subprocess.run([str(CHECKOUT / ".ci" / "kernels"), "--plan"], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr == "MMAPCONF_OPTIONS: not shell words (an unmatched quote?): --fs 'tmpfs\n"


# --- the jobs' commands, run here ----------------------------------------------------------------------------------

def job_checkout(root: Path) -> Path:
    """A job's fresh checkout: the checkout's entries linked into an empty directory, so what a job writes stays in
    it while ./mmapconf finds its tox environments (.tox) as in the checkout."""
    root.mkdir(parents=True)
    for entry in CHECKOUT.iterdir():
        (root / entry.name).symlink_to(entry)
    return root


def run_script(script: str, workdir: Path, env: dict) -> None:
    """A step's or job's commands as the engines run them: bash, stopping at the first failure, a pipe failing with
    any of its commands."""
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=workdir,
                            env=dict(os.environ, **env), capture_output=True, text=True)
    assert result.returncode == 0, f"{script}\nexit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def expand(text, context: dict):
    """A value of the workflow with its ${{ }} expressions evaluated; a whole-value expression keeps its type."""
    if not isinstance(text, str):
        return text
    whole = EXPRESSION_RE.fullmatch(text.strip())
    if whole:
        return EXPRESSIONS[whole.group(1)](context)
    return EXPRESSION_RE.sub(lambda m: str(EXPRESSIONS[m.group(1)](context)), text)


def read_outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT: name=value lines and name<<DELIMITER blocks."""
    outputs, lines = {}, path.read_text().splitlines()
    while lines:
        line = lines.pop(0)
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter)
            outputs[name], lines = "\n".join(lines[:end]), lines[end + 1:]
        else:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def run_github_job(name: str, job: dict, workflow: dict, context: dict, workdir: Path, artifacts: Path) -> dict:
    """One job of the workflow, step by step: `run` steps with bash and the env they would get, the actions emulated
    (checkout: the job's checkout; cache: a miss; upload/download-artifact: copies to and from `artifacts`). Returns
    the job's outputs and its step summary."""
    job_checkout(workdir)
    output, summary = workdir.parent / f"{workdir.name}.output", workdir.parent / f"{workdir.name}.summary"
    summary.touch()
    context = dict(context, **{"step outputs": {}})
    for step in job["steps"]:
        if "run" in step:
            output.write_text("")
            env = {k: str(expand(v, context)) for k, v in {**workflow.get("env", {}), **job.get("env", {}),
                                                          **step.get("env", {})}.items()}
            assert EXPRESSION_RE.search(step["run"]) is None, "a script must get its values through env:"
            run_script(step["run"], workdir, dict(env, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary)))
            if "id" in step:
                context["step outputs"][step["id"]] = read_outputs(output)
            continue
        action, given = step["uses"].split("@")[0], {k: expand(v, context) for k, v in step.get("with", {}).items()}
        if action == "actions/upload-artifact":
            paths = [workdir / p for p in given["path"].split()]
            stored = artifacts / given["name"]
            assert not stored.exists(), f"{name}: artifact {given['name']} uploaded twice"
            if len(paths) == 1 and paths[0].is_dir():
                shutil.copytree(paths[0], stored)
            else:
                stored.mkdir(parents=True)
                for path in paths:
                    shutil.copy(path, stored)
        elif action == "actions/download-artifact":
            for stored in sorted(artifacts.iterdir()):
                if fnmatch.fnmatch(stored.name, given["pattern"]):
                    shutil.copytree(stored, workdir / given["path"] / stored.name)
        else:
            assert action in ("actions/checkout", "actions/cache"), f"{name}: no emulation of {action}"
    outputs = {k: expand(v, context) for k, v in job.get("outputs", {}).items()}
    return {"outputs": outputs, "summary": summary.read_text()}


def test_the_workflow_s_jobs_run_here_plan_then_each_cell_then_merge(tmp_path):
    workflow = load_yaml(WORKFLOW)
    jobs = workflow["jobs"]
    assert jobs["cell"]["needs"] == "plan" and jobs["merge"]["needs"] == "cell" and jobs["merge"]["if"] == "always()"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    plan = run_github_job("plan", jobs["plan"], workflow, {}, tmp_path / "plan", artifacts)
    assert "2 cell(s), profile kernel-smoke" in plan["summary"]
    needs = {"plan": plan["outputs"]}
    matrix = expand(jobs["cell"]["strategy"]["matrix"]["include"], {"needs": needs})
    assert [cell["id"] for cell in matrix] == CELL_IDS
    for cell in matrix:
        context = {"needs": needs, "matrix": cell}
        assert 20 < int(expand(jobs["cell"]["timeout-minutes"], context)) <= 360
        run_github_job(f"cell {cell['id']}", jobs["cell"], workflow, context, tmp_path / cell["id"], artifacts)
    assert sorted(p.name for p in artifacts.iterdir()) == [f"cell-{i}" for i in CELL_IDS]
    merge = run_github_job("merge", jobs["merge"], workflow, {}, tmp_path / "merge", artifacts)
    published = artifacts / "kernel-matrix"
    assert sorted(p.name for p in published.iterdir()) == ["matrix.html", "matrix.json"]
    merged = json.loads((published / "matrix.json").read_text())
    assert [c["target"] for c in merged["columns"]] == ["tmpfs", "ext4"]
    assert kernel_summary.markdown(merged) in merge["summary"]
    assert "<html" in (published / "matrix.html").read_text().lower()


def run_gitlab_job(job: dict, workdir: Path, artifacts: dict[str, Path], env: dict) -> Path:
    """One GitLab job: a fresh checkout with the artifacts of the jobs before it, its script, its artifacts kept."""
    job_checkout(workdir)
    for kept in artifacts.values():
        shutil.copytree(kept, workdir, dirs_exist_ok=True)
    run_script("\n".join(job["script"]), workdir, env)
    kept = workdir.parent / f"{workdir.name}.artifacts"
    for path in job.get("artifacts", {}).get("paths", []):
        source = workdir / path
        (kept / path).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, kept / path)
    return kept


def test_the_gitlab_pipeline_runs_here_plan_then_its_child_pipeline_s_cells_then_merge(tmp_path):
    parent = load_yaml(GITLAB)
    env = {"MMAPCONF_OPTIONS": OPTIONS}  # set for the pipeline, forwarded to the child
    trigger = parent["kernel-matrix"]["trigger"]
    assert trigger["forward"]["pipeline_variables"] is True and trigger["strategy"] == "depend"
    (include,) = trigger["include"]
    plan_job = parent[include["job"]]
    assert parent["stages"].index(plan_job["stage"]) < parent["stages"].index(parent["kernel-matrix"]["stage"])
    plan_artifacts = run_gitlab_job(plan_job, tmp_path / "plan", {}, env)
    child_file = plan_artifacts / include["artifact"]
    result = validate("vendor.gitlab-ci", child_file)
    assert result.returncode == 0, result.stdout + result.stderr
    child = load_yaml(child_file)
    jobs = {name: job for name, job in child.items() if name != "stages"}
    assert list(jobs) == [f"cell {i}" for i in CELL_IDS] + ["merge"]
    assert all(jobs[f"cell {i}"]["image"] == plan_job["image"] == cells.GITLAB_IMAGE for i in CELL_IDS)
    artifacts: dict[str, Path] = {}
    for stage in child["stages"]:  # a job gets the artifacts of every job of the stages before its own
        before = dict(artifacts)
        for name, job in jobs.items():
            if job["stage"] == stage:
                artifacts[name] = run_gitlab_job(job, tmp_path / name.replace(" ", "-"), before, env)
    merged_dir = artifacts["merge"]
    merged = json.loads((merged_dir / "matrix.json").read_text())
    assert [c["target"] for c in merged["columns"]] == ["tmpfs", "ext4"]
    assert (merged_dir / "summary.md").read_text() == kernel_summary.markdown(merged)
    assert "<html" in (merged_dir / "matrix.html").read_text().lower()
