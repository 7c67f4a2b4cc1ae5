"""EOF: the bytes between end of file and the end of its last page."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import eof as scenario
from suite.strategies import PageRelative, draw_case, file_sizes, fill_seeds, page_offsets


@st.composite
def tail_reads(draw, page: int) -> scenario.TailRead:
    size = draw(file_sizes(page, min_size=1, unaligned=True))
    offset = draw(page_offsets(page, size // page))
    return scenario.TailRead(
        page_size=page,
        file_size=size,
        fill_seed=draw(fill_seeds),
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        offset=offset,
        length=draw(st.integers(size - offset, round_up(size, page) - offset)),
    )


@st.composite
def tail_writes(draw, page: int) -> scenario.TailWrite:
    size = draw(file_sizes(page, min_size=1, unaligned=True))
    offset = draw(page_offsets(page, size // page))
    write_at = draw(st.integers(size, round_up(size, page) - 1))
    return scenario.TailWrite(
        page_size=page,
        file_size=size,
        fill_seed=draw(fill_seeds),
        offset=offset,
        length=draw(st.integers(size - offset, round_up(size, page) - offset)),
        write_at=write_at,
        data=draw(st.binary(min_size=1, max_size=round_up(size, page) - write_at).filter(any)),
        msync=draw(st.booleans()),
    )


@pytest.mark.claim("EOF-1")
@given(data=st.data())
def test_bytes_past_eof_in_last_page_read_zero(conformance, target, data):
    case = draw_case(data, target, tail_reads(target.page_size))
    conformance.judge(scenario.judge_tail_reads_zero, case, conformance.observe(scenario.read_tail, conformance.workspace, case))


@pytest.mark.claim("EOF-2")
@given(data=st.data())
def test_stores_past_eof_in_last_page_not_written_back(conformance, target, data):
    case = draw_case(data, target, tail_writes(target.page_size))
    conformance.judge(scenario.judge_tail_write_not_written_back, case, conformance.observe(scenario.write_tail, conformance.workspace, case))


@st.composite
def extensions_after_tail_write(draw, page: int) -> scenario.ExtendAfterTailWrite:
    size = draw(file_sizes(page, min_size=1, unaligned=True))
    offset = draw(page_offsets(page, size // page))
    write_at = draw(st.integers(size, round_up(size, page) - 1))
    new_size = draw(st.sampled_from([size + 1, round_up(size, page) - 1, round_up(size, page), round_up(size, page) + 1])
                    .filter(lambda n: n > size)
                    | st.integers(size + 1, round_up(size, page) + 2 * page))
    return scenario.ExtendAfterTailWrite(
        page_size=page,
        file_size=size,
        fill_seed=draw(fill_seeds),
        offset=offset,
        length=draw(st.integers(size - offset, round_up(size, page) - offset)),
        write_at=write_at,
        data=draw(st.binary(min_size=1, max_size=round_up(size, page) - write_at).filter(any)),
        msync=draw(st.booleans()),
        new_size=new_size,
        then=draw(st.sampled_from(["keep", "remap"])),
    )


@st.composite
def mapped_stores(draw, page: int) -> scenario.MappedStores:
    size = draw(file_sizes(page, min_size=1))
    offset = draw(page_offsets(page, (size - 1) // page))
    mapped_pages = (round_up(size, page) - offset) // page  # pages of the mapping that hold file bytes
    length = draw(st.integers(mapped_pages * page + 1, (mapped_pages + 2) * page))
    in_file, end = size - offset, round_up(length, page)
    # Where stores go: inside the file, in the EOF page's tail (if any), in pages wholly beyond EOF.
    regions = [(0, in_file), (in_file, mapped_pages * page), (mapped_pages * page, end)]
    regions = [r for r in regions if r[0] < r[1]]

    @st.composite
    def store(draw2) -> tuple[int, bytes]:
        lo, hi = draw2(st.sampled_from(regions))
        at = draw2(st.sampled_from([lo, hi - 1]) | st.integers(lo, hi - 1))
        return at, draw2(st.binary(min_size=1, max_size=min(64, hi - at)))

    return scenario.MappedStores(page, size, offset, length, tuple(draw(st.lists(store(), min_size=1, max_size=6))),
                                 draw(st.booleans()))


@st.composite
def extensions(draw, page: int) -> scenario.Extension:
    size = draw(file_sizes(page))
    steps = draw(st.lists(st.integers(1, 2 * page + 1) | st.sampled_from([1, page]), min_size=1, max_size=3))
    sizes, at = [], size
    for step in steps:
        at += step
        sizes.append(at)
    return scenario.Extension(page, size, draw(fill_seeds), tuple(sizes), draw(st.sampled_from(["before", "after"])))


@st.composite
def empty_file_maps(draw, page: int) -> scenario.EmptyFileMap:
    length = draw(file_sizes(page, min_size=1))
    accesses = draw(st.lists(
        st.tuples(st.sampled_from([0, length - 1, round_up(length, page) - 1]) | st.integers(0, round_up(length, page) - 1),
                  st.sampled_from(["read", "write"])),
        min_size=1, max_size=4))
    return scenario.EmptyFileMap(page, length, tuple(accesses), draw(st.integers(1, round_up(length, page))))


@st.composite
def lseek_writes(draw, page: int) -> scenario.LseekWrite:
    size = draw(file_sizes(page) | st.just(0))
    position = draw(st.sampled_from([size + 1, round_up(size, page), round_up(size, page) + page - 1])
                    .filter(lambda p: p > size)
                    | st.integers(size + 1, size + 3 * page))
    return scenario.LseekWrite(page, size, position, draw(st.binary(min_size=1, max_size=1)),
                               draw(st.sampled_from([("PROT_READ",), ("PROT_READ", "PROT_WRITE")])))


@pytest.mark.claim("EOF-3")
@given(data=st.data())
# The smallest counterexample seen (tmpfs, vfat, ext4 before 6.6.70): tried by every profile, however few it draws.
@example(data=PageRelative(lambda page: scenario.ExtendAfterTailWrite(
    page_size=page, file_size=1, fill_seed=1, offset=0, length=page, write_at=1, data=b"\x01", msync=False, new_size=2,
    then="keep")))
# Where blocks are smaller than pages (ext4 with 1 KiB blocks; 4 KiB blocks under 16 and 64 KiB pages), a store half
# a page in lies in a block wholly past the old EOF block, which zeroing the EOF block alone leaves as it is.
@example(data=PageRelative(lambda page: scenario.ExtendAfterTailWrite(
    page_size=page, file_size=1, fill_seed=1, offset=0, length=page, write_at=page // 2, data=b"\x01", msync=False,
    new_size=page + 1, then="keep")))
def test_ftruncate_up_after_store_past_eof_reads_zero(conformance, target, data):
    case = draw_case(data, target, extensions_after_tail_write(target.page_size))
    conformance.judge(scenario.judge_old_tail_zero_after_extension, case,
                      conformance.observe(scenario.extend_after_tail_write, conformance.workspace, case))


@pytest.mark.claim("EOF-4")
@given(data=st.data())
def test_stores_through_shared_mapping_never_change_st_size(conformance, target, data):
    case = draw_case(data, target, mapped_stores(target.page_size))
    conformance.judge(scenario.judge_size_unchanged_by_stores, case, conformance.observe(scenario.stores_keep_size, conformance.workspace, case))


@pytest.mark.claim("EOF-5")
@given(data=st.data())
def test_ftruncate_extension_reads_zero_by_read_and_mapping(conformance, target, data):
    case = draw_case(data, target, extensions(target.page_size))
    conformance.judge(scenario.judge_extension_reads_zero, case, conformance.observe(scenario.extend, conformance.workspace, case))


@pytest.mark.claim("EOF-6")
@given(data=st.data())
def test_shared_mapping_of_empty_file_sigbus_until_ftruncate(conformance, target, data):
    case = draw_case(data, target, empty_file_maps(target.page_size))
    conformance.judge(scenario.judge_empty_file_accesses_sigbus, case, conformance.observe(scenario.map_empty_file, conformance.workspace, case))


@pytest.mark.claim("EOF-7")
@given(data=st.data())
def test_lseek_write_grown_file_maps_hole_as_zero(conformance, target, data):
    case = draw_case(data, target, lseek_writes(target.page_size))
    conformance.judge(scenario.judge_hole_reads_zero, case, conformance.observe(scenario.lseek_write_map, conformance.workspace, case))
