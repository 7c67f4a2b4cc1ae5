"""Fences (suite/scenarios/address_space.py): pages freed inside one stay free whatever the process maps later,
whatever the page size, so an access there that does not fault is the kernel's doing, never a stray mapping's."""

from __future__ import annotations

import pytest

from fixtures import libc
from suite.scenarios.address_space import ANONYMOUS, fenced_hole, release_fence, reserve


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


# 64 KiB pages: a length the kernel never aligns to by itself (it aligns only multiples of 2 MiB, on newer kernels).
# A 4 KiB mapping before each reservation moves where mmap() would put it, so an aligned one is not luck. The
# reservations are read-only and the rest read-write: once the reservations are unmapped, a read-only anonymous area
# left next to where one was is slack reserve() did not trim.
@pytest.mark.parametrize("pages, page_size", [(1, 64 << 10), (3, 64 << 10), (1, 2 << 20)])
def test_a_reservation_is_aligned_to_its_page_size_and_nothing_around_it_stays_mapped(pages, page_size):
    markers, reservations = [], []
    try:
        for _ in range(8):
            markers.append(libc.checked("mmap", libc.mmap(None, libc.PAGE_SIZE, libc.PROT_READ | libc.PROT_WRITE,
                                                          ANONYMOUS, -1, 0)))
            reservations.append(reserve(pages, page_size, libc.PROT_READ))
        misaligned = [f"{addr:#x}" for addr in reservations if addr % page_size]
        assert not misaligned, f"reservations not aligned to {page_size:#x}: {misaligned}"
    finally:
        for addr in reservations:
            libc.munmap(addr, pages * page_size)
        for addr in markers:
            libc.munmap(addr, libc.PAGE_SIZE)
    read_only = [(int(start, 16), int(end, 16)) for (start, end), prot, inode in
                 ((line.split()[0].split("-"), line.split()[1], line.split()[4]) for line in open("/proc/self/maps"))
                 if prot == "r--p" and inode == "0"]
    slack = page_size - libc.PAGE_SIZE
    left = [f"{start:#x}-{end:#x}" for start, end in read_only for addr in reservations
            if start < addr + pages * page_size + slack and addr - slack < end]
    assert not left, f"left mapped around a reservation: {left}"
