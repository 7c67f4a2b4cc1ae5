"""A shrunk failure of the state machine (suite/model/machine.py) as a runnable script: the steps the machine
logged for it, which are calls on the machine (``state.truncate(...)``)."""

from __future__ import annotations


def reproduction(steps: list[str], machine: type, directory: str, page_size: int) -> str:
    """The steps of the minimal failing sequence, as a runnable Python script."""
    script = ["# run from the mmapconf checkout's top directory, e.g. python - < this-file",
              f"from {machine.__module__} import {machine.__qualname__}",
              "from suite.model.platform_choice import platform_at",
              f"state = {machine.__qualname__}({directory!r}, platform=platform_at({directory!r}), "
              f"page_size={page_size})"]
    script += ["try:"] + [f"    {s}" for s in steps] + ["finally:", "    state.teardown()"]
    return "\n".join(script)


def steps_in(repro: str) -> int:
    """How many operations a reproduction runs."""
    return sum(1 for line in repro.splitlines() if line.strip().startswith("state.") and "teardown" not in line)
