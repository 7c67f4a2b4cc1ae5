"""The guest's initramfs: busybox, the kernel's own modules (decompressed, dependencies first) and its init.

A guest boots the package's kernel with this initramfs, whose ``/init``:

1. loads the modules the suite needs (9p, virtio, loop and every filesystem's);
2. mounts its root read-only over virtio-9p (tag ``mmapconf-root``,
   ``cache=loose``) with a tmpfs overlay on top: the host's own root, so the
   guest runs the host's Python, packages and tools unchanged, or another
   architecture's userland; and, each under a tmpfs overlay too, the host
   directories it must see at the same path (``mmapconf-path-N``: a foreign
   guest's checkout and pinned packages);
3. mounts the results share (``mmapconf-results``, read-write), the kernel's
   modules at ``/lib/modules/<release>`` (``mmapconf-modules``) and a scratch
   ext4 disk (``/dev/vda``) that the suite's working directory lives on;
4. switch_roots into the overlay and runs ``job.sh`` from the results share
   (written by the host: the suite, by the absolute path of its interpreter),
   then powers off.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import struct
from pathlib import Path
from typing import Iterable

from kernels import VMError
from kernels.packages import BUSYBOX, Kernel

ROOT_TAG, RESULTS_TAG, MODULES_TAG = "mmapconf-root", "mmapconf-results", "mmapconf-modules"


def same_path_tag(index: int) -> str:
    return f"mmapconf-path-{index}"


ROOT_OPTIONS = "trans=virtio,version=9p2000.L,cache=loose,msize=262144"
MARKER = "mmapconf-guest:"  # every line the guest's init and job print about themselves starts with it

# The guest's modules, loaded in this order (with their dependencies first); a name missing from a
# kernel is skipped (it may be built in). What each is for:
GUEST_MODULES = (
    "virtio_pci", "virtio_blk",  # the PCI transport and the scratch disk (built into x86's 6.12)
    "9pnet_virtio", "9p",  # the root, results and modules shares; the 9p-cache-* filesystems
    "overlay",  # the root's tmpfs overlay; overlay-* filesystems
    "crc32c_generic",  # crypto "crc32c" for ext4 metadata_csum, xfs, btrfs (x86 loads crc32c_intel first)
    "ext4",  # the scratch disk; ext2-1k, ext4, ext4-1k, overlay-ext4 (ext4 serves ext2)
    "loop", "xfs", "btrfs", "fuse", "squashfs", "erofs",
    "vfat", "nls_cp437", "nls_ascii",  # vfat with the Debian defaults (codepage 437, iocharset ascii)
)


# --- modules ----------------------------------------------------------------------------------------

def module_name(path: Path | str) -> str:
    name = Path(path).name
    return name[:name.index(".ko")].replace("-", "_")


def read_module(path: Path) -> bytes:
    """A module's ELF image, decompressed (.ko.xz on 6.12, .ko.gz)."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        raise VMError(f"{path.name}: zstd-compressed modules are not supported")
    return data


def modinfo(elf: bytes) -> dict[str, list[str]]:
    """The key=value strings of a module's .modinfo section (either byte order: s390x modules are big-endian)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] not in (1, 2):
        raise VMError("not a 64-bit ELF module")
    order = "<" if elf[5] == 1 else ">"  # EI_DATA: ELFDATA2LSB, ELFDATA2MSB
    shoff, = struct.unpack_from(order + "Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", elf, 0x3A)
    sections = [struct.unpack_from(order + "IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names_at = sections[shstrndx][4]
    info: dict[str, list[str]] = {}
    for name_offset, _type, _flags, _addr, offset, size in sections:
        name = elf[names_at + name_offset:elf.index(b"\0", names_at + name_offset)]
        if name == b".modinfo":
            for entry in elf[offset:offset + size].split(b"\0"):
                key, sep, value = entry.decode(errors="replace").partition("=")
                if sep:
                    info.setdefault(key, []).append(value)
    return info


def module_index(modules: Path) -> dict[str, Path]:
    return {module_name(p): p for p in (modules / "kernel").rglob("*.ko*")}


def builtin_modules(modules: Path) -> set[str]:
    path = modules / "modules.builtin"
    return {module_name(line) for line in path.read_text().split()} if path.is_file() else set()


def load_order(modules: Path, wanted: Iterable[str]) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The modules to insmod, dependencies first (depends= and softdep pre:), decompressed; and the wanted
    names this kernel has neither as a module nor built in."""
    index, builtin = module_index(modules), builtin_modules(modules)
    order: list[tuple[str, bytes]] = []
    done: set[str] = set()
    absent: list[str] = []

    def visit(name: str, wanted_here: bool) -> None:
        if name in done or name in builtin:
            return
        if name not in index:
            if wanted_here:
                absent.append(name)
            return
        done.add(name)
        elf = read_module(index[name])
        info = modinfo(elf)
        for dependency in ",".join(info.get("depends", [])).split(","):
            if dependency:
                visit(dependency.replace("-", "_"), False)
        for softdep in info.get("softdep", []):
            pre = softdep.split("post:")[0].replace("pre:", " ").split()
            for dependency in pre:
                visit(dependency.replace("-", "_"), False)
        order.append((name, elf))

    for name in wanted:
        visit(name, True)
    return order, absent


# --- initramfs --------------------------------------------------------------------------------------

INIT = r"""#!/bin/busybox sh
# mmapconf kernel-matrix guest, stage 1 (initramfs): modules, the host's root read-only over 9p with a
# tmpfs overlay, the results/modules shares and the scratch disk; then switch_root to stage 2.
/bin/busybox --install -s /bin
export PATH=/bin
say() { echo "mmapconf-guest: $*"; }
fail() { say "FAILED: $*"; sync; poweroff -f; sleep 10; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say "init $(uname -r) up $(cut -d' ' -f1 /proc/uptime) s"
while read name file; do
  insmod "/modules/$file" 2>/tmp/insmod.err || say "module $name not loaded: $(tail -n 1 /tmp/insmod.err)"
done < /modules/order
mkdir -p /lower /rw /newroot
mount -t 9p -o "@ROOT_OPTIONS@,ro" @ROOT_TAG@ /lower || fail "cannot mount the host root (9p tag @ROOT_TAG@)"
mount -t tmpfs -o mode=0755 mmapconf-upper /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work mmapconf-root /newroot \
  || fail "cannot mount the overlay on the host root"
# a foreign userland is only unpacked packages: no /proc, /sys, /dev, /tmp or /root of its own
mkdir -p /newroot/dev /newroot/proc /newroot/sys /newroot/tmp /newroot/root /newroot/run
chmod 1777 /newroot/tmp
mount -t tmpfs -o mode=0755 mmapconf-run /newroot/run
mkdir -p /newroot/run/mmapconf/results /newroot/run/mmapconf/work "/newroot/lib/modules/$(uname -r)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 @RESULTS_TAG@ /newroot/run/mmapconf/results \
  || fail "cannot mount the results share (9p tag @RESULTS_TAG@)"
mount -t 9p -o "@ROOT_OPTIONS@,ro" @MODULES_TAG@ "/newroot/lib/modules/$(uname -r)" \
  || say "the modules share (9p tag @MODULES_TAG@) is not mounted"
while read tag path; do
  mkdir -p "/shares/$tag/lower" "/shares/$tag/rw" "/newroot$path"
  mount -t 9p -o "@ROOT_OPTIONS@,ro" "$tag" "/shares/$tag/lower" || fail "cannot mount $path (9p tag $tag)"
  mount -t tmpfs -o mode=0755 "$tag" "/shares/$tag/rw"
  mkdir -p "/shares/$tag/rw/upper" "/shares/$tag/rw/work"
  mount -t overlay -o "lowerdir=/shares/$tag/lower,upperdir=/shares/$tag/rw/upper,workdir=/shares/$tag/rw/work" \
    "$tag" "/newroot$path" || fail "cannot mount the overlay on $path"
done < /same-path
if [ -b /dev/vda ]; then
  mount -t ext4 /dev/vda /newroot/run/mmapconf/work || fail "cannot mount the scratch disk /dev/vda"
fi
cp /bin/busybox /stage2 /newroot/run/mmapconf/
say "switch_root up $(cut -d' ' -f1 /proc/uptime) s"
for fs in dev proc sys; do mount --move "/$fs" "/newroot/$fs"; done
exec switch_root /newroot /run/mmapconf/busybox sh /run/mmapconf/stage2
"""

STAGE2 = r"""# mmapconf kernel-matrix guest, stage 2 (pid 1 on the overlaid host root): run job.sh, record its status,
# power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
b=/run/mmapconf/busybox
r=/run/mmapconf/results
$b mkdir -p /dev/pts /dev/shm
$b mount -t devpts devpts /dev/pts
$b mount -t tmpfs -o mode=1777 shm /dev/shm
$b hostname mmapconf-guest
echo "mmapconf-guest: stage2 up $($b cut -d' ' -f1 /proc/uptime) s"
cd /run/mmapconf/work
$b sh $r/job.sh < /dev/null
status=$?
echo "$status" > $r/exit_status
echo "mmapconf-guest: job exited with status $status up $($b cut -d' ' -f1 /proc/uptime) s"
$b sync
$b poweroff -f
"""


def init_script() -> str:
    return (INIT.replace("@ROOT_OPTIONS@", ROOT_OPTIONS).replace("@ROOT_TAG@", ROOT_TAG)
            .replace("@RESULTS_TAG@", RESULTS_TAG).replace("@MODULES_TAG@", MODULES_TAG))


def cpio(entries: list[tuple[str, int, bytes, int]]) -> bytes:
    """A newc cpio archive of (name, mode, data, rdev) entries; rdev is (major << 8 | minor) for devices."""
    out = io.BytesIO()

    def pad(n: int) -> None:
        out.write(b"\0" * (-n % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries + [("TRAILER!!!", 0, b"", 0)], start=1):
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF, len(encoded), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out.write(header + encoded)
        pad(len(header) + len(encoded))
        out.write(data)
        pad(len(data))
    return out.getvalue()


def initramfs_entries(kernel: Kernel, busybox: Path = Path(BUSYBOX), first_modules: tuple[str, ...] = (),
                      same_path: tuple[Path, ...] = ()) -> tuple[list[tuple[str, int, bytes, int]], list[str]]:
    """The initramfs: busybox (the guest architecture's, static), /init, /stage2, /dev/console, the modules
    (``first_modules``, the architecture's own, then GUEST_MODULES) and their load order, the host directories
    to mount at the same path (tags from same_path_tag); and the wanted modules this kernel lacks."""
    modules, absent = load_order(kernel.modules, first_modules + GUEST_MODULES)
    directory, regular, char = 0o040755, 0o100644, 0o020600
    entries = [(d, directory, b"", 0) for d in ("bin", "dev", "proc", "sys", "tmp", "modules", "shares")]
    entries += [("dev/console", char, b"", 5 << 8 | 1), ("dev/null", 0o020666, b"", 1 << 8 | 3),
                ("bin/busybox", 0o100755, busybox.read_bytes(), 0), ("init", 0o100755, init_script().encode(), 0),
                ("stage2", regular, STAGE2.encode(), 0)]
    order = "".join(f"{name} {name}.ko\n" for name, _ in modules)
    entries += [(f"modules/{name}.ko", regular, elf, 0) for name, elf in modules]
    entries.append(("modules/order", regular, order.encode(), 0))
    shares = "".join(f"{same_path_tag(i)} {path}\n" for i, path in enumerate(same_path))
    entries.append(("same-path", regular, shares.encode(), 0))
    return entries, absent


def build_initramfs(kernel: Kernel, busybox: Path = Path(BUSYBOX), first_modules: tuple[str, ...] = (),
                    same_path: tuple[Path, ...] = ()) -> tuple[Path, list[str]]:
    """The kernel's initramfs (uncompressed: nothing to decompress under emulation), cached next to the
    unpacked package and keyed by its contents; and the wanted modules the kernel lacks."""
    entries, absent = initramfs_entries(kernel, busybox, first_modules, same_path)
    data = cpio(entries)
    path = kernel.root / f"initramfs-{hashlib.sha256(data).hexdigest()[:12]}.cpio"
    if not path.is_file():
        for old in kernel.root.glob("initramfs-*.cpio"):
            old.unlink()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path, absent
