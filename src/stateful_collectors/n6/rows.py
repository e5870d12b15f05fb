"""n6 4.x's time-ordered rows collectors over this library's `BaseTimeOrderedRowsCollector`.

What they add:

* `self._state`, n6's name of the rows state (`newest_row_time`,
  `newest_rows`, `rows_count`), which n6's collectors set in their own
  `obtain_input_pile()`;
* rows that share a time published in n6's order: a run's new rows oldest
  first, and rows of one time in the reverse of their order in the source
  (n6 reverses the rows before it sorts them by time);
* `_generate_count_mismatch_problems(prev_rows_count, rows_count,
  fresh_rows)`, n6's hook for the problems that `row_count_mismatch_is_fatal`
  makes fatal (a collector may yield fewer);
* `BaseDownloadingTimeOrderedRowsCollector`, which downloads the `url` option.

The state keeps a digest of each row at the newest time rather than the row
itself; a state file n6 saved (with whole rows) is taken over as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from stateful_collectors.collectors import rows as core
from stateful_collectors.config import combined_config_spec
from stateful_collectors.n6.collectors import BaseTwoPhaseCollector
from stateful_collectors.n6.downloading import BaseDownloadingCollector
from stateful_collectors.n6.state import StatefulCollectorMixin

__all__ = ["BaseDownloadingTimeOrderedRowsCollector", "BaseTimeOrderedRowsCollector"]


class BaseTimeOrderedRowsCollector(
    StatefulCollectorMixin, BaseTwoPhaseCollector, core.BaseTimeOrderedRowsCollector
):
    """n6 4.x's `BaseTimeOrderedRowsCollector`: see the module's docstring."""

    config_spec_pattern: ClassVar[str | None] = combined_config_spec(
        "[{collector_class_name}]\nrow_count_mismatch_is_fatal = no :: bool\n"
    )

    @property
    def _state(self) -> dict[str, Any] | None:
        """n6's name of the rows state."""
        return self._rows_state

    @_state.setter
    def _state(self, state: dict[str, Any] | None) -> None:
        self._rows_state = state

    def get_fresh_rows_only(self, all_rows: Iterable[Any]) -> list[Any]:
        """The new rows in n6's order: oldest first, rows of one time in reverse source order."""
        rows = list(all_rows)
        rows.reverse()  # the selection keeps the order of equal times: n6's, reversed
        return super().get_fresh_rows_only(rows)

    def _generate_count_mismatch_problems(
        self, prev_rows_count: int | None, rows_count: int, fresh_rows: list[Any]
    ) -> Iterator[str]:
        """n6's hook: the problems with this run's counts (duplicates, late or removed rows)."""
        keys = [self.extract_row_key(row) for row in fresh_rows]
        if len(keys) != len(set(keys)):
            yield "Found duplicates among the fresh rows."
        selection = self.selection
        if selection is not None:
            yield from core._count_problems(prev_rows_count, selection)

    def _selection_problems(
        self, selection: core.RowsSelection, state: Mapping[str, Any]
    ) -> list[str]:
        """n6's problems: those `_generate_count_mismatch_problems()` yields."""
        return list(
            self._generate_count_mismatch_problems(
                state["rows_count"], selection.rows_count, selection.new_rows
            )
        )


class BaseDownloadingTimeOrderedRowsCollector(
    BaseDownloadingCollector, BaseTimeOrderedRowsCollector
):
    """n6 4.x's class of that name: the rows come from the `url` option."""

    config_spec_pattern: ClassVar[str | None] = combined_config_spec(
        "[{collector_class_name}]\nurl :: str\n"
    )

    def obtain_orig_data(self) -> bytes:
        return self.download(self.config["url"])
