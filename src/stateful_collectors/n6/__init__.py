"""n6 4.x's collector API, for n6's collectors to run on this library with two imports changed.

An n6 4.x collector module imports from `n6datasources.collectors.base` and
`n6lib.config`; point both at this module and it runs here:

```python
from stateful_collectors.n6 import BaseDownloadingTimeOrderedRowsCollector, combined_config_spec
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

from stateful_collectors.collectors.base import AbstractBaseCollector, QueuedBase
from stateful_collectors.loading import add_collector_entry_point_functions
from stateful_collectors.n6.collectors import (
    BaseCollector,
    BaseSimpleCollector,
    BaseTwoPhaseCollector,
)
from stateful_collectors.n6.config import Config, ConfigError, ConfigSection, combined_config_spec
from stateful_collectors.n6.downloading import BaseDownloadingCollector
from stateful_collectors.n6.rows import (
    BaseDownloadingTimeOrderedRowsCollector,
    BaseTimeOrderedRowsCollector,
)
from stateful_collectors.n6.state import StatefulCollectorMixin

LegacyQueuedBase = QueuedBase
"""n6's name of the queued base class."""

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
