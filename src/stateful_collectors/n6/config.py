"""n6 4.x's configuration names: `Config`, `ConfigSection`, its converters, the spec of an instance.

An n6 collector reads its options as `n6lib.config` gives them: `self.config`
is a mutable mapping (`cert_pl.py` writes `url` into it after reading the
files), `self.config_full` maps section names to such mappings, and its spec
may use n6's converters `py`, `py_namespaces_dict` and, in a downloading
collector, `download_timeout`. The spec of an n6 collector depends on the
instance: `get_config_spec_format_kwargs()` is a method there (the MISP
collector names its section after a command-line argument), and so is
`custom_converters`.

```python
from stateful_collectors.n6.config import N6_CONVERTERS

print(N6_CONVERTERS["py_namespaces_dict"]("{'User-Agent': 'n6'}"))
#> {'User-Agent': 'n6'}
print(N6_CONVERTERS["download_timeout"]("(12.1, 25)"))
#> 37.1
```
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from stateful_collectors.config import (
    CONVERTERS,
    ConfigSource,
    ConfigSpec,
    combine_patterns,
    combined_config_spec,
    pattern_chain,
)
from stateful_collectors.config import (
    ConfigSection as _ReadOnlySection,
)
from stateful_collectors.errors import ConfigError, ConfigSpecError

__all__ = [
    "N6_CONVERTERS",
    "Config",
    "ConfigError",
    "ConfigSection",
    "combined_config_spec",
    "n6_config_spec",
    "read_n6_config",
]


def _py(text: str) -> Any:
    """A Python literal (`ast.literal_eval`), n6's `py` converter."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("is not a Python literal; write e.g. {'a': 1} or (1, 2)") from None


def _py_namespaces_dict(text: str) -> dict[str, Any]:
    """A Python dict literal whose keys (in nested dicts too) are strings."""
    value = _py(text)
    if not isinstance(value, dict):
        raise ValueError("is not a Python dict literal; write e.g. {'User-Agent': 'n6'}")
    pending: list[dict[Any, Any]] = [value]
    while pending:
        for key, item in pending.pop().items():
            if not isinstance(key, str):
                raise ValueError(f"has the key {key!r}, which is not a string; quote it")
            if isinstance(item, dict):
                pending.append(item)
    return value


def _download_timeout(text: str) -> float:
    """n6's `download_timeout`: seconds, or a `(connect, read)` pair; here their sum.

    This library bounds the whole download by one number (see
    `stateful_collectors.http.fetch`), so a pair becomes `connect + read`.
    """
    value = _py(text)
    parts = list(value) if isinstance(value, (tuple, list)) else [value]
    if (
        len(parts) not in (1, 2)
        or not all(isinstance(part, int | float) and not isinstance(part, bool) for part in parts)
        or not all(part > 0 for part in parts)
    ):
        raise ValueError(
            "is not a number of seconds greater than 0 or a (connect, read) pair of them; "
            "write e.g. 30 or (12.1, 25)"
        )
    return float(round(sum(parts), 6))


N6_CONVERTERS: dict[str, Callable[[str], Any]] = {
    **CONVERTERS,
    "py": _py,
    "py_namespaces_dict": _py_namespaces_dict,
    "download_timeout": _download_timeout,
}
"""This library's converters and those of n6's that n6 collectors name."""


class ConfigSection(_ReadOnlySection, MutableMapping[str, Any]):
    """One section's options, as n6's `ConfigSection`: a mapping a collector may change.

    ```python
    from stateful_collectors.n6.config import ConfigSection

    section = ConfigSection("MyCollector", {"url": "http://a/"}, "my.conf")
    section["url"] = "http://b/"
    print(section.sect_name, section["url"])
    #> MyCollector http://b/
    ```
    """

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    @property
    def sect_name(self) -> str:
        """The section's name (n6's attribute)."""
        return self.name

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)


class Config(dict[str, ConfigSection]):
    """The sections of a collector's spec, by name: n6's `config_full`."""


def n6_config_spec(
    cls: type,
    format_kwargs: Mapping[str, Any],
    converters: Mapping[str, Callable[[str], Any]],
    main_section: str,
) -> ConfigSpec:
    """The spec of `cls`'s patterns, filled in with `format_kwargs`, `main_section` first."""
    spec = combine_patterns(pattern_chain(cls), format_kwargs, converters)
    owner = f"{cls.__qualname__}.config_spec_pattern"
    if spec is None:
        raise ConfigSpecError(f"{owner}: declares no section; add [{{collector_class_name}}]")
    if main_section in spec.sections:
        spec = spec.with_main_section(main_section, owner=owner)
    return spec


def read_n6_config(source: ConfigSource, spec: ConfigSpec, library: Sequence[str]) -> Config:
    """Every section of `spec`, checked and converted, as n6's `Config` of `ConfigSection`s.

    Other sections may share the files, as in n6 (the MISP collector's
    configurations are sections of one file): only a likely misspelling of
    the library's sections (`[outbx]`) or of the collector's own is refused.
    """
    config = Config()
    for name in spec.sections:
        section = source.section(spec, name)
        config[name] = ConfigSection(section.name, dict(section.items()), section.origin)
    source.check_sections(spec, library, shared=True)
    return config


def missing_placeholders(pattern_owner: type, format_kwargs: Sequence[str]) -> bool:
    """Whether `pattern_owner`'s patterns need placeholders beyond `format_kwargs`."""
    probe = {name: "x" for name in format_kwargs}
    try:
        for _, pattern in pattern_chain(pattern_owner):
            pattern.format_map(probe)
    except (KeyError, IndexError, ValueError):
        return True
    return False
