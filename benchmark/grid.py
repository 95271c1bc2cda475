"""One table renderer for the terminal and the pages: cells placed by column key, never by position.

A :class:`Grid` has label columns (``split``, ``queries``...) and value columns (one per metric,
or per fold...), each with a key. A row is a mapping key -> text: a value column the row has no
cell for shows :data:`MISSING` ("–"), so a value can never slide under another column's header.

Terminal: :meth:`Grid.tables` gives rich tables that fit a width. When every column does not fit,
the value columns are **stacked**: several tables, each with the label columns and as many value
columns as fit, one after the other, the same rows in the same order. No cell is ever cut with
"…" (columns fold instead). Pages: :meth:`Grid.cells` gives a row's value cells in column order,
for a template to write as HTML.

Cell texts are rich markup (escape strings you do not control with :func:`pheno_bench.text.literal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

#: what a value column shows for a row that has no cell for it
MISSING = "–"
#: label columns wrap at words beyond this width when the table must be narrow
LABEL_WRAP = 14
#: a value column wraps at words beyond this width (long notes), never below its longest word
VALUE_WRAP = 16


@dataclass(frozen=True)
class Column:
    """A column: its key (what cells are placed by), its header and its alignment."""

    key: str
    header: str
    justify: Literal["left", "right", "center"] = "right"


def _lines(markup: str) -> list[str]:
    return Text.from_markup(markup).plain.split("\n")


def _widths(texts: Iterable[str]) -> tuple[int, int]:
    """(longest word, longest line) of rich-markup texts, in terminal cells."""
    word = line = 1
    for text in texts:
        for part in _lines(text):
            line = max(line, cell_len(part))
            word = max([word, *(cell_len(w) for w in part.split())])
    return word, line


@dataclass
class Grid:
    """A table whose cells are placed by column key.

    labels: the columns that name a row (repeated in every stacked table); columns: the value
    columns. Rows are added with :meth:`add_row` as ``{key: text}``.
    """

    title: str
    labels: list[Column]
    columns: list[Column]
    caption: str = ""
    rows: list[dict[str, str]] = field(default_factory=list)
    ends: set[int] = field(default_factory=set)

    def add_row(self, cells: Mapping[str, str], *, end_section: bool = False) -> None:
        """Add a row ``{column key: text}``; a key with no column is a programming error."""
        known = {c.key for c in (*self.labels, *self.columns)}
        if unknown := sorted(set(cells) - known):
            raise KeyError(f"cells {unknown} have no column in table {self.title!r} (columns: {sorted(known)})")
        self.rows.append(dict(cells))
        if end_section:
            self.end_section()

    def end_section(self) -> None:
        """A rule below the last row added."""
        if self.rows:
            self.ends.add(len(self.rows) - 1)

    def cells(self, row: Mapping[str, str]) -> list[str]:
        """The value cells of ``row`` in column order; :data:`MISSING` where the row has none."""
        return [row.get(c.key, MISSING) for c in self.columns]

    def labels_of(self, row: Mapping[str, str]) -> list[str]:
        return [row.get(c.key, "") for c in self.labels]

    def _width(self, column: Column, *, label: bool, compact: bool = False) -> int:
        """A column's width in cells: its longest line up to a wrap width (never below its longest
        word); ``compact``: the header may wrap at its words (cells keep their longest line)."""
        cells = [row.get(column.key, "" if label else MISSING) for row in self.rows]
        word, line = _widths([column.header, *cells])
        natural = min(line, max(word, LABEL_WRAP if label else VALUE_WRAP))
        if not compact:
            return natural
        header_word, _ = _widths([column.header])
        cell_word, cell_line = _widths(cells)
        return min(natural, max(header_word, cell_word, min(cell_line, LABEL_WRAP if label else VALUE_WRAP)))

    def _stacked_widths(self, block: list[Column], width: int) -> list[int]:
        """Fixed widths of a stacked table's label and value columns: each at its compact width (headers
        wrapped at words), the room left given back to the columns in order, up to their natural width.
        Fixed, because rich's own collapsing could leave a table wider than the terminal, then cropped."""
        columns = [(c, True) for c in self.labels] + [(c, False) for c in block]
        widths = [self._width(c, label=label, compact=True) for c, label in columns]
        room = width - 1 - sum(w + 3 for w in widths)
        for i, (column, label) in enumerate(columns):
            grow = max(0, min(room, self._width(column, label=label) - widths[i]))
            widths[i] += grow
            room -= grow
        return widths

    def _fits(self, width: int, *, compact: bool) -> list[list[Column]]:
        budget = width - 1 - sum(self._width(c, label=True, compact=compact) + 3 for c in self.labels)
        blocks: list[list[Column]] = [[]]
        used = 0
        for column in self.columns:
            need = self._width(column, label=False, compact=compact) + 3
            if blocks[-1] and used + need > budget:
                blocks.append([])
                used = 0
            blocks[-1].append(column)
            used += need
        return blocks

    def blocks(self, width: int | None) -> list[list[Column]]:
        """The value columns split into runs that fit ``width`` beside the label columns (None: one
        run): at their natural widths when all fit, else with headers wrapped at words, stacked."""
        if width is None or not self.columns:
            return [list(self.columns)]
        natural = self._fits(width, compact=False)
        return natural if len(natural) == 1 else self._fits(width, compact=True)

    def tables(self, width: int | None = None) -> list[Table]:
        """Rich tables of the grid that fit ``width`` terminal cells (stacked when needed)."""
        blocks = self.blocks(width)
        stacked = width is not None and len(self._fits(width, compact=False)) > 1
        out = []
        for i, block in enumerate(blocks):
            title = self.title
            if len(blocks) > 1:
                title += f" ({i + 1} of {len(blocks)}: {', '.join(c.header for c in block)})"
            table = Table(title=title, caption=self.caption if i == len(blocks) - 1 else None)
            fixed = self._stacked_widths(block, width) if stacked else None
            for j, (column, label) in enumerate([(c, True) for c in self.labels] + [(c, False) for c in block]):
                size = {"width": fixed[j]} if fixed else {"min_width": self._width(column, label=label)}
                table.add_column(column.header, justify=column.justify, overflow="fold", **size)
            for r, row in enumerate(self.rows):
                table.add_row(*self.labels_of(row), *(row.get(c.key, MISSING) for c in block), end_section=r in self.ends)
            out.append(table)
        return out
