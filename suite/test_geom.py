"""GEOM: offset, length, address and return value of mmap()."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import geom as scenario
from suite.strategies import MAX_PAGES, draw_case, file_sizes, fill_seeds, open_modes, page_offsets, read_only

ALL_PROTS = [(), ("PROT_READ",), ("PROT_WRITE",), ("PROT_EXEC",), ("PROT_READ", "PROT_WRITE"),
             ("PROT_READ", "PROT_EXEC"), ("PROT_WRITE", "PROT_EXEC"), ("PROT_READ", "PROT_WRITE", "PROT_EXEC")]
READABLE = [p for p in ALL_PROTS if "PROT_READ" in p]
FLAGS = ["MAP_SHARED", "MAP_PRIVATE"]


@st.composite
def valid_modes(draw, target, prots=READABLE) -> tuple[str, tuple[str, ...], str]:
    """A (open mode, prot, flags) mmap accepts: MAP_SHARED with PROT_WRITE needs O_RDWR (so not on a read-only image:
    open_modes()); no PROT_EXEC on a noexec mount."""
    prot = draw(st.sampled_from([p for p in prots if (target.meets("exec-allowed") or "PROT_EXEC" not in p)]))
    flags = draw(st.sampled_from(["MAP_PRIVATE"] if read_only(target) and "PROT_WRITE" in prot else FLAGS))
    mode = "O_RDWR" if flags == "MAP_SHARED" and "PROT_WRITE" in prot else draw(st.sampled_from(open_modes(target)))
    return mode, prot, flags


def lengths(page: int, max_pages: int = MAX_PAGES + 1) -> st.SearchStrategy[int]:
    return st.sampled_from([1, page - 1, page, page + 1, 2 * page - 1]) | st.integers(1, max_pages * page)


def unaligned_offsets(page: int) -> st.SearchStrategy[int]:
    """Offsets that are not page multiples: just off a multiple (k*page +- small), mid-page, and anything up to 2**40."""
    near = st.tuples(st.integers(0, 1 << 20), st.sampled_from([1, 2, 8, 512, page // 2, -1, -2, -8, -512]))
    return st.one_of(
        near.map(lambda kd: kd[0] * page + kd[1]).filter(lambda o: o > 0),
        st.integers(1, page - 1),
        st.integers(1, 1 << 40).filter(lambda o: o % page),
    )


@st.composite
def unaligned_offset_calls(draw, target) -> scenario.MmapCall:
    page = target.page_size
    mode, prot, flags = draw(valid_modes(target, ALL_PROTS))
    return scenario.MmapCall(page, mode, prot, (flags,), draw(file_sizes(page)), draw(lengths(page)),
                             draw(unaligned_offsets(page)))


@st.composite
def zero_length_calls(draw, target) -> scenario.MmapCall:
    page = target.page_size
    mode, prot, flags = draw(valid_modes(target, ALL_PROTS))
    size = draw(file_sizes(page))
    if draw(st.booleans()):  # an anonymous mapping
        return scenario.MmapCall(page, None, prot, (flags, "MAP_ANONYMOUS"), size, 0, 0)
    return scenario.MmapCall(page, mode, prot, (flags,), size, 0, draw(page_offsets(page, size // page + 1)))


@st.composite
def shared_private_calls(draw, target) -> scenario.MmapCall:
    page = target.page_size
    size = draw(file_sizes(page))
    prot = draw(st.sampled_from([p for p in ALL_PROTS if (target.meets("exec-allowed") or "PROT_EXEC" not in p)]))
    return scenario.MmapCall(page, "O_RDWR", prot, ("MAP_SHARED", "MAP_PRIVATE"), size, draw(lengths(page)),
                             draw(page_offsets(page, size // page + 1)))


@st.composite
def offset_maps(draw, target) -> scenario.OffsetMap:
    page = target.page_size
    mode, prot, flags = draw(valid_modes(target))
    size = draw(file_sizes(page, page + 1, 8 * page, target=target, sizes=st.sampled_from(
        [2 * page, 2 * page + 1, 3 * page - 1, 4 * page, 8 * page]) | st.integers(page + 1, 8 * page)))
    offset = draw(st.sampled_from([page]) | page_offsets(page, (size - 1) // page))
    rest = size - offset
    return scenario.OffsetMap(page, mode, prot, flags, size, draw(fill_seeds), offset,
                              draw(st.sampled_from([rest, round_up(rest, page), page]) | lengths(page, 8)))


FAILURES = ["zero-length", "unaligned-offset", "bad-fd", "wronly-fd", "shared-write-on-rdonly-fd", "no-map-type",
            "fixed-unaligned-addr", "huge-length"]


@st.composite
def failing_calls(draw, target) -> scenario.FailingCall:
    page = target.page_size
    failure = draw(st.sampled_from(FAILURES))
    mode, prot, flags = draw(valid_modes(target, ALL_PROTS))
    flags = (flags,)
    size = draw(file_sizes(page))
    length, offset, addr_delta = draw(lengths(page)), draw(page_offsets(page, size // page + 1)), None
    if failure == "zero-length":
        length = 0
    elif failure == "unaligned-offset":
        offset = draw(unaligned_offsets(page))
    elif failure == "bad-fd":
        mode = None  # fd -1 without MAP_ANONYMOUS: EBADF
    elif failure == "wronly-fd":
        mode = "O_WRONLY"
    elif failure == "shared-write-on-rdonly-fd":
        mode, flags = "O_RDONLY", ("MAP_SHARED",)
        prot = draw(st.sampled_from([p for p in ALL_PROTS if "PROT_WRITE" in p and (target.meets("exec-allowed") or "PROT_EXEC" not in p)]))
    elif failure == "no-map-type":
        flags = ()
    elif failure == "fixed-unaligned-addr":
        flags, addr_delta = flags + ("MAP_FIXED",), draw(st.sampled_from([1, page - 1]) | st.integers(1, page - 1))
    else:  # a length whose round-up to pages overflows: what user address space reaches that far varies (s390x
        # maps lengths of 2**57 and more), while every kernel refuses a length that rounds up to 0
        length = draw(st.sampled_from([2**64 - page + 1, 2**64 - 1]) | st.integers(2**64 - page + 1, 2**64 - 1))
    return scenario.FailingCall(page, failure, mode, prot, flags, size, length, offset, addr_delta)


@st.composite
def unaligned_lengths(draw, target) -> scenario.UnalignedLength:
    page = target.page_size
    mode, prot, flags = draw(valid_modes(target))
    length = draw((st.sampled_from([1, page - 1, page + 1, 3 * page - 1]) | st.integers(1, MAX_PAGES * page)).filter(lambda n: n % page))
    offset = draw(page_offsets(page, MAX_PAGES))
    least = offset + round_up(length, page)
    size = draw(st.sampled_from([least]) | st.integers(least, least + 2 * page))
    return scenario.UnalignedLength(page, mode, prot, flags, size, draw(fill_seeds), offset, length, draw(fill_seeds))


@st.composite
def fixed_maps(draw, target) -> scenario.FixedMap:
    page = target.page_size
    mode, prot, flags = draw(valid_modes(target, ALL_PROTS))
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, (size - 1) // page))
    length = draw(lengths(page))
    at_page = draw(st.integers(0, 3))
    pages = round_up(length, page) // page
    return scenario.FixedMap(
        page_size=page,
        replaced=draw(st.sampled_from(scenario.REPLACED)),
        reserve_pages=draw(st.integers(at_page + pages, at_page + pages + 3)),
        at_page=at_page, open_mode=mode, prot=prot, flags=flags, file_size=size, fill_seed=draw(fill_seeds),
        offset=offset, length=length,
    )


@st.composite
def hints(draw, target) -> scenario.Hint:
    page = target.page_size
    mode, prot, flags = draw(valid_modes(target, ALL_PROTS))
    size = draw(file_sizes(page))
    length = draw(lengths(page))
    pages = round_up(length, page) // page
    hole_pages = draw(st.integers(pages, pages + 3))
    occupied_pages = draw(st.integers(1, 4))
    return scenario.Hint(
        page_size=page,
        open_mode=mode, prot=prot, flags=flags, file_size=size, offset=draw(page_offsets(page, size // page + 1)), length=length,
        hole_pages=hole_pages, at_page=draw(st.integers(0, hole_pages - pages)),
        occupied_pages=occupied_pages, occupied_page=draw(st.integers(0, occupied_pages - 1)),
    )


@pytest.mark.claim("GEOM-1")
@given(data=st.data())
def test_mmap_unaligned_offset_fails_einval(conformance, target, data):
    call = draw_case(data, target, unaligned_offset_calls(target))
    conformance.judge(scenario.judge_fails_einval_no_mapping, call, conformance.observe(scenario.call_mmap, conformance.workspace, call))


@pytest.mark.claim("GEOM-2")
@given(data=st.data())
def test_mapping_byte_i_is_file_byte_offset_plus_i(conformance, target, data):
    case = draw_case(data, target, offset_maps(target))
    conformance.judge(scenario.judge_byte_i_is_file_byte_offset_plus_i, case, conformance.observe(scenario.load_at_offset, conformance.workspace, case))


@pytest.mark.claim("GEOM-3")
@given(data=st.data())
def test_failed_mmap_returns_map_failed_not_null(conformance, target, data):
    call = draw_case(data, target, failing_calls(target))
    conformance.judge(scenario.judge_returns_map_failed, call, conformance.observe(scenario.call_mmap_raw, conformance.workspace, call))


@pytest.mark.claim("GEOM-4")
@given(data=st.data())
def test_unaligned_length_maps_whole_last_page(conformance, target, data):
    case = draw_case(data, target, unaligned_lengths(target))
    conformance.judge(scenario.judge_whole_last_page_mapped, case, conformance.observe(scenario.map_unaligned_length, conformance.workspace, case))


@pytest.mark.claim("GEOM-5")
@given(data=st.data())
def test_map_fixed_returns_addr_and_replaces_range(conformance, target, data):
    case = draw_case(data, target, fixed_maps(target))
    conformance.judge(scenario.judge_fixed_at_addr_replacing_range, case, conformance.observe(scenario.map_fixed, conformance.workspace, case))


@pytest.mark.claim("GEOM-6")
@given(data=st.data())
def test_address_without_map_fixed_is_only_a_hint(conformance, target, data):
    case = draw_case(data, target, hints(target))
    conformance.judge(scenario.judge_hint_only_a_hint, case, conformance.observe(scenario.map_with_hints, conformance.workspace, case))


@pytest.mark.claim("GEOM-7")
@given(data=st.data())
def test_map_shared_with_map_private_fails_einval(conformance, target, data):
    call = draw_case(data, target, shared_private_calls(target))
    conformance.judge(scenario.judge_shared_private_rejected, call, conformance.observe(scenario.call_mmap, conformance.workspace, call))


@pytest.mark.claim("GEOM-8")
@given(data=st.data())
def test_mmap_zero_length_fails_einval(conformance, target, data):
    call = draw_case(data, target, zero_length_calls(target))
    conformance.judge(scenario.judge_fails_einval_no_mapping, call, conformance.observe(scenario.call_mmap, conformance.workspace, call))
