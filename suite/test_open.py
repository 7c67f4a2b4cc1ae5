"""OPEN: open() mode versus mapping protection, and the fd after mmap()."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import open as scenario
from suite.strategies import MAX_PAGES, draw_case, file_sizes, fill_seeds, page_offsets

ALL_PROTS = [(), ("PROT_READ",), ("PROT_WRITE",), ("PROT_EXEC",), ("PROT_READ", "PROT_WRITE"),
             ("PROT_READ", "PROT_EXEC"), ("PROT_WRITE", "PROT_EXEC"), ("PROT_READ", "PROT_WRITE", "PROT_EXEC")]
FLAGS = ["MAP_SHARED", "MAP_PRIVATE"]


def allowed_prots(target, must_include: str | None = None, exclude: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # PROT_EXEC on a noexec mount fails with EPERM before the mode is looked at: outside these claims.
    return [p for p in ALL_PROTS
            if (must_include is None or must_include in p) and not set(exclude) & set(p)
            and (target.meets("exec-allowed") or "PROT_EXEC" not in p)]


def prots(target, must_include: str | None = None, exclude: tuple[str, ...] = ()) -> st.SearchStrategy[tuple[str, ...]]:
    return st.sampled_from(allowed_prots(target, must_include, exclude))


def lengths(page: int, in_file: int | None = None) -> st.SearchStrategy[int]:
    """Mapping lengths: page edges, the file's extent from the offset, and anything up to MAX_PAGES+1 pages."""
    edges = [1, page - 1, page, page + 1, 2 * page] + ([in_file, round_up(in_file, page)] if in_file else [])
    return st.sampled_from(edges) | st.integers(1, (MAX_PAGES + 1) * page)


@st.composite
def map_attempts(draw, target, open_mode: str, flags, prot) -> scenario.MapAttempt:
    page = target.page_size
    size = draw(file_sizes(page))
    return scenario.MapAttempt(
        page_size=page,
        open_mode=open_mode,
        prot=draw(prot),
        flags=draw(flags),
        file_size=size,
        length=draw(st.integers(1, (MAX_PAGES + 1) * page)),
        offset=draw(page_offsets(page, size // page + 1)),
    )


@st.composite
def map_matrices(draw, target, open_mode: str) -> scenario.MapMatrix:
    page = target.page_size
    size = draw(file_sizes(page))
    return scenario.MapMatrix(
        page_size=page,
        open_mode=open_mode,
        file_size=size,
        length=draw(lengths(page, size)),
        offset=draw(page_offsets(page, size // page + 1)),
        combos=tuple((prot, flags) for prot in allowed_prots(target) for flags in FLAGS),
    )


def stores_within(span: int, min_stores: int) -> st.SearchStrategy[tuple]:
    """(offset, bytes) stores inside the first ``span`` bytes of a mapping, edges (first and last byte) included."""
    at = st.sampled_from([0, span - 1]) | st.integers(0, span - 1)
    store = at.flatmap(lambda a: st.tuples(st.just(a), st.binary(min_size=1, max_size=min(64, span - a))))
    return st.lists(store, min_size=min_stores, max_size=6).map(tuple)


@st.composite
def use_cases(draw, target, open_mode: str, flags, prot, min_stores: int | None, close_fd, reuse_fd) -> scenario.UseCase:
    """A mapping inside or across EOF, starting inside the file; stores (min_stores None: none) inside the file."""
    page = target.page_size
    size = draw(file_sizes(page, min_size=1, target=target))
    offset = draw(page_offsets(page, (size - 1) // page))
    length = draw(lengths(page, size - offset))
    span = min(length, size - offset)
    close = draw(close_fd)
    return scenario.UseCase(
        page_size=page,
        open_mode=open_mode,
        prot=draw(prot),
        flags=draw(flags),
        file_size=size,
        fill_seed=draw(fill_seeds),
        offset=offset,
        length=length,
        stores=() if min_stores is None else draw(stores_within(span, min_stores)),
        close_fd=close,
        reuse_fd=close and draw(reuse_fd),
    )


@st.composite
def add_writes(draw, target) -> scenario.AddWrite:
    page = target.page_size
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, (size - 1) // page))
    length = draw(lengths(page, size - offset))
    mapped_pages = round_up(length, page) // page
    in_file_pages = round_up(size - offset, page) // page
    first_page = draw(st.integers(0, min(mapped_pages, in_file_pages) - 1))
    pages = draw(st.integers(1, mapped_pages - first_page))
    low, high = first_page * page, min((first_page + pages) * page, size - offset)  # in the range and in the file
    store_at = draw(st.sampled_from([low, high - 1]) | st.integers(low, high - 1))
    return scenario.AddWrite(
        page_size=page,
        file_size=size,
        fill_seed=draw(fill_seeds),
        prot=draw(prots(target, "PROT_READ", exclude=("PROT_WRITE",))),
        offset=offset,
        length=length,
        first_page=first_page,
        pages=pages,
        new_prot=draw(prots(target, "PROT_WRITE")),
        store_at=store_at,
        data=draw(st.binary(min_size=1, max_size=min(8, high - store_at))),
        close_fd=draw(st.booleans()),
    )


@pytest.mark.claim("OPEN-1")
@given(data=st.data())
def test_shared_writable_map_of_rdonly_fd_fails_eacces(conformance, target, data):
    attempt = draw_case(data, target, map_attempts(target, "O_RDONLY", st.just("MAP_SHARED"), prots(target, "PROT_WRITE")))
    conformance.judge(scenario.judge_fails_with_eacces, attempt, conformance.observe(scenario.try_map, conformance.workspace, attempt))


@pytest.mark.claim("OPEN-2")
@given(data=st.data())
def test_private_writable_map_of_rdonly_fd_works_and_stays_private(conformance, target, data):
    case = draw_case(data, target, use_cases(target, "O_RDONLY", st.just("MAP_PRIVATE"), prots(target, "PROT_WRITE"), 1,
                                             st.booleans(), st.just(False)))
    conformance.judge(scenario.judge_private_writable_map_works, case, conformance.observe(scenario.map_and_use, conformance.workspace, case))


@pytest.mark.claim("OPEN-3")
@given(data=st.data())
def test_shared_readonly_map_of_rdonly_fd_loads_file_bytes(conformance, target, data):
    case = draw_case(data, target, use_cases(target, "O_RDONLY", st.just("MAP_SHARED"),
                                             prots(target, "PROT_READ", exclude=("PROT_WRITE",)), None, st.booleans(),
                                             st.just(False)))
    conformance.judge(scenario.judge_map_loads_file_bytes, case, conformance.observe(scenario.map_and_use, conformance.workspace, case))


@pytest.mark.claim("OPEN-4")
@given(data=st.data())
def test_private_readonly_map_of_rdonly_fd_loads_file_bytes(conformance, target, data):
    case = draw_case(data, target, use_cases(target, "O_RDONLY", st.just("MAP_PRIVATE"),
                                             prots(target, "PROT_READ", exclude=("PROT_WRITE",)), None, st.booleans(),
                                             st.just(False)))
    conformance.judge(scenario.judge_map_loads_file_bytes, case, conformance.observe(scenario.map_and_use, conformance.workspace, case))


@pytest.mark.claim("OPEN-5")
@given(data=st.data())
def test_map_of_wronly_fd_fails_whatever_prot_and_flags(conformance, target, data):
    attempt = draw_case(data, target, map_attempts(target, "O_WRONLY", st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"]), prots(target)))
    conformance.judge(scenario.judge_fails, attempt, conformance.observe(scenario.try_map, conformance.workspace, attempt))


@pytest.mark.claim("OPEN-6")
@given(data=st.data())
def test_shared_writable_map_of_wronly_fd_succeeds(conformance, target, data):
    attempt = draw_case(data, target, map_attempts(target, "O_WRONLY", st.just("MAP_SHARED"), prots(target, "PROT_WRITE")))
    conformance.judge(scenario.judge_succeeds, attempt, conformance.observe(scenario.try_map, conformance.workspace, attempt))


@pytest.mark.claim("OPEN-7")
@given(data=st.data())
def test_rdonly_fd_maps_only_without_prot_write(conformance, target, data):
    # Every prot x flags combination is tried on each example's fd, so no combination depends on the draw.
    matrix = draw_case(data, target, map_matrices(target, "O_RDONLY"))
    conformance.judge(scenario.judge_only_readonly_prots_succeed, matrix, conformance.observe(scenario.try_map_each, conformance.workspace, matrix))


@pytest.mark.claim("OPEN-8")
@given(data=st.data())
def test_mprotect_adding_write_to_shared_map_of_rdonly_fd_fails_eacces(conformance, target, data):
    case = draw_case(data, target, add_writes(target))
    conformance.judge(scenario.judge_mprotect_write_refused, case, conformance.observe(scenario.mprotect_add_write, conformance.workspace, case))


@pytest.mark.claim("OPEN-9")
@given(data=st.data())
def test_mapping_loads_and_stores_after_fd_closed(conformance, target, data):
    case = draw_case(data, target, use_cases(target, "O_RDWR", st.sampled_from(FLAGS), st.just(("PROT_READ", "PROT_WRITE")), 1,
                                             st.just(True), st.booleans()))
    conformance.judge(scenario.judge_mapping_valid_after_close, case, conformance.observe(scenario.map_and_use, conformance.workspace, case))
