"""Metric values per query (fair ties), their chance levels, and the metric names and constants.

Per query, from the exact counts of :mod:`pheno_bench.ranking` (``a`` candidates strictly above
the true one, ``t`` tied with it, itself included), every metric is its **expected value under
uniformly random tie-breaking** (OGB's convention, exact, not sampled):

- top-k hit: ``clip((k - a) / t, 0, 1)``;
- reciprocal rank: the mean of 1/r over r = a+1 ... a+t;
- rank: the mid-rank ``a + (t + 1) / 2``;
- molecule top-k hit: with ``a`` candidates of other molecules strictly above the best dose of
  the true molecule, ``o`` of other molecules tied with it and ``m`` doses of the true molecule
  tied with it, the molecule is found at 1 + a + X where X (others placed before the first of the
  m own doses in a random order of the o + m tied) has P(X >= j) = prod_{i<j} (o - i) / (o + m - i).

A constant embedding ties everything (a = 0, t = n): every metric equals its chance level exactly.
The pessimistic view (ties counted against) is kept as a secondary view.

Their micro and macro averages and the molecule bootstrap are :mod:`pheno_bench.averages`'.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from pheno_bench.ranking import RankCounts

TOP_PERCENTS = (1, 5)
#: the retrieval metrics (columns of :func:`query_values`; the last is the mid-rank)
RETRIEVAL_METRICS = ("top_1pct", "top_5pct", "molecule_top_1pct", "molecule_top_5pct", "mrr", "median_rank")
#: the dose part and the identity part (columns of :func:`dose_identity_values`), scorer 4
DOSE_IDENTITY = ("dose_part", "identity_top_1pct", "identity_top_5pct")
#: every metric of a result, in the column order of a view's values (:func:`all_values`)
METRICS = RETRIEVAL_METRICS + DOSE_IDENTITY
#: the column of the rank (its average is a median); every other column is averaged as a mean
RANK_COLUMN = RETRIEVAL_METRICS.index("median_rank")
LOWER_IS_BETTER = frozenset({"median_rank"})
TOP_K_METRICS = {"top_1pct": 1, "top_5pct": 5, "molecule_top_1pct": 1, "molecule_top_5pct": 5}
#: top-K% among the candidates at the true dose level only: k = ceil(K * n_level / 100), per query
IDENTITY_METRICS = {"identity_top_1pct": 1, "identity_top_5pct": 5}
CI_LEVEL = 0.95
N_VALUES = len(METRICS)  # columns of a values matrix: the 5 retrieval means, the rank, the 3 dose/identity means


def metric_parts(metric: str) -> dict[str, str]:
    """The metrics that split ``metric`` into what a model gets right: its dose part (``dose_part``)
    and its identity part (``identity_top_K pct`` with the metric's own K; K = 5 for a metric
    without one, e.g. MRR or the median rank)."""
    return {"dose": "dose_part", "identity": f"identity_top_{TOP_K_METRICS.get(metric, IDENTITY_METRICS.get(metric, 5))}pct"}


def top_k_count(percent: int, n_candidates: int) -> int:
    """How many top candidates count as a top-``percent``% hit: ceil(percent * n_candidates / 100)."""
    return -(-percent * n_candidates // 100)


def _harmonic(n: int) -> np.ndarray:
    """H[0..n]: H[r] = sum_{i<=r} 1/i, float64."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])


def fair_top_k(above: np.ndarray, tied: np.ndarray, k: int) -> np.ndarray:
    """Expected top-k hit under random tie-breaking: clip((k - a) / t, 0, 1)."""
    return np.clip((k - above) / tied, 0.0, 1.0)


def fair_reciprocal_rank(above: np.ndarray, tied: np.ndarray, n_candidates: int) -> np.ndarray:
    """Mean of 1/r over r = a+1 .. a+t (exactly 1/(a+1) when t = 1)."""
    harmonic = _harmonic(n_candidates)
    return np.where(tied == 1, 1.0 / (above + 1), (harmonic[above + tied] - harmonic[above]) / tied)


def fair_molecule_top_k(above: np.ndarray, others_tied: np.ndarray, own_tied: np.ndarray, k: int) -> np.ndarray:
    """P(1 + a + X <= k), X = others among the o tied placed before the first of the m own doses."""
    j = k - above  # the molecule is missed iff X >= j
    o, m = others_tied.astype(np.float64), own_tied.astype(np.float64)
    jj = np.clip(j, 0, None).astype(np.float64)
    possible = (j > 0) & (j <= others_tied)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_miss = gammaln(o + 1) - gammaln(np.where(possible, o - jj + 1, 1)) - gammaln(o + m + 1) + gammaln(np.where(possible, o + m - jj + 1, 1))
    miss = np.where(j <= 0, 1.0, np.where(possible, np.exp(np.where(possible, log_miss, 0.0)), 0.0))
    return 1.0 - miss


def query_values(counts: RankCounts, *, n_candidates: int) -> np.ndarray:
    """(n_queries, 6) float64 fair per-query values, columns in METRICS order (the last is the mid-rank)."""
    a, t = counts.above, counts.tied
    columns = [fair_top_k(a, t, top_k_count(p, n_candidates)) for p in TOP_PERCENTS]
    columns += [fair_molecule_top_k(counts.molecule_above, counts.molecule_tied, counts.own_tied, top_k_count(p, n_candidates)) for p in TOP_PERCENTS]
    columns += [fair_reciprocal_rank(a, t, n_candidates), a + (t + 1) / 2]
    return np.column_stack(columns).astype(np.float64)


def pessimistic_values(counts: RankCounts, *, n_candidates: int) -> np.ndarray:
    """(n_queries, 6) the ties-against view: rank a + t, molecule rank 1 + a + o."""
    rank = counts.above + counts.tied
    molecule_rank = 1 + counts.molecule_above + counts.molecule_tied
    k = [top_k_count(p, n_candidates) for p in TOP_PERCENTS]
    return np.column_stack([rank <= k[0], rank <= k[1], molecule_rank <= k[0], molecule_rank <= k[1], 1.0 / rank, rank]).astype(np.float64)


def chance_values(n_doses: np.ndarray, *, n_candidates: int) -> np.ndarray:
    """(n_queries, 6) expected values of a uniformly random ranking: the fair values of a full tie.

    n_doses: (n_queries,) candidates of each query's true molecule. Same formulas as the scores,
    so a constant embedding scores exactly this.
    """
    n = n_candidates
    zeros = np.zeros(len(n_doses), dtype=np.int64)
    full = np.full(len(n_doses), n, dtype=np.int64)
    return query_values(RankCounts(zeros, full, zeros, full - n_doses, n_doses.astype(np.int64)), n_candidates=n)


def fair_dose_first(dose_above: np.ndarray, dose_tied: np.ndarray) -> np.ndarray:
    """The dose part: expected value (fair ties) of "the true dose ranks first among the true
    molecule's own doses": 1 / t when no own dose is strictly above it (a = 0), else 0."""
    return fair_top_k(dose_above, dose_tied, 1)


def dose_identity_values(counts: RankCounts) -> np.ndarray:
    """(n_queries, 3) float64 fair per-query values, columns in DOSE_IDENTITY order.

    - dose part: :func:`fair_dose_first` of ``counts.dose_above``, ``counts.dose_tied`` (the true
      molecule's own doses strictly above / tied with the true candidate): is the right dose the
      molecule's best-scoring one? Chance 1 / (the molecule's doses).
    - identity part, top-K% for K = 1, 5: :func:`fair_top_k` among only the ``counts.n_level``
      candidates at the true candidate's dose level (one per molecule at that dose), with
      k = ceil(K * n_level / 100) per query: is the right molecule found when the dose is given?
    counts: from :func:`pheno_bench.ranking.retrieval_counts` (its dose and level fields filled;
    pass ``candidate_dose`` there for real levels, else the level is every candidate).
    """
    if counts.dose_above is None or counts.level_above is None:
        raise ValueError("these counts have no dose or dose-level fields: compute them with retrieval_counts")
    columns = [fair_dose_first(counts.dose_above, counts.dose_tied)]
    columns += [fair_top_k(counts.level_above, counts.level_tied, top_k_count(p, counts.n_level)) for p in TOP_PERCENTS]
    return np.column_stack(columns).astype(np.float64)


def dose_identity_chance(n_doses: np.ndarray, n_level: np.ndarray) -> np.ndarray:
    """(n_queries, 3) chance levels of :func:`dose_identity_values`: its own formulas on a full tie
    (every own dose tied, every candidate at the level tied), so a constant embedding scores exactly
    this. n_doses, n_level: (n_queries,) the true molecule's candidates and the candidates at the
    true dose level (``counts.n_doses``, ``counts.n_level``)."""
    n_doses, n_level = np.asarray(n_doses, dtype=np.int64), np.asarray(n_level, dtype=np.int64)
    zeros = np.zeros(len(n_doses), dtype=np.int64)
    full = RankCounts(zeros, n_level, zeros, n_level - n_doses, n_doses, zeros, n_doses, n_doses, zeros, n_level, n_level)
    return dose_identity_values(full)


def dose_identity_pessimistic(counts: RankCounts) -> np.ndarray:
    """(n_queries, 3) the ties-against view of :func:`dose_identity_values`: the true dose first only
    when no own dose is above or tied with it; an identity hit when level_above + level_tied <= k."""
    rank = counts.level_above + counts.level_tied
    columns = [counts.dose_above + counts.dose_tied <= 1] + [rank <= top_k_count(p, counts.n_level) for p in TOP_PERCENTS]
    return np.column_stack(columns).astype(np.float64)


def all_values(counts: RankCounts, *, n_candidates: int) -> np.ndarray:
    """(n_queries, 9) every metric's fair per-query value, columns in METRICS order: :func:`query_values`
    (the last of its 6 the mid-rank) then :func:`dose_identity_values`."""
    return np.hstack([query_values(counts, n_candidates=n_candidates), dose_identity_values(counts)])


def all_pessimistic(counts: RankCounts, *, n_candidates: int) -> np.ndarray:
    """(n_queries, 9) the ties-against values in METRICS order (:func:`pessimistic_values`, :func:`dose_identity_pessimistic`)."""
    return np.hstack([pessimistic_values(counts, n_candidates=n_candidates), dose_identity_pessimistic(counts)])


def all_chance(n_doses: np.ndarray, n_level: np.ndarray, *, n_candidates: int) -> np.ndarray:
    """(n_queries, 9) chance levels in METRICS order: the fair values of a full tie
    (:func:`chance_values`, :func:`dose_identity_chance`); a constant embedding scores exactly this."""
    return np.hstack([chance_values(np.asarray(n_doses), n_candidates=n_candidates), dose_identity_chance(n_doses, n_level)])
