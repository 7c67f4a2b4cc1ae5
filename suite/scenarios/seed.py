"""SEED: the documents' own example programs, re-expressed in Python over fixtures.libc.

Each program runs as its own process (a forked child: ``probe`` for one run,
``Child`` where two programs run at the same time and must be sequenced) and
returns what it would print (its stdout, and stderr/exit status where the
program has error paths), so a judge compares the output with what the document
says the program prints, and the file with what the document says it holds.
C's printf("%s") is rendered as the bytes up to the first NUL.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from fixtures import libc
from fixtures.files import Workspace
from fixtures.outcome import Outcome, returned
from fixtures.probe import Child, probe
from harness.findings import Finding, holds, refuted

RW = libc.PROT_READ | libc.PROT_WRITE


def cstr(data: bytes) -> str:
    """What printf("%s") prints of a buffer: the bytes before the first NUL."""
    return data.split(b"\0", 1)[0].decode("latin-1")


def _perror(call: str, result: libc.CallResult) -> str:
    return f"{call}: {os.strerror(result.errno)}\n"


# ---------------------------------------------------------------- SEED-1: t_mmap (000)

MEM_SIZE = 10


@dataclass(frozen=True)
class TMmapCase:
    file_size: int  # the file starts as this many zero bytes (dd if=/dev/zero bs=1 count=1024 in 000)
    runs: tuple[str | None, ...]  # each run's new-string argument (None: run with the file argument only)


@dataclass(frozen=True)
class TMmapRun:
    stdout: str
    stderr: str
    status: int


@dataclass(frozen=True)
class TMmapSeen:
    runs: tuple[Outcome, ...]  # how each run (a process of its own) ended: returned TMmapRun fields as a dict
    file: bytes  # the file afterwards (read())


def t_mmap(path: str, new: str | None) -> dict:
    """000's t_mmap.c: map the first MEM_SIZE bytes shared, print the string there, optionally copy a new one and
    msync(MS_SYNC) it, unmap."""
    out, err = [], []
    fd = os.open(path, os.O_RDWR)
    mapped = libc.mmap(None, MEM_SIZE, RW, libc.MAP_SHARED, fd, 0)
    if not mapped.ok:
        return {"stdout": "", "stderr": _perror("mmap", mapped), "status": 1}
    os.close(fd)
    addr = mapped.value
    out.append(f"Current string={cstr(libc.read_bytes(addr, MEM_SIZE))}\n")
    if new is not None:
        if len(new) >= MEM_SIZE:
            err.append(f"String too long (max {MEM_SIZE - 1} chars)\n")
            return {"stdout": "".join(out), "stderr": "".join(err), "status": 1}
        libc.write_bytes(addr, new.encode("latin-1")[:MEM_SIZE - 1].ljust(MEM_SIZE - 1, b"\0"))  # strncpy
        libc.write_bytes(addr + MEM_SIZE - 1, b"\0")
        synced = libc.msync(addr, MEM_SIZE, libc.MS_SYNC)
        if not synced.ok:
            return {"stdout": "".join(out), "stderr": _perror("msync", synced), "status": 1}
        out.append(f'Copied "{new}" to shared memory\n')
    unmapped = libc.munmap(addr, MEM_SIZE)
    if not unmapped.ok:
        return {"stdout": "".join(out), "stderr": _perror("munmap", unmapped), "status": 1}
    return {"stdout": "".join(out), "stderr": "".join(err), "status": 0}


def run_t_mmap(workspace: Workspace, case: TMmapCase) -> TMmapSeen:
    with workspace.file(case.file_size) as path:
        runs = tuple(probe(t_mmap, str(path), new) for new in case.runs)
        data = path.read_bytes()
    return TMmapSeen(runs, data)


# 000, "Build and run sequence": the output of `./t_mmap s.txt hello`, `./t_mmap s.txt goodbye`, and od -c -w8 s.txt.
DOC_T_MMAP = TMmapCase(1024, ("hello", "goodbye"))
DOC_T_MMAP_OUTPUT = (
    'Current string=\nCopied "hello" to shared memory\n',
    'Current string=hello\nCopied "goodbye" to shared memory\n',
)
DOC_T_MMAP_FILE = b"goodbye\0" + bytes(0o2000 - 0o10)  # od: "g o o d b y e \0", then \0 lines ("*") to 0002000


def expected_t_mmap(case: TMmapCase) -> tuple[tuple[TMmapRun, ...], bytes]:
    """What the runs print and what the file holds, by t_mmap.c's logic."""
    data = bytearray(case.file_size)
    runs = []
    for new in case.runs:
        out = f"Current string={cstr(bytes(data[:MEM_SIZE]))}\n"
        if new is None:
            runs.append(TMmapRun(out, "", 0))
        elif len(new) >= MEM_SIZE:
            runs.append(TMmapRun(out, f"String too long (max {MEM_SIZE - 1} chars)\n", 1))
        else:
            data[:MEM_SIZE] = new.encode("latin-1").ljust(MEM_SIZE, b"\0")
            runs.append(TMmapRun(out + f'Copied "{new}" to shared memory\n', "", 0))
    return tuple(runs), bytes(data)


def judge_t_mmap_output(case: TMmapCase, seen: TMmapSeen) -> Finding:
    """SEED-1: every run prints what t_mmap prints (000's output for 'hello' then 'goodbye' on 1024 zero bytes) and
    the file ends as 000's od -c shows it."""
    runs, data = expected_t_mmap(case)
    if case == DOC_T_MMAP:
        runs = tuple(TMmapRun(text, "", 0) for text in DOC_T_MMAP_OUTPUT)
        data = DOC_T_MMAP_FILE
    for number, (want, got) in enumerate(zip(runs, seen.runs), 1):
        if not got.ok:
            return refuted(f"run #{number} ({case.runs[number - 1]!r}) did not finish: {got.describe()}")
        value = got.value
        if value["stdout"] != want.stdout:
            return refuted(f"run #{number} printed {value['stdout']!r}, not {want.stdout!r}")
        if (value["stderr"], value["status"]) != (want.stderr, want.status):
            return refuted(f"run #{number} ended with {value['status']} ({value['stderr']!r}), not {want.status}")
    if len(seen.runs) != len(runs):
        return refuted(f"{len(seen.runs)} runs seen, {len(runs)} made")
    if seen.file != data:
        if len(seen.file) != len(data):
            return refuted(f"the file is {len(seen.file)} bytes long, not {len(data)}")
        first = next(i for i, (a, b) in enumerate(zip(seen.file, data)) if a != b)
        return refuted(f"the file differs from offset {first}: {seen.file[first:first + 10]!r}, "
                       f"not {data[first:first + 10]!r}")
    return holds()


# ---------------------------------------------------------------- SEED-2: shm_writer / shm_reader (000)

INT = struct.Struct("i")  # sizeof(int), native byte order


@dataclass(frozen=True)
class CounterCase:
    schedule: str  # "W": the writer's next loop iteration (store, print, msync); "R": the reader's next read
    reader_maps: str  # "first": right after the writer's set-up; "late": just before its first read


@dataclass(frozen=True)
class CounterSeen:
    steps: tuple[Outcome, ...]  # how each step of the schedule ended, in order: returned (printed line, msync errno)
    writer_exit: Outcome  # the writer's munmap()
    reader_exit: Outcome | None  # the reader's munmap() (None: the reader never mapped the file)
    file: bytes


def shm_writer_open(path: str) -> int:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)  # the seed's 0644: the run directory keeps 0600
    os.ftruncate(fd, INT.size)
    addr = libc.checked("mmap", libc.mmap(None, INT.size, RW, libc.MAP_SHARED, fd, 0))
    os.close(fd)
    return addr


def shm_writer_step(addr: int) -> tuple[str, str | None]:
    (counter,) = INT.unpack(libc.read_bytes(addr, INT.size))
    libc.write_bytes(addr, INT.pack(counter + 1))
    (counter,) = INT.unpack(libc.read_bytes(addr, INT.size))
    line = f"Writer: counter = {counter}\n"
    return line, libc.msync(addr, INT.size, libc.MS_SYNC).errno_name  # the seed's sleep(1) is the rendezvous


def shm_reader_open(path: str) -> int:
    fd = os.open(path, os.O_RDWR)
    addr = libc.checked("mmap", libc.mmap(None, INT.size, RW, libc.MAP_SHARED, fd, 0))
    os.close(fd)
    return addr


def shm_reader_step(addr: int) -> tuple[str, None]:
    (counter,) = INT.unpack(libc.read_bytes(addr, INT.size))
    return f"Reader: counter = {counter}\n", None


def shm_close(addr: int) -> None:
    libc.checked("munmap", libc.munmap(addr, INT.size))


def run_counter(workspace: Workspace, case: CounterCase) -> CounterSeen:
    """Writer and reader as two processes, each opening and mapping the file itself; every step is a rendezvous."""
    with workspace.file(0) as path:
        path.unlink()  # shm_writer creates the file (O_CREAT)
        with Child() as writer, Child() as reader:
            w_addr = writer.call(shm_writer_open, str(path)).value_or_raise("set-up writer")
            r_addr = None
            if case.reader_maps == "first":
                r_addr = reader.call(shm_reader_open, str(path)).value_or_raise("set-up reader")
            steps = []
            for step in case.schedule:
                if step == "W":
                    steps.append(writer.call(shm_writer_step, w_addr))
                else:
                    if r_addr is None:
                        r_addr = reader.call(shm_reader_open, str(path)).value_or_raise("set-up reader")
                    steps.append(reader.call(shm_reader_step, r_addr))
            writer_exit = writer.call(shm_close, w_addr)
            reader_exit = reader.call(shm_close, r_addr) if r_addr is not None else None
        data = path.read_bytes()
    return CounterSeen(tuple(steps), writer_exit, reader_exit, data)


DOC_COUNTER = CounterCase("WR" * 5, "first")  # two terminals, the writer first; each loops 5 times, a second apart


def judge_reader_sees_each_counter(case: CounterCase, seen: CounterSeen) -> Finding:
    """SEED-2: the writer prints counter = 1, 2, ...; each read prints the number of stores made before it; msync()
    succeeds; after both exit the file holds the last value as an int."""
    stores = 0
    for number, (step, got) in enumerate(zip(case.schedule, seen.steps), 1):
        if not got.ok:
            return refuted(f"step #{number} ({step}) did not finish: {got.describe()}")
        line, msync_error = got.value
        if step == "W":
            stores += 1
            want = f"Writer: counter = {stores}\n"
        else:
            want = f"Reader: counter = {stores}\n"
        if line != want:
            return refuted(f"step #{number}: printed {line!r}, not {want!r}")
        if msync_error is not None:
            return refuted(f"step #{number}: msync(MS_SYNC) failed with {msync_error}")
    if len(seen.steps) != len(case.schedule):
        return refuted(f"{len(seen.steps)} steps seen, {len(case.schedule)} scheduled")
    for who, ended in (("writer", seen.writer_exit), ("reader", seen.reader_exit)):
        if ended is not None and not ended.ok:
            return refuted(f"the {who}'s munmap() failed: {ended.describe()}")
    if seen.file != INT.pack(stores):
        return refuted(f"after both exit the file holds {seen.file.hex()}, not the int {stores}")
    return holds()


# ---------------------------------------------------------------- SEED-3: struct over a shared mapping (000, 003)


# The seeds' structs as (field, struct format) in declaration order; native alignment ("@") as the C compiler lays
# them out. Fields are stored and loaded one by one through the mapping at their offsets (no struct-wide copy).
LAYOUTS = {
    "SensorRecord": (("sensor_id", "i"), ("temperature", "f"), ("humidity", "f"), ("location", "32s")),  # 000
    "Record": (("record_id", "i"), ("name", "32s"), ("value", "i")),  # 003
}


def _fields(layout: str) -> list[tuple[str, str, int]]:
    """(name, format, offset) of each field."""
    out, prefix = [], "@"
    for name, fmt in LAYOUTS[layout]:
        size = struct.calcsize(prefix + fmt) - struct.calcsize(fmt)  # offset = aligned end of the preceding fields
        out.append((name, fmt, size))
        prefix += fmt
    return out


def sizeof(layout: str) -> int:
    return struct.calcsize("@" + "".join(fmt for _, fmt in LAYOUTS[layout]))


@dataclass(frozen=True)
class RecordCase:
    layout: str  # "SensorRecord" (000) or "Record" (003)
    ident: int  # sensor_id / record_id
    first: float | int  # temperature (a float) / value (an int)
    second: float  # humidity (SensorRecord only)
    text: bytes  # location / name, strncpy()'d with sizeof - 1 (no NUL bytes)
    read_back_by: str  # "same" process (the seed) or "other" process


@dataclass(frozen=True)
class RecordSeen:
    writer: Outcome  # how the writing program ended: returned {"stdout", "msync"}
    reader: Outcome  # how the read-back ended: returned {"stdout", "raw"} (raw: the bytes seen through the new mapping)
    file: bytes  # read() of the file afterwards


def _values(case: RecordCase) -> dict:
    if case.layout == "SensorRecord":
        return {"sensor_id": case.ident, "temperature": case.first, "humidity": case.second, "location": case.text}
    return {"record_id": case.ident, "name": case.text, "value": case.first}


def _store_fields(addr: int, case: RecordCase) -> None:
    """rec->field = value for each field; strncpy(dst, src, sizeof(dst) - 1) for the strings (the last byte keeps
    ftruncate()'s zero)."""
    values = _values(case)
    for name, fmt, offset in _fields(case.layout):
        if fmt.endswith("s"):
            width = struct.calcsize(fmt) - 1
            libc.write_bytes(addr + offset, values[name][:width].ljust(width, b"\0"))
        else:
            libc.write_bytes(addr + offset, struct.pack(fmt, values[name]))


def _load_fields(addr: int, layout: str) -> dict:
    fields = {}
    for name, fmt, offset in _fields(layout):
        (value,) = struct.unpack(fmt, libc.read_bytes(addr + offset, struct.calcsize(fmt)))
        fields[name] = cstr(value) if fmt.endswith("s") else value
    return fields


def _written_line(rec: dict, layout: str) -> str:
    if layout == "SensorRecord":
        return (f"Written: sensor {rec['sensor_id']}, temp={rec['temperature']:.1f}, hum={rec['humidity']:.1f}, "
                f"loc={rec['location']}\n")
    return f"Record flushed to disk: id={rec['record_id']} name={rec['name']} value={rec['value']}\n"


def _read_line(rec: dict, layout: str) -> str:
    if layout == "SensorRecord":
        return (f"Read back: id={rec['sensor_id']} temp={rec['temperature']:.1f} hum={rec['humidity']:.1f} "
                f"loc={rec['location']}\n")
    return f"Read back: id={rec['record_id']} name={rec['name']} value={rec['value']}\n"


def record_write(path: str, case: RecordCase) -> dict:
    """open(O_CREAT|O_RDWR|O_TRUNC), ftruncate(sizeof), MAP_SHARED, assign the fields, msync(MS_SYNC), print, munmap."""
    size = sizeof(case.layout)
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)  # the seed's 0644: the run directory keeps 0600
    os.ftruncate(fd, size)
    addr = libc.checked("mmap", libc.mmap(None, size, RW, libc.MAP_SHARED, fd, 0))
    os.close(fd)
    _store_fields(addr, case)
    synced = libc.msync(addr, size, libc.MS_SYNC)
    line = _written_line(_load_fields(addr, case.layout), case.layout)
    libc.checked("munmap", libc.munmap(addr, size))
    return {"stdout": line, "msync": synced.errno_name}


def record_read(path: str, layout: str) -> dict:
    """open(O_RDONLY), a new PROT_READ, MAP_SHARED mapping, print the fields, munmap."""
    size = sizeof(layout)
    fd = os.open(path, os.O_RDONLY)
    addr = libc.checked("mmap read", libc.mmap(None, size, libc.PROT_READ, libc.MAP_SHARED, fd, 0))
    os.close(fd)
    line, raw = _read_line(_load_fields(addr, layout), layout), libc.read_bytes(addr, size)
    libc.checked("munmap", libc.munmap(addr, size))
    return {"stdout": line, "raw": raw}


def record_write_then_read(path: str, case: RecordCase) -> tuple[dict, dict]:
    return record_write(path, case), record_read(path, case.layout)


def run_record(workspace: Workspace, case: RecordCase) -> RecordSeen:
    with workspace.file(0) as path:
        if case.read_back_by == "same":
            both = probe(record_write_then_read, str(path), case)
            writer, reader = (returned(part) for part in both.value) if both.ok else (both, both)
        else:
            writer = probe(record_write, str(path), case)
            reader = probe(record_read, str(path), case.layout)
        data = path.read_bytes()
    return RecordSeen(writer, reader, data)


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def expected_record(case: RecordCase) -> tuple[bytes, str, str]:
    """The struct's bytes and the two printed lines, from the case alone."""
    text = case.text[:31].ljust(32, b"\0")
    shown = cstr(text)
    if case.layout == "SensorRecord":
        raw = struct.pack("@iff32s", case.ident, case.first, case.second, text)
        temp, hum = _f32(case.first), _f32(case.second)
        return (raw, f"Written: sensor {case.ident}, temp={temp:.1f}, hum={hum:.1f}, loc={shown}\n",
                f"Read back: id={case.ident} temp={temp:.1f} hum={hum:.1f} loc={shown}\n")
    raw = struct.pack("@i32si", case.ident, text, case.first)
    return (raw, f"Record flushed to disk: id={case.ident} name={shown} value={case.first}\n",
            f"Read back: id={case.ident} name={shown} value={case.first}\n")


DOC_SENSOR = RecordCase("SensorRecord", 42, 36.6, 65.0, b"ServerRoom-A", "same")  # 000's struct_mmap.c
DOC_RECORD = RecordCase("Record", 42, 37, 0.0, b"temperature", "same")  # 003's example
DOC_RECORD_OUTPUT = "Record flushed to disk: id=42 name=temperature value=37\n"  # what 003's printf prints


def judge_record_reads_back(case: RecordCase, seen: RecordSeen) -> Finding:
    """SEED-3: msync() succeeds; the program prints the fields it stored; a new read-only shared mapping of an
    O_RDONLY descriptor shows the struct byte for byte, and so does read()."""
    raw, written, read_back = expected_record(case)
    if not seen.writer.ok:
        return refuted(f"the writing program did not finish: {seen.writer.describe()}")
    writer = seen.writer.value
    if writer["msync"] is not None:
        return refuted(f"msync(MS_SYNC) failed with {writer['msync']}")
    if writer["stdout"] != written:
        return refuted(f"the writer printed {writer['stdout']!r}, not {written!r}")
    if not seen.reader.ok:
        return refuted(f"the read-back did not finish: {seen.reader.describe()}")
    reader = seen.reader.value
    if reader["raw"] != raw:
        return refuted(f"the new read-only mapping shows {reader['raw'].hex()}, not {raw.hex()}")
    if reader["stdout"] != read_back:
        return refuted(f"the read-back printed {reader['stdout']!r}, not {read_back!r}")
    if seen.file != raw:
        return refuted(f"the file holds {seen.file.hex()}, not the struct {raw.hex()}")
    return holds()


# ---------------------------------------------------------------- SEED-4: the private-mapping demo (001)


@dataclass(frozen=True)
class PrivateDemoCase:
    content: bytes  # written to the file with write() (no NUL; at most 63 bytes: the demo reads back 63)
    modification: bytes  # memcpy()'d to the start of the MAP_PRIVATE mapping (at most a page; no NUL)


@dataclass(frozen=True)
class PrivateDemoSeen:
    demo: Outcome  # how the demo process ended: returned its stdout
    file: bytes  # read() of the file after the demo (the demo's own unlink() is left to the workspace)


def private_demo(path: str, text: bytes, modification: bytes) -> str:
    """001's demo: create and write the file, MAP_PRIVATE PROT_READ|PROT_WRITE, print, memcpy, print, munmap,
    read() the file back and compare."""
    out = []
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)  # the seed's 0644: the run directory keeps 0600
    os.write(fd, text)
    size = os.fstat(fd).st_size
    addr = libc.checked("mmap", libc.mmap(None, size, RW, libc.MAP_PRIVATE, fd, 0))
    os.close(fd)
    page_end = libc.round_up(size, libc.PAGE_SIZE)  # %s reads up to the NUL: the zero fill after EOF in its page
    out.append(f"Before modification: [{cstr(libc.read_bytes(addr, page_end))}]\n")
    libc.write_bytes(addr, modification)
    out.append(f"After modification:  [{cstr(libc.read_bytes(addr, page_end))}]\n")
    libc.checked("munmap", libc.munmap(addr, size))
    fd = os.open(path, os.O_RDONLY)
    buf = os.read(fd, 63)
    os.close(fd)
    out.append(f"File on disk:        [{cstr(buf)}]\n")
    out.append(f"File unchanged: {'YES (MAP_PRIVATE confirmed)' if cstr(buf) == cstr(text) else 'NO'}\n")
    return "".join(out)


def run_private_demo(workspace: Workspace, case: PrivateDemoCase) -> PrivateDemoSeen:
    with workspace.file(0) as path:
        demo = probe(private_demo, str(path), case.content, case.modification)
        data = path.read_bytes()
    return PrivateDemoSeen(demo, data)


DOC_PRIVATE_DEMO = PrivateDemoCase(b"Original file content here.\n", b"MODIFIED IN MEMORY ONLY ")


def expected_private_demo(case: PrivateDemoCase) -> str:
    modified = case.modification + case.content[len(case.modification):]
    original = case.content.decode("latin-1")
    return (f"Before modification: [{original}]\n"
            f"After modification:  [{modified.decode('latin-1')}]\n"
            f"File on disk:        [{original}]\n"
            "File unchanged: YES (MAP_PRIVATE confirmed)\n")


def judge_private_demo_file_unchanged(case: PrivateDemoCase, seen: PrivateDemoSeen) -> Finding:
    """SEED-4: the demo prints the modified text in memory, the original text from the file and 'YES'; the file
    still holds the original text."""
    if not seen.demo.ok:
        return refuted(f"the demo did not finish: {seen.demo.describe()}")
    want = expected_private_demo(case)
    if seen.demo.value != want:
        return refuted(f"the demo printed {seen.demo.value!r}, not {want!r}")
    if seen.file != case.content:
        return refuted(f"the file holds {seen.file!r}, not the original {case.content!r}")
    return holds()


# ---------------------------------------------------------------- SEED-5: write.c / read.c (004)

FILE_LENGTH = 0x100


@dataclass(frozen=True)
class DoublingCase:
    number: int  # what write.c stores (getRandom(-100, 100) in 004)


@dataclass(frozen=True)
class DoublingSeen:
    writer: Outcome  # how write.c's process ended
    reader: Outcome  # how read.c's process ended: returned its stdout
    file: bytes


def mmap_write(path: str, number: int) -> None:
    """004's write.c: open(O_RDWR|O_CREAT), lseek(FILE_LENGTH + 1) and write one byte, MAP_SHARED with PROT_WRITE,
    sprintf("%d\\n"), munmap."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.lseek(fd, FILE_LENGTH + 1, os.SEEK_SET)
    os.write(fd, b"\0")  # write(fd, "", 1): the string's terminating NUL
    os.lseek(fd, 0, os.SEEK_SET)
    addr = libc.checked("mmap", libc.mmap(None, FILE_LENGTH, libc.PROT_WRITE, libc.MAP_SHARED, fd, 0))
    libc.write_bytes(addr, f"{number}\n".encode() + b"\0")  # sprintf writes the NUL too
    libc.checked("munmap", libc.munmap(addr, FILE_LENGTH))
    os.close(fd)


def scan_int(data: bytes) -> int | None:
    """sscanf("%d"): leading white space, an optional sign, digits; None when nothing converts."""
    text = data.split(b"\0", 1)[0].decode("latin-1").lstrip(" \t\n\v\f\r")
    digits = 1 if text[:1] in ("+", "-") else 0
    while digits < len(text) and text[digits].isdigit():
        digits += 1
    return int(text[:digits]) if digits and text[:digits] not in ("+", "-") else None


def mmap_read(path: str) -> str:
    """004's read.c (with the sscanf() its text describes): MAP_SHARED PROT_READ|PROT_WRITE, parse, print, store
    the double, munmap."""
    fd = os.open(path, os.O_RDWR)
    addr = libc.checked("mmap", libc.mmap(None, FILE_LENGTH, RW, libc.MAP_SHARED, fd, 0))
    integer = scan_int(libc.read_bytes(addr, FILE_LENGTH))
    if integer is None:
        raise ValueError("sscanf() converted nothing")
    out = f"Read integer: {integer}\n"
    libc.write_bytes(addr, f"{2 * integer}\n".encode() + b"\0")
    libc.checked("munmap", libc.munmap(addr, FILE_LENGTH))
    os.close(fd)
    return out


def run_doubling(workspace: Workspace, case: DoublingCase) -> DoublingSeen:
    with workspace.file(0) as path:
        writer = probe(mmap_write, str(path), case.number)
        reader = probe(mmap_read, str(path))
        data = path.read_bytes()
    return DoublingSeen(writer, reader, data)


def expected_doubling(case: DoublingCase) -> tuple[str, bytes]:
    data = bytearray(FILE_LENGTH + 2)  # lseek(FILE_LENGTH + 1) and one byte written: FILE_LENGTH + 2 bytes
    for text in (f"{case.number}\n", f"{2 * case.number}\n"):
        stored = text.encode() + b"\0"
        data[:len(stored)] = stored
    return f"Read integer: {case.number}\n", bytes(data)


def judge_number_doubled(case: DoublingCase, seen: DoublingSeen) -> Finding:
    """SEED-5: read.c prints the number write.c stored and leaves its double (as "%d\\n") in the file."""
    if not seen.writer.ok:
        return refuted(f"write.c did not finish: {seen.writer.describe()}")
    if not seen.reader.ok:
        return refuted(f"read.c did not finish: {seen.reader.describe()}")
    printed, data = expected_doubling(case)
    if seen.reader.value != printed:
        return refuted(f"read.c printed {seen.reader.value!r}, not {printed!r}")
    if seen.file != data:
        return refuted(f"the file holds {seen.file[:16]!r}... ({len(seen.file)} bytes), not {data[:16]!r}... "
                       f"({len(data)} bytes)")
    return holds()
