"""One row of the results table, how rows are judged, and how figures are written.

A row compares *this project* with a *baseline* measured in the same run. A
row with a bar is judged (pass or FAIL); a context row only informs. In a
`--quick` run nothing is judged: the rounds are too few.
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "COLUMNS",
    "Row",
    "format_bytes",
    "format_rate",
    "format_seconds",
    "at_least",
    "at_most",
    "judged",
]

COLUMNS = ("what", "this project", "baseline", "ratio", "bar", "result")
"""The columns of the table, in order."""

NOT_JUDGED = "not judged (--quick)"


@dataclasses.dataclass
class Row:
    """One line of the table.

    `cost` and `cost_limit` place the row on the chart: this project's cost
    relative to the baseline's (1.0 = the same; lower is better; for a rate,
    the inverse ratio), and where the bar puts the limit. Rows without a bar
    leave them `None` and stay off the chart.
    """

    what: str
    subject: str
    baseline: str
    ratio: str = ""
    bar: str = ""
    result: str = "context"
    cost: float | None = None
    cost_limit: float | None = None
    chart_label: str = ""

    @property
    def failed(self) -> bool:
        """Whether the row missed its bar or could not be measured."""
        return self.result == "FAIL" or self.result.startswith("error")

    def cells(self) -> tuple[str, ...]:
        """The row's text, column by column (see `COLUMNS`)."""
        return (self.what, self.subject, self.baseline, self.ratio, self.bar, self.result)


def judged(
    what: str,
    subject: str,
    baseline: str,
    *,
    ratio: str,
    bar: str,
    passed: bool,
    quick: bool,
    cost: float,
    cost_limit: float,
    chart_label: str,
) -> Row:
    """A row with a bar: `pass` or `FAIL`, or not judged in a quick run."""
    result = NOT_JUDGED if quick else ("pass" if passed else "FAIL")
    return Row(what, subject, baseline, ratio, bar, result, cost, cost_limit, chart_label)


def at_most(
    what: str,
    subject: str,
    baseline: str,
    *,
    ratio: float,
    bar: float,
    quick: bool,
    chart_label: str,
) -> Row:
    """A row judged `ratio <= bar`: a time, where lower is better."""
    return _ratio_row(
        what, subject, baseline, ratio, bar, quick, chart_label, higher_is_better=False
    )


def at_least(
    what: str,
    subject: str,
    baseline: str,
    *,
    ratio: float,
    bar: float,
    quick: bool,
    chart_label: str,
) -> Row:
    """A row judged `ratio >= bar`: a throughput, where higher is better (charted as 1/ratio)."""
    return _ratio_row(
        what, subject, baseline, ratio, bar, quick, chart_label, higher_is_better=True
    )


def _ratio_row(
    what: str,
    subject: str,
    baseline: str,
    ratio: float,
    bar: float,
    quick: bool,
    chart_label: str,
    *,
    higher_is_better: bool,
) -> Row:
    # The chart draws costs (lower is better), so a throughput ratio is drawn inverted.
    return judged(
        what,
        subject,
        baseline,
        ratio=f"{ratio:.2f}x",
        bar=f"{'>=' if higher_is_better else '<='} {bar:.2f}x",
        passed=ratio >= bar if higher_is_better else ratio <= bar,
        quick=quick,
        cost=1 / ratio if higher_is_better else ratio,
        cost_limit=1 / bar if higher_is_better else bar,
        chart_label=chart_label,
    )


def error_row(what: str, error: BaseException) -> Row:
    """A benchmark that could not run: the table says why, and the run fails."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if len(message) > 160:
        message = message[:157] + "..."
    return Row(what, "-", "-", "", "", f"error: {message}")


def format_seconds(seconds: float) -> str:
    """`312 µs`, `4.52 ms`, `1.23 s`: three significant digits."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            digits = 0 if value >= 100 else 1 if value >= 10 else 2
            return f"{value:.{digits}f} {unit}"
    raise AssertionError("unreachable")


def format_rate(value: float, unit: str) -> str:
    """`9,120 msg/s`, `412 MiB/s`."""
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


def format_bytes(size: int) -> str:
    """`1,024 B`: exact, for sizes that must match."""
    return f"{size:,} B"
