"""The results as an SVG bar chart, written with plain string formatting (no plotting library).

One horizontal bar per row that has a bar: this project's cost relative to its
baseline (1.0 = as fast as the baseline; lower is better; for a rate, the
inverse of the ratio), a dashed line at 1.0 and a mark at the limit the bar
sets. Green: pass; red: FAIL; grey: not judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

from benchmarks.results import Row

__all__ = ["render_svg"]

WIDTH = 800
LABEL_WIDTH = 250
PLOT_WIDTH = 400
ROW_HEIGHT = 30
TOP = 64
COLOURS = {"pass": "#2e7d32", "FAIL": "#c62828"}
GREY = "#9e9e9e"


def _x(value: float, scale_max: float) -> float:
    return LABEL_WIDTH + PLOT_WIDTH * value / scale_max


def render_svg(rows: Sequence[Row], machine: Mapping[str, str]) -> str:
    """The chart of the rows that have a bar, captioned with the machine and date."""
    charted = [row for row in rows if row.cost is not None and row.cost_limit is not None]
    scale_max = max([1.6] + [max(row.cost, row.cost_limit) * 1.1 for row in charted])  # type: ignore[type-var]
    scale_max = math.ceil(scale_max * 4) / 4
    plot_bottom = TOP + ROW_HEIGHT * len(charted)
    height = plot_bottom + 84
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" '
        'role="img" aria-labelledby="title">',
        '<title id="title">Benchmarks: this project\'s cost relative to its baseline</title>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        '<text x="16" y="24" font-size="15" font-weight="bold" fill="#212121">'
        "Cost relative to the baseline measured in the same run</text>",
        '<text x="16" y="44" fill="#616161">1.0 = the baseline; lower is better; '
        "| marks each bar's limit (for rates: time per unit of work)</text>",
    ]
    # grid and axis
    steps = int(scale_max / 0.25)
    for step in range(steps + 1):
        value = step * 0.25
        x = _x(value, scale_max)
        if step % 2 == 0:
            parts.append(
                f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{plot_bottom}" '
                'stroke="#eeeeee"/>'
            )
            parts.append(
                f'<text x="{x:.1f}" y="{plot_bottom + 16}" text-anchor="middle" '
                f'fill="#616161">{value:g}</text>'
            )
    one = _x(1.0, scale_max)
    parts.append(
        f'<line x1="{one:.1f}" y1="{TOP - 6}" x2="{one:.1f}" y2="{plot_bottom}" '
        'stroke="#424242" stroke-dasharray="4 3"/>'
    )
    for index, row in enumerate(charted):
        assert row.cost is not None and row.cost_limit is not None
        y = TOP + ROW_HEIGHT * index
        colour = COLOURS.get(row.result, GREY)
        bar_end = _x(min(row.cost, scale_max), scale_max)
        limit = _x(row.cost_limit, scale_max)
        label = escape(row.chart_label or row.what)
        verdict = row.result if row.result in COLOURS else "not judged"
        parts += [
            f'<text x="{LABEL_WIDTH - 10}" y="{y + 15}" text-anchor="end" fill="#212121">'
            f"{label}</text>",
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{bar_end - LABEL_WIDTH:.1f}" '
            f'height="{ROW_HEIGHT - 12}" fill="{colour}" fill-opacity="0.85"/>',
            f'<line x1="{limit:.1f}" y1="{y}" x2="{limit:.1f}" y2="{y + ROW_HEIGHT - 4}" '
            'stroke="#212121" stroke-width="2"/>',
            f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 12}" y="{y + 15}" fill="#212121">'
            f"{row.cost:.2f} (limit {row.cost_limit:.2f}): {escape(verdict)}</text>",
        ]
    caption = (
        f"Measured {machine.get('date', '?')} on {machine.get('CPU', '?')}, "
        f"{machine.get('cores', '?')} cores, "
        f"{machine.get('Python', '?')}, RabbitMQ {machine.get('RabbitMQ', '?')}"
    )
    parts += [
        f'<text x="16" y="{plot_bottom + 44}" fill="#616161" font-size="11">'
        f"{escape(caption)}</text>",
        f'<text x="16" y="{plot_bottom + 62}" fill="#616161" font-size="11">'
        "Rerun: uv run python -m benchmarks --write-docs</text>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
