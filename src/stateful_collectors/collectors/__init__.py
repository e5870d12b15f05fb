"""The collector base classes.

* `base`: `AbstractBaseCollector` (configuration, the outline of a run and what
  a run may ask of a collector), `QueuedBase` (the sink: publishing with
  confirms) and `BaseCollector` (messages from a source and a body);
* `simple`: `BaseTwoPhaseCollector` and `BaseSimpleCollector`, n6 4.x's
  classes that obtain their input first and publish it without a
  `start_publishing()` of yours;
* `rows`: `BaseTimeOrderedRowsCollector`, which keeps its own state.
"""
