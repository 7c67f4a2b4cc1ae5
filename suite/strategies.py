"""Hypothesis strategies shared by the claim tests: sizes and offsets around page boundaries."""

from __future__ import annotations

from hypothesis import strategies as st

from fixtures import files
from fixtures.files import EDGE_SIZES, PATTERN_SEEDS
from fixtures.libc import PAGE_SIZE as PAGE, round_up

pattern = files.pattern  # the scenarios' file contents (a read-only image holds exactly these: fixtures/files.py)
MAX_PAGES = 4


def file_sizes(min_size: int = 0, max_size: int = MAX_PAGES * PAGE, unaligned: bool = False) -> st.SearchStrategy[int]:
    """Edge cases (0, 1, k·page±1, k·page) first, then any size in range."""
    edges = [s for s in EDGE_SIZES if min_size <= s <= max_size]
    sizes = st.one_of(st.sampled_from(edges), st.integers(min_size, max_size)) if edges else st.integers(min_size, max_size)
    return sizes.filter(lambda s: s % PAGE) if unaligned else sizes


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
