"""Plugin, loaded first (tox.ini): a run needs the plugins tox.ini names installed; one missing is one line.

A run loads only those plugins (``--disable-plugin-autoload``), by name, and pytest would answer a missing one
with its import traceback. ``./mmapconf suite`` and tox install them from requirements.txt.
"""

from __future__ import annotations

import importlib.util

import pytest

NEEDED = {"pytest_forked": "pytest-forked", "hypothesis": "hypothesis", "xdist": "pytest-xdist"}  # module: package

missing = [package for module, package in NEEDED.items() if importlib.util.find_spec(module) is None]
if missing:
    raise pytest.UsageError(f"this Python lacks {', '.join(missing)}, which the suite needs: run it with "
                            f"./mmapconf suite (which installs what it needs), or pip install -r requirements.txt")
