"""The kernel matrix: the suite, unchanged, under other Linux kernels in QEMU guests (``python -m kernels``)."""
