"""PRIV: MAP_PRIVATE stores stay in the process that made them."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from suite.scenarios import priv as scenario
from suite.strategies import draw_case, file_sizes, pattern


def stores(size: int) -> st.SearchStrategy[tuple]:
    store = st.integers(0, size - 1).flatmap(
        lambda at: st.tuples(st.just(at), st.binary(min_size=1, max_size=min(64, size - at))))
    return st.lists(store, min_size=1, max_size=6).map(tuple)


@st.composite
def private_stores(draw, page: int) -> scenario.PrivateStores:
    size = draw(file_sizes(page, min_size=1))
    return scenario.PrivateStores(page, size, draw(st.sampled_from(["O_RDONLY", "O_RDWR"])), draw(stores(size)))


@st.composite
def private_stores_elsewhere(draw, page: int) -> scenario.PrivateStoresElsewhere:
    size = draw(file_sizes(page, min_size=1))
    return scenario.PrivateStoresElsewhere(
        page_size=page,
        file_size=size,
        open_mode=draw(st.sampled_from(["O_RDONLY", "O_RDWR"])),
        stores=draw(stores(size)),
        reader_flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        reader_maps=draw(st.sampled_from(["before", "after"])),
    )


@pytest.mark.claim("PRIV-1")
@given(data=st.data())
def test_private_stores_never_reach_file(conformance, target, data):
    case = draw_case(data, target, private_stores(target.page_size))
    conformance.judge(scenario.judge_file_unchanged, case, conformance.observe(scenario.store_private, conformance.workspace, case))


@pytest.mark.claim("PRIV-2")
@given(data=st.data())
def test_private_stores_invisible_to_other_process(conformance, target, data):
    case = draw_case(data, target, private_stores_elsewhere(target.page_size))
    conformance.judge(scenario.judge_other_process_sees_file, case,
                      conformance.observe(scenario.store_private_read_elsewhere, conformance.workspace, case))


def _store_in_page(draw, page_size: int, size: int, page: int, current: bytes) -> tuple[int, bytes]:
    """(offset inside the page, bytes) inside the file's part of the page, differing from ``current`` there."""
    in_page = min(page_size, size - page * page_size)
    at = draw(st.sampled_from([0, in_page - 1]) | st.integers(0, in_page - 1))
    base = page * page_size + at
    data = draw(st.binary(min_size=1, max_size=min(64, in_page - at)).filter(lambda d: d != current[base:base + len(d)]))
    return at, data


@st.composite
def private_frames(draw, page_size: int) -> scenario.PrivateFrames:
    size = draw(file_sizes(page_size, min_size=1))
    page = draw(st.integers(0, (size - 1) // page_size))
    return scenario.PrivateFrames(
        page_size=page_size,
        file_size=size,
        page=page,
        open_mode=draw(st.sampled_from(["O_RDONLY", "O_RDWR"])),
        shared_in=draw(st.sampled_from(["self", "other"])),
        first=draw(st.sampled_from(["private", "shared"])),
        store=_store_in_page(draw, page_size, size, page, pattern(scenario.FILL, size)),
    )


@st.composite
def later_changes(draw, page_size: int, accessed: tuple[str, ...]) -> scenario.LaterChange:
    how = draw(st.sampled_from(accessed))
    far = scenario.far_pages(page_size)
    if how == "distant":  # so far apart that no fault on one page maps the other
        pages = draw(st.integers(far + 1, far + 16))
        size = (pages - 1) * page_size + draw(st.sampled_from([page_size]) | st.integers(1, page_size))
        page = draw(st.sampled_from([p for p in range(pages) if p + far < pages or p >= far]))
        distant = draw(st.sampled_from([d for d in range(pages) if abs(d - page) >= far]))
    else:
        size = draw(file_sizes(page_size, min_size=1))
        page, distant = draw(st.integers(0, (size - 1) // page_size)), 0
    return scenario.LaterChange(
        page_size=page_size,
        file_size=size,
        page=page,
        accessed=how,
        distant_page=distant,
        far_pages=far,
        prot=draw(st.sampled_from([("PROT_READ",), ("PROT_READ", "PROT_WRITE")])),
        change=_store_in_page(draw, page_size, size, page, pattern(scenario.FILL, size)),
        method=draw(st.sampled_from(["write", "shared-store"])),
    )


@st.composite
def copies_then_changes(draw, page_size: int) -> scenario.CopiedThenChanged:
    size = draw(file_sizes(page_size, min_size=page_size + 1))
    last = (size - 1) // page_size
    original = pattern(scenario.FILL, size)
    stores = []
    for _ in range(draw(st.integers(1, 3))):
        page = draw(st.integers(0, last))
        at, data = _store_in_page(draw, page_size, size, page, original)
        stores.append((page * page_size + at, data))
    private = scenario._apply(original, stores)
    written = sorted({at // page_size for at, _ in stores})  # each store lies inside one page
    changes = []
    for _ in range(draw(st.integers(1, 4))):  # the changes aim at written pages first, then anywhere
        page = draw(st.sampled_from(written) | st.integers(0, last))
        at, data = _store_in_page(draw, page_size, size, page, private)
        changes.append((page * page_size + at, data, draw(st.sampled_from(["write", "shared-store"]))))
    return scenario.CopiedThenChanged(page_size, size, draw(st.sampled_from(["O_RDONLY", "O_RDWR"])), draw(st.booleans()),
                                      tuple(stores), tuple(changes))


@st.composite
def dontneed_privates(draw, page_size: int) -> scenario.DontneedPrivate:
    size = draw(file_sizes(page_size, min_size=1))
    last = (size - 1) // page_size
    original = pattern(scenario.FILL, size)
    stores = []
    for _ in range(draw(st.integers(1, 4))):
        page = draw(st.integers(0, last))
        at, data = _store_in_page(draw, page_size, size, page, scenario._apply(original, stores))
        stores.append((page * page_size + at, data))
    private = scenario._apply(original, stores)
    changed = [p for p in range(last + 1)
               if private[p * page_size:(p + 1) * page_size] != original[p * page_size:(p + 1) * page_size]]
    assume(changed)  # later stores may put back what earlier ones changed
    page = draw(st.sampled_from(changed))
    start = draw(st.integers(0, page))
    return scenario.DontneedPrivate(page_size, size, draw(st.sampled_from(["O_RDONLY", "O_RDWR"])), tuple(stores),
                                    start, draw(st.integers(page, last)) - start + 1)


@pytest.mark.claim("PRIV-3")
@given(data=st.data())
def test_private_page_is_page_cache_frame_until_first_store(conformance, target, data):
    case = draw_case(data, target, private_frames(target.page_size))
    conformance.judge(scenario.judge_private_page_is_cache_page_until_written, case,
                      conformance.observe(scenario.private_frames, conformance.workspace, case))


@pytest.mark.claim("PRIV-4/untouched")
@given(data=st.data())
def test_private_unaccessed_page_after_file_change(conformance, target, data):
    case = draw_case(data, target, later_changes(target.page_size, ("none", "distant")))
    conformance.judge(scenario.judge_later_change_seen, case, conformance.observe(scenario.private_page_after_change, conformance.workspace, case))


@pytest.mark.claim("PRIV-4/read")
@given(data=st.data())
def test_private_read_page_after_file_change(conformance, target, data):
    case = draw_case(data, target, later_changes(target.page_size, ("read",)))
    conformance.judge(scenario.judge_later_change_seen, case, conformance.observe(scenario.private_page_after_change, conformance.workspace, case))


@pytest.mark.claim("PRIV-5")
@given(data=st.data())
def test_private_written_page_ignores_later_file_changes(conformance, target, data):
    case = draw_case(data, target, copies_then_changes(target.page_size))
    conformance.judge(scenario.judge_copied_page_ignores_changes, case, conformance.observe(scenario.copy_then_change, conformance.workspace, case))


@pytest.mark.claim("PRIV-6")
@given(data=st.data())
def test_madv_dontneed_on_written_private_page(conformance, target, data):
    case = draw_case(data, target, dontneed_privates(target.page_size))
    conformance.judge(scenario.judge_dontneed_private_page, case, conformance.observe(scenario.dontneed_private, conformance.workspace, case))
