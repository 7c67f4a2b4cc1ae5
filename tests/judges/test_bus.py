"""BUS judges can fail."""

from __future__ import annotations

from fixtures.outcome import returned
from suite.scenarios import bus
from suite.strategies import pattern
from tests.judges.helpers import SIGBUS, SIGSEGV, TIMEOUT, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

BEYOND = bus.BeyondEofAccess(PAGE, 100, "MAP_SHARED", 0, 8192, 1, 0, "read")
PARTIAL = bus.TruncateToPartialPage(PAGE, 3 * PAGE, PAGE + 100, "read", "self")  # new EOF page: file bytes 4096..8191
KEPT = pattern(bus.OLD_FILL, 3 * PAGE)[PAGE:PAGE + 100]
PARTIAL_WRITTEN = bus.TruncateToPartialPage(PAGE, 3 * PAGE, PAGE + 100, "write", "other")
PAST_END = bus.PastMappingEnd(PAGE, 100, "MAP_SHARED", 0, 100, 0)
EOF_PAGE_END = bus.PastEofPageEnd(PAGE, 100, "MAP_PRIVATE", 0, 2 * PAGE)
UNTOUCHED = bus.PrivateTruncated(PAGE, 3 * PAGE, 100, 1, "O_RDONLY", "read", (5, b"\x01\x02"), "self")
COPIED = bus.PrivateTruncated(PAGE, 3 * PAGE, 100, 1, "O_RDONLY", "write", (5, b"\x01\x02"), "self")
OLD_PAGE = pattern(bus.OLD_FILL, 3 * PAGE)[PAGE:2 * PAGE]
COPY = OLD_PAGE[:5] + b"\x01\x02" + OLD_PAGE[7:]
DOWN_UP = bus.DownThenUp(PAGE, 3 * PAGE, 100, 2 * PAGE + 1, "write", "self")  # mapped read: [100, 3 pages)

CASES = {
    bus.judge_sigbus: (BEYOND, bus.AccessSeen(SIGBUS), [
        bus.AccessSeen(returned(b"\0")), bus.AccessSeen(SIGSEGV), bus.AccessSeen(TIMEOUT)]),
    bus.judge_new_eof_page_readable_zero_tail: (PARTIAL, bus.AccessSeen(returned(KEPT + bytes(PAGE - 100))), [
        bus.AccessSeen(SIGBUS),
        bus.AccessSeen(returned(KEPT + bytes(PAGE - 101) + b"\x01")),
        bus.AccessSeen(returned(bytes(PAGE))),
        bus.AccessSeen(returned(KEPT))]),
    bus.judge_past_mapping_end_sigbus: (PAST_END, bus.AccessSeen(SIGBUS), [
        bus.AccessSeen(SIGSEGV), bus.AccessSeen(returned(b"\0")), bus.AccessSeen(TIMEOUT)]),
    bus.judge_eof_page_end_sigbus: (EOF_PAGE_END, bus.EofPageEndSeen(returned(bytes(PAGE - 100)), SIGBUS), [
        bus.EofPageEndSeen(returned(bytes(PAGE - 100)), SIGSEGV),
        bus.EofPageEndSeen(returned(bytes(PAGE - 100)), returned(b"\0")),
        bus.EofPageEndSeen(returned(bytes(PAGE - 101) + b"\x01"), SIGBUS),
        bus.EofPageEndSeen(returned(bytes(10)), SIGBUS),
        bus.EofPageEndSeen(SIGBUS, SIGBUS)]),
    bus.judge_private_untouched_after_truncate: (UNTOUCHED, bus.AccessSeen(SIGBUS), [
        bus.AccessSeen(SIGSEGV), bus.AccessSeen(TIMEOUT),
        bus.AccessSeen(returned(COPY)),
        bus.AccessSeen(returned(OLD_PAGE[:-1] + b"\0"))]),
    bus.judge_private_copied_after_truncate: (COPIED, bus.AccessSeen(returned(COPY)), [
        bus.AccessSeen(SIGSEGV),
        bus.AccessSeen(returned(OLD_PAGE)),
        bus.AccessSeen(returned(bytes(5) + b"\x01\x02" + bytes(PAGE - 7)))]),
    bus.judge_down_then_up_zero: (DOWN_UP, bus.DownThenUpSeen(returned(bytes(3 * PAGE - 100)), bytes(2 * PAGE - 99)), [
        bus.DownThenUpSeen(SIGBUS, bytes(2 * PAGE - 99)),
        bus.DownThenUpSeen(returned(bytes(PAGE) + b"\xa5" + bytes(2 * PAGE - 101)), bytes(2 * PAGE - 99)),
        bus.DownThenUpSeen(returned(bytes(PAGE - 100)), bytes(2 * PAGE - 99)),
        bus.DownThenUpSeen(returned(bytes(3 * PAGE - 100)), bytes(PAGE) + b"\x01" + bytes(PAGE - 100))]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)


def test_new_eof_page_after_stores_keeps_stored_bytes():
    written = pattern(bus.NEW_FILL, PAGE)[:100]
    assert bus.judge_new_eof_page_readable_zero_tail(PARTIAL_WRITTEN, bus.AccessSeen(returned(written + bytes(PAGE - 100)))).verdict == "holds"
    assert bus.judge_new_eof_page_readable_zero_tail(PARTIAL_WRITTEN, bus.AccessSeen(returned(KEPT + bytes(PAGE - 100)))).verdict == "refuted"


def test_private_truncation_alternatives_named():
    for judge, case, third, page in ((bus.judge_private_untouched_after_truncate, UNTOUCHED, "old-contents", OLD_PAGE),
                                     (bus.judge_private_copied_after_truncate, COPIED, "private-copy", COPY)):
        for seen, alternative in ((SIGBUS, "sigbus"), (returned(bytes(PAGE)), "zeros"), (returned(page), third)):
            finding = judge(case, bus.AccessSeen(seen))
            assert (finding.verdict, finding.alternative) == ("observed", alternative), finding
