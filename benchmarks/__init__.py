"""Benchmarks: this project measured against baselines, side by side in one run.

Each module runs on its own (`uv run python -m benchmarks.publishing`) and
exposes a function returning structured results for a harness to collect.
Timings are not tests: the test suite only runs each benchmark's quick mode.
"""
