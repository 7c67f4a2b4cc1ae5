"""The kernel matrix: the suite, unchanged, under other Linux kernels in QEMU guests (``python -m kernels``).

In the order a matrix uses them: command_line (the options), architectures
(each --arch: its kernels, QEMU machine and defaults), packages (Debian kernel
packages and the host's tools), userland (another architecture's root and
pinned packages), initramfs (the guest's init and modules), guest (a QEMU boot,
and which accelerator), processes (the record
of every process a matrix starts), progress, runs (one kernel's run of the
suite, on the host or in a guest), run_reports (each run's report annotated,
or a stand-in for one that gave none), runner (main). The summary is
reports/kernel_summary.py (``python -m reports kernels``).
"""

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

CHECKOUT = Path(__file__).resolve().parents[1]


class VMError(Exception):
    """Something a guest needs is missing or failed; the message is one line for the user."""


def is_built(tree: Path) -> bool:
    """Whether a cached tree (an unpacked kernel, a userland, a site of pinned packages) was finished."""
    return (tree / ".complete").is_file()


@contextlib.contextmanager
def building(tree: Path) -> Iterator[Path]:
    """A scratch directory beside ``tree`` to build it in: when the block ends it replaces ``tree`` (an unfinished
    one included) and is marked finished (is_built()); when the block raises, or the run is killed, it is removed
    or left as a dot-directory nothing reads."""
    tree.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{tree.name}-", dir=tree.parent))
    try:
        yield partial
        if tree.exists():
            shutil.rmtree(tree)
        partial.rename(tree)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    (tree / ".complete").touch()
