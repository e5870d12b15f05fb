"""The benchmark harness (benchmarks/), run in its quick mode so that it never rots."""
