"""Draws on a read-only image (--fs squashfs, erofs) ask only for files its corpus holds, so no example is rejected;
elsewhere they are what they were."""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.files import CORPUS_DIR, Workspace, edge_sizes, pattern, write_corpus
from fixtures.libc import PAGE_SIZE as PAGE
from suite import test_geom, test_open, test_page, test_unmap
from harness.targets import Target
from suite.strategies import MAX_PAGES, file_sizes, open_modes, read_only

READ_ONLY = Target("squashfs", "", "", {"type": "squashfs", "noexec": False, "lacks": {},
                                         "provisioned": {"name": "squashfs", "read_only": True}}, "")
WRITABLE = Target("ext4", "", "", {"type": "ext4", "noexec": False, "lacks": {},
                                   "provisioned": {"name": "ext4", "read_only": False}}, "")
GIVEN = dict(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_read_only_is_a_provisioned_read_only_image():
    assert read_only(READ_ONLY)
    assert not read_only(WRITABLE)
    assert not read_only(Target("dir", "", "", {"type": "ext4", "noexec": False}, ""))  # a --target-dir: nothing provisioned
    assert not read_only(None)


@settings(**GIVEN)
@given(data=st.data(), bounds=st.sampled_from([(0, MAX_PAGES * PAGE), (1, MAX_PAGES * PAGE), (PAGE + 1, 8 * PAGE),
                                               (2 * PAGE, 2 * PAGE)]), unaligned=st.booleans())
def test_sizes_on_a_read_only_image_are_the_edge_sizes_in_range(data, bounds, unaligned):
    lo, hi = bounds
    held = {s for s in edge_sizes(PAGE) if lo <= s <= hi and not (unaligned and s % PAGE == 0)}
    if held:
        assert data.draw(file_sizes(PAGE, lo, hi, unaligned, target=READ_ONLY)) in held
        assert data.draw(file_sizes(PAGE, lo, hi, unaligned, target=READ_ONLY, sizes=st.integers(lo, hi))) in held


def test_a_range_without_edge_sizes_is_refused_on_a_read_only_image():
    with pytest.raises(ValueError, match="no file of 5000 to 6000 bytes"):
        file_sizes(PAGE, 5000, 6000, target=READ_ONLY)


def test_sizes_elsewhere_are_as_without_a_target():
    assert repr(file_sizes(PAGE, 1, target=WRITABLE)) == repr(file_sizes(PAGE, 1))
    assert repr(file_sizes(PAGE, target=WRITABLE, unaligned=True)) == repr(file_sizes(PAGE, unaligned=True))
    own = st.integers(3, 9)
    assert file_sizes(PAGE, 3, 9, target=WRITABLE, sizes=own) is own


def test_open_modes():
    assert open_modes(READ_ONLY) == ["O_RDONLY"]
    assert open_modes(WRITABLE) == open_modes() == ["O_RDONLY", "O_RDWR"]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A read-only target's Workspace over a corpus like its image's: a file it has not raises (Rejected)."""
    root = tmp_path_factory.mktemp("image")
    write_corpus(root / CORPUS_DIR)
    return Workspace(root, READ_ONLY.fs["provisioned"])


def _served(workspace: Workspace, size: int, content: bytes) -> None:
    assert workspace.new_file(size, content).read_bytes() == content.ljust(size, b"\0")


OPEN_CASES = st.sampled_from([  # OPEN-2, OPEN-3, OPEN-4
    (st.just("MAP_PRIVATE"), test_open.prots(READ_ONLY, "PROT_WRITE"), 1),
    (st.just("MAP_SHARED"), test_open.prots(READ_ONLY, "PROT_READ", exclude=("PROT_WRITE",)), None),
    (st.just("MAP_PRIVATE"), test_open.prots(READ_ONLY, "PROT_READ", exclude=("PROT_WRITE",)), None),
])


@settings(**GIVEN)
@given(data=st.data())
def test_open_use_cases_on_a_read_only_image_ask_for_corpus_files(image, data):
    flags, prot, stores = data.draw(OPEN_CASES)
    case = data.draw(test_open.use_cases(READ_ONLY, "O_RDONLY", flags, prot, stores, st.booleans(), st.just(False)))
    _served(image, case.file_size, pattern(case.fill_seed, case.file_size))


@settings(**GIVEN)
@given(data=st.data())
def test_geom_offset_maps_on_a_read_only_image_ask_for_corpus_files(image, data):
    case = data.draw(test_geom.offset_maps(READ_ONLY))
    assert case.open_mode == "O_RDONLY" and case.offset < case.file_size
    _served(image, case.file_size, pattern(case.content_seed, case.file_size))


@settings(**GIVEN)
@given(data=st.data())
def test_unmap_partial_munmaps_on_a_read_only_image_ask_for_corpus_files(image, data):
    case = data.draw(test_unmap.partial_munmaps(READ_ONLY))
    assert case.open_mode == "O_RDONLY" and case.offset + case.pages * PAGE <= case.file_size
    _served(image, case.file_size, pattern(case.fill_seed, case.file_size))


@settings(**GIVEN)
@given(data=st.data())
def test_page_advice_cases_on_a_read_only_image_ask_for_corpus_files(image, data):
    case = data.draw(test_page.advice_cases(test_page.CONVENTIONAL, READ_ONLY))
    assert case.open_mode == "O_RDONLY"
    _served(image, case.file_size, pattern(1, case.file_size))  # suite/scenarios/page.py advise()


def test_geom_2_content_shows_a_shift_by_any_page_or_byte_count():
    """pattern() replaced a pseudo-random content for GEOM-2: a mapping shifted by 1 to 254 pages or bytes
    differs from the file at every byte."""
    content = pattern(7, 9 * PAGE)
    page = content[PAGE:2 * PAGE]
    for shift in [-PAGE, *range(PAGE, 8 * PAGE, PAGE), *range(-254, 0), *range(1, 255)]:
        other = content[PAGE + shift:2 * PAGE + shift]
        assert all(a != b for a, b in zip(page, other)), shift
