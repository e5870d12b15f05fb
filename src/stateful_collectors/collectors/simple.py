"""Collectors that obtain their input first, then publish it: n6 4.x's two-phase classes.

* `BaseTwoPhaseCollector`: `obtain_input_pile()` gets everything there is to
  publish before the sink is opened (`None`: nothing to publish); then
  each dict that `generate_input_data_dicts(pile)` yields becomes one message.
* `BaseSimpleCollector`: one message per run, whose body `obtain_data_body()`
  returns (`None`: nothing to publish).

You write no `run()` or `start_publishing()` and never call `inner_stop()`.
Both run on the same publishing run as every collector of this library: the
sink confirms every message before `run()` returns, and only then is
`after_completed_publishing()` called. That makes it the place to save the
state: when it runs, everything the run published is confirmed.

Example:
    ```python
    import tempfile

    from stateful_collectors import BaseSimpleCollector, StatefulCollectorMixin
    from stateful_collectors.testing import collect, make_config


    class CounterCollector(StatefulCollectorMixin, BaseSimpleCollector):
        raw_type = "stream"
        config_spec = '''
            [counter]
            state_dir :: path
        '''

        def get_source_channel(self, **processed_data):
            return "runs"

        def obtain_data_body(self):
            self.state = self.load_state() or 0
            if self.state == 2:
                return None  # nothing to publish: no message, no save
            self.state += 1
            return f"run {self.state}".encode()

        def after_completed_publishing(self):
            super().after_completed_publishing()
            self.save_state(self.state)  # the message is confirmed


    with tempfile.TemporaryDirectory() as state_dir:
        config = make_config("counter", state_dir=state_dir)
        for _ in range(3):
            run = collect(CounterCollector, config)
            print(run.bodies, run.state, run.state_saved)
            #> [b'run 1'] 1 True
            #> [b'run 2'] 2 True
            #> [] 2 False
    ```
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from stateful_collectors.collectors.base import BaseCollector

__all__ = ["BaseSimpleCollector", "BaseTwoPhaseCollector"]

log = logging.getLogger(__name__)


class BaseTwoPhaseCollector(BaseCollector):
    r"""Obtain first (`obtain_input_pile()`), then publish one message per input dict.

    A run (`run_collection()`):

    1. `prepare_state()`: takes a stateful collector's lock and checks its
       state can be saved, and `prepare_sink()` checks the sink's settings,
       before anything is fetched;
    2. `obtain_input_pile()`: everything there is to publish, fetched before
       the sink is opened. `None` ends the run there: one INFO log line,
       no sink opened, nothing published, and `after_completed_publishing()`
       is not called;
    3. `run()`: opens the sink and publishes one message per dict that
       `generate_input_data_dicts(pile)` yields (each dict goes to
       `get_output_components()`), then waits until the sink confirmed them
       all;
    4. `after_completed_publishing()`: save the state here.

    If a step raises, the run ends there and the later steps do not run.

    ```python
    import json

    from stateful_collectors import BaseTwoPhaseCollector
    from stateful_collectors.testing import collect


    class PerItemCollector(BaseTwoPhaseCollector):
        raw_type = "stream"
        config_spec_pattern = "[{collector_class_name}]\n"

        def get_source(self, **processed_data):
            return "demo.items"

        def obtain_input_pile(self):
            return [{"id": 1}, {"id": 2}]  # fetched before the sink is opened

        def generate_input_data_dicts(self, input_pile, /):
            for item in input_pile:
                yield {"item": item}

        def get_output_data_body(self, source, item, **processed_data):
            return json.dumps(item).encode()


    run = collect(PerItemCollector, "[PerItemCollector]\n")
    print(run.bodies)
    #> [b'{"id": 1}', b'{"id": 2}']
    ```
    """

    _input_pile: Any = None

    def run_collection(self) -> None:
        """One whole run: `prepare_state()`, `prepare_sink()`, `obtain_input_pile()`, `run()`.

        Then the hook, `after_completed_publishing()`.
        """
        self.prepare_state()
        self.prepare_sink()
        self.nothing_to_publish = False
        input_pile = self.obtain_input_pile()
        if input_pile is None:
            log.info("%s: nothing to publish", type(self).__qualname__)
            self.nothing_to_publish = True
            return
        self._input_pile = input_pile
        try:
            self.run()
        finally:
            self._input_pile = None
        self.after_completed_publishing()

    def obtain_input_pile(self) -> Any:
        """Everything there is to publish in this run, or `None` for nothing. Override this."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must define obtain_input_pile() and return what "
            "generate_input_data_dicts() turns into messages (None: nothing to publish)"
        )

    def generate_input_data_dicts(self, input_pile: Any, /) -> Iterator[dict[str, Any]]:
        """Yield one dict of keyword arguments per message. Override this.

        Each dict is passed to `get_output_components(**dict)`, and so on to
        `get_source()`, `get_output_data_body()` and the other hooks.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} must define generate_input_data_dicts(input_pile) "
            "and yield one dict per message"
        )

    def start_publishing(self) -> None:
        """Publish one message per dict of `generate_input_data_dicts()`, then `inner_stop()`."""
        published = 0
        for input_data in self.generate_input_data_dicts(self._input_pile):
            self.publish_output(*self.get_output_components(**input_data))
            published += 1
        if not published:
            log.warning(
                "%s: generate_input_data_dicts() yielded nothing; no message published",
                type(self).__qualname__,
            )
        self.inner_stop()


class BaseSimpleCollector(BaseTwoPhaseCollector):
    """One message per run: its body is what `obtain_data_body()` returns.

    `obtain_data_body()` returns the body (`bytes`; this library also takes
    `str` and objects with `__bytes__`), or `None` when there is nothing to
    publish: then the run publishes nothing and skips
    `after_completed_publishing()`. An empty body (`b""`) is still published.
    """

    def obtain_data_body(self) -> Any:
        """The body of this run's message, or `None` for no message. Override this."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must define obtain_data_body() and return the "
            "message body (None: nothing to publish)"
        )

    def obtain_input_pile(self) -> dict[str, Any] | None:
        """`{"data_body": body}`, or `None` when `obtain_data_body()` returned `None`."""
        data_body = self.obtain_data_body()
        if data_body is None:
            return None
        return {"data_body": data_body}

    def generate_input_data_dicts(self, input_pile: Any, /) -> Iterator[dict[str, Any]]:
        """The one message's arguments: `{"data_body": body}`."""
        yield input_pile

    def get_output_data_body(self, source: str, **processed_data: Any) -> Any:
        """The body `obtain_data_body()` returned."""
        return processed_data["data_body"]
