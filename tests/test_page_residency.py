"""The page-cache count PAGE-* scenarios rely on, with and without cachestat(2)."""

from __future__ import annotations

import errno
import os

from fixtures import libc, pages
from fixtures.libc import PAGE_SIZE as PAGE


def test_without_cachestat_the_count_comes_from_a_private_mapping_and_agrees(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(bytes(range(256)) * (3 * PAGE // 256) + b"x")
    fd = os.open(path, os.O_RDWR)  # as the scenarios hold it: a MAP_SHARED check mapping could be refused
    try:
        os.pread(fd, 3 * PAGE + 1, 0)
        with_cachestat = pages.cached_pages(fd, 3 * PAGE + 1)
        calls = []
        real_mmap = libc.mmap
        monkeypatch.setattr(libc, "cachestat", lambda *a: libc.CallResult(None, errno.ENOSYS))
        monkeypatch.setattr(libc, "mmap", lambda *a: calls.append(a[3]) or real_mmap(*a))
        assert pages.cached_pages(fd, 3 * PAGE + 1) == with_cachestat
        assert calls == [libc.MAP_PRIVATE]
    finally:
        os.close(fd)
