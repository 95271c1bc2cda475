"""Metric values per query (fair ties), their micro and macro averages, and the molecule bootstrap.

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

Averages: **micro** = mean over queries; **macro** = mean over molecules of each molecule's mean
(median rank: median over molecules of each molecule's median). Intervals: percentile bootstrap
over molecules (:func:`bootstrap_weights`), every average recomputed on each resample.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.special import gammaln

from pheno_bench.medians import cached, on_rows, weighted_medians
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
N_VALUES = len(METRICS)
#: molecule draws per block of :func:`bootstrap_weights` (8 MB of int64 at a time, not the whole table)
BOOTSTRAP_DRAWS = 1 << 20
#: groups per work item of :func:`_ratio_intervals`
INTERVAL_GROUPS = 32  # columns of a values matrix: the 5 retrieval means, the rank, the 3 dose/identity means


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


def bootstrap_weights(n_molecules: int, *, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n_resamples, n_molecules) float64: row 0 all ones (the point estimate), then the
    multiplicity of each molecule in each resample of n_molecules drawn with replacement."""
    out = np.empty((1 + n_resamples, n_molecules))
    out[0] = 1.0
    step = max(1, BOOTSTRAP_DRAWS // max(n_molecules, 1))
    for start in range(0, n_resamples, step):  # a block of resamples at a time: the generator's
        rows = min(step, n_resamples - start)  # stream is consumed in the same order, so the same draws
        draws = rng.integers(0, n_molecules, size=(rows, n_molecules))
        draws += np.arange(rows)[:, None] * n_molecules
        out[1 + start : 1 + start + rows] = np.bincount(draws.ravel(), minlength=rows * n_molecules).reshape(rows, n_molecules)
    return out


def _pair_sums(columns: np.ndarray, molecule: np.ndarray, group: np.ndarray, n_molecules: int) -> sparse.csr_matrix:
    """(n_molecules, n_groups * c) per (molecule, group) sums of the c columns of ``columns`` (n, c):
    one entry per pair and column, so weights @ it is every group's weighted sums."""
    return cached(_pair_sums_of, np.ascontiguousarray(columns, dtype=np.float64), np.asarray(molecule, dtype=np.int64), np.asarray(group, dtype=np.int64), int(n_molecules))


def _pair_sums_of(columns: np.ndarray, molecule: np.ndarray, group: np.ndarray, n_molecules: int) -> sparse.csr_matrix:
    n_groups, c = int(group.max()) + 1, columns.shape[1]
    pairs, pair_of = np.unique(group.astype(np.int64) * n_molecules + molecule, return_inverse=True)
    pair_of = pair_of.reshape(-1)
    sums = np.column_stack([np.bincount(pair_of, weights=columns[:, j], minlength=pairs.size) for j in range(c)])
    return sparse.csr_matrix(
        (sums.ravel(), (np.repeat(pairs % n_molecules, c), ((pairs // n_molecules)[:, None] * c + np.arange(c)).ravel())), shape=(n_molecules, n_groups * c)
    )


def grouped_lower_median(values: np.ndarray, group: np.ndarray, molecule: np.ndarray, weights: np.ndarray, *, extra=None):
    """Lower median of ``values`` in each group, under each row of molecule weights.

    values, group, molecule: (n,); group codes 0..n_groups-1, each present; molecule codes index the
    columns of weights (rows, n_molecules); a value counts with its molecule's weight.
    Returns (rows, n_groups): the smallest v with weight(values <= v) >= half the group's weight
    (NaN where that weight is zero); see :func:`pheno_bench.medians.weighted_medians` (rule "lower").
    """
    return weighted_medians(values, values, group, molecule, weights, rule="lower", n_groups=int(group.max()) + 1, extra=extra)


def grouped_tied_median(rank: np.ndarray, tied: np.ndarray, group: np.ndarray, molecule: np.ndarray, weights: np.ndarray, *, macro: bool = False, extra=None):
    """(rows, n_groups) tie-aware median rank of each group under each row of molecule weights.

    rank: (n,) fair mid-ranks a + (t + 1) / 2; tied: (n,) t, the candidates tied with the true one
    (itself included); group, molecule: (n,) as in :func:`grouped_lower_median`. Each query's rank
    is uniform over its tied block, taken continuous: a density 1/t on [a + 1/2, a + t + 1/2]
    (so an untied rank r is the unit interval around r). The median is where the weighted mixture's
    CDF reaches one half (the middle of the stretch where it stays there, if it is flat there).

    micro (``macro=False``): every query weighs its molecule's weight. macro: each molecule's
    queries in the group are first mixed into one distribution (each 1 / its number of queries
    there), and the molecules' distributions are mixed with the molecules' weights: the median of
    the pooled rank distribution of an average molecule.

    A constant embedding (t = n for every query) gets (n + 1) / 2 exactly, like the chance level computed
    by this same function; a query-blind file that ties blocks of candidates gets chance too
    (the pooled distribution of a block-tied ranking is uniform over 1..n), where the median of
    mid-ranks could be gamed below chance.
    """
    low, high, mass = _tied_items(rank, tied, group, molecule, macro)
    return weighted_medians(low, high, group, molecule, weights, mass=mass, rule="tied", n_groups=int(group.max()) + 1, extra=extra)


def _tied_items(rank: np.ndarray, tied: np.ndarray, group: np.ndarray, molecule: np.ndarray, macro: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(low, high, mass) of :func:`grouped_tied_median`'s uniform rank distributions: [rank - t/2,
    rank + t/2], each query's mass 1 (micro, None) or 1 / its molecule's queries in its group (macro)."""
    tied = np.asarray(tied, dtype=np.float64)
    rank = np.asarray(rank, dtype=np.float64)
    mass = None
    if macro:
        width = int(molecule.max(initial=0)) + 1
        cells, cell_of = np.unique(group.astype(np.int64) * width + molecule, return_inverse=True)
        mass = 1.0 / np.bincount(cell_of.reshape(-1))[cell_of.reshape(-1)]
    return rank - tied / 2, rank + tied / 2, mass


def _tied_medians(items: tuple, group: np.ndarray, molecule: np.ndarray, weights: np.ndarray, extra):
    """:func:`grouped_tied_median` of the items :func:`_tied_items` made."""
    low, high, mass = items
    return weighted_medians(low, high, group, molecule, weights, mass=mass, rule="tied", n_groups=int(group.max()) + 1, extra=extra)


def _means_of(values: np.ndarray) -> np.ndarray:
    """(n, c - 1) every column of ``values`` (n, c) but the rank's (RANK_COLUMN)."""
    return np.delete(values, RANK_COLUMN, axis=1)


def _with_rank(means: np.ndarray, median: np.ndarray) -> np.ndarray:
    """(rows, groups, c) the mean columns (rows, groups, c - 1) with the median put back at RANK_COLUMN."""
    return np.concatenate([means[..., :RANK_COLUMN], median[..., None], means[..., RANK_COLUMN:]], axis=2)


def grouped_estimates(
    values: np.ndarray, molecule: np.ndarray, group: np.ndarray, weights: np.ndarray, *, tied: np.ndarray | None = None, bounds: bool = False
) -> np.ndarray:
    """(rows, n_groups, c) micro averages of every metric of every group under each row of molecule weights.

    values: (n, c), c >= 6, columns in METRICS order (:func:`all_values`; or the 6 of
    :func:`query_values`), column RANK_COLUMN the mid-rank; molecule, group: (n,), group codes
    0..n_groups-1 all present; weights: (rows, n_molecules), row 0 all ones for the plain estimate.
    Means are ratio estimates: weighted per-molecule sums over weighted per-molecule query counts (one
    matrix product for all groups and rows). The rank column is the lower median of the mid-ranks,
    or, given ``tied`` (n,) (each query's tied block t), the tie-aware median of
    :func:`grouped_tied_median`.

    bounds: instead, (2, n_groups, c) the low and high bounds of the percentile interval of each
    estimate over the resample rows 1.. (:func:`intervals` of them, value for value), without
    holding the (rows, n_groups, c) estimates.
    """
    return _finish(_micro(values, molecule, group, weights.shape[1], tied), weights, bounds)


def point_and_bounds(
    average: str, values: np.ndarray, molecule: np.ndarray, group: np.ndarray, weights: np.ndarray, *, tied: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """((n_groups, c) the ``average`` ("micro" or "macro") estimate under weights[:1] alone, and
    (2, n_groups, c) its interval bounds over the resample rows weights[1:]).

    The estimate is :func:`grouped_estimates` / :func:`macro_estimates` of weights[:1] (the same
    single-row computation, bit for bit), the bounds theirs with ``bounds=True`` of weights;
    what does not depend on the weights (means, per-molecule sums, the medians' preparation) is
    computed once for both."""
    evaluate = (_micro if average == "micro" else _macro)(values, molecule, group, weights.shape[1], tied)
    return _finish(evaluate, weights[:1], False)[0], _finish(evaluate, weights, True)


def _finish(evaluate, weights: np.ndarray, bounds: bool) -> np.ndarray:
    totals, median = evaluate(weights)
    return _ratio_intervals(totals, median) if bounds else _ratios_with_rank(totals, median)


def _micro(values: np.ndarray, molecule: np.ndarray, group: np.ndarray, n_molecules: int, tied: np.ndarray | None):
    """weights -> (totals, median) of :func:`grouped_estimates`, with the weight-free work done here, once."""
    means = _means_of(values)
    sums = _pair_sums(np.column_stack([means, np.ones(len(values))]), molecule, group, n_molecules)
    rank = values[:, RANK_COLUMN]
    items = None if tied is None else _tied_items(rank, tied, group, molecule, False)

    def evaluate(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if items is None:
            median, totals = grouped_lower_median(rank, group, molecule, weights, extra=sums)
        else:  # grouped_tied_median, its items made once for every set of weights
            median, totals = _tied_medians(items, group, molecule, weights, sums)
        return totals, median

    return evaluate


def _ratios_with_rank(totals: np.ndarray, median: np.ndarray) -> np.ndarray:
    """(rows, n_groups, c + 1) the weighted sums of the c mean columns over the weighted query counts
    (totals: (rows, n_groups * (c + 1)), each group's c sums then its count), with ``median`` (rows,
    n_groups) at RANK_COLUMN: written into one array (at 1,000 resamples of 400 scaffold groups
    each intermediate copy would be another 30 MB)."""
    rows, n_groups = median.shape
    totals = totals.reshape(rows, n_groups, -1)
    c = totals.shape[2] - 1
    out = np.empty((rows, n_groups, c + 1))
    count = totals[..., c:]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(totals[..., :RANK_COLUMN], count, out=out[..., :RANK_COLUMN])
        np.divide(totals[..., RANK_COLUMN:c], count, out=out[..., RANK_COLUMN + 1 :])
    out[..., RANK_COLUMN] = median
    return out


def macro_estimates(
    values: np.ndarray, molecule: np.ndarray, group: np.ndarray, weights: np.ndarray, *, tied: np.ndarray | None = None, bounds: bool = False
) -> np.ndarray:
    """(rows, n_groups, c) macro averages: each molecule's mean, then the weighted mean over the
    molecules of the group. The rank column: the lower median over molecules of each molecule's
    lower-median rank, or, given ``tied`` (n,), the tie-aware macro median of :func:`grouped_tied_median`.
    bounds: their interval bounds instead, as in :func:`grouped_estimates`."""
    return _finish(_macro(values, molecule, group, weights.shape[1], tied), weights, bounds)


def _macro(values: np.ndarray, molecule: np.ndarray, group: np.ndarray, n_molecules: int, tied: np.ndarray | None):
    """weights -> (totals, median) of :func:`macro_estimates`, with the weight-free work done here, once."""
    width = int(molecule.max(initial=0)) + 1
    cells, inverse = np.unique(group.astype(np.int64) * width + molecule, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse)
    columns = _means_of(values)
    means = np.column_stack([np.bincount(inverse, weights=columns[:, j]) for j in range(columns.shape[1])]) / counts[:, None]
    if tied is None:  # each molecule's lower-median rank, then the micro estimates over the molecules
        order = np.lexsort((values[:, RANK_COLUMN], inverse))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        medians = values[order, RANK_COLUMN][starts + (counts - 1) // 2]
        return _micro(_with_rank(means[None], medians[None])[0], cells % width, cells // width, n_molecules, None)
    sums = _pair_sums(np.column_stack([means, np.ones(len(means))]), cells % width, cells // width, n_molecules)
    items = _tied_items(values[:, RANK_COLUMN], tied, group, molecule, True)

    def evaluate(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # grouped_tied_median(..., macro=True)
        median, totals = _tied_medians(items, group, molecule, weights, sums)
        return totals, median

    return evaluate


def _ratio_intervals(totals: np.ndarray, median: np.ndarray, level: float = CI_LEVEL) -> np.ndarray:
    """(2, n_groups, c + 1) :func:`intervals` over the resample rows (1..) of
    :func:`_ratios_with_rank`'s estimates, computed group by group (each metric's ratios
    gathered, its order statistics selected) in the worker threads, never materialised."""
    from pheno_bench import median_kernels as kernels

    rows, n_groups = median.shape
    width = totals.shape[1] // n_groups
    totals, median = np.ascontiguousarray(totals, dtype=np.float64), np.ascontiguousarray(median, dtype=np.float64)
    low, high = np.empty((n_groups, width)), np.empty((n_groups, width))
    quantiles = ((1 - level) / 2, (1 + level) / 2)
    on_rows(lambda groups: kernels.ratio_intervals(totals, median, RANK_COLUMN, *quantiles, groups, low, high), n_groups, chunk=INTERVAL_GROUPS)
    return np.stack([low, high])


def intervals(samples: np.ndarray, level: float = CI_LEVEL, *, overwrite: bool = False) -> np.ndarray:
    """(2, ...) percentile interval at ``level`` over axis 0 of bootstrap samples (numpy's linear
    quantile); resamples where a subset drew no molecule (NaN) are dropped; none left: NaN.
    overwrite: reorder ``samples`` in place along axis 0 instead of copying it (same bounds)."""
    if len(samples) == 0:
        return np.full((2, *samples.shape[1:]), np.nan)
    valid = (~np.isnan(samples)).sum(axis=0)
    last = np.maximum(valid - 1, 0)
    ordered = samples if overwrite else samples.copy()
    if (valid == len(samples)).all():  # the usual case: only the order statistics needed are placed
        ranks = [int(np.floor((len(samples) - 1) * q)) for q in ((1 - level) / 2, (1 + level) / 2)]
        ordered.partition(sorted({k for r in ranks for k in (r, min(r + 1, len(samples) - 1))}), axis=0)
    else:
        ordered.sort(axis=0)  # NaN last
    bounds = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        position = last * q
        below = np.floor(position).astype(np.int64)
        lower = np.take_along_axis(ordered, below[None], axis=0)[0]
        upper = np.take_along_axis(ordered, np.minimum(below + 1, last)[None], axis=0)[0]
        bounds.append(np.where(valid > 0, lower + (position - below) * (upper - lower), np.nan))
    return np.stack(bounds)
