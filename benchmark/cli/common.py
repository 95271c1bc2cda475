"""What every command module of the CLI shares: the console it prints to, its width, and one flag style.

- **Width**: ``$COLUMNS`` when set, else the terminal's, else (piped) :data:`PIPED_WIDTH`; the
  same for the tables and for ``--help`` (typer's help otherwise cuts words with "…" at 80
  columns when piped). Tables stack their columns to fit (:mod:`pheno_bench.grid`), never cut.
- **Flags**: a boolean option is a bare flag (``--json``, ``--force``, ``--verify/--no-verify``)
  and ``--help`` shows it without a ``<bool>`` type, which would suggest a value.
- **Lists**: every list option takes its values the same ways: space-separated after the flag
  (``--seeds 0 1 2``), repeated (``--seeds 0 --seeds 1``), or comma-separated for numbers and
  names (``--folds 0,1``). Every command is a :class:`ListOptions` (set for all of them where the
  app is assembled, :mod:`pheno_bench.cli`).
"""

from __future__ import annotations

import os
import re
import sys
from typing import get_args

import typer.rich_utils
from rich.console import Console
from typer.core import TyperCommand, TyperOption

#: the width of tables and help when the output is not a terminal and $COLUMNS is not set
PIPED_WIDTH = 160  # as before issue 17: the sources table keeps a source's options on one line


def output_width() -> int | None:
    """$COLUMNS, else None (the terminal's width) on a terminal, else :data:`PIPED_WIDTH`."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else PIPED_WIDTH


console = Console(width=output_width())


def show(*items) -> None:
    """Print renderables; a :class:`pheno_bench.grid.Grid` as its tables stacked to the console's width."""
    from pheno_bench.grid import Grid

    for item in items:
        for renderable in (item.tables(console.width) if isinstance(item, Grid) else [item]):
            console.print(renderable, highlight=False)


def fit_width() -> None:
    """Apply :func:`output_width` to the tables' console and to typer's help (called at each run)."""
    console.width = output_width()  # type: ignore[assignment]  (None: rich measures the terminal)
    typer.rich_utils.MAX_WIDTH = output_width()


# A bare flag takes no value: typer's help would show every bool option (and --help) as `<bool>`.
_display_type_rich = TyperOption.display_type_rich


def _flag_type(self: TyperOption, ctx) -> str | None:
    return None if self.is_flag else _display_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _element(option: TyperOption) -> object:
    """The element type of a list option (``int`` for ``list[int]``), None when unknown."""
    args = get_args(getattr(getattr(option, "type_descriptor", None), "annotation", None))
    return args[0] if args else None


def _split_commas(option: TyperOption, value: str) -> list[str]:
    if _element(option) in (int, str):
        return [part for part in value.split(",") if part != ""] or [value]
    return [value]


def _takes(option: TyperOption, token: str) -> bool:
    """Does ``token`` continue a list option's values? Numbers for a list of numbers (so an argument
    after ``--seeds 0 1`` stays an argument), anything but an option otherwise."""
    if _element(option) is int:
        return bool(re.fullmatch(r"[0-9][0-9,]*", token))
    return not token.startswith("-")


def spread_lists(options: list[TyperOption], args: list[str], after: dict[str, str] | None = None) -> list[str]:
    """Rewrite ``--seeds 0 1 2`` (and ``--seeds 0,1,2``) as ``--seeds 0 --seeds 1 --seeds 2`` for the
    list options among ``options``; everything else is passed through unchanged. ``after`` (filled
    when given): each word that followed a list of numbers -> that list's flag (``--seeds 0 x``: x)."""
    lists = {name: option for option in options if option.multiple for name in option.opts}
    out: list[str] = []
    current: str | None = None
    given = False
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            out.append(token)
            out.extend(tokens)
            break
        name, _, inline = token.partition("=")
        if name in lists:
            if current is not None and not given:
                out.append(current)  # a list flag with no value: let the parser say so
            current, given = name, False
            if inline:
                out += [item for value in _split_commas(lists[name], inline) for item in (name, value)]
                given = True
            continue
        if current is not None and _takes(lists[current], token):
            out += [item for value in _split_commas(lists[current], token) for item in (current, value)]
            given = True
            continue
        if current is not None and not given:
            out.append(current)
        if current is not None and given and _element(lists[current]) is int and not token.startswith("-") and after is not None:
            after.setdefault(token, current)  # a word after numbers: an argument, or a mistyped number
        current = None
        out.append(token)
    if current is not None and not given:
        out.append(current)
    return out


class ListOptions(TyperCommand):
    """A command whose list options take ``--x 1 2 3`` as well as ``--x 1 --x 2`` and ``--x 1,2``."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        options = [p for p in self.get_params(ctx) if isinstance(p, TyperOption)]
        after: dict[str, str] = {}
        try:
            return super().parse_args(ctx, spread_lists(options, list(args), after))
        except Exception as error:  # typer's (or click's) UsageError: re-raised as its own class
            # `--seeds 0 x`: say what the list takes rather than "unexpected extra argument (x)"
            message = str(getattr(error, "message", ""))
            word = next((w for w in after if "extra argument" in message and f"({w}" in message), None)
            if word is None or type(error).__name__ != "UsageError":
                raise
            flag = after[word]
            raise type(error)(f"{word!r} after {flag}: {flag.lstrip('-')} are non-negative integers, e.g. {flag} 0 1 2", ctx) from None
