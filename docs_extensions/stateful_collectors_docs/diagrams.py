"""```diagram blocks become SVG figures, drawn when the site is built.

A page describes a diagram in a fenced block of the language `diagram`, in
YAML: a grid of boxes, with optional column headings, row labels, boxes that
span rows or columns, a tone per box and arrows between boxes. `fence` is a
pymdownx.superfences custom fence, named in mkdocs.yml:

    - pymdownx.superfences:
        custom_fences:
          - name: diagram
            class: sc-diagram
            format: !!python/name:stateful_collectors_docs.diagrams.fence

so MkDocs and Zensical both draw it. The block is replaced by an inline
`<svg>` inside a `<figure>`, with the caption below it. No script and no
request: the figure is part of the page's HTML.

The SVG sets no colour of its own. Each box carries a tone class
(`sc-tone-step`, `sc-tone-old`...) and docs/stylesheets/diagrams.css gives
the tones their colours, for Material's light scheme and for its dark one
(`slate`), so one figure follows the reader's palette toggle.

How to write one: docs/about/writing-pages.md, "Diagrams".
"""

from __future__ import annotations

import html
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import yaml
from pymdownx.superfences import SuperFencesException

TONES = ("plain", "step", "old", "new", "good", "bad", "warn", "muted")
"""The tones a box can have; their colours are in docs/stylesheets/diagrams.css."""
KEYS = {"caption", "columns", "rows", "labels", "widths", "width", "flow_down", "flow_right"}
CELL_KEYS = {"text", "tone", "span", "rowspan"}

FONT_SIZE = 13
CHAR_WIDTH = 0.56 * FONT_SIZE
"""A generous average width of one character, so that wrapped lines fit their box."""
LINE_HEIGHT = 17
PAD_X, PAD_Y = 9, 7
GAP_X, GAP_Y = 26, 20
"""Space between boxes: room for an arrow."""
HEADING_HEIGHT = 26
DEFAULT_WIDTH = 720
"""The drawing's width in CSS pixels: it fits the page's text column at 1280 px."""

_counter = itertools.count(1)


class DiagramError(SuperFencesException):
    """A ```diagram block that cannot be drawn; the build stops with this message."""


@dataclass
class Cell:
    text: str
    tone: str
    row: int
    col: int
    span: int = 1
    rowspan: int = 1
    lines: list[list[list[tuple[str, bool]]]] = field(default_factory=list)


def fence(src: str, language: str, class_name: str, options: Any, md: Any, **kwargs: Any) -> str:
    """The superfences formatter: YAML in, `<figure>` with an inline SVG out."""
    try:
        spec = yaml.safe_load(src)
    except yaml.YAMLError as exc:
        raise DiagramError(f"a ```diagram block is not valid YAML: {exc}") from None
    return render(spec)


def render(spec: Any) -> str:
    """Draw a diagram description (see the module docstring) as HTML."""
    if not isinstance(spec, dict) or "rows" not in spec:
        raise DiagramError("a ```diagram block needs a mapping with 'rows' (a list of rows)")
    unknown = set(spec) - KEYS
    if unknown:
        raise DiagramError(
            f"a ```diagram block has unknown keys {sorted(unknown)}; known: {sorted(KEYS)}"
        )
    caption = str(spec.get("caption", "")).strip()
    if not caption:
        raise DiagramError(
            "a ```diagram block needs a 'caption' (it is also the figure's text alternative)"
        )
    headings = [str(h) for h in spec.get("columns") or []]
    labels = [str(label) for label in spec.get("labels") or []]
    cells, n_rows, n_cols = _place(spec["rows"])
    if headings and len(headings) != n_cols:
        raise DiagramError(f"'columns' names {len(headings)} columns, the rows have {n_cols}")
    if labels and len(labels) != n_rows:
        raise DiagramError(f"'labels' names {len(labels)} rows, there are {n_rows}")

    total = int(spec.get("width", DEFAULT_WIDTH))
    label_width = (max(len(label) for label in labels) * CHAR_WIDTH * 0.75 + 14) if labels else 0
    label_width = min(label_width, total * 0.22)
    weights = spec.get("widths") or [1] * n_cols
    if len(weights) != n_cols:
        raise DiagramError(f"'widths' has {len(weights)} entries, the rows have {n_cols} columns")
    usable = total - label_width - GAP_X * (n_cols - 1)
    col_widths = [usable * w / sum(weights) for w in weights]
    col_x = [label_width + sum(col_widths[:i]) + GAP_X * i for i in range(n_cols)]

    for cell in cells:
        width = sum(col_widths[cell.col : cell.col + cell.span]) + GAP_X * (cell.span - 1)
        cell.lines = _wrap(cell.text, width - 2 * PAD_X)
    row_heights = _row_heights(cells, n_rows)
    top = HEADING_HEIGHT if headings else 0
    row_y = [top + sum(row_heights[:i]) + GAP_Y * i for i in range(n_rows)]
    height = math.ceil(row_y[-1] + row_heights[-1] + 2)

    number = next(_counter)
    title_id = f"sc-diagram-{number}"
    parts = [
        f'<svg class="sc-diagram__svg" viewBox="0 0 {total} {height}" width="{total}" '
        f'height="{height}" role="img" aria-labelledby="{title_id}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{title_id}">{html.escape(caption)}</title>',
    ]
    for index, heading in enumerate(headings):
        x = col_x[index] + col_widths[index] / 2
        parts.append(
            f'<text class="sc-heading" x="{x:.1f}" y="{FONT_SIZE + 4}" '
            f'text-anchor="middle">{html.escape(heading)}</text>'
        )
    for index, label in enumerate(labels):
        y = row_y[index] + row_heights[index] / 2 + FONT_SIZE / 3
        for offset, line in enumerate(_wrap(label, label_width - 10)):
            dy = (offset - (len(_wrap(label, label_width - 10)) - 1) / 2) * LINE_HEIGHT
            text = " ".join("".join(html.escape(p) for p, _ in word) for word in line)
            parts.append(f'<text class="sc-label" x="0" y="{y + dy:.1f}">{text}</text>')
    boxes: dict[tuple[int, int], tuple[float, float, float, float]] = {}
    for cell in cells:
        x = col_x[cell.col]
        y = row_y[cell.row]
        w = sum(col_widths[cell.col : cell.col + cell.span]) + GAP_X * (cell.span - 1)
        h = sum(row_heights[cell.row : cell.row + cell.rowspan]) + GAP_Y * (cell.rowspan - 1)
        boxes[(cell.row, cell.col)] = (x, y, w, h)
        parts.append(_box(cell, x, y, w, h))
    parts.extend(_arrows(spec, boxes, n_rows, n_cols))
    parts.append("</svg>")
    return (
        f'<figure class="sc-diagram">{"".join(parts)}'
        f"<figcaption>{_inline(caption)}</figcaption></figure>"
    )


def _place(rows: Any) -> tuple[list[Cell], int, int]:
    """Put the cells on a grid, HTML-table style: a spanned position is left out of later rows."""
    if not isinstance(rows, list) or not rows:
        raise DiagramError("'rows' must be a non-empty list of rows (each a list of cells)")
    taken: set[tuple[int, int]] = set()
    cells: list[Cell] = []
    n_cols = 0
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise DiagramError(f"row {r + 1} must be a list of cells, not {row!r}")
        c = 0
        for item in row:
            while (r, c) in taken:
                c += 1
            cell = _cell(item, r, c)
            cells.append(cell)
            for dr in range(cell.rowspan):
                for dc in range(cell.span):
                    taken.add((r + dr, c + dc))
            c += cell.span
        n_cols = max(n_cols, max((col for row_, col in taken if row_ == r), default=-1) + 1)
    n_rows = max(row for row, _ in taken) + 1
    if n_rows != len(rows):
        raise DiagramError("a 'rowspan' reaches past the last row")
    for r in range(n_rows):
        missing = [c for c in range(n_cols) if (r, c) not in taken]
        if missing:
            raise DiagramError(f"row {r + 1} has no cell in column(s) {[c + 1 for c in missing]}")
    return cells, n_rows, n_cols


def _cell(item: Any, row: int, col: int) -> Cell:
    if isinstance(item, str | int | float):
        return Cell(str(item), "plain", row, col)
    if not isinstance(item, dict) or "text" not in item:
        raise DiagramError(f"a cell is a string or a mapping with 'text', not {item!r}")
    unknown = set(item) - CELL_KEYS
    if unknown:
        raise DiagramError(f"a cell has unknown keys {sorted(unknown)}; known: {sorted(CELL_KEYS)}")
    tone = item.get("tone", "plain")
    if tone not in TONES:
        raise DiagramError(f"tone {tone!r} is not one of {', '.join(TONES)}")
    span, rowspan = int(item.get("span", 1)), int(item.get("rowspan", 1))
    if span < 1 or rowspan < 1:
        raise DiagramError("'span' and 'rowspan' are 1 or more")
    return Cell(str(item["text"]), tone, row, col, span, rowspan)


Word = list[tuple[str, bool]]
"""A word: its pieces, each (text, is_code); `save_state()`: is two pieces and one word."""


def _words(text: str) -> list[Word]:
    """The words of a text, split at blanks outside `code spans`."""
    words: list[Word] = []
    glued = False  # the next piece continues the last word
    for index, chunk in enumerate(text.split("`")):
        if index % 2:
            if glued and words:
                words[-1].append((chunk, True))
            else:
                words.append([(chunk, True)])
            glued = True
            continue
        pieces = chunk.split(" ")
        for position, piece in enumerate(pieces):
            if piece:
                if position == 0 and glued and words:
                    words[-1].append((piece, False))
                else:
                    words.append([(piece, False)])
        glued = not chunk.endswith(" ") and bool(words)
    return words


def _wrap(text: str, width: float) -> list[list[Word]]:
    """Lines of words that fit `width` pixels; a newline in the text breaks a line."""
    lines: list[list[Word]] = []
    for paragraph in str(text).split("\n"):
        line: list[Word] = []
        used = 0.0
        for word in _words(paragraph):
            size = sum(len(piece) for piece, _ in word) * CHAR_WIDTH
            if line and used + CHAR_WIDTH + size > width:
                lines.append(line)
                line, used = [], 0.0
            used += (CHAR_WIDTH if line else 0) + size
            line.append(word)
        lines.append(line)
    return lines


def _row_heights(cells: list[Cell], n_rows: int) -> list[float]:
    heights = [0.0] * n_rows
    for cell in sorted(cells, key=lambda c: c.rowspan):
        needed = len(cell.lines) * LINE_HEIGHT + 2 * PAD_Y
        rows = range(cell.row, cell.row + cell.rowspan)
        have = sum(heights[r] for r in rows) + GAP_Y * (cell.rowspan - 1)
        if needed > have:
            heights[rows[-1]] += needed - have
    return heights


def _box(cell: Cell, x: float, y: float, w: float, h: float) -> str:
    text_height = len(cell.lines) * LINE_HEIGHT
    first = y + (h - text_height) / 2 + LINE_HEIGHT * 0.75
    center = x + w / 2
    lines = []
    for index, line in enumerate(cell.lines):
        spans = []
        for position, word in enumerate(line):
            spans.append(" " if position else "")
            for piece, code in word:
                escaped = html.escape(piece)
                spans.append(f'<tspan class="sc-code">{escaped}</tspan>' if code else escaped)
        baseline = first + index * LINE_HEIGHT
        lines.append(f'<tspan x="{center:.1f}" y="{baseline:.1f}">{"".join(spans)}</tspan>')
    return (
        f'<g class="sc-cell sc-tone-{cell.tone}">'
        f'<rect class="sc-box" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6"/>'
        f'<text class="sc-text" text-anchor="middle">{"".join(lines)}</text></g>'
    )


def _arrows(
    spec: dict[str, Any],
    boxes: dict[tuple[int, int], tuple[float, float, float, float]],
    n_rows: int,
    n_cols: int,
) -> list[str]:
    parts = []
    for col in spec.get("flow_down") or []:
        chain = [boxes[(r, col)] for r in range(n_rows) if (r, col) in boxes]
        for (x1, y1, w1, h1), (x2, y2, w2, _) in itertools.pairwise(chain):
            x = max(x1, x2) + min(w1, w2) / 2 if w1 != w2 else x1 + w1 / 2
            parts.append(_arrow(x, y1 + h1, x, y2, vertical=True))
    for row in spec.get("flow_right") or []:
        chain = [boxes[(row, c)] for c in range(n_cols) if (row, c) in boxes]
        for (x1, y1, w1, h1), (x2, y2, _, h2) in itertools.pairwise(chain):
            y = max(y1, y2) + min(h1, h2) / 2
            parts.append(_arrow(x1 + w1, y, x2, y, vertical=False))
    return parts


def _arrow(x1: float, y1: float, x2: float, y2: float, *, vertical: bool) -> str:
    head = 6
    if vertical:
        line_end = y2 - head
        tip = f"{x2 - head:.1f},{line_end:.1f} {x2 + head:.1f},{line_end:.1f} {x2:.1f},{y2 - 1:.1f}"
    else:
        line_end = x2 - head
        tip = f"{line_end:.1f},{y2 - head:.1f} {line_end:.1f},{y2 + head:.1f} {x2 - 1:.1f},{y2:.1f}"
    end = f"{x2:.1f},{line_end:.1f}" if vertical else f"{line_end:.1f},{y2:.1f}"
    return (
        f'<g class="sc-arrow"><polyline points="{x1:.1f},{y1 + 1 if vertical else y1:.1f} {end}"/>'
        f'<polygon points="{tip}"/></g>'
    )


def _inline(text: str) -> str:
    """A caption as HTML: `code` spans become <code>."""
    return "".join(
        f"<code>{html.escape(chunk)}</code>" if index % 2 else html.escape(chunk)
        for index, chunk in enumerate(text.split("`"))
    )
