"""Exact tie-aware counts and fair metric values against independent references:
brute force in exact integer arithmetic, Python fractions, enumeration of tie-breaking orders,
scikit-learn, explicit resampling."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import coverage_error, label_ranking_average_precision_score, top_k_accuracy_score

from pheno_bench.averages import bootstrap_weights, grouped_estimates, grouped_lower_median, intervals, macro_estimates, point_and_bounds
from pheno_bench.metrics import chance_values, fair_molecule_top_k, fair_reciprocal_rank, fair_top_k, pessimistic_values, query_values, top_k_count
from pheno_bench.ranking import TIE_RTOL, RankCounts, retrieval_counts


def brute_counts(sims, true_index, candidate_molecule, tol=0):
    """Reference counts from an exact similarity matrix (integers or fractions): ties are scores
    within ``tol`` (the scorer's documented tolerance; 0 for integer data)."""
    out = {k: [] for k in ("above", "tied", "molecule_above", "molecule_tied", "own_tied")}
    for row, true in zip(sims, true_index):
        row = list(row)
        own = candidate_molecule == candidate_molecule[true]
        out["above"].append(sum(s - row[true] > tol for s in row))
        out["tied"].append(sum(abs(s - row[true]) <= tol for s in row))
        best = max(s for s, o in zip(row, own) if o)
        ref = best if best - row[true] > tol else row[true]
        out["molecule_above"].append(sum(s - ref > tol for s, o in zip(row, own) if not o))
        out["molecule_tied"].append(sum(abs(s - ref) <= tol for s, o in zip(row, own) if not o))
        out["own_tied"].append(sum(abs(s - ref) <= tol for s, o in zip(row, own) if o))
    return {k: np.array(v) for k, v in out.items()}


def random_problem(rng, n_queries=60, n_molecules=9, doses=3, dim=5, integer=True, ties=True):
    """Queries, candidates (with duplicated rows: ties), true candidate and molecule codes."""
    n_candidates = n_molecules * doses
    draw = (lambda shape: rng.integers(-2, 3, shape).astype(np.float32)) if integer else (lambda shape: rng.standard_normal(shape, dtype=np.float32))
    candidates = draw((n_candidates, dim))
    queries = draw((n_queries, dim))
    if ties:
        candidates[1::4] = candidates[0::4][: len(candidates[1::4])]
        queries[::5] = candidates[rng.integers(0, n_candidates, len(queries[::5]))]
    return queries, candidates, rng.integers(0, n_candidates, n_queries), np.repeat(np.arange(n_molecules), doses)


def as_dict(counts: RankCounts) -> dict:
    return {k: getattr(counts, k) for k in ("above", "tied", "molecule_above", "molecule_tied", "own_tied")}


@pytest.mark.parametrize("seed", range(4))
def test_counts_match_brute_force_on_integer_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    queries, candidates, true, molecule = random_problem(rng)
    counts = retrieval_counts(queries, candidates, true_index=true, candidate_molecule=molecule, similarity="dot", memory_mb=0.001)
    sims = queries.astype(np.int64) @ candidates.astype(np.int64).T  # exact
    for name, ref in brute_counts(sims, true, molecule).items():
        np.testing.assert_array_equal(as_dict(counts)[name], ref, err_msg=name)


def test_counts_under_cosine_match_exact_fractions():
    """Cosine ranks equal those of exact rational cosines: sign(q.c) * (q.c)^2 / |c|^2 orders like q.c/|c|."""
    rng = np.random.default_rng(11)
    queries, candidates, true, molecule = random_problem(rng, n_queries=40, dim=4)
    candidates[2::4] = 3 * candidates[0::4][: len(candidates[2::4])]  # same direction, another length: a cosine tie
    counts = retrieval_counts(queries, candidates, true_index=true, candidate_molecule=molecule, similarity="cosine")
    qi, ci = queries.astype(np.int64), candidates.astype(np.int64)
    norms = (ci**2).sum(axis=1)
    exact = [[Fraction(int(np.sign(d)) * int(d) ** 2, int(n)) if n else Fraction(0) for d, n in zip(row, norms)] for row in qi @ ci.T]
    for name, ref in brute_counts(exact, true, molecule).items():
        np.testing.assert_array_equal(as_dict(counts)[name], ref, err_msg=name)


def test_adversarial_near_ties_are_decided_exactly():
    """Candidates 1 ulp apart in one coordinate: float32 products cannot order them, float64 does."""
    rng = np.random.default_rng(5)
    dim, n_near = 256, 40
    query = rng.standard_normal((1, dim)).astype(np.float32)
    base = rng.standard_normal(dim).astype(np.float32)
    candidates = np.repeat(base[None], n_near, axis=0)
    # coordinates where query and candidate are both of order 1: one ulp there moves the score by
    # about 1e-7, far above the float64 tie tolerance (1e-12 of |q| max|c|), far below float32's error
    usable = np.flatnonzero((np.abs(base) > 0.5) & (np.abs(query[0]) > 0.5))
    for i in range(1, n_near):  # candidate i: one such coordinate moved by 1..3 ulp, up or down
        j = usable[i % len(usable)]
        direction = np.float32(np.inf if rng.random() < 0.5 else -np.inf)
        for _ in range(1 + i % 3):
            candidates[i, j] = np.nextafter(candidates[i, j], direction)
    candidates = np.vstack([candidates, rng.standard_normal((60, dim)).astype(np.float32)])
    molecule = np.arange(len(candidates))
    queries = np.repeat(query, n_near, axis=0)
    true = np.arange(n_near)
    counts = retrieval_counts(queries, candidates, true_index=true, candidate_molecule=molecule, similarity="dot")
    exact = [[sum(Fraction(float(a)) * Fraction(float(b)) for a, b in zip(query[0], c)) for c in candidates]]
    tol = Fraction(TIE_RTOL) * Fraction(float(np.linalg.norm(query.astype(np.float64)))) * Fraction(float(np.linalg.norm(candidates.astype(np.float64), axis=1).max()))
    ref = brute_counts(exact * n_near, true, molecule, tol=tol)
    np.testing.assert_array_equal(counts.above, ref["above"])
    np.testing.assert_array_equal(counts.tied, ref["tied"])
    assert len(set(ref["above"].tolist())) > 10  # the near-ties really are distinct scores


THREADS_SCRIPT = """
import sys, numpy as np
from threadpoolctl import threadpool_limits
from pheno_bench.ranking import retrieval_counts
rng = np.random.default_rng(0)
q = rng.standard_normal((3000, 96)).astype(np.float32)
c = rng.standard_normal((500, 96)).astype(np.float32)
c[1::2] = c[0::2] + np.float32(1e-7) * rng.standard_normal((250, 96)).astype(np.float32)  # near-duplicates
q[::3] = c[rng.integers(0, 500, 1000)] + np.float32(1e-6) * rng.standard_normal((1000, 96)).astype(np.float32)
true = rng.integers(0, 500, 3000)
with threadpool_limits(int(sys.argv[1])):
    r = retrieval_counts(q, c, true_index=true, candidate_molecule=np.arange(500) // 5, memory_mb=0.5)
sys.stdout.write(",".join(str(int(x.sum())) + ":" + str(hash(x.tobytes())) for x in (r.above, r.tied, r.molecule_above, r.molecule_tied, r.own_tied)))
"""


def test_counts_do_not_depend_on_blas_threads():
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    runs = [subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(n)], capture_output=True, text=True, env=env, check=True).stdout for n in (1, 2)]
    assert runs[0] == runs[1] and runs[0]


def test_dose_blind_model_gets_its_fair_share():
    """All doses of a molecule share one embedding: the dose is a 1-in-3 tie, the molecule is found."""
    molecule = np.repeat(np.arange(20), 3)
    candidates = np.repeat(np.eye(20, dtype=np.float32), 3, axis=0)
    true = np.arange(60)
    counts = retrieval_counts(candidates[true], candidates, true_index=true, candidate_molecule=molecule)
    assert (counts.above == 0).all() and (counts.tied == 3).all() and (counts.own_tied == 3).all()
    values = query_values(counts, n_candidates=60)
    k1 = top_k_count(1, 60)
    np.testing.assert_allclose(values[:, 0], k1 / 3)  # top-1% (k = 1): a third of a hit, not 0
    np.testing.assert_allclose(values[:, 4], (1 + 1 / 2 + 1 / 3) / 3)
    np.testing.assert_array_equal(values[:, 5], 2.0)  # mid-rank
    assert (values[:, 2] == 1).all()  # molecule level: always found


def test_fair_values_match_enumeration_of_tie_breaking_orders():
    """Every order of the candidates is equally likely as a tie-breaker: average the hit over all of them."""
    rng = np.random.default_rng(2)
    n_molecules, doses = 3, 2
    n = n_molecules * doses
    molecule = np.repeat(np.arange(n_molecules), doses)
    perms = np.array(list(itertools.permutations(range(n))))
    for trial in range(40):
        scores = rng.integers(0, 3, n)  # heavy ties
        true = rng.integers(0, n)
        c = brute_counts([scores], [true], molecule)
        counts = RankCounts(*(c[k] for k in ("above", "tied", "molecule_above", "molecule_tied", "own_tied")))
        # rank of each candidate under each tie-breaking order: higher score first, then the order's position
        position = np.argsort(perms, axis=1)
        order = np.lexsort((position, np.broadcast_to(-scores, perms.shape)), axis=1)
        rank_of = np.argsort(order, axis=1) + 1
        true_rank = rank_of[:, true]
        mol_rank = rank_of[:, molecule == molecule[true]].min(axis=1)  # 1 + other molecules' candidates before the first own dose
        for k in range(1, n + 1):
            assert fair_top_k(counts.above, counts.tied, k)[0] == pytest.approx(np.mean(true_rank <= k))
            got = fair_molecule_top_k(counts.molecule_above, counts.molecule_tied, counts.own_tied, k)[0]
            assert got == pytest.approx(np.mean(mol_rank <= k)), (trial, k)
        assert fair_reciprocal_rank(counts.above, counts.tied, n)[0] == pytest.approx(np.mean(1 / true_rank))


def test_chance_values_match_enumeration_and_a_full_tie():
    n = 12
    for m in (1, 2, 3):
        chance = chance_values(np.array([m]), n_candidates=n)[0]
        for column, percent in ((2, 1), (3, 5)):
            k = top_k_count(percent, n)
            positions = list(itertools.combinations(range(n), m))
            assert chance[column] == pytest.approx(np.mean([min(p) < k for p in positions]))
        assert chance[0] == pytest.approx(top_k_count(1, n) / n)
        assert chance[4] == pytest.approx(np.mean(1 / np.arange(1, n + 1)))
        assert chance[5] == (n + 1) / 2
    # a full tie (constant embedding) scores exactly chance, bit for bit
    counts = RankCounts(np.zeros(3, int), np.full(3, n), np.zeros(3, int), np.array([n - 1, n - 2, n - 3]), np.array([1, 2, 3]))
    np.testing.assert_array_equal(query_values(counts, n_candidates=n), chance_values(np.array([1, 2, 3]), n_candidates=n))


def test_values_match_scikit_learn():
    rng = np.random.default_rng(3)
    queries, candidates, true, molecule = random_problem(rng, n_queries=300, n_molecules=40, integer=True, dim=6)
    n = len(candidates)
    counts = retrieval_counts(queries, candidates, true_index=true, candidate_molecule=molecule, similarity="dot")
    pessimistic = pessimistic_values(counts, n_candidates=n)
    sims = (queries @ candidates.T).astype(np.float64)
    onehot = np.eye(n, dtype=int)[true]
    # label ranking AP with one relevant label is 1/rank with ties counted against: the pessimistic view
    assert pessimistic[:, 4].mean() == pytest.approx(label_ranking_average_precision_score(onehot, sims), abs=1e-12)
    assert pessimistic[:, 5].mean() == pytest.approx(coverage_error(onehot, sims), abs=1e-12)
    # without ties the fair and pessimistic views agree with top_k_accuracy_score
    queries, candidates, true, molecule = random_problem(rng, n_queries=300, n_molecules=40, integer=False, dim=6, ties=False)
    counts = retrieval_counts(queries, candidates, true_index=true, candidate_molecule=molecule, similarity="dot")
    values = query_values(counts, n_candidates=n)
    sims = queries.astype(np.float64) @ candidates.T.astype(np.float64)
    for column, percent in enumerate((1, 5)):
        expected = top_k_accuracy_score(true, sims, k=top_k_count(percent, n), labels=np.arange(n))
        assert values[:, column].mean() == pytest.approx(expected)
    np.testing.assert_array_equal(values[:, [0, 1, 4, 5]], pessimistic_values(counts, n_candidates=n)[:, [0, 1, 4, 5]])


def test_top_k_count_is_exact_integer_ceiling():
    assert top_k_count(5, 20) == 1  # float ceil(0.05 * 20) would give 2
    assert [top_k_count(1, n) for n in (1, 99, 100, 101, 200, 201)] == [1, 1, 1, 2, 2, 3]
    assert top_k_count(5, 1000) == 50


@pytest.mark.parametrize("n, n_groups", [(300, 1), (300, 7), (2000, 40)])
def test_grouped_lower_median_matches_expanded_sample(n, n_groups):
    rng = np.random.default_rng(n_groups)
    values = rng.integers(1, 40, n).astype(float)
    group = np.arange(n) % n_groups
    molecule = rng.integers(0, 25, n)
    weights = rng.integers(0, 3, (30, 25)).astype(float)
    weights[0] = 0  # a resample that drew none of these molecules
    out = grouped_lower_median(values, group, molecule, weights)
    assert out.shape == (30, n_groups) and np.isnan(out[0]).all()
    for row, got in zip(weights[1:], out[1:]):
        for g in range(n_groups):
            expanded = np.repeat(values[group == g], row[molecule[group == g]].astype(int))
            if expanded.size:
                assert got[g] == np.quantile(expanded, 0.5, method="inverted_cdf")
            else:
                assert np.isnan(got[g])


def _values(rng, n, n_candidates=50):
    ranks = rng.integers(1, n_candidates, n).astype(float)
    return np.column_stack([ranks <= 1, ranks <= 3, ranks <= 2, ranks <= 5, 1 / ranks, ranks]).astype(float)


def test_bootstrap_resamples_molecules_micro_and_macro():
    rng = np.random.default_rng(1)
    n_molecules, n = 15, 120
    molecule = rng.integers(0, n_molecules, n)
    group = rng.integers(0, 3, n)
    values = _values(rng, n)
    weights = bootstrap_weights(n_molecules, n_resamples=20, rng=np.random.default_rng(5))
    draws = np.random.default_rng(5).integers(0, n_molecules, size=(20, n_molecules))
    micro = grouped_estimates(values, molecule, group, weights)
    macro = macro_estimates(values, molecule, group, weights)
    frame = pd.DataFrame(values).assign(m=molecule, g=group)
    for b in range(-1, 20):  # -1: the point estimate; then each resample, rebuilt explicitly
        picked = np.arange(n) if b < 0 else np.concatenate([np.flatnonzero(molecule == m) for m in draws[b]])
        drawn = np.unique(molecule) if b < 0 else draws[b]
        for g in range(3):
            chosen = picked[group[picked] == g]
            np.testing.assert_allclose(micro[b + 1, g, :5], values[chosen, :5].mean(axis=0))
            assert micro[b + 1, g, 5] == np.quantile(values[chosen, 5], 0.5, method="inverted_cdf")
            per_mol = frame[frame.g == g].groupby("m")
            means = per_mol[[0, 1, 2, 3, 4]].mean()
            medians = per_mol[5].quantile(0.5, interpolation="lower")
            present = [m for m in drawn if m in means.index]
            np.testing.assert_allclose(macro[b + 1, g, :5], means.loc[present].to_numpy().mean(axis=0))
            assert macro[b + 1, g, 5] == np.quantile(medians.loc[present].to_numpy(), 0.5, method="inverted_cdf")


def test_intervals_match_numpy_nanquantile():
    samples = np.random.default_rng(0).standard_normal((200, 3, 4))
    samples[:50, 0, 1] = np.nan  # resamples without the subset's molecules
    samples[:, 2, 3] = np.nan
    expected = np.nanquantile(samples[:, :, :3], [0.025, 0.975], axis=0)
    np.testing.assert_allclose(intervals(samples)[..., :3], expected)
    assert np.isnan(intervals(samples)[:, 2, 3]).all()


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("average", ["micro", "macro"])
def test_bounds_equal_intervals_of_the_resampled_estimates_bit_for_bit(tied, average):
    """The summaries take each cell's interval bounds lane by lane (``point_and_bounds``, issue 16: no
    (rows, groups, metrics) array); they must be ``intervals`` of the materialised estimates,
    value for value, including lanes where some resamples drew none of a group's molecules (NaN
    dropped) and a lane where every resample did (NaN); its point, the single-row estimate."""
    rng = np.random.default_rng(3)
    n_molecules, n = 40, 600
    molecule = rng.integers(1, n_molecules, n)
    group = rng.integers(0, 4, n)
    group[molecule == 1] = 4  # one molecule alone: absent from about a third of the resamples
    values = _values(rng, n)
    extra = {"tied": rng.integers(1, 4, n).astype(float)} if tied else {}
    estimate = grouped_estimates if average == "micro" else macro_estimates
    weights = bootstrap_weights(n_molecules, n_resamples=300, rng=np.random.default_rng(9))
    weights[1:, 1] = 0  # ... then absent from every resample: that group's bounds are NaN
    for w in (weights, bootstrap_weights(n_molecules, n_resamples=300, rng=np.random.default_rng(9))):
        samples = estimate(values, molecule, group, w, **extra)
        expected = intervals(samples[1:])
        point, got = point_and_bounds(average, values, molecule, group, w, **extra)
        np.testing.assert_array_equal(point, estimate(values, molecule, group, w[:1], **extra)[0])
        assert got.shape == expected.shape
        assert np.isnan(samples[1:, 4]).any()
        np.testing.assert_array_equal(got, expected)  # NaN where NaN, every other bound to the bit
    assert np.isnan(got[:, 4]).sum() == 0 and np.isnan(point_and_bounds(average, values, molecule, group, weights, **extra)[1][:, 4]).all()


@pytest.mark.parametrize("n_molecules, n_resamples", [(40, 300), (7, 1000), (1, 5), (0, 3)])
def test_bootstrap_weights_drawn_in_blocks_equal_the_whole_table(monkeypatch, n_molecules, n_resamples):
    """bootstrap_weights draws a block of resamples at a time (issue 16: no 1000 x molecules int64
    table beside the result); the weights must be those of drawing the whole table at once."""
    import pheno_bench.averages as averages

    rng = np.random.default_rng([11, n_molecules])
    draws = rng.integers(0, n_molecules, size=(n_resamples, n_molecules)) + np.arange(n_resamples)[:, None] * n_molecules
    counts = np.bincount(draws.ravel(), minlength=n_resamples * n_molecules).reshape(n_resamples, n_molecules)
    expected = np.vstack([np.ones((1, n_molecules)), counts]).astype(np.float64)
    monkeypatch.setattr(averages, "BOOTSTRAP_DRAWS", 97)  # blocks of 97 // n_molecules resamples
    got = bootstrap_weights(n_molecules, n_resamples=n_resamples, rng=np.random.default_rng([11, n_molecules]))
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_compiled_quantiles_equal_numpys_linear_quantile_on_ties_sorted_and_reversed_samples():
    """The bounds' order statistics come from a threshold-and-sort selection (issue 16), both
    bounds gathered in one pass, with a quickselect fallback; whatever path each takes, each bound
    must be numpy's linear quantile of the same values, to the bit, and the values must be left as
    they were. Pairs from either end, both from one end, and in either order."""
    from pheno_bench.median_kernels import PAIR_SAMPLE, _quantiles

    rng = np.random.default_rng(4)
    pairs = [(0.025, 0.975), (0.5, 0.999), (0.0, 1.0), (0.3, 0.025), (0.999, 0.975), (1.0, 0.0), (0.5, 0.5)]
    for trial in range(600):
        n = int(rng.integers(1, 4 * PAIR_SAMPLE)) if trial % 3 else int(rng.integers(4 * PAIR_SAMPLE + 1, 1200))
        a = rng.integers(0, rng.integers(1, 12), n).astype(float) if trial % 2 else rng.standard_normal(n)
        if trial % 5 == 0:
            a = np.sort(a)
        elif trial % 7 == 0:
            a = np.sort(a)[::-1].copy()
        before = a.copy()
        for q_low, q_high in pairs:
            got = _quantiles(a, n, q_low, q_high, np.empty(n), np.empty(n), np.empty(PAIR_SAMPLE))
            assert got == (_numpy_interval_bound(before, q_low), _numpy_interval_bound(before, q_high)), (n, q_low, q_high)
        np.testing.assert_array_equal(a, before)


def _numpy_interval_bound(a: np.ndarray, q: float) -> float:
    """The bound as pheno_bench.averages.intervals computes it (numpy's formula, written out)."""
    ordered, last = np.sort(a), len(a) - 1
    position = last * q
    below = int(np.floor(position))
    return ordered[below] + (position - below) * (ordered[min(below + 1, last)] - ordered[below])
