"""GEOM judges can fail."""

from __future__ import annotations

from fixtures.libc import MAP_FAILED
from fixtures.outcome import returned
from suite.scenarios import geom
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, SIGSEGV, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

UNALIGNED = geom.MmapCall(PAGE, "O_RDONLY", ("PROT_READ",), ("MAP_PRIVATE",), 100, 100, PAGE + 1)
BOTH = geom.MmapCall(PAGE, "O_RDWR", ("PROT_READ", "PROT_WRITE"), ("MAP_SHARED", "MAP_PRIVATE"), 100, 100, 0)

OFFSET = geom.OffsetMap(PAGE, "O_RDONLY", ("PROT_READ",), "MAP_SHARED", 3 * PAGE, 7, PAGE, PAGE)
CONTENT = pattern(7, 3 * PAGE)
SECOND_PAGE = CONTENT[PAGE:2 * PAGE]

FAILING = geom.FailingCall(PAGE, "zero-length", "O_RDONLY", ("PROT_READ",), ("MAP_PRIVATE",), 100, 0, 0, None)

LENGTH = geom.UnalignedLength(PAGE, "O_RDWR", ("PROT_READ", "PROT_WRITE"), "MAP_SHARED", 2 * PAGE, 3, 0, 100, 5)
ENTRY = {"start": 0, "end": PAGE, "perms": "rw-s", "offset": 0, "device": "fe:00", "inode": 7, "path": "/f"}
TAIL = returned(pattern(3, 2 * PAGE)[100:PAGE])

FIXED = geom.FixedMap(PAGE, "PROT_NONE reservation", 4, 1, "O_RDONLY", ("PROT_READ",), "MAP_PRIVATE", 100, 3, 0, 100)
FIXED_ENTRY = dict(ENTRY, perms="r--p")
BELOW = {"start": -PAGE, "end": 0, "perms": "---p", "offset": 0, "device": "00:00", "inode": 0, "path": ""}
ABOVE = dict(BELOW, start=PAGE, end=3 * PAGE)
LOADS = returned(pattern(3, 100))
FILE, ANON = ("fe:00", 7), ("00:00", 0)  # (device, inode) as /proc/self/maps shows them

HINT = geom.Hint(PAGE, "O_RDONLY", ("PROT_READ",), "MAP_PRIVATE", 100, 0, 100, 2, 1, 2, 0)
RESERVED = dict(BELOW, start=0, end=2 * PAGE)

CASES = {
    geom.judge_fails_einval_no_mapping: (UNALIGNED, geom.MmapCallSeen("EINVAL", 0, None), [
        geom.MmapCallSeen(None, 1, "r--p"), geom.MmapCallSeen("EACCES", 0, None), geom.MmapCallSeen("EINVAL", 1, None)]),
    geom.judge_shared_private_rejected: (BOTH, geom.MmapCallSeen("EINVAL", 0, None), [
        geom.MmapCallSeen(None, 1, "rw-s"), geom.MmapCallSeen("EOPNOTSUPP", 0, None)]),
    geom.judge_byte_i_is_file_byte_offset_plus_i: (OFFSET, geom.OffsetMapSeen(returned(SECOND_PAGE)), [
        geom.OffsetMapSeen(returned(CONTENT[:PAGE])),  # the offset ignored
        geom.OffsetMapSeen(returned(SECOND_PAGE[:-1] + bytes([SECOND_PAGE[-1] ^ 1]))),
        geom.OffsetMapSeen(returned(SECOND_PAGE[:-1])),
        geom.OffsetMapSeen(SIGBUS)]),
    geom.judge_returns_map_failed: (FAILING, geom.RawSeen(MAP_FAILED, "EINVAL"), [
        geom.RawSeen(0, "EINVAL"), geom.RawSeen(MAP_FAILED, None), geom.RawSeen(0x7F0000000000, "EINVAL")]),
    geom.judge_whole_last_page_mapped: (LENGTH, geom.UnalignedLengthSeen(ENTRY, TAIL, RETURNED_NONE, None), [
        geom.UnalignedLengthSeen(None, TAIL, RETURNED_NONE, None),
        geom.UnalignedLengthSeen(dict(ENTRY, end=2 * PAGE), TAIL, RETURNED_NONE, None),
        geom.UnalignedLengthSeen(ENTRY, SIGSEGV, None, None),
        geom.UnalignedLengthSeen(ENTRY, returned(bytes(PAGE - 100)), RETURNED_NONE, None),
        geom.UnalignedLengthSeen(ENTRY, TAIL, SIGSEGV, None),
        geom.UnalignedLengthSeen(ENTRY, TAIL, RETURNED_NONE, "EINVAL")]),
    geom.judge_fixed_at_addr_replacing_range: (FIXED, geom.FixedMapSeen(0, FILE, ANON, FIXED_ENTRY, BELOW, ABOVE, LOADS), [
        geom.FixedMapSeen(PAGE, FILE, ANON, FIXED_ENTRY, BELOW, ABOVE, LOADS),
        geom.FixedMapSeen("EINVAL", FILE, ANON, None, BELOW, ABOVE, None),
        geom.FixedMapSeen(0, FILE, ANON, dict(FIXED_ENTRY, inode=0), BELOW, ABOVE, LOADS),
        geom.FixedMapSeen(0, FILE, ANON, dict(FIXED_ENTRY, device="00:21"), BELOW, ABOVE, LOADS),  # another file, same inode
        geom.FixedMapSeen(0, FILE, ANON, FIXED_ENTRY, dict(BELOW, inode=9, device="fe:00"), ABOVE, LOADS),
        geom.FixedMapSeen(0, FILE, ANON, dict(FIXED_ENTRY, offset=PAGE), BELOW, ABOVE, LOADS),
        geom.FixedMapSeen(0, FILE, ANON, FIXED_ENTRY, None, ABOVE, LOADS),
        geom.FixedMapSeen(0, FILE, ANON, FIXED_ENTRY, BELOW, dict(ABOVE, start=2 * PAGE), LOADS),
        geom.FixedMapSeen(0, FILE, ANON, FIXED_ENTRY, BELOW, ABOVE, returned(bytes(100)))]),
    geom.judge_hint_only_a_hint: (HINT, geom.HintSeen(None, True, None, False, RESERVED, RESERVED), [
        geom.HintSeen(None, True, None, True, RESERVED, dict(FIXED_ENTRY, start=0)),
        geom.HintSeen(None, True, None, False, RESERVED, dict(RESERVED, end=PAGE)),
        geom.HintSeen(None, True, "ENOMEM", None, RESERVED, RESERVED),
        geom.HintSeen("ENOMEM", None, None, False, RESERVED, RESERVED)]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)
