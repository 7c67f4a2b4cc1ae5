"""Scratch files per target: fresh files where the target is writable; on a read-only one, the image's files."""

from __future__ import annotations

import errno

import pytest

from fixtures.files import (CORPUS_DIR, PATTERN_SEEDS, Rejected, Workspace, edge_sizes, pattern, remove_kept_files,
                            repeated, write_corpus)
from fixtures.libc import PAGE_SIZE as PAGE, SysError
from fixtures.outcome import SetUpFailed, raised


def test_new_file_holds_content_then_a_hole_and_is_removed_after(tmp_path):
    workspace = Workspace(tmp_path)
    with workspace.file(PAGE + 3, b"abc") as path:
        assert path.parent == tmp_path and path.read_bytes() == b"abc" + bytes(PAGE)
        with workspace.opened(path, "O_RDWR"):
            pass
    assert not path.exists()


PERIOD = bytes(range(1, 256))


@pytest.mark.parametrize("offset, length", [(0, 0), (0, 1), (254, 2), (255, 255), (1000, 5 * PAGE), (7, 3)])
def test_repeated_gives_the_bytes_of_the_period_repeated_at_any_offset(offset, length):
    assert bytes(repeated(PERIOD, offset, length)) == (PERIOD * 200)[offset:offset + length]


def test_a_periodic_file_is_kept_between_examples_cut_and_extended_to_each_size(tmp_path):
    workspace = Workspace(tmp_path)
    paths = set()
    for size in [3 * PAGE + 5, 7, 10 * PAGE + 1, 10 * PAGE + 1, 2 * PAGE, 0, PAGE + 254]:
        with workspace.periodic_file(size, PERIOD) as path:
            assert path.read_bytes() == (PERIOD * (size // 255 + 1))[:size]
            with workspace.opened(path, "O_RDWR"):
                pass
        paths.add(path)
    assert len(paths) == 1 and list(tmp_path.iterdir()) == [path]  # one file, kept
    with workspace.periodic_file(5, b"another period") as other:
        assert other != path and other.read_bytes() == b"anoth"
    remove_kept_files()
    assert list(tmp_path.iterdir()) == []


def test_an_example_cut_short_leaves_no_periodic_file_and_the_next_one_starts_afresh(tmp_path):
    workspace = Workspace(tmp_path)
    with pytest.raises(Rejected), workspace.periodic_file(2 * PAGE, PERIOD) as path:
        path.write_bytes(b"spoilt")  # what an example cut short may leave
        workspace.reject("cut short")
    assert list(tmp_path.iterdir()) == []
    with workspace.periodic_file(2 * PAGE, PERIOD) as path:
        assert path.read_bytes() == (PERIOD * 33)[:2 * PAGE]
    remove_kept_files()


def test_an_example_that_removed_its_periodic_file_and_failed_reports_its_own_error(tmp_path):
    with pytest.raises(ValueError, match="the example's own"), Workspace(tmp_path).periodic_file(PAGE, PERIOD) as path:
        path.unlink()
        raise ValueError("the example's own")


@pytest.fixture
def read_only(tmp_path):
    write_corpus(tmp_path / CORPUS_DIR)
    return Workspace(tmp_path, {"name": "squashfs", "read_only": True})


@pytest.mark.parametrize("size", edge_sizes(PAGE))
@pytest.mark.parametrize("content", ["zeros", "first seed", "last seed"])
def test_read_only_target_serves_every_edge_size_and_pattern_from_its_image(read_only, size, content):
    wanted = {"zeros": b"", "first seed": pattern(PATTERN_SEEDS[0], size), "last seed": pattern(PATTERN_SEEDS[-1], size)}
    with read_only.file(size, wanted[content]) as path:
        assert path.parent.name == CORPUS_DIR and path.read_bytes() == wanted[content].ljust(size, b"\0")
        with read_only.opened(path, "O_RDONLY"):
            pass
    assert path.exists()  # the image's files are never removed


def test_a_read_only_target_serves_a_periodic_file_from_its_image_and_keeps_nothing(read_only):
    period = pattern(PATTERN_SEEDS[0], 255)
    with read_only.periodic_file(PAGE + 1, period) as path:
        assert path.parent.name == CORPUS_DIR and path.read_bytes() == pattern(PATTERN_SEEDS[0], PAGE + 1)
    remove_kept_files()
    assert path.exists()


@pytest.mark.parametrize("size, content", [(5, b"abc"), (PAGE + 2, b""), (PAGE, b"not a pattern")])
def test_read_only_target_rejects_a_file_its_image_does_not_hold(read_only, size, content):
    with pytest.raises(Rejected, match="has no file of"):
        read_only.new_file(size, content)


@pytest.mark.parametrize("mode", ["O_WRONLY", "O_RDWR"])
def test_read_only_target_rejects_opening_for_writing(read_only, mode):
    with read_only.file(1, pattern(3, 1)) as path, pytest.raises(Rejected, match=mode):
        with read_only.opened(path, mode):
            pass


REFUSED = "mmap() with MAP_SHARED, PROT_READ|PROT_WRITE of a file opened O_RDWR fails here with EINVAL"
MMAP_REFUSED = raised("fixtures.libc.SysError: [Errno 22] mmap: EINVAL (Invalid argument)", errno.EINVAL, "mmap")
SET_UP_REFUSED = SetUpFailed("set-up mmap", MMAP_REFUSED)


@pytest.mark.parametrize("found", [SysError("mmap", errno.EINVAL), SET_UP_REFUSED, {"worker": MMAP_REFUSED},
                                   # a child whose own set-up step failed so: its SetUpFailed travels as errno and call
                                   (raised(str(SET_UP_REFUSED), SET_UP_REFUSED.errno, SET_UP_REFUSED.call),)])
def test_a_refused_shared_mapping_rejects_the_example_where_the_filesystem_lacks_one(tmp_path, found):
    refusing = Workspace(tmp_path, lacks={"writable-shared-mapping": REFUSED})
    assert refusing.refused_here(found) == f"the example maps its file MAP_SHARED, opened O_RDWR: {REFUSED}"
    assert Workspace(tmp_path).refused_here(found) is None  # elsewhere the same failure is the scenario's own


@pytest.mark.parametrize("found", [{"mmap": {"errno": 22, "errno_name": "EINVAL"}}, SysError("msync", errno.EINVAL),
                                   raised("[Errno 22] msync: EINVAL", errno.EINVAL, "msync"),
                                   OSError(errno.EROFS, "Read-only file system"), RuntimeError("mmap: EINVAL")])
def test_an_einval_the_claim_is_about_is_judged_not_rejected(tmp_path, found):
    # GEOM-7 and the like observe mmap()'s EINVAL; EROFS only counts on a read-only target
    assert Workspace(tmp_path, lacks={"writable-shared-mapping": REFUSED}).refused_here(found) is None


def test_a_scenario_error_from_a_refused_shared_mapping_becomes_a_rejection(tmp_path):
    refusing = Workspace(tmp_path, lacks={"writable-shared-mapping": REFUSED})
    with pytest.raises(Rejected, match="MAP_SHARED, opened O_RDWR"):
        with refusing.file(1):
            raise SET_UP_REFUSED


@pytest.mark.parametrize("found", [OSError(errno.EROFS, "Read-only file system"), {"errno": errno.EROFS}, "EROFS",
                                   [raised("[Errno 30] Read-only file system", errno.EROFS)],
                                   SetUpFailed("set-up store", raised("[Errno 30] Read-only file system", errno.EROFS))])
def test_a_write_refused_by_a_read_only_image_rejects_the_example(read_only, found):
    assert read_only.refused_here(found) == "read-only filesystem (squashfs): the example writes (EROFS)"


@pytest.mark.parametrize("mode, flags, rejected", [("O_RDWR", "MAP_SHARED", True), ("O_RDWR", ("MAP_SHARED", "MAP_FIXED"), True),
                                                   ("O_RDONLY", "MAP_SHARED", False), ("O_RDWR", "MAP_PRIVATE", False)])
def test_a_shared_mapping_under_test_is_rejected_before_it_is_tried_where_the_filesystem_refuses_one(tmp_path, mode, flags,
                                                                                                       rejected):
    refusing = Workspace(tmp_path, lacks={"writable-shared-mapping": REFUSED})
    if rejected:
        with pytest.raises(Rejected, match=REFUSED):
            refusing.ensure_mappable(mode, flags)
    else:
        refusing.ensure_mappable(mode, flags)
    Workspace(tmp_path).ensure_mappable(mode, flags)  # a filesystem that maps it: never rejected


@pytest.mark.parametrize("prot, rejected", [(("PROT_READ", "PROT_EXEC"), True), (("PROT_EXEC",), True),
                                            (("PROT_READ",), False), (("PROT_NONE",), False)])
def test_an_executable_mapping_is_rejected_where_the_filesystem_is_noexec(tmp_path, prot, rejected):
    noexec = Workspace(tmp_path, lacks={"exec-allowed": "mounted noexec"})
    if rejected:
        with pytest.raises(Rejected, match="PROT_EXEC: mounted noexec"):
            noexec.ensure_executable(prot)
    else:
        noexec.ensure_executable(prot)
    Workspace(tmp_path).ensure_executable(prot)  # a filesystem that allows it: never rejected
