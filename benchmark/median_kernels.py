"""Compiled loops (numba) of the bootstrap medians and sums of :mod:`pheno_bench.medians`.

Serial, GIL-free and cached like :mod:`pheno_bench.ranking_kernels`; the caller runs chunks of
bootstrap rows in worker threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy")
#: sample size of :func:`_ranked_pairs`'s thresholds
PAIR_SAMPLE = 64


@njit(**_JIT)
def segment_cumsum(values, starts, lengths):
    """In place: a running sum along each segment values[starts[i] : starts[i] + lengths[i]]."""
    for i in range(starts.shape[0]):
        total = 0.0
        for j in range(starts[i], starts[i] + lengths[i]):
            total += values[j]
            values[j] = total


@njit(**_JIT)
def weighted_medians(
    weights, rows, tied_rule, block_start, dense_cdf, column_start, pair_start, pair_molecule, pair_mass, gval_start, gval,
    check_start, check_x, check_event, straddle_start, straddle_molecule, straddle_slope, straddle_count, event_start,
    event_x, event_molecule, event_jump, event_slope, event_count, single, out,
):
    """Median of each group's weighted mixture, for the weight rows ``rows`` (see pheno_bench.medians).

    For row r and group g: F(x) = sum over items of weight[molecule] * mass * phi(x), H = F(inf) / 2.
    Lower rule (``tied_rule`` False, point masses): the smallest x with F(x) >= H. Tied rule
    (uniform densities): the middle of {x: F(x) = H}; a group whose items all share one interval
    (single[g]) has its middle, exactly. F at the group's checkpoints and H come from one matrix
    product (dense_cdf[ri, column_start[g] + k] for the ri-th of ``rows``, the total last) when there are few columns, else
    from the pairs' CDFs there (gval) summed here; the scan starts after the last checkpoint below
    H (less a relative 1e-9) with the intervals open there (``straddle_*``) and walks the events
    (merged per position and pair) to the crossing. Groups come in blocks (block_start) small
    enough to stay in cache while every row visits them.
    """
    f = np.empty(max(1, np.diff(check_start).max()))
    dense = dense_cdf.shape[1] > 0
    for b in range(block_start.shape[0] - 1):
        for ri in range(rows.shape[0]):
            wr = weights[rows[ri]]
            for g in range(block_start[b], block_start[b + 1]):
                k0 = check_start[g]
                kg = check_start[g + 1] - k0
                if dense:
                    for k in range(kg):
                        f[k] = dense_cdf[ri, column_start[g] + k]
                    total = dense_cdf[ri, column_start[g] + kg]
                else:
                    for k in range(kg):
                        f[k] = 0.0
                    total = 0.0
                    for p in range(pair_start[g], pair_start[g + 1]):
                        w = wr[pair_molecule[p]]
                        total += w * pair_mass[p]
                        base = gval_start[g] + (p - pair_start[g]) * kg
                        for k in range(kg):
                            f[k] += w * gval[base + k]
                if not total > 0.0:
                    out[ri, g] = np.nan
                    continue
                if single[g]:  # a mixture of one uniform distribution is that distribution
                    e = event_start[g]
                    out[ri, g] = (event_x[e] + event_x[event_start[g + 1] - 1]) / 2.0
                    continue
                half = total / 2.0
                below = half * (1.0 - 1e-9)
                s = -1  # the checkpoint the scan starts after (-1: before the group's first event)
                for k in range(kg):
                    if f[k] >= below:
                        break
                    s = k
                value = 0.0  # F at x_prev
                slope = 0.0  # weighted slope and count of the open intervals
                count = 0.0
                if s < 0:
                    e = event_start[g]
                    x_prev = event_x[e]  # F = 0 up to the first event
                else:
                    x_prev = check_x[k0 + s]
                    value = f[s]
                    for j in range(straddle_start[k0 + s], straddle_start[k0 + s + 1]):
                        w = wr[straddle_molecule[j]]
                        slope += w * straddle_slope[j]
                        count += w * straddle_count[j]
                    e = check_event[k0 + s]
                end = event_start[g + 1]
                tolerance = 1e-9 * half
                result = np.nan
                # fast walk while F stays clearly below H, one event at a time (events at one position
                # see no gap); the lower rule is decided here, exactly
                if tied_rule:
                    while e < end:
                        x = event_x[e]
                        at_x = value + slope * (x - x_prev)
                        if at_x >= below:
                            break
                        w = wr[event_molecule[e]]
                        value = at_x
                        slope += w * event_slope[e]
                        count += w * event_count[e]
                        x_prev = x
                        e += 1
                else:
                    while e < end:
                        value += wr[event_molecule[e]] * event_jump[e]
                        if value >= half:
                            result = event_x[e]
                            break
                        e += 1
                if not tied_rule:
                    out[ri, g] = result
                    continue
                # careful walk near H (tied rule): solve inside the linear piece; where F is flat at H
                # (nothing with weight open), the median is the middle of the flat part
                flat = False
                flat_from = 0.0
                while True:
                    x = event_x[e] if e < end else np.inf
                    if count > 0.0:  # F rises on [x_prev, x]
                        if flat:
                            result = (flat_from + x_prev) / 2.0
                            break
                        at_x = value + slope * (x - x_prev) if e < end else np.inf
                        if at_x >= half:
                            cross = min(max(x_prev + (half - value) / slope, x_prev), x)
                            j = e  # is F flat at H right after x?
                            c_next = count
                            while j < end and event_x[j] == x:
                                c_next += wr[event_molecule[j]] * event_count[j]
                                j += 1
                            if j < end and c_next <= 0.0 and abs(at_x - half) <= tolerance:
                                flat = True
                                flat_from = cross
                            else:
                                result = cross
                                break
                        value = at_x
                    elif not flat and abs(value - half) <= tolerance:
                        flat = True
                        flat_from = x_prev
                    if e >= end:
                        break
                    while e < end and event_x[e] == x:  # the events at x
                        w = wr[event_molecule[e]]
                        slope += w * event_slope[e]
                        count += w * event_count[e]
                        e += 1
                    x_prev = x
                out[ri, g] = result


@njit(**_JIT)
def count_draws(draws, out):
    """out[r, m] += the number of times m occurs in draws[r] (the bootstrap's multiplicities)."""
    for r in range(draws.shape[0]):
        for m in draws[r]:
            out[r, m] += 1.0


@njit(**_JIT)
def dense_times_csr(weights, rows, indptr, indices, data, out):
    """out[i] = weights[rows[i]] @ M for the CSR matrix M (indptr, indices, data): molecules in order,
    as scipy sums them, without copying the weights into column-major order."""
    for i in range(rows.shape[0]):
        w = weights[rows[i]]
        o = out[i]
        for m in range(indptr.shape[0] - 1):
            x = w[m]
            if x != 0.0:
                for j in range(indptr[m], indptr[m + 1]):
                    o[indices[j]] += x * data[j]


@njit(**_JIT)
def ratio_intervals(totals, median, rank_column, q_low, q_high, groups, low, high):
    """Percentile bounds over the resample rows (1..) of every metric of the groups ``groups``.

    totals: (rows, n_groups * (c + 1)), each group's c weighted sums then its weighted count;
    median: (rows, n_groups). Metric j of group g (j in 0..c) is median[r, g] at ``rank_column``,
    else the ratio of its sum over the count (the same IEEE division numpy does). As
    :func:`pheno_bench.averages.intervals` over those values, value for value: NaN resamples
    dropped; with ``last`` = valid - 1, the bound at quantile q is ordered[b] + (p - b) *
    (ordered[min(b + 1, last)] - ordered[b]), p = last * q, b = floor(p); NaN when none is valid.
    ``groups`` should be consecutive: their values in a row are adjacent, and each row is read
    once for all of them. Writes low[g, j], high[g, j] (n_groups, c + 1)."""
    rows = totals.shape[0]
    width = low.shape[1]
    c = width - 1
    n_block = groups.shape[0]
    buffer = np.empty((n_block, width, max(rows - 1, 1)))
    scratch = np.empty(max(rows - 1, 1))
    scratch_high = np.empty(max(rows - 1, 1))
    sample = np.empty(PAIR_SAMPLE)
    nan = np.zeros((n_block, width), np.int64)
    for r0 in range(1, rows, 64):  # tiles of 64 rows: the block's groups are adjacent in a row
        r1 = min(r0 + 64, rows)
        for i in range(n_block):
            g = groups[i]
            base = g * width
            for j in range(width):
                out = buffer[i, j]
                missing = 0
                if j == rank_column:
                    for r in range(r0, r1):
                        v = median[r, g]
                        out[r - 1] = v
                        missing += np.isnan(v)
                else:
                    jj = j if j < rank_column else j - 1
                    for r in range(r0, r1):
                        v = totals[r, base + jj] / totals[r, base + c]
                        out[r - 1] = v
                        missing += np.isnan(v)
                nan[i, j] += missing
    for i in range(n_block):
        g = groups[i]
        for j in range(width):
            values = buffer[i, j]
            n = rows - 1
            if nan[i, j]:  # NaN (a resample without the group's molecules) dropped, the order kept
                n = 0
                for r in range(rows - 1):
                    if not np.isnan(values[r]):
                        values[n] = values[r]
                        n += 1
            if n == 0:
                low[g, j] = np.nan
                high[g, j] = np.nan
                continue
            low[g, j], high[g, j] = _quantiles(values, n, q_low, q_high, scratch, scratch_high, sample)


@njit(**_JIT)
def _quantiles(a, n, q_low, q_high, scratch, scratch_high, sample):
    """numpy's linear quantiles q_low and q_high of a[:n] (no NaN), each x_b + (p - b) * (x_b' - x_b),
    p = (n - 1) q, b = floor(p), b' = min(b + 1, n - 1), x_k the value of rank k (0-based). a is
    not modified; scratch, scratch_high: (n,), sample: (PAIR_SAMPLE,) float64 workspaces.

    Each quantile needs two neighbouring ranks, taken from the nearer end: near the bottom, ranks of
    a; near the top, ranks of -a (negation is exact). Both are found in one pass (:func:`_ranked_pairs`)."""
    last = n - 1
    position_low, position_high = last * q_low, last * q_high
    below_low, below_high = np.int64(np.floor(position_low)), np.int64(np.floor(position_high))
    above_low, above_high = min(below_low + 1, last), min(below_high + 1, last)
    top_low, top_high = below_low > last - above_low, below_high > last - above_high
    k_low = last - above_low if top_low else below_low
    k_high = last - above_high if top_high else below_high
    first_low, second_low, first_high, second_high = _ranked_pairs(
        a, n, k_low, -1.0 if top_low else 1.0, k_high, -1.0 if top_high else 1.0, scratch, scratch_high, sample
    )
    return (
        _interpolated(first_low, second_low, top_low, below_low, above_low, position_low),
        _interpolated(first_high, second_high, top_high, below_high, above_high, position_high),
    )


@njit(**_JIT)
def _interpolated(first, second, top, below, above, position):
    """The bound from the ranks k and k + 1 found on its side (see :func:`_quantiles`)."""
    if top:  # ranks last - above and last - below of -a: -x_above and -x_below
        lower, upper = -second, -first
        if above == below:  # q = 1: the largest value alone
            lower = upper
    else:
        lower, upper = first, second
    return lower + (position - below) * (upper - lower)


@njit(**_JIT)
def _ranked_pairs(a, n, k1, sign1, k2, sign2, scratch1, scratch2, sample):
    """The values of ranks k and min(k + 1, n - 1) of sign * a[:n], for (k1, sign1) and (k2, sign2).
    The values no larger than a threshold taken from an evenly spaced sample are gathered, for both
    requests in one branch-free pass, and sorted (for the tails of a bootstrap, a few dozen); a
    request that this misses takes a quickselect of all n."""
    need1, need2 = min(k1 + 1, n - 1) + 1, min(k2 + 1, n - 1) + 1
    m1 = m2 = 0
    if n > 4 * PAIR_SAMPLE:
        for i in range(PAIR_SAMPLE):
            sample[i] = a[i * n // PAIR_SAMPLE]
        sample.sort()
        threshold1 = _threshold(sample, need1, n, sign1)
        threshold2 = _threshold(sample, need2, n, sign2)
        for i in range(n):
            v1 = sign1 * a[i]
            v2 = sign2 * a[i]
            scratch1[m1] = v1
            scratch2[m2] = v2
            m1 += v1 <= threshold1
            m2 += v2 <= threshold2
    first1, second1 = _pair_of(a, n, k1, need1, sign1, scratch1, m1)
    first2, second2 = _pair_of(a, n, k2, need2, sign2, scratch2, m2)
    return first1, second1, first2, second2


@njit(**_JIT)
def _threshold(ordered_sample, need, n, sign):
    """The gathering threshold of a request, on the sign * a scale: the sample's value of rank
    need * PAIR_SAMPLE / n + 3 (a margin), counted from the request's end of the sorted sample of a."""
    index = min(PAIR_SAMPLE - 1, need * PAIR_SAMPLE // n + 3)
    return ordered_sample[index] if sign > 0 else -ordered_sample[PAIR_SAMPLE - 1 - index]


@njit(**_JIT)
def _pair_of(a, n, k, need, sign, scratch, m):
    """Ranks k and need - 1 of sign * a[:n] from the m gathered values in scratch when they hold
    them (need <= m, and few enough to sort), else by a quickselect of all n (scratch overwritten)."""
    if need <= m <= 8 * PAIR_SAMPLE:  # the m smallest values, and at least the `need` smallest
        scratch[:m].sort()
        return scratch[k], scratch[need - 1]
    for i in range(n):
        scratch[i] = sign * a[i]
    _select(scratch, 0, n, k)
    upper = scratch[k]
    if need - 1 > k:  # the next rank: the smallest of what lies after it
        upper = scratch[k + 1]
        for i in range(k + 2, n):
            if scratch[i] < upper:
                upper = scratch[i]
    return scratch[k], upper


@njit(**_JIT)
def _select(a, lo, hi, k):
    """In place (quickselect, median-of-three pivot): a[k] becomes the value of rank k of a[lo:hi]
    (lo <= k < hi), the values before it no larger, those after it no smaller."""
    hi -= 1
    while hi > lo:
        mid = (lo + hi) >> 1
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while pivot < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return
