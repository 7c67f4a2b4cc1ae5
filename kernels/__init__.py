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

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


class VMError(Exception):
    """Something a guest needs is missing or failed; the message is one line for the user."""
