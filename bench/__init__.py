"""Voxsig benchmarks: `python -m bench` runs them all, `python -m bench NAME` runs one.

Kept free of imports so that `python -m bench.loadgen` and `python -m bench.baseline_app`,
which run as their own processes, load nothing they do not need.
"""
