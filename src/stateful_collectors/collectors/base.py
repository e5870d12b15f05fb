r"""The collector base classes: configuration, the publishing run, message components.

Three layers, each adding one job:

* `AbstractBaseCollector` reads and checks the configuration (`config_spec`,
  or n6 4.x's `config_spec_pattern` -> `self.config`) and defines the run as
  `run_collection()`: `run()` then `after_completed_publishing()`.
* `QueuedBase` (also importable as `LegacyQueuedBase`, its name in n6) owns the
  sink: `run()` opens it, declares the exchanges of `output_queue`, calls your
  `start_publishing()`, lets you `publish_output()` until you call
  `inner_stop()`, and returns only when the sink has confirmed every message.
* `BaseCollector` turns data into a message: `get_output_components()` calls
  `process_input_data`, `get_source` (checked by `validate_source`),
  `get_output_rk`, `get_output_data_body` and `get_output_prop_kwargs`, and
  checks `raw_type`.

Each class speaks one of two dialects: the page's (`config_spec`, whose first
section is the collector's, and `get_source_channel()` with a provider) or
n6 4.x's (`config_spec_pattern`, whose section is named after the class, and
`get_source()` returning the whole source). Mixing them in one class is a
`TypeError` as soon as the class is created.

`run()` returning normally is the guarantee a stateful collector builds on:
everything it published is in the broker's (or the outbox's) hands, so the
state can be saved. Any failure raises instead, and the state stays as it was:
the next run fetches the same data again. Delivery is therefore at-least-once;
`message_id` is derived from the source and the body, so consumers can drop
the repeats.

Example:
    ```python
    import tempfile

    from stateful_collectors import BaseCollector
    from stateful_collectors.sinks.outbox import OutboxSink, read_outbox


    class HelloCollector(BaseCollector):
        raw_type = "stream"
        config_spec = '''
            [hello]
            greeting = hello :: str
        '''

        def get_source_channel(self, **processed_data):
            return "greetings"

        def get_output_data_body(self, **kwargs):
            return self.config["greeting"]

        def start_publishing(self):
            self.publish_output(*self.get_output_components())
            self.inner_stop()


    with tempfile.TemporaryDirectory() as tmp:
        sink = OutboxSink(f"{tmp}/out.jsonl")
        collector = HelloCollector(config_text="[hello]\n", sink=sink)
        collector.run_collection()
        (message,) = read_outbox(f"{tmp}/out.jsonl")
        print(message.routing_key, message.body, message.properties["type"])
        #> hello.greetings b'hello' stream
    ```
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar, Self

from stateful_collectors.config import (
    ConfigSection,
    ConfigSource,
    ConfigSpec,
    combine_patterns,
    pattern_chain,
)
from stateful_collectors.errors import CollectorStopped, UsageError
from stateful_collectors.sinks import SECTIONS as SINK_SECTIONS
from stateful_collectors.sinks import Exchange, sink_from_config
from stateful_collectors.sinks.base import Sink

__all__ = [
    "RAW_TYPES",
    "AbstractBaseCollector",
    "BaseCollector",
    "LegacyQueuedBase",
    "QueuedBase",
    "add_collector_entry_point_functions",
    "message_id_for",
]

log = logging.getLogger(__name__)

RAW_TYPES = ("stream", "file", "blacklist")
"""The allowed values of `raw_type`: a stream of events, a file, a blacklist."""

_SOURCE_PART_RE = re.compile(r"[A-Za-z0-9-]{1,32}")  # used with fullmatch()


def message_id_for(source: str, body: bytes) -> str:
    """The deterministic message id: the same source and body always give the same id.

    ```python
    from stateful_collectors.collectors.base import message_id_for

    print(message_id_for("demo.items", b"[]") == message_id_for("demo.items", b"[]"))
    #> True
    print(len(message_id_for("demo.items", b"[]")))
    #> 32
    ```
    """
    import hashlib  # here, not at the top: a run that publishes nothing need not load OpenSSL

    digest = hashlib.blake2b(digest_size=16)
    digest.update(source.encode("utf-8"))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def _as_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if hasattr(type(body), "__bytes__"):
        return bytes(body)
    raise TypeError(
        f"a message body must be bytes, str or define __bytes__; got {type(body).__name__} "
        "(encode it, e.g. json.dumps(data).encode())"
    )


class _BodyBytes:
    """A message body as bytes, converted once though two steps need it.

    `get_output_prop_kwargs()` converts the body to hash it for the message id
    (`convert`); `publish_output()` then sends the very same object (`take`):
    it gets the bytes already made, and the kept copy is dropped.
    """

    __slots__ = ("_body", "_data")

    def __init__(self) -> None:
        self._body: object = None
        self._data = b""

    def convert(self, body: Any) -> bytes:
        if not isinstance(body, bytes):
            self._body, self._data = body, _as_bytes(body)
            return self._data
        return body

    def take(self, body: Any) -> bytes:
        if body is self._body and body is not None:
            data = self._data
        else:
            data = _as_bytes(body)
        self._body, self._data = None, b""
        return data


class AbstractBaseCollector:
    """Configuration, the outline of a run, and what a run may ask of any collector.

    Args:
        config_file: read this INI file instead of the default ones.
        config_text: INI text to use instead of any file (docs, tests).
        config_source: an already-read `ConfigSource` (shared by several collectors).

    Attributes:
        config_spec: the options the collector reads, in the spec mini-language
            (see `stateful_collectors.config`); the first section is its own.
        config_spec_pattern: the same in n6 4.x's dialect, instead of
            `config_spec`: a pattern whose `{collector_class_name}` placeholder
            becomes the class's name, so the collector's own section is
            `[MyCollector]`. Wrap it in `combined_config_spec()` to add to the
            base classes' patterns (a plain string replaces them); the
            options the library's base classes need are always added (see
            `config_spec_pattern_defaults()`). Setting both is a `TypeError`
            when the class is created.
        config_converters: extra converters by name, usable after `::` in the spec.
        config: the checked values of the collector's own section.
        config_full: the checked values of every section of the spec, by name.
        published_count: messages handed to the sink during the last `run()`.
        sink_description: where the last `run()` published, for logs.
        state_saved: whether this collector saved its state in this process.
        nothing_to_publish: whether the last run found nothing to publish and so
            left its state as it was (a two-phase collector whose pile was `None`).

    The runner (`stateful_collectors.runtime.runner`) relies only on what this class
    declares: `run_collection()`, `prepare_state()`, `close()`, the four
    attributes above and `state_location`. `QueuedBase` and
    `StatefulCollectorMixin` fill them in; a collector without a sink or a
    state keeps the harmless defaults.
    """

    config_spec: ClassVar[str | None] = None
    config_spec_pattern: ClassVar[str | None] = None
    config_converters: ClassVar[Mapping[str, Callable[[str], Any]]] = {}
    _parsed_config_spec: ClassVar[tuple[tuple[object, ...], ConfigSpec | None]]

    config: ConfigSection
    """The collector's own section (the spec's first), checked and converted."""
    config_full: dict[str, ConfigSection]
    """Every section of the spec, checked and converted, by name."""

    published_count: int = 0
    sink_description: str | None = None
    state_saved: bool = False
    nothing_to_publish: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.config_spec is not None and cls.config_spec_pattern is not None:
            raise TypeError(
                f"{cls.__qualname__} sets both config_spec (in "
                f"{_defined_in(cls, 'config_spec')}) and config_spec_pattern (in "
                f"{_defined_in(cls, 'config_spec_pattern')}); keep one: config_spec, whose "
                "first section is the collector's, or config_spec_pattern (n6 4.x's "
                "dialect), whose section is [{collector_class_name}]"
            )

    def __init__(
        self,
        *,
        config_file: str | None = None,
        config_text: str | None = None,
        config_source: ConfigSource | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if config_source is None:
            config_source = ConfigSource.load(config_file=config_file, config_text=config_text)
        self.config_source = config_source
        """The config the collector was built from: every section of its files, as text."""
        self.set_configuration()

    def set_configuration(self) -> None:
        """Set `config_full` and `config` from `config_source`, checked against the spec.

        Called by `__init__` (n6 4.x's name for this step).
        """
        config_source = self.config_source
        spec = type(self).get_config_spec()
        if spec is None:
            self.config_full = {}
            self.config = ConfigSection("", {}, config_source.described_as)
        else:
            self.config_full = {name: config_source.section(spec, name) for name in spec.sections}
            self.config = self.config_full[spec.main_section]
        # [outbx], or a stray section in --config's file
        config_source.check_sections(spec, type(self).library_sections())

    @classmethod
    def get_config_spec(cls) -> ConfigSpec | None:
        """The parsed spec (once per class), or `None` when the class declares none.

        It is `config_spec`, or (n6 4.x's dialect) `config_spec_pattern`
        filled in with `get_config_spec_format_kwargs()` and combined with the
        base classes' patterns and `config_spec_pattern_defaults()`, its
        `[{collector_class_name}]` section first.
        """
        if cls.config_spec_pattern is None:
            key: tuple[object, ...] = (cls.config_spec,)
        else:
            format_kwargs = cls.get_config_spec_format_kwargs()
            chain = pattern_chain(cls)
            key = (
                tuple(pattern for _, pattern in chain),
                tuple(format_kwargs.items()),
                cls.config_spec_pattern_defaults(),
            )
        cached: tuple[tuple[object, ...], ConfigSpec | None] | None = cls.__dict__.get(
            "_parsed_config_spec"
        )
        if cached is not None and cached[0] == key:
            return cached[1]
        parsed: ConfigSpec | None
        if cls.config_spec_pattern is not None:
            parsed = cls._combined_pattern_spec(chain, format_kwargs)
        elif cls.config_spec is not None:
            parsed = ConfigSpec.parse(
                cls.config_spec,
                owner=f"{cls.__qualname__}.config_spec",
                converters=cls.config_converters,
            )
        else:
            parsed = None
        cls._parsed_config_spec = (key, parsed)
        return parsed

    @classmethod
    def get_config_spec_format_kwargs(cls) -> dict[str, Any]:
        """What fills in `config_spec_pattern`: `{"collector_class_name": cls.__name__}`.

        Extend it (calling `super()`) to offer more placeholders.
        `collector_class_name` names the collector's own section.
        """
        return {"collector_class_name": cls.__name__}

    @classmethod
    def config_spec_pattern_defaults(cls) -> str:
        """Spec lines the library's base classes add to the collector's own section.

        They count in n6 4.x's dialect only (a class with
        `config_spec_pattern`), as its base classes' patterns do in n6:
        `StatefulCollectorMixin` adds `state_dir`, `BaseTimeOrderedRowsCollector`
        `row_count_mismatch_is_fatal`. A `config_spec` declares every option
        itself. Each base class returns `super()`'s lines and its own.
        """
        return ""

    @classmethod
    def _combined_pattern_spec(
        cls, chain: Sequence[tuple[type, str]], format_kwargs: Mapping[str, Any]
    ) -> ConfigSpec:
        main = str(format_kwargs["collector_class_name"])
        owner = f"{cls.__qualname__}.config_spec_pattern"
        defaults = cls.config_spec_pattern_defaults()
        spec = (
            ConfigSpec.parse(
                f"[{main}]\n{defaults}",
                owner=f"the options {cls.__qualname__}'s base classes add",
                converters=cls.config_converters,
            )
            if defaults
            else None
        )
        spec = combine_patterns(chain, format_kwargs, cls.config_converters, spec)
        if spec is None:
            spec = ConfigSpec.parse(f"[{main}]", owner=owner, converters=cls.config_converters)
        return spec.with_main_section(main, owner=owner)

    @classmethod
    def init_kwargs_from_command_line(cls, arguments: Sequence[str]) -> dict[str, Any]:
        """What the collector is built with, from the arguments after its options.

        `stateful-collectors run MODULE:CLASS` and `cli_main()` pass on what
        follows `--config`, `--deadline` and `--verbose` on their command line;
        the `state` commands, what follows their own arguments and options, so
        that they build the collector as a run does. A collector takes none by
        default: any is a `UsageError` (exit status 2).
        """
        if arguments:
            raise UsageError(
                f"unrecognized arguments: {' '.join(arguments)} ({cls.__qualname__} takes no "
                "arguments of its own; see --help)"
            )
        return {}

    @classmethod
    def cli_main(cls, argv: Sequence[str] | None = None) -> int:
        """Run this collector once as a command; return its exit status.

        The target of a console script, so an installed package gets one command
        per collector without writing any code:

        ```toml
        [project.scripts]
        collector-my-feed = "my_package.feeds:MyFeedCollector.cli_main"
        ```

        `stateful-collectors scripts my_package.feeds` prints such lines for
        every collector of a module. Options: `--config FILE`, `--deadline SECONDS`,
        `--verbose`, then the collector's own arguments.
        """
        from stateful_collectors.runtime.runner import collector_main

        return collector_main(cls)(argv)

    @classmethod
    def library_sections(cls) -> tuple[str, ...]:
        """The library's own config sections that a config of this collector may hold.

        Besides the sections of its spec, the config may hold those the
        library reads for it: here the runner's (`[run]`); `QueuedBase` adds
        its sinks' and `StatefulCollectorMixin` its stores'. Any other section
        is a mistake where `ConfigSource.check_sections` says so.
        """
        from stateful_collectors.runtime.runner import SECTIONS  # runs need it anyway

        return SECTIONS

    # -- one run

    def run_collection(self) -> None:
        """One whole run: `prepare_state()`, `prepare_sink()`, `run()`, then the hook.

        The hook is `after_completed_publishing()`.
        """
        self.prepare_state()
        self.prepare_sink()
        self.run()
        self.after_completed_publishing()

    def prepare_state(self) -> None:
        """Before anything is fetched: take the state's lock and check it can be saved.

        Nothing here; `StatefulCollectorMixin` does both.
        """

    def prepare_sink(self) -> None:
        """Before anything is fetched: check where the messages will go.

        Nothing here; `QueuedBase` makes its sink and checks its settings.
        """

    def run(self) -> None:
        """Do the collecting; raise on failure."""
        raise NotImplementedError(f"{type(self).__qualname__} must define run()")

    def after_completed_publishing(self) -> None:
        """Called after `run()` returned normally; nothing by default."""

    def wait_for_confirms(self) -> None:
        """Block until everything published so far is confirmed; nothing to wait for here."""

    @property
    def state_location(self) -> str | None:
        """Where the collector keeps its state (`None`: it keeps none)."""
        return None

    def close(self) -> None:
        """Release what the collector holds (a stateful collector's lock, for one)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class QueuedBase(AbstractBaseCollector):
    """Owns the sink: `run()` publishes through it and returns when all is confirmed.

    Args:
        sink: use this sink instead of the one the config asks for (tests, docs).

    Attributes:
        output_queue: the exchange(s) to declare and publish to by default:
            `{"exchange": "raw", "exchange_type": "topic"}`, or a list of such dicts
            (the first is the default for `publish_output`).
    """

    output_queue: ClassVar[Mapping[str, str] | list[Mapping[str, str]]] = {
        "exchange": "raw",
        "exchange_type": "topic",
    }

    def __init__(self, *, sink: Sink | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sink_override = sink
        self._sink: Sink | None = None
        self._prepared_sink: Sink | None = None
        self._exchanges = Exchange.from_output_queue(self.output_queue)
        self._inner_stop_requested = False
        self._stop_requested = False
        self._body_bytes = _BodyBytes()

    @classmethod
    def library_sections(cls) -> tuple[str, ...]:
        """The sinks' sections (`[rabbitmq]`, `[outbox]`), and the base class's."""
        return (*SINK_SECTIONS, *super().library_sections())

    def make_sink(self) -> Sink:
        """The sink for this run: the `sink` argument, or `sink_from_config`."""
        if self._sink_override is not None:
            return self._sink_override
        return sink_from_config(self.config_source)

    def prepare_sink(self) -> None:
        """Make this run's sink and check its settings (`Sink.check()`), before any fetch.

        A wrong `[rabbitmq]` or `[outbox]` setting then stops the run before
        the source is asked for anything; `run()` uses this sink.
        """
        sink = self.make_sink()
        sink.check()
        self._prepared_sink = sink

    def run(self) -> None:
        """Open the sink, `start_publishing()`, wait for `inner_stop()` and all confirms.

        Returns only when every published message is confirmed. Raises
        `PublishError` (or whatever your code raised) otherwise; the sink is
        closed either way.
        """
        sink, self._prepared_sink = self._prepared_sink or self.make_sink(), None
        self._sink = sink
        self.sink_description = sink.description
        self._inner_stop_requested = False
        self._stop_requested = False
        self.published_count = 0
        try:
            sink.open(self._exchanges)
            self.start_publishing()
            if self._stop_requested:
                raise CollectorStopped("stopped before publishing was complete")
            if not self._inner_stop_requested:
                raise RuntimeError(
                    f"{type(self).__qualname__}.start_publishing() returned without calling "
                    "self.inner_stop(); call it after the last publish_output()"
                )
            sink.confirm_all()
            log.debug("%d message(s) confirmed by %s", self.published_count, sink.description)
        finally:
            self._sink = None
            sink.close()

    def start_publishing(self) -> None:
        """Publish with `publish_output()`, then call `inner_stop()`. Override this."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must define start_publishing(); publish there with "
            "self.publish_output(...) and finish with self.inner_stop()"
        )

    def publish_output(
        self,
        routing_key: str,
        body: Any,
        prop_kwargs: Mapping[str, Any] | None = None,
        exchange: str | None = None,
    ) -> None:
        """Hand one message to the sink (confirmed before `run()` returns).

        `body` may be bytes, str (sent as UTF-8) or any object with `__bytes__`.
        `prop_kwargs` are AMQP properties (`message_id`, `type`, `headers`...);
        messages are always persistent. `exchange` defaults to the first of
        `output_queue`.
        """
        if self._sink is None:
            raise RuntimeError("publish_output() can only be called while run() is running")
        if self._stop_requested:
            raise CollectorStopped("stopped while publishing")
        if self._inner_stop_requested:
            raise RuntimeError("publish_output() after inner_stop(); publish everything first")
        self._sink.publish(
            self._exchanges[0].name if exchange is None else exchange,
            routing_key,
            self._body_bytes.take(body),
            dict(prop_kwargs or {}),
        )
        self.published_count += 1

    def inner_stop(self) -> None:
        """Say that publishing is finished; `run()` then waits for the confirms and returns."""
        self._inner_stop_requested = True

    def stop(self) -> None:
        """Ask the run to end early (Ctrl+C, SIGTERM): it raises `CollectorStopped`.

        Nothing already published is taken back, and the state is not saved, so
        the next run starts from the same point (at-least-once delivery).
        """
        self._stop_requested = True

    def wait_for_confirms(self) -> None:
        """Block until everything published so far is confirmed (used by checkpoints)."""
        if self._sink is None:
            raise RuntimeError("wait_for_confirms() can only be called while run() is running")
        self._sink.confirm_all()

    def close(self) -> None:
        self._prepared_sink = None  # made and checked, never opened: nothing to release
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.close()
        super().close()


LegacyQueuedBase = QueuedBase
"""The name n6 gives the queued base; the same class."""


class BaseCollector(QueuedBase):
    """A collector of one `raw_type` that builds its messages from a source and a body.

    Subclasses set `raw_type` (and `content_type` for 'file' and 'blacklist'),
    `config_spec`, and define `get_source_channel()`, `get_output_data_body()`
    and `start_publishing()`.

    In n6 4.x's dialect a subclass sets `config_spec_pattern` instead and
    defines `get_source()`, returning the whole source (`'provider.channel'`).
    A class that mixes the two (`config_spec_pattern` with
    `get_source_channel()`, or both `get_source()` and `get_source_channel()`)
    is a `TypeError` when it is created.

    Attributes:
        raw_type: 'stream', 'file' or 'blacklist'; checked when the class is created.
        content_type: the MIME type of a 'file' or 'blacklist' body, e.g. 'text/csv'.
        source_provider: the first half of the source (`provider.channel`). When
            `None`, the `source_provider` option of the collector's section is used
            if its `config_spec` declares one, else the section name with `_`
            turned into `-` (`[my_statefull_collector]` -> `my-statefull-collector`).
        raw_format_version_tag: when set (n6 uses `'YYYYMM'`), the routing key
            is the source followed by `.` and the tag.
    """

    raw_type: ClassVar[str | None] = None
    content_type: ClassVar[str | None] = None
    source_provider: ClassVar[str | None] = None
    raw_format_version_tag: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        defines_source = cls.get_source is not BaseCollector.get_source
        defines_channel = cls.get_source_channel is not BaseCollector.get_source_channel
        if defines_source and defines_channel:
            raise TypeError(
                f"{cls.__qualname__} defines both get_source() and get_source_channel(); "
                "define get_source() returning the whole 'provider.channel' (n6 4.x), or "
                "get_source_channel() returning the channel (the provider comes from "
                "source_provider or the config section)"
            )
        if defines_channel and cls.config_spec_pattern is not None:
            raise TypeError(
                f"{cls.__qualname__} sets config_spec_pattern (n6 4.x's dialect), which has "
                "no get_source_channel(); define get_source() returning the whole source, "
                "e.g. 'my-provider.my-channel' (or use config_spec instead of the pattern)"
            )
        raw_type = cls.raw_type  # the inherited value too: a subclass may drop content_type
        if raw_type is None:
            return
        if raw_type not in RAW_TYPES:
            raise TypeError(
                f"{cls.__qualname__}.raw_type is {raw_type!r}; use one of: {', '.join(RAW_TYPES)}"
            )
        if raw_type in ("file", "blacklist") and not cls.content_type:
            raise TypeError(
                f"{cls.__qualname__} has raw_type {raw_type!r}, which needs a content_type "
                "(e.g. content_type = 'text/csv')"
            )

    def __init__(self, **kwargs: Any) -> None:
        if type(self).raw_type is None:
            raise TypeError(
                f"{type(self).__qualname__} sets no raw_type; add raw_type = 'stream' "
                f"(or one of: {', '.join(RAW_TYPES)})"
            )
        super().__init__(**kwargs)

    # -- the message template

    def get_output_components(self, **input_data: Any) -> tuple[str, Any, dict[str, Any]]:
        """`(routing_key, body, prop_kwargs)` for one message, from `input_data`."""
        processed_data = self.process_input_data(**input_data)
        source = self.get_source(**processed_data)
        self.validate_source(source)
        output_rk = self.get_output_rk(source=source, **processed_data)
        output_data_body = self.get_output_data_body(source=source, **processed_data)
        output_prop_kwargs = self.get_output_prop_kwargs(
            source=source, output_data_body=output_data_body, **processed_data
        )
        return output_rk, output_data_body, output_prop_kwargs

    def process_input_data(self, **input_data: Any) -> dict[str, Any]:
        """Prepare the keyword arguments passed to the other `get_...` methods."""
        return input_data

    def get_source(self, **processed_data: Any) -> str:
        """The source `provider.channel`, e.g. `my-statefull-collector.example-channel`.

        By default the provider (`get_source_provider()`) and the channel
        (`get_source_channel()`), each checked. In n6 4.x's dialect, override
        it and return the whole source.
        """
        if self.config_spec_pattern is not None:
            raise NotImplementedError(
                f"{type(self).__qualname__} must define get_source() and return the whole "
                "source, e.g. 'my-provider.my-channel'"
            )
        provider = self.get_source_provider()
        channel = self.get_source_channel(**processed_data)
        for part, what, where in (
            (provider, "provider", "set source_provider = '...' on the class"),
            (channel, "channel", "return such a name from get_source_channel()"),
        ):
            if not isinstance(part, str) or not _SOURCE_PART_RE.fullmatch(part):
                raise ValueError(
                    f"source {what} {part!r} of {type(self).__qualname__} is invalid; use 1-32 "
                    f"ASCII letters, digits or hyphens ({where})"
                )
        return f"{provider}.{channel}"

    def validate_source(self, source: Any) -> None:
        """Check what `get_source()` returned (its own or yours), before anything is published.

        A source is `'provider.channel'`, each part 1 to 32 ASCII letters,
        digits or hyphens: `TypeError` if it is not a `str`, `ValueError` if
        it has another shape.
        """
        name = type(self).__qualname__
        if not isinstance(source, str):
            raise TypeError(
                f"{name}.get_source() returned {source!r}, not a str; return 'provider.channel'"
            )
        provider, dot, channel = source.partition(".")
        if not (dot and _SOURCE_PART_RE.fullmatch(provider) and _SOURCE_PART_RE.fullmatch(channel)):
            raise ValueError(
                f"source {source!r} of {name} is invalid; a source is 'provider.channel', "
                "each part 1-32 ASCII letters, digits or hyphens, e.g. 'my-provider.my-channel'"
            )

    def get_source_provider(self) -> str:
        """The first half of the source (see `source_provider`)."""
        if self.source_provider is not None:
            return self.source_provider
        if "source_provider" in self.config:
            return str(self.config["source_provider"])
        return self.config.name.replace("_", "-")

    def get_source_channel(self, **processed_data: Any) -> str:
        """The second half of the source. Override this."""
        raise NotImplementedError(f"{type(self).__qualname__} must define get_source_channel()")

    def get_output_rk(self, source: str, **processed_data: Any) -> str:
        """The routing key: the source, then `.` and `raw_format_version_tag` if one is set."""
        if self.raw_format_version_tag is not None:
            return f"{source}.{self.raw_format_version_tag}"
        return source

    def get_output_data_body(self, source: str, **processed_data: Any) -> Any:
        """The message body (bytes, str or an object with `__bytes__`). Override this."""
        raise NotImplementedError(f"{type(self).__qualname__} must define get_output_data_body()")

    def get_output_prop_kwargs(
        self, source: str, output_data_body: Any, **processed_data: Any
    ) -> dict[str, Any]:
        """AMQP properties: a deterministic `message_id`, `type`, `timestamp`, `headers`."""
        created_timestamp = int(time.time())
        properties: dict[str, Any] = {
            "message_id": self.get_output_message_id(
                source=source,
                created_timestamp=created_timestamp,
                output_data_body=output_data_body,
                **processed_data,
            ),
            "type": self.raw_type,
            "timestamp": created_timestamp,
            "headers": {},
        }
        if self.content_type:
            properties["content_type"] = self.content_type
        return properties

    def get_output_message_id(
        self, *, source: str, created_timestamp: int, output_data_body: Any, **processed_data: Any
    ) -> str:
        """The message id: `message_id_for(source, body)`, the same for the same message.

        The creation time does not count (n6 hashes it in, so a message
        repeated after a crash gets another id there); consumers can
        therefore drop repeats by id.
        """
        return message_id_for(source, self._body_bytes.convert(output_data_body))


def add_collector_entry_point_functions(module: ModuleType | str) -> None:
    """Give a module a `<ClassName>_main` function for each collector class it holds (n6's way).

    Call it at the end of a collectors module, as n6 4.x's modules do:
    `add_collector_entry_point_functions(__name__)`. For every public name of
    the module (imported ones too, as in n6) that is a collector class, the
    module gets `<ClassName>_main`: that class's `cli_main`, which runs the
    collector once (`--config FILE`, `--verbose`), prints the summary line and
    returns the exit status. An entry point can then name it:
    `collector-my-feed = "my_package.feeds:MyFeedCollector_main"`.

    ```python
    import sys
    import types

    from stateful_collectors import BaseCollector, add_collector_entry_point_functions

    module = types.ModuleType("my_feeds")
    sys.modules["my_feeds"] = module


    class MyFeedCollector(BaseCollector):
        raw_type = "stream"


    module.MyFeedCollector = MyFeedCollector
    add_collector_entry_point_functions("my_feeds")
    print(module.MyFeedCollector_main == MyFeedCollector.cli_main)
    #> True
    ```
    """
    if isinstance(module, str):
        module = sys.modules.get(module) or importlib.import_module(module)
    for name in dir(module):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if isinstance(obj, type) and issubclass(obj, AbstractBaseCollector):
            main: Callable[[Sequence[str] | None], int] = obj.cli_main
            setattr(module, f"{name}_main", main)


def _defined_in(cls: type, attribute: str) -> str:
    """The class of `cls`'s MRO whose own `attribute` it uses, by name (for messages)."""
    for klass in cls.__mro__:
        if attribute in vars(klass):
            return klass.__qualname__
    return cls.__qualname__
