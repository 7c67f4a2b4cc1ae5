"""A shrunk failure of the state machine (suite/model/machine.py) as a runnable script: the steps Hypothesis
printed for it, which are calls on the machine (``state.truncate(...)``)."""

from __future__ import annotations


def reproduction(notes: list[str], machine: type, directory: str, page_size: int) -> str:
    """The steps Hypothesis printed for the minimal failing sequence, as a runnable Python script."""
    lines = [line for note in notes for line in note.splitlines()]
    steps = [line for line in lines if line.startswith("state.")]
    script = ["# run from the mmapconf checkout's top directory, e.g. python - < this-file",
              f"from {machine.__module__} import {machine.__qualname__}",
              f"state = {machine.__qualname__}(directory={directory!r}, page_size={page_size})"]
    body = [s for s in steps if s != "state.teardown()"]
    script += ["try:"] + [f"    {s}" for s in body] + ["finally:", "    state.teardown()"]
    return "\n".join(script)


def steps_in(repro: str) -> int:
    """How many operations a reproduction runs."""
    return sum(1 for line in repro.splitlines() if line.strip().startswith("state.") and "teardown" not in line)
