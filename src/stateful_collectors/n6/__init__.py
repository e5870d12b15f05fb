r"""n6 4.x's collector API, for n6's collectors to run on this library with two imports changed.

An n6 4.x collector module imports from `n6datasources.collectors.base` and
`n6lib.config`; point both at this module and it runs here:

```python
from stateful_collectors.n6 import (
    BaseDownloadingTimeOrderedRowsCollector,
    combined_config_spec,
)

print(combined_config_spec("[{collector_class_name}]\nurl :: str\n").splitlines()[0])
#> [{collector_class_name}]
print(BaseDownloadingTimeOrderedRowsCollector.raw_type)
#> file
```

The classes are this library's with what n6's collectors rely on added
(n6's configuration, command-line arguments, iterative publishing, Python 2
state files, `download()` with `method`, `data` and `json`, and more); each
module says what. Everything an n6 collector does not see stays as this
library does it: publisher confirms, the deterministic message id, durable
saves and the lock. "Coming from n6" in the guide lists the differences.

* `config`: `Config`, `ConfigSection`, n6's converters, the instance's spec;
* `collectors`: `BaseCollector`, `BaseTwoPhaseCollector`, `BaseSimpleCollector`;
* `state`: `StatefulCollectorMixin` and n6's state files;
* `downloading`: `BaseDownloadingCollector` and `requests`' errors;
* `rows`: `BaseTimeOrderedRowsCollector`, `BaseDownloadingTimeOrderedRowsCollector`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AbstractBaseCollector": "stateful_collectors.collectors.base",
    "LegacyQueuedBase": "stateful_collectors.collectors.base",
    "add_collector_entry_point_functions": "stateful_collectors.collectors.base",
    "BaseCollector": "stateful_collectors.n6.collectors",
    "BaseSimpleCollector": "stateful_collectors.n6.collectors",
    "BaseTwoPhaseCollector": "stateful_collectors.n6.collectors",
    "Config": "stateful_collectors.n6.config",
    "ConfigError": "stateful_collectors.n6.config",
    "ConfigSection": "stateful_collectors.n6.config",
    "combined_config_spec": "stateful_collectors.n6.config",
    "BaseDownloadingCollector": "stateful_collectors.n6.downloading",
    "BaseDownloadingTimeOrderedRowsCollector": "stateful_collectors.n6.rows",
    "BaseTimeOrderedRowsCollector": "stateful_collectors.n6.rows",
    "StatefulCollectorMixin": "stateful_collectors.n6.state",
}

__all__ = [
    "AbstractBaseCollector",
    "BaseCollector",
    "BaseDownloadingCollector",
    "BaseDownloadingTimeOrderedRowsCollector",
    "BaseSimpleCollector",
    "BaseTimeOrderedRowsCollector",
    "BaseTwoPhaseCollector",
    "Config",
    "ConfigError",
    "ConfigSection",
    "LegacyQueuedBase",
    "StatefulCollectorMixin",
    "add_collector_entry_point_functions",
    "combined_config_spec",
]

if TYPE_CHECKING:
    from stateful_collectors.collectors.base import (
        AbstractBaseCollector,
        LegacyQueuedBase,
        add_collector_entry_point_functions,
    )
    from stateful_collectors.n6.collectors import (
        BaseCollector,
        BaseSimpleCollector,
        BaseTwoPhaseCollector,
    )
    from stateful_collectors.n6.config import (
        Config,
        ConfigError,
        ConfigSection,
        combined_config_spec,
    )
    from stateful_collectors.n6.downloading import BaseDownloadingCollector
    from stateful_collectors.n6.rows import (
        BaseDownloadingTimeOrderedRowsCollector,
        BaseTimeOrderedRowsCollector,
    )
    from stateful_collectors.n6.state import StatefulCollectorMixin


def __getattr__(name: str) -> Any:
    """Each name is loaded on first use: a collector pays only for the classes it imports."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stateful_collectors.n6' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
