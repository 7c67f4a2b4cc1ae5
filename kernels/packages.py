"""Debian packages: the guest kernels, fetched and unpacked into a cache, and the host tools guests need.

Nothing is installed into /boot or system-wide: a kernel package is fetched with
``apt-get download`` into a cache directory (default ``.tox/kernels/`` in the
checkout) and unpacked there with ``dpkg -x``. The only system packages used are
Debian's ``qemu-system-x86``, ``busybox-static`` and ``e2fsprogs`` (installed
with apt-get when missing and root, else a one-line error with the install
command).
"""

from __future__ import annotations

import functools
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from fixtures import apt
from fixtures.commands import run_tool
from kernels import CHECKOUT, VMError

DEFAULT_CACHE = CHECKOUT / ".tox" / "kernels"
QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
TOOLS = {QEMU: "qemu-system-x86", "mkfs.ext4": "e2fsprogs"}  # tool -> the Debian package that has it

_run = functools.partial(run_tool, error=VMError, timeout=600, env={"DEBIAN_FRONTEND": "noninteractive"})


# --- host tools -------------------------------------------------------------------------------------

def _static(path: str) -> bool:
    """Whether an ELF executable has no program interpreter (is statically linked)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2:
                return False
            phoff, = struct.unpack_from("<Q", header, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))  # PT_INTERP


def missing_host_packages() -> list[str]:
    """The Debian packages this host lacks for running guests."""
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if not _static(BUSYBOX):  # the initramfs has no libc: only the static busybox works there
        missing.append("busybox-static")
    return missing


def ensure_host_tools(say: Callable[[str], None] = print) -> None:
    """Install the missing packages with apt-get when root, else raise a one-line VMError."""
    missing = missing_host_packages()
    if not missing:
        return
    if apt.can_install():
        say(f"installing {' '.join(missing)} (apt-get)")
    try:
        apt.install(missing)
    except apt.InstallError as error:
        raise VMError(str(error)) from None


# --- kernel packages --------------------------------------------------------------------------------

def _series_pattern(series: str) -> re.Pattern:
    """linux-image-<series>[.N]*[-N][+debN]-amd64, e.g. 6.1 -> linux-image-6.1.0-56-amd64 (not 6.12.*)."""
    return re.compile(rf"^linux-image-{re.escape(series)}(?:\.\d+)*(?:-\d+)?(?:\+deb\d+)?-amd64$")


def _name_key(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", name))


def apt_packages(prefix: str = "linux-image-") -> list[str]:
    try:
        return _run("apt-cache", "pkgnames", prefix).split()
    except VMError:
        return []


def candidates(series: str, names: Iterable[str] | None = None) -> list[str]:
    """Generic (not -cloud, -rt, -unsigned, -dbg) amd64 kernel packages of a series, newest first."""
    pattern = _series_pattern(series)
    found = [n for n in (apt_packages() if names is None else names) if pattern.match(n)]
    return sorted(found, key=_name_key, reverse=True)


def package_version(package: str) -> str | None:
    """The version apt would download, or None when apt has no installable version of it."""
    try:
        text = _run("apt-cache", "show", "--no-all-versions", package)
    except VMError:
        return None
    match = re.search(r"^Version: (\S+)", text, re.M)
    return match.group(1) if match else None


SERIES_RE = re.compile(r"^\d+\.\d+$")
PACKAGE_RE = re.compile(r"^linux-image-[0-9][A-Za-z0-9.+~-]*$")


def resolve(spec: str) -> str:
    """A kernel spec (a series like 6.1 or 6.12, a package name, or a .deb path) -> a package name or .deb path."""
    if spec.endswith(".deb"):
        if not Path(spec).is_file():
            raise VMError(f"kernel package {spec} does not exist")
        return str(Path(spec).resolve())
    if not (PACKAGE_RE.match(spec) or SERIES_RE.match(spec)):
        raise VMError(f"--kernel {spec}: give a series (6.1, 6.12), a package (linux-image-6.1.0-56-amd64) or a .deb file")

    def lookup() -> str | None:
        if PACKAGE_RE.match(spec):
            return spec if package_version(spec) is not None else None
        return next((name for name in candidates(spec) if package_version(name) is not None), None)

    found = lookup()
    if found is None:
        apt.refresh_lists()  # a fresh container has no package lists
        found = lookup()
    if found is not None:
        return found
    if PACKAGE_RE.match(spec):
        raise VMError(f"apt knows no package {spec} (apt-cache search linux-image-)")
    raise VMError(f"no linux-image-{spec}*-amd64 package in the apt sources (apt-cache search linux-image-{spec})")


@dataclass(frozen=True)
class Kernel:
    """An unpacked kernel package: its image, its modules and its release."""

    package: str
    version: str
    root: Path  # the dpkg -x tree

    @property
    def release(self) -> str:
        return next(p.name for p in (self.root / "lib" / "modules").iterdir() if p.is_dir())

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.release

    def as_dict(self) -> dict:
        return {"package": self.package, "version": self.version, "release": self.release}


def _deb_field(deb: Path, name: str) -> str:
    return _run("dpkg-deb", "-f", str(deb), name).strip()


def fetch(spec: str, cache: Path, say: Callable[[str], None] = print) -> Kernel:
    """Download (apt-get download) and unpack (dpkg -x) a kernel package into ``cache``; reuses what is there."""
    resolved = resolve(spec)
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if resolved.endswith(".deb"):
        deb = Path(resolved)
        package, version = _deb_field(deb, "Package"), _deb_field(deb, "Version")
    else:
        package, version = resolved, package_version(resolved)
        deb = None
    tree = cache / f"{package}_{version.replace(':', '%3a')}"
    if (tree / ".complete").is_file():
        return Kernel(package, version, tree)
    if deb is None:
        deb = next((d for d in debs.glob(f"{package}_*.deb") if _deb_field(d, "Version") == version), None)
    if deb is None:
        say(f"downloading {package} {version} (apt-get download)")
        try:
            _run("apt-get", "download", f"{package}={version}", cwd=debs)
        except VMError as error:
            raise VMError(f"cannot download {package} {version}: {error}") from None
        deb = next((d for d in debs.glob(f"{package}_*.deb") if _deb_field(d, "Version") == version), None)
        if deb is None:
            raise VMError(f"apt-get download {package} left no .deb in {debs}")
    say(f"unpacking {deb.name} (dpkg -x)")
    partial = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    try:
        _run("dpkg", "-x", str(deb), str(partial))
        kernel = Kernel(package, version, partial)
        if not kernel.vmlinuz.is_file():
            raise VMError(f"{deb.name} has no /boot/vmlinuz-{kernel.release}")
        if tree.exists():
            shutil.rmtree(tree)
        partial.rename(tree)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    (tree / ".complete").touch()
    return Kernel(package, version, tree)
