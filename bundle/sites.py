"""The pinned packages (requirements.txt) for each architecture and CPython version a bundle carries.

pip downloads the manylinux wheels of each site's platform (cached under the requirements' hash, so a second
build needs no network) and installs them, unpacked, into directories the target puts on its path. hypothesis
ships a native part (hypothesis/_native*.so) built per architecture and CPython version: each site gets the
wheels that are not pure Python, and the pure ones every site uses go once into ``common``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bundle import BuildError

# uname -m on the target -> the manylinux platform pip downloads wheels for (glibc 2.17 or later).
ARCHITECTURES = {
    "x86_64": "manylinux2014_x86_64",
    "aarch64": "manylinux2014_aarch64",
    "ppc64le": "manylinux2014_ppc64le",
    "s390x": "manylinux2014_s390x",
}
# The CPython versions the pins have wheels for (hypothesis 6.170: cp311 to cp314).
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
COMMON = "common"
PURE_WHEEL_SUFFIX = "-none-any.whl"


@dataclass(frozen=True)
class Site:
    arch: str
    python: str  # "3.11"

    @property
    def name(self) -> str:
        """The site's directory in the bundle: what the mmapconf script looks for (uname -m, cp + the version)."""
        return f"{self.arch}-cp{self.python.replace('.', '')}"

    def describe(self) -> str:
        return f"{self.arch}, CPython {self.python}"

    def platform_options(self) -> list[str]:
        """pip's options for this site's wheels, whatever machine and Python pip itself runs on."""
        return ["--only-binary=:all:", "--platform", ARCHITECTURES[self.arch], "--python-version", self.python,
                "--implementation", "cp", "--abi", f"cp{self.python.replace('.', '')}"]


def download(site: Site, requirements: Path, cache: Path, say) -> list[Path]:
    """The wheels of ``site``'s pins: from the cache, or downloaded into it (all or nothing)."""
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    wheels = cache / "wheels" / key / site.name
    if not wheels.is_dir():
        wheels.parent.mkdir(parents=True, exist_ok=True)
        say(f"downloading the pinned packages for {site.describe()}")
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=wheels.parent))
        try:
            _pip("download", *site.platform_options(), "--dest", str(staging), "--requirement", str(requirements),
                 failure=f"pip could not download the pinned packages for {site.describe()} "
                         "(no network, or no wheels for that platform)")
            try:
                staging.rename(wheels)
            except OSError:
                if not wheels.is_dir():  # else another build cached the same wheels first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(wheels.glob("*.whl"))


def split(downloads: dict[Site, list[Path]]) -> tuple[list[Path], dict[Site, list[Path]]]:
    """The pure-Python wheels every site has (installed once, in ``common``), and each site's others."""
    shared = set.intersection(*({w.name for w in wheels if w.name.endswith(PURE_WHEEL_SUFFIX)}
                                for wheels in downloads.values()))
    first = next(iter(downloads.values()))
    return ([w for w in first if w.name in shared],
            {site: [w for w in wheels if w.name not in shared] for site, wheels in downloads.items()})


def install(site: Site, wheels: list[Path], into: Path) -> None:
    """Unpack ``wheels`` into ``into`` as pip installs them for ``site`` (no bytecode: the target compiles its own)."""
    _pip("install", "--no-deps", "--no-index", "--no-compile", *site.platform_options(), "--target", str(into),
         *map(str, wheels), failure=f"pip could not install the pinned packages for {site.describe()}")
    # console scripts whose first line names this machine's Python; the bundle runs python3 -m pytest
    shutil.rmtree(into / "bin", ignore_errors=True)


def _pip(*args: str, failure: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
        reason = (errors or lines or [f"pip exited with status {done.returncode}"])[-1]
        raise BuildError(f"{failure}: {reason}")
