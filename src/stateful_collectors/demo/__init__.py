"""The local feed the guide's collectors fetch from: `stateful-collectors demo-feed`.

* `feed`: `DemoFeed`, a small HTTP feed of timestamped items;
* `cookbook`: the feed's Cookbook sources, one per recipe, and the control API
  that changes them.

Only the guide and its examples use it; the library never imports it.

```python
from stateful_collectors.demo import DemoFeed

feed = DemoFeed(history=3, start="2026-11-27T20:00:00Z")
print(len(feed), feed.items()[-1]["time"])
#> 3 2026-11-27T20:02:00Z
```
"""

from stateful_collectors.demo.feed import DemoFeed

__all__ = ["DemoFeed"]
