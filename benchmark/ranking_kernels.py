"""Compiled loops (numba) of the fused counting pass of :mod:`pheno_bench.ranking`.

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


@njit(**_JIT)
def group_sums(x, group, weight, out):
    """out[group[i]] += weight[i] * x[i] (float64), rows i in order: the same operations, in the same
    order, as the sparse product ``membership @ x.astype(float64)`` with one entry per row (scipy's
    CSR kernel adds ``a * x[j]`` entry by entry), without the float64 copy of x."""
    n, dim = x.shape
    for i in range(n):
        g = group[i]
        w = weight[i]
        for d in range(dim):
            out[g, d] += w * np.float64(x[i, d])
