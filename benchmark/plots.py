"""Static SVG plots for the leaderboard, made with matplotlib at build time (no JavaScript, no CDN).

Plots are drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot state, any backend) and
saved with a fixed ``svg.hashsalt`` and no date, so the same numbers give the same bytes.
"""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pheno_bench.io import atomic_path

SVG_STYLE = {"svg.hashsalt": "pheno-bench", "svg.fonttype": "path", "font.size": 9}
SUBSET_STYLE = {"all": ("o", "#1f77b4"), "active": ("s", "#d62728")}


def save_svg(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a deterministic SVG file, atomically."""
    with matplotlib.rc_context(SVG_STYLE), atomic_path(path) as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None}, bbox_inches="tight")


def accuracy_plot(
    table: pd.DataFrame, *, splits: list[str], entries: list[str], chance: dict[str, float], label: str
) -> Figure:
    """Accuracy with intervals, one panel per split, one row per entry.

    table: one row per (entry, split, subset) with columns ``mean``, ``low``, ``high`` (interval
    bounds) and ``seeds`` (list of per-seed values), all in percent.
    entries: entry names, top to bottom. chance: split -> chance level in percent.
    """
    with matplotlib.rc_context(SVG_STYLE):
        fig = Figure(figsize=(3.2 * len(splits), 0.9 + 0.42 * len(entries)), layout="constrained")
        axes = fig.subplots(1, len(splits), sharey=True, squeeze=False)[0]
        y = np.arange(len(entries))[::-1].astype(float)
        position = dict(zip(entries, y))
        for ax, split in zip(axes, splits):
            for offset, (subset, (marker, colour)) in zip((0.14, -0.14), SUBSET_STYLE.items()):
                rows = table[(table["split"] == split) & (table["subset"] == subset)]
                ys = np.array([position[e] for e in rows["entry"]]) + offset
                ax.errorbar(
                    rows["mean"], ys, xerr=[rows["mean"] - rows["low"], rows["high"] - rows["mean"]],
                    fmt=marker, color=colour, ms=5, capsize=2.5, lw=1, label=f"{subset} queries",
                )
                for yy, seeds in zip(ys, rows["seeds"]):
                    ax.plot(seeds, np.full(len(seeds), yy), "|", color=colour, ms=7, alpha=0.6)
            ax.axvline(chance[split], color="0.4", ls="--", lw=1, label="chance")
            ax.set_title(split)
            ax.set_xlabel(f"{label} (%)")
            ax.set_xlim(left=0)
            ax.grid(axis="x", color="0.9")
        axes[0].set_yticks(y, entries)
        axes[0].set_ylim(-0.6, len(entries) - 0.4)
        axes[-1].legend(loc="lower right", fontsize=7, frameon=False)
    return fig


def dose_plot(table: pd.DataFrame, *, splits: list[str], entries: list[str], label: str) -> Figure:
    """Accuracy against dose level, one panel per split, one line per entry.

    table: one row per (entry, split, dose level) with columns ``dose`` (µM, float), ``mean`` and
    ``std`` (across seeds, 0 for one seed) in percent.
    """
    with matplotlib.rc_context(SVG_STYLE):
        fig = Figure(figsize=(3.2 * len(splits), 3.0), layout="constrained")
        axes = fig.subplots(1, len(splits), sharey=True, squeeze=False)[0]
        for ax, split in zip(axes, splits):
            for entry in entries:
                rows = table[(table["split"] == split) & (table["entry"] == entry)].sort_values("dose")
                if len(rows):
                    ax.errorbar(rows["dose"], rows["mean"], yerr=rows["std"], marker="o", ms=3, lw=1, capsize=2, label=entry)
            ax.set_xscale("log")
            ax.set_title(split)
            ax.set_xlabel("dose level (µM)")
            ax.grid(color="0.9")
        axes[0].set_ylabel(f"{label} (%)")
        axes[0].set_ylim(bottom=0)
        axes[-1].legend(fontsize=7, frameon=False)
    return fig
