"""BUS: SIGBUS for pages of a mapping wholly beyond end of file."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fixtures.libc import round_up
from suite.scenarios import bus as scenario
from suite.strategies import MAX_PAGES, PAGE, file_sizes, page_offsets

ACCESSES = st.sampled_from(["read", "write"])


@st.composite
def beyond_eof_accesses(draw) -> scenario.BeyondEofAccess:
    size = draw(file_sizes())
    offset = draw(page_offsets(size // PAGE + 1))
    first_beyond = max(0, (round_up(size) - offset) // PAGE)  # first mapping page wholly beyond EOF
    pages = draw(st.integers(first_beyond + 1, first_beyond + MAX_PAGES))
    return scenario.BeyondEofAccess(
        file_size=size,
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        offset=offset,
        length=draw(st.integers((pages - 1) * PAGE + 1, pages * PAGE)),
        page=draw(st.integers(first_beyond, pages - 1)),
        byte=draw(st.sampled_from([0, PAGE - 1]) | st.integers(0, PAGE - 1)),
        access=draw(ACCESSES),
    )


@st.composite
def truncated_accesses(draw) -> scenario.TruncatedAccess:
    old_size = draw(file_sizes(min_size=PAGE + 1))
    new_size = draw(file_sizes(max_size=round_up(old_size) - PAGE - 1) | st.just(0))
    first_gone = round_up(new_size) // PAGE  # first page wholly beyond the new EOF
    return scenario.TruncatedAccess(
        old_size=old_size,
        new_size=new_size,
        page=draw(st.integers(first_gone, round_up(old_size) // PAGE - 1)),
        byte=draw(st.integers(0, PAGE - 1)),
        touched_before=draw(st.sampled_from(["no", "read", "write"])),
        truncated_by=draw(st.sampled_from(["self", "other"])),
        access=draw(ACCESSES),
    )


@pytest.mark.claim("BUS-1")
@given(case=beyond_eof_accesses())
def test_access_page_wholly_beyond_eof_sigbus(conformance, target, case):
    conformance.judge(scenario.judge_sigbus, case, scenario.access_beyond_eof(conformance.workspace, case))


@pytest.mark.claim("BUS-2")
@given(case=truncated_accesses())
def test_truncate_then_access_shared_page_beyond_new_eof_sigbus(conformance, target, case):
    conformance.judge(scenario.judge_sigbus, case, scenario.access_after_truncate(conformance.workspace, case))


def _truncate_targets(old_size: int):
    """A new size below the first page of ``old_size``'s last page, and the pages of the old file wholly beyond it."""
    return file_sizes(max_size=round_up(old_size) - PAGE - 1) | st.just(0)


@st.composite
def truncations_to_partial_page(draw) -> scenario.TruncateToPartialPage:
    old_size = draw(file_sizes(min_size=2))
    new_size = draw(file_sizes(min_size=1, max_size=old_size - 1, unaligned=True))
    return scenario.TruncateToPartialPage(
        old_size=old_size,
        new_size=new_size,
        touched_before=draw(st.sampled_from(["no", "read", "write"])),
        truncated_by=draw(st.sampled_from(["self", "other"])),
    )


@st.composite
def past_mapping_ends(draw) -> scenario.PastMappingEnd:
    size = draw(file_sizes(min_size=1))
    offset = draw(page_offsets((size - 1) // PAGE))
    return scenario.PastMappingEnd(
        file_size=size,
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        offset=offset,
        length=draw(st.integers(1, round_up(size) - offset) | st.integers(1, MAX_PAGES * PAGE)),
        byte=draw(st.sampled_from([0, PAGE - 1]) | st.integers(0, PAGE - 1)),
    )


@st.composite
def past_eof_page_ends(draw) -> scenario.PastEofPageEnd:
    size = draw(file_sizes())
    offset = draw(page_offsets(size // PAGE))
    beyond = round_up(size) - offset + PAGE  # the mapping covers the whole page after the EOF page
    return scenario.PastEofPageEnd(
        file_size=size,
        flags=draw(st.sampled_from(["MAP_SHARED", "MAP_PRIVATE"])),
        offset=offset,
        length=draw(st.integers(beyond - PAGE + 1, beyond + (MAX_PAGES - 1) * PAGE)),
    )


@st.composite
def private_truncations(draw, touched: tuple[str, ...]) -> scenario.PrivateTruncated:
    old_size = draw(file_sizes(min_size=PAGE + 1))
    new_size = draw(_truncate_targets(old_size))
    page = draw(st.integers(round_up(new_size) // PAGE, round_up(old_size) // PAGE - 1))
    touched_before = draw(st.sampled_from(touched))
    in_page = min(PAGE, old_size - page * PAGE)  # file bytes in that page (before the truncation)
    at = draw(st.integers(0, in_page - 1))
    original = scenario.private_page_before(
        scenario.PrivateTruncated(old_size, new_size, page, "O_RDONLY", "no", (0, b""), "self"), copied=False)
    data = draw(st.binary(min_size=1, max_size=min(64, PAGE - at))
                .filter(lambda d: any(d) and d != original[at:at + len(d)]))
    return scenario.PrivateTruncated(
        old_size=old_size,
        new_size=new_size,
        page=page,
        open_mode=draw(st.sampled_from(["O_RDONLY", "O_RDWR"])),
        touched_before=touched_before,
        store=(at, data),
        truncated_by=draw(st.sampled_from(["self", "other"])),
    )


@st.composite
def downs_then_ups(draw) -> scenario.DownThenUp:
    old_size = draw(file_sizes(min_size=PAGE + 1))
    new_size = draw(_truncate_targets(old_size))
    return scenario.DownThenUp(
        old_size=old_size,
        new_size=new_size,
        up_size=draw(st.sampled_from([round_up(new_size) + 1, old_size]).filter(lambda n: n > round_up(new_size))
                     | st.integers(round_up(new_size) + 1, round_up(old_size) + PAGE)),
        touched_before=draw(st.sampled_from(["no", "read", "write"])),
        truncated_by=draw(st.sampled_from(["self", "other"])),
    )


@pytest.mark.claim("BUS-3")
@given(case=truncations_to_partial_page())
def test_truncate_keeps_new_eof_page_readable_with_zero_tail(conformance, target, case):
    conformance.judge(scenario.judge_new_eof_page_readable_zero_tail, case,
                      scenario.read_new_eof_page(conformance.workspace, case))


@pytest.mark.claim("BUS-4/mapping-end")
@given(case=past_mapping_ends())
def test_load_past_end_of_mapping_sigbus(conformance, target, case):
    conformance.judge(scenario.judge_past_mapping_end_sigbus, case, scenario.load_past_mapping_end(conformance.workspace, case))


@pytest.mark.claim("BUS-4/eof-page-end")
@given(case=past_eof_page_ends())
def test_load_past_page_boundary_after_eof_sigbus(conformance, target, case):
    conformance.judge(scenario.judge_eof_page_end_sigbus, case, scenario.load_past_eof_page_end(conformance.workspace, case))


# BUS-5: where the mapping's descriptor decides the alternative (overlayfs: one opened O_RDONLY before the copy-up
# maps the lower file, which the truncation does not reach), every profile tries both, however few examples it draws.
@pytest.mark.claim("BUS-5/untouched")
@given(case=private_truncations(("no", "read")))
@example(case=scenario.PrivateTruncated(12517, 8191, 2, "O_RDONLY", "no", (1250, bytes.fromhex("e55c79354de718416e")), "other"))
@example(case=scenario.PrivateTruncated(12289, 2363, 1, "O_RDWR", "read", (1653, bytes.fromhex("75cef4")), "other"))
def test_private_unwritten_page_beyond_new_eof_after_truncate(conformance, target, case):
    conformance.judge(scenario.judge_private_untouched_after_truncate, case,
                      scenario.read_private_after_truncate(conformance.workspace, case))


@pytest.mark.claim("BUS-5/copied")
@given(case=private_truncations(("write",)))
@example(case=scenario.PrivateTruncated(15106, 264, 2, "O_RDONLY", "write", (99, b"\xf5"), "other"))
@example(case=scenario.PrivateTruncated(7594, 220, 1, "O_RDWR", "write", (146, bytes.fromhex("cb870a5e091103")), "self"))
def test_private_copied_page_beyond_new_eof_after_truncate(conformance, target, case):
    conformance.judge(scenario.judge_private_copied_after_truncate, case,
                      scenario.read_private_after_truncate(conformance.workspace, case))


@pytest.mark.claim("BUS-6")
@given(case=downs_then_ups())
def test_truncate_down_then_up_pages_accessible_and_zero(conformance, target, case):
    conformance.judge(scenario.judge_down_then_up_zero, case, scenario.truncate_down_then_up(conformance.workspace, case))
