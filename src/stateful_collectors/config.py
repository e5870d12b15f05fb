r"""Configuration: the `config_spec` mini-language and the INI files it checks.

A collector declares the options it reads in its `config_spec` class attribute:

```text
[my_collector]            # a section; the first one is the collector's own
state_dir :: path         # required option, converted by the `path` converter
url :: str
timeout = 30 :: int       # optional option with a default
proxy = :: str            # optional, empty default ('' here; None for int, path...)
tags = a, b :: list_of_str
...                       # (optional) accept undeclared options as strings
```

At start-up the values come from INI files (an explicit file, the
`STATEFUL_COLLECTORS_CONFIG` variable, or the default search path, see
`find_config_files`) or from inline text, and are checked against the spec.
A mistake produces one `ConfigError` line naming the file, section, option and
value, and what to do.

A config file is read only if it is a regular file of at most 1 MiB (a FIFO
or a device is refused without blocking). A section that the collector does
not read (its spec's sections and the library's own, which the sinks, the
stores and the runner declare: `[rabbitmq]`, `[outbox]`, `[run]`,
`[postgresql]`) is a mistake when it comes from a file named
explicitly or from inline text; in files of the search path, which may hold
other collectors' sections, only when it looks like a misspelling of a
library section (`[outbx]`) or of one of the collector's own in another case.
`[DEFAULT]` is refused (configparser would copy its options into every
section), and so is an indented section header (it would silently become part
of the value above it).

Example:
    ```python
    from stateful_collectors.config import ConfigSource, ConfigSpec

    spec = ConfigSpec.parse('''
        [feed]
        url :: str
        timeout = 30 :: int
    ''')
    source = ConfigSource.from_text('[feed]\nurl = http://localhost:8808/items.json\n')
    section = source.section(spec, 'feed')
    print(section['url'], section['timeout'])
    #> http://localhost:8808/items.json 30
    ```
"""

from __future__ import annotations

import configparser
import datetime as dt
import importlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stateful_collectors._value import Value
from stateful_collectors.errors import ConfigError, ConfigSpecError, describe_exception
from stateful_collectors.fs import read_limited_file

__all__ = [
    "CONFIG_ENV_VAR",
    "CONVERTERS",
    "MAX_CONFIG_BYTES",
    "MAX_SECONDS",
    "ConfigSection",
    "ConfigSource",
    "ConfigSpec",
    "combined_config_spec",
    "default_search_path",
    "find_config_files",
]

CONFIG_ENV_VAR = "STATEFUL_COLLECTORS_CONFIG"
"""Environment variable naming the config file(s) to read (separated by `:`)."""

MAX_CONFIG_BYTES = 1 << 20
"""The largest config file read (1 MiB); a larger one is refused as a mistake."""

MAX_SECONDS = 7 * 24 * 3600.0
"""The longest duration the `seconds` converter accepts: a week (a collector run is short)."""

_SHOWN_VALUE_CHARS = 60
"""Values longer than this are shortened when a message quotes them."""


def shown(value: str) -> str:
    """`repr(value)`, shortened when long: how messages quote a value from a file.

    ```python
    from stateful_collectors.config import shown

    print(shown("30"))
    #> '30'
    print(shown("x" * 100))
    #> 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (100 characters)
    ```
    """
    if len(value) <= _SHOWN_VALUE_CHARS:
        return repr(value)
    return f"{value[:50]!r}... ({len(value)} characters)"


# ---------------------------------------------------------------- converters


def _to_str(value: str) -> str:
    return value


def _to_int(value: str) -> int:
    digits = value.strip().replace("_", "").lstrip("+-")
    if len(digits) > 100 and digits.isdigit():
        raise ValueError("has more than 100 digits; write a smaller number")
    try:
        return int(value.replace("_", ""))
    except ValueError:
        raise ValueError("is not a whole number; write e.g. 30") from None


def _to_positive_int(value: str) -> int:
    number = _to_int(value)
    if number <= 0:
        raise ValueError("is not a whole number greater than 0; write e.g. 30")
    return number


def parse_seconds(text: str) -> float:
    """A duration in seconds: a number greater than 0, at most `MAX_SECONDS` (a week).

    The `seconds` converter, and `--deadline`'s. Raises `ValueError` whose
    message completes "the value ..." (the converters' convention).

    ```python
    from stateful_collectors.config import parse_seconds

    print(parse_seconds("90"), parse_seconds("2.5"))
    #> 90.0 2.5
    for text in ["0", "nan", "1e9", "soon"]:
        try:
            parse_seconds(text)
        except ValueError as error:
            print(f"{text}: {error}")
            #> 0: is not a number of seconds greater than 0; write e.g. 30
            #> nan: is not a number of seconds greater than 0; write e.g. 30
            #> 1e9: is more than a week (604800 s); a run should not need that long
            #> soon: is not a number of seconds greater than 0; write e.g. 30
    ```
    """
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not (seconds == seconds and seconds not in (float("inf"), float("-inf")) and seconds > 0):
        raise ValueError("is not a number of seconds greater than 0; write e.g. 30")
    if seconds > MAX_SECONDS:
        raise ValueError(
            f"is more than a week ({MAX_SECONDS:g} s); a run should not need that long"
        )
    return seconds


def _to_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("is not a number; write e.g. 2.5") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("is not a finite number; write e.g. 2.5")
    return number


_TRUE = {"1", "yes", "true", "on", "y", "t"}
_FALSE = {"0", "no", "false", "off", "n", "f"}


def _to_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("is not a yes/no value; write true or false")


def _to_path(value: str) -> Path:
    if not value.strip():
        raise ValueError("is empty; write a path such as ~/.local/state/collectors")
    return Path(value.strip()).expanduser()


def _to_list_of_str(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\n]", value) if item.strip()]


def _to_json(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise ValueError("is JSON nested too deeply to be read") from None
    except ValueError as exc:  # e.g. a number of more than 4300 digits
        raise ValueError(f"is JSON that cannot be read ({str(exc).split(':')[0]})") from None


def _to_datetime(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("is not an ISO 8601 date-time; write e.g. 2026-11-27T20:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "positive_int": _to_positive_int,
    "float": _to_float,
    "seconds": parse_seconds,
    "bool": _to_bool,
    "path": _to_path,
    "list_of_str": _to_list_of_str,
    "json": _to_json,
    "datetime": _to_datetime,
}
"""The built-in converters, by the name used after `::` in a spec.

A converter takes the option's text and returns the value, or raises
`ValueError` whose message completes the sentence "the value ...". Any other
exception a converter raises (a custom one's too) is reported the same way, as
a `ConfigError` naming the file, section and option. Naive date-times are
taken as UTC; `path` expands `~`; `float` refuses `nan` and `inf`;
`positive_int` takes a whole number greater than 0, and `seconds` a number of
seconds greater than 0, at most a week. Before any converter, a value that
holds a control character (a NUL, an escape...; a tab or a line break of a
value on several lines excepted) is refused.
"""

_CONTROL_IN_VALUE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


# ---------------------------------------------------------------- the spec


_MISSING: Any = object()
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_SECTION_RE = re.compile(r"^\[\s*([^\]\s]+)\s*\]$")
_COMMENT_RE = re.compile(r"(?:^|\s)#")  # a '#' at the start or after a blank starts a comment


class OptionSpec(Value):
    """One option of a spec: its name, converter name and default text (if any)."""

    __slots__ = ("name", "converter", "default", "required")
    name: str
    converter: str
    default: str | None
    required: bool

    def __init__(
        self, name: str, converter: str, default: str | None = None, required: bool = True
    ) -> None:
        self._set(name, converter, default, required)


class SectionSpec(Value):
    """One `[section]` of a spec."""

    __slots__ = ("name", "options", "allow_extra")
    name: str
    options: Mapping[str, OptionSpec]
    allow_extra: bool

    def __init__(
        self, name: str, options: Mapping[str, OptionSpec], allow_extra: bool = False
    ) -> None:
        self._set(name, options, allow_extra)

    @property
    def required(self) -> bool:
        """A section must be present when it declares at least one required option."""
        return any(option.required for option in self.options.values())


class ConfigSpec(Value):
    """A parsed `config_spec`: sections, their options and the converters to use."""

    __slots__ = ("sections", "converters")
    sections: Mapping[str, SectionSpec]
    converters: Mapping[str, Callable[[str], Any]]

    def __init__(
        self,
        sections: Mapping[str, SectionSpec],
        converters: Mapping[str, Callable[[str], Any]] | None = None,
    ) -> None:
        self._set(sections, dict(CONVERTERS) if converters is None else converters)

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        owner: str = "config_spec",
        converters: Mapping[str, Callable[[str], Any]] | None = None,
    ) -> ConfigSpec:
        """Parse the spec mini-language; `owner` names the spec in error messages.

        Raises:
            ConfigSpecError: the text does not follow the syntax (a bug in the collector).
        """
        all_converters = dict(CONVERTERS)
        all_converters.update(converters or {})
        sections: dict[str, SectionSpec] = {}
        current: str | None = None
        options: dict[str, OptionSpec] = {}
        allow_extra = False

        def close_section() -> None:
            if current is not None:
                sections[current] = SectionSpec(current, dict(options), allow_extra)

        for number, raw_line in enumerate(text.splitlines(), start=1):
            line = _COMMENT_RE.split(raw_line, maxsplit=1)[0].strip()
            if not line or line.startswith(";"):
                continue
            where = f"{owner} line {number}"
            header = _SECTION_RE.match(line)
            if header:
                close_section()
                current = header.group(1)
                if current in sections:
                    raise ConfigSpecError(f"{where}: section [{current}] is declared twice")
                options, allow_extra = {}, False
                continue
            if current is None:
                raise ConfigSpecError(
                    f"{where}: {line!r} comes before any [section]; start the spec with one"
                )
            if line == "...":
                allow_extra = True
                continue
            option = _parse_option_line(line, where, all_converters)
            if option.name in options:
                raise ConfigSpecError(f"{where}: option {option.name!r} is declared twice")
            options[option.name] = option
        close_section()
        if not sections:
            raise ConfigSpecError(f"{owner}: declares no [section]; add one, e.g. [my_collector]")
        return cls(sections, all_converters)

    @property
    def main_section(self) -> str:
        """The name of the first section: the collector's own."""
        return next(iter(self.sections))

    def combined_with(self, later: ConfigSpec, *, owner: str = "config_spec") -> ConfigSpec:
        r"""This spec with `later`'s sections and options added, section by section.

        An option both declare takes `later`'s default (or becomes required if
        `later` gives none) but keeps its converter: a change of converter is
        a `ConfigSpecError` naming `owner`. `...` in either keeps extra options.

        ```python
        from stateful_collectors.config import ConfigSpec

        base = ConfigSpec.parse("[feed]\nstate_dir = /x :: path\ntimeout = 30 :: int")
        later = ConfigSpec.parse("[feed]\ntimeout = 5 :: int\nurl :: str")
        options = base.combined_with(later).sections["feed"].options
        print({name: option.default for name, option in options.items()})
        #> {'state_dir': '/x', 'timeout': '5', 'url': None}
        ```
        """
        sections = dict(self.sections)
        for name, section in later.sections.items():
            earlier = sections.get(name)
            if earlier is None:
                sections[name] = section
                continue
            options = dict(earlier.options)
            for option in section.options.values():
                previous = options.get(option.name)
                if previous is not None and previous.converter != option.converter:
                    raise ConfigSpecError(
                        f"{owner}: [{name}] option {option.name!r} is declared "
                        f"'{option.converter}' but a base class declares it "
                        f"'{previous.converter}'; keep the converter (a subclass may change "
                        "only the default)"
                    )
                options[option.name] = option
            sections[name] = SectionSpec(name, options, earlier.allow_extra or section.allow_extra)
        return ConfigSpec(sections, {**self.converters, **later.converters})

    def with_main_section(self, name: str, *, owner: str = "config_spec") -> ConfigSpec:
        """The same spec with section `name` first, so that `main_section` is `name`."""
        if name not in self.sections:
            raise ConfigSpecError(
                f"{owner}: declares no section [{name}], the collector's own; "
                "add a section [{collector_class_name}]"
            )
        sections = {name: self.sections[name]}
        sections.update(self.sections)
        return ConfigSpec(sections, self.converters)


class CombinedSpecPattern(str):
    """A `config_spec_pattern` that adds to the base classes' ones (see `combined_config_spec`)."""

    __slots__ = ()


def combined_config_spec(pattern: str) -> CombinedSpecPattern:
    """Mark a `config_spec_pattern` as an addition to the base classes' patterns (n6's name).

    A collector written in n6 4.x's dialect declares its options as a
    pattern whose `{collector_class_name}` placeholder becomes the class's
    name. Wrapped in `combined_config_spec()`, the pattern adds to what the
    base classes declare, section by section and option by option (a later
    default wins; a converter cannot change). A plain string replaces the
    base classes' patterns instead, as in n6. Either way the options the
    library's own base classes add (`state_dir`, for one) are kept.

    ```python
    from stateful_collectors import BaseCollector
    from stateful_collectors.config import combined_config_spec


    class FeedBase(BaseCollector):
        config_spec_pattern = combined_config_spec('''
            [{collector_class_name}]
            timeout = 30 :: int
        ''')


    class MyFeedCollector(FeedBase):
        raw_type = "stream"
        config_spec_pattern = combined_config_spec('''
            [{collector_class_name}]
            timeout = 10 :: int
            url :: str
        ''')


    spec = MyFeedCollector.get_config_spec()
    main = spec.sections[spec.main_section]
    print(spec.main_section, {name: o.default for name, o in main.options.items()})
    #> MyFeedCollector {'timeout': '10', 'url': None}
    ```
    """
    return CombinedSpecPattern(pattern)


def pattern_chain(cls: type) -> list[tuple[type, str]]:
    """The `config_spec_pattern`s `cls` combines, base classes' first, each with its class.

    Walking the MRO from `cls`: each pattern made by `combined_config_spec()`
    adds to the next one found; a plain string ends the walk (it replaces the
    base classes' patterns), as n6 4.x combines them.
    """
    chain: list[tuple[type, str]] = []
    for klass in cls.__mro__:
        pattern = vars(klass).get("config_spec_pattern")
        if pattern is None:
            continue
        chain.append((klass, pattern))
        if not isinstance(pattern, CombinedSpecPattern):
            break
    chain.reverse()
    return chain


def combine_patterns(
    chain: Sequence[tuple[type, str]],
    format_kwargs: Mapping[str, Any],
    converters: Mapping[str, Callable[[str], Any]],
    spec: ConfigSpec | None = None,
) -> ConfigSpec | None:
    """`spec` combined with each pattern of `chain` (see `pattern_chain()`), filled in.

    A pattern that fills in to nothing adds nothing; `None` if nothing was given.
    """
    for defining, pattern in chain:
        where = f"{defining.__qualname__}.config_spec_pattern"
        text = format_spec_pattern(pattern, format_kwargs, owner=where)
        if not text.strip():
            continue
        part = ConfigSpec.parse(text, owner=where, converters=converters)
        spec = part if spec is None else spec.combined_with(part, owner=where)
    return spec


def format_spec_pattern(pattern: str, format_kwargs: Mapping[str, Any], *, owner: str) -> str:
    """Fill in a `config_spec_pattern`'s placeholders; a wrong one is a `ConfigSpecError`."""
    try:
        return pattern.format_map(format_kwargs)
    except KeyError as exc:
        known = ", ".join(f"{{{name}}}" for name in format_kwargs)
        raise ConfigSpecError(
            f"{owner}: unknown placeholder {{{exc.args[0]}}} (known: {known}); write a "
            "literal brace twice, {{ or }}"
        ) from None
    except (ValueError, IndexError) as exc:
        raise ConfigSpecError(
            f"{owner}: cannot fill in the pattern ({exc}); write a literal brace twice, "
            "{{ or }}"
        ) from None


def _parse_option_line(
    line: str, where: str, converters: Mapping[str, Callable[[str], Any]]
) -> OptionSpec:
    converter = "str"
    if "::" in line:
        line, converter = (part.strip() for part in line.rsplit("::", 1))
        if converter not in converters:
            known = ", ".join(sorted(converters))
            raise ConfigSpecError(f"{where}: unknown converter {converter!r} (known: {known})")
    default: str | None = None
    required = True
    if "=" in line:
        name, default = (part.strip() for part in line.split("=", 1))
        required = False
    else:
        name = line.strip()
    if not _NAME_RE.match(name):
        raise ConfigSpecError(
            f"{where}: {name!r} is not an option name; write 'name :: converter' "
            "or 'name = default :: converter'"
        )
    return OptionSpec(name.lower(), converter, default, required)


# ---------------------------------------------------------------- values


class ConfigSection(Mapping[str, Any]):
    """The converted options of one section: a read-only mapping.

    `origin` says where the section came from (a file path, or `<config text>`).
    """

    def __init__(self, name: str, values: Mapping[str, Any], origin: str) -> None:
        self.name = name
        self.origin = origin
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise KeyError(
                f"option {key!r} is not in [{self.name}]; declare it in the config_spec"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ConfigSection({self.name!r}, {self._values!r})"


class _RawSection(Value):
    __slots__ = ("values", "origins", "origin")
    values: Mapping[str, str]
    origins: Mapping[str, str]  # option -> where its (last) value came from
    origin: str  # where the section was found (last file that had it)

    def __init__(self, values: Mapping[str, str], origins: Mapping[str, str], origin: str) -> None:
        self._set(values, origins, origin)


def default_search_path(env: Mapping[str, str] | None = None) -> list[Path]:
    """The directories searched for `*.conf` files when nothing explicit is given.

    `/etc/stateful-collectors/`, then `$XDG_CONFIG_HOME/stateful-collectors/`
    (`~/.config/stateful-collectors/` when it is unset, empty or not an
    absolute path, as the XDG base directory rules say). Later files override
    earlier ones.
    """
    env = os.environ if env is None else env
    config_home = env.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(config_home):
        config_home = str(Path("~/.config").expanduser())
    return [Path("/etc/stateful-collectors"), Path(config_home) / "stateful-collectors"]


def find_config_files(
    config_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> list[Path]:
    """The config files to read, in order.

    An explicit `config_file` wins; then the files named by `STATEFUL_COLLECTORS_CONFIG`;
    otherwise every `*.conf` in the default search path, sorted by name.

    Raises:
        ConfigError: `config_file` is empty, or the variable is set but names no file.
    """
    env = os.environ if env is None else env
    if config_file is not None:
        if not os.fspath(config_file).strip():
            raise ConfigError("the config file's name is empty; give its path (--config FILE)")
        return [Path(config_file).expanduser()]
    if env.get(CONFIG_ENV_VAR):
        value = env[CONFIG_ENV_VAR]
        named = [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]
        if not named:
            raise ConfigError(
                f"${CONFIG_ENV_VAR} is set to {shown(value)}, which names no file; set it to "
                "the path of a config file (several separated by ':'), or unset it"
            )
        return named
    found: list[Path] = []
    for directory in default_search_path(env):
        if directory.is_dir():
            found.extend(sorted(directory.glob("*.conf")))
    return found


class ConfigSource:
    """The raw text values of every section of some INI files or of inline text.

    Read it once per run; check it against any number of specs with `section`.
    `explicit` says whether the files were named on purpose (`--config`,
    `STATEFUL_COLLECTORS_CONFIG`, inline text) rather than found on the search
    path: a section no collector spec reads is then a mistake (see
    `check_sections`).
    """

    def __init__(
        self, sections: Mapping[str, _RawSection], described_as: str, *, explicit: bool = True
    ) -> None:
        self._sections = dict(sections)
        self.described_as = described_as
        """Where the values came from, for error messages."""
        self.explicit = explicit
        """Whether the files were named on purpose (not found on the search path)."""
        self.config_file: str | None = None
        """The file named on the command line (`--config`), if one was: what a hint that
        suggests a command must name again."""

    # -- construction

    @classmethod
    def from_text(cls, text: str, *, name: str = "<config text>") -> ConfigSource:
        """Parse inline INI text (for docs and tests)."""
        return cls(_parse_ini(text, name), name)

    @classmethod
    def from_files(
        cls, paths: Iterable[str | os.PathLike[str]], *, explicit: bool = True
    ) -> ConfigSource:
        """Read INI files in order; a later file's option overrides an earlier one's.

        Each must be a regular UTF-8 text file of at most 1 MiB (`MAX_CONFIG_BYTES`);
        a byte order mark at its start (some editors write one) is skipped.
        """
        files = [Path(p) for p in paths]
        merged: dict[str, _RawSection] = {}
        for path in files:
            data = read_limited_file(path, "config file", MAX_CONFIG_BYTES, error=ConfigError)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path}: config file is not UTF-8 text (byte {exc.start}); re-save it as UTF-8"
                ) from None
            text = text.removeprefix("\ufeff")
            for name, raw in _parse_ini(text, str(path)).items():
                previous = merged.get(name)
                if previous is None:
                    merged[name] = raw
                else:
                    merged[name] = _RawSection(
                        {**previous.values, **raw.values},
                        {**previous.origins, **raw.origins},
                        raw.origin,
                    )
        described = ", ".join(str(p) for p in files) if files else "no config file"
        return cls(merged, described, explicit=explicit)

    @classmethod
    def load(
        cls,
        *,
        config_file: str | os.PathLike[str] | None = None,
        config_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ConfigSource:
        """Inline text if given, else the files `find_config_files` names."""
        if config_text is not None:
            if config_file is not None:
                raise TypeError("give config_file or config_text, not both")
            return cls.from_text(config_text)
        env = os.environ if env is None else env
        by_variable = config_file is None and bool(env.get(CONFIG_ENV_VAR))
        explicit = config_file is not None or by_variable
        try:
            source = cls.from_files(find_config_files(config_file, env), explicit=explicit)
        except ConfigError as exc:
            if not by_variable or CONFIG_ENV_VAR in str(exc):
                raise
            raise ConfigError(f"{exc} (${CONFIG_ENV_VAR} names it)") from None
        source.config_file = None if config_file is None else os.fspath(config_file)
        return source

    # -- queries

    def has_section(self, name: str) -> bool:
        """Whether any of the sources has the section `[name]`."""
        return name in self._sections

    def check_sections(
        self, spec: ConfigSpec | None, library: Sequence[str] = (), *, shared: bool = False
    ) -> None:
        """Refuse sections that neither `spec` nor the library reads, where that is a mistake.

        Known sections are the spec's and `library`, the library's own that the
        collector may meet (`AbstractBaseCollector.library_sections()`: its
        sinks', its stores' and the runner's). An unknown one is a
        `ConfigError` when the files were named explicitly (or the text was
        given inline), with a hint when its name is one or two letters away
        from a known one. In files of the search path, which may hold other
        collectors' sections, it is an error only when it looks like a
        misspelling of a library section (`[outbx]`, `[Outbox]`) or differs
        from one of the spec's only in case: a likely mistake that would
        otherwise leave the intended section unread. Names that differ only by
        numbering (`[feed]`, `[feed_1]`, `[feed-2]`) are never misspellings.
        `shared` says the files may hold other collectors' sections even when
        named explicitly (as n6's do): they are then checked as the search
        path's are.
        """
        explicit = self.explicit and not shared
        own = list(spec.sections if spec is not None else ())
        known = [*own, *library]
        for name, raw in self._sections.items():
            if name in known:
                continue
            if explicit:
                close = _closest_name(name, known)
            else:  # other collectors' sections may look like this one's: [cert_pl], [cert_at]
                close = _closest_name(name, library) or next(
                    (section for section in own if section.lower() == name.lower()), None
                )
            if close is not None:
                raise ConfigError(
                    f"{raw.origin}: unknown section [{_shown_name(name)}] (did you mean "
                    f"[{close}]?); rename it, or it is not read at all"
                )
            if explicit:
                read = [", ".join(f"[{section}]" for section in own)] if own else []
                if library:
                    read.append(f"the library's {', '.join(f'[{s}]' for s in library)}")
                reads = f"this collector reads {' and '.join(read)}" if read else "nothing reads it"
                raise ConfigError(
                    f"{raw.origin}: unknown section [{_shown_name(name)}]; {reads}: remove it "
                    "(a file of the config search path may hold other collectors' sections)"
                )

    def section(self, spec: ConfigSpec, name: str | None = None) -> ConfigSection:
        """Check section `name` (default: the spec's first) and return converted values.

        Raises:
            ConfigError: missing section or required option, unknown option, bad value.
        """
        name = spec.main_section if name is None else name
        section_spec = spec.sections[name]
        raw = self._sections.get(name)
        if raw is None:
            if section_spec.required:
                required = ", ".join(o.name for o in section_spec.options.values() if o.required)
                misspelt = [
                    other for other in self._sections if _closest_name(other, [name]) is not None
                ]
                meant = f" (is [{_shown_name(misspelt[0])}] meant to be it?)" if misspelt else ""
                raise ConfigError(
                    f"{self._where_missing()}: section [{name}] is missing{meant}; "
                    f"add it with the options: {required}"
                )
            raw = _RawSection({}, {}, self.described_as)
        values: dict[str, Any] = {}
        for option in section_spec.options.values():
            if option.name in raw.values:
                text, where = raw.values[option.name], raw.origins[option.name]
            elif option.required:
                raise ConfigError(
                    f"{raw.origin}: [{name}] option {option.name!r} is required "
                    f"({option.converter}); add a line '{option.name} = ...'"
                )
            else:
                text, where = option.default or "", "the config_spec default"
                if not text:  # `name = :: conv`: optional and unset
                    try:
                        values[option.name] = spec.converters[option.converter](text)
                    except Exception:
                        values[option.name] = None  # the converter has no "empty" value
                    continue
            _refuse_control_characters(text, where, name, option.name)
            try:
                values[option.name] = spec.converters[option.converter](text)
            except Exception as exc:
                problem = (
                    _shortened(str(exc).splitlines()[0], 120)
                    if isinstance(exc, ValueError) and str(exc).strip()
                    else f"cannot be converted by {option.converter!r} "
                    f"({_shortened(describe_exception(exc), 120)})"
                )
                problem = _with_default_as_example(problem, option, text, spec.converters)
                raise ConfigError(
                    f"{where}: [{name}] option {option.name!r} = {shown(text)}: the value {problem}"
                ) from None
        for option_name, text in raw.values.items():
            if option_name in section_spec.options:
                continue
            if section_spec.allow_extra:
                _refuse_control_characters(text, raw.origins[option_name], name, option_name)
                values[option_name] = text
                continue
            import difflib  # only this error needs it (see tests of what a run imports)

            hint = difflib.get_close_matches(option_name, list(section_spec.options), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            known = ", ".join(section_spec.options) or "none"
            raise ConfigError(
                f"{raw.origins[option_name]}: [{name}] unknown option {shown(option_name)}"
                f"{suggestion}; known options: {known}"
            )
        return ConfigSection(name, values, raw.origin)

    def _where_missing(self) -> str:
        if self.described_as == "no config file":
            places = " and ".join(f"{d}/*.conf" for d in default_search_path())
            return (
                f"no config file found (looked in {places}); "
                f"pass --config FILE or set {CONFIG_ENV_VAR}"
            )
        return self.described_as


class BackEnd(Value):
    r"""One back end a config can select: a sink, or a state store.

    The config selects it with its `section`, the environment with its
    `variable` (either is enough). `target` names its class as
    `module:Class`, imported only when it is chosen, so a broker client or a
    database driver costs only the runs that use it. `sinks.SINKS` and
    `state.stores.STORES` list them, and `choose_back_end` picks one.

    ```python
    from stateful_collectors.config import BackEnd, ConfigSource, choose_back_end

    back_ends = [
        BackEnd("rabbitmq", "STATEFUL_COLLECTORS_AMQP_URL", "my_sinks:Broker"),
        BackEnd("outbox", None, "my_sinks:Outbox"),
    ]
    plain = ConfigSource.from_text("[feed]\n")
    print(choose_back_end(back_ends, plain, env={}).target)
    #> my_sinks:Outbox
    broker = ConfigSource.from_text("[rabbitmq]\n")
    print(choose_back_end(back_ends, broker, env={}).target)
    #> my_sinks:Broker
    variable = {"STATEFUL_COLLECTORS_AMQP_URL": "amqp://broker"}
    print(choose_back_end(back_ends, plain, env=variable).target)
    #> my_sinks:Broker
    ```
    """

    __slots__ = ("section", "variable", "target")
    section: str | None
    """The config section that selects it and that it reads (`None`: it has none)."""
    variable: str | None
    """An environment variable that selects it when set and not empty (`None`: none)."""
    target: str
    """Its class, as `module:Class`."""

    def __init__(self, section: str | None, variable: str | None, target: str) -> None:
        self._set(section, variable, target)

    def selected(self, source: ConfigSource, env: Mapping[str, str]) -> bool:
        """Whether the config has its section, or the environment sets its variable."""
        if self.variable is not None and env.get(self.variable):
            return True
        return self.section is not None and source.has_section(self.section)

    def load(self) -> Any:
        """Import its module and return its class."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


def choose_back_end(
    back_ends: Sequence[BackEnd], source: ConfigSource, env: Mapping[str, str]
) -> BackEnd:
    """The first of `back_ends` that the config or the environment selects, else the last.

    The last one is the default: it needs no section and no variable.
    """
    for back_end in back_ends[:-1]:
        if back_end.selected(source, env):
            return back_end
    return back_ends[-1]


def _with_default_as_example(
    problem: str, option: OptionSpec, text: str, converters: Mapping[str, Callable[[str], Any]]
) -> str:
    """`problem` with the option's default as its example, where the converter gave one.

    A converter's example fits any option (`write e.g. 30`); the option's own
    default, when it converts, fits this one (`write e.g. 10000000 (the default)`).
    """
    example = "; write e.g. "
    if not option.default or text == option.default or example not in problem:
        return problem
    try:
        converters[option.converter](option.default)
    except Exception:
        return problem
    return f"{problem.split(example)[0]}{example}{option.default} (the default)"


def _refuse_control_characters(text: str, where: str, section: str, option: str) -> None:
    """A value with a control character (a NUL, an escape...) is a mistake: say where it is."""
    found = _CONTROL_IN_VALUE.search(text)
    if found is not None:
        raise ConfigError(
            f"{where}: [{section}] option {shown(option)} = {shown(text)}: the value holds a "
            f"control character ({found.group()!r} at character {found.start() + 1}); "
            "remove it"
        )


def _shortened(text: str, limit: int = _SHOWN_VALUE_CHARS) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _shown_name(name: str) -> str:
    return _shortened(name.encode("unicode_escape").decode("ascii"))


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of `a` and `b`, or `limit + 1` once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _closest_name(name: str, known: Iterable[str]) -> str | None:
    """The known section `name` is probably a misspelling of, if any (see `check_sections`)."""
    lowered = name.lower()
    for candidate in known:
        limit = 1 if len(candidate) <= 4 else 2
        if _edit_distance(lowered, candidate.lower(), limit) > limit:
            continue
        if _NUMBERING_RE.sub("", lowered) == _NUMBERING_RE.sub("", candidate.lower()) and (
            re.search(r"\d", lowered + candidate)
        ):
            continue  # feed, feed_1, feed-2: numbered siblings, not a misspelling
        return candidate
    return None


_NUMBERING_RE = re.compile(r"[\d_.-]")
_INDENTED_HEADER_RE = re.compile(r"^[ \t]+\[\s*[A-Za-z_][\w.-]*\s*\]\s*$")
_NO_DEFAULT_SECTION = "\x00no default section"  # configparser's [DEFAULT] becomes a plain section


def _parse_ini(text: str, name: str) -> dict[str, _RawSection]:
    for number, line in enumerate(text.split("\n"), start=1):
        if _INDENTED_HEADER_RE.match(line):
            raise ConfigError(
                f"{name}: line {number}: the section header {line.strip()!r} is indented, so it "
                "would be read as part of the value above it; start it at the beginning of "
                "the line"
            )
    parser = configparser.ConfigParser(
        interpolation=None,
        strict=True,
        comment_prefixes=("#", ";"),
        inline_comment_prefixes=None,
        default_section=_NO_DEFAULT_SECTION,
    )
    try:
        parser.read_string(text, source=name)
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(
            f"{name}: line {exc.lineno}: {shown(exc.line.strip())} comes before any "
            "[section] header"
        ) from None
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(
            f"{name}: line {exc.lineno}: section [{_shown_name(exc.section)}] appears twice; "
            "merge them"
        ) from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(
            f"{name}: line {exc.lineno}: [{_shown_name(exc.section)}] option {shown(exc.option)} "
            "appears twice; keep one"
        ) from None
    except configparser.ParsingError as exc:
        # configparser keeps repr(line) in exc.errors; quote the line from the text instead
        lineno = exc.errors[0][0] if exc.errors else 0
        lines = text.split("\n")  # configparser counts lines as StringIO splits them
        line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
        raise ConfigError(
            f"{name}: line {lineno}: cannot parse {shown(line.strip())}; write 'option = value'"
        ) from None
    except configparser.Error as exc:
        raise ConfigError(f"{name}: {_shortened(describe_exception(exc), 120)}") from None
    if parser.has_section("DEFAULT"):
        lines = text.split("\n")
        lineno = next((n for n, line in enumerate(lines, 1) if line.strip() == "[DEFAULT]"), 0)
        raise ConfigError(
            f"{name}: line {lineno}: [DEFAULT] is not supported: its options would apply to "
            "every section, the library's too; put each option in the section that reads it"
        )
    return {
        section: _RawSection(
            dict(parser.items(section, raw=True)),
            dict.fromkeys(parser.options(section), name),
            name,
        )
        for section in parser.sections()
    }
