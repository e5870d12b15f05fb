"""Small collectors the tests use, one module per purpose.

The ones run as real processes are named by module, and the tests run them
from the repository root (tests/support/processes.py does):

* `cli`: `Counter`, `JsonCounter`, `RichState`, `Plain`: the command-line
  tests' collectors (`tests.support.collectors.cli:Counter`), also used
  in-process by the tests of `stateful_collectors.testing`;
* `probe`: `ProbeCollector`, steered by its config, for the broker tests;
* `gated`: `GatedCollector`, which waits at a gate holding its lock, for the
  single-instance tests;
* `checkpoint_kill`: the guide's `CheckpointCollector` with the process id in
  each message (`python -m tests.support.collectors.checkpoint_kill`, with
  `examples/` on `PYTHONPATH`), for the random-kill test;
* `keeps_state`: `KeepsState`, the smallest stateful collector, used in-process
  by the reliability tests;
* `shared_feed`: `SharedFeedCollector`, a JSON-state collector with two gates,
  run with a `[postgresql]` config by the several-hosts tests;
* `checkpoint_kill_shared`: the checkpoint kill target with a JSON state, killed
  at random points on two "hosts" sharing its state in PostgreSQL;
* `partitioned_feed`: `PartitionedFeedCollector`, the shared-feed collector with
  a state as large as its config asks and a row of its own per test lane, run
  in network namespaces by the partition tests.

This file imports nothing: a child process that runs one of them loads only
that module's imports (tests/unit/test_run_imports.py counts them).
"""
