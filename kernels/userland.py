"""A foreign architecture's guest userland: Debian's python3 and the tools the suite runs, and the pinned packages.

``mmdebstrap --variant=extract`` only downloads and unpacks: no maintainer
script, so no foreign code runs on the host. That leaves no /bin/sh (the guest
runs its job with the initramfs's busybox) and no .pyc files: the host compiles
the guest's standard library and the pinned packages with its own CPython of the
same version when it has one (bytecode does not depend on the architecture;
under TCG it halves the time ``import hypothesis, pytest`` takes). The pinned
packages are the bundle's (bundle/sites.py), for the guest's architecture and
Python. Both are cached in the kernel cache, keyed by what they hold.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bundle import BuildError, sites
from fixtures.commands import run_tool
from kernels import CHECKOUT, VMError, building, is_built
from kernels.architectures import Architecture

# The suite's interpreter and what its provisioning runs (mount, losetup, mkfs.*, timeout); busybox-static is the
# initramfs's shell.
PACKAGES = ("python3", "busybox-static", "coreutils", "mount", "util-linux", "e2fsprogs", "xfsprogs", "btrfs-progs",
            "dosfstools", "squashfs-tools", "erofs-utils", "fuse3", "bindfs")


@dataclass(frozen=True)
class Userland:
    root: Path  # the guest's root (read-only, under a tmpfs overlay)
    python: str  # "3.11": its python3
    site: Path  # the pinned packages for its architecture and Python, at the same path in the guest

    @property
    def busybox(self) -> Path:
        return self.root / "bin" / "busybox"


def codename() -> str:
    """The host's Debian release: its apt sources have the guest kernels, so its userland goes with them."""
    text = Path("/etc/os-release").read_text()
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", text, re.M)
    if not match:
        raise VMError("/etc/os-release names no VERSION_CODENAME: a foreign userland needs a Debian host")
    return match.group(1)


def _compile(python: str, tree: Path, built_in: Path, seen_as: Path) -> None:
    """Byte-compile ``tree`` with the host's CPython ``python`` (e.g. "3.11") when it has one (else the guest
    compiles what it imports, each run); its files are recorded as the guest sees them: ``seen_as`` in place of the
    scratch directory ``built_in``."""
    interpreter = sys.executable if f"{sys.version_info[0]}.{sys.version_info[1]}" == python else shutil.which(f"python{python}")
    if interpreter is None:
        return
    subprocess.run([interpreter, "-m", "compileall", "-q", "-j", "0", "-s", str(built_in), "-p", str(seen_as), str(tree)],
                   capture_output=True)


def _root(arch: Architecture, cache: Path, say: Callable[[str], None]) -> Path:
    release = codename()
    key = hashlib.sha256(" ".join((release, *PACKAGES)).encode()).hexdigest()[:12]
    root = cache / "userland" / f"{arch.debian}-{release}-{key}"
    if is_built(root):
        return root
    say(f"making the {arch.debian} userland (mmdebstrap --variant=extract {release}: {', '.join(PACKAGES)})")
    with building(root) as partial:
        run_tool("mmdebstrap", "--quiet", "--variant=extract", f"--architectures={arch.debian}",
                 f"--include={','.join(PACKAGES)}", release, str(partial), error=VMError, timeout=1800)
        python = _python(partial)
        _compile(python, partial / "usr" / "lib" / f"python{python}", partial, Path("/"))
    return root


def _python(root: Path) -> str:
    found = sorted(p.name.removeprefix("python") for p in (root / "usr" / "lib").glob("python3.*")
                   if re.fullmatch(r"python3\.\d+", p.name) and (p / "os.py").is_file())
    if not found:
        raise VMError(f"the userland in {root} has no Python standard library")
    return found[-1]


def _site(arch: Architecture, python: str, cache: Path, say: Callable[[str], None]) -> Path:
    site = sites.Site(arch.machine, python)
    requirements = CHECKOUT / "requirements.txt"
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    into = cache / "sites" / key / site.name
    if is_built(into):
        return into
    try:
        wheels = sites.download(site, requirements, cache, say)
        with building(into) as partial:
            sites.install(site, wheels, partial)
            _compile(python, partial, partial, into)
    except BuildError as error:
        raise VMError(str(error)) from None
    return into


def prepare(arch: Architecture, cache: Path, say: Callable[[str], None] = print) -> Userland:
    """The userland and pinned packages of ``arch``'s guests: from the cache, or made (network needed once)."""
    root = _root(arch, cache, say)
    python = _python(root)
    return Userland(root, python, _site(arch, python, cache, say))
