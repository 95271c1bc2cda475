"""Metric ids: the names of the cells of a results file, and the primary metric.

A metric id is ``'<split>/<view>/<subset>/<average>/<metric>'``, e.g.
``unseen_molecules/per_query/active/macro/top_5pct``; a benchmark declares one as its primary
metric (the one number it is ranked by). Shared by the data cards (build and publish), the scorer,
the comparisons and the leaderboard; it knows the metric names of :mod:`pheno_bench.metrics` and
the splits of :mod:`pheno_bench.schema`, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

from pheno_bench.errors import PhenoBenchError
from pheno_bench.metrics import METRICS
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.specs import BENCHMARKS

VIEWS = ("per_query", "averaged")
AVERAGES = ("micro", "macro")
#: column headers of the metrics, in METRICS order
HEADERS = {
    "top_1pct": "top-1%",
    "top_5pct": "top-5%",
    "molecule_top_1pct": "mol. top-1%",
    "molecule_top_5pct": "mol. top-5%",
    "mrr": "MRR",
    "median_rank": "median rank",
    "dose_part": "dose part",
    "identity_top_1pct": "identity top-1%",
    "identity_top_5pct": "identity top-5%",
}
SUBSET_ORDER = ("all", "active", "active_non_cytotoxic", "molecule_in_train", "molecule_not_in_train", "anchors")
TOP_K_PERCENT = {"top_1pct": 1, "top_5pct": 5, "molecule_top_1pct": 1, "molecule_top_5pct": 5}


def primary_metric_of(manifest) -> str | None:
    """The primary metric id of a benchmark (a :class:`pheno_bench.manifest.Manifest`): from its
    manifest's spec, else from the benchmark definitions."""
    declared = manifest.spec.get("primary_metric")
    if declared:
        return declared
    spec = BENCHMARKS.get(manifest.name)
    return spec.primary_metric if spec is not None and spec.version == manifest.version else None


def parse_metric_id(metric_id: str) -> tuple[str, str, str, str, str]:
    """'<split>/<view>/<subset>/<average>/<metric>' -> its five parts, checked."""
    parts = metric_id.split("/")
    if len(parts) != 5 or parts[0] not in TEST_SPLITS or parts[1] not in VIEWS or parts[3] not in AVERAGES or parts[4] not in METRICS:
        raise PhenoBenchError(
            f"primary metric {metric_id!r} is not '<split>/<view>/<subset>/<average>/<metric>' "
            f"(split in {TEST_SPLITS}, view in {VIEWS}, average in {AVERAGES}, metric in {METRICS})"
        )
    return tuple(parts)  # type: ignore[return-value]


def metric_label(metric_id: str, k: int | None = None, n_candidates: int | None = None) -> str:
    """Human words for a metric id: 'unseen_molecules, active queries, macro top-5% (k = 9 of 174)'."""
    split, view, subset, average, metric = parse_metric_id(metric_id)
    text = f"{split}, {subset} queries{' (averaged)' if view == 'averaged' else ''}, {average} {HEADERS[metric]}"
    return text + (f" (k = {k} of {n_candidates})" if k is not None else "")


def _span(values) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def k_of_folds(percent: int, n_candidates_by_fold: Mapping[str, int]) -> str:
    """'k = 2 of 162–174 per fold': pooled folds rank against each fold's own candidate list."""
    ns = list(n_candidates_by_fold.values())
    return f"k = {_span([-(-percent * n // 100) for n in ns])} of {_span(ns)} per fold"
