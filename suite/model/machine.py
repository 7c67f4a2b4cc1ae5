"""The state machine: random operation sequences on a real file and its mappings, against the reference model.

A sequence is a program of words (suite/model/sequences.py draws them): each non-zero word is one step, a rule
and its arguments (``step()``). Each rule does one operation for real (in this process, in a second process
that opened and mapped the file itself, or in a forked child that inherited this process's mappings), applies
it to the model (suite/model/reference.py), and then checks every byte the model knows: st_size, read() of the
whole file, and every page of every mapping in the process that holds it. Pages are read through
/proc/self/mem (fixtures/procmem.py), so a page that would SIGBUS shows as unreadable and no check ever kills
the process; stores touch memory for real only after the same read showed the page accessible. The second
process's pages are read from this one, through its /proc/PID/mem (the same fault-in in its address space),
where ptrace rules allow; elsewhere the second process reads them itself.

A difference raises ``ModelDiscrepancy`` naming the catalog claim whose invariant broke. Every rule is a
method that ends with the check, and the machine logs each step as that method's call, so the steps of a
shrunk failure (``state = ModelMachine(...); state.truncate(...)``) are a runnable reproduction:
suite/model/reproduction.py turns them into a script.

Cost: at most one fork per step: a rule run ``by="child"`` (or ``in_child``) forks one child, and the second
process is forked once per sequence, in the step that first needs it. The claim test runs the machine in its
scenario server, whose forks cost less than the claim test's own.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from typing import Callable, Sequence
from pathlib import Path

from fixtures import libc, procmem
from fixtures.files import Workspace, edge_sizes, pattern
from fixtures.probe import Child, probe
from suite.model.reference import Discrepancy, Model, Platform

MAX_FILE_PAGES = 5  # the file never grows past 5 pages
MAX_MAP_PAGES = 6  # a mapping covers at most 6 pages (so it can reach past EOF)
MAX_MAPS = 3  # live mappings per process

MSYNC_FLAGS = {
    "0": 0,
    "MS_ASYNC": libc.MS_ASYNC,
    "MS_SYNC": libc.MS_SYNC,
    "MS_INVALIDATE": libc.MS_INVALIDATE,
    "MS_ASYNC|MS_INVALIDATE": libc.MS_ASYNC | libc.MS_INVALIDATE,
    "MS_SYNC|MS_INVALIDATE": libc.MS_SYNC | libc.MS_INVALIDATE,
}


# -- a step as a word --------------------------------------------------------------------------------
# Hypothesis draws a sequence as plain words, one per step (suite/model/sequences.py): a rule-based state machine
# cost it about ten draws per step, which capped the rate near 1,300 steps/s. The machine reads a word as fsx
# reads its random numbers: the rule, then each argument, as the digits of a mixed-radix number, the first digit
# lowest. Word 0 is no step, so Hypothesis shrinks a sequence by zeroing the words it does not need; a smaller
# word is a simpler step (each argument's first choices).

RULE_DIGIT = 256  # the rule digit's base: the arguments' digits mean the same whichever rules are usable
ANCHORS = ("start", "eof")  # where a position is measured from: the mapping's (or file's) start, or EOF
HOLDERS = ("self", "other", "child")  # who does it (see the rules)
BOOLEANS = (False, True)


class Digits:
    """A word read digit by digit: ``below(n)`` takes the next digit in base ``n`` (0 once the word is used up)."""

    def __init__(self, word: int):
        self.rest = word

    def below(self, n: int) -> int:
        self.rest, digit = divmod(self.rest, n)
        return digit

    def pick(self, options: tuple):
        return options[self.below(len(options))]

    def between(self, low: int, high: int) -> int:
        return low + self.below(high - low + 1)

    def edge_or_between(self, edges: tuple, low: int, high: int) -> int:
        """One of ``edges`` (the values at page boundaries) half the time, else any value in [low, high]."""
        return self.pick(edges) if self.below(2) == 0 else self.between(low, high)


# The arguments, each read at the machine's page size. ``fill`` 0 is zeros; else pattern(fill, length), never zero.
def _delta(d: Digits, page: int) -> int:
    return d.edge_or_between((0, 1, -1, page - 1, page), -page, 2 * page)


def _length(d: Digits, page: int) -> int:
    return d.edge_or_between((1, 8), 1, 2 * page)


def _gap(d: Digits, page: int) -> int:
    return d.edge_or_between((1, page), 1, 2 * page)


def _size(d: Digits, page: int) -> int:
    largest = MAX_FILE_PAGES * page
    return d.edge_or_between(tuple(s for s in edge_sizes(page) if s <= largest), 0, largest)


def _trim(d: Digits, page: int) -> int:  # mmap length = pages * page - trim (GEOM-4: the last page is whole)
    return d.pick((0, 1, page - 1))


ARGUMENTS: dict[str, Callable[[Digits, int], object]] = {
    "anchor": lambda d, page: d.pick(ANCHORS),
    "by": lambda d, page: d.pick(HOLDERS),
    "count": lambda d, page: d.between(1, MAX_MAP_PAGES),
    "delta": _delta,
    "fill": lambda d, page: d.between(0, 250),
    "first": lambda d, page: d.between(0, MAX_MAP_PAGES - 1),
    "flags": lambda d, page: d.pick(tuple(MSYNC_FLAGS)),
    "gap": _gap,
    "in_child": lambda d, page: d.pick(BOOLEANS),
    "length": _length,
    "page": lambda d, page: d.between(0, MAX_FILE_PAGES),
    "pages": lambda d, page: d.between(1, MAX_MAP_PAGES),
    "shared": lambda d, page: d.pick(BOOLEANS),
    "size": _size,
    "trim": _trim,
    "which": lambda d, page: d.between(0, MAX_MAPS - 1),  # which live mapping (modulo how many there are)
}


@dataclass(frozen=True)
class Rule:
    """One operation of the machine: its method, its arguments in the order a word gives them, and when it can
    run."""

    name: str
    arguments: tuple[str, ...]
    usable: Callable[["ModelMachine"], bool] = lambda machine: True


RULES = (
    Rule("truncate", ("size", "by")),
    Rule("pwrite", ("anchor", "delta", "length", "fill", "by")),
    Rule("write_past_eof", ("gap", "length", "fill", "by")),
    Rule("pollute_tail", ("fill",)),
    Rule("mmap", ("shared", "page", "pages", "trim"), lambda m: len(m.model.live("self")) < MAX_MAPS),
    Rule("other_mmap", ("shared", "page", "pages", "trim"), lambda m: len(m.model.live("other")) < MAX_MAPS),
    Rule("store_shared", ("which", "anchor", "delta", "length", "fill", "in_child"),
         lambda m: m.holds_mapping("self", True)),
    Rule("store_private", ("which", "anchor", "delta", "length", "fill", "in_child"),
         lambda m: m.holds_mapping("self", False)),
    Rule("other_store", ("which", "anchor", "delta", "length", "fill"), lambda m: m.holds_mapping("other")),
    Rule("munmap", ("which", "first", "count"), lambda m: m.holds_mapping("self")),
    Rule("other_munmap", ("which", "first", "count"), lambda m: m.holds_mapping("other")),
    Rule("msync", ("which", "first", "length", "flags"), lambda m: m.holds_mapping("self")),
    Rule("madvise_dontneed", ("which", "first", "count"), lambda m: m.holds_mapping("self")),
)


def content(fill: int, length: int) -> bytes:
    return bytes(length) if fill == 0 else pattern(fill, length)


class ModelDiscrepancy(AssertionError):
    """The kernel did what the model says it must not; ``claim`` names the catalog claim whose invariant broke."""

    def __init__(self, claim: str, detail: str):
        super().__init__(f"{claim}: {detail}")
        self.claim = claim
        self.detail = detail


# -- what runs in the other processes (module level: children run picklable calls) -----------------

_OTHER: dict = {}  # the second process's own descriptor


def read_runs(runs: list[tuple[int, int]], page_size: int, pid: int | None = None) -> list[list[bytes | None]]:
    """Each run of pages (address, count) in process ``pid`` (None: this one): every page's bytes, or None where
    an access would fault."""
    return [procmem.read_pages(addr, pages, page_size, pid) for addr, pages in runs]


def other_open(path: str, inherited: list[tuple[int, int]], page_size: int) -> None:
    """The second process starts: it unmaps what it inherited from the machine, and opens the file itself."""
    for addr, pages in inherited:
        libc.checked("munmap", libc.munmap(addr, pages * page_size))
    _OTHER["fd"] = os.open(path, os.O_RDWR)


def other_map(shared: bool, offset: int, length: int) -> int:
    flags = libc.MAP_SHARED if shared else libc.MAP_PRIVATE
    return libc.checked("mmap", libc.mmap(None, length, libc.PROT_READ | libc.PROT_WRITE, flags, _OTHER["fd"], offset))


def checked_store(addr: int, data: bytes) -> bool:
    """Store only where a read showed every byte accessible; False (nothing stored) otherwise."""
    if not procmem.readable(addr, len(data)):
        return False
    libc.write_bytes(addr, data)
    return True


def other_unmap(addr: int, length: int) -> None:
    libc.checked("munmap", libc.munmap(addr, length))


def other_truncate(size: int) -> None:
    os.ftruncate(_OTHER["fd"], size)


def other_pwrite(data: bytes, offset: int) -> None:
    if os.pwrite(_OTHER["fd"], data, offset) != len(data):
        raise RuntimeError("short pwrite()")


def child_step(op: str, args: tuple, runs: list[tuple[int, int]], page_size: int) -> tuple[str, list]:
    """A fork child's one operation, then what its (inherited) mappings show."""
    if op == "store":
        addr, data = args[:2]
        if not checked_store(addr, data):
            return "inaccessible", []
    elif op == "store-expecting-sigbus":
        addr, data = args[:2]
        libc.write_bytes(addr, data)  # the model says this page is wholly past EOF: SIGBUS ends the child here
    elif op == "truncate":
        fd, size = args
        os.ftruncate(fd, size)
    elif op == "pwrite":
        fd, data, offset = args
        if os.pwrite(fd, data, offset) != len(data):
            raise RuntimeError("short pwrite()")
    return "done", read_runs(runs, page_size)


# -- the machine -----------------------------------------------------------------------------------


@dataclass
class RunStats:
    """What a run of the machine did (filled in as it goes)."""

    steps: int = 0
    forks: int = 0


class ModelMachine:
    """Random operation sequences against the reference model.

    ``ModelMachine(platform=...)`` works on a scratch file in the current directory, and
    ``ModelMachine("/dev/shm", platform=...)`` elsewhere (as the reproductions do, with
    platform_choice.platform_at()); the claim test passes its workspace instead. ``platform``: the alternatives
    the model takes; ``page_size``: its target's, which every offset, length and page index of the rules is in
    (this host's by default).
    """

    model_class = Model

    def __init__(self, directory: str | None = None, *, workspace: Workspace | None = None,
                 platform: Platform, stats: RunStats | None = None, page_size: int = libc.PAGE_SIZE):
        self.page = page_size
        self.max_file = MAX_FILE_PAGES * page_size
        self.stats = stats if stats is not None else RunStats()
        if workspace is not None:
            self.path = workspace.new_file(0)
        else:
            # a new name, as mkstemp makes one (tempfile itself would load shutil and random into the server)
            self.path = Path(directory or ".") / f".mmapconf-model-{os.urandom(6).hex()}"
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        self.model = self.model_class(platform, page=page_size)
        self.addrs: dict[int, int] = {}  # mapping id -> address (in the process that holds it)
        self.log: list[str] = []  # the steps so far, as calls of the rules' methods
        self._other: Child | None = None  # the second process, forked when a rule first needs it
        self._other_readable = False  # whether this process reads the second one's pages itself (else it asks)
        self.fd = os.open(self.path, os.O_RDWR)

    # -- a sequence, word by word ---------------------------------------------------------------------

    def run(self, header: int, words: Sequence[int]) -> None:
        """A whole sequence: the file's start and the rules it leaves out, from ``header`` (swarm testing, as
        Hypothesis's state machines do: a sequence without some rules goes deeper into what the others do), then
        one step per non-zero word."""
        digits = Digits(header)
        left_out = digits.below(1 << len(RULES))
        self.start(size=_size(digits, self.page), fill=digits.between(1, 250))
        for word in words:
            if word:
                self.step(word, left_out)

    def step(self, word: int, left_out: int = 0) -> None:
        """The step a non-zero word gives: a rule among those usable now (all usable ones if the sequence leaves
        out every one of them), and its arguments."""
        digits = Digits(word - 1)
        usable = [index for index, rule in enumerate(RULES) if rule.usable(self)]
        chosen = [index for index in usable if not left_out >> index & 1] or usable
        rule = RULES[chosen[digits.below(RULE_DIGIT) % len(chosen)]]
        getattr(self, rule.name)(**{name: ARGUMENTS[name](digits, self.page) for name in rule.arguments})

    # -- helpers -------------------------------------------------------------------------------------

    def _step(self, rule: str, args: dict) -> None:
        """Count the step, and log it as a call of the rule's method (``args``: its arguments, its locals())."""
        self.stats.steps += 1
        shown = ", ".join(f"{name}={value!r}" for name, value in sorted(args.items()) if name != "self")
        self.log.append(f"state.{rule}({shown})")

    def _fail(self, found: Discrepancy | None) -> None:
        if found is not None:
            raise ModelDiscrepancy(found.claim, found.detail)

    @property
    def other(self) -> Child:
        """The second process: it drops the mappings it inherits, then opens and maps the file itself."""
        if self._other is None:
            self.stats.forks += 1
            inherited = [run for map_id in self.model.live("self") for run in self._runs(map_id)]
            self._other = Child()
            self._other_call(other_open, str(self.path), inherited, self.page)
            # Read through /proc/PID/mem, the same fault-in as the second process's own read, without waking it.
            self._other_readable = procmem.open_other(self._other.pid)
        return self._other

    def _other_call(self, fn, *args):
        return self.other.call(fn, *args).value_or_raise(f"the second process's {fn.__name__}")

    def _pick(self, holder: str, which: int, shared: bool | None = None) -> int:
        live = self.model.live(holder, shared)
        return live[which % len(live)]

    def holds_mapping(self, holder: str, shared: bool | None = None) -> bool:
        """Whether ``holder`` has a live mapping (a MAP_SHARED one, a MAP_PRIVATE one, or either)."""
        return bool(self.model.live(holder, shared))

    def _target(self, map_id: int, anchor: str, delta: int, length: int, fill: int,
                allow_inaccessible: bool = False) -> tuple[int, bytes] | None:
        """Where a store lands in the mapping (byte offset) and what it stores: from the anchor, clamped into
        the mapping and cut at the first page an access would fault on; None when the page is not accessible
        (unless ``allow_inaccessible``: then the store stays inside that one page)."""
        model, page = self.model, self.page
        m = model.maps[map_id]
        base = m.first_page * page
        at = min(max((base if anchor == "start" else model.size) + delta - base, 0), m.pages * page - 1)
        index = at // page
        if not m.present[index]:
            return None
        if not model.accessible(map_id, index):
            if not allow_inaccessible:
                return None
            end = (index + 1) * page
        else:
            last = index
            while last + 1 < m.pages and model.accessible(map_id, last + 1):
                last += 1
            end = (last + 1) * page
        length = min(length, end - at)
        return at, content(fill, length)

    def _check(self) -> None:
        """Every byte the model knows: st_size, read(), every page of every mapping, in each process."""
        model = self.model
        self._fail(model.check_size(os.fstat(self.fd).st_size))
        self._fail(model.check_read(os.pread(self.fd, model.size + self.page, 0)))
        for map_id in model.live("self"):
            self._check_views(map_id, read_runs(self._runs(map_id), self.page))
        others = model.live("other")
        if others:
            runs = [run for map_id in others for run in self._runs(map_id)]
            seen = (read_runs(runs, self.page, self.other.pid) if self._other_readable
                    else self._other_call(read_runs, runs, self.page))
            for map_id in others:
                runs = self._runs(map_id)
                self._check_views(map_id, seen[:len(runs)])
                seen = seen[len(runs):]

    def _runs(self, map_id: int, addr: int | None = None) -> list[tuple[int, int]]:
        addr = self.addrs[map_id] if addr is None else addr
        return [(addr + first * self.page, count) for first, count in self.model.runs(map_id)]

    def _check_views(self, map_id: int, seen: list[list[bytes | None]]) -> None:
        for (first, count), pages in zip(self.model.runs(map_id), seen):
            for k in range(count):
                self._fail(self.model.check_view(map_id, first + k, pages[k]))

    def _disagree_on_access(self, map_id: int, at: int, length: int, seen: list[bytes | None]) -> None:
        """A store found a page unreadable that the model says it can touch: report the page (``seen``: the
        store range's pages as read in the process holding the mapping)."""
        for k, page in enumerate(seen):
            self._fail(self.model.check_view(map_id, at // self.page + k, page))
        raise ModelDiscrepancy("GEOM-2", f"a store to m{map_id} at {at} (+{length}) faulted where the model "
                                         f"says every page is accessible, yet each page reads as the model says")

    def _mmap_args(self, shared: bool, page: int, pages: int, trim: int) -> tuple[int, int, int]:
        flags = libc.MAP_SHARED if shared else libc.MAP_PRIVATE
        return page * self.page, pages * self.page - trim, flags

    # -- rules -----------------------------------------------------------------------------------------
    # ``by``: "self" (this process), "other" (the second process, through its own descriptor and mappings) or
    # "child" (a child forked for this one step, inheriting this process's descriptor and mappings).

    def start(self, size, fill):
        """The file's first contents, written with pwrite()."""
        self._step("start", locals())
        data = pattern(fill, size)
        if data and os.pwrite(self.fd, data, 0) != size:
            raise RuntimeError("short pwrite()")
        self.model.initial(data)
        self._check()

    def pollute_tail(self, fill):
        """fsx's EOF pollution: map the page holding EOF MAP_SHARED and fill its bytes past EOF. The mapping stays
        (as one of this process's, if there is room for it: a page kept mapped is what some filesystems need to
        keep the bytes), else it is unmapped at once. The file must not change (EOF-2, EOF-4); later growth must
        not show those bytes (EOF-3, EOF-7)."""
        self._step("pollute_tail", locals())
        model, size = self.model, self.page
        if model.size % size:
            page = model.size // size
            result = libc.mmap(None, size, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, self.fd, page * size)
            if not result.ok:
                raise ModelDiscrepancy("GEOM-2", f"mmap of the EOF page (offset {page * size}) failed: "
                                                 f"{result.errno_name}")
            map_id = model.mmap("self", True, page, 1)
            self.addrs[map_id] = result.value
            keep = len(model.live("self")) <= MAX_MAPS
            try:
                self._store(map_id, "eof", 0, size, fill)
            finally:
                if not keep:
                    libc.munmap(result.value, size)
                    model.munmap(map_id, 0, 1)
        self._check()

    def truncate(self, size, by):
        """ftruncate() up, down, to the same size, inside a page or to 0 (BUS-2: by this or another process)."""
        self._step("truncate", locals())
        if by == "self":
            os.ftruncate(self.fd, size)
            self.model.truncate(size)
        elif by == "other":
            self._other_call(other_truncate, size)
            self.model.truncate(size, "other")
        else:
            self._fork("truncate", (self.fd, size), lambda: self.model.truncate(size, "child"))
        self._check()

    def pwrite(self, anchor, delta, length, fill, by):
        """pwrite() possibly past EOF (leaving a hole), growing the file (SHARED-4: seen through mappings)."""
        self._step("pwrite", locals())
        self._pwrite(max((0 if anchor == "start" else self.model.size) + delta, 0), length, fill, by)

    def _pwrite(self, offset: int, length: int, fill: int, by: str) -> None:
        length = min(length, self.max_file - offset)
        if length > 0:
            data = content(fill, length)
            if by == "self":
                if os.pwrite(self.fd, data, offset) != length:
                    raise RuntimeError("short pwrite()")
                self.model.pwrite(offset, data)
            elif by == "other":
                self._other_call(other_pwrite, data, offset)
                self.model.pwrite(offset, data, "other")
            else:
                self._fork("pwrite", (self.fd, data, offset), lambda: self.model.pwrite(offset, data, "child"))
        self._check()

    def write_past_eof(self, gap, length, fill, by):
        """EOF-7's operation: lseek() past the end and write(), leaving a hole of ``gap`` bytes that reads as zero."""
        self._step("write_past_eof", locals())
        self._pwrite(self.model.size + gap, length, fill, by)

    def mmap(self, shared, page, pages, trim):
        """mmap() PROT_READ|PROT_WRITE at a page-aligned offset, its length possibly past EOF (GEOM-4: a
        length short of a page multiple maps the whole last page)."""
        self._step("mmap", locals())
        offset, length, flags = self._mmap_args(shared, page, pages, trim)
        result = libc.mmap(None, length, libc.PROT_READ | libc.PROT_WRITE, flags, self.fd, offset)
        if not result.ok:
            raise ModelDiscrepancy("GEOM-2", f"mmap(length {length}, {'MAP_SHARED' if shared else 'MAP_PRIVATE'}, "
                                             f"offset {offset}) failed: {result.errno_name}")
        map_id = self.model.mmap("self", shared, page, pages)
        self.addrs[map_id] = result.value
        self._check()

    def other_mmap(self, shared, page, pages, trim):
        """The second process maps the file itself (SHARED-1, PRIV-2)."""
        self._step("other_mmap", locals())
        offset, length, _ = self._mmap_args(shared, page, pages, trim)
        outcome = self.other.call(other_map, shared, offset, length)
        if not outcome.ok:
            raise ModelDiscrepancy("GEOM-2", f"the second process's mmap(offset {offset}, length {length}) "
                                             f"{outcome.describe()}")
        map_id = self.model.mmap("other", shared, page, pages)
        self.addrs[map_id] = outcome.value
        self._check()

    def _store(self, map_id: int, anchor, delta, length, fill, in_child: bool = False) -> None:
        if in_child:
            return self._fork_store(map_id, anchor, delta, length, fill)
        target = self._target(map_id, anchor, delta, length, fill)
        if target is not None:
            at, data = target
            addr = self.addrs[map_id] + at
            page = self.page
            run = [(self.addrs[map_id] + (at // page) * page, (at + len(data) - 1) // page - at // page + 1)]
            if self.model.maps[map_id].holder == "self":
                if not checked_store(addr, data):
                    self._disagree_on_access(map_id, at, len(data), read_runs(run, page)[0])
            elif not self._other_call(checked_store, addr, data):
                self._disagree_on_access(map_id, at, len(data), self._other_call(read_runs, run, page)[0])
            self.model.store(map_id, at, data)
        self._check()

    def _fork_store(self, parent: int, anchor, delta, length, fill) -> None:
        """A fork child stores through an inherited mapping (shared: FORK-2; private: FORK-3, FORK-4); on a
        page wholly past EOF it must get SIGBUS (BUS-1, BUS-2)."""
        target = self._target(parent, anchor, delta, length, fill, allow_inaccessible=True)
        if target is not None:
            at, data = target
            addr = self.addrs[parent] + at
            if not self.model.accessible(parent, at // self.page):
                self._fork("store-expecting-sigbus", (addr, data, parent, at // self.page), lambda: None)
            else:
                def apply():
                    child = {m.parent: i for i, m in self.model.maps.items() if m.holder == "child"}[parent]
                    self.model.store(child, at, data)
                self._fork("store", (addr, data, parent, at, len(data)), apply)
        self._check()

    def store_shared(self, which, anchor, delta, length, fill, in_child):
        """A store through a MAP_SHARED mapping (past EOF too, up to the end of the EOF page), here or in a
        fork child."""
        self._step("store_shared", locals())
        self._store(self._pick("self", which, True), anchor, delta, length, fill, in_child)

    def store_private(self, which, anchor, delta, length, fill, in_child):
        """A store through a MAP_PRIVATE mapping (copy-on-write), here or in a fork child."""
        self._step("store_private", locals())
        self._store(self._pick("self", which, False), anchor, delta, length, fill, in_child)

    def other_store(self, which, anchor, delta, length, fill):
        """The second process stores through one of its own mappings."""
        self._step("other_store", locals())
        self._store(self._pick("other", which), anchor, delta, length, fill)

    def _munmap(self, holder: str, which: int, first: int, count: int) -> None:
        map_id = self._pick(holder, which)
        first, present = self._in_run(map_id, first)  # only pages still mapped: a hole may hold another mapping now
        count = min(count, present)
        addr, length = self.addrs[map_id] + first * self.page, count * self.page
        if holder == "self":
            result = libc.munmap(addr, length)
            failed = None if result.ok else result.errno_name
        else:
            outcome = self.other.call(other_unmap, addr, length)
            failed = None if outcome.ok else outcome.describe()
        if failed:
            raise ModelDiscrepancy("UNMAP-3", f"munmap of pages {first}..{first + count - 1} of m{map_id}: {failed}")
        self.model.munmap(map_id, first, count)
        self._check()

    def munmap(self, which, first, count):
        """munmap() of the whole mapping or part of it (UNMAP-3: the rest stays usable)."""
        self._step("munmap", locals())
        self._munmap("self", which, first, count)

    def other_munmap(self, which, first, count):
        """The second process unmaps one of its mappings, whole or in part."""
        self._step("other_munmap", locals())
        self._munmap("other", which, first, count)

    def _in_run(self, map_id: int, first: int) -> tuple[int, int]:
        """A present page at or after ``first`` (modulo the mapping) and how many present pages follow it."""
        m = self.model.maps[map_id]
        first %= m.pages
        runs = self.model.runs(map_id)
        for run_first, run_count in runs:
            if run_first <= first < run_first + run_count:
                return first, run_first + run_count - first
        return runs[0]

    def msync(self, which, first, length, flags):
        """msync() with each valid flag combination, on a page-aligned address, any length (SYNC-6)."""
        self._step("msync", locals())
        map_id = self._pick("self", which)
        start, pages = self._in_run(map_id, first)
        length = min(length, pages * self.page)
        result = libc.msync(self.addrs[map_id] + start * self.page, length, MSYNC_FLAGS[flags])
        m = self.model.maps[map_id]
        no_sync_flag = not MSYNC_FLAGS[flags] & (libc.MS_SYNC | libc.MS_ASYNC)
        rejected = no_sync_flag and self.model.platform.msync_no_sync_flag == "einval"
        if result.ok == rejected or (rejected and result.errno_name != "EINVAL"):
            claim = ("SYNC-7/no-sync-flag" if no_sync_flag else "SYNC-10" if not m.shared
                     else "SYNC-5" if flags == "MS_SYNC|MS_INVALIDATE" else "SYNC-6")
            raise ModelDiscrepancy(claim, f"msync({flags}) on {length} bytes of m{map_id} "
                                          f"{'failed: ' + str(result.errno_name) if not result.ok else 'succeeded'}"
                                          f", the model says it {'fails (EINVAL)' if rejected else 'succeeds'}")
        self.model.msync(map_id)
        self._check()

    def madvise_dontneed(self, which, first, count):
        """madvise(MADV_DONTNEED): shared pages keep showing the file; private copies as PRIV-6 recorded."""
        self._step("madvise_dontneed", locals())
        map_id = self._pick("self", which)
        start, pages = self._in_run(map_id, first)
        count = min(count, pages)
        result = libc.madvise(self.addrs[map_id] + start * self.page, count * self.page, libc.MADV_DONTNEED)
        if result.ok != (self.model.platform.madvise == "accepted"):
            raise ModelDiscrepancy("PAGE-4/conventional", f"madvise(MADV_DONTNEED) on m{map_id} "
                                                          f"{'succeeded' if result.ok else 'failed: ' + str(result.errno_name)}")
        if result.ok:
            self.model.dontneed(map_id, start, count)
        self._check()

    # -- a forked child (one fork per step) -------------------------------------------------------------

    def _fork(self, op: str, args: tuple, model_op) -> None:
        """Fork a child (inheriting this process's mappings), run one operation there, and check what the
        child's mappings show after it (the caller then checks this process)."""
        self.stats.forks += 1
        children = self.model.fork()
        runs = [run for parent, child in children.items() for run in self._runs(child, self.addrs[parent])]
        try:
            outcome = probe(child_step, op, args, runs, self.page)
            if op == "store-expecting-sigbus":
                if outcome.killed_by(signal.SIGBUS):
                    return
                map_id, index = args[2], args[3]
                if outcome.ok:  # the store went through: the page was accessible after all
                    self._fail(self.model.check_view(map_id, index, b"\0" * self.page))
                raise ModelDiscrepancy("BUS-1", f"a fork child's store to page {index} of m{map_id}, wholly past "
                                                f"EOF {self.model.size}, {outcome.describe()}; the model says SIGBUS")
            status, seen = outcome.value_or_raise("the fork child's step")
            if status == "inaccessible":
                map_id, at, length = args[2:5]
                for index in range(at // self.page, (at + length - 1) // self.page + 1):
                    self._fail(self.model.check_view(map_id, index, None))
                raise ModelDiscrepancy("GEOM-2", "the fork child could not store where the model says it can")
            model_op()
            for parent, child in children.items():
                pieces = len(self.model.runs(child))
                self._check_views(child, seen[:pieces])
                seen = seen[pieces:]
        finally:
            self.model.end_fork()

    def teardown(self):
        for map_id in self.model.live("self"):
            for first, count in self.model.runs(map_id):
                libc.munmap(self.addrs[map_id] + first * self.page, count * self.page)
        if self._other is not None:
            self._other.close()
        if self.fd >= 0:
            os.close(self.fd)
        procmem.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
