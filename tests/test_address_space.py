"""Fences (suite/scenarios/address_space.py): pages freed inside one stay free whatever the process maps later,
whatever the page size, so an access there that does not fault is the kernel's doing, never a stray mapping's."""

from __future__ import annotations

import pytest

from fixtures import libc
from suite.scenarios.address_space import ANONYMOUS, fenced_hole, release_fence


# 2 MiB: a hugetlbfs page, wide enough for a Python arena (1 MiB) or a malloc() of 128 KiB and more; 64 KiB: six
# base pages of arm64 and ppc64 kernels built for them; the host's own base page.
@pytest.mark.parametrize("pages, page_size", [(1, 2 << 20), (6, 64 << 10), (6, libc.PAGE_SIZE)])
def test_pages_freed_in_fence_take_no_later_mapping(pages, page_size):
    hole = fenced_hole(pages, page_size)
    later = []
    try:
        for size in (1 << 20, 256 << 10, 128 << 10, libc.PAGE_SIZE) * 16:  # arenas, large mallocs, small maps
            later.append((libc.checked("mmap", libc.mmap(None, size, libc.PROT_READ | libc.PROT_WRITE, ANONYMOUS,
                                                        -1, 0)), size))
        inside = [f"{addr:#x}+{size:#x}" for addr, size in later if addr < hole + pages * page_size and hole < addr + size]
        assert not inside, f"mapped in the hole at {hole:#x}: {inside}"
    finally:
        for addr, size in later:
            libc.munmap(addr, size)
        release_fence(hole, pages, page_size)
