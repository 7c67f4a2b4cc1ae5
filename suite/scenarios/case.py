"""What every claim test's case shares: the page size it is drawn in, and the check that it fits that page size.

A case's byte counts, offsets and page indices mean what they say at its ``page_size`` only (the target's page
size, Target.page_size: its files' mapping granularity). Each case type's ``check()`` says whether they describe
what its scenario needs there (an access inside the mapping and the file it speaks of, a page index inside the
range it indexes, ...), through the same derived quantities the scenario uses. suite.strategies.draw_case() checks
every case a claim test runs, drawn or explicit, so a case that does not fit its page size is an error before
anything is mapped, never a verdict; tests/test_page_sizes.py checks them at 4, 16 and 64 KiB and 2 MiB pages.
"""

from __future__ import annotations

from dataclasses import dataclass


class CaseError(ValueError):
    """A case whose offsets, indices or lengths do not describe what its scenario needs at its page size."""


@dataclass(frozen=True)
class PagedCase:
    page_size: int  # bytes per page: the unit every page index and page-multiple field of the case is in

    def check(self) -> None:
        """Raise CaseError unless the case describes what its scenario needs at ``page_size``. Each case type
        extends this with its own conditions."""
        self.require(self.page_size > 0 and self.page_size & (self.page_size - 1) == 0,
                     "a page size that is a power of two")

    def require(self, condition: bool, what: str) -> None:
        if not condition:
            raise CaseError(f"{type(self).__name__} at {self.page_size}-byte pages needs {what}")

    def round_up(self, n: int) -> int:
        """``n`` rounded up to whole pages: the end of the page holding byte n - 1."""
        return -(-n // self.page_size) * self.page_size

    def page_count(self, n: int) -> int:
        """How many pages ``n`` bytes from a page boundary touch."""
        return -(-n // self.page_size)

    def aligned(self, n: int) -> bool:
        return n % self.page_size == 0

    def inside(self, start: int, length: int, end: int) -> bool:
        """Whether [start, start + length) is a non-empty range inside [0, end)."""
        return 0 <= start and length > 0 and start + length <= end
