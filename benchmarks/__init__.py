"""Benchmarks: this project measured against baselines, side by side in one run.

`uv run python -m benchmarks` runs them all and prints one table (see
`benchmarks/__main__.py`); `--write-docs` also updates the Performance page's
table and chart. Each benchmark is a module returning rows of that table:

* `state_io`: `save_state` and `load_state` against hand-written file code;
* `cold_start`: `import stateful_collectors` against `python -c pass`;
* `publishing` (with `publishing_rows`): `AmqpSink` against raw pika;
* `whole_run`: whole collector runs against `baseline_collector.py`, and how a
  run's cost grows with the feed's history;
* `project_timings`: the site build and the test suite, for context.

`benchmarks.publishing` also runs on its own (`uv run python -m benchmarks.publishing`).
Timings are not tests: the test suite only runs the harness's `--quick` mode.
"""
