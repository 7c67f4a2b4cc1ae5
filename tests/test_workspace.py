"""Scratch files per target: fresh files where the target is writable; on a read-only one, the image's files."""

from __future__ import annotations

import pytest

from fixtures.files import CORPUS_DIR, EDGE_SIZES, PATTERN_SEEDS, Rejected, Workspace, pattern, write_corpus
from fixtures.libc import PAGE_SIZE as PAGE


def test_new_file_holds_content_then_a_hole_and_is_removed_after(tmp_path):
    workspace = Workspace(tmp_path)
    with workspace.file(PAGE + 3, b"abc") as path:
        assert path.parent == tmp_path and path.read_bytes() == b"abc" + bytes(PAGE)
        with workspace.opened(path, "O_RDWR"):
            pass
    assert not path.exists()


@pytest.fixture
def read_only(tmp_path):
    write_corpus(tmp_path / CORPUS_DIR)
    return Workspace(tmp_path, {"name": "squashfs", "read_only": True})


@pytest.mark.parametrize("size", EDGE_SIZES)
@pytest.mark.parametrize("content", ["zeros", "first seed", "last seed"])
def test_read_only_target_serves_every_edge_size_and_pattern_from_its_image(read_only, size, content):
    wanted = {"zeros": b"", "first seed": pattern(PATTERN_SEEDS[0], size), "last seed": pattern(PATTERN_SEEDS[-1], size)}
    with read_only.file(size, wanted[content]) as path:
        assert path.parent.name == CORPUS_DIR and path.read_bytes() == wanted[content].ljust(size, b"\0")
        with read_only.opened(path, "O_RDONLY"):
            pass
    assert path.exists()  # the image's files are never removed


@pytest.mark.parametrize("size, content", [(5, b"abc"), (PAGE + 2, b""), (PAGE, b"not a pattern")])
def test_read_only_target_rejects_a_file_its_image_does_not_hold(read_only, size, content):
    with pytest.raises(Rejected, match="has no file of"):
        read_only.new_file(size, content)


@pytest.mark.parametrize("mode", ["O_WRONLY", "O_RDWR"])
def test_read_only_target_rejects_opening_for_writing(read_only, mode):
    with read_only.file(1, pattern(3, 1)) as path, pytest.raises(Rejected, match=mode):
        with read_only.opened(path, mode):
            pass
