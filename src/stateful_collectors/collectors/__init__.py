"""The collector base classes.

* `base`: `AbstractBaseCollector` (configuration, the outline of a run and what
  a run may ask of a collector), `QueuedBase` (the sink: publishing with
  confirms) and `BaseCollector` (messages from a source and a body);
* `rows`: `BaseTimeOrderedRowsCollector`, which keeps its own state.
"""
