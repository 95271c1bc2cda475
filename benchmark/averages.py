"""Micro and macro averages of the per-query values over a subset's groups, and the molecule bootstrap.

Averages: **micro** = mean over queries; **macro** = mean over molecules of each molecule's mean
(median rank: the tie-aware median of the pooled rank distribution, or, for point ranks, the median
over molecules of each molecule's median). Means are ratio estimates from per-molecule sums;
intervals: percentile bootstrap over molecules (:func:`bootstrap_weights`), every average
recomputed on each resample as a weighted sum (:func:`grouped_estimates`, :func:`macro_estimates`),
the medians by :mod:`pheno_bench.medians`; a cell's point estimate and bounds share one
preparation (:func:`point_and_bounds`). The per-query values are :mod:`pheno_bench.metrics`'.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from pheno_bench.medians import cached, on_rows, weighted_medians
from pheno_bench.metrics import CI_LEVEL, RANK_COLUMN

#: molecule draws per block of :func:`bootstrap_weights` (8 MB of int64 at a time, not the whole table)
BOOTSTRAP_DRAWS = 1 << 20
#: groups per work item of :func:`_ratio_intervals`
INTERVAL_GROUPS = 32


def bootstrap_weights(n_molecules: int, *, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n_resamples, n_molecules) float64: row 0 all ones (the point estimate), then the
    multiplicity of each molecule in each resample of n_molecules drawn with replacement."""
    from pheno_bench import median_kernels as kernels

    out = np.zeros((1 + n_resamples, n_molecules))
    out[0] = 1.0
    step = max(1, BOOTSTRAP_DRAWS // max(n_molecules, 1))
    for start in range(0, n_resamples, step):  # a block of resamples at a time: the generator's
        rows = min(step, n_resamples - start)  # stream is consumed in the same order, so the same draws
        # (int32 draws are the same numbers as int64's: numpy draws bounds below 2**32 from 32 bits)
        draws = rng.integers(0, n_molecules, size=(rows, n_molecules), dtype=np.int32 if n_molecules <= 1 << 31 else np.int64)
        kernels.count_draws(draws, out[1 + start : 1 + start + rows])
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
    mass = None
    if macro:
        _, inverse, counts = _cells(group, molecule)
        mass = 1.0 / counts[inverse]
    return _tied_medians(_tied_items(rank, tied, mass), group, molecule, weights, extra)


def _cells(group: np.ndarray, molecule: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (group, molecule) cells present, coded group * width + molecule; each item's cell (index
    into them); each cell's number of items."""
    width = int(molecule.max(initial=0)) + 1
    cells, inverse = np.unique(group.astype(np.int64) * width + molecule, return_inverse=True)
    inverse = inverse.reshape(-1)
    return cells, inverse, np.bincount(inverse)


def _tied_items(rank: np.ndarray, tied: np.ndarray, mass: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(low, high, mass) of :func:`grouped_tied_median`'s uniform rank distributions: [rank - t/2,
    rank + t/2], each query's mass 1 (micro, None) or 1 / its molecule's queries in its group (macro)."""
    tied = np.asarray(tied, dtype=np.float64)
    rank = np.asarray(rank, dtype=np.float64)
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


def grouped_estimates(values: np.ndarray, molecule: np.ndarray, group: np.ndarray, weights: np.ndarray, *, tied: np.ndarray | None = None) -> np.ndarray:
    """(rows, n_groups, c) micro averages of every metric of every group under each row of molecule weights.

    values: (n, c), c >= 6, columns in METRICS order (:func:`all_values`; or the 6 of
    :func:`query_values`), column RANK_COLUMN the mid-rank; molecule, group: (n,), group codes
    0..n_groups-1 all present; weights: (rows, n_molecules), row 0 all ones for the plain estimate.
    Means are ratio estimates: weighted per-molecule sums over weighted per-molecule query counts (one
    matrix product for all groups and rows). The rank column is the lower median of the mid-ranks,
    or, given ``tied`` (n,) (each query's tied block t), the tie-aware median of
    :func:`grouped_tied_median`.
    """
    return _finish(_micro(values, molecule, group, weights.shape[1], tied), weights, False)


def point_and_bounds(
    average: str, values: np.ndarray, molecule: np.ndarray, group: np.ndarray, weights: np.ndarray, *, tied: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """((n_groups, c) the ``average`` ("micro" or "macro") estimate under weights[:1] alone, and
    (2, n_groups, c) its interval bounds over the resample rows weights[1:]).

    The estimate is :func:`grouped_estimates` / :func:`macro_estimates` of weights[:1] (the same
    single-row computation, bit for bit); the bounds are :func:`intervals` of their resample rows,
    value for value, computed without holding the (rows, n_groups, c) estimates; what does not
    depend on the weights (means, per-molecule sums, the medians' preparation) is computed once for both."""
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
    items = None if tied is None else _tied_items(rank, tied, None)

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


def macro_estimates(values: np.ndarray, molecule: np.ndarray, group: np.ndarray, weights: np.ndarray, *, tied: np.ndarray | None = None) -> np.ndarray:
    """(rows, n_groups, c) macro averages: each molecule's mean, then the weighted mean over the
    molecules of the group. The rank column: the lower median over molecules of each molecule's
    lower-median rank, or, given ``tied`` (n,), the tie-aware macro median of :func:`grouped_tied_median`."""
    return _finish(_macro(values, molecule, group, weights.shape[1], tied), weights, False)


def _macro(values: np.ndarray, molecule: np.ndarray, group: np.ndarray, n_molecules: int, tied: np.ndarray | None):
    """weights -> (totals, median) of :func:`macro_estimates`, with the weight-free work done here, once."""
    width = int(molecule.max(initial=0)) + 1
    cells, inverse, counts = _cells(group, molecule)
    columns = _means_of(values)
    means = np.column_stack([np.bincount(inverse, weights=columns[:, j]) for j in range(columns.shape[1])]) / counts[:, None]
    if tied is None:  # each molecule's lower-median rank, then the micro estimates over the molecules
        order = np.lexsort((values[:, RANK_COLUMN], inverse))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        medians = values[order, RANK_COLUMN][starts + (counts - 1) // 2]
        return _micro(_with_rank(means[None], medians[None])[0], cells % width, cells // width, n_molecules, None)
    sums = _pair_sums(np.column_stack([means, np.ones(len(means))]), cells % width, cells // width, n_molecules)
    items = _tied_items(values[:, RANK_COLUMN], tied, 1.0 / counts[inverse])  # the macro mass, from these cells

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


def intervals(samples: np.ndarray, level: float = CI_LEVEL) -> np.ndarray:
    """(2, ...) percentile interval at ``level`` over axis 0 of bootstrap samples (numpy's linear
    quantile); resamples where a subset drew no molecule (NaN) are dropped; none left: NaN."""
    if len(samples) == 0:
        return np.full((2, *samples.shape[1:]), np.nan)
    valid = (~np.isnan(samples)).sum(axis=0)
    last = np.maximum(valid - 1, 0)
    ordered = samples.copy()
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
