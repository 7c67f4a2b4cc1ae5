"""A derandomized run draws the same examples whichever modules of the checkout it imported (harness/profiles.py)."""

from __future__ import annotations

import importlib.util
import sys

from hypothesis import Phase, given, settings
from hypothesis import strategies as st


def test_derandomized_examples_do_not_depend_on_the_modules_loaded(tmp_path, monkeypatch):
    drawn: list[int] = []

    @settings(derandomize=True, database=None, max_examples=200, phases=[Phase.generate])
    @given(st.integers(0, 10**6))
    def draw(n):
        drawn.append(n)

    draw()
    before = list(drawn)
    # A module outside site-packages and the standard library, full of integers in the drawn range: Hypothesis'
    # pool of literals from local modules would take them.
    source = tmp_path / "literals.py"
    source.write_text(f"VALUES = {list(range(1000, 1200))}\n")
    spec = importlib.util.spec_from_file_location("literals", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "literals", module)
    drawn.clear()
    draw()
    assert drawn == before
