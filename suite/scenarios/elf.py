"""ELF: how loaded programs use private file mappings (001): shared libraries' code.

The processes looked at: this one ("self"), a forked child ("forked": it
inherits this process's mappings), and independently started programs: the
interpreter under test run afresh ("python": it maps its libraries itself) and
cat(1) ("cat"). Started programs are sequenced by a handshake on their pipes
(never by sleeping): "python" prints a line once it has done its part; "cat"
echoes a line once it is in its copy loop, i.e. after the dynamic loader has
finished. The scenario stops and reaps every process it starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from fixtures import libc
from fixtures.pages import page_frames
from fixtures.probe import Child, probe
from harness.findings import Finding, holds, refuted

if TYPE_CHECKING:
    import subprocess

PAGE = libc.PAGE_SIZE
HANDSHAKE_TIMEOUT = 30.0
SHARED_OBJECT = re.compile(r"\.so(\.|$)")
LIBC = re.compile(r"^libc(\.so|-[0-9.]+\.so)")
# The libraries ELF-2 compares: the C library, and the dynamic loader (its name is the architecture's:
# ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld64.so.2 on ppc64le, ld64.so.1 on s390x).
LIBRARIES = ("libc", "loader")


def cat_program() -> str | None:
    """cat's path, looked up in PATH as a shell would (shutil.which would import zlib, bz2 and lzma into the scenario
    server)."""
    found = (os.path.join(directory, "cat") for directory in os.get_exec_path())
    return next((path for path in found if os.path.isfile(path) and os.access(path, os.X_OK)), None)


def parse_maps(text: str) -> list[dict]:
    entries = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        entries.append({"start": start, "end": end, "perms": fields[1], "offset": int(fields[2], 16),
                        "device": fields[3], "inode": int(fields[4]), "path": fields[5] if len(fields) > 5 else ""})
    return entries


def maps_of(pid: int | str = "self") -> list[dict]:
    return parse_maps(Path(f"/proc/{pid}/maps").read_text())


def shared_object_mappings(entries: list[dict]) -> tuple[dict, ...]:
    """The mappings of shared-object files (basename with '.so' as a suffix or followed by a version)."""
    return tuple(e for e in entries if e["inode"] and SHARED_OBJECT.search(e["path"].rsplit("/", 1)[-1]))


def _stem(soname: str) -> str:
    return soname.split(".so", 1)[0] + ".so"


@contextlib.contextmanager
def started(argv: list[str], greeting: bytes | None) -> Iterator[subprocess.Popen]:
    """Start a program with pipes; if ``greeting`` is given, write it to the program's stdin. Yield once a line
    came back on its stdout (the handshake), then close its stdin and reap it (killing it if it lingers)."""
    import subprocess  # not at the top: it imports threading, which makes every fork in a scenario server dearer
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            close_fds=True)
    try:
        if greeting is not None:
            proc.stdin.write(greeting)
            proc.stdin.flush()
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([proc.stdout], [], [], wait)[0]:
                raise TimeoutError(f"{argv[0]} gave no handshake within {HANDSHAKE_TIMEOUT} s")
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                raise RuntimeError(f"{argv[0]} exited before its handshake (status {proc.wait()})")
            line += chunk
        yield proc
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=HANDSHAKE_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


# ---------------------------------------------------------------- ELF-1


@dataclass(frozen=True)
class LibrariesCase:
    process: str  # "self", "forked", "python" or "cat"
    dlopen: str | None  # a library the process loads with dlopen() before its maps are read (not for "cat")


@dataclass(frozen=True)
class LibrariesSeen:
    mappings: tuple[dict, ...]  # /proc/PID/maps entries of shared-object files in that process


def _dlopen_then_maps(name: str | None) -> tuple[dict, ...]:
    if name:
        libc.dlopen(name)
    return shared_object_mappings(maps_of())


ROOT = str(Path(__file__).resolve().parents[2])  # the repository: started interpreters import fixtures from it
PYTHON_LOADER = f"""\
import sys
sys.path.insert(0, {ROOT!r})
from fixtures import libc
if sys.argv[1]:
    libc.dlopen(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
"""


def library_mappings(case: LibrariesCase) -> LibrariesSeen:
    """The shared-object mappings of the chosen process, read from its /proc/PID/maps."""
    if case.process == "self":
        return LibrariesSeen(_dlopen_then_maps(case.dlopen))
    if case.process == "forked":
        return LibrariesSeen(probe(_dlopen_then_maps, case.dlopen).value_or_raise("set-up maps of the forked child"))
    if case.process == "python":
        with started([sys.executable, "-c", PYTHON_LOADER, case.dlopen or ""], None) as proc:
            return LibrariesSeen(shared_object_mappings(maps_of(proc.pid)))
    with started([cat_program()], b"ready\n") as proc:
        return LibrariesSeen(shared_object_mappings(maps_of(proc.pid)))


def is_libc(path: str) -> bool:
    return bool(LIBC.search(path.rsplit("/", 1)[-1]))


def program_interpreter(executable: str = "/proc/self/exe") -> str | None:
    """The dynamic loader an ELF executable names (its PT_INTERP), in either ELF class and byte order; None for
    a static program."""
    with open(executable, "rb") as handle:
        header = handle.read(64)
        if header[:4] != b"\x7fELF":
            return None
        order = "<" if header[5] == 1 else ">"
        if header[4] == 2:  # ELFCLASS64
            phoff, = struct.unpack_from(order + "Q", header, 0x20)
            entry_size, count = struct.unpack_from(order + "HH", header, 0x36)
            layout = order + "IIQ16xQ"  # p_type, p_flags, p_offset, p_filesz
        else:
            phoff, = struct.unpack_from(order + "I", header, 0x1C)
            entry_size, count = struct.unpack_from(order + "HH", header, 0x2A)
            layout = order + "II8xI"  # p_type, p_offset, p_filesz (p_flags comes later in ELF32)
        handle.seek(phoff)
        table = handle.read(entry_size * count)
        for index in range(count):
            fields = struct.unpack_from(layout, table, index * entry_size)
            if fields[0] == 3:  # PT_INTERP
                offset, size = (fields[2], fields[3]) if header[4] == 2 else (fields[1], fields[2])
                handle.seek(offset)
                return handle.read(size).rstrip(b"\0").decode()
    return None


def library_basename_matches(library: str) -> re.Pattern:
    """What the basename of a library's mapped file matches: libc's pattern, or the loader's resolved name."""
    if library == "libc":
        return LIBC
    interpreter = program_interpreter()
    if interpreter is None:
        raise RuntimeError(f"{sys.executable} is statically linked: it has no dynamic loader")
    return re.compile(f"^{re.escape(os.path.basename(os.path.realpath(interpreter)))}$")


def judge_library_code_private_rx(case: LibrariesCase, seen: LibrariesSeen) -> Finding:
    """ELF-1: the C library (and a dlopen()ed library) is mapped; every shared object's executable mappings are
    file mappings with permissions exactly r-xp, and each shared object has at least one."""
    by_path: dict[str, list[dict]] = {}
    for entry in seen.mappings:
        by_path.setdefault(entry["path"], []).append(entry)
    if not any(is_libc(path) for path in by_path):
        return refuted("no C library (libc.so) is mapped")
    if case.dlopen and not any(path.rsplit("/", 1)[-1].startswith(_stem(case.dlopen)) for path in by_path):
        return refuted(f"the dlopen()ed {case.dlopen} is not mapped")
    for path, entries in sorted(by_path.items()):
        code = [e for e in entries if "x" in e["perms"]]
        if not code:
            return refuted(f"{path} has no executable mapping (perms: {sorted({e['perms'] for e in entries})})")
        wrong = sorted({e["perms"] for e in code if e["perms"] != "r-xp" or not e["inode"]})
        if wrong:
            return refuted(f"{path} has code mapped {', '.join(wrong)}, not r-xp")
    return holds()


# ---------------------------------------------------------------- ELF-2


@dataclass(frozen=True)
class SharedTextCase:
    other: str  # "forked", "python" or "cat"
    library: str  # one of LIBRARIES
    touch: tuple[float, ...] | None  # positions in [0, 1) of the code pages both processes touch; None: all pages


@dataclass(frozen=True)
class SharedTextSeen:
    mine: dict  # this process's r-xp mapping of the library (maps entry)
    theirs: dict | None  # the other process's r-xp mapping of the library, if any
    touched: tuple[int, ...]  # page indices (of this process's mapping) touched by both (by this process for cat)
    my_frames: tuple[int | None, ...]  # page frame number of each page of this process's mapping (None: absent)
    their_frames: tuple[int | None, ...]  # the same for the other process's mapping


def code_mapping(entries: list[dict], library: str) -> dict | None:
    """The r-xp mapping of the library (by its file's basename)."""
    pattern = library_basename_matches(library)
    for entry in entries:
        if entry["perms"] == "r-xp" and entry["inode"] and pattern.search(entry["path"].rsplit("/", 1)[-1]):
            return entry
    return None


def touched_pages(entry: dict, touch: tuple[float, ...] | None) -> tuple[int, ...]:
    pages = (entry["end"] - entry["start"]) // PAGE
    return tuple(range(pages)) if touch is None else tuple(sorted({min(int(p * pages), pages - 1) for p in touch}))


def touch_code(library: str, indices: tuple[int, ...]) -> dict | None:
    """Read one byte of each listed page of this process's r-xp mapping of the library; that mapping."""
    entry = code_mapping(maps_of(), library)
    if entry is not None:
        for index in indices:
            libc.read_bytes(entry["start"] + index * PAGE, 1)
    return entry


CODE_TOUCHER = str(Path(ROOT, "fixtures", "code_toucher.py"))  # ELF-2's "python": touches as touch_code() does


def _frames(entry: dict | None, pid: int | str) -> tuple[int | None, ...]:
    if entry is None:
        return ()
    return tuple(page_frames(entry["start"], (entry["end"] - entry["start"]) // PAGE, pid))


def compare_text_frames(case: SharedTextCase) -> SharedTextSeen:
    """Touch the library's code pages here and in the other process, then read both processes' page frame numbers
    (/proc/PID/pagemap) while the other process is still alive."""
    mine = code_mapping(maps_of(), case.library)
    if mine is None:
        raise RuntimeError(f"this process has no r-xp mapping of {case.library}")
    indices = touched_pages(mine, case.touch)
    touch_code(case.library, indices)
    if case.other == "forked":
        with Child() as child:
            theirs = child.call(touch_code, case.library, indices).value_or_raise(
                f"set-up touch of {case.library} in the forked child")
            their_frames = _frames(theirs, child.pid)
            my_frames = _frames(mine, "self")
    else:
        if case.other == "python":
            argv = [sys.executable, "-I", "-S", CODE_TOUCHER, mine["path"], str(PAGE), *map(str, indices)]
            greeting = None
        else:
            argv, greeting = [cat_program()], b"ready\n"
        with started(argv, greeting) as proc:
            theirs = code_mapping(maps_of(proc.pid), case.library)
            their_frames = _frames(theirs, proc.pid)
            my_frames = _frames(mine, "self")
    return SharedTextSeen(mine, theirs, indices, my_frames, their_frames)


def same_file(seen: SharedTextSeen) -> bool:
    return seen.theirs is not None and (seen.mine["device"], seen.mine["inode"]) == (seen.theirs["device"], seen.theirs["inode"])


def _their_index(seen: SharedTextSeen, mine_index: int) -> int | None:
    offset = seen.mine["offset"] + mine_index * PAGE
    index, rest = divmod(offset - seen.theirs["offset"], PAGE)
    return index if not rest and 0 <= index < len(seen.their_frames) else None


def judge_text_frames_shared(case: SharedTextCase, seen: SharedTextSeen) -> Finding:
    """ELF-2: for every file offset of the library's code present in both processes the page frame numbers are
    equal; every page both touched is present in both; at least one page is compared."""
    if not same_file(seen):
        return refuted(f"the other process has no r-xp mapping of the same {case.library} file: {seen.theirs}")
    compared = 0
    for index, frame in enumerate(seen.my_frames):
        their = _their_index(seen, index)
        their_frame = seen.their_frames[their] if their is not None else None
        if index in seen.touched and case.other != "cat" and (frame is None or their_frame is None):
            return refuted(f"code page {index} was touched by both processes but is not present in "
                           f"{'this process' if frame is None else 'the other process'}")
        if frame is None or their_frame is None:
            continue
        if frame != their_frame:
            return refuted(f"code page {index} (file offset {seen.mine['offset'] + index * PAGE:#x}) is frame "
                           f"{frame:#x} here and {their_frame:#x} in the other process")
        compared += 1
    if not compared:
        return refuted("no code page is present in both processes")
    return holds()
