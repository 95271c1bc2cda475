"""Ranking one split: a submission's embeddings against its answer key -> fair per-query values (a :class:`View`).

Two views of a split: ``per_query`` (each query well) and ``averaged`` (query embeddings averaged
per true (molecule, dose)). A view holds, per row, the fair values of every metric (ties at their
expected value), the pessimistic values, the chance levels and, when the benchmark has one, the
query-blind floor's values; beside the values, each row's tied block (for the tie-aware median
rank: each query's rank uniform over its tied block). :func:`pool_views` concatenates the views
of several folds. The exact counts are :mod:`pheno_bench.ranking`'s, the values
:mod:`pheno_bench.metrics`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pheno_bench.medians import blas_threads
from pheno_bench.metrics import RANK_COLUMN, all_chance, all_pessimistic, all_values
from pheno_bench.ranking import RankCounts, query_blind_counts, retrieval_counts, scale_factors
from pheno_bench.scoring.keys import SplitKey


@dataclass
class View:
    """Fair per-query values of one way of querying a split (or of several folds / seeds pooled).

    values, pessimistic, chance: (n, 9) in METRICS order (column RANK_COLUMN the mid-rank);
    labels: per row inchikey, dose_level, scaffold_group, active, in_train, anchor (non_cytotoxic when
    the benchmark flags it; fold when pooled);
    n_candidates: the candidate count of every row's split (one int, or {fold: n} when pooled);
    tied: (n,) each row's tied block t (the true candidate and the candidates tied with it), for the
    tie-aware median rank; chance_tied: (n,) the same for chance (a full tie: the row's candidates);
    floor, floor_tied: the query-blind floor's values (n, 9) and tied blocks (n,), None without a floor;
    n_level: (n,) the candidates at each row's true dose level (the identity part ranks among them).
    A view without ``tied`` (e.g. values averaged over seeds) gets the lower median of its mid-ranks.
    """

    values: np.ndarray
    pessimistic: np.ndarray
    chance: np.ndarray
    labels: pd.DataFrame
    n_candidates: int | dict[int, int]
    counts: RankCounts | None = None
    tied: np.ndarray | None = None
    chance_tied: np.ndarray | None = None
    floor: np.ndarray | None = None
    floor_tied: np.ndarray | None = None
    n_level: np.ndarray | None = None

    @property
    def ranks(self) -> np.ndarray:
        """Mid-ranks (n,)."""
        return self.values[:, RANK_COLUMN]

    def tied_of(self, which: str) -> np.ndarray | None:
        """The tied blocks that go with ``which`` ("values", "chance", "floor"; None for "pessimistic",
        whose median rank stays the lower median of its ranks a + t)."""
        return {"values": self.tied, "chance": self.chance_tied, "floor": self.floor_tied}.get(which)

    def molecule_codes(self) -> tuple[np.ndarray, int]:
        """Molecule code per row (by InChIKey, sorted: stable across seeds, folds and files) and their number."""
        names, codes = np.unique(self.labels["inchikey"].to_numpy(dtype=str), return_inverse=True)
        return codes, len(names)


@dataclass
class SplitRanks:
    """A scored split: the per-query and averaged views, plus degeneracy diagnostics."""

    key: SplitKey
    per_query: View
    averaged: View
    effective_rank: dict[str, float]
    flags: list[str]


def effective_rank(x: np.ndarray, *, max_rows: int = 4096) -> float:
    """Entropy-based effective rank (RankMe) of the rows of ``x`` (n, dim): 1 for collapsed embeddings.

    Computed on at most ``max_rows`` evenly spaced rows, scaled by the largest entry and centred
    (a component shared by every row carries no ranking information, so it must not hide the spread:
    uncentred, a useful probe whose embeddings share a large offset looked "collapsed").
    """
    x = x[:: -(-len(x) // max_rows)].astype(np.float64)
    x = x / np.maximum(np.abs(x).max(), np.finfo(np.float64).tiny)
    x = x - x.mean(axis=0)
    gram = x.T @ x if x.shape[0] >= x.shape[1] else x @ x.T
    singular = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0, None))
    if singular.sum() <= 0:
        return 0.0
    p = singular / singular.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def _same_embedding(x: np.ndarray, *, block: int = 8192) -> bool:
    """Whether every row of ``x`` (n, dim) is the same vector up to a positive factor of its largest
    entry: the spread of each coordinate of the rows scaled to max|x| = 1 is at most 1e-6.
    A block of rows at a time (running per-coordinate min and max): the same float64 values as
    scaling all rows at once, without a float64 copy of x."""
    if len(x) == 0:
        return False
    low = np.full(x.shape[1], np.inf)
    high = np.full(x.shape[1], -np.inf)
    for start in range(0, len(x), block):
        part = x[start : start + block]
        scale = np.abs(part).max(axis=1, keepdims=True).astype(np.float64)
        unit = part / np.where(scale > 0, scale, 1)
        np.minimum(low, unit.min(axis=0), out=low)
        np.maximum(high, unit.max(axis=0), out=high)
    return bool((high - low).max() <= 1e-6)


def _diagnose(queries: np.ndarray, candidates: np.ndarray) -> tuple[dict[str, float], list[str]]:
    # rounded: a diagnostic, and the same for embeddings that differ only by float rounding of a scale factor
    with blas_threads(1):  # a (dim x dim) gram and its eigenvalues: more BLAS threads only spin
        ranks = {"queries": round(effective_rank(queries), 3), "candidates": round(effective_rank(candidates), 3)}
    flags = []
    for kind, x in (("queries", queries), ("candidates", candidates)):
        if _same_embedding(x):
            flags.append(f"all {kind} have the same embedding")
        elif ranks[kind] < 2:
            flags.append(f"rank collapse: {kind} embeddings have effective rank {ranks[kind]:.2f}")
    return ranks, flags


def _averaged(queries: np.ndarray, key: SplitKey, cosine: bool) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Query embeddings averaged per true (molecule, dose) in float64 (after the similarity's own
    rescaling, so a 1e30 factor changes nothing); their true candidates and labels.

    One pass over the queries, no float64 copy of them: each row's scaled contribution is added to
    its group in row order (:func:`pheno_bench.ranking_kernels.group_sums`, the same operations in
    the same order as a sparse membership product, so the same bits)."""
    from pheno_bench import ranking_kernels as kernels

    groups, inverse = np.unique(key.true_index, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    counts = np.bincount(inverse)
    factors = scale_factors(queries, similarity="cosine" if cosine else "dot", rows=True)
    if not cosine:  # dot: one common factor keeps relative query lengths
        factors = np.full(len(queries), factors.min())
    means = np.zeros((groups.size, queries.shape[1]))
    kernels.group_sums(np.ascontiguousarray(queries), inverse, factors / counts[inverse], means)
    first = np.unique(inverse, return_index=True)[1]
    return means, groups, key.labels.iloc[first].reset_index(drop=True)


def _view(counts: RankCounts, labels: pd.DataFrame, n_candidates: int, floor: RankCounts | None) -> View:
    n = len(counts.above)
    return View(
        values=all_values(counts, n_candidates=n_candidates),
        pessimistic=all_pessimistic(counts, n_candidates=n_candidates),
        chance=all_chance(counts.n_doses, counts.n_level, n_candidates=n_candidates),
        labels=labels.reset_index(drop=True),
        n_candidates=n_candidates,
        counts=counts,
        tied=counts.tied.astype(np.float64),
        chance_tied=np.full(n, float(n_candidates)),
        floor=None if floor is None else all_values(floor, n_candidates=n_candidates),
        floor_tied=None if floor is None else floor.tied.astype(np.float64),
        n_level=counts.n_level,
    )


def rank_split(key: SplitKey, queries: np.ndarray, candidates: np.ndarray, *, similarity: str = "cosine", memory_mb: float = 64) -> SplitRanks:
    """Score one split's embeddings against its answer key.

    queries: (n_queries, dim), candidates: (n_candidates, dim) in the key's order, raw (any scale).
    The dose-level counts use ``key.candidate_dose``; the floor, ``key.floor_scores`` (when set).
    """
    views = {}
    for name, (q, true, labels) in {
        "per_query": (queries, key.true_index, key.labels),
        "averaged": _averaged(queries, key, similarity == "cosine"),
    }.items():
        where = dict(true_index=true, candidate_molecule=key.candidate_molecule, candidate_dose=key.candidate_dose)
        counts = retrieval_counts(q, candidates, **where, similarity=similarity, memory_mb=memory_mb)
        floor = query_blind_counts(key.floor_scores, **where) if key.floor_scores is not None else None
        views[name] = _view(counts, labels, len(candidates), floor)
    return SplitRanks(key, views["per_query"], views["averaged"], *_diagnose(queries, candidates))


def pool_views(views: Sequence[View], folds: Sequence[int]) -> View:
    """Concatenate one view per fold (labels gain a 'fold' column); molecules are matched by InChIKey.
    Tied blocks and the floor are kept when every fold's view has them."""
    labels = pd.concat([v.labels.assign(fold=f) for v, f in zip(views, folds)], ignore_index=True)
    stack = lambda name: np.concatenate([getattr(v, name) for v in views])
    optional = lambda name: stack(name) if all(getattr(v, name) is not None for v in views) else None
    return View(
        stack("values"), stack("pessimistic"), stack("chance"), labels, {f: v.n_candidates for v, f in zip(views, folds)},
        tied=optional("tied"), chance_tied=optional("chance_tied"), floor=optional("floor"), floor_tied=optional("floor_tied"),
        n_level=optional("n_level"),
    )
