"""Bootstrap medians (pheno_bench.medians): the tie-aware median rank of issue 19 against exact
rational arithmetic and an explicit expansion of every tied block; chance exactly for a constant
embedding; a block-tied query-blind ranking no longer beats chance; the scorer-3 lower median
unchanged; every bootstrap row against an explicitly resampled computation."""

from __future__ import annotations

import zlib
from fractions import Fraction

import numpy as np
import pytest

import pheno_bench.medians as medians
from pheno_bench.averages import bootstrap_weights, grouped_estimates, grouped_lower_median, grouped_tied_median, macro_estimates
from pheno_bench.medians import weighted_medians


def exact_median(low, high, mass):
    """Median of sum_i mass_i * U[low_i, high_i] in exact rationals: the middle of {x: F(x) = total / 2}
    (F is linear between consecutive interval ends: bisect on them, then solve inside the piece)."""
    items = [(Fraction(lo), Fraction(hi), Fraction(m)) for lo, hi, m in zip(low, high, mass) if m > 0]
    if not items:
        return np.nan
    half = sum(m for *_, m in items) / 2
    cdf = lambda x: sum(m * min(max((x - lo) / (hi - lo), 0), 1) for lo, hi, m in items)
    points = sorted({p for lo, hi, _ in items for p in (lo, hi)})

    def first(test):  # the first breakpoint whose F passes test (F is non-decreasing)
        lo, hi = 0, len(points) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if test(cdf(points[mid])) else (mid + 1, hi)
        return lo

    def solve(i):  # where F reaches half inside the piece ending at breakpoint i
        if i == 0:
            return points[0]
        a, b = points[i - 1], points[i]
        fa, fb = cdf(a), cdf(b)
        return a + (half - fa) * (b - a) / (fb - fa)

    return float((solve(first(lambda f: f >= half)) + solve(first(lambda f: f > half))) / 2)


def tied_problem(rng, n, n_groups, n_molecules, n_candidates, wide=0.3):
    above = rng.integers(0, n_candidates, n)
    tied = np.where(rng.random(n) < wide, rng.integers(1, max(2, n_candidates // 3), n), 1)
    tied = np.minimum(tied, n_candidates - above)
    group = np.arange(n) % n_groups
    return above, tied, group, rng.integers(0, n_molecules, n)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("macro", [False, True])
def test_tied_median_matches_exact_rationals_under_bootstrap_weights(seed, macro):
    rng = np.random.default_rng(seed)
    n = [30, 200, 1500][seed % 3]  # 1500 queries: checkpoints and intervals open across them
    above, tied, group, molecule = tied_problem(rng, n, 1 + seed % 3, 25, 300)
    weights = bootstrap_weights(25, n_resamples=4, rng=rng)
    weights[1, :12] = 0  # a resample without some molecules
    rank = above + (tied + 1) / 2
    got = grouped_tied_median(rank, tied, group, molecule, weights, macro=macro)
    for g in range(group.max() + 1):
        sel = group == g
        count = np.bincount(molecule[sel], minlength=25)
        for r, row in enumerate(weights):
            w = row[molecule[sel]]
            mass = [Fraction(int(x)) / (int(count[m]) if macro else 1) for x, m in zip(w, molecule[sel])]
            expected = exact_median(above[sel] + Fraction(1, 2), above[sel] + tied[sel] + Fraction(1, 2), mass)
            assert got[r, g] == pytest.approx(expected, abs=1e-9), (r, g)


def test_tied_median_agrees_with_the_expanded_tied_blocks():
    """Expand every query's tied block into its ranks a+1..a+t, each with weight 1/t: the weighted
    (discrete) median of those ranks lies within half a rank of the continuous median."""
    rng = np.random.default_rng(7)
    above, tied, group, molecule = tied_problem(rng, 400, 2, 30, 120, wide=0.5)
    weights = bootstrap_weights(30, n_resamples=20, rng=rng)
    got = grouped_tied_median(above + (tied + 1) / 2, tied, group, molecule, weights)
    for r, row in enumerate(weights):
        for g in range(2):
            sel = np.flatnonzero(group == g)
            ranks = np.concatenate([np.arange(above[i] + 1, above[i] + tied[i] + 1) for i in sel])
            mass = np.concatenate([np.full(tied[i], row[molecule[i]] / tied[i]) for i in sel])
            order = np.argsort(ranks, kind="stable")
            cumulative = np.cumsum(mass[order])
            discrete = ranks[order][np.searchsorted(cumulative, cumulative[-1] / 2 - 1e-9)]
            assert abs(got[r, g] - discrete) <= 0.5 + 1e-9, (r, g, got[r, g], discrete)


def test_untied_ranks_give_the_ordinary_median():
    ranks = np.array([1.0, 3.0, 8.0, 2.0, 6.0, 7.0])
    got = grouped_tied_median(ranks, np.ones(6), np.array([0, 0, 1, 1, 1, 1]), np.arange(6), np.ones((1, 6)))
    assert got[0, 0] == 2.0  # ranks 1 and 3: F is flat at one half from 1.5 to 2.5 -> its middle, 2
    assert got[0, 1] == 6.5  # ranks 2, 6, 7, 8 -> (6 + 7) / 2
    assert grouped_tied_median(np.array([4.0]), np.array([1.0]), np.zeros(1, int), np.zeros(1, int), np.ones((1, 1)))[0, 0] == 4.0


@pytest.mark.parametrize("n_candidates", [7, 174, 1001])
def test_constant_embedding_gets_chance_exactly_micro_and_macro_in_every_resample(n_candidates):
    rng = np.random.default_rng(n_candidates)
    n, n_molecules = 3000, 200
    molecule, group = rng.integers(0, n_molecules, n), rng.integers(0, 4, n)
    weights = bootstrap_weights(n_molecules, n_resamples=50, rng=rng)
    rank = np.full(n, (n_candidates + 1) / 2)
    for macro in (False, True):
        got = grouped_tied_median(rank, np.full(n, n_candidates), group, molecule, weights, macro=macro)
        assert (got == (n_candidates + 1) / 2).all()


def hashed_two_block_file(n_candidates=174, n_queries=20000, top=0.7, seed=0):
    """A query-blind ranking: 70% of the candidates (picked by a hash of their id) tie in a top block,
    the rest in a bottom block; every query's true candidate is drawn uniformly."""
    ids = [f"M{i:05d}@{i % 6}" for i in range(n_candidates)]
    in_top = np.array([zlib.crc32(s.encode()) % 1000 < top * 1000 for s in ids])
    a_top = int(in_top.sum())
    true = np.random.default_rng(seed).integers(0, n_candidates, n_queries)
    above = np.where(in_top[true], 0, a_top)
    tied = np.where(in_top[true], a_top, n_candidates - a_top)
    return above, tied, true


def test_block_tied_query_blind_file_no_longer_beats_chance():
    """Issue 19: the median of mid-ranks rewards such a file (61.5-like, far below chance 87.5);
    the median of the pooled rank distribution gives chance up to sampling."""
    n_candidates = 174
    above, tied, true = hashed_two_block_file(n_candidates)
    n_molecules = 29
    molecule = true // 6
    rank = above + (tied + 1) / 2
    chance = (n_candidates + 1) / 2
    ones = np.ones((1, n_molecules))
    zeros = np.zeros(len(true), dtype=np.int64)
    old = grouped_lower_median(rank, zeros, molecule, ones)[0, 0]
    assert old < chance - 20  # the gamed value: the top block's mid-rank
    weights = bootstrap_weights(n_molecules, n_resamples=200, rng=np.random.default_rng(1))
    for macro in (False, True):
        new = grouped_tied_median(rank, tied, zeros, molecule, weights, macro=macro)[:, 0]
        # the pooled distribution is uniform up to how many true candidates fall in each block
        top_share = (above == 0).mean()
        assert abs(new[0] - chance) < 3, (macro, new[0])
        assert abs(top_share - (tied[above == 0][0] / n_candidates)) < 0.02
        low, high = np.quantile(new[1:], [0.025, 0.975])
        assert low - 1 < chance < high + 1  # chance inside the bootstrap interval


def test_lower_rule_is_scorer_3s_lower_median():
    """grouped_lower_median (now on the shared engine) against the values repeated by their weight."""
    rng = np.random.default_rng(2)
    for trial in range(30):
        n = int(rng.integers(1, 500))
        n_groups = int(rng.integers(1, 6))
        values = rng.integers(1, 60, n).astype(float)
        group = np.arange(n) % n_groups
        molecule = rng.integers(0, 20, n)
        weights = rng.integers(0, 3, (8, 20)).astype(float)
        got = grouped_lower_median(values, group, molecule, weights)
        for r, row in enumerate(weights):
            for g in range(group.max() + 1):
                expanded = np.repeat(values[group == g], row[molecule[group == g]].astype(int))
                expected = np.quantile(expanded, 0.5, method="inverted_cdf") if expanded.size else np.nan
                assert got[r, g] == expected or (np.isnan(expected) and np.isnan(got[r, g]))


def test_estimates_with_tied_blocks_use_the_tied_median_and_keep_the_means():
    rng = np.random.default_rng(3)
    above, tied, group, molecule = tied_problem(rng, 900, 3, 40, 200)
    rank = above + (tied + 1) / 2
    values = np.column_stack([rng.random((900, 5)), rank])
    weights = bootstrap_weights(40, n_resamples=30, rng=rng)
    for estimates, macro in ((grouped_estimates, False), (macro_estimates, True)):
        old = estimates(values, molecule, group, weights)
        new = estimates(values, molecule, group, weights, tied=tied)
        np.testing.assert_array_equal(new[..., :5], old[..., :5])
        np.testing.assert_array_equal(new[..., 5], grouped_tied_median(rank, tied, group, molecule, weights, macro=macro))


def test_results_do_not_depend_on_workers_or_checkpoints(monkeypatch):
    """Workers, blocks and checkpoints (how many, where: around the median or spread over every
    rank, none at all) change the speed only: the lower rule exactly, the tied rule up to rounding
    (where a running sum starts), within the relative 1e-12 a scorer patch allows."""
    rng = np.random.default_rng(5)
    above, tied, group, molecule = tied_problem(rng, 3000, 7, 300, 500)
    weights = bootstrap_weights(300, n_resamples=300, rng=rng)
    low, high = above + 0.5, above + tied + 0.5
    points = above + (tied + 1) // 2 + 0.0
    reference = weighted_medians(low, high, group, molecule, weights)
    reference_lower = weighted_medians(points, points, group, molecule, weights, rule="lower")
    for settings in (
        dict(WORKERS=1, SCAN_COST=0.01), dict(WORKERS=3, SCAN_COST=100, DENSE_CELLS=0), dict(MAX_CHECKPOINTS=2, BLOCK_BYTES=1),
        dict(BAND=0.0), dict(BAND=1e6, COARSE_CHECKPOINTS=0), dict(MAX_CHECKPOINTS=0, COARSE_CHECKPOINTS=0), dict(COARSE_CHECKPOINTS=40, DENSE_CELLS=0),
    ):
        for name, value in settings.items():
            monkeypatch.setattr(medians, name, value)
        medians.forget()
        got = weighted_medians(low, high, group, molecule, weights)
        np.testing.assert_allclose(got, reference, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(weighted_medians(points, points, group, molecule, weights, rule="lower"), reference_lower)


def test_means_do_not_depend_on_the_medians_checkpoints(monkeypatch):
    """The means' per-molecule sums are a product of their own (scorer 4.0.1): appended to the
    medians' table, their last bits moved with its width (a BLAS product's blocking), i.e. with
    the number of checkpoints. Now the same bits whatever the checkpoints."""
    rng = np.random.default_rng(8)
    above, tied, group, molecule = tied_problem(rng, 3000, 3, 300, 500)
    values = np.column_stack([rng.random((3000, 5)), above + (tied + 1) / 2])
    weights = bootstrap_weights(300, n_resamples=200, rng=rng)
    reference = [average(values, molecule, group, weights, tied=tied)[..., :5] for average in (grouped_estimates, macro_estimates)]
    for max_checkpoints in (0, 1, 2, 3, 5, 6, 7, 13):
        monkeypatch.setattr(medians, "MAX_CHECKPOINTS", max_checkpoints)
        medians.forget()
        for average, expected in zip((grouped_estimates, macro_estimates), reference):
            np.testing.assert_array_equal(average(values, molecule, group, weights, tied=tied)[..., :5], expected)


def test_bad_rules_and_empty_groups():
    with pytest.raises(ValueError, match="high must exceed low"):
        weighted_medians(np.ones(2), np.ones(2), np.zeros(2, int), np.zeros(2, int), np.ones((1, 1)))
    with pytest.raises(ValueError, match="high must equal low"):
        weighted_medians(np.ones(2), np.full(2, 2.0), np.zeros(2, int), np.zeros(2, int), np.ones((1, 1)), rule="lower")
    out = weighted_medians(np.array([1.0]), np.array([2.0]), np.array([1]), np.array([0]), np.ones((2, 1)), n_groups=3)
    assert np.isnan(out[:, [0, 2]]).all() and (out[:, 1] == 1.5).all()
