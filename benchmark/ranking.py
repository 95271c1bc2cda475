"""Exact, scale-proof, fair retrieval ranks: where the true candidate lands among a split's candidates.

Three steps per block of queries:

1. **Rescale** (:func:`scale_factors`): under cosine every vector is divided by its norm computed
   in float64 after dividing by its largest absolute entry (so 1e-30 and 1e30 embeddings give the
   same unit vectors); under dot each query is divided by its largest absolute entry and all
   candidates by the largest entry of any candidate (positive factors: the ranking of every query
   is unchanged). Similarities are then bounded by the dimension and never overflow.
2. **Screen in float32**: a matrix product per tile of the block (rows x ``TILE_COLUMNS``
   candidates), any summation order. Its error on every score is bounded by
   ``err32 = gamma32(dim + 3) * ||q|| * max_c ||c||`` (``gamma(n) = n u / (1 - n u)``, u = 2^-24,
   rounding of the inputs to float32 included). The references are float64 scores computed before
   the pass (error at most ``err64 = gamma64(dim + 2) * ||q|| * max_c ||c||``, u = 2^-53): the true
   candidate's and, when another dose of the true molecule is strictly above it, that molecule's
   best dose. With ``band = err32 + tol + 3 err64``, a candidate whose float32 score is more than
   ``band`` above a reference has an exact score more than ``tol + 2 err64`` above the reference's,
   so its float64 score is more than ``tol`` above the float64 reference: it is above, and would be
   found above in float64 too; likewise below. The comparisons are made in float32 against the
   float32 thresholds nearest inside (largest float32 <= ref + band, smallest >= ref - band): for a
   float32 score they are the same comparisons as against the float64 thresholds, so the screen
   decides exactly what the float64 comparison would, never approximately. (Scorer 3.0 centred a
   band of 2 err32 + tol on the true candidate's float32 score; both bands leave every decision
   to the float64 rule, so the counts are the same.)
3. **Decide in float64**: only candidates inside the band are rescored in float64 (products of
   float32 numbers are exact in float64), one fixed-order dot product each; a row whose band
   holds more than ``DENSE_BAND`` such candidates (a constant embedding) is rescored whole with
   one float64 matrix product. Two scores are **tied** when they differ by at most
   ``tol = TIE_RTOL * ||q|| * max_c ||c||`` in float64 (TIE_RTOL = 1e-12: identical vectors, or vectors
   equal up to float rounding of a positive factor, tie; summation order moves float64 scores by
   about 1e-16). The counts therefore do not depend on BLAS, thread count, block or tile sizes, or
   summation order.

The counting pass (:mod:`pheno_bench.ranking_kernels`, compiled with numba) reads each float32 score once,
right after the product of its tile while the tile is still in cache, and counts the thresholds
branch-free; band positions are looked at only in rows whose band holds a candidate other than
the true molecule's own doses (whose float64 scores are already known).

Per query the result is a :class:`RankCounts`: ``above`` candidates strictly above the true one and
``tied`` tied with it (itself included); at the molecule level, relative to the best-scoring dose
of the true molecule, ``molecule_above`` candidates of other molecules strictly above,
``molecule_tied`` of other molecules tied with it and ``own_tied`` doses of the true molecule tied
with it (at least 1); among the true molecule's own doses, ``dose_above`` strictly above the true
candidate and ``dose_tied`` tied with it (itself included); among the ``n_level`` candidates at the
true candidate's dose level (``candidate_dose``), ``level_above`` strictly above it and
``level_tied`` tied with it. :mod:`pheno_bench.metrics` turns them into expected values under
uniformly random tie-breaking.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np

from pheno_bench.errors import PhenoBenchError

UNIT_ROUNDOFF = 2.0**-24  # float32
TIE_RTOL = 1e-12
#: rows whose band holds more candidates of unknown float64 score than this are rescored with one float64 row product
DENSE_BAND = 256
#: candidates per tile of the float32 product (a 512-row tile is 1 MB: it stays in the core's cache for the counting pass)
TILE_COLUMNS = 512
#: query rows per block (one worker's unit of work); fewer when ``memory_mb`` asks for less
BLOCK_ROWS = 512
#: rows per block when candidates and queries are rescaled (no temporary of every row)
SCALE_ROWS = 8192
#: worker threads: each runs its own single-threaded matrix products and counting passes on whole blocks
WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@dataclass
class RankCounts:
    """Exact tie-aware counts per query, all int64 (n_queries,).

    The first five are always present. The dose fields (``dose_above``, ``dose_tied``,
    ``n_doses``: the true molecule's candidates) and the dose-level fields (``level_above``,
    ``level_tied``, ``n_level``: candidates at the true candidate's dose level) are filled by
    :func:`retrieval_counts` (None when built by hand without them).
    """

    above: np.ndarray
    tied: np.ndarray
    molecule_above: np.ndarray
    molecule_tied: np.ndarray
    own_tied: np.ndarray
    dose_above: np.ndarray | None = None
    dose_tied: np.ndarray | None = None
    n_doses: np.ndarray | None = None
    level_above: np.ndarray | None = None
    level_tied: np.ndarray | None = None
    n_level: np.ndarray | None = None

    def take(self, index: np.ndarray) -> "RankCounts":
        return RankCounts(*(None if getattr(self, f.name) is None else getattr(self, f.name)[index] for f in fields(self)))


def scale_factors(x: np.ndarray, *, similarity: str, rows: bool) -> np.ndarray:
    """Positive float64 factors (n,) that make ``x * factors[:, None]`` safe to multiply.

    cosine: 1 / ||x_i|| computed without under- or overflow (rows and candidates alike).
    dot: 1 / max|x_i| per row (queries, ``rows=True``) or 1 / max|x| over all rows (candidates).
    Zero rows get factor 1 (they score 0 against everything: a full tie).
    """
    x = np.asarray(x)
    peak = np.zeros(len(x))
    if x.size:  # a block at a time: no |x| copy of every row (100 MB for 100k queries x 256)
        for start in range(0, len(x), SCALE_ROWS):
            peak[start : start + SCALE_ROWS] = np.abs(x[start : start + SCALE_ROWS]).max(axis=1)
    safe = np.where(peak > 0, peak, 1.0)
    if similarity == "cosine":
        norms = np.empty(len(x))
        for start in range(0, len(x), SCALE_ROWS):  # a block at a time; x / peak cannot overflow or underflow to 0
            block = x[start : start + SCALE_ROWS] / safe[start : start + SCALE_ROWS, None].astype(x.dtype)
            if not rows:  # candidates: exact norms (two vectors of one direction must tie in float64)
                block = block.astype(np.float64)
            norms[start : start + SCALE_ROWS] = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64)) * safe[start : start + SCALE_ROWS]
        factors = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
    elif rows:
        factors = 1.0 / safe
    else:
        top = peak.max(initial=0.0)
        factors = np.full(len(x), 1.0 / top if top > 0 else 1.0)
    if not np.isfinite(factors).all():  # 1 / (a float32 >= 1e-45) is always finite in float64
        raise PhenoBenchError("embeddings cannot be rescaled to finite similarities; check the submission's values")
    return factors


def _scaled(x: np.ndarray, factors: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """float64 x * factors[:, None] (rows x[order], factors[order] given ``order``), filled a block
    of rows at a time: no copy of x besides the result."""
    rows = np.arange(len(x)) if order is None else order
    out = np.empty((len(rows), x.shape[1]))
    for start in range(0, len(rows), SCALE_ROWS):
        part = rows[start : start + SCALE_ROWS]
        block = out[start : start + SCALE_ROWS]
        block[:] = x[part] if order is not None else x[start : start + SCALE_ROWS]
        block *= factors[part, None]
    if not np.isfinite(out).all():
        raise PhenoBenchError("similarities of these embeddings cannot be represented in float64; rescale the embeddings")
    return out


def _members(candidate_molecule: np.ndarray) -> np.ndarray:
    """(n_molecules, max_doses) candidate indices of each molecule, padded with -1."""
    order = np.argsort(candidate_molecule, kind="stable")
    codes = candidate_molecule[order]
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    members = np.full((counts.size, counts.max()), -1, dtype=np.int64)
    members[codes, np.arange(codes.size) - starts[codes]] = order
    return members



def _rescore_dense(q64: np.ndarray, c64: np.ndarray, ref: np.ndarray, tol: np.ndarray, level_lo: np.ndarray, level_hi: np.ndarray) -> np.ndarray:
    """(rows, 6) [above, tied, level above, level tied, best-dose above, best-dose tied] of rows
    whose band is too wide to rescore one by one: every candidate decided in float64 (one row product)."""
    out = np.empty((len(q64), 6), dtype=np.int64)
    columns = np.arange(len(c64))
    for start in range(0, len(q64), 64):
        part = slice(start, start + 64)
        full = q64[part] @ c64.T
        t = tol[part, None]
        d = full - ref[part, 0:1]
        up, tie = d > t, np.abs(d) <= t
        level = (columns >= level_lo[part, None]) & (columns < level_hi[part, None])
        d = full - ref[part, 1:2]
        out[part] = np.column_stack([up.sum(1), tie.sum(1), (up & level).sum(1), (tie & level).sum(1), (d > t).sum(1), (np.abs(d) <= t).sum(1)])
    return out


def retrieval_counts(
    queries: np.ndarray,
    candidates: np.ndarray,
    *,
    true_index: np.ndarray,
    candidate_molecule: np.ndarray,
    candidate_dose: np.ndarray | None = None,
    similarity: str = "cosine",
    memory_mb: float = 64,
) -> RankCounts:
    """Exact tie-aware counts of every query against every candidate (see the module docstring).

    queries: (n_queries, dim), candidates: (n_candidates, dim), any float dtype, finite, raw (the
    rescaling is done here); true_index: (n_queries,) row of each query's true candidate;
    candidate_molecule: (n_candidates,) molecule code of each candidate; candidate_dose:
    (n_candidates,) dose-level code (any sortable values) of each candidate, for the ``level_*``
    counts (None: one level, so they equal ``above`` and ``tied``).
    Memory: the float32 tiles of all workers stay within ``memory_mb`` (at most BLOCK_ROWS x
    TILE_COLUMNS floats each); besides them, a float64 and a float32 copy of the candidates.
    """
    from threadpoolctl import threadpool_limits

    from pheno_bench import ranking_kernels as kernels  # numba: compiled (or loaded from its cache) on first use

    n_queries, n = len(queries), len(candidates)
    dim = queries.shape[1]
    true_index = np.asarray(true_index, dtype=np.int64)
    candidate_molecule = np.asarray(candidate_molecule, dtype=np.int64)
    codes = np.zeros(n, dtype=np.int64) if candidate_dose is None else np.unique(np.asarray(candidate_dose), return_inverse=True)[1].reshape(-1)
    if codes.shape != (n,):
        raise PhenoBenchError(f"candidate_dose has {codes.size} entries for {n} candidates")
    # the pass's column order: candidates grouped by dose level, so a query's level is one column range
    order = np.argsort(codes, kind="stable")
    column = np.empty(n, dtype=np.int64)
    column[order] = np.arange(n)
    c64 = _scaled(candidates, scale_factors(candidates, similarity=similarity, rows=False), order)
    c_max = max((float(np.linalg.norm(c64[s : s + SCALE_ROWS], axis=1).max(initial=0.0)) for s in range(0, n, SCALE_ROWS)), default=0.0)
    sorted_codes = codes[order]
    true_code = codes[true_index]
    level_lo = np.searchsorted(sorted_codes, true_code, side="left").astype(np.int64)
    level_hi = np.searchsorted(sorted_codes, true_code, side="right").astype(np.int64)
    true_col = column[true_index]
    members = _members(candidate_molecule)
    members = np.where(members >= 0, column[np.maximum(members, 0)], -1)
    query_molecule = candidate_molecule[true_index]
    gamma = (dim + 3) * UNIT_ROUNDOFF / (1 - (dim + 3) * UNIT_ROUNDOFF)
    tile_columns = max(1, min(TILE_COLUMNS, n))
    tiles = [(c0, np.ascontiguousarray(c64[c0 : c0 + tile_columns].T.astype(np.float32))) for c0 in range(0, n, tile_columns)]
    workers = max(1, min(WORKERS, -(-n_queries // 64)))
    rows = max(1, min(BLOCK_ROWS, int(memory_mb * 2**20) // (4 * tile_columns * workers)))
    names = [f.name for f in fields(RankCounts)]
    out = {name: np.empty(n_queries, dtype=np.int64) for name in names}
    A = kernels  # accumulator column indices

    def run_block(start: int, buffer: np.ndarray) -> None:
        stop = min(start + rows, n_queries)
        b = stop - start
        q64 = _scaled(queries[start:stop], scale_factors(queries[start:stop], similarity=similarity, rows=True))  # per row: in the workers
        q32 = q64.astype(np.float32)
        own = members[query_molecule[start:stop]]
        ref, tol = np.empty((b, 2)), np.empty(b)
        thresholds, own64, small = np.empty((b, 4), dtype=np.float32), np.empty(own.shape), np.empty((b, 3), dtype=np.int64)
        kernels.prepare(q64, c64, true_col[start:stop], own, c_max, gamma, TIE_RTOL, ref, tol, thresholds, own64, small)
        acc = np.zeros((b, len(kernels.ACC)), dtype=np.int64)
        lo, hi = level_lo[start:stop], level_hi[start:stop]
        for c0, tile in tiles:
            sims = buffer[: b * tile.shape[1]].reshape(b, tile.shape[1])
            np.matmul(q32, tile, out=sims)
            kernels.count_tile(sims, c0, q64, c64, own, own64, ref, tol, thresholds, lo, hi, DENSE_BAND, acc)
        counts = np.column_stack([
            acc[:, A.GT] + acc[:, A.ABOVE], acc[:, A.TIED], acc[:, A.L_GT] + acc[:, A.L_ABOVE], acc[:, A.L_TIED],
            acc[:, A.M_GT] + acc[:, A.M_ABOVE], acc[:, A.M_TIED],
        ])
        dense = np.flatnonzero(acc[:, A.DENSE])
        if dense.size:
            counts[dense] = _rescore_dense(q64[dense], c64, ref[dense], tol[dense], lo[dense], hi[dense])
        above, tied, l_above, l_tied, m_above, m_tied = counts.T
        better = thresholds[:, 2] != np.inf  # the molecule's reference is its best dose, not the true one
        part = slice(start, stop)
        out["above"][part], out["tied"][part] = above, tied
        out["molecule_above"][part] = np.where(better, m_above, above)  # no own dose is strictly above the reference
        out["molecule_tied"][part] = np.where(better, m_tied, tied) - small[:, 0]
        out["own_tied"][part], out["dose_above"][part], out["dose_tied"][part] = small.T
        out["n_doses"][part] = (own >= 0).sum(axis=1)
        out["level_above"][part], out["level_tied"][part], out["n_level"][part] = l_above, l_tied, hi - lo

    starts = iter(range(0, n_queries, rows))
    lock = threading.Lock()

    def worker() -> None:
        """Takes the next block until none is left (no barrier between blocks)."""
        buffer = np.empty(rows * tile_columns, dtype=np.float32)
        while True:
            with lock:
                start = next(starts, None)
            if start is None:
                return
            run_block(start, buffer)

    if workers == 1:
        worker()
    else:  # one BLAS thread per worker: the workers are the parallelism
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()
    return RankCounts(**out)


def query_blind_counts(
    scores: np.ndarray, *, true_index: np.ndarray, candidate_molecule: np.ndarray, candidate_dose: np.ndarray | None = None
) -> RankCounts:
    """The counts of a query-blind ranking: every query ranks the candidates by the same ``scores``.

    scores: (n_candidates,) finite, higher = earlier, equal = tied (e.g.
    :func:`pheno_bench.floor.query_blind_scores`); the other arguments as in :func:`retrieval_counts`.
    Computed by :func:`retrieval_counts` itself (a constant one-dimensional query against the scores
    as one-dimensional candidates, dot similarity: positive factors, so the same order and ties),
    once per distinct true candidate: the same exact counts as a submission whose queries are all
    one vector and whose candidates are ``scores``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or not np.isfinite(scores).all():
        raise PhenoBenchError("query-blind scores must be one finite number per candidate")
    targets, inverse = np.unique(np.asarray(true_index, dtype=np.int64), return_inverse=True)
    counts = retrieval_counts(
        np.ones((targets.size, 1)), scores[:, None], true_index=targets, candidate_molecule=candidate_molecule,
        candidate_dose=candidate_dose, similarity="dot", memory_mb=16,
    )
    return counts.take(inverse.reshape(-1))
