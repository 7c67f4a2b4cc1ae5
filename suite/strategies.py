"""Hypothesis strategies shared by the claim tests: sizes and offsets around page boundaries, at the page size a
test draws in (``page``: its target's, Target.page_size), and how a claim test gets its case (draw_case())."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from hypothesis import strategies as st

from fixtures import files
from fixtures.files import PATTERN_SEEDS, edge_sizes
from fixtures.libc import PAGE_SIZE, round_up
from suite.scenarios.case import PagedCase

pattern = files.pattern  # the scenarios' file contents (a read-only image holds exactly these: fixtures/files.py)
MAX_PAGES = 4


# A strategy made once for each distinct set of arguments, not at every draw: a composite strategy calls these
# for each example it draws, and Hypothesis validates every new strategy it is given (milliseconds an example).
once_per_arguments = functools.lru_cache(maxsize=4096)


def read_only(target) -> bool:
    """Whether ``target`` is a read-only image (--fs squashfs, erofs): the only files there are its corpus
    (fixtures/files.py write_corpus()): one per edge size, all zeros or pattern(seed, size) for a seed
    fill_seeds draws. A claim test draws only those there (file_sizes(target=...)), so no example is rejected."""
    return bool(target is not None and (target.fs.get("provisioned") or {}).get("read_only"))


def file_sizes(page: int, min_size: int = 0, max_size: int | None = None, unaligned: bool = False, target=None,
               sizes: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[int]:
    """Edge cases (0, 1, k·page±1, k·page) first, then any size in range (up to MAX_PAGES pages by default; or
    ``sizes``: a claim's own draw of sizes in range). On a read-only ``target`` (read_only()) only the edge sizes
    in range: its image holds no other."""
    max_size = MAX_PAGES * page if max_size is None else max_size
    return _file_sizes(page, min_size, max_size, unaligned, read_only(target), sizes)


@once_per_arguments
def _file_sizes(page: int, min_size: int, max_size: int, unaligned: bool, read_only_image: bool,
                sizes: st.SearchStrategy[int] | None) -> st.SearchStrategy[int]:
    edges = [s for s in edge_sizes(page) if min_size <= s <= max_size]
    if read_only_image:
        held = [s for s in edges if not (unaligned and s % page == 0)]
        if not held:
            raise ValueError(f"a read-only image holds no file of {min_size} to {max_size} bytes (edge_sizes)")
        return st.sampled_from(held)
    if sizes is None:
        sizes = st.one_of(st.sampled_from(edges), st.integers(min_size, max_size)) if edges else st.integers(min_size, max_size)
    return sizes.filter(lambda s: s % page) if unaligned else sizes


def open_modes(target=None) -> list[str]:
    """The modes a claim test may open its file with for a mapping: O_RDWR too, except on a read-only target
    (read_only(): the open fails with EROFS and the example is rejected)."""
    return ["O_RDONLY"] if read_only(target) else ["O_RDONLY", "O_RDWR"]


@once_per_arguments
def page_offsets(page: int, max_page: int) -> st.SearchStrategy[int]:
    """A page-multiple file offset from 0 to max_page pages."""
    return st.integers(0, max(max_page, 0)).map(lambda k: k * page)


fill_seeds = st.integers(PATTERN_SEEDS.start, PATTERN_SEEDS.stop - 1)


@once_per_arguments
def store_in(page: int, lo: int, hi: int) -> st.SearchStrategy[tuple[int, bytes]]:
    """One store (offset, bytes) inside [lo, hi): edge offsets (first byte, last byte, page boundaries) or any."""
    edges = ({lo, hi - 1} | set(range(round_up(lo, page), hi, page))
             | {p - 1 for p in range(round_up(lo + 1, page), hi, page)})
    at = st.sampled_from(sorted(e for e in edges if lo <= e < hi)) | st.integers(lo, hi - 1)
    return at.flatmap(lambda a: st.tuples(st.just(a), st.binary(min_size=1, max_size=min(2 * page, hi - a))))


@once_per_arguments
def stores_in(page: int, lo: int, hi: int, max_size: int = 6) -> st.SearchStrategy[tuple]:
    return st.lists(store_in(page, lo, hi), min_size=1, max_size=max_size).map(tuple)


@dataclass(frozen=True)
class PageRelative:
    """An explicit example that means the same at every page size: ``build(page_size)`` makes the case. A claim
    test takes it as its ``data`` (``@example(data=PageRelative(lambda page: ...))``) and draw_case() builds it at
    its target's page size where it would draw the case."""

    build: Callable[[int], PagedCase]

    def __repr__(self) -> str:  # what Hypothesis prints of a failing explicit example: the case at this host's page
        return f"PageRelative(at {PAGE_SIZE}-byte pages: {self.build(PAGE_SIZE)!r})"


def draw_case(data, target, cases: st.SearchStrategy[PagedCase]) -> PagedCase:
    """The case a claim test runs on ``target``: drawn from ``cases`` (a strategy drawing at target.page_size), or
    its explicit example (``data`` a PageRelative) built at that page size. Checked either way (PagedCase.check):
    a case that does not fit the page size is an error, never a verdict."""
    case = data.build(target.page_size) if isinstance(data, PageRelative) else data.draw(cases, label="case")
    case.check()
    return case
