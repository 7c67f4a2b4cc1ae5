"""struct statfs is read with the layout of the architecture the suite runs on (fixtures/libc.py STATFS_LAYOUTS): on
s390x, f_type and f_bsize are 32-bit big-endian, so the generic layout (every field 8 bytes) read the block size
as the filesystem type and reported tmpfs as 'unknown-0x1000'."""

from __future__ import annotations

import ctypes
import struct

import pytest

from fixtures import libc
from fixtures.platform import FS_MAGIC, fs_identity

TMPFS_MAGIC = 0x01021994
EXT4_MAGIC = 0xEF53
# arch/s390/include/uapi/asm/statfs.h for s390x: unsigned int f_type, f_bsize; unsigned long f_blocks, f_bfree,
# f_bavail, f_files, f_ffree; __kernel_fsid_t f_fsid (2 ints); unsigned int f_namelen, f_frsize, f_flags, f_spare[4];
# padded to the alignment of unsigned long.
S390X = struct.Struct(">II5Q2i3I4I4x")
# asm-generic/statfs.h with __statfs_word = long: every field 8 bytes but f_fsid (2 ints).
GENERIC_LITTLE = struct.Struct("<2q5Q2i3q4q")


def _s390x_tmpfs() -> bytes:
    return S390X.pack(TMPFS_MAGIC, 4096, 100, 90, 80, 1000, 900, 7, 8, 255, 4096, 0x20, 0, 0, 0, 0)


def test_s390x_layout_reads_f_type_of_a_big_endian_struct():
    assert ctypes.sizeof(libc.statfs_struct("s390x", "big")) == S390X.size == 88
    fields = libc.statfs_fields(libc.statfs_struct("s390x", "big").from_buffer_copy(_s390x_tmpfs()))
    assert fields == libc.StatFs(magic=TMPFS_MAGIC, block_size=4096, fragment_size=4096, flags=0x20)
    assert FS_MAGIC[fields.magic] == "tmpfs"


def test_the_generic_layout_misreads_an_s390x_struct_as_unknown_0x1000():
    """What the suite saw on s390x before the layouts were per architecture: the generic layout in its byte order."""
    misread = libc.statfs_fields(libc.statfs_struct("ppc64", "big").from_buffer_copy(_s390x_tmpfs() + bytes(32)))
    assert misread.magic == 0x1000 and misread.magic not in FS_MAGIC


@pytest.mark.parametrize("machine", ["x86_64", "aarch64", "ppc64le"])
def test_generic_layout_reads_a_little_endian_struct(machine):
    packed = GENERIC_LITTLE.pack(EXT4_MAGIC, 4096, 100, 90, 80, 1000, 900, 7, 8, 255, 1024, 0x400, 0, 0, 0, 0)
    assert ctypes.sizeof(libc.statfs_struct(machine, "little")) == GENERIC_LITTLE.size == 120
    fields = libc.statfs_fields(libc.statfs_struct(machine, "little").from_buffer_copy(packed))
    assert fields == libc.StatFs(magic=EXT4_MAGIC, block_size=4096, fragment_size=1024, flags=0x400)


def test_mips64_layout_has_f_frsize_third():
    layout = libc.statfs_struct("mips64", "big")
    assert ctypes.sizeof(layout) == 128 and layout.f_frsize.offset == 16 and layout.f_flags.offset == 80


def test_an_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="not of vax"):
        libc.statfs_struct("vax", "little")


def test_this_host_reads_its_own_proc():
    assert fs_identity("/proc").type == "proc"
