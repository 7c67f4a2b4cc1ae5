"""Debian packages: the guest kernels, fetched and unpacked into a cache, and the host tools guests need.

Nothing is installed into /boot or system-wide: a kernel package is fetched with
``apt-get download`` into a cache directory (default ``.tox/kernels/`` in the
checkout) and unpacked there with ``dpkg -x``. Another architecture's packages
come through a private apt configuration in the cache (the host's sources and
keys, its own package lists), so the host's dpkg never learns of foreign
architectures. The only system packages used are Debian's QEMU for each
architecture, ``busybox-static``, ``e2fsprogs`` and, for foreign architectures,
``mmdebstrap`` (installed with apt-get when missing and root, else a one-line
error with the install command).
"""

from __future__ import annotations

import functools
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from fixtures import apt
from fixtures.commands import run_tool
from kernels import CHECKOUT, VMError, building, is_built
from kernels.architectures import ARCHITECTURES, Architecture

DEFAULT_CACHE = CHECKOUT / ".tox" / "kernels"
BUSYBOX = "/bin/busybox"
# tool -> the Debian package that has it; each architecture adds its QEMU, foreign ones mmdebstrap
TOOLS = {"mkfs.ext4": "e2fsprogs"}
FOREIGN_TOOLS = {"mmdebstrap": "mmdebstrap"}

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


def missing_host_packages(architectures: Iterable[Architecture]) -> list[str]:
    """The Debian packages this host lacks for running guests of these architectures."""
    tools = dict(TOOLS)
    for arch in architectures:
        tools[arch.qemu] = arch.qemu_package
        if not arch.native:
            tools.update(FOREIGN_TOOLS)
    missing = [package for tool, package in tools.items() if shutil.which(tool) is None]
    if not _static(BUSYBOX):  # the initramfs has no libc: only the static busybox works there
        missing.append("busybox-static")
    return list(dict.fromkeys(missing))


def ensure_host_tools(architectures: Iterable[Architecture], say: Callable[[str], None] = print) -> None:
    """Install the missing packages with apt-get when root, else raise a one-line VMError."""
    missing = missing_host_packages(architectures)
    if not missing:
        return
    if apt.can_install():
        say(f"installing {' '.join(missing)} (apt-get)")
    try:
        apt.install(missing)
    except apt.InstallError as error:
        raise VMError(str(error)) from None


# --- apt for an architecture -------------------------------------------------------------------------

def host_debian_arch() -> str | None:
    """The dpkg architecture of this machine's own packages (None: one no --arch has)."""
    return next((a.debian for a in ARCHITECTURES.values() if a.native), None)


@dataclass(frozen=True)
class Apt:
    """apt-get and apt-cache for one architecture's packages: the host's own apt for its own architecture,
    else a configuration of the cache's (the host's sources and keys; its own lists and archives)."""

    debian: str
    cache: Path

    @property
    def private(self) -> Path | None:
        return None if self.debian == host_debian_arch() else self.cache / f"apt-{self.debian}"

    def run(self, *argv: str, cwd: Path | None = None) -> str:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        if self.private is not None:
            self._configure()
            env["APT_CONFIG"] = str(self.private / "apt.conf")
        return run_tool(*argv, error=VMError, timeout=600, env=env, cwd=cwd)

    def _configure(self) -> None:
        root = self.private
        if (root / "apt.conf").is_file():
            return
        for sub in ("lists/partial", "archives/partial"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "status").touch()
        (root / "apt.conf").write_text(
            f'Dir::State "{root}";\nDir::State::lists "{root}/lists";\nDir::State::status "{root}/status";\n'
            f'Dir::Cache "{root}";\nDir::Cache::archives "{root}/archives";\n'
            f'APT::Architecture "{self.debian}";\nAPT::Architectures {{ "{self.debian}"; }};\n')

    def refresh(self) -> None:
        """The package lists: the host's (apt.refresh_lists: a fresh container has none), or the private ones."""
        if self.private is None:
            apt.refresh_lists()
        else:
            self.run("apt-get", "update", "-q")

    def qualified(self, package: str) -> str:
        return package if self.private is None else f"{package}:{self.debian}"


# --- kernel packages --------------------------------------------------------------------------------

def _series_pattern(series: str, flavour: str) -> re.Pattern:
    """linux-image-<series>[.N]*[-N][+debN]-<flavour>, e.g. 6.1 -> linux-image-6.1.0-56-amd64 (not 6.12.*)."""
    return re.compile(rf"^linux-image-{re.escape(series)}(?:\.\d+)*(?:-\d+)?(?:\+deb\d+)?-{re.escape(flavour)}$")


def _name_key(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", name))


def apt_packages(apt_: Apt, prefix: str = "linux-image-") -> list[str]:
    try:
        return apt_.run("apt-cache", "pkgnames", prefix).split()
    except VMError:
        return []


def candidates(series: str, flavour: str, names: Iterable[str]) -> list[str]:
    """A flavour's generic (not -cloud, -rt, -unsigned, -dbg) kernel packages of a series, newest first."""
    pattern = _series_pattern(series, flavour)
    return sorted((n for n in names if pattern.match(n)), key=_name_key, reverse=True)


def package_version(apt_: Apt, package: str) -> str | None:
    """The version apt would download, or None when apt has no installable version of it."""
    try:
        text = apt_.run("apt-cache", "show", "--no-all-versions", apt_.qualified(package))
    except VMError:
        return None
    match = re.search(r"^Version: (\S+)", text, re.M)
    return match.group(1) if match else None


SERIES_RE = re.compile(r"^\d+\.\d+$")
PACKAGE_RE = re.compile(r"^linux-image-[0-9][A-Za-z0-9.+~-]*$")


def resolve(spec: str, arch: Architecture, cache: Path) -> str:
    """A kernel spec (a series like 6.1 or 6.12, a package name, or a .deb path) -> a package name or .deb path
    of ``arch``."""
    if spec.endswith(".deb"):
        if not Path(spec).is_file():
            raise VMError(f"kernel package {spec} does not exist")
        return str(Path(spec).resolve())
    if not (PACKAGE_RE.match(spec) or SERIES_RE.match(spec)):
        raise VMError(f"--kernel {spec}: give a series (6.1, 6.12), a package (linux-image-6.1.0-56-amd64) or a .deb file")
    apt_ = Apt(arch.debian, cache)
    flavour = arch.flavour(spec)

    def lookup() -> str | None:
        if PACKAGE_RE.match(spec):
            return spec if package_version(apt_, spec) is not None else None
        return next((name for name in candidates(spec, flavour, apt_packages(apt_))
                     if package_version(apt_, name) is not None), None)

    fresh = apt_.private is not None and not any((apt_.private / "lists").glob("*Packages*"))
    found = None if fresh else lookup()
    if found is None:
        apt_.refresh()
        found = lookup()
    if found is not None:
        return found
    if PACKAGE_RE.match(spec):
        raise VMError(f"apt knows no package {spec} for {arch.debian} (apt-cache search linux-image-)")
    raise VMError(f"no linux-image-{spec}*-{flavour} package for {arch.debian} in the apt sources "
                  f"(apt-cache search linux-image-{spec})")


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
    def image(self) -> Path:
        """What QEMU's -kernel boots: vmlinuz (x86, arm64, s390x), or the ELF vmlinux (ppc64le)."""
        boot = self.root / "boot"
        return next((p for p in (boot / f"vmlinuz-{self.release}", boot / f"vmlinux-{self.release}") if p.is_file()),
                    boot / f"vmlinuz-{self.release}")

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.release

    def as_dict(self) -> dict:
        return {"package": self.package, "version": self.version, "release": self.release}


def _deb_field(deb: Path, name: str) -> str:
    return _run("dpkg-deb", "-f", str(deb), name).strip()


def fetch(spec: str, arch: Architecture, cache: Path, say: Callable[[str], None] = print) -> Kernel:
    """Download (apt-get download) and unpack (dpkg -x) a kernel package of ``arch`` into ``cache``; reuses
    what is there."""
    resolved = resolve(spec, arch, cache)
    apt_ = Apt(arch.debian, cache)
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if resolved.endswith(".deb"):
        deb = Path(resolved)
        package, version = _deb_field(deb, "Package"), _deb_field(deb, "Version")
    else:
        package, version = resolved, package_version(apt_, resolved)
        deb = None
    tree = cache / f"{package}_{version.replace(':', '%3a')}"
    if is_built(tree):
        return Kernel(package, version, tree)
    if deb is None:
        deb = next((d for d in debs.glob(f"{package}_*.deb") if _deb_field(d, "Version") == version), None)
    if deb is None:
        say(f"downloading {package} {version} (apt-get download)")
        try:
            apt_.run("apt-get", "download", f"{apt_.qualified(package)}={version}", cwd=debs)
        except VMError as error:
            raise VMError(f"cannot download {package} {version}: {error}") from None
        deb = next((d for d in debs.glob(f"{package}_*.deb") if _deb_field(d, "Version") == version), None)
        if deb is None:
            raise VMError(f"apt-get download {package} left no .deb in {debs}")
    say(f"unpacking {deb.name} (dpkg -x)")
    with building(tree) as partial:
        _run("dpkg", "-x", str(deb), str(partial))
        kernel = Kernel(package, version, partial)
        if not kernel.image.is_file():
            raise VMError(f"{deb.name} has no /boot/vmlinuz-{kernel.release} or vmlinux-{kernel.release}")
    return Kernel(package, version, tree)
