"""Verdicts: primary metric by paired bootstrap, Holm-adjusted secondary cells, seeds pooled."""

from __future__ import annotations

import numpy as np
import pytest

from pheno_bench.compare import EXPLORATORY_METRICS, average_views, compare_entries
from pheno_bench.evaluate import Evaluator
from pheno_bench.metrics import bootstrap_weights, grouped_estimates, intervals

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
    better = bench.compare(good, randoms[0], n_bootstrap=300)
    assert better.primary.verdict == "better" and better.primary.a > better.primary.b
    assert better.splits["unseen_images"]["per_query/all"]["top_5pct"].verdict == "better"
    assert better.splits["unseen_images"]["per_query/all/macro"]["mrr"].verdict == "better"
    worse = bench.compare(randoms[0], good, n_bootstrap=300)
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
