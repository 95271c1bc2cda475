"""Compiled inner loops of the scorer (numba): the fused counting pass of :mod:`pheno_bench.ranking`.

Every function here is serial, releases the GIL (``nogil``) and is compiled once per machine:
``cache=True`` keeps the machine code in numba's cache (next to this file, or in the user's cache
folder when the package folder is read-only), so a fresh process loads it in well under a second
instead of compiling it again. Parallelism is the caller's: independent blocks of queries run in
a few Python threads, each doing its own single-threaded matrix product and then these loops on
the product while it is still in that core's cache (no barrier per block, so a busy machine
does not stall one core waiting for the other).

Accumulator columns of the counting pass (one int64 row per query, see :data:`ACC`):
``gt`` candidates whose float32 score is certainly above the true candidate, ``above`` / ``tied``
band candidates found above / tied in float64, the same three against the best dose of the true
molecule (``m_``) and against the candidates at the true candidate's dose level (``l_``),
``rescored`` band candidates rescored so far, ``dense`` 1 when the band is too wide (the caller
rescores the whole row with one float64 matrix product).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ACC = ("gt", "above", "tied", "m_gt", "m_above", "m_tied", "l_gt", "l_above", "l_tied", "rescored", "dense")
GT, ABOVE, TIED, M_GT, M_ABOVE, M_TIED, L_GT, L_ABOVE, L_TIED, RESCORED, DENSE = range(len(ACC))

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_JIT)
def dot64(a, b):
    """a . b in float64 with a fixed summation order (8 interleaved partial sums): deterministic,
    whatever the thread or block, and the same value wherever the same pair is rescored."""
    n = a.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    k = 0
    while k + 8 <= n:
        s0 += a[k] * b[k]
        s1 += a[k + 1] * b[k + 1]
        s2 += a[k + 2] * b[k + 2]
        s3 += a[k + 3] * b[k + 3]
        s4 += a[k + 4] * b[k + 4]
        s5 += a[k + 5] * b[k + 5]
        s6 += a[k + 6] * b[k + 6]
        s7 += a[k + 7] * b[k + 7]
        k += 8
    while k < n:
        s0 += a[k] * b[k]
        k += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(**_JIT)
def f32_below(x):
    """The largest float32 <= x: for any float32 s, s > x exactly when s > f32_below(x)."""
    f = np.float32(x)
    if np.float64(f) > x:
        f = np.nextafter(f, np.float32(-np.inf))
    return f


@njit(**_JIT)
def f32_above(x):
    """The smallest float32 >= x: for any float32 s, s >= x exactly when s >= f32_above(x)."""
    f = np.float32(x)
    if np.float64(f) < x:
        f = np.nextafter(f, np.float32(np.inf))
    return f


@njit(**_JIT)
def prepare(q64, c64, true_col, own, c_max, gamma, tie_rtol, ref, tol, thresholds, own64, small):
    """Per query of a block, before the pass: the exact float64 references and the float32 thresholds.

    q64 (b, dim) scaled queries; c64 (n, dim) scaled candidates (the pass's column order);
    true_col (b,); own (b, max_doses) columns of the true molecule's candidates, -1 padded.
    The band around each float64 reference is err32 + tol + 3 err64 (``gamma`` and gamma64 times
    ||q|| max ||c||): a candidate whose float32 score is beyond it would be decided the same way by
    its float64 score (see pheno_bench.ranking).
    Writes ref (b, 2) [true score, best own-dose score], tol (b,), thresholds (b, 4) float32
    [true hi, true lo, best hi, best lo] (best ones +inf when no own dose is strictly above the
    true one: nothing passes them), own64 (b, max_doses) own-dose scores, small (b, 3) int64
    [own doses tied with the molecule reference, own doses strictly above the true one, own doses
    tied with the true one (itself included)].
    """
    n = q64.shape[1] + 2
    gamma64 = n * 2.0**-53 / (1.0 - n * 2.0**-53)  # float64 dot products of length dim, and the norm
    for i in range(q64.shape[0]):
        q = q64[i]
        scale = np.sqrt(dot64(q, q)) * c_max
        t = tie_rtol * scale
        band = (gamma + 3.0 * gamma64) * scale + t + 1e-300
        true64 = dot64(q, c64[true_col[i]])
        best = true64
        for j in range(own.shape[1]):
            c = own[i, j]
            if c < 0:
                own64[i, j] = -np.inf
                continue
            v = true64 if c == true_col[i] else dot64(q, c64[c])
            own64[i, j] = v
            if v > best:
                best = v
        better = best > true64 + t  # another dose of the true molecule is strictly above it
        reference = best if better else true64
        own_tied = 0
        dose_above = 0
        dose_tied = 0
        for j in range(own.shape[1]):
            if own[i, j] < 0:
                continue
            v = own64[i, j]
            own_tied += abs(v - reference) <= t
            dose_above += v - true64 > t
            dose_tied += abs(v - true64) <= t
        ref[i, 0] = true64
        ref[i, 1] = best
        tol[i] = t
        thresholds[i, 0] = f32_below(true64 + band)
        thresholds[i, 1] = f32_above(true64 - band)
        thresholds[i, 2] = f32_below(best + band) if better else np.float32(np.inf)
        thresholds[i, 3] = f32_above(best - band) if better else np.float32(np.inf)
        small[i, 0] = own_tied
        small[i, 1] = dose_above
        small[i, 2] = dose_tied


@njit(**_JIT)
def _count(row, a, z, hi, lo):
    """Over the row: (# s > hi, # s >= lo, # s > hi among columns a..z-1), each score read once,
    branch-free, vectorised by the compiler (int32 lanes: a tile has far fewer than 2**31 columns)."""
    gt = np.int32(0)
    ge = np.int32(0)
    level = np.int32(0)
    for j in range(row.shape[0]):
        s = row[j]
        up = np.int32(s > hi)
        gt = np.int32(gt + up)
        ge = np.int32(ge + np.int32(s >= lo))
        level = np.int32(level + (up & np.int32((j >= a) & (j < z))))
    return np.int64(gt), np.int64(ge), np.int64(level)


@njit(**_JIT)
def _count_both(row, a, z, hi, lo, hi2, lo2):
    """:func:`_count`, and (# s > hi2, # s >= lo2) against the second reference, in the same pass."""
    gt = np.int32(0)
    ge = np.int32(0)
    level = np.int32(0)
    gt2 = np.int32(0)
    ge2 = np.int32(0)
    for j in range(row.shape[0]):
        s = row[j]
        up = np.int32(s > hi)
        gt = np.int32(gt + up)
        ge = np.int32(ge + np.int32(s >= lo))
        level = np.int32(level + (up & np.int32((j >= a) & (j < z))))
        gt2 = np.int32(gt2 + np.int32(s > hi2))
        ge2 = np.int32(ge2 + np.int32(s >= lo2))
    return np.int64(gt), np.int64(ge), np.int64(level), np.int64(gt2), np.int64(ge2)


@njit(**_JIT)
def count_tile(sims, c0, q64, c64, own, own64, ref, tol, thresholds, level_lo, level_hi, dense_band, acc):
    """One pass over a tile of float32 scores: sims (b, nc) are columns c0 .. c0+nc of the block's rows.

    Each score is read once for the counts (two comparisons per reference); a row's band (scores
    within the thresholds) is rescored in float64 only when it holds a candidate whose float64
    score is not known already (the true molecule's own doses are), and only up to ``dense_band``
    rescorings per row, after which the row is marked dense. level_lo, level_hi (b,): the columns of
    the true candidate's dose level. acc (b, len(ACC)) int64 accumulates across tiles.
    """
    nc = sims.shape[1]
    members = np.empty(nc, dtype=np.int64)
    for i in range(sims.shape[0]):
        if acc[i, DENSE]:
            continue
        row = sims[i]
        hi = thresholds[i, 0]
        lo = thresholds[i, 1]
        hi2 = thresholds[i, 2]
        lo2 = thresholds[i, 3]
        better = hi2 != np.float32(np.inf)
        a = min(max(level_lo[i] - c0, 0), nc)
        z = min(max(level_hi[i] - c0, a), nc)
        if better:
            gt, ge, lg, m_gt, m_ge = _count_both(row, a, z, hi, lo, hi2, lo2)
            m_band = m_ge - m_gt
        else:
            gt, ge, lg = _count(row, a, z, hi, lo)
            m_gt = 0
            m_band = 0
        band = ge - gt
        acc[i, GT] += gt
        acc[i, L_GT] += lg
        acc[i, M_GT] += m_gt
        if band == 0 and m_band == 0:
            continue
        # the band's members whose float64 score is known: the true molecule's own doses
        known = 0
        m_known = 0
        for k in range(own.shape[1]):
            c = own[i, k] - c0
            if c < 0 or c >= nc:
                continue
            s = row[c]
            known += (s >= lo) & (s <= hi)
            m_known += (s >= lo2) & (s <= hi2)
        if band == known and m_band == m_known:
            for k in range(own.shape[1]):
                c = own[i, k] - c0
                if c < 0 or c >= nc:
                    continue
                s = row[c]
                if s >= lo and s <= hi:
                    d = own64[i, k] - ref[i, 0]
                    up = d > tol[i]
                    tie = abs(d) <= tol[i]
                    acc[i, ABOVE] += up
                    acc[i, TIED] += tie
                    if c >= a and c < z:
                        acc[i, L_ABOVE] += up
                        acc[i, L_TIED] += tie
                if s >= lo2 and s <= hi2:
                    d = own64[i, k] - ref[i, 1]
                    acc[i, M_ABOVE] += d > tol[i]
                    acc[i, M_TIED] += abs(d) <= tol[i]
            continue
        unknown = (band - known) + (m_band - m_known)
        if acc[i, RESCORED] + unknown > dense_band:
            acc[i, DENSE] = 1
            continue
        acc[i, RESCORED] += unknown
        q = q64[i]
        found = 0
        for j0 in range(0, nc, 16):  # 16 scores at a time, branch-free, to find the band's few members
            j1 = min(j0 + 16, nc)
            hit = np.int32(0)
            for j in range(j0, j1):
                s = row[j]
                hit |= np.int32((s >= lo) & (s <= hi)) | np.int32((s >= lo2) & (s <= hi2))
            if hit == 0:
                continue
            for j in range(j0, j1):
                s = row[j]
                if ((s >= lo) & (s <= hi)) | ((s >= lo2) & (s <= hi2)):
                    members[found] = j
                    found += 1
        touch = 0.0
        for k in range(found):  # start every member's (uncached) float64 row loading at once
            touch += c64[c0 + members[k], 0]
        for k in range(found):
            j = members[k]
            s = row[j]
            in1 = (s >= lo) & (s <= hi)
            in2 = (s >= lo2) & (s <= hi2)
            v = dot64(q, c64[c0 + j]) + 0.0 * touch  # own doses get the very value prepare() computed
            if in1:
                d = v - ref[i, 0]
                up = d > tol[i]
                tie = abs(d) <= tol[i]
                acc[i, ABOVE] += up
                acc[i, TIED] += tie
                if j >= a and j < z:
                    acc[i, L_ABOVE] += up
                    acc[i, L_TIED] += tie
            if in2:
                d = v - ref[i, 1]
                acc[i, M_ABOVE] += d > tol[i]
                acc[i, M_TIED] += abs(d) <= tol[i]


# --- weighted medians of per-query rank distributions (pheno_bench.medians) -----------------------


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
