"""Hypothesis strategies shared by the claim tests: sizes and offsets around page boundaries."""

from __future__ import annotations

from hypothesis import strategies as st

from fixtures import files
from fixtures.files import EDGE_SIZES, PATTERN_SEEDS
from fixtures.libc import PAGE_SIZE as PAGE, round_up

pattern = files.pattern  # the scenarios' file contents (a read-only image holds exactly these: fixtures/files.py)
MAX_PAGES = 4


def read_only(target) -> bool:
    """Whether ``target`` is a read-only image (--fs squashfs, erofs): the only files there are its corpus
    (fixtures/files.py write_corpus()): one per EDGE_SIZES size, all zeros or pattern(seed, size) for a seed
    fill_seeds draws. A claim test draws only those there (file_sizes(target=...)), so no example is rejected."""
    return bool(target is not None and (target.fs.get("provisioned") or {}).get("read_only"))


def file_sizes(min_size: int = 0, max_size: int = MAX_PAGES * PAGE, unaligned: bool = False, target=None,
               sizes: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[int]:
    """Edge cases (0, 1, k·page±1, k·page) first, then any size in range (or ``sizes``: a claim's own draw of sizes
    in range). On a read-only ``target`` (read_only()) only the edge sizes in range: its image holds no other."""
    edges = [s for s in EDGE_SIZES if min_size <= s <= max_size]
    if read_only(target):
        held = [s for s in edges if not (unaligned and s % PAGE == 0)]
        if not held:
            raise ValueError(f"a read-only image holds no file of {min_size} to {max_size} bytes (EDGE_SIZES)")
        return st.sampled_from(held)
    if sizes is None:
        sizes = st.one_of(st.sampled_from(edges), st.integers(min_size, max_size)) if edges else st.integers(min_size, max_size)
    return sizes.filter(lambda s: s % PAGE) if unaligned else sizes


def open_modes(target=None) -> list[str]:
    """The modes a claim test may open its file with for a mapping: O_RDWR too, except on a read-only target
    (read_only(): the open fails with EROFS and the example is rejected)."""
    return ["O_RDONLY"] if read_only(target) else ["O_RDONLY", "O_RDWR"]


def page_offsets(max_page: int) -> st.SearchStrategy[int]:
    """A page-multiple file offset from 0 to max_page pages."""
    return st.integers(0, max(max_page, 0)).map(lambda k: k * PAGE)


fill_seeds = st.integers(PATTERN_SEEDS.start, PATTERN_SEEDS.stop - 1)


def eof_page_end(size: int) -> int:
    """The file offset where the page holding EOF ends."""
    return round_up(size)


def store_in(lo: int, hi: int) -> st.SearchStrategy[tuple[int, bytes]]:
    """One store (offset, bytes) inside [lo, hi): edge offsets (first byte, last byte, page boundaries) or any."""
    edges = {lo, hi - 1} | set(range(round_up(lo), hi, PAGE)) | {p - 1 for p in range(round_up(lo + 1), hi, PAGE)}
    at = st.sampled_from(sorted(e for e in edges if lo <= e < hi)) | st.integers(lo, hi - 1)
    return at.flatmap(lambda a: st.tuples(st.just(a), st.binary(min_size=1, max_size=min(2 * PAGE, hi - a))))


def stores_in(lo: int, hi: int, max_size: int = 6) -> st.SearchStrategy[tuple]:
    return st.lists(store_in(lo, hi), min_size=1, max_size=max_size).map(tuple)
