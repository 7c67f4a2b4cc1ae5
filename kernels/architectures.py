"""The guest architectures: which Debian kernels, which QEMU machine, and what each guest runs the suite with.

x86_64 guests share the host's root and Python (the host is x86-64). The others
(arm64 with 4 KiB and 16 KiB pages, ppc64le with 64 KiB pages, s390x big-endian)
boot under TCG with a userland of their own (kernels/userland.py: Debian's
python3 and the filesystem tools, unpacked without running foreign code) and
the pinned packages built for them (bundle/sites.py). Page size and byte order
here are what its Debian kernels have: only a report of a guest that gave none uses them; every other report
records the guest's own (fixtures/platform.py).
Measured facts behind the QEMU flags: ../shared/notes/other-architectures.md.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    name: str  # what --arch takes
    debian: str  # the dpkg architecture of its packages
    machine: str  # uname -m in the guest (the bundle's site name)
    flavours: tuple[tuple[str, str], ...]  # (kernel series, Debian kernel flavour); series "" for any other
    default_series: tuple[str, ...]
    qemu: str
    qemu_package: str
    qemu_machine: str  # -machine
    tcg_cpu: str | None  # -cpu under TCG (None: the machine's default)
    console: str
    virtio_bus: str  # "pci" or "ccw": the suffix of its virtio devices
    modules: tuple[str, ...]  # what its guests load before kernels/initramfs.py's GUEST_MODULES
    default_fs: tuple[str, ...] | None  # None: every filesystem the suite knows
    page_size: int
    byte_order: str  # "little" or "big", as sys.byteorder says

    def flavour(self, series: str) -> str:
        table = dict(self.flavours)
        return table.get(series, table[""])

    def describe(self) -> str:
        return f"{self.page_size >> 10} KiB pages, {self.byte_order}-endian"

    @property
    def native(self) -> bool:
        """Whether its guests can share the host's root and Python (same instruction set)."""
        return self.machine == platform.machine()


# Default filesystems under TCG (measured here, arm64-16k, one guest at a time, kernel-matrix profile): the suite
# takes 2.5 min on tmpfs and ext4, about 8 min with xfs, btrfs and vfat (each checked clean on arm64 and arm64-16k),
# 24 min on all 17 (--fs all). ppc64le and s390x (the slowest under TCG) keep tmpfs and ext4.
ARM64_FS = ("tmpfs", "ext4", "xfs", "btrfs", "vfat")
ARCHITECTURES = {a.name: a for a in (
    Architecture("x86_64", "amd64", "x86_64", (("", "amd64"),), ("6.1", "6.12"),
                 # -erms,-fsrm: the kernel and glibc then copy and clear memory with loops rather than rep movsb and
                 # rep stosb, which TCG runs slowly: the suite on tmpfs in a 6.12 guest took 55.0 s instead of 59.3 s
                 # (means of 4 and 8 runs). Every instruction set extension of max stays: the guest runs the host's
                 # own binaries
                 "qemu-system-x86_64", "qemu-system-x86", "pc", "max,-erms,-fsrm", "ttyS0", "pci",
                 ("crc32c_intel",), None, 4096, "little"),
    Architecture("arm64", "arm64", "aarch64", (("", "arm64"),), ("6.12", "6.1"),
                 "qemu-system-aarch64", "qemu-system-arm",
                 # pauth-impdef: QEMU's own pointer-authentication algorithm, half the boot and fork cost of QARMA
                 "virt", "max,pauth-impdef=on", "ttyAMA0", "pci",
                 ("virtio_mmio",), ARM64_FS, 4096, "little"),
    Architecture("arm64-16k", "arm64", "aarch64", (("", "arm64-16k"),), ("6.12",),
                 "qemu-system-aarch64", "qemu-system-arm", "virt", "max,pauth-impdef=on",
                 "ttyAMA0", "pci", ("virtio_mmio",), ARM64_FS, 16384, "little"),
    # Debian 6.1's powerpc64le flavour has 64 KiB pages; from 6.12 that is the -64k flavour.
    Architecture("ppc64le", "ppc64el", "ppc64le", (("6.1", "powerpc64le"), ("", "powerpc64le-64k")), ("6.1", "6.12"),
                 "qemu-system-ppc64", "qemu-system-ppc", "pseries,x-vof=on", None, "hvc0", "pci",
                 (), ("tmpfs", "ext4"), 65536, "little"),
    Architecture("s390x", "s390x", "s390x", (("", "s390x"),), ("6.1",),
                 "qemu-system-s390x", "qemu-system-misc", "s390-ccw-virtio", "max", "ttysclp0",
                 "ccw", (), ("tmpfs", "ext4"), 4096, "big"),
)}
DEFAULT_ARCH = "x86_64"
