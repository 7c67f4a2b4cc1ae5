"""Bundles (./mmapconf bundle): one archive with the suite and the pinned packages per architecture, which runs the
suite with nothing but a python3 (no tox, pip, network or site-packages). The wheels are downloaded once into
.tox/bundle/ and reused by later runs; without it and without the package index, the tests that build skip."""

from __future__ import annotations

import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest

from bundle import MANIFEST, SITE_PACKAGES
from bundle.sites import ARCHITECTURES

ROOT = Path(__file__).resolve().parents[1]
HOST = platform.machine()
OTHER = "aarch64" if HOST != "aarch64" else "x86_64"
PYTHON = "%d.%d" % sys.version_info[:2]
SITE = f"{HOST}-cp{PYTHON.replace('.', '')}"
# ELF e_machine of each architecture's code
ELF_MACHINES = {"x86_64": 62, "aarch64": 183, "ppc64le": 21, "s390x": 22}
PINS = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#"))


def run_mmapconf(*args: str, env: dict[str, str], mmapconf: Path = ROOT / "mmapconf") -> subprocess.CompletedProcess:
    return subprocess.run([str(mmapconf), *args], capture_output=True, text=True, env=env, timeout=600)


def builder_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHON=sys.executable, **extra)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    if HOST not in ARCHITECTURES:
        pytest.skip(f"no manylinux wheels for this machine's architecture ({HOST})")
    output = tmp_path_factory.mktemp("bundle") / "mmapconf.tar.gz"
    built = run_mmapconf("bundle", "--arch", f"{HOST},{OTHER}", "--python", PYTHON, "--output", str(output),
                         env=builder_env())
    if built.returncode == 3 and "could not download" in built.stderr:
        pytest.skip(f"pip cannot fetch the pins: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"bundle: {output} (" in built.stdout
    return output


def unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        tops = {name.split("/")[0] for name in tar.getnames()}
        tar.extractall(into, filter="data")
    assert len(tops) == 1, tops
    return into / tops.pop()


@pytest.fixture(scope="module")
def unpacked(archive, tmp_path_factory) -> Path:
    return unpack(archive, tmp_path_factory.mktemp("unpacked"))


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory) -> dict[str, str]:
    """Only PATH and HOME, and the first python3 on PATH a virtual environment without pip or any package: the
    bundle's packages are the only ones it can import."""
    home = tmp_path_factory.mktemp("home")
    python = home / "python"
    venv.create(python, with_pip=False)
    env = {"PATH": f"{python / 'bin'}:/usr/bin:/bin", "HOME": str(home)}
    bare = subprocess.run(["python3", "-c", "import pytest"], capture_output=True, text=True, env=env)
    assert "No module named 'pytest'" in bare.stderr, "the clean environment's python3 must not have pytest"
    return env


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    return struct.unpack_from("<H" if data[5] == 1 else ">H", data, 18)[0]


def test_archive_holds_the_checkout_and_each_architectures_packages(archive):
    with tarfile.open(archive) as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
        manifest = json.load(tar.extractfile(members[MANIFEST]))
        natives = {arch: [m for n, m in members.items()
                          if n.startswith(f"{SITE_PACKAGES}/{arch}-cp") and "/hypothesis/_native" in n] for arch in (HOST, OTHER)}
        machines = {arch: [elf_machine(tar.extractfile(m).read(64)) for m in found] for arch, found in natives.items()}
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    assert set(tracked) - set(members) == {f for f in tracked if not (ROOT / f).exists()}
    assert not [n for n in members if n.split("/")[0] in (".git", ".tox", "dist") or n.startswith("reports/out/")]
    assert members["mmapconf"].mode & 0o111
    assert {m.uid for m in members.values()} == {0}
    assert machines == {HOST: [ELF_MACHINES[HOST]], OTHER: [ELF_MACHINES[OTHER]]}
    assert [s["name"] for s in manifest["sites"]] == [SITE, f"{OTHER}-cp{PYTHON.replace('.', '')}"]
    assert manifest["requirements"] == [f"{name}=={version}" for name, version in PINS.items()]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    assert manifest["commit"] == commit.stdout.strip()
    # the pure-Python packages once, in common; each site only what is built for it
    assert any(n.startswith(f"{SITE_PACKAGES}/common/pytest/") for n in members)
    assert not any(n.startswith(f"{SITE_PACKAGES}/common/hypothesis/") for n in members)


def test_suite_runs_from_an_unpacked_bundle_with_only_python3(unpacked, clean_env, tmp_path):
    target, report = tmp_path / "target", tmp_path / "report.json"
    target.mkdir()
    result = run_mmapconf("suite", "-k", "EOF-1 or OPEN-1", "--target-dir", str(target), "--report", str(report),
                          "--hypothesis-profile", "ci", env=clean_env, mmapconf=unpacked / "mmapconf")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(report.read_text())
    verdicts = {cell["claim"]: (cell["verdict"], cell["as_expected"]) for cell in document["results"]
                if cell["verdict"] != "not run"}
    assert verdicts == {"EOF-1": ("holds", True), "OPEN-1": ("holds", True)}
    assert document["run"]["mmapconf_commit"] == json.loads((unpacked / MANIFEST).read_text())["commit"]
    assert Path(document["host"]["python_executable"]).parent == Path(clean_env["PATH"].split(":")[0])
    assert document["host"]["packages"] == {name: PINS[name] for name in ("pytest", "hypothesis", "pytest-xdist", "pytest-forked")}


def test_bundle_without_packages_for_this_python_says_which_it_has(archive, clean_env, tmp_path):
    bundle = unpack(archive, tmp_path)
    shutil.rmtree(bundle / SITE_PACKAGES / SITE)
    result = run_mmapconf("suite", env=clean_env, mmapconf=bundle / "mmapconf")
    assert result.returncode == 2
    assert (result.stdout + result.stderr).splitlines() == [
        f"mmapconf: this bundle has no packages for CPython {PYTHON} (python3) on {HOST}; "
        f"it has: {OTHER}-cp{PYTHON.replace('.', '')}"]


@pytest.mark.parametrize("word", ["selftest", "kernels", "bundle", "lab"])
def test_bundle_runs_only_the_suite(unpacked, clean_env, word):
    result = run_mmapconf(word, env=clean_env, mmapconf=unpacked / "mmapconf")
    assert result.returncode == 2
    assert (result.stdout + result.stderr).splitlines() == [f"mmapconf: a bundle runs only ./mmapconf suite; {word} needs a checkout"]


@pytest.mark.parametrize("args, message", [
    (["--arch", "x86_64,sparc"], "unknown architecture sparc (known: " + ", ".join(ARCHITECTURES) + ")"),
    (["--python", "3"], "--python 3: give a CPython version such as 3.11"),
    (["--output", "/proc/mmapconf.tar.gz"], "cannot write /proc/mmapconf.tar.gz: No such file or directory"),
    (["--output", "/"], "cannot write /: it is a directory"),
])
def test_bad_command_line_is_one_line(args, message):
    result = run_mmapconf("bundle", *args, env=builder_env())
    assert result.returncode == 2
    assert (result.stdout + result.stderr).splitlines() == [f"python -m bundle: {message}"]


def test_failed_download_is_one_line_and_writes_nothing(tmp_path):
    # pip with no configuration (no local wheel directories) and an index that is not there
    env = {k: v for k, v in builder_env().items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=(tmp_path / "no-index").as_uri())
    output = tmp_path / "out" / "b.tar.gz"
    result = run_mmapconf("bundle", "--arch", "s390x", "--python", "3.11", "--cache", str(tmp_path / "cache"),
                          "--output", str(output), env=env)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    expected = ("python -m bundle: pip could not download the pinned packages for s390x, CPython 3.11 (no network, "
                "or no wheels for that platform): No matching distribution found for ")
    assert last.startswith(expected) and last.removeprefix(expected) in [f"{n}=={v}" for n, v in PINS.items()], last
    assert list(output.parent.iterdir()) == []
    assert list((tmp_path / "cache" / "wheels").glob("*/*")) == []
