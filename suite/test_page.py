"""PAGE: demand paging and advice (residency through mincore(2) and cachestat(2))."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import page as scenario
from suite.strategies import PageRelative, draw_case, file_sizes, open_modes

MIB = 1 << 20
GIB = 1 << 30

# (open mode, prot, flags) combinations mmap() accepts for a regular file (MAP_SHARED with PROT_WRITE needs O_RDWR).
READ_PROTS = [("PROT_READ",), ("PROT_READ", "PROT_WRITE"), ("PROT_READ", "PROT_EXEC")]
MAPPINGS = [
    (mode, prot, flags)
    for mode in ("O_RDONLY", "O_RDWR")
    for prot in [("PROT_NONE",)] + READ_PROTS
    for flags in ("MAP_SHARED", "MAP_PRIVATE")
    if not (mode == "O_RDONLY" and flags == "MAP_SHARED" and "PROT_WRITE" in prot)
]
READABLE_MAPPINGS = [m for m in MAPPINGS if "PROT_READ" in m[1]]


def _reject_unless_evicted(conformance, seen) -> None:
    """An example whose file stayed cached after eviction cannot show what mmap() made resident: another is drawn.
    (Where eviction never works, the requirement page-cache-evictable makes the claim unsupported up front.)"""
    if seen.cached_before:
        conformance.reject(f"{seen.cached_before} pages of the file stayed cached after fsync() and "
                           f"posix_fadvise(POSIX_FADV_DONTNEED)")


def _windows(target) -> tuple[int, int, int]:
    """(page size, readahead window, fault-around window): the windows in pages of the target's page size."""
    page = target.page_size
    return page, scenario.readahead_pages(target.run_dir, page), scenario.fault_around_pages(page)


@st.composite
def fresh_maps(draw, page: int) -> scenario.MapCase:
    size = draw(file_sizes(page) | st.sampled_from([MIB, 4 * MIB + 1]) | st.integers(0, 8 * MIB))
    mode, prot, flags = draw(st.sampled_from(MAPPINGS))
    file_pages = round_up(size, page) // page
    offset = draw(st.just(0) | st.integers(0, file_pages).map(lambda k: k * page))
    beyond = draw(st.integers(0, 2)) * page  # up to two pages past the end of the file's last page
    room = max(round_up(size, page) - offset + beyond, 1)
    length = min(draw(st.sampled_from([1, page - 1, page, page + 1, room]) | st.integers(1, room)), room)
    return scenario.MapCase(page, size, mode, prot, flags, offset, length)


@st.composite
def touches(draw, page: int, readahead: int, fault_around: int) -> scenario.TouchCase:
    far = scenario.far_pages(readahead, fault_around, page)
    # Big enough that pages farther than `far` from the touched page exist, up to three such distances.
    pages = draw(st.sampled_from([far + 2, 2 * far + 3, 3 * far]) | st.integers(far + 2, 3 * far))
    size = pages * page - draw(st.sampled_from([0, 1, page - 1]) | st.integers(0, page - 1))
    mode, prot, flags = draw(st.sampled_from(READABLE_MAPPINGS))
    touched = draw(st.sampled_from([0, pages // 2, pages - 1]) | st.integers(0, pages - 1))
    in_page = min(page, size - touched * page)
    byte = draw(st.sampled_from([0, in_page - 1]) | st.integers(0, in_page - 1))
    return scenario.TouchCase(page, size, mode, prot, flags, touched, byte, readahead, fault_around)


@st.composite
def willneeds(draw, page: int, readahead: int, fault_around: int) -> scenario.WillneedCase:
    far = scenario.far_pages(readahead, fault_around, page)
    mode, prot, flags = draw(st.sampled_from(READABLE_MAPPINGS))
    # Half the examples, on purpose: an advised range wider than one readahead window (the edge where a
    # prefetch could be cut short), so every run covers it whatever else it draws.
    if draw(st.booleans(), label="wider than the readahead window"):
        pages = draw(st.sampled_from([readahead + 1, 4 * readahead + 1]) | st.integers(readahead + 1, 4 * readahead + 1))
        count = draw(st.sampled_from([readahead + 1, pages]) | st.integers(readahead + 1, pages))
    else:
        # From one page to several readahead windows with far pages on both sides of a middle range.
        pages = draw(st.sampled_from([1, 2, 17, readahead, 2 * far + readahead, 4 * readahead + 1])
                     | st.integers(1, max(4 * readahead, 2 * far + readahead)))
        count = draw(st.sampled_from([1, min(readahead, pages), pages]) | st.integers(1, min(readahead, pages)))
    size = pages * page - draw(st.sampled_from([0, 1]) | st.integers(0, page - 1))
    first = draw(st.sampled_from([0, pages - count, (pages - count) // 2]) | st.integers(0, pages - count))
    length = count * page - draw(st.sampled_from([0, page - 1]) | st.integers(0, page - 1))
    return scenario.WillneedCase(page, size, mode, prot, flags, first, length, readahead, fault_around)


@st.composite
def advice_cases(draw, advice: st.SearchStrategy, target) -> scenario.AdviceCase:
    page = target.page_size
    size = draw(file_sizes(page, 1, 4 * MIB, target=target, sizes=file_sizes(page, min_size=1) | st.integers(1, 4 * MIB)))
    file_pages = round_up(size, page) // page
    offset_page = draw(st.integers(0, file_pages - 1))
    map_pages = draw(st.integers(1, file_pages - offset_page))
    length = map_pages * page - draw(st.sampled_from([0, page - 1]) | st.integers(0, page - 1))
    first = draw(st.integers(0, map_pages - 1))
    advise_length = draw(st.integers(1, (map_pages - first) * page))
    return scenario.AdviceCase(page, size, draw(st.sampled_from(open_modes(target))), offset_page * page, length,
                               first, advise_length, draw(st.booleans()), draw(advice))


@st.composite
def large_maps(draw, page: int) -> scenario.LargeMapCase:
    size = draw(st.sampled_from([GIB, 4 * GIB, 64 * GIB, 64 * GIB + 1, 1 << 40]) | st.integers(GIB, 64 * GIB))
    mode, prot, flags = draw(st.sampled_from([
        ("O_RDONLY", ("PROT_READ",), "MAP_PRIVATE"),
        ("O_RDONLY", ("PROT_READ",), "MAP_SHARED"),
        ("O_RDWR", ("PROT_READ", "PROT_WRITE"), "MAP_SHARED"),
        ("O_RDWR", ("PROT_NONE",), "MAP_SHARED"),
    ]))
    # Below half the smallest size the scenario settles for, so always well inside the file.
    half = scenario.SMALLEST_LARGE_FILE // 2
    offset = draw(st.sampled_from([0, page]) | st.integers(0, half // page - 1).map(lambda k: k * page))
    probes = draw(st.lists(st.integers(0, 1 << 40), min_size=1, max_size=16).map(tuple))
    return scenario.LargeMapCase(page, size, mode, prot, flags, offset, probes)


@pytest.mark.claim("PAGE-1")
@pytest.mark.run_alone
@given(data=st.data())
def test_mmap_of_uncached_file_makes_no_page_resident(conformance, target, data):
    case = draw_case(data, target, fresh_maps(target.page_size))
    conformance.workspace.ensure_executable(case.prot)
    seen = conformance.observe(scenario.map_fresh, conformance.workspace, case)
    _reject_unless_evicted(conformance, seen)
    conformance.judge(scenario.judge_mmap_loads_nothing, case, seen)


@pytest.mark.claim("PAGE-2")
@pytest.mark.run_alone
@given(data=st.data())
def test_first_load_makes_page_resident_far_pages_stay_absent(conformance, target, data):
    case = draw_case(data, target, touches(*_windows(target)))
    conformance.workspace.ensure_executable(case.prot)
    seen = conformance.observe(scenario.touch_one_page, conformance.workspace, case)
    _reject_unless_evicted(conformance, seen)
    conformance.judge(scenario.judge_first_access_loads_page_only_nearby, case, seen)


@pytest.mark.claim("PAGE-3")
@pytest.mark.run_alone
@given(data=st.data())
def test_madvise_willneed_makes_advised_pages_resident_untouched(conformance, target, data):
    case = draw_case(data, target, willneeds(*_windows(target)))
    conformance.workspace.ensure_executable(case.prot)
    seen = conformance.observe(scenario.advise_willneed, conformance.workspace, case)
    _reject_unless_evicted(conformance, seen)
    conformance.judge(scenario.judge_willneed_prefetches, case, seen)


CONVENTIONAL = st.permutations(["MADV_SEQUENTIAL", "MADV_RANDOM", "MADV_DONTNEED"]).map(tuple)


def advised_range(advice: tuple[str, ...], ends_inside_a_page: bool) -> PageRelative:
    """Advice on the first page of a two-page mapping, or on a page and a half: where a mapping's pages are larger
    than the base page (hugetlbfs), advice that changes the VMA's flags must split it, and it can only be split at
    one of its pages' boundaries. Both are explicit examples, so every run sees both answers where they differ."""
    return PageRelative(lambda page: scenario.AdviceCase(
        page, 2 * page, "O_RDONLY", 0, 2 * page, 0, page + page // 2 if ends_inside_a_page else page, False, advice))


@pytest.mark.claim("PAGE-4/conventional")
@given(data=st.data())
@example(data=advised_range(("MADV_SEQUENTIAL", "MADV_RANDOM", "MADV_DONTNEED"), ends_inside_a_page=False))
@example(data=advised_range(("MADV_SEQUENTIAL", "MADV_RANDOM", "MADV_DONTNEED"), ends_inside_a_page=True))
def test_madvise_sequential_random_dontneed_on_private_file_mapping(conformance, target, data):
    case = draw_case(data, target, advice_cases(CONVENTIONAL, target))
    conformance.judge(scenario.judge_conventional_advice, case, conformance.observe(scenario.advise, conformance.workspace, case))


@pytest.mark.claim("PAGE-4/hugepage")
@given(data=st.data())
@example(data=advised_range(("MADV_HUGEPAGE",), ends_inside_a_page=False))
@example(data=advised_range(("MADV_HUGEPAGE",), ends_inside_a_page=True))
def test_madvise_hugepage_on_private_file_mapping(conformance, target, data):
    case = draw_case(data, target, advice_cases(st.just(("MADV_HUGEPAGE",)), target))
    conformance.judge(scenario.judge_hugepage_advice, case, conformance.observe(scenario.advise, conformance.workspace, case))


@pytest.mark.claim("PAGE-5")
@pytest.mark.run_alone
@given(data=st.data())
def test_mmap_of_huge_sparse_file_makes_nothing_resident(conformance, target, data):
    case = draw_case(data, target, large_maps(target.page_size))
    seen = conformance.observe(scenario.map_large, conformance.workspace, case)
    _reject_unless_evicted(conformance, seen)
    conformance.judge(scenario.judge_large_map_costs_nothing, case, seen)
