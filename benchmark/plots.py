"""Static SVG plots for the leaderboard, made with matplotlib at build time (no JavaScript, no CDN).

Plots are drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot state, any backend) and
saved with a fixed ``svg.hashsalt`` and no date, so the same numbers give the same bytes. Text is
drawn as paths (no font is fetched), at 10-11 pt; legends sit outside the axes, below them.
"""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pheno_bench.io import atomic_path

SVG_STYLE = {
    "svg.hashsalt": "pheno-bench", "svg.fonttype": "path", "font.size": 10.5, "axes.titlesize": 11,
    "axes.labelsize": 10.5, "xtick.labelsize": 10, "ytick.labelsize": 10, "legend.fontsize": 10,
    "axes.spines.top": False, "axes.spines.right": False,
}
def _err(rows: pd.DataFrame) -> np.ndarray:
    """Error-bar lengths below and above each mean (never negative: an interval may exclude its point)."""
    return np.clip(np.vstack([rows["mean"] - rows["low"], rows["high"] - rows["mean"]]).astype(float), 0, None)


SUBSET_STYLE = {"all": ("o", "#1f5fa8"), "active": ("s", "#c2412d")}
ENTRY_COLOUR, PROBE_COLOUR = "#1f5fa8", "#7a7a7a"
PALETTE = ("#1f5fa8", "#c2412d", "#2a8a4a", "#8a4fb0", "#c98a12", "#1b9aa5", "#b0417f", "#5c5c5c")


def save_svg(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a deterministic SVG file, atomically."""
    with matplotlib.rc_context(SVG_STYLE), atomic_path(path) as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None}, bbox_inches="tight")


def _legend_below(fig: Figure, ncols: int) -> None:
    """One legend for the figure, outside the axes, below them (never over data)."""
    handles, labels = [], []
    for ax in fig.axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(handles)), frameon=False)


def accuracy_plot(
    table: pd.DataFrame, *, splits: list[str], entries: list[str], chance: dict[str, float], label: str, probes: set[str] = frozenset()
) -> Figure:
    """Accuracy with intervals, one panel per split, one row per entry (probes' names in grey).

    table: one row per (entry, split, subset) with columns ``mean``, ``low``, ``high`` (interval
    bounds) and ``seeds`` (list of per-seed values), in plot units (percent for accuracies).
    entries: entry names, top to bottom. chance: split -> chance level in the same units.
    """
    with matplotlib.rc_context(SVG_STYLE):
        fig = Figure(figsize=(3.4 * len(splits) + 1.4, 1.3 + 0.36 * len(entries)), layout="constrained")
        axes = fig.subplots(1, len(splits), sharey=True, squeeze=False)[0]
        y = np.arange(len(entries))[::-1].astype(float)
        position = dict(zip(entries, y))
        for ax, split in zip(axes, splits):
            for offset, (subset, (marker, colour)) in zip((0.15, -0.15), SUBSET_STYLE.items()):
                rows = table[(table["split"] == split) & (table["subset"] == subset) & table["entry"].isin(position)]
                if rows.empty:
                    continue
                ys = np.array([position[e] for e in rows["entry"]]) + offset
                ax.errorbar(
                    rows["mean"], ys, xerr=_err(rows),
                    fmt=marker, color=colour, ms=5, capsize=2.5, lw=1.2, label=f"{subset} queries (95% interval)",
                )
                for yy, seeds in zip(ys, rows["seeds"]):
                    ax.plot(seeds, np.full(len(seeds), yy), "|", color=colour, ms=7, alpha=0.6)
            ax.axvline(chance[split], color="0.35", ls="--", lw=1, label="chance")
            ax.set_title(split)
            ax.set_xlabel(label)
            ax.set_xlim(left=0)
            ax.grid(axis="x", color="0.9")
        axes[0].set_yticks(y, entries)
        for tick in axes[0].get_yticklabels():
            if tick.get_text() in probes:
                tick.set_color(PROBE_COLOUR)
                tick.set_fontstyle("italic")
        axes[0].set_ylim(-0.6, len(entries) - 0.4)
        _legend_below(fig, 3)
    return fig


def dose_plot(table: pd.DataFrame, *, splits: list[str], entries: list[str], label: str) -> Figure:
    """Accuracy against dose level with intervals, one panel per split, one line per entry.

    table: one row per (entry, split, dose level) with columns ``dose`` (µM, float), ``mean``,
    ``low`` and ``high`` (already clipped to the metric's range), only for dose levels with
    enough molecules.
    """
    with matplotlib.rc_context(SVG_STYLE):
        fig = Figure(figsize=(3.6 * len(splits) + 0.6, 3.6), layout="constrained")
        axes = fig.subplots(1, len(splits), sharey=True, squeeze=False)[0]
        for ax, split in zip(axes, splits):
            for i, entry in enumerate(entries):
                rows = table[(table["split"] == split) & (table["entry"] == entry)].sort_values("dose")
                if len(rows):
                    jitter = 1.0 + 0.04 * (i - (len(entries) - 1) / 2)  # side by side on the log axis
                    ax.errorbar(
                        rows["dose"] * jitter, rows["mean"], yerr=_err(rows),
                        marker="o", ms=4, lw=1.2, capsize=2, color=PALETTE[i % len(PALETTE)], label=entry,
                    )
            ax.set_xscale("log")
            levels = sorted(table[table["split"] == split]["dose"].unique())
            ax.set_xticks(levels, [f"{d:g}" for d in levels])
            ax.minorticks_off()
            ax.set_title(split)
            ax.set_xlabel("dose level (µM)")
            ax.grid(color="0.9")
        axes[0].set_ylabel(label)
        axes[0].set_ylim(bottom=0)
        _legend_below(fig, 4)
    return fig


def probe_plot(table: pd.DataFrame, *, label: str, chance: float | None = None, floor: float | None = None) -> Figure:
    """Every entry and probe on the primary metric, top to bottom in the table's row order (the
    leaderboard passes its rank order, so the plot reads like the table), with intervals.

    table: one row per entry with columns ``entry``, ``mean``, ``low``, ``high`` and ``probe``
    (bool). Probes are grey diamonds; the best probe's value is a dotted line, so an entry's
    distance from the probes reads at a glance; ``chance`` and the query-blind ``floor`` are lines too.
    """
    table = table.reset_index(drop=True)
    with matplotlib.rc_context(SVG_STYLE):
        fig = Figure(figsize=(7.2, 1.3 + 0.34 * len(table)), layout="constrained")
        ax = fig.subplots()
        y = np.arange(len(table))[::-1].astype(float)
        for is_probe, (marker, colour, name) in ((False, ("o", ENTRY_COLOUR, "model")), (True, ("D", PROBE_COLOUR, "probe"))):
            rows = table[table["probe"] == is_probe]
            if rows.empty:
                continue
            ax.errorbar(
                rows["mean"], y[rows.index], xerr=_err(rows),
                fmt=marker, color=colour, ms=5.5, capsize=2.5, lw=1.2, label=f"{name} (95% interval)",
            )
        probes = table[table["probe"]]
        if len(probes):
            ax.axvline(probes["mean"].max(), color=PROBE_COLOUR, ls=":", lw=1.2, label="best probe")
        if chance is not None:
            ax.axvline(chance, color="0.35", ls="--", lw=1, label="chance")
        if floor is not None:
            ax.axvline(floor, color="0.35", ls="-.", lw=1, label="query-blind floor")
        ax.set_yticks(y, table["entry"])
        for tick, is_probe in zip(ax.get_yticklabels(), table["probe"]):
            if is_probe:
                tick.set_color(PROBE_COLOUR)
                tick.set_fontstyle("italic")
        ax.set_ylim(-0.6, len(table) - 0.4)
        ax.set_xlim(left=0)
        ax.set_xlabel(label)
        ax.grid(axis="x", color="0.9")
        _legend_below(fig, 4)
    return fig
