"""Scenarios (drive the kernel, return a plain observation) and judges (pure functions of parameters and observation), per topic."""
