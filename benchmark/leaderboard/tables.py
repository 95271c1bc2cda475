"""The board's tidy tables: every estimate of every (entry, seed) as one row (:func:`results_frame`),
and the seeds aggregated (:func:`aggregate_seeds`); the pages (:mod:`.pages`) and plots read them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pheno_bench.results import Results

KEYS = ["entry", "split", "view", "kind", "group", "average", "metric"]


def results_frame(results: Mapping[tuple[str, int], Results]) -> pd.DataFrame:
    """Every estimate of every (entry, seed) as one tidy row.

    Columns: entry, seed, split, view (per_query | averaged), kind (subsets | by_dose |
    by_scaffold), group (subset, dose level or scaffold), average (micro: over queries | macro:
    over molecules), metric, value, low, high, chance, n_queries, n_molecules, status. Splits a
    submission does not cover, and subsets too few to score, have no rows.
    """
    rows = []
    for (entry, seed), result in results.items():
        for split, split_result in result.splits.items():
            if not split_result.evaluated:
                continue
            for view in ("per_query", "averaged"):
                view_result = getattr(split_result, view, None)
                if view_result is None:
                    continue
                for kind in ("subsets", "by_dose", "by_scaffold"):
                    for group, subset in getattr(view_result, kind).items():
                        for average, estimates in (("micro", subset.metrics), ("macro", getattr(subset, "macro", {}))):
                            for metric, est in estimates.items():
                                rows.append((
                                    entry, seed, split, view, kind, group, average, metric, est.value, est.low, est.high, est.chance,
                                    subset.n_queries, subset.n_molecules, getattr(subset, "status", "scored"),
                                ))
    columns = ["entry", "seed", *KEYS[1:], "value", "low", "high", "chance", "n_queries", "n_molecules", "status"]
    return pd.DataFrame(rows, columns=columns).astype({"low": float, "high": float, "value": float})


def aggregate_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """Seeds -> one row per (entry, split, view, kind, group, average, metric).

    frame: from :func:`results_frame`. Adds mean, std (sample: ddof=1, NaN for one seed), n
    (seeds), low / high (the envelope of the seeds' intervals: lowest low, highest high), values
    (per-seed values in seed order), chance, n_queries, n_molecules and status.
    """
    frame = frame.sort_values(["entry", "seed"], kind="stable")
    grouped = frame.groupby(KEYS, sort=True, dropna=False)
    out = grouped.agg(
        mean=("value", "mean"), std=("value", "std"), n=("value", "size"),
        low=("low", "min"), high=("high", "max"), chance=("chance", "first"),
        n_queries=("n_queries", "first"), n_molecules=("n_molecules", "first"), status=("status", "first"),
    )
    # per-seed values in seed order: the rows of each group (numbered in the output's order) taken consecutively
    codes = grouped.ngroup().to_numpy()
    values = frame["value"].to_numpy(dtype=float)[np.argsort(codes, kind="stable")]
    bounds = np.cumsum(np.bincount(codes, minlength=len(out)))[:-1]
    out["values"] = [v.tolist() for v in np.split(values, bounds)]
    return out.reset_index()
