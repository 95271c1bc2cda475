"""Medians of weighted mixtures of per-query rank distributions, for every group and bootstrap row at once.

Each item (a query, or a molecule's summary) has a molecule, a group, a mass and a distribution of
its rank: a point mass at ``low`` (``low == high``) or a uniform density on ``[low, high]``. Under a
row of molecule weights ``w`` (the bootstrap's multiplicities, row 0 all ones) a group's CDF is

    F(x) = sum over its items of w[molecule] * mass * phi(x)

and :func:`weighted_medians` returns, per row and group, where F crosses half its total:

- ``rule="lower"`` (point masses): the smallest x with F(x) >= F(inf) / 2, i.e. the lower median
  (numpy's ``inverted_cdf``) of the values repeated by their weight;
- ``rule="tied"`` (uniform densities): the x with F(x) = F(inf) / 2, or the middle of the interval
  where F is flat at that level (so untied ranks 1 and 3 have median 2, as for an ordinary median).

How (no Python loop over queries or rows; per row, work proportional to the group's molecules
plus a short stretch of its events): items are summarised per (group, molecule) pair. Each group
gets a few checkpoints, where the resampled medians fall (:func:`_checkpoints`); every pair's CDF
at the checkpoints is computed once, so for a weight row the group's CDF at the checkpoints is a
weighted sum over its pairs. The first checkpoint
reaching half the total (less a relative 1e-9, so the crossing is never skipped) bounds the scan,
which starts at the checkpoint before it with the state of the intervals open there and walks
the group's events (merged per position and pair) in order. The compiled loops are in
:mod:`pheno_bench.median_kernels`.

Exactness: with integer weights and masses, point masses are compared exactly (the lower rule is
scorer 3.0's lower median, value for value). The tied rule solves the crossing inside its linear
piece; a group whose items all share one interval (a constant embedding: [0.5, n + 0.5] for every
query) gets exactly its middle, (n + 1) / 2, under any weights (a mixture of one uniform
distribution is that distribution). F is flat at half its total when no interval with weight is
open (an exact integer test); the level is then compared with a relative tolerance of 1e-9
(rounding of the running sum is ~1e-13; two different levels of F on a flat part differ by at
least one molecule's mass, relatively >= 1 / (queries of a molecule x molecules), far above it).

Reuse: the preparation (sorting the items into events, checkpoints, per-pair CDFs) depends only on
the items, so :func:`cached` keeps the last few: the Evaluator summarises the same queries with
the point row alone and then with all bootstrap rows, and the second call only runs the kernels;
:func:`forget` drops them once a partition of the queries is done (at 100k queries they are
tens of MB).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse

#: checkpoints per group ~ sqrt(SCAN_COST * events / pairs), the events those in the band where
#: resampled medians fall (:func:`_checkpoints`): a row's work is pairs x checkpoints (vectorised)
#: plus the events of one stretch between checkpoints (a serial scan)
SCAN_COST = 1
#: the same with the checkpoints' CDFs from one BLAS product (rows x molecules x columns), used when
#: molecules x columns <= DENSE_CELLS
DENSE_SCAN_COST = 80
DENSE_CELLS = 1 << 22
MAX_CHECKPOINTS = 64
#: checkpoints cover the levels 1/2 +- BAND bootstrap standard errors of the median's level
BAND = 5.0
#: and this many more spread evenly over each group's levels
COARSE_CHECKPOINTS = 3
#: groups are visited in blocks of about this many bytes of events and checkpoint values (an L2 cache)
BLOCK_BYTES = 1 << 20
#: rows of weights per product and scan (64 rows of 4,000 molecules: 2 MB)
CHUNK_ROWS = 64
#: results of :func:`cached` kept for reuse
CACHED = 6
_CACHE: list = []
_LOCK = threading.Lock()
WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _ragged(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, value) for every value in range(starts[i], stops[i]), i in order."""
    lengths = np.maximum(stops - starts, 0)
    owner = np.repeat(np.arange(starts.size), lengths)
    offsets = np.cumsum(lengths) - lengths
    return owner, starts[owner] + np.arange(owner.size) - offsets[owner]


def weighted_medians(
    low: np.ndarray,
    high: np.ndarray,
    group: np.ndarray,
    molecule: np.ndarray,
    weights: np.ndarray,
    *,
    mass: np.ndarray | None = None,
    rule: str = "tied",
    n_groups: int | None = None,
    extra: np.ndarray | sparse.spmatrix | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(rows, n_groups) median of each group's weighted mixture under each row of ``weights``.

    low, high: (n,) each item's rank distribution (``rule="lower"``: point masses, high == low;
    ``rule="tied"``: uniform on [low, high], high > low); group: (n,) codes 0..n_groups-1;
    molecule: (n,) codes indexing the columns of weights (rows, n_molecules), non-negative (the
    bootstrap's integer multiplicities); mass: (n,) positive, default 1. NaN where a group has
    no weight in a row. extra: (n_molecules, e), optional: then also weights @ extra (rows, e),
    computed in the same pass over the weights (the per-molecule sums of the means).
    """
    from pheno_bench import median_kernels as kernels

    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    molecule = np.asarray(molecule, dtype=np.int64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    n = low.size
    n_groups = int(group.max()) + 1 if n_groups is None and n else (n_groups or 0)
    out = np.full((len(weights), n_groups), np.nan)
    if n == 0 or n_groups == 0 or len(weights) == 0:
        return out if extra is None else (out, np.asarray(weights @ extra))
    mass = np.ones(n) if mass is None else np.asarray(mass, dtype=np.float64)
    if rule == "lower":
        if not np.array_equal(low, high):
            raise ValueError("rule='lower' takes point masses: high must equal low")
    elif rule == "tied":
        if not (high > low).all():
            raise ValueError("rule='tied' takes intervals: high must exceed low")
    else:
        raise ValueError(f"rule must be 'lower' or 'tied', not {rule!r}")
    prepared = cached(_prepare, low, high, group, molecule, mass, rule, n_groups, weights.shape[1])
    table, (tied, block_start, column_start, *args) = prepared
    dense_extra = csr = None
    if extra is not None:
        sums = np.empty((len(weights), extra.shape[1]))  # every row written by its chunk's worker
        if isinstance(extra, np.ndarray) or extra.shape[0] * extra.shape[1] <= DENSE_CELLS:
            dense_extra = _dense(prepared, extra)  # a product of its own: the sums do not depend on the checkpoints
        else:
            csr = _as_csr(prepared, extra)

    def run(rows: np.ndarray) -> None:
        for start in range(0, rows.size, CHUNK_ROWS):  # rows of weights stay in cache from the products to the scans
            part = rows[start : start + CHUNK_ROWS]  # (one chunk: on_rows hands out CHUNK_ROWS at a time)
            w = weights[part[0] : part[-1] + 1]
            if dense_extra is not None:
                np.matmul(w, dense_extra, out=sums[part[0] : part[-1] + 1])
            elif csr is not None:
                sums[part[0] : part[-1] + 1] = 0.0
                kernels.dense_times_csr(weights, part, *csr, sums[part[0] : part[-1] + 1])
            cdf = w @ table if table is not None else np.zeros((0, 0))
            kernels.weighted_medians(weights, part, tied, block_start, cdf, column_start, *args, out[part[0] : part[-1] + 1])

    on_rows(run, len(weights), chunk=CHUNK_ROWS)
    return out if extra is None else (out, sums)


def on_rows(fn, n_rows: int, *, chunk: int = 64) -> None:
    """fn(rows) on the chunks range(0, 64), range(64, 128), ... of range(n_rows), in worker threads
    (compiled loops release the GIL; BLAS runs one thread per worker meanwhile). The chunks do not
    depend on the number of workers, so neither do the results."""
    chunks = [np.arange(a, min(a + chunk, n_rows)) for a in range(0, n_rows, chunk)]
    workers = min(WORKERS, len(chunks))
    with blas_threads(1):  # small products: more BLAS threads only wait for each other
        if workers <= 1:
            for rows in chunks:
                fn(rows)
            return
        list(_pool(workers).map(fn, chunks))


_CONTROLLER = []
_POOLS: dict = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """A thread pool kept for the process (starting one per call costs about a millisecond)."""
    with _LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="pheno-bench-medians")
        return _POOLS[workers]


def blas_threads(n: int):
    """A context limiting BLAS to n threads (threadpoolctl; its library scan is done once per process)."""
    from threadpoolctl import ThreadpoolController

    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=n, user_api="blas")


def cached(fn, *args):
    """fn(*args), reusing the result of a recent call with equal arguments (arrays compared by content):
    the Evaluator summarises the same queries with all bootstrap rows, then with the point row alone."""
    meta = [fn.__qualname__] + [(a.dtype.str, a.shape) if isinstance(a, np.ndarray) else a for a in args]
    with _LOCK:
        for i, (m, stored, result) in enumerate(_CACHE):
            if m == meta and all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(args, stored)):
                _CACHE.append(_CACHE.pop(i))
                return result
    result = fn(*args)
    with _LOCK:
        _CACHE.append((meta, args, result))
        del _CACHE[:-CACHED]
    return result


def _dense(prepared, extra) -> np.ndarray:
    """``extra`` as a dense array, made once per (prepared, extra) pair: the point row and the
    bootstrap rows of one cell use the same."""
    if isinstance(extra, np.ndarray):
        return np.ascontiguousarray(extra, dtype=np.float64)
    return _per_pair(prepared, extra, lambda: extra.toarray())


def _as_csr(prepared, extra) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, data) of ``extra`` in CSR with int64 indices, once per (prepared, extra) pair."""

    def make():
        m = sparse.csr_matrix(extra)
        return m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data.astype(np.float64)

    return _per_pair(prepared, extra, make)


#: (prepared, extra, derived): kept with the objects themselves, matched by identity (both come
#: from :func:`cached`, so a cell's point and bootstrap calls pass the same objects)
_DERIVED: list = []


def _per_pair(prepared, extra, make):
    with _LOCK:
        for p, e, derived in _DERIVED:
            if p is prepared and e is extra:
                return derived
    derived = make()
    with _LOCK:
        _DERIVED.append((prepared, extra, derived))
        del _DERIVED[:-2]  # a cell's point and bootstrap calls follow each other
    return derived


def forget() -> None:
    """Drop what :func:`cached` keeps (the summaries call it once they are done with a partition of
    the queries: nothing prepared for it is asked for again, and at 100k queries each entry holds
    about 15 MB)."""
    with _LOCK:
        _CACHE.clear()
        _DERIVED.clear()


def _checkpoints(
    tied, dense, n_molecules, low, high, mass, group, item_pair, pair_group, pair_mass, n_pairs, event_start, event_x, event_jump,
    event_slope, pos_first, pos_end, pos_group, pos_start, single,
) -> np.ndarray:
    """Sorted position indices of every group's checkpoints, placed where the bootstrap's medians fall.

    A resample's median is near the group's median under equal weights: at the CDF level 1/2 of
    the equal-weight mixture, give or take sigma, the level's bootstrap standard error (delta
    method over the molecules: sqrt(sum over pairs of (a_p - b_p / 2)^2) / total, a_p each pair's
    mass below that median and b_p its mass). The checkpoints are spread evenly over the levels
    1/2 +- BAND sigma, as many as the cost model wants for the events in that band, with a few
    spread over the whole group (COARSE_CHECKPOINTS) so that a far resample's scan stays short.
    Only speed depends on where they are: any set of positions gives the same medians up to the
    rounding of where a scan's float sum starts."""
    from pheno_bench import median_kernels as kernels

    n_groups, n_ev = pos_start.size - 1, np.diff(event_start)
    n_pos = np.diff(pos_start)
    # each position's level: the equal-weight CDF there over the group's total (only for placing)
    if tied:
        open_slope = event_slope.copy()
        kernels.segment_cumsum(open_slope, event_start[:-1], n_ev)
        step = np.zeros(event_x.size)
        step[:-1] = open_slope[:-1] * np.diff(event_x)
        step[event_start[1:] - 1] = 0.0  # (the last event of a group: nothing after it)
        kernels.segment_cumsum(step, event_start[:-1], n_ev)
        level = np.where(pos_first > event_start[pos_group], step[pos_first - 1], 0.0)  # F at the position's x
    else:
        jumps = event_jump.copy()
        kernels.segment_cumsum(jumps, event_start[:-1], n_ev)
        level = jumps[pos_end - 1]  # F just after the position
    total = np.bincount(pair_group, weights=pair_mass, minlength=n_groups)
    total = np.where(total > 0, total, 1.0)  # (a group without items has no positions either)
    level = level / total[pos_group]
    key = 2.0 * pos_group + level  # increasing: levels in [0, 1], one group after another
    # the equal-weight median's x per group, each pair's mass below it, sigma
    at_half = np.clip(np.searchsorted(key, 2.0 * np.arange(n_groups) + 0.5), pos_start[:-1], np.maximum(pos_start[1:] - 1, pos_start[:-1]))
    median_x = event_x[pos_first[np.minimum(at_half, pos_first.size - 1)]]
    x = median_x[group]
    below = mass * (np.clip((x - low) / (high - low), 0.0, 1.0) if tied else (low <= x))
    a = np.bincount(item_pair, weights=below, minlength=pair_mass.size)
    sigma = np.sqrt(np.bincount(pair_group, weights=(a - pair_mass / 2) ** 2, minlength=n_groups)) / total
    band = np.minimum(1.0, 2 * BAND * sigma)
    events = np.maximum(band * n_ev, 1)
    want = np.sqrt((DENSE_SCAN_COST * events / n_molecules) if dense else (SCAN_COST * events / np.maximum(n_pairs, 1))).astype(np.int64)
    cap = np.minimum(MAX_CHECKPOINTS, np.maximum(n_pos - 1, 0))
    want = np.where(single, 0, np.clip(want, 0, cap))
    coarse = np.where(single, 0, np.minimum(COARSE_CHECKPOINTS, cap))
    owner, k = _ragged(np.zeros(n_groups, np.int64), want)
    levels = 0.5 - band[owner] / 2 + band[owner] * (k + 1) / (want[owner] + 1)
    c_owner, c = _ragged(np.zeros(n_groups, np.int64), coarse)
    levels = np.concatenate([levels, (c + 1) / (coarse[c_owner] + 1)])
    owner = np.concatenate([owner, c_owner])
    found = np.searchsorted(key, 2.0 * owner + np.clip(levels, 0.0, 1.0)) - 1  # the last position below the level
    return np.unique(np.clip(found, pos_start[owner], pos_start[owner + 1] - 2))


def _prepare(low, high, group, molecule, mass, rule, n_groups, n_molecules):
    """Everything about the items that does not depend on the weights: pairs, events, checkpoints,
    each pair's CDF at them, the intervals open there. Returns (dense table or None, kernel arguments)."""
    from pheno_bench import median_kernels as kernels

    n = low.size
    tied = rule == "tied"

    # one pair per (group, molecule), numbered in (group, molecule) order
    pairs, item_pair = np.unique(group * n_molecules + molecule, return_inverse=True)
    item_pair = item_pair.reshape(-1)
    pair_group, pair_molecule = pairs // n_molecules, pairs % n_molecules
    pair_mass = np.bincount(item_pair, weights=mass, minlength=pairs.size)
    pair_start = np.searchsorted(pair_group, np.arange(n_groups + 1))
    n_pairs = np.diff(pair_start)

    # events (an interval opens at low and closes at high, a point mass jumps at low) merged per
    # (group, position, pair), in that order; positions as integer ranks
    xs, x_rank = np.unique(np.concatenate([low, high]) if tied else low, return_inverse=True)
    x_rank = x_rank.reshape(-1)
    n_x, n_p = xs.size, pairs.size
    ev_pair = np.concatenate([item_pair, item_pair]) if tied else item_pair
    runs, run_of = np.unique((pair_group[ev_pair] * n_x + x_rank) * n_p + ev_pair, return_inverse=True)
    run_of = run_of.reshape(-1)
    event_pair = runs % n_p
    event_group, event_rank = pair_group[event_pair], (runs // n_p) % n_x
    event_x, event_molecule = xs[event_rank], pair_molecule[event_pair]
    n_events = runs.size
    del x_rank, ev_pair, runs, event_pair  # (a few MB each at 100k queries: the peak is the sum of what is alive)
    summed = lambda values: np.bincount(run_of, weights=values, minlength=n_events)
    if tied:
        width = high - low
        slope = mass / width
        ones = np.ones(n)
        event_jump = np.zeros(n_events)
        event_slope = summed(np.concatenate([slope, -slope]))
        event_count = summed(np.concatenate([ones, -ones]))
        del ones
    else:
        event_jump = summed(mass)
        event_slope = event_count = np.zeros(n_events)
    event_start = np.searchsorted(event_group, np.arange(n_groups + 1))

    # positions (runs of equal x in a group); checkpoints among them, spread evenly over the events
    new_position = np.ones(n_events, dtype=bool)
    new_position[1:] = (event_group[1:] != event_group[:-1]) | (event_rank[1:] != event_rank[:-1])
    pos_first = np.flatnonzero(new_position)
    pos_of_event = np.cumsum(new_position) - 1
    del new_position, event_rank
    pos_end = np.append(pos_first[1:], n_events)  # the first event after each position
    pos_group = event_group[pos_first]
    pos_start = np.searchsorted(pos_group, np.arange(n_groups + 1))
    n_pos, n_ev = np.diff(pos_start), np.diff(event_start)
    single = (n_pos == 2) if tied else np.zeros(n_groups, dtype=bool)  # one (low, high) for the whole group
    # a dense product (few columns) costs rows x molecules x columns in BLAS; otherwise each row sums its pairs here
    want_dense = np.sqrt(DENSE_SCAN_COST * n_ev.sum() / n_molecules)
    dense = n_molecules * (n_groups * (1 + min(want_dense, MAX_CHECKPOINTS))) <= DENSE_CELLS
    index = _checkpoints(
        tied, dense, n_molecules, low, high, mass, group, item_pair, pair_group, pair_mass, n_pairs, event_start, event_x, event_jump,
        event_slope, pos_first, pos_end, pos_group, pos_start, single,
    )
    check_x, check_event, check_group = event_x[pos_first[index]], pos_end[index], pos_group[index]
    check_start = np.searchsorted(check_group, np.arange(n_groups + 1))
    n_checks = np.diff(check_start)

    # checkpoints that see each item: a fraction of its mass at low <= x < high, all of it from high on
    next_check = np.minimum(np.searchsorted(index, np.arange(pos_first.size)), check_start[pos_group + 1])
    open_pos = pos_of_event[run_of[:n]]
    close_pos = pos_of_event[run_of[n:]] if tied else open_pos
    a, b = next_check[open_pos], next_check[close_pos]
    del next_check, open_pos, close_pos, pos_of_event, run_of
    part_item, part_check = _ragged(a, b)
    whole = b < check_start[group + 1]
    # each pair's CDF at its group's checkpoints: gval[gval_start[g] + (pair - pair_start[g]) * K_g + k]
    sizes = n_pairs * n_checks
    gval_start = np.cumsum(sizes) - sizes
    item_base = gval_start[group] + (item_pair - pair_start[group]) * n_checks[group] - check_start[group]
    gval = np.bincount(item_base[whole] + b[whole], weights=mass[whole], minlength=int(sizes.sum())).astype(np.float64)
    kernels.segment_cumsum(gval, (gval_start[pair_group] + (np.arange(n_p) - pair_start[pair_group]) * n_checks[pair_group]), n_checks[pair_group])
    if tied:
        fraction = (check_x[part_check] - low[part_item]) / width[part_item]
        gval += np.bincount(item_base[part_item] + part_check, weights=mass[part_item] * fraction, minlength=gval.size)
    if dense:  # columns: each group's checkpoints, then its total
        column_start = np.cumsum(n_checks + 1) - (n_checks + 1)
        table = np.zeros((n_molecules, int((n_checks + 1).sum())))
        owner, k = _ragged(np.zeros(n_p, np.int64), n_checks[pair_group])
        table[pair_molecule[owner], column_start[pair_group[owner]] + k] = gval[gval_start[pair_group[owner]] + (owner - pair_start[pair_group[owner]]) * n_checks[pair_group[owner]] + k]
        table[pair_molecule, column_start[pair_group] + n_checks[pair_group]] = pair_mass
    else:
        column_start = np.zeros(n_groups, np.int64)
        table = None

    # intervals open at each checkpoint (low <= x < high), summed per pair
    if tied and part_item.size:
        order = np.lexsort((item_pair[part_item], part_check))
        item, check = part_item[order], part_check[order]
        first = np.ones(item.size, dtype=bool)
        first[1:] = (check[1:] != check[:-1]) | (item_pair[item][1:] != item_pair[item][:-1])
        run = np.cumsum(first) - 1
        straddle_molecule = molecule[item[first]]
        straddle_slope = np.bincount(run, weights=slope[item])
        straddle_count = np.bincount(run).astype(np.float64)
        straddle_start = np.searchsorted(check[first], np.arange(check_x.size + 1))
    else:
        straddle_molecule = np.zeros(0, np.int64)
        straddle_slope = straddle_count = np.zeros(0)
        straddle_start = np.zeros(check_x.size + 1, np.int64)

    # blocks of groups whose events and checkpoint values stay in cache while every row visits them
    # (with the dense product, a row's scans touch a short stretch of each group's events: one block,
    # so each row of weights is read once)
    footprint = np.cumsum(40 * n_ev + 8 * sizes + 24 * n_pairs)
    cuts = np.arange(1, footprint[-1] // BLOCK_BYTES + 1) * BLOCK_BYTES if not dense else np.zeros(0, np.int64)
    block_start = np.unique(np.concatenate([[0], np.searchsorted(footprint, cuts), [n_groups]]))
    return table, (
        tied, block_start, column_start, pair_start, pair_molecule, pair_mass, gval_start, gval, check_start,
        check_x, check_event, straddle_start, straddle_molecule, straddle_slope, straddle_count, event_start, event_x,
        event_molecule, event_jump, event_slope, event_count, single,
    )
