"""PRIV judges can fail."""

from __future__ import annotations

from fixtures.outcome import returned
from suite.scenarios import priv
from suite.strategies import pattern
from tests.judges.helpers import RETURNED_NONE, SIGBUS, self_tests

PAGE = 4096  # the page size the cases below are written for (a judge reads it from the case)

PRIVATE = priv.PrivateStores(PAGE, 100, "O_RDONLY", ((0, b"zz"),))
ELSEWHERE = priv.PrivateStoresElsewhere(PAGE, 100, "O_RDONLY", ((0, b"zz"),), "MAP_SHARED", "before")
ORIGINAL = pattern(17, 100)

FRAMES = priv.PrivateFrames(PAGE, 2 * PAGE, 1, "O_RDONLY", "other", "private", (0, b"zz"))

LATER = priv.LaterChange(PAGE, 2 * PAGE, 1, "read", 0, 512, ("PROT_READ",), (10, b"new"), "write")
FILE2 = pattern(priv.FILL, 2 * PAGE)
OLD_PAGE1 = FILE2[PAGE:]
NEW_PAGE1 = OLD_PAGE1[:10] + b"new" + OLD_PAGE1[13:]

# Page 0 written privately, then the file changes in page 0 and in page 2.
COPIED = priv.CopiedThenChanged(PAGE, 3 * PAGE, "O_RDONLY", True, ((5, b"pp"),), ((4, b"cccc", "write"), (2 * PAGE + 1, b"dd", "shared-store")))
FILE3 = pattern(priv.FILL, 3 * PAGE)
PRIVATE3 = FILE3[:5] + b"pp" + FILE3[7:]
CHANGED3 = FILE3[:4] + b"cccc" + FILE3[8:2 * PAGE + 1] + b"dd" + FILE3[2 * PAGE + 3:]
VIEW_SEEN = PRIVATE3[:PAGE] + CHANGED3[PAGE:]  # page 0: private copy; pages 1, 2: the file as it is now

DONTNEED = priv.DontneedPrivate(PAGE, 3 * PAGE, "O_RDWR", ((5, b"pp"), (2 * PAGE, b"qq")), 0, 1)  # advise page 0 only
FILE_PRIVATE = FILE3[:5] + b"pp" + FILE3[7:2 * PAGE] + b"qq" + FILE3[2 * PAGE + 2:]
AFTER_DONTNEED = FILE3[:PAGE] + FILE_PRIVATE[PAGE:]  # page 0 back to the file, page 2 keeps its change

CASES = {
    priv.judge_file_unchanged: (PRIVATE, priv.FileAfterPrivateStores(RETURNED_NONE, ORIGINAL), [
        priv.FileAfterPrivateStores(RETURNED_NONE, b"zz" + ORIGINAL[2:]),
        priv.FileAfterPrivateStores(RETURNED_NONE, ORIGINAL + b"\0"),
        priv.FileAfterPrivateStores(SIGBUS, ORIGINAL)]),
    priv.judge_other_process_sees_file: (ELSEWHERE, priv.ReaderSeen((returned(ORIGINAL[:2]),)), [
        priv.ReaderSeen((returned(b"zz"),)), priv.ReaderSeen((SIGBUS,))]),
    priv.judge_private_page_is_cache_page_until_written: (FRAMES, priv.FramesSeen(0x1000, 0x1000, 0x2000, 0x1000), [
        priv.FramesSeen(0x1001, 0x1000, 0x2000, 0x1000),  # not the page-cache page before the store
        priv.FramesSeen(None, 0x1000, 0x2000, 0x1000),
        priv.FramesSeen(0x1000, 0x1000, 0x1000, 0x1000),  # no copy
        priv.FramesSeen(0x1000, 0x1000, None, 0x1000),
        priv.FramesSeen(0x1000, 0x1000, 0x2000, 0x2000),  # the shared page followed the private store
        priv.FramesSeen(0x1000, 0x1000, 0x2000, 0x3000)]),
    priv.judge_later_change_seen: (LATER, priv.LaterChangeSeen(True, NEW_PAGE1), [
        priv.LaterChangeSeen(True, OLD_PAGE1[:10] + b"ne" + OLD_PAGE1[12:]),
        priv.LaterChangeSeen(True, bytes(PAGE)),
        priv.LaterChangeSeen(True, NEW_PAGE1[:100])]),
    priv.judge_copied_page_ignores_changes: (COPIED, priv.PrivateViewSeen(VIEW_SEEN, CHANGED3), [
        priv.PrivateViewSeen(CHANGED3[:5] + b"pp" + CHANGED3[7:], CHANGED3),  # page 0 shows the later change
        priv.PrivateViewSeen(FILE3[:PAGE] + CHANGED3[PAGE:], CHANGED3),  # page 0 lost the private store
        priv.PrivateViewSeen(PRIVATE3[:PAGE] + FILE3[PAGE:], CHANGED3),  # page 2 unlike the control
        priv.PrivateViewSeen(VIEW_SEEN, CHANGED3[:PAGE] + bytes(2 * PAGE)),  # control holds neither
        priv.PrivateViewSeen(VIEW_SEEN[:PAGE + 5] + b"pp" + VIEW_SEEN[PAGE + 7:], CHANGED3),  # store in page 1 too
        priv.PrivateViewSeen(VIEW_SEEN[:100], CHANGED3)]),
    priv.judge_dontneed_private_page: (DONTNEED, priv.DontneedSeen(None, AFTER_DONTNEED), [
        priv.DontneedSeen("EINVAL", FILE_PRIVATE),
        priv.DontneedSeen(None, bytes(PAGE) + FILE_PRIVATE[PAGE:]),  # zero-filled, as for anonymous memory
        priv.DontneedSeen(None, FILE3),  # page 2, outside the range, lost its change
        priv.DontneedSeen(None, AFTER_DONTNEED[:PAGE + 1] + b"\0" + AFTER_DONTNEED[PAGE + 2:])]),
}

test_accepts_conforming, test_rejects_violating = self_tests(CASES)


def test_later_change_alternatives_named():
    for page, alternative in ((NEW_PAGE1, "seen"), (OLD_PAGE1, "not-seen")):
        finding = priv.judge_later_change_seen(LATER, priv.LaterChangeSeen(True, page))
        assert (finding.verdict, finding.alternative) == ("observed", alternative), finding


def test_dontneed_alternatives_named_and_mixed_refuted():
    both = priv.DontneedPrivate(PAGE, 3 * PAGE, "O_RDWR", ((5, b"pp"), (2 * PAGE, b"qq")), 0, 3)
    for view, alternative in ((FILE3, "file-contents"), (FILE_PRIVATE, "private-change")):
        finding = priv.judge_dontneed_private_page(both, priv.DontneedSeen(None, view))
        assert (finding.verdict, finding.alternative) == ("observed", alternative), finding
    assert priv.judge_dontneed_private_page(both, priv.DontneedSeen(None, AFTER_DONTNEED)).verdict == "refuted"


def test_copied_page_judge_follows_the_control():
    # On a platform where unwritten pages keep the old contents (PRIV-4 "not-seen"), that is accepted too.
    not_seen = PRIVATE3[:PAGE] + FILE3[PAGE:]
    assert priv.judge_copied_page_ignores_changes(COPIED, priv.PrivateViewSeen(not_seen, FILE3)).verdict == "holds"
