"""--fs installs (apt-get, as root) the mkfs/FUSE tools its filesystems lack, once, in the controlling process;
otherwise, and when that fails, each stays unavailable naming the command. apt-get itself is a stand-in here,
except in the last test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import apt, provision
from harness import targets

ROOT = Path(__file__).resolve().parents[1]
MISSING = {"mkfs.xfs", "bindfs", "fusermount3", "mkfs.vfat"}


@pytest.fixture
def fresh_machine(monkeypatch):
    """Root on a machine whose kernel has every filesystem but vfat, without xfsprogs, bindfs and fuse3 (nor
    dosfstools), with apt-get; installing records what it was asked."""
    which = shutil.which
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda tool, *a, **k: None if tool in MISSING else which(tool, *a, **k) or f"/usr/sbin/{tool}")
    monkeypatch.setattr(provision, "_kernel_has", lambda fs_type: fs_type != "vfat")
    installed = []
    monkeypatch.setattr(apt, "install", installed.append)
    return installed


def test_packages_are_those_of_filesystems_that_lack_only_their_tools(fresh_machine, monkeypatch):
    asked = ["tmpfs", "xfs", "fuse-bindfs", "fuse-python", "vfat", "ext4", "9p-cache-none", "nfs"]
    assert provision.packages_to_install(asked) == {"xfs": ("xfsprogs",), "fuse-bindfs": ("bindfs", "fuse3"),
                                                    "fuse-python": ("fuse3",)}  # vfat: the kernel lacks it
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert provision.packages_to_install(asked) == {}  # not root: nothing to install would help


def test_all_includes_what_installing_makes_available_only_when_installing(fresh_machine):
    with_install = targets._filesystems_to_provision(["all"], installing=True)
    without = targets._filesystems_to_provision(["all"], installing=False)
    assert {"xfs", "fuse-bindfs", "fuse-python"} <= set(with_install)
    assert set(with_install) - set(without) == {"xfs", "fuse-bindfs", "fuse-python"}
    assert "vfat" not in with_install and "ext4" in without


def test_the_missing_packages_are_installed_once_saying_so(fresh_machine):
    said = []
    targets._install_tools(["tmpfs", "xfs", "fuse-bindfs", "fuse-python", "vfat"], said.append)
    assert fresh_machine == [["xfsprogs", "bindfs", "fuse3"]]
    assert said == ["installing xfsprogs bindfs fuse3 for --fs xfs,fuse-bindfs,fuse-python (apt-get; --no-install: never)"]


def test_nothing_is_installed_when_nothing_is_missing(fresh_machine):
    said = []
    targets._install_tools(["tmpfs", "ext4", "vfat"], said.append)
    assert fresh_machine == [] and said == []


def test_a_failed_install_is_one_line_and_the_filesystem_stays_unavailable_naming_the_command(fresh_machine, monkeypatch):
    def fail(packages):
        raise apt.InstallError(f"could not install {', '.join(packages)} (...): E: Unable to locate package xfsprogs")
    monkeypatch.setattr(apt, "install", fail)
    said = []
    targets._install_tools(["xfs"], said.append)
    assert said[1:] == ["could not install xfsprogs (...): E: Unable to locate package xfsprogs"]
    assert provision.FILESYSTEMS["xfs"].availability() == \
        "mkfs.xfs not installed (apt-get install --no-install-recommends xfsprogs)"


def test_list_says_what_is_missing_and_what_would_be_installed(fresh_machine):
    lines = targets._list_filesystems(installing=True).splitlines()
    assert next(line for line in lines if line.split()[0] == "fuse-bindfs").split(None, 3)[1:] == \
        ["to", "install", "bindfs not installed: --fs installs bindfs fuse3"]
    assert lines[-1] == "--fs all installs xfsprogs bindfs fuse3 (apt-get; --no-install: never)"
    refused = targets._list_filesystems(installing=False).splitlines()
    assert "mkfs.xfs not installed (apt-get install --no-install-recommends xfsprogs)" in \
        next(line for line in refused if line.split()[0] == "xfs")
    assert not refused[-1].startswith("--fs all installs")


# --- apt-get, with a stand-in for the command -------------------------------------------------------

@pytest.fixture
def apt_get(monkeypatch):
    """apt-get's command lines; install fails when ``fail`` holds a line."""
    calls, fail = [], []

    def run(*arguments, timeout):
        calls.append(arguments)
        if arguments[0] == "install" and fail:
            raise apt.InstallError(fail[0])
        return ""
    monkeypatch.setattr(apt, "_apt_get", run)
    monkeypatch.setattr(apt, "_lists_refreshed", False)
    monkeypatch.setattr(apt, "can_install", lambda: True)
    return calls, fail


def test_install_refreshes_the_lists_once_then_installs(apt_get):
    calls, _ = apt_get
    apt.install(["xfsprogs"])
    apt.install(["bindfs", "fuse3"])
    assert calls == [("update", "-qq"), ("install", "-y", "-qq", "--no-install-recommends", "xfsprogs"),
                     ("install", "-y", "-qq", "--no-install-recommends", "bindfs", "fuse3")]


def test_apt_get_failing_is_one_line_with_the_command(apt_get):
    calls, fail = apt_get
    fail.append("apt-get install -y…: E: Unable to locate package erofs-utils")
    with pytest.raises(apt.InstallError) as raised:
        apt.install(["squashfs-tools", "erofs-utils"])
    assert str(raised.value) == ("could not install squashfs-tools, erofs-utils (apt-get install --no-install-recommends "
                                 "squashfs-tools erofs-utils): apt-get install -y…: E: Unable to locate package erofs-utils")


def test_without_root_nothing_runs_and_the_command_is_named(apt_get, monkeypatch):
    calls, _ = apt_get
    monkeypatch.setattr(apt, "can_install", lambda: False)
    with pytest.raises(apt.InstallError) as raised:
        apt.install(["xfsprogs"])
    assert str(raised.value) == "xfsprogs not installed (apt-get install --no-install-recommends xfsprogs)"
    assert calls == []


# --- a suite run, apt-get a stand-in that fails -------------------------------------------------------

STAND_IN = '''
import os, shutil
from fixtures import apt, provision
which = shutil.which
shutil.which = lambda tool, *a, **k: None if tool == "mksquashfs" else which(tool, *a, **k)
provision._kernel_has = lambda fs_type: True
{euid}
def _apt_get(*arguments, timeout):
    with open({log!r}, "a") as log:
        print(os.getpid(), *arguments, file=log)
    if arguments[0] == "install":
        raise apt.InstallError("apt-get install -y…: E: Unable to locate package squashfs-tools")
    return ""
apt._apt_get = _apt_get
'''


def suite_with_stand_in(tmp_path: Path, *args: str, euid: str = "") -> tuple[subprocess.CompletedProcess, list[str], dict]:
    """A suite run on --fs squashfs (-k EOF-1) with mksquashfs missing and apt-get a stand-in; its apt-get calls
    (pid and arguments) and its EOF-1 cell."""
    log = tmp_path / "apt-get.log"
    (tmp_path / "fake_apt.py").write_text(STAND_IN.format(log=str(log), euid=euid))
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), str(ROOT / "suite"), "-p", "fake_apt", "-q",
         "-k", "EOF-1", "--fs", "squashfs", "--hypothesis-profile=ci", f"--report={report}", *args],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=f"{ROOT}:{tmp_path}"), capture_output=True, text=True, timeout=300)
    calls = log.read_text().splitlines() if log.exists() else []
    cells = [r for r in json.loads(report.read_text())["results"] if r["claim"] == "EOF-1"] if report.exists() else []
    return done, calls, cells[0] if cells else {}


@pytest.mark.skipif(os.geteuid() != 0, reason="installing with apt-get needs root")
def test_a_suite_run_installs_once_in_the_controller_and_a_failure_leaves_the_filesystem_unavailable(tmp_path):
    done, calls, cell = suite_with_stand_in(tmp_path, "-n", "2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    # once, by one process (each process would refresh the lists itself): the controller, not its two workers
    assert [call.split(None, 1)[1] for call in calls] == ["update -qq", "install -y -qq --no-install-recommends squashfs-tools"]
    assert len({call.split()[0] for call in calls}) == 1
    assert done.stderr.splitlines()[:2] == [
        "mmapconf: installing squashfs-tools for --fs squashfs (apt-get; --no-install: never)",
        "mmapconf: could not install squashfs-tools (apt-get install --no-install-recommends squashfs-tools): "
        "apt-get install -y…: E: Unable to locate package squashfs-tools"]
    assert cell["verdict"] == "unsupported"
    assert "mksquashfs not installed (apt-get install --no-install-recommends squashfs-tools)" in cell["detail"]


@pytest.mark.skipif(os.geteuid() != 0, reason="provisioning filesystems needs root")
def test_no_install_never_runs_apt_get_and_names_the_command(tmp_path):
    done, calls, cell = suite_with_stand_in(tmp_path, "--no-install")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert calls == [] and "mmapconf: installing" not in done.stderr
    assert "mksquashfs not installed (apt-get install --no-install-recommends squashfs-tools)" in cell["detail"]


def test_non_root_never_runs_apt_get(tmp_path):
    done, calls, cell = suite_with_stand_in(tmp_path, euid="os.geteuid = lambda: 1000")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert calls == [] and "mmapconf: installing" not in done.stderr
    assert cell["verdict"] == "unsupported" and cell["detail"].endswith("provisioning filesystems needs root")


# --- the real thing ---------------------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("apt-get") is None, reason="installing needs root and apt-get")
@pytest.mark.skipif(os.environ.get("CI") != "true",
                    reason="it installs squashfs-tools on this machine: run only under CI=true (.ci/run leaves it out for this)")
def test_fs_squashfs_installs_squashfs_tools_and_gives_squashfs_verdicts(tmp_path):
    squashfs = provision.FILESYSTEMS["squashfs"]
    if squashfs.lacks_besides_tools():
        pytest.skip(squashfs.lacks_besides_tools())
    if not squashfs.missing_tools():
        pytest.skip("squashfs-tools is installed already: nothing for --fs to install")
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), str(ROOT / "suite"), "-q", "-k", "EOF-1",
         "--fs", "squashfs", "--hypothesis-profile=ci", f"--report={report}"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=2400)
    failed = [line for line in done.stderr.splitlines() if line.startswith("mmapconf: could not install")]
    if failed:  # no network, no archive: what the user would see
        pytest.skip(failed[0])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "mmapconf: installing squashfs-tools for --fs squashfs (apt-get; --no-install: never)" in done.stderr.splitlines()
    assert squashfs.availability() is None
    cell = next(r for r in json.loads(report.read_text())["results"] if r["claim"] == "EOF-1")
    assert cell["verdict"] in ("holds", "refuted") and cell["examples"] > 0, cell
