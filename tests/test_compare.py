"""Verdicts: primary metric by paired bootstrap, Holm-adjusted secondary cells, seeds pooled."""

from __future__ import annotations

import numpy as np
import pytest

from pheno_bench.compare import EXPLORATORY_METRICS, average_views, compare_entries, entry_interval, holm_resamples, percentile_p, seed_rng
from pheno_bench.evaluate import Evaluator
from pheno_bench.averages import bootstrap_weights, grouped_estimates, intervals
from pheno_bench.power import board_power, minimum_detectable_difference, seed_interval, verdict_statement

from test_evaluate import oracle, submit


@pytest.fixture(scope="module")
def bench(synthetic_v1):
    return Evaluator(synthetic_v1)


@pytest.fixture(scope="module")
def randoms(bench, tmp_path_factory):
    folder = tmp_path_factory.mktemp("randoms")
    return [bench.write_template(folder / f"random-{seed}.parquet", dim=16, seed=seed) for seed in range(8)]


def holm_cells(comparison):
    return [d for cells in comparison.splits.values() for metrics in cells.values() for d in metrics.values() if not d.exploratory]


@pytest.mark.parametrize("pair", range(4))
def test_random_vs_random_is_tied_on_primary_and_every_holm_cell(bench, randoms, pair):
    """Regression: the v1 compare called random vs random 'better' in 5 of 96 cells (no multiplicity control)."""
    comparison = bench.compare(randoms[2 * pair], randoms[2 * pair + 1], n_bootstrap=400, seed=pair)
    assert comparison.primary is not None and comparison.primary.verdict == "tied"
    cells = holm_cells(comparison)
    assert len(cells) == comparison.holm_cells > 50
    assert all(d.verdict == "tied" for d in cells), [d for d in cells if d.verdict != "tied"]
    assert all(d.p_holm >= d.p_value and d.level >= 0.95 for d in cells)


def test_good_model_beats_random_and_the_reverse_is_worse(bench, randoms, tmp_path):
    good = submit(bench, tmp_path / "good.parquet", *oracle(bench, noise=0.3))
    few = bench.compare(good, randoms[0], n_bootstrap=300)
    # p-values never below 1 / (B + 1) (before: erfc of z ~ 15, p ~ 1e-50 from 300 resamples)
    assert all(d.p_value >= 1 / 301 for d in holm_cells(few)) and min(d.p_value for d in holm_cells(few)) == pytest.approx(1 / 301)
    # ... so 300 resamples cannot resolve a family of m cells: every Holm cell is tied, and the primary is not
    assert few.holm_cells / 301 > 0.05 and all(d.verdict == "tied" for d in holm_cells(few)) and few.primary.verdict == "better"
    better = bench.compare(good, randoms[0], n_bootstrap=None)  # enough resamples for the family
    assert better.bootstrap.n_resamples == holm_resamples(better.holm_cells) >= 2 * better.holm_cells / 0.05 - 1
    assert better.p_floor == pytest.approx(1 / (better.bootstrap.n_resamples + 1))
    assert better.primary.verdict == "better" and better.primary.a > better.primary.b
    assert better.primary.statement.startswith("better: a is ") and better.primary.p_value >= better.p_floor
    assert better.splits["unseen_images"]["per_query/all"]["top_5pct"].verdict == "better"
    assert better.splits["unseen_images"]["per_query/all/macro"]["mrr"].verdict == "better"
    worse = bench.compare(randoms[0], good, n_bootstrap=None)
    assert worse.primary.verdict == "worse"
    assert worse.splits["unseen_dataset"]["per_query/all"]["mrr"].verdict == "worse"
    evaluated = bench.evaluate(good, n_bootstrap=300)
    assert better.primary.a == pytest.approx(evaluated.primary.value)
    assert better.splits["unseen_images"]["per_query/all"]["top_5pct"].a == pytest.approx(evaluated.splits["unseen_images"].per_query.subsets["all"].metrics["top_5pct"].value)
    for metric in EXPLORATORY_METRICS:
        assert better.splits["unseen_images"]["per_query/all"][metric].exploratory


def test_same_file_is_tied_with_zero_difference(bench, randoms):
    same = bench.compare(randoms[0], randoms[0], n_bootstrap=50)
    d = same.splits["unseen_molecules"]["per_query/all"]["mrr"]
    assert d.verdict == "tied" and d.difference == d.low == d.high == 0 and d.p_holm == 1
    assert same.primary.difference == 0 and same.primary.verdict == "tied"


def test_primary_interval_is_the_paired_percentile_bootstrap(bench, randoms):
    """Recompute the primary difference's interval by hand from the per-query values."""
    comparison = bench.compare(randoms[0], randoms[1], n_bootstrap=200, seed=3)
    views = [bench.rank(p)["unseen_molecules"].per_query for p in randoms[:2]]
    molecule, n_molecules = views[0].molecule_codes()
    active = views[0].labels["active"].to_numpy(dtype=bool) & ~views[0].labels["anchor"].to_numpy(dtype=bool)
    from pheno_bench.evaluate import split_rng

    weights = bootstrap_weights(n_molecules, n_resamples=200, rng=split_rng(3, "unseen_molecules"))
    # macro top-5%: per molecule mean, then weighted mean over molecules
    per_molecule = []
    for view in views:
        values = view.values[active]
        mols = molecule[active]
        means = np.array([values[mols == m, 1].mean() for m in np.unique(mols)])
        per_molecule.append((np.unique(mols), means))
    rows = [(weights[:, mols] @ means) / weights[:, mols].sum(axis=1) for mols, means in per_molecule]
    diff = rows[0] - rows[1]
    low, high = intervals(diff[1:])
    assert comparison.primary.difference == pytest.approx(diff[0])
    assert (comparison.primary.low, comparison.primary.high) == pytest.approx((low, high))


def test_seeds_are_pooled(bench, randoms):
    """Two seeds of an entry: compared on the per-query values averaged over the seeds."""
    comparison = compare_entries(randoms[:2], randoms[2:4], benchmark=bench.root, n_bootstrap=100)
    assert [f.file for f in comparison.a_files] == [p.name for p in randoms[:2]]
    pooled = [average_views([bench.rank(p)["unseen_images"].per_query for p in pair]) for pair in (randoms[:2], randoms[2:4])]
    molecule, n = pooled[0].molecule_codes()
    keep = ~pooled[0].labels["anchor"].to_numpy(dtype=bool)
    group = np.zeros(keep.sum(), dtype=np.int64)
    point = [grouped_estimates(v.values[keep], molecule[keep], group, np.ones((1, n)))[0, 0] for v in pooled]
    d = comparison.splits["unseen_images"]["per_query/all"]["top_1pct"]
    assert d.a == pytest.approx(point[0][0]) and d.b == pytest.approx(point[1][0])
    assert comparison.primary.verdict == "tied"


def test_percentile_p_by_counting():
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.5, 5.0):
        diff = rng.standard_normal(999) + shift
        below, above = int((diff <= 0).sum()), int((diff >= 0).sum())
        assert percentile_p(diff) == pytest.approx(min(1.0, 2 * (1 + min(below, above)) / 1000))
    assert percentile_p(np.full(999, 3.0)) == pytest.approx(2 / 1000)  # all on one side: 2 / (B + 1), never 0
    assert percentile_p(np.array([np.nan])) == 1.0


def test_seed_runs_resampled_with_the_molecules_by_hand(bench, randoms):
    """Primary interval with 3 runs a side = a loop over replicates: molecules drawn by split_rng, runs by
    seed_rng, the replicate's runs averaged (with multiplicity), macro top-5% over active molecules by hand."""
    B, seed = 60, 4
    comparison = compare_entries(randoms[:3], randoms[3:6], benchmark=bench.root, n_bootstrap=B, seed=seed)
    split = "unseen_molecules"
    views = {side: [bench.rank(p)[split].per_query for p in files] for side, files in (("a", randoms[:3]), ("b", randoms[3:6]))}
    molecule, n_molecules = views["a"][0].molecule_codes()
    active = views["a"][0].labels["active"].to_numpy(dtype=bool) & ~views["a"][0].labels["anchor"].to_numpy(dtype=bool)
    from pheno_bench.evaluate import split_rng

    weights = bootstrap_weights(n_molecules, n_resamples=B, rng=split_rng(seed, split))
    rows = {}
    for side in ("a", "b"):
        rng = seed_rng(seed, split, side)
        draws = rng.integers(0, 3, size=(B, 3))
        estimates = []
        for r in range(B + 1):
            picked = [0, 1, 2] if r == 0 else list(draws[r - 1])
            values = np.mean([views[side][i].values[:, 1] for i in picked], axis=0)[active]  # top_5pct column
            mols = molecule[active]
            uniq = np.unique(mols)
            means = np.array([values[mols == m].mean() for m in uniq])
            estimates.append((weights[r, uniq] @ means) / weights[r, uniq].sum())
        rows[side] = np.array(estimates)
    diff = rows["a"] - rows["b"]
    p = comparison.primary
    assert p.difference == pytest.approx(diff[0])
    assert (p.low, p.high) == pytest.approx(tuple(intervals(diff[1:])))
    assert p.se == pytest.approx(np.std(diff[1:], ddof=1))
    assert p.mde == pytest.approx(minimum_detectable_difference(p.se))
    assert p.seeds == "a: 3 runs resampled with the molecules; b: 3 runs resampled with the molecules"


def test_mde_formula_and_its_power_by_simulation():
    from scipy.stats import norm

    se = 0.0214
    mde = minimum_detectable_difference(se)
    assert mde == pytest.approx((norm.ppf(0.975) + norm.ppf(0.8)) * se) and mde == pytest.approx(2.8016 * se, rel=1e-4)
    # a true difference of exactly the MDE, estimated with standard error se, is called at 5 % (two-sided) 80 % of the time
    estimates = np.random.default_rng(1).normal(mde, se, size=400_000)
    assert np.mean(np.abs(estimates) > norm.ppf(0.975) * se) == pytest.approx(0.80, abs=0.005)
    assert minimum_detectable_difference(None) is None and minimum_detectable_difference(float("nan")) is None


def test_board_power_from_paired_half_widths():
    from types import SimpleNamespace as Pair

    pairs = [Pair(low=-0.041, high=0.043), Pair(low=-0.040, high=0.044), Pair(low=0.01, high=0.098), Pair(low=None, high=None)]
    power = board_power(pairs)
    ses = [(p.high - p.low) / (2 * 1.959964) for p in pairs[:3]]
    assert power.pairs == 3 and power.se == pytest.approx(np.median(ses), rel=1e-6)
    assert power.mde == pytest.approx(2.801585 * np.median(ses), rel=1e-5) and power.mde_max == pytest.approx(2.801585 * max(ses), rel=1e-5)
    assert board_power([]).mde is None


def test_verdict_statements_carry_their_bounds():
    assert verdict_statement("tied", -0.034, 0.043, "top_5pct") == "tied: a is at most 4.3 better and at most 3.4 worse than b (95 % interval)"
    assert verdict_statement("better", 0.012, 0.09, "top_5pct") == "better: a is 1.2 to 9.0 better than b (95 % interval)"
    assert verdict_statement("worse", -0.093, -0.015, "top_5pct") == "worse: a is 1.5 to 9.3 worse than b (95 % interval)"
    # lower is better: a - b in [-3, 1] ranks means a is at most 3 ranks better and 1 worse
    assert verdict_statement("tied", -3.0, 1.0, "median_rank") == "tied: a is at most 3 better and at most 1 worse than b (95 % interval)"


def test_entry_interval_includes_seed_variance_and_agrees_with_the_variance_sum(bench, randoms, tmp_path):
    """Seed runs of one entry: per-run values are the scorer's own primary values; the molecules-and-seeds
    bootstrap SE exceeds the seeds-fixed one, and the variance sum computed from the per-seed Results alone is
    conservative (each seed's molecule SE stands for the average's, an overestimate unless seeds agree query by query)."""
    model = [submit(bench, tmp_path / f"model-{s}.parquet", *oracle(bench, noise=1.5, seed=s)) for s in range(3)]
    for files in (model, randoms[:3]):
        interval = entry_interval(files, benchmark=bench.root, n_bootstrap=2000, seed=0)
        results = [bench.evaluate(f, n_bootstrap=2000) for f in files]
        assert interval.values == pytest.approx(tuple(r.primary.value for r in results))
        assert interval.value == pytest.approx(np.mean(interval.values))
        assert interval.sd_seeds == pytest.approx(np.std(interval.values, ddof=1)) and interval.sd_seeds > 0
        summed = seed_interval(results)
        assert summed.value == pytest.approx(interval.value) and summed.n_seeds == 3
        assert summed.se_molecules == pytest.approx(np.mean([(r.primary.high - r.primary.low) / (2 * 1.959964) for r in results]), rel=1e-5)
        assert summed.se == pytest.approx(np.sqrt(summed.se_molecules**2 + summed.sd_seeds**2 / 3))
        assert (summed.low, summed.high) == pytest.approx((summed.value - 1.959964 * summed.se, summed.value + 1.959964 * summed.se))
        assert interval.se > interval.se_molecules and summed.se > interval.se
        assert interval.low < interval.value < interval.high
