"""Helpers for testing your own collectors: a config from keywords, one run, its output.

`collect()` runs a collector once, the way `stateful-collectors run` would,
but publishes into a JSON Lines outbox in a temporary directory and hands you
back what was published and the state that was saved.

Example:
    ```python
    import tempfile

    from stateful_collectors import BaseCollector, StatefulCollectorMixin
    from stateful_collectors.testing import collect, make_config


    class CountingCollector(StatefulCollectorMixin, BaseCollector):
        raw_type = "stream"
        config_spec = '''
            [counting]
            state_dir :: path
        '''

        def make_default_state(self):
            return 0

        def run(self):
            self.state = self.load_state() + 1
            super().run()
            self.save_state(self.state)

        def get_source_channel(self, **processed_data):
            return "runs"

        def get_output_data_body(self, **kwargs):
            return f"run number {self.state}"

        def start_publishing(self):
            self.publish_output(*self.get_output_components())
            self.inner_stop()


    with tempfile.TemporaryDirectory() as tmp:
        config = make_config("counting", state_dir=tmp)
        collect(CountingCollector, config)
        second = collect(CountingCollector, config)
        print(second.bodies, second.state)
        #> [b'run number 2'] 2
    ```
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from stateful_collectors.collectors.base import QueuedBase
from stateful_collectors.sinks.outbox import OutboxMessage, OutboxSink, read_outbox
from stateful_collectors.state.mixin import StatefulCollectorMixin

__all__ = ["CollectedRun", "collect", "make_config"]


def make_config(section: str, **options: Any) -> str:
    """INI text with one `[section]` holding `options` (values turned into text).

    Booleans become `true`/`false`, lists `a, b` (for `list_of_str`), dicts JSON
    (for `json`), `None` leaves the option out (so its spec default applies), and
    text with line breaks is written as INI continuation lines.

    ```python
    from stateful_collectors.testing import make_config

    url = "http://localhost:8808/items.json"
    print(make_config("feed", url=url, timeout=5), end="")
    #> [feed]
    #> url = http://localhost:8808/items.json
    #> timeout = 5
    ```
    """
    lines = [f"[{section}]"]
    for name, value in options.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            text = ", ".join(str(item) for item in value)
        elif isinstance(value, dict):
            text = json.dumps(value)
        else:
            text = str(value)
        lines.append(f"{name} = {text}".replace("\n", "\n    "))
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class CollectedRun:
    """What one `collect()` run produced."""

    messages: list[OutboxMessage]
    """The messages published and confirmed, in order."""
    state: Any
    """The state saved by the run (`None` for a collector without state)."""
    state_file: Path | None
    """Where the state lives (`None` for a collector without state)."""
    state_saved: bool = False
    """Whether the run saved its state (`state` is `None` when no state file exists)."""

    @property
    def bodies(self) -> list[bytes]:
        """The message bodies."""
        return [message.body for message in self.messages]

    def json_bodies(self) -> list[Any]:
        """The message bodies parsed as JSON."""
        return [json.loads(body) for body in self.bodies]


def collect(
    cls: type[QueuedBase], config_text: str, *, outbox: str | Path | None = None
) -> CollectedRun:
    """Run `cls` once with `config_text`; publish into an outbox; return what happened.

    Exceptions from the run propagate unchanged (the state is then not saved),
    so a test can assert on them with `pytest.raises`.
    """
    with tempfile.TemporaryDirectory(prefix="collect-") as tmp:
        outbox_path = Path(outbox) if outbox is not None else Path(tmp) / "outbox.jsonl"
        already = len(read_outbox(outbox_path)) if outbox_path.exists() else 0
        with cls(config_text=config_text, sink=OutboxSink(outbox_path)) as collector:
            collector.run_collection()
            state_location = collector.state_location
            state_saved = collector.state_saved
        messages = read_outbox(outbox_path)[already:] if outbox_path.exists() else []
    state = None
    if state_location is not None:
        with cls(config_text=config_text, sink=OutboxSink(outbox_path)) as reader:
            assert isinstance(reader, StatefulCollectorMixin)
            if reader.state_store.exists():
                state = reader.load_state()
    state_file = Path(state_location) if state_location is not None else None
    return CollectedRun(messages, state, state_file, state_saved)
