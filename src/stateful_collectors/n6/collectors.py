"""n6 4.x's collector base classes over this library's: `BaseCollector` and the two-phase ones.

What each adds to the class of the same name in `stateful_collectors`:

* the configuration as n6 builds it (`set_configuration()`, an instance
  method `get_config_spec_format_kwargs()`, `get_config_from_config_full()`,
  `custom_converters`, a writable `config`; see `stateful_collectors.n6.config`);
* the collector's own command-line arguments: `get_arg_parser()` and
  `cmdline_args`, set before `__init__` runs, as n6 sets them;
* n6's message properties: `content_type` only on `file` and `blacklist`
  messages, `raw_type` and `content_type` checked on the instance too;
* `heartbeat_interval` from the collector's section, for the RabbitMQ connection;
* iterative publishing: `start_iterative_publishing()`, `publish_iteratively()`
  (a generator, or a coroutine awaiting `PubIter` and `PubIterFlushOut`);
  `FLUSH_OUT` waits until the broker confirmed everything published so far;
* the class attributes n6 4.x no longer supports, refused when a class is created.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from typing import Any, ClassVar, NoReturn

from stateful_collectors.collectors import base as core
from stateful_collectors.collectors import simple
from stateful_collectors.config import ConfigSpec, combined_config_spec
from stateful_collectors.errors import UsageError
from stateful_collectors.n6.config import (
    N6_CONVERTERS,
    Config,
    ConfigSection,
    missing_placeholders,
    n6_config_spec,
    read_n6_config,
)
from stateful_collectors.sinks.base import Sink

__all__ = [
    "FLUSH_OUT",
    "BaseCollector",
    "BaseSimpleCollector",
    "BaseTwoPhaseCollector",
    "refuse_unsupported_attributes",
]

log = logging.getLogger(__name__)

FLUSH_OUT = "FLUSH_OUT"
"""What `publish_iteratively()` yields to wait until all it published is confirmed."""


class _Marker:
    """An awaitable that yields one marker to the iterative publishing loop."""

    __slots__ = ("_marker",)

    def __init__(self, marker: str | None) -> None:
        self._marker = marker

    def __await__(self) -> Generator[str | None, None, None]:
        yield self._marker


def refuse_unsupported_attributes(cls: type, names: frozenset[str], instead: str) -> None:
    """`TypeError` if a class of `cls`'s MRO outside this library sets one of `names`."""
    found = sorted(
        name
        for name in names
        for klass in cls.__mro__
        if not klass.__module__.startswith("stateful_collectors.")
        and vars(klass).get(name) is not None
    )
    if found:
        listed = ", ".join(repr(name) for name in sorted(set(found)))
        raise TypeError(
            f"unsupported attributes of the {cls.__qualname__} class set to non-None values: "
            f"{listed} (n6 4.x refuses them too); {instead}"
        )


class _ArgumentParser(argparse.ArgumentParser):
    """`get_arg_parser()`'s parser: a mistake is one line, exit status 2 (`UsageError`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from stateful_collectors.runtime.runner import HelpFormatter  # a run imports it anyway

        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


class BaseCollector(core.BaseCollector):
    """n6 4.x's `BaseCollector`: see the module's docstring for what it adds."""

    config_spec_pattern: ClassVar[str | None] = combined_config_spec("[{collector_class_name}]\n")
    unsupported_class_attributes: ClassVar[frozenset[str]] = frozenset(
        {"config_spec", "source_config_section", "type", "run_handling", "get_source_channel"}
    )

    FLUSH_OUT: ClassVar[str] = FLUSH_OUT
    PubIter: ClassVar[_Marker] = _Marker(None)
    PubIterFlushOut: ClassVar[_Marker] = _Marker(FLUSH_OUT)

    cmdline_args: argparse.Namespace
    config: ConfigSection
    config_full: Config  # type: ignore[assignment]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_unsupported_attributes(
            cls,
            BaseCollector.unsupported_class_attributes,
            "use config_spec_pattern, get_source(), raw_type and run_collection() instead",
        )

    def __new__(
        cls, /, *args: Any, cmdline_args: argparse.Namespace | None = None, **kwargs: Any
    ) -> Any:
        self = super().__new__(cls)
        # Set before __init__, as n6 sets it: a collector's __init__ may read it first thing.
        self.cmdline_args = cmdline_args if cmdline_args is not None else cls._parse_arguments(())
        return self

    def __init__(self, /, *, cmdline_args: argparse.Namespace | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    # -- the command line

    @classmethod
    def get_arg_parser(cls) -> argparse.ArgumentParser:
        """The parser of the collector's own arguments; extend it with `super()`."""
        return _ArgumentParser(prog=cls.__name__, add_help=False)

    @classmethod
    def _parse_arguments(cls, arguments: Sequence[str]) -> argparse.Namespace:
        return cls.get_arg_parser().parse_args(list(arguments))

    @classmethod
    def get_script_init_kwargs(cls) -> dict[str, Any]:
        """More keyword arguments for the collector run as a command (n6's hook); none here."""
        return {}

    @classmethod
    def init_kwargs_from_command_line(cls, arguments: Sequence[str]) -> dict[str, Any]:
        """`get_script_init_kwargs()`, and `cmdline_args` parsed by `get_arg_parser()`."""
        return {**cls.get_script_init_kwargs(), "cmdline_args": cls._parse_arguments(arguments)}

    # -- the configuration

    @property
    def custom_converters(self) -> dict[str, Callable[[str], Any]]:
        """Converters added to n6's for this collector's spec; extend it with `super()`."""
        return {}

    def get_config_spec_format_kwargs(self) -> dict[str, Any]:  # type: ignore[override]
        """What fills in `config_spec_pattern` (an instance method, as in n6)."""
        return {"collector_class_name": type(self).__name__}

    def get_config_from_config_full(
        self, *, config_full: Config, collector_class_name: str
    ) -> ConfigSection:
        """The collector's own section of `config_full`: by default, the class-named one."""
        return config_full[collector_class_name]

    def set_configuration(self) -> None:
        """Read `config_full` and `config` as n6 does (the instance's spec and converters)."""
        format_kwargs = self.get_config_spec_format_kwargs()
        name = format_kwargs["collector_class_name"]
        converters = {**N6_CONVERTERS, **type(self).config_converters, **self.custom_converters}
        spec = n6_config_spec(type(self), format_kwargs, converters, name)
        self.config_full = read_n6_config(self.config_source, spec, type(self).library_sections())
        self.config = self.get_config_from_config_full(
            config_full=self.config_full, collector_class_name=name
        )

    @classmethod
    def get_config_spec(cls) -> ConfigSpec | None:
        """The spec for the class's own name; `None` if its pattern needs an instance's data."""
        format_kwargs = {"collector_class_name": cls.__name__}
        if missing_placeholders(cls, list(format_kwargs)):
            return None
        return n6_config_spec(
            cls, format_kwargs, {**N6_CONVERTERS, **cls.config_converters}, cls.__name__
        )

    # -- the connection and the message

    def make_sink(self) -> Sink:
        """The base class's sink, with `heartbeat_interval` (seconds) when the section has it."""
        sink = super().make_sink()
        heartbeat = self.config.get("heartbeat_interval")
        if heartbeat is not None and "stateful_collectors.sinks.amqp" in sys.modules:
            from stateful_collectors.sinks.amqp import AmqpSink  # loaded: the sink may be one

            if isinstance(sink, AmqpSink):
                sink.parameters.heartbeat = heartbeat
        return sink

    def get_output_prop_kwargs(
        self, source: str, output_data_body: Any, **processed_data: Any
    ) -> dict[str, Any]:
        """The base class's properties; `content_type` only for a `file` or `blacklist`."""
        raw_type, content_type = self.raw_type, self.content_type  # the instance's, as in n6
        if raw_type not in core.RAW_TYPES:
            raise ValueError(
                f"{type(self).__qualname__}.raw_type is {raw_type!r}; use one of: "
                f"{', '.join(core.RAW_TYPES)}"
            )
        if raw_type in ("file", "blacklist") and not content_type:
            raise ValueError(
                f"{type(self).__qualname__} has raw_type {raw_type!r} but no content_type"
            )
        properties = super().get_output_prop_kwargs(
            source=source, output_data_body=output_data_body, **processed_data
        )
        if raw_type in ("file", "blacklist"):
            properties["content_type"] = content_type
        else:
            properties.pop("content_type", None)
        return properties

    @property
    def _declared_output_exchanges(self) -> frozenset[str]:
        """The names of the exchanges declared for this run (empty outside `run()`)."""
        if self._sink is None:
            return frozenset()
        return frozenset(exchange.name for exchange in self._exchanges)

    # -- publishing

    def start_publishing(self) -> None:
        """Nothing, as n6's placeholder: override it (or call `start_iterative_publishing()`)."""

    def publish_iteratively(self) -> Any:
        """A generator (or a coroutine) that publishes; override it. See the module's docstring."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must define publish_iteratively() to use "
            "start_iterative_publishing()"
        )

    def start_iterative_publishing(self) -> None:
        """Run `publish_iteratively()` to its end, then `inner_stop()`.

        Each `yield` (or `await self.PubIter`) is a point where n6 lets its
        connection breathe; here a thread serves the connection all along,
        so it needs nothing. `yield self.FLUSH_OUT` (`await
        self.PubIterFlushOut`) returns once the broker has confirmed every
        message published so far: saving the state after it is safe.
        """
        publishing = self.publish_iteratively()
        steps: Iterator[Any] = (
            publishing.__await__() if isinstance(publishing, Awaitable) else publishing
        )
        try:
            for marker in steps:
                if marker == FLUSH_OUT:
                    self.wait_for_confirms()
                elif marker is not None:
                    raise ValueError(
                        f"publish_iteratively() of {type(self).__qualname__} yielded {marker!r}; "
                        f"yield None or self.FLUSH_OUT"
                    )
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()
        self.inner_stop()


class BaseTwoPhaseCollector(BaseCollector, simple.BaseTwoPhaseCollector):
    """n6 4.x's `BaseTwoPhaseCollector`: the messages are published iteratively."""

    def start_publishing(self) -> None:
        self.start_iterative_publishing()

    def publish_iteratively(self) -> Iterator[None]:
        """One message per dict of `generate_input_data_dicts()`, a `yield` after each."""
        published = False
        for input_data in self.generate_input_data_dicts(self._input_pile):
            self.publish_output(*self.get_output_components(**input_data))
            published = True
            yield
        if not published:
            log.warning(
                "%s: generate_input_data_dicts() yielded nothing; no message published",
                type(self).__qualname__,
            )


class BaseSimpleCollector(BaseTwoPhaseCollector, simple.BaseSimpleCollector):
    """n6 4.x's `BaseSimpleCollector`: one message, the body `obtain_data_body()` returns."""
