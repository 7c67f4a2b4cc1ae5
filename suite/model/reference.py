"""The reference model: one file and the mappings on it, as the catalog's claims describe them.

Pure Python, no kernel: ``suite/model/machine.py`` performs each operation on a
real file and then asks this model what every byte must look like.

What the model holds
- The file: its size, and the page cache's image of it up to the end of the
  page holding EOF (``cache``). Bytes past EOF in that page (the "tail") are
  what a mapping shows there: zeros (EOF-1), or what a store through a shared
  mapping put there (Linux mmap(2) BUGS; EOF-2 only says they never reach the
  file).
- Mappings: shared or private, the file page they start at, their pages (some
  unmapped by a partial munmap), the process that holds them ("self", "other":
  a second process that opened and mapped the file itself, "child": a forked
  child during one step), and for private ones the pages copied by a store,
  with what each copy holds.

Uncertain bytes. A byte stored past EOF may be zeroed at any later moment:
disk filesystems zero the part of the EOF page past EOF whenever they write
it back (msync(MS_SYNC), the flusher, reclaim), and no claim says when. Such a
tail byte is "stored value or zero" (``maybe`` set): a view may show either,
and once a view shows zero the model knows it is zero. A private copy of that
page taken by a store captures whichever it was, and the first check of the
copy fixes it. This is the only latitude the model takes; everything else is
exact.

Implementation-defined behaviour comes from ``Platform``: the alternative the
single-claim test recorded for this platform (suite/expectations/*.toml).

Every expectation carries the catalog claim that makes it: a ``Discrepancy``
names that claim (``blame``), so a failing sequence says which claim's
invariant broke.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

HOLDERS = ("self", "other", "child")

# What last set a byte (per byte: kind * 4 + holder index).
INITIAL, PWRITE, STORE, TAIL_STORE, TAIL_FRESH, TRUNC_ZERO, EXTEND_TAIL, EXTEND_ZERO, HOLE, PRIVATE_STORE = range(10)
ORIGIN_TEXT = {
    INITIAL: "the file's first contents",
    PWRITE: "a pwrite()",
    STORE: "a store through a MAP_SHARED mapping",
    TAIL_STORE: "a store past EOF through a MAP_SHARED mapping (or zero, once written back)",
    TAIL_FRESH: "zero fill past EOF",
    TRUNC_ZERO: "the truncation's zeroing past the new EOF",
    EXTEND_TAIL: "an ftruncate() that grew the file over bytes that were past the old EOF",
    EXTEND_ZERO: "an ftruncate() that grew the file (zero fill)",
    HOLE: "the hole left by a pwrite() past EOF (zero fill)",
    PRIVATE_STORE: "a store through this MAP_PRIVATE mapping",
}

# Every claim the model can name (the MODEL-1 catalog entry's inventory covers these).
BLAMED = (
    "BUS-1", "BUS-2", "BUS-3", "BUS-5/copied", "BUS-5/untouched", "BUS-6",
    "EOF-1", "EOF-2", "EOF-3", "EOF-4", "EOF-5", "EOF-7",
    "FORK-1", "FORK-2", "FORK-3", "FORK-4",
    "GEOM-2", "GEOM-4",
    "PAGE-4/conventional",
    "PRIV-1", "PRIV-2", "PRIV-4/read", "PRIV-5", "PRIV-6",
    "SHARED-1", "SHARED-3", "SHARED-4", "SHARED-9",
    "SYNC-5", "SYNC-6", "SYNC-7/no-sync-flag", "SYNC-10",
    "UNMAP-2", "UNMAP-3",
)


def origin(kind: int, holder: str) -> int:
    return kind * 4 + HOLDERS.index(holder)


def origin_kind(code: int) -> int:
    return code // 4


def origin_holder(code: int) -> str:
    return HOLDERS[code % 4]


_NONZERO = bytes([0] + [1] * 255)


def nonzero(data: bytes) -> bytes:
    """1 where a byte is not zero, 0 where it is."""
    return bytes(data).translate(_NONZERO)


def round_up(n: int, page: int) -> int:
    return -(-n // page) * page


@dataclass(frozen=True)
class Platform:
    """The alternatives this platform takes where a claim leaves a choice (from the expectations)."""

    eof3_zeroes: bool = True  # EOF-3 holds: growth by ftruncate() zeroes bytes stored past the old EOF
    bus5_untouched: str = "sigbus"  # BUS-5/untouched: a private, never-written page cut by truncation
    bus5_copied: str = "sigbus"  # BUS-5/copied: a private copy cut by truncation (sigbus: the copy is discarded)
    priv4: str = "seen"  # PRIV-4/untouched and PRIV-4/read: an unwritten private page follows the file
    priv6: str = "file-contents"  # PRIV-6: MADV_DONTNEED drops a private copy (or keeps it: "private-change")
    shared4: str = "seen"  # SHARED-4: write() after mmap() is seen through a shared mapping
    msync_no_sync_flag: str = "accepted"  # SYNC-7/no-sync-flag: msync() with neither MS_SYNC nor MS_ASYNC
    madvise: str = "accepted"  # PAGE-4/conventional: MADV_DONTNEED on a file mapping

    SUPPORTED = {
        "bus5_untouched": ("sigbus",),
        "bus5_copied": ("sigbus",),
        "priv4": ("seen",),
        "priv6": ("file-contents", "private-change"),
        "shared4": ("seen",),
        "msync_no_sync_flag": ("accepted", "einval"),
        "madvise": ("accepted", "einval"),
    }

    def unsupported(self) -> str | None:
        """Why the model cannot follow this platform (an alternative it does not encode), or None."""
        for name, known in self.SUPPORTED.items():
            if getattr(self, name) not in known:
                return f"the model encodes {name} = {', '.join(known)}, not {getattr(self, name)!r}"
        return None


@dataclass(frozen=True)
class Discrepancy:
    """What the kernel did that the model says it must not: the claim whose invariant broke, and how."""

    claim: str
    detail: str


@dataclass
class Image:
    """Bytes with, per byte, whether it may also read as zero and what set it."""

    data: bytearray
    maybe: bytearray
    origin: bytearray

    @classmethod
    def filled(cls, n: int, code: int) -> "Image":
        return cls(bytearray(n), bytearray(n), bytearray([code]) * n)

    def slice(self, start: int, end: int) -> "Image":
        return Image(self.data[start:end], self.maybe[start:end], self.origin[start:end])

    def put(self, at: int, data: bytes, code: int) -> None:
        end = at + len(data)
        self.data[at:end] = data
        self.maybe[at:end] = bytes(len(data))
        self.origin[at:end] = bytes([code]) * len(data)


@dataclass
class MapModel:
    id: int
    holder: str
    shared: bool
    first_page: int  # the file page mapping page 0 shows
    pages: int
    present: list[bool]
    copies: dict[int, Image] = field(default_factory=dict)  # mapping page -> private copy
    max_file_pages: int = 0  # the most pages the file held while this mapping existed
    discarded: set[int] = field(default_factory=set)  # mapping pages whose copy a truncation discarded
    cut_pages: set[int] = field(default_factory=set)  # file pages a truncation cut while mapped
    inherited: frozenset[int] = frozenset()  # in a fork child: the copies it inherited
    parent: int | None = None  # in a fork child: the parent's mapping

    @property
    def kind(self) -> str:
        return "MAP_SHARED" if self.shared else "MAP_PRIVATE"

    def describe(self) -> str:
        where = {"self": "this process", "other": "the second process", "child": "the fork child"}[self.holder]
        return f"mapping m{self.id} ({self.kind} in {where}, file pages {self.first_page}..{self.first_page + self.pages - 1})"


INACCESSIBLE = "inaccessible"


@dataclass(frozen=True)
class Step:
    """The operation last applied (what a discrepancy found right after it most likely involves)."""

    op: str
    holder: str = "self"
    map_id: int | None = None
    shared: bool | None = None
    grew: bool | None = None


class Model:
    """The file and its mappings, as the catalog says they behave."""

    def __init__(self, platform: Platform = Platform(), *, page: int):
        self.platform = platform
        self.page = page
        self.size = 0
        self.cache = Image.filled(0, origin(TAIL_FRESH, "self"))
        self.maps: dict[int, MapModel] = {}
        self.next_id = 0
        self.last = Step("start")
        self.last_size_change = "none"  # "grew" / "shrank" / "none": for blame

    # -- geometry ----------------------------------------------------------------------------------

    def file_pages(self) -> int:
        return -(-self.size // self.page)

    def _end(self, n: int) -> int:
        return round_up(n, self.page)

    def accessible(self, map_id: int, index: int) -> bool:
        """Whether mapping page ``index`` can be touched (present, and not wholly past EOF)."""
        m = self.maps[map_id]
        return m.present[index] and (m.first_page + index) * self.page < self.size

    def view(self, map_id: int, index: int) -> Image | str | None:
        """What mapping page ``index`` shows: an Image, INACCESSIBLE, or None (unmapped)."""
        m = self.maps[map_id]
        if not m.present[index]:
            return None
        p = m.first_page + index
        if p * self.page >= self.size:
            return INACCESSIBLE  # BUS-1, BUS-2; private: BUS-5 ("sigbus")
        if index in m.copies:
            return m.copies[index]
        return self.cache.slice(p * self.page, (p + 1) * self.page)

    def runs(self, map_id: int) -> list[tuple[int, int]]:
        """The mapping's present pages as (first index, count) runs."""
        m, out, start = self.maps[map_id], [], None
        for i, present in enumerate(m.present + [False]):
            if present and start is None:
                start = i
            elif not present and start is not None:
                out.append((start, i - start))
                start = None
        return out

    def live(self, holder: str, shared: bool | None = None) -> list[int]:
        return [i for i, m in self.maps.items() if m.holder == holder and (shared is None or m.shared == shared)]

    # -- operations ---------------------------------------------------------------------------------

    def initial(self, data: bytes) -> None:
        self._grow(len(data), "write", 0)
        self.cache.put(0, data, origin(INITIAL, "self"))
        self.last = Step("start")

    def pwrite(self, offset: int, data: bytes, holder: str = "self") -> None:
        end = offset + len(data)
        if end > self.size:
            self._grow(end, "write", offset)
        self.cache.put(offset, data, origin(PWRITE, holder))
        self.last = Step("pwrite", holder)

    def truncate(self, size: int, holder: str = "self") -> None:
        if size > self.size:
            self._grow(size, "ftruncate", size)
            grew = True
        elif size < self.size:
            self._shrink(size)
            grew = False
        else:  # the same size: some filesystems zero the tail again, some do not
            grew = None
            self.cache.maybe[self.size:] = nonzero(self.cache.data[self.size:])
        self.last = Step("truncate", holder, grew=grew)

    def _grow(self, new: int, how: str, write_at: int) -> None:
        """The file grows to ``new`` bytes by ftruncate() (EOF-5, EOF-3) or by a write starting at ``write_at`` (EOF-7)."""
        old = self.size
        old_end, new_end = self._end(old), self._end(new)
        c = self.cache
        extra = new_end - len(c.data)
        if extra > 0:
            grown = origin(EXTEND_ZERO if how == "ftruncate" else HOLE, "self")
            c.data += bytes(extra)
            c.maybe += bytes(extra)
            c.origin += bytes([grown]) * extra
        lo, hi = old, min(new, old_end)  # bytes that were past the old EOF become file data
        if hi > lo:
            if how == "ftruncate":
                c.origin[lo:hi] = bytes([origin(EXTEND_TAIL, "self")]) * (hi - lo)
                if self.platform.eof3_zeroes:  # EOF-3 holds here: they read as zero
                    c.data[lo:hi] = c.maybe[lo:hi] = bytes(hi - lo)
            else:  # EOF-7: the hole up to the write reads as zero (the write covers the rest)
                c.data[lo:hi] = c.maybe[lo:hi] = bytes(hi - lo)
                c.origin[lo:hi] = bytes([origin(HOLE, "self")]) * (hi - lo)
        lo, hi = new, min(old_end, new_end)  # the rest of the old tail, still past EOF: zero or as it was
        if hi > lo:
            c.maybe[lo:hi] = nonzero(c.data[lo:hi])
        lo = max(new, old_end)
        if new_end > lo:  # a fresh EOF page: zeros past EOF (EOF-1)
            c.origin[lo:new_end] = bytes([origin(TAIL_FRESH, "self")]) * (new_end - lo)
        self.size = new
        self.last_size_change = "grew"
        pages = self.file_pages()
        for m in self.maps.values():
            m.max_file_pages = max(m.max_file_pages, pages)

    def _shrink(self, new: int) -> None:
        """ftruncate() down: bytes past the new EOF in its page read zero (BUS-3), whole pages past it are gone
        (BUS-2), and private copies of those pages are dropped with them (BUS-5/copied: sigbus)."""
        new_end = self._end(new)
        c = self.cache
        del c.data[new_end:], c.maybe[new_end:], c.origin[new_end:]
        zeroed = new_end - new
        c.data[new:new_end] = bytes(zeroed)
        c.maybe[new:new_end] = bytes(zeroed)
        c.origin[new:new_end] = bytes([origin(TRUNC_ZERO, "self")]) * zeroed
        old_pages = self.file_pages()
        self.size = new
        self.last_size_change = "shrank"
        for m in self.maps.values():
            for index in range(m.pages):
                p = m.first_page + index
                if p * self.page >= new:
                    if p < old_pages:
                        m.cut_pages.add(p)
                    if index in m.copies:
                        del m.copies[index]
                        m.discarded.add(index)

    def mmap(self, holder: str, shared: bool, first_page: int, pages: int) -> int:
        map_id = self.next_id
        self.next_id += 1
        self.maps[map_id] = MapModel(map_id, holder, shared, first_page, pages, [True] * pages,
                                     max_file_pages=self.file_pages())
        self.last = Step("mmap", holder, map_id, shared)
        return map_id

    def store(self, map_id: int, at: int, data: bytes) -> None:
        """A store of ``data`` at byte ``at`` of the mapping; every page it touches must be accessible."""
        m, page = self.maps[map_id], self.page
        base = m.first_page * page
        for index in range(at // page, (at + len(data) - 1) // page + 1):
            if not self.accessible(map_id, index):
                raise ValueError(f"store to page {index} of m{map_id}, which is not accessible")
        if m.shared:
            lo, hi = base + at, base + at + len(data)
            mid = min(max(lo, self.size), hi)  # file data before it, the tail past EOF from it
            if mid > lo:
                self.cache.put(lo, data[:mid - lo], origin(STORE, m.holder))
            if hi > mid:
                tail = data[mid - lo:]
                self.cache.put(mid, tail, origin(TAIL_STORE, m.holder))
                self.cache.maybe[mid:hi] = nonzero(tail)  # zeroed when written back
        else:
            for index in range(at // page, (at + len(data) - 1) // page + 1):
                if index not in m.copies:  # copy-on-write: the page as it shows now
                    p = m.first_page + index
                    m.copies[index] = self.cache.slice(p * page, (p + 1) * page)
                lo, hi = max(at, index * page), min(at + len(data), (index + 1) * page)
                m.copies[index].put(lo - index * page, data[lo - at:hi - at], origin(PRIVATE_STORE, m.holder))
        self.last = Step("store", m.holder, map_id, m.shared)

    def munmap(self, map_id: int, first: int, count: int) -> None:
        m = self.maps[map_id]
        for index in range(first, min(first + count, m.pages)):
            m.present[index] = False
            m.copies.pop(index, None)
        if not any(m.present):
            del self.maps[map_id]
        self.last = Step("munmap", m.holder, map_id, m.shared)

    def msync(self, map_id: int) -> None:
        """msync() changes nothing a view or read() shows (SYNC-10: not even for MAP_PRIVATE)."""
        m = self.maps[map_id]
        self.last = Step("msync", m.holder, map_id, m.shared)

    def dontneed(self, map_id: int, first: int, count: int) -> None:
        """madvise(MADV_DONTNEED): a shared page shows the file as before; a private copy is dropped
        (PRIV-6 "file-contents") or kept ("private-change")."""
        m = self.maps[map_id]
        if not m.shared and self.platform.priv6 == "file-contents":
            for index in range(first, min(first + count, m.pages)):
                m.copies.pop(index, None)
        self.last = Step("madvise", m.holder, map_id, m.shared)

    def fork(self) -> dict[int, int]:
        """A child inherits this process's mappings (FORK-1), private copies included (FORK-4)."""
        children = {}
        for map_id in self.live("self"):
            m = self.maps[map_id]
            # every mutable field copied (deepcopy took a fifth of a fork step's own time)
            child = replace(m, id=self.next_id, holder="child", parent=map_id, present=list(m.present),
                            copies={index: image.slice(0, len(image.data)) for index, image in m.copies.items()},
                            discarded=set(m.discarded), cut_pages=set(m.cut_pages), inherited=frozenset(m.copies))
            self.maps[child.id] = child
            children[map_id] = child.id
            self.next_id += 1
        return children

    def end_fork(self) -> None:
        for map_id in self.live("child"):
            del self.maps[map_id]

    # -- checks -------------------------------------------------------------------------------------

    def check_size(self, observed: int) -> Discrepancy | None:
        if observed == self.size:
            return None
        last = self.last
        if last.op == "store":
            claim = "EOF-4"
        elif last.op == "truncate":
            claim = "EOF-5" if last.grew else "BUS-2"
        elif last.op == "pwrite":
            claim = "EOF-7"
        else:
            claim = "EOF-4"
        return Discrepancy(claim, f"st_size is {observed}, the model says {self.size} (after {self._last_text()})")

    def check_read(self, observed: bytes) -> Discrepancy | None:
        """read() of the whole file: exactly the file's bytes (the model's uncertain ones become known)."""
        c = self.cache
        if len(observed) != self.size:
            return Discrepancy("EOF-4" if self.last.op == "store" else "EOF-5",
                               f"read() returned {len(observed)} bytes, the model says the file holds {self.size}")
        expected = bytes(c.data[:self.size])
        if observed != expected:
            bad = [f for f in range(self.size) if observed[f] != c.data[f] and not (c.maybe[f] and observed[f] == 0)]
            if bad:
                f = bad[0]
                return Discrepancy(self._blame_read(f, observed[f]),
                                   f"read() at file offset {f} returns {observed[f]:#04x}, the model says "
                                   f"{c.data[f]:#04x} (set by {ORIGIN_TEXT[origin_kind(c.origin[f])]}); "
                                   f"{len(bad)} byte(s) differ in {self._span(bad)} (after {self._last_text()})")
        f = c.maybe.find(1, 0, self.size)
        while f != -1:  # what was uncertain is now known
            c.data[f], c.maybe[f] = observed[f], 0
            f = c.maybe.find(1, f + 1, self.size)
        return None

    def _where(self, m: MapModel, index: int) -> str:
        return f"{m.describe()}, page {index} (file offset {(m.first_page + index) * self.page})"

    def check_view(self, map_id: int, index: int, observed: bytes | None) -> Discrepancy | None:
        """One mapping page as read (None: the read failed, the page is inaccessible)."""
        m, page = self.maps[map_id], self.page
        want = self.view(map_id, index)
        if want is None:
            return None
        p = m.first_page + index
        if want is INACCESSIBLE or observed is None:
            if want is INACCESSIBLE and observed is None:
                return None
            where = self._where(m, index)
            if want is INACCESSIBLE:
                return Discrepancy(self._blame_access(m, index),
                                   f"{where} is readable, but it lies wholly past EOF ({self.size}): the model says "
                                   f"an access gives SIGBUS (after {self._last_text()})")
            return Discrepancy(self._blame_access(m, index),
                               f"{where} cannot be read (an access would fault), but the model says it holds "
                               f"{'a private copy' if index in m.copies else 'file data'} (EOF {self.size}) "
                               f"(after {self._last_text()})")
        exact = bytes(want.data) == observed
        if not exact:
            bad = [k for k in range(page) if observed[k] != want.data[k] and not (want.maybe[k] and observed[k] == 0)]
            if bad:
                k = bad[0]
                f = p * page + k
                what = "private copy" if index in m.copies else ("file" if f < self.size else "page past EOF")
                side = "past" if f >= self.size else "before"
                return Discrepancy(self._blame_byte(m, index, k, observed[k]),
                                   f"{self._where(m, index)}: byte at file offset {f} ({side} EOF "
                                   f"{self.size}) reads {observed[k]:#04x}, the model's {what} says "
                                   f"{want.data[k]:#04x} (set by {ORIGIN_TEXT[origin_kind(want.origin[k])]}); "
                                   f"{len(bad)} byte(s) differ in file offsets {self._span([p * page + b for b in bad])} "
                                   f"(after {self._last_text()})")
        self._learn(m, index, observed, exact)
        return None

    def _learn(self, m: MapModel, index: int, observed: bytes, exact: bool) -> None:
        """Uncertain bytes a view just showed: a private copy holds what it showed; a zero past EOF stays zero."""
        page = self.page
        if index in m.copies:
            image = m.copies[index]
            if image.maybe.find(1) != -1:
                image.data[:] = observed
                image.maybe[:] = bytes(page)
            return
        if exact:  # every uncertain byte showed its stored value: it may still be zeroed later
            return
        base = (m.first_page + index) * page
        c = self.cache
        for f in range(base, base + page):
            if c.maybe[f] and observed[f - base] == 0:
                c.data[f] = c.maybe[f] = 0

    # -- blame: which claim's invariant a difference breaks ---------------------------------------

    def _blame_access(self, m: MapModel, index: int) -> str:
        p = m.first_page + index
        if p * self.page >= self.size:  # wholly past EOF: the SIGBUS claims decide
            if not m.shared:
                if index in m.discarded:
                    return "BUS-5/copied"
                return "BUS-5/untouched" if p < m.max_file_pages else "BUS-1"
            return "BUS-2" if p < m.max_file_pages else "BUS-1"
        if index in m.copies:  # inside the file, it must be accessible
            return "PRIV-5"
        if p in m.cut_pages:
            return "BUS-6"
        if p == self.file_pages() - 1:
            return "BUS-3" if self.last_size_change == "shrank" else "EOF-1"
        return "GEOM-2"

    def _private_bytes_at(self, f: int) -> set[int]:
        out = set()
        for m in self.maps.values():
            index = f // self.page - m.first_page
            if index in m.copies:
                out.add(m.copies[index].data[f % self.page])
        return out

    def _blame_byte(self, m: MapModel, index: int, k: int, seen: int) -> str:
        last = self.last
        if index in m.copies:
            if m.holder == "child":  # the child's own store (FORK-3), or what it inherited (FORK-4)
                stored_by_child = origin_holder(m.copies[index].origin[k]) == "child"
                return "FORK-4" if index in m.inherited and not stored_by_child else "FORK-3"
            if last.op == "store" and not last.shared and last.holder == "child":
                return "FORK-3"
            if last.op == "store" and not last.shared and last.holder != m.holder:
                return "PRIV-2"
            if last.op == "madvise" and last.map_id == m.id:
                return "PRIV-6"
            return "PRIV-5"
        f = (m.first_page + index) * self.page + k
        code = self.cache.origin[f]
        kind = origin_kind(code)
        if f >= self.size:
            return "BUS-3" if kind == TRUNC_ZERO else "EOF-1"
        if kind == HOLE:
            return "EOF-7"
        if kind == EXTEND_TAIL:
            return "EOF-3"
        if kind == EXTEND_ZERO:
            return "BUS-6" if (m.first_page + index) in m.cut_pages else "EOF-5"
        if seen in self._private_bytes_at(f) and seen != self.cache.data[f]:
            return "PRIV-2"
        if m.holder == "child" and kind == INITIAL:
            return "FORK-1"
        if not m.shared and kind != INITIAL:
            return "PRIV-4/read"
        if kind == PWRITE:
            return "SHARED-4"
        if kind == STORE:
            holder = origin_holder(code)
            if holder == "child" or m.holder == "child":
                return "FORK-2"
            if holder != m.holder:
                return "SHARED-1"
            return "GEOM-2" if last.map_id == m.id else "SHARED-9"
        return "GEOM-2"

    def _blame_read(self, f: int, seen: int) -> str:
        kind = origin_kind(self.cache.origin[f])
        last = self.last
        if kind == HOLE:  # zero fill the model is sure of, whatever else happened
            return "EOF-7"
        if kind == EXTEND_TAIL:
            return "EOF-3"
        if kind == EXTEND_ZERO:
            return "EOF-5"
        if last.op in ("store", "msync") and last.shared is False:  # right after a private store or msync
            return "PRIV-1" if last.op == "store" else "SYNC-10"
        if seen in self._private_bytes_at(f):
            return "PRIV-1"
        if last.op == "store" and kind != STORE:
            return "EOF-2"
        if last.op == "munmap" and kind != STORE:
            return "UNMAP-2"
        return "SHARED-3"

    def _last_text(self) -> str:
        last = self.last
        who = {"self": "", "other": " in the second process", "child": " in a fork child"}[last.holder]
        what = {True: " (MAP_SHARED)", False: " (MAP_PRIVATE)", None: ""}[last.shared]
        return f"{last.op}{what}{who}"

    @staticmethod
    def _span(offsets: list[int]) -> str:
        return f"{offsets[0]}..{offsets[-1]}" if len(offsets) > 1 else str(offsets[0])
