"""Text safe to show: hostile strings printed literally, and metric values formatted one way everywhere
(terminal tables, leaderboard pages, check reports)."""

from __future__ import annotations

from rich.markup import escape


def printable(text: object) -> str:
    """``text`` with its control and format characters shown escaped (``\\x1b``, ``\\u200b``)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def literal(text: object) -> str:
    """``text`` safe to print with rich: control and format characters shown escaped (:func:`printable`),
    rich markup escaped, so a submission's strings are printed literally and cannot style or break output."""
    return escape(printable(text))


def format_value(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    if metric == "median_rank":
        return f"{value:.1f}".removesuffix(".0")
    return f"{value:.3f}" if metric == "mrr" else f"{100 * value:.1f}"
