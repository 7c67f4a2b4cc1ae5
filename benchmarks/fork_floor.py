"""The fork floor inside a scenario server (fixtures/scenario_server.py), for benchmarks/phases.py: run there as a
scenario, so this module imports nothing the server does not already have."""

from __future__ import annotations

import os
import time


def fork_wait(samples: int) -> float:
    """Seconds per fork + waitpid of a child that exits at once, in the process that runs this."""
    started = time.monotonic()
    for _ in range(samples):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return (time.monotonic() - started) / samples
