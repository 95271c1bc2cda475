"""Exact, scale-proof, fair retrieval ranks: where the true candidate lands among a split's candidates.

Three steps per block of queries:

1. **Rescale** (:func:`scale_factors`): under cosine every vector is divided by its norm computed
   in float64 after dividing by its largest absolute entry (so 1e-30 and 1e30 embeddings give the
   same unit vectors); under dot each query is divided by its largest absolute entry and all
   candidates by the largest entry of any candidate (positive factors: the ranking of every query
   is unchanged). Similarities are then bounded by the dimension and never overflow.
2. **Screen in float32**: one chunked matrix product. Its error on every score is bounded by
   ``err = gamma(dim + 3) * ||q|| * max_c ||c||`` (``gamma(n) = n u / (1 - n u)``, u = 2^-24, rounding of the
   inputs to float32 included), so a candidate more than ``band = 2 err + tol`` above the true
   candidate's float32 score is certainly above it in exact arithmetic, and one more than ``band``
   below is certainly below.
3. **Decide in float64**: only candidates inside the band are rescored in float64 (products of
   float32 numbers are exact in float64). Two scores are **tied** when they differ by at most
   ``tol = TIE_RTOL * ||q|| * max_c ||c||`` in float64 (TIE_RTOL = 1e-12: identical vectors, or vectors
   equal up to float rounding of a positive factor, tie; BLAS summation order moves float64 scores
   by about 1e-16). The counts therefore do not depend on BLAS thread count or summation order.

Per query the result is a :class:`RankCounts`: ``above`` candidates strictly above the true one and
``tied`` tied with it (itself included); at the molecule level, relative to the best-scoring dose
of the true molecule, ``molecule_above`` candidates of other molecules strictly above,
``molecule_tied`` of other molecules tied with it and ``own_tied`` doses of the true molecule tied
with it (at least 1). :mod:`pheno_bench.metrics` turns them into expected values under uniformly
random tie-breaking.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from pheno_bench.errors import PhenoBenchError

UNIT_ROUNDOFF = 2.0**-24  # float32
TIE_RTOL = 1e-12
#: rows whose band holds more candidates than this are rescored with one float64 row product
DENSE_BAND = 256
#: rows of scores processed together after the matrix product (about 2 MB at 20k candidates: cache-resident)
SUB_ROWS = 32
#: threads for the comparisons of a block (the matrix product itself uses BLAS's threads)
WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@dataclass
class RankCounts:
    """Exact tie-aware counts per query, all int64 (n_queries,)."""

    above: np.ndarray
    tied: np.ndarray
    molecule_above: np.ndarray
    molecule_tied: np.ndarray
    own_tied: np.ndarray

    def take(self, index: np.ndarray) -> "RankCounts":
        return RankCounts(*(getattr(self, f)[index] for f in ("above", "tied", "molecule_above", "molecule_tied", "own_tied")))


def scale_factors(x: np.ndarray, *, similarity: str, rows: bool) -> np.ndarray:
    """Positive float64 factors (n,) that make ``x * factors[:, None]`` safe to multiply.

    cosine: 1 / ||x_i|| computed without under- or overflow (rows and candidates alike).
    dot: 1 / max|x_i| per row (queries, ``rows=True``) or 1 / max|x| over all rows (candidates).
    Zero rows get factor 1 (they score 0 against everything: a full tie).
    """
    x = np.asarray(x)
    peak = np.abs(x).max(axis=1).astype(np.float64) if x.size else np.zeros(len(x))
    safe = np.where(peak > 0, peak, 1.0)
    if similarity == "cosine":
        norms = np.empty(len(x))
        for start in range(0, len(x), 8192):  # a block at a time; x / peak cannot overflow or underflow to 0
            block = x[start : start + 8192] / safe[start : start + 8192, None].astype(x.dtype)
            if not rows:  # candidates: exact norms (two vectors of one direction must tie in float64)
                block = block.astype(np.float64)
            norms[start : start + 8192] = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64)) * safe[start : start + 8192]
        factors = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
    elif rows:
        factors = 1.0 / safe
    else:
        top = peak.max(initial=0.0)
        factors = np.full(len(x), 1.0 / top if top > 0 else 1.0)
    if not np.isfinite(factors).all():  # 1 / (a float32 >= 1e-45) is always finite in float64
        raise PhenoBenchError("embeddings cannot be rescaled to finite similarities; check the submission's values")
    return factors


def _scaled(x: np.ndarray, factors: np.ndarray) -> np.ndarray:
    out = x.astype(np.float64) * factors[:, None]
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


def _popcount(mask: np.ndarray) -> np.ndarray:
    """Per row of a bool (rows, n padded to 8) buffer: how many are True."""
    return np.bitwise_count(mask.view(np.uint64)).sum(axis=1, dtype=np.int64)


class _Counter:
    """Counts above / tied around per-row float64 references, screening with the float32 scores.

    Works on one block of float32 scores at a time, in place (no copy of the block): two
    comparisons per reference, popcounts and the band's positions read from 64-bit words (the band
    is sparse, so only words holding a band candidate are expanded).
    """

    def __init__(self, candidates64: np.ndarray, rows: int, n: int):
        self.c64 = candidates64
        self.n = n
        self.padded = -(-n // 8) * 8
        self.gt = np.zeros((rows, self.padded), dtype=bool)
        self.ge = np.zeros((rows, self.padded), dtype=bool)

    def _band(self, ge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the True entries of a sparse bool block, via its nonzero 64-bit words."""
        words = ge.view(np.uint64)
        word_rows, word_cols = np.divmod(np.flatnonzero(words.ravel() != 0), words.shape[1])  # bool scan: fastest in numpy
        octets = ge.reshape(ge.shape[0], -1, 8)[word_rows, word_cols]  # (k, 8)
        which, offset = np.nonzero(octets)
        return word_rows[which], word_cols[which] * 8 + offset

    def count(self, sims: np.ndarray, q64: np.ndarray, center32: np.ndarray, ref64: np.ndarray, band: np.ndarray, tol: np.ndarray, rows: np.ndarray | None = None):
        """(above, tied) per row of ``sims`` (rows, n) relative to ref64 (exact float64 reference).

        center32: the float32 score the band is centred on. rows: only these rows matter (others
        get 0); the block is still compared whole (cheaper than copying the rows out).
        """
        n_rows, n = sims.shape
        gt, ge = self.gt[:n_rows], self.ge[:n_rows]
        hi, lo = center32 + band, center32 - band
        if rows is not None:  # rows that do not matter: thresholds that nothing passes
            skip = np.ones(n_rows, dtype=bool)
            skip[rows] = False
            hi, lo = np.where(skip, np.inf, hi), np.where(skip, np.inf, lo)
        np.greater(sims, hi[:, None], out=gt[:, :n])
        np.greater_equal(sims, lo[:, None], out=ge[:, :n])
        above = _popcount(gt)
        np.bitwise_xor(ge.view(np.uint64), gt.view(np.uint64), out=ge.view(np.uint64))  # gt is inside ge: the band
        in_band = _popcount(ge)
        dense = np.flatnonzero(in_band > DENSE_BAND)
        if dense.size:
            ge[dense] = False
        band_rows, band_cols = self._band(ge)
        scores = np.einsum("ij,ij->i", q64[band_rows], self.c64[band_cols])
        diff = scores - ref64[band_rows]
        above += np.bincount(band_rows[diff > tol[band_rows]], minlength=n_rows)
        tied = np.bincount(band_rows[np.abs(diff) <= tol[band_rows]], minlength=n_rows)
        for start in range(0, dense.size, 64):  # degenerate rows (e.g. a constant embedding): whole rows in float64
            part = dense[start : start + 64]
            full = q64[part] @ self.c64.T - ref64[part, None]
            above[part] = (full > tol[part, None]).sum(axis=1)
            tied[part] = (np.abs(full) <= tol[part, None]).sum(axis=1)
        return above, tied.astype(np.int64)


def retrieval_counts(
    queries: np.ndarray,
    candidates: np.ndarray,
    *,
    true_index: np.ndarray,
    candidate_molecule: np.ndarray,
    similarity: str = "cosine",
    memory_mb: float = 64,
) -> RankCounts:
    """Exact tie-aware counts of every query against every candidate (see the module docstring).

    queries: (n_queries, dim), candidates: (n_candidates, dim), any float dtype, finite, raw (the
    rescaling is done here); true_index: (n_queries,) row of each query's true candidate;
    candidate_molecule: (n_candidates,) molecule code of each candidate.
    Memory: the float32 similarity block plus two bool blocks stay within ``memory_mb``.
    """
    n_queries, n = len(queries), len(candidates)
    dim = queries.shape[1]
    q_factor = scale_factors(queries, similarity=similarity, rows=True)
    c64 = _scaled(candidates, scale_factors(candidates, similarity=similarity, rows=False))
    c32t = np.ascontiguousarray(c64.T.astype(np.float32))
    c_max = float(np.linalg.norm(c64, axis=1).max(initial=0.0))
    query_members = _members(candidate_molecule)[candidate_molecule[true_index]]
    gamma = (dim + 3) * UNIT_ROUNDOFF / (1 - (dim + 3) * UNIT_ROUNDOFF)
    rows = max(1, int(memory_mb * 2**20) // (4 * n))  # the float32 block; the bool buffers are SUB_ROWS rows per worker
    workers = max(1, min(WORKERS, rows // 16))
    counters = [_Counter(c64, min(SUB_ROWS, rows), n) for _ in range(workers)]
    sims_buffer = np.empty((rows, n), dtype=np.float32)
    out = {f: np.empty(n_queries, dtype=np.int64) for f in ("above", "tied", "molecule_above", "molecule_tied", "own_tied")}

    def work(counter: _Counter, sims: np.ndarray, q64: np.ndarray, start: int, stop: int) -> None:
        """Counts of queries start..stop (their rows of the block: sims, q64), in sub-blocks of
        SUB_ROWS rows whose scores stay in cache across the comparisons; writes into ``out``."""
        for a in range(0, stop - start, SUB_ROWS):
            b = min(a + SUB_ROWS, stop - start)
            work_rows(counter, sims[a:b], q64[a:b], start + a, start + b)

    def work_rows(counter: _Counter, sims: np.ndarray, q64: np.ndarray, start: int, stop: int) -> None:
        local = np.arange(stop - start)
        scale = np.sqrt(np.einsum("ij,ij->i", q64, q64)) * c_max
        tol = TIE_RTOL * scale
        band = 2 * gamma * scale + tol + 1e-300
        true = true_index[start:stop]
        true64 = np.einsum("ij,ij->i", q64, c64[true])
        above, tied = counter.count(sims, q64, sims[local, true], true64, band, tol)
        # the true molecule's doses, exactly
        cols = query_members[start:stop]
        own64 = np.where(cols >= 0, np.einsum("ijk,ik->ij", c64[np.maximum(cols, 0)], q64), -np.inf)
        best = own64.max(axis=1)
        better = (own64 > (true64 + tol)[:, None]).any(axis=1)  # another dose of the true molecule is strictly above
        ref = np.where(better, best, true64)
        own_tied = (np.abs(own64 - ref[:, None]) <= tol[:, None]).sum(axis=1)
        mol_above, mol_tied_all = above.copy(), tied.copy()
        if better.any():
            which = np.flatnonzero(better)
            best_col = np.take_along_axis(cols, own64.argmax(axis=1)[:, None], axis=1)[:, 0]
            b_above, b_tied = counter.count(sims, q64, sims[local, best_col], best, band, tol, rows=which)
            mol_above[which], mol_tied_all[which] = b_above[which], b_tied[which]
        out["above"][start:stop] = above
        out["tied"][start:stop] = tied
        out["molecule_above"][start:stop] = mol_above  # no own dose is strictly above the reference
        out["molecule_tied"][start:stop] = mol_tied_all - own_tied
        out["own_tied"][start:stop] = own_tied

    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        for start in range(0, n_queries, rows):
            stop = min(start + rows, n_queries)
            q64 = _scaled(queries[start:stop], q_factor[start:stop])
            sims = np.matmul(q64.astype(np.float32), c32t, out=sims_buffer[: stop - start])
            cuts = np.linspace(0, stop - start, min(workers, stop - start) + 1).astype(int)
            jobs = [(counters[i], sims[a:b], q64[a:b], start + a, start + b) for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]
            if pool is None or len(jobs) == 1:
                for job in jobs:
                    work(*job)
            else:  # numpy releases the GIL in its loops: the comparisons of the block run on every core
                for future in [pool.submit(work, *job) for job in jobs]:
                    future.result()
    finally:
        if pool is not None:
            pool.shutdown()
    return RankCounts(**out)
