"""SEED judges can fail; their models reproduce what the documents print."""

from __future__ import annotations

import struct

import errno

from fixtures.outcome import Outcome, raised, returned
from suite.scenarios import seed
from tests.judges.helpers import RETURNED_NONE, SIGBUS, SIGSEGV, self_tests


def _ran(stdout: str, stderr: str = "", status: int = 0) -> Outcome:
    return returned({"stdout": stdout, "stderr": stderr, "status": status})


DOC_RUNS = tuple(_ran(text) for text in seed.DOC_T_MMAP_OUTPUT)
DOC_FILE = b"goodbye" + bytes(1017)
LONG = seed.TMmapCase(16, ("hi", "1234567890", None))
LONG_RUNS = (_ran('Current string=\nCopied "hi" to shared memory\n'),
             _ran("Current string=hi\n", "String too long (max 9 chars)\n", 1),
             _ran("Current string=hi\n"))
LONG_FILE = b"hi" + bytes(14)


def _steps(*lines: str) -> tuple[Outcome, ...]:
    return tuple(returned((line, None)) for line in lines)


COUNTER = seed.CounterCase("WWRWR", "late")
COUNTER_STEPS = _steps("Writer: counter = 1\n", "Writer: counter = 2\n", "Reader: counter = 2\n",
                       "Writer: counter = 3\n", "Reader: counter = 3\n")
OK = RETURNED_NONE

SENSOR_RAW, SENSOR_WRITTEN, SENSOR_READ = seed.expected_record(seed.DOC_SENSOR)


def _record(raw=SENSOR_RAW, written=SENSOR_WRITTEN, read=SENSOR_READ, msync=None, file=SENSOR_RAW) -> seed.RecordSeen:
    return seed.RecordSeen(returned({"stdout": written, "msync": msync}), returned({"stdout": read, "raw": raw}), file)


DEMO_OUT = seed.expected_private_demo(seed.DOC_PRIVATE_DEMO)
ORIGINAL = b"Original file content here.\n"

DOUBLED_FILE = b"84\n\0" + bytes(254)

CASES = {
    seed.judge_t_mmap_output: (seed.DOC_T_MMAP, seed.TMmapSeen(DOC_RUNS, DOC_FILE), [
        seed.TMmapSeen((_ran("Current string=\n"), DOC_RUNS[1]), DOC_FILE),  # the first run copied nothing
        seed.TMmapSeen((DOC_RUNS[0], _ran('Current string=\nCopied "goodbye" to shared memory\n')), DOC_FILE),
        seed.TMmapSeen(DOC_RUNS, b"goodbye\0\0\0hello" + bytes(1008)),
        seed.TMmapSeen(DOC_RUNS, b"hello" + bytes(1019)),  # the second store never reached the file
        seed.TMmapSeen(DOC_RUNS, DOC_FILE[:10]),  # the file shrank
        seed.TMmapSeen((DOC_RUNS[0], SIGBUS), DOC_FILE),
        seed.TMmapSeen((DOC_RUNS[0],), DOC_FILE)]),  # a run missing
    seed.judge_reader_sees_each_counter: (COUNTER, seed.CounterSeen(COUNTER_STEPS, OK, OK, struct.pack("i", 3)), [
        seed.CounterSeen(COUNTER_STEPS[:2] + _steps("Reader: counter = 0\n") + COUNTER_STEPS[3:], OK, OK,
                         struct.pack("i", 3)),  # the reader does not see the stores
        seed.CounterSeen(COUNTER_STEPS[:2] + _steps("Reader: counter = 1\n") + COUNTER_STEPS[3:], OK, OK,
                         struct.pack("i", 3)),  # a stale value
        seed.CounterSeen(COUNTER_STEPS[:3] + (returned(("Writer: counter = 3\n", "EIO")),)
                         + COUNTER_STEPS[4:], OK, OK, struct.pack("i", 3)),
        seed.CounterSeen(COUNTER_STEPS, OK, OK, struct.pack("i", 0)),  # the file does not hold the counter
        seed.CounterSeen(COUNTER_STEPS[:4] + (SIGSEGV,), OK, OK, struct.pack("i", 3)),
        seed.CounterSeen(COUNTER_STEPS, raised("SysError", errno.EINVAL, "munmap"), OK, struct.pack("i", 3)),
        seed.CounterSeen(COUNTER_STEPS, OK, SIGBUS, struct.pack("i", 3)),
        seed.CounterSeen(COUNTER_STEPS[:3], OK, OK, struct.pack("i", 3))]),
    seed.judge_record_reads_back: (seed.DOC_SENSOR, _record(), [
        _record(msync="EIO"),
        _record(written=SENSOR_WRITTEN.replace("36.6", "0.0")),
        _record(raw=bytes(len(SENSOR_RAW))),  # the new mapping sees zeros
        _record(read=SENSOR_READ.replace("ServerRoom-A", "")),
        _record(file=bytes(len(SENSOR_RAW))),  # read() sees zeros
        seed.RecordSeen(SIGBUS, SIGBUS, b"")]),
    seed.judge_private_demo_file_unchanged: (seed.DOC_PRIVATE_DEMO, seed.PrivateDemoSeen(returned(DEMO_OUT), ORIGINAL), [
        seed.PrivateDemoSeen(returned(DEMO_OUT), b"MODIFIED IN MEMORY ONLY re.\n"),
        seed.PrivateDemoSeen(returned(DEMO_OUT.replace("YES (MAP_PRIVATE confirmed)", "NO")), ORIGINAL),
        seed.PrivateDemoSeen(returned(DEMO_OUT.replace("MODIFIED IN MEMORY ONLY re.", ORIGINAL[:-1].decode())), ORIGINAL),
        seed.PrivateDemoSeen(SIGSEGV, ORIGINAL)]),
    seed.judge_number_doubled: (seed.DoublingCase(42), seed.DoublingSeen(OK, returned("Read integer: 42\n"), DOUBLED_FILE), [
        seed.DoublingSeen(OK, returned("Read integer: 22064\n"), DOUBLED_FILE),  # 004's scanf()
        seed.DoublingSeen(OK, returned("Read integer: 42\n"), b"42\n\0" + bytes(254)),
        seed.DoublingSeen(OK, returned("Read integer: 42\n"), DOUBLED_FILE[:256]),
        seed.DoublingSeen(SIGBUS, returned("Read integer: 42\n"), DOUBLED_FILE),
        seed.DoublingSeen(OK, raised("ValueError: sscanf() converted nothing"), DOUBLED_FILE)]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)


def test_t_mmap_model_prints_what_000_prints():
    runs, data = seed.expected_t_mmap(seed.DOC_T_MMAP)
    assert tuple(run.stdout for run in runs) == seed.DOC_T_MMAP_OUTPUT
    assert data == seed.DOC_T_MMAP_FILE == b"g" b"o" b"o" b"d" b"b" b"y" b"e" b"\0" + bytes(1016)
    assert len(data) == 0o2000


def test_t_mmap_model_for_too_long_and_plain_runs():
    runs, data = seed.expected_t_mmap(LONG)
    assert runs == tuple(seed.TMmapRun(**r.value) for r in LONG_RUNS)
    assert data == LONG_FILE
    assert seed.judge_t_mmap_output(LONG, seed.TMmapSeen(LONG_RUNS, LONG_FILE)).verdict == "holds"


def test_private_demo_model_prints_001s_lines():
    assert DEMO_OUT == ("Before modification: [Original file content here.\n]\n"
                        "After modification:  [MODIFIED IN MEMORY ONLY re.\n]\n"
                        "File on disk:        [Original file content here.\n]\n"
                        "File unchanged: YES (MAP_PRIVATE confirmed)\n")


def test_record_models_match_the_seeds_layouts_and_printf():
    assert len(SENSOR_RAW) == 44 and len(seed.expected_record(seed.DOC_RECORD)[0]) == 40  # sizeof on LP64
    assert SENSOR_WRITTEN == "Written: sensor 42, temp=36.6, hum=65.0, loc=ServerRoom-A\n"
    assert SENSOR_READ == "Read back: id=42 temp=36.6 hum=65.0 loc=ServerRoom-A\n"
    assert seed.expected_record(seed.DOC_RECORD)[1] == seed.DOC_RECORD_OUTPUT
    long_name = seed.RecordCase("Record", 1, 2, 0.0, b"n" * 40, "other")
    assert seed.expected_record(long_name)[0][4:36] == b"n" * 31 + b"\0"  # strncpy(name, s, 31)


def test_scan_int_is_sscanf_percent_d():
    assert [seed.scan_int(b) for b in (b"42\n", b"  -7\n", b"+3", b"-", b"x1", b"\0")] == [42, -7, 3, None, None, None]


def test_doubling_model():
    assert seed.expected_doubling(seed.DoublingCase(42)) == ("Read integer: 42\n", DOUBLED_FILE)
    assert seed.expected_doubling(seed.DoublingCase(-100))[1][:6] == b"-200\n\0"


def test_counter_reader_that_never_mapped_has_no_munmap():
    writes_only = seed.CounterCase("WW", "late")
    seen = seed.CounterSeen(_steps("Writer: counter = 1\n", "Writer: counter = 2\n"), OK, None, struct.pack("i", 2))
    assert seed.judge_reader_sees_each_counter(writes_only, seen).verdict == "holds"
