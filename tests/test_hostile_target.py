"""A target directory, or the directory of --report, --report-html or --expectations, may hold what another user put
there (/dev/shm, /tmp). pytest loads conftest.py from every test path and reads its configuration from the first one,
so mmapconf's options must never be taken for test paths: the plugin loads with -p from tox.ini before pytest looks
for conftest.py files, and every entry point names tox.ini with -c. A hostile conftest.py, pytest.ini and the plugin
it asks for, planted in each of those directories, are never imported: options given as ``--opt X`` or ``--opt=X``,
with and without the suite path, by ``python -m pytest`` from another directory and by the tox env's own command."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HOSTILE_CODE = "import pathlib; pathlib.Path({marker!r}).touch()\n"


def plant(directory: Path, markers: Path) -> None:
    """What a hostile user leaves in a directory: code that leaves a marker behind if anything imports it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "conftest.py").write_text(HOSTILE_CODE.format(marker=str(markers / f"conftest-{directory.name}")))
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p hostile_plugin\npythonpath = .\n")
    (directory / "hostile_plugin.py").write_text(HOSTILE_CODE.format(marker=str(markers / f"ini-{directory.name}")))


@pytest.fixture
def hostile(tmp_path):
    """A target, an existing report and HTML page, and an expectations directory, each in a planted directory;
    where the markers of anything imported would appear."""
    markers = tmp_path / "markers"
    markers.mkdir()
    paths = {"target": tmp_path / "target", "report": tmp_path / "report-dir" / "old.json",
             "html": tmp_path / "html-dir" / "old.html", "expectations": tmp_path / "expectations"}
    for path in paths.values():
        plant(path if path.suffix == "" else path.parent, markers)
    for name in ("report", "html"):
        paths[name].write_text("")  # an existing file: pytest would take its directory as where tests are
    for expectation in (ROOT / "suite" / "expectations").glob("*.toml"):
        shutil.copy(expectation, paths["expectations"])
    return paths, markers


def options(paths: dict[str, Path], form: str) -> list[str]:
    given = [("--target-dir", paths["target"]), ("--report", paths["report"]), ("--report-html", paths["html"]),
             ("--expectations", paths["expectations"])]
    if form == "space":
        return [word for option, path in given for word in (option, str(path))]
    return [f"{option}={path}" for option, path in given]


def tox_env_command(env: str, posargs: list[str]) -> list[str]:
    """The tox env's command as tox runs it: tox.ini's own line, its console script from the same environment."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    line = ini[f"testenv:{env}"]["commands"].replace("{tox_root}", str(ROOT)).replace("{/}", os.sep)
    program, *words = shlex.split(line)
    script = Path(sys.executable).parent / program
    if not script.exists():
        pytest.skip(f"no {program} console script next to {sys.executable}")
    return [str(script), *(arg for word in words for arg in (posargs if word == "{posargs}" else [word]))]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # harness importable through tox.ini alone
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


SELECTION = ["-k", "OPEN-1", "-q"]


LAUNCHES = ["options before the suite path, from another directory", "no suite path, from the checkout",
            "the suite path first, without -c", "the tox env's command"]


def launched(launch: str, given: list[str], elsewhere: Path) -> tuple[list[str], Path]:
    """The command and the directory it runs in."""
    pinned = [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini")]
    if launch == LAUNCHES[0]:
        return [*pinned, *given, str(ROOT / "suite")], elsewhere
    if launch == LAUNCHES[1]:
        return [*pinned, *given], ROOT
    if launch == LAUNCHES[2]:
        return [sys.executable, "-m", "pytest", "suite", *given], ROOT
    return tox_env_command("suite", given), ROOT


@pytest.mark.parametrize("form", ["space", "equals"])
@pytest.mark.parametrize("launch", LAUNCHES)
def test_nothing_planted_in_the_paths_of_options_is_imported(hostile, tmp_path, form, launch):
    paths, markers = hostile
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command, cwd = launched(launch, options(paths, form) + SELECTION, elsewhere)
    done = run(command, cwd)
    assert sorted(p.name for p in markers.iterdir()) == [], done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(paths["report"].read_text())
    assert [t["directory"] for t in report["targets"]] == [str(paths["target"])]
    assert {r["claim"] for r in report["results"] if r["verdict"] != "not run"} == {"OPEN-1"}
    assert paths["html"].read_text().lstrip().lower().startswith("<!doctype html")
    assert not list(paths["target"].glob(".mmapconf-run-*"))


def test_an_unreachable_target_is_one_line(tmp_path):
    """A target below a directory this user may not enter (non-root: /root/x): one line, not a traceback."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    target = locked / "target"
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), "--target-dir", str(target), *SELECTION]
    if os.geteuid() == 0:  # as root, without the capabilities that bypass permissions
        if not shutil.which("setpriv"):
            pytest.skip("setpriv is needed to drop root's permission-bypassing capabilities")
        dropped = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={dropped}", f"--bounding-set={dropped}", *command]
    try:
        done = run(command, ROOT)
    finally:
        locked.chmod(0o700)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and "Traceback" not in output
    assert output.splitlines() == [f"ERROR: target directory {target} cannot be reached: Permission denied"], output
