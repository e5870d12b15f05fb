"""stateful-collectors: short-lived collectors that remember what they already fetched.

The public names are importable from here; each is loaded on first use, so
`import stateful_collectors` costs a cron-started process almost nothing.

```python
from stateful_collectors import BaseCollector, StatefulCollectorMixin

print(StatefulCollectorMixin.make_default_state(None), BaseCollector.raw_type)
#> None None
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "AbstractBaseCollector": "stateful_collectors.collectors.base",
    "QueuedBase": "stateful_collectors.collectors.base",
    "LegacyQueuedBase": "stateful_collectors.collectors.base",
    "BaseCollector": "stateful_collectors.collectors.base",
    "BaseTwoPhaseCollector": "stateful_collectors.collectors.simple",
    "BaseSimpleCollector": "stateful_collectors.collectors.simple",
    "BaseDownloadingCollector": "stateful_collectors.collectors.downloading",
    "add_collector_entry_point_functions": "stateful_collectors.collectors.base",
    "combined_config_spec": "stateful_collectors.config",
    "CollectorStopped": "stateful_collectors.errors",
    "StatefulCollectorMixin": "stateful_collectors.state.mixin",
    "StateFile": "stateful_collectors.state.stores.files",
    "BaseTimeOrderedRowsCollector": "stateful_collectors.collectors.rows",
    "ConfigSpec": "stateful_collectors.config",
    "ConfigSource": "stateful_collectors.config",
    "CollectorError": "stateful_collectors.errors",
    "ConfigError": "stateful_collectors.errors",
    "StateFileError": "stateful_collectors.errors",
    "AlreadyRunningError": "stateful_collectors.errors",
    "PublishError": "stateful_collectors.errors",
    "ExitStatus": "stateful_collectors.errors",
}

__all__ = [
    "AbstractBaseCollector",
    "AlreadyRunningError",
    "BaseCollector",
    "BaseDownloadingCollector",
    "BaseSimpleCollector",
    "BaseTimeOrderedRowsCollector",
    "BaseTwoPhaseCollector",
    "CollectorError",
    "CollectorStopped",
    "ConfigError",
    "ConfigSource",
    "ConfigSpec",
    "ExitStatus",
    "LegacyQueuedBase",
    "PublishError",
    "QueuedBase",
    "StateFile",
    "StateFileError",
    "StatefulCollectorMixin",
    "add_collector_entry_point_functions",
    "combined_config_spec",
]

if TYPE_CHECKING:
    from stateful_collectors.collectors.base import (
        AbstractBaseCollector,
        BaseCollector,
        LegacyQueuedBase,
        QueuedBase,
        add_collector_entry_point_functions,
    )
    from stateful_collectors.collectors.downloading import BaseDownloadingCollector
    from stateful_collectors.collectors.rows import BaseTimeOrderedRowsCollector
    from stateful_collectors.collectors.simple import BaseSimpleCollector, BaseTwoPhaseCollector
    from stateful_collectors.config import ConfigSource, ConfigSpec, combined_config_spec
    from stateful_collectors.errors import (
        AlreadyRunningError,
        CollectorError,
        CollectorStopped,
        ConfigError,
        ExitStatus,
        PublishError,
        StateFileError,
    )
    from stateful_collectors.state.mixin import StatefulCollectorMixin
    from stateful_collectors.state.stores.files import StateFile


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stateful_collectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
