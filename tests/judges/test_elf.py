"""ELF judges can fail."""

from __future__ import annotations

from suite.scenarios import elf
from tests.judges.helpers import self_tests

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBZ = "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"


def _entry(path: str, perms: str, offset: int = 0, inode: int = 7, start: int = 0x1000, end: int = 0x5000) -> dict:
    return {"start": start, "end": end, "perms": perms, "offset": offset, "device": "fe:00", "inode": inode,
            "path": path}


LIBC_MAPS = (_entry(LIBC, "r--p"), _entry(LIBC, "r-xp", 0x26000), _entry(LIBC, "r--p", 0x17c000),
             _entry(LIBC, "rw-p", 0x1d3000))
LIBZ_MAPS = (_entry(LIBZ, "r--p", inode=8), _entry(LIBZ, "r-xp", 0x2000, inode=8))
DLOPEN_Z = elf.LibrariesCase("forked", "libz.so.1")

MINE = _entry(LIBC, "r-xp", 0x26000, start=0x10000, end=0x14000)  # four pages
THEIRS = _entry(LIBC, "r-xp", 0x26000, start=0x90000, end=0x94000)
TOUCH_TWO = elf.SharedTextCase("python", "libc", (0.0, 0.5))
SHARED = elf.SharedTextSeen(MINE, THEIRS, (0, 2), (11, 12, 13, None), (11, None, 13, 99))

CASES = {
    elf.judge_library_code_private_rx: (DLOPEN_Z, elf.LibrariesSeen(LIBC_MAPS + LIBZ_MAPS), [
        elf.LibrariesSeen(LIBZ_MAPS),  # no C library
        elf.LibrariesSeen(LIBC_MAPS),  # the dlopen()ed library is missing
        elf.LibrariesSeen((_entry(LIBC, "r--p"), _entry(LIBC, "rwxp", 0x26000)) + LIBZ_MAPS),  # writable code
        elf.LibrariesSeen((_entry(LIBC, "r--p"), _entry(LIBC, "r-xs", 0x26000)) + LIBZ_MAPS),  # shared code
        elf.LibrariesSeen((_entry(LIBC, "r--p"), _entry(LIBC, "--xp", 0x26000)) + LIBZ_MAPS),  # unreadable code
        elf.LibrariesSeen(LIBC_MAPS + (_entry(LIBZ, "r--p", inode=8),)),  # libz has no code mapping
    ]),
    elf.judge_text_frames_shared: (TOUCH_TWO, SHARED, [
        elf.SharedTextSeen(MINE, THEIRS, (0, 2), (11, 12, 13, None), (11, None, 14, None)),  # another frame
        elf.SharedTextSeen(MINE, THEIRS, (0, 2), (11, 12, 13, None), (11, None, None, None)),  # touched page absent
        elf.SharedTextSeen(MINE, THEIRS, (0, 2), (None, 12, 13, None), (11, None, 13, None)),  # absent here
        elf.SharedTextSeen(MINE, None, (0, 2), (11, 12, 13, None), ()),  # not mapped there
        elf.SharedTextSeen(MINE, dict(THEIRS, inode=9), (0, 2), (11, 12, 13, None), (11, None, 13, None)),  # other file
        elf.SharedTextSeen(MINE, THEIRS, (), (None, 12, None, None), (11, None, 13, None)),  # nothing in common
        # their mapping one page further into the file: offsets are compared, not indices
        elf.SharedTextSeen(MINE, dict(THEIRS, offset=0x27000), (0, 2), (11, 12, 13, 14), (12, 13, 14, 15)),
    ]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)


def test_frames_compared_by_file_offset():
    shifted = elf.SharedTextSeen(MINE, dict(THEIRS, offset=0x27000), (), (11, 12, 13, 14), (12, 13, 14, None))
    assert elf.judge_text_frames_shared(elf.SharedTextCase("cat", "libc", None), shifted).verdict == "holds"


def test_shared_object_names():
    entries = [_entry(LIBC, "r-xp"), _entry("/usr/lib/locale/locale-archive", "r--p"), _entry("[vdso]", "r-xp", inode=0),
               _entry("/x/_ctypes.cpython-311-x86_64-linux-gnu.so", "r-xp")]
    assert [e["path"] for e in elf.shared_object_mappings(entries)] == [LIBC, "/x/_ctypes.cpython-311-x86_64-linux-gnu.so"]
    assert elf.is_libc(LIBC) and elf.is_libc("/lib/libc-2.31.so") and not elf.is_libc("/lib/libcrypt.so.1")
