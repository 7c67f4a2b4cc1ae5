"""PAGE judges can fail."""

from __future__ import annotations

from fixtures.outcome import returned
from suite.scenarios import page
from tests.judges.helpers import SIGBUS, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

RA, FA = 32, 16
FAR = page.far_pages(RA, FA, PAGE)  # 32 + 16 + 256 = 304 pages

MAP = page.MapCase(PAGE, 3 * 4096, "O_RDONLY", ("PROT_READ",), "MAP_PRIVATE", 0, 3 * 4096)
FRESH = page.FreshMapSeen(0, None, (), 0)

TOUCH = page.TouchCase(PAGE, 1000 * 4096, "O_RDONLY", ("PROT_READ",), "MAP_SHARED", 500, 7, RA, FA)
LOADED = returned(b"\x5a")
TOUCHED = page.TouchSeen(0, (), LOADED, ((484, 515),))

WILLNEED = page.WillneedCase(PAGE, 1000 * 4096, "O_RDONLY", ("PROT_READ",), "MAP_PRIVATE", 400, 100 * 4096 - 1, RA, FA)
PREFETCHED = page.WillneedSeen(0, (), None, ((400, 499),), 0.01, 100)

CONVENTIONAL = page.AdviceCase(PAGE, 8192, "O_RDONLY", 0, 8192, 0, 4096, False,
                               ("MADV_RANDOM", "MADV_DONTNEED", "MADV_SEQUENTIAL"))
HUGEPAGE = page.AdviceCase(PAGE, 8192, "O_RDONLY", 0, 8192, 0, 4096, True, ("MADV_HUGEPAGE",))
ALL_ACCEPTED = page.AdviceSeen((("MADV_RANDOM", None), ("MADV_DONTNEED", None), ("MADV_SEQUENTIAL", None)))

LARGE = page.LargeMapCase(PAGE, 64 << 30, "O_RDONLY", ("PROT_READ",), "MAP_PRIVATE", 0, (5,))
LARGE_SEEN = page.LargeMapSeen(64 << 30, 0, None, 64 << 30, 0, 0, (0, 5, (16 << 20) - 1), ())

CASES = {
    page.judge_mmap_loads_nothing: (MAP, FRESH, [
        page.FreshMapSeen(0, "ENOMEM", (), 0),
        page.FreshMapSeen(0, None, ((1, 1),), 0),
        page.FreshMapSeen(0, None, (), 3)]),
    page.judge_first_access_loads_page_only_nearby: (TOUCH, TOUCHED, [
        page.TouchSeen(0, ((900, 999),), LOADED, ((484, 515), (900, 999))),  # resident before the load
        page.TouchSeen(0, (), SIGBUS, ()),  # the load failed
        page.TouchSeen(0, (), LOADED, ((0, 499),)),  # the touched page is not resident
        page.TouchSeen(0, (), LOADED, ((484, 515), (500 + FAR + 1, 500 + FAR + 1))),  # a far page came in
        page.TouchSeen(0, (), LOADED, ((0, 999),))]),  # the whole file came in
    page.judge_willneed_prefetches: (WILLNEED, PREFETCHED, [
        page.WillneedSeen(0, ((0, 0),), None, ((0, 0), (400, 499)), 0.01, 101),  # resident before the advice
        page.WillneedSeen(0, (), "EINVAL", (), 0.0, 0),
        page.WillneedSeen(0, (), None, ((400, 498),), 2.0, 99),  # the last advised page is missing
        page.WillneedSeen(0, (), None, (), 2.0, None),  # nothing came in within the bound
        page.WillneedSeen(0, (), None, ((400, 499), (499 + FAR + 1, 499 + FAR + 1)), 0.01, 100)]),  # far control page
    page.judge_conventional_advice: (CONVENTIONAL, ALL_ACCEPTED, [
        page.AdviceSeen((("MADV_RANDOM", None), ("MADV_DONTNEED", "EBADF"), ("MADV_SEQUENTIAL", None))),
        page.AdviceSeen((("MADV_RANDOM", "ENOMEM"), ("MADV_DONTNEED", "EINVAL"), ("MADV_SEQUENTIAL", None))),
        page.AdviceSeen((("MADV_RANDOM", None), ("MADV_SEQUENTIAL", None))),  # one hint never given
        page.AdviceSeen(())]),
    page.judge_hugepage_advice: (HUGEPAGE, page.AdviceSeen((("MADV_HUGEPAGE", "EINVAL"),)), [
        page.AdviceSeen((("MADV_HUGEPAGE", "EPERM"),)),
        page.AdviceSeen((("MADV_HUGEPAGE", "ENOMEM"),)),
        page.AdviceSeen(())]),
    page.judge_large_map_costs_nothing: (LARGE, LARGE_SEEN, [
        page.LargeMapSeen(64 << 30, 0, "ENOMEM", 64 << 30, None, 0, (), ()),
        page.LargeMapSeen(64 << 30, 0, None, 64 << 30, None, 0, (0, 5), ()),  # the mapping is not in smaps
        page.LargeMapSeen(64 << 30, 0, None, 64 << 30, 4, 0, (0, 5), ()),  # Rss grew
        page.LargeMapSeen(64 << 30, 0, None, 64 << 30, 0, 1, (0, 5), ()),  # the page cache grew
        page.LargeMapSeen(64 << 30, 0, None, 64 << 30, 0, 0, (0, 5), (5,)),  # a sampled page is resident
        page.LargeMapSeen(64 << 30, None, None, 64 << 30, 0, None, (0, 5), (5,)),  # the same, pages not counted (< 6.5)
        page.LargeMapSeen(64 << 30, None, None, 64 << 30, 4, None, (0, 5), ()),  # Rss grew, pages not counted
        page.LargeMapSeen(64 << 30, 0, None, 64 << 30, 0, 0, (), ())]),  # nothing sampled
}


def test_far_pages_beyond_both_windows():
    assert page.far_pages(RA, FA, PAGE) > RA + FA


def test_runs_compact_residency():
    assert page.runs([False, True, True, False, True]) == ((1, 2), (4, 4))
    assert page.expand(((1, 2), (4, 4))) == {1, 2, 4}


def test_conventional_einval_is_an_alternative():
    seen = page.AdviceSeen((("MADV_RANDOM", None), ("MADV_DONTNEED", None), ("MADV_SEQUENTIAL", "EINVAL")))
    finding = page.judge_conventional_advice(CONVENTIONAL, seen)
    assert (finding.verdict, finding.alternative) == ("observed", "einval")
    assert page.judge_conventional_advice(CONVENTIONAL, ALL_ACCEPTED).alternative == "accepted"


test_accepts_conforming, test_rejects_violating = self_tests(CASES)
