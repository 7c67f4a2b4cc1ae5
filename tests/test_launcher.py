"""./mmapconf suite asks tox to make or update .tox/suite only when what the environment is made from changed
(tox.ini, requirements.txt, the Python, tox's version): asking takes 0.3 s of every run.

Each test runs a copy of the launcher in a scratch checkout, with a stand-in for Python that records how it was
called: as ``-m tox`` it makes .tox/suite/bin/python (itself), as that environment's Python it is pytest."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOX_VERSION = re.search(r"^tox_version=(\S+)$", (ROOT / "mmapconf").read_text(), re.M).group(1)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "mmapconf", checkout / "mmapconf")
    (checkout / "tox.ini").write_text("[testenv:suite]\n")
    (checkout / "requirements.txt").write_text("pytest\n")
    boot = checkout / ".tox" / "bootstrap"
    boot.mkdir(parents=True)
    (boot / f".tox-{TOX_VERSION}").touch()
    return checkout


def stand_in(tmp_path: Path, checkout: Path, name: str = "python", tox_fails: bool = False) -> Path:
    python = tmp_path / name
    python.write_text(f"""#!/bin/sh
echo "$*" >> {tmp_path / 'calls'}
case "$1 $2" in
  "-m tox") {'exit 1' if tox_fails else ''}
            mkdir -p {checkout}/.tox/suite/bin && ln -sf {python} {checkout}/.tox/suite/bin/python ;;
  "-c "*) echo "{name} 3.x" ;;
esac
""")
    python.chmod(0o755)
    return python


def run(tmp_path: Path, checkout: Path, python: Path) -> tuple[int, list[str]]:
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    done = subprocess.run([str(checkout / "mmapconf"), "suite", "-k", "x"],
                          env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)}, capture_output=True, text=True, timeout=60)
    made = [line.split()[1] for line in calls.read_text().splitlines() if line.startswith("-m ")]
    return done.returncode, made  # which modules ran: tox, pytest


def test_tox_makes_the_environment_once_then_pytest_runs_alone(tmp_path, checkout):
    python = stand_in(tmp_path, checkout)
    assert run(tmp_path, checkout, python) == (0, ["tox", "pytest"])
    assert run(tmp_path, checkout, python) == (0, ["pytest"])


@pytest.mark.parametrize("change", ["requirements.txt", "tox.ini"])
def test_a_changed_file_the_environment_is_made_from_has_tox_update_it(tmp_path, checkout, change):
    python = stand_in(tmp_path, checkout)
    run(tmp_path, checkout, python)
    with open(checkout / change, "a") as edited:
        edited.write("# changed\n")
    assert run(tmp_path, checkout, python) == (0, ["tox", "pytest"])
    assert run(tmp_path, checkout, python) == (0, ["pytest"])


def test_another_python_has_tox_update_the_environment(tmp_path, checkout):
    run(tmp_path, checkout, stand_in(tmp_path, checkout))
    assert run(tmp_path, checkout, stand_in(tmp_path, checkout, name="python-other")) == (0, ["tox", "pytest"])


def test_a_missing_environment_python_has_tox_make_it_again(tmp_path, checkout):
    python = stand_in(tmp_path, checkout)
    run(tmp_path, checkout, python)
    (checkout / ".tox" / "suite" / "bin" / "python").unlink()
    assert run(tmp_path, checkout, python) == (0, ["tox", "pytest"])


def test_when_tox_fails_pytest_does_not_run_and_the_next_run_asks_tox_again(tmp_path, checkout):
    assert run(tmp_path, checkout, stand_in(tmp_path, checkout, tox_fails=True)) == (1, ["tox"])
    assert run(tmp_path, checkout, stand_in(tmp_path, checkout)) == (0, ["tox", "pytest"])
