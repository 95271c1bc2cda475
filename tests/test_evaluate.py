"""The scorer against independent references: brute-force sort, scikit-learn, explicit resampling."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import coverage_error, label_ranking_average_precision_score, top_k_accuracy_score

from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import (
    _intervals,
    METRICS,
    TIE_RTOL,
    Evaluator,
    bootstrap_weights,
    chance_levels,
    effective_rank,
    grouped_estimates,
    grouped_lower_median,
    query_values,
    rank_split,
    retrieval_ranks,
    top_k_count,
)
from pheno_bench.results import Results, ensure_comparable, read_results, write_results
from pheno_bench.submission import write_submission


def sort_ranks(sims: np.ndarray, true_index: np.ndarray, candidate_molecule: np.ndarray, tol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference: full similarity matrix, each row sorted; rank = position of the last score >= target - tol.

    Molecule rank: 1 + the position of the best true-molecule dose among the other molecules' candidates.
    """
    ranks, molecule_ranks = [], []
    for row, true, eps in zip(sims, true_index, tol):
        own = candidate_molecule == candidate_molecule[true]
        ranks.append(np.searchsorted(np.sort(-row), -(row[true] - eps), side="right"))
        molecule_ranks.append(1 + np.searchsorted(np.sort(-row[~own]), -(row[own].max() - eps), side="right"))
    return np.array(ranks), np.array(molecule_ranks)


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


@pytest.mark.parametrize("seed", range(4))
def test_ranks_match_full_sort_on_integer_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    queries, candidates, true, molecule = random_problem(rng)
    ranks, molecule_ranks = retrieval_ranks(queries, candidates, true_index=true, candidate_molecule=molecule, memory_mb=0.001)
    sims = queries.astype(np.int64) @ candidates.astype(np.int64).T  # exact
    ref_ranks, ref_molecule = sort_ranks(sims, true, molecule, np.zeros(len(queries)))
    np.testing.assert_array_equal(ranks, ref_ranks)
    np.testing.assert_array_equal(molecule_ranks, ref_molecule)
    assert (molecule_ranks <= ranks).all() and ranks.max() <= len(candidates)


def test_dose_blind_model_is_not_penalised_at_molecule_level():
    """All doses of a molecule share one embedding: the dose is a 1-in-3 tie, the molecule is found."""
    molecule = np.repeat(np.arange(20), 3)
    candidates = np.repeat(np.eye(20, dtype=np.float32), 3, axis=0)
    true = np.arange(60)
    ranks, molecule_ranks = retrieval_ranks(candidates[true], candidates, true_index=true, candidate_molecule=molecule)
    assert (ranks == 3).all()  # tied with its own two other doses: ties count against the dose
    assert (molecule_ranks == 1).all()


def test_ranks_match_full_sort_under_cosine_with_duplicates():
    rng = np.random.default_rng(7)
    queries, candidates, true, molecule = random_problem(rng, n_queries=200, integer=False, dim=16)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    cn = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    ranks, molecule_ranks = retrieval_ranks(qn, cn, true_index=true, candidate_molecule=molecule, memory_mb=0.002)
    sims = qn.astype(np.float64) @ cn.astype(np.float64).T
    ref = sort_ranks(sims, true, molecule, np.full(len(queries), TIE_RTOL))
    np.testing.assert_array_equal(ranks, ref[0])
    np.testing.assert_array_equal(molecule_ranks, ref[1])


def test_metrics_match_scikit_learn():
    rng = np.random.default_rng(3)
    queries, candidates, true, molecule = random_problem(rng, n_queries=300, n_molecules=40, integer=True, dim=6)
    n = len(candidates)
    ranks, _ = retrieval_ranks(queries, candidates, true_index=true, candidate_molecule=molecule)
    values = query_values(ranks, ranks, n_candidates=n)
    sims = (queries @ candidates.T).astype(np.float64)
    onehot = np.eye(n, dtype=int)[true]
    # label ranking AP with one relevant label is 1/rank, ties counted against: our MRR, ties included
    assert values[:, 4].mean() == pytest.approx(label_ranking_average_precision_score(onehot, sims), abs=1e-12)
    assert ranks.mean() == pytest.approx(coverage_error(onehot, sims), abs=1e-12)
    # top_k_accuracy_score breaks ties arbitrarily, so compare on (almost surely) tie-free Gaussian data
    queries, candidates, true, molecule = random_problem(rng, n_queries=300, n_molecules=40, integer=False, dim=6, ties=False)
    ranks, molecule_ranks = retrieval_ranks(queries, candidates, true_index=true, candidate_molecule=molecule)
    values = query_values(ranks, molecule_ranks, n_candidates=n)
    sims = queries.astype(np.float64) @ candidates.T.astype(np.float64)
    for column, percent in enumerate((1, 5)):
        expected = top_k_accuracy_score(true, sims, k=top_k_count(percent, n), labels=np.arange(n))
        assert values[:, column].mean() == pytest.approx(expected)


def test_top_k_count_is_exact_integer_ceiling():
    assert top_k_count(5, 20) == 1  # float ceil(0.05 * 20) would give 2
    assert [top_k_count(1, n) for n in (1, 99, 100, 101, 200, 201)] == [1, 1, 1, 2, 2, 3]
    assert top_k_count(5, 1000) == 50


def test_chance_levels_match_enumeration():
    n, k1, k5 = 12, top_k_count(1, 12), top_k_count(5, 12)
    for m in (1, 2, 3):
        chance = chance_levels(n, np.array([m]))[0]
        for column, k in ((2, k1), (3, k5)):
            positions = list(itertools.combinations(range(n), m))
            assert chance[column] == pytest.approx(np.mean([min(p) < k for p in positions]))
        assert chance[0] == pytest.approx(k1 / n) and chance[4] == pytest.approx(np.mean(1 / np.arange(1, n + 1)))
        assert chance[5] == np.quantile(np.arange(1, n + 1), 0.5, method="inverted_cdf")


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


def test_bootstrap_resamples_molecules_and_reuses_ranks():
    rng = np.random.default_rng(1)
    n_molecules, n = 15, 120
    molecule = rng.integers(0, n_molecules, n)
    group = rng.integers(0, 3, n)
    ranks = rng.integers(1, 50, n)
    values = query_values(ranks, ranks, n_candidates=50)
    weights = bootstrap_weights(n_molecules, n_resamples=20, rng=np.random.default_rng(5))
    draws = np.random.default_rng(5).integers(0, n_molecules, size=(20, n_molecules))
    rows = grouped_estimates(values, ranks, molecule, group, weights)
    for g in range(3):
        np.testing.assert_allclose(rows[0, g, :5], values[group == g].mean(axis=0))
        assert rows[0, g, 5] == np.quantile(ranks[group == g], 0.5, method="inverted_cdf")
    for b in range(20):  # resample b, rebuilt explicitly: each drawn molecule brings all its queries
        picked = np.concatenate([np.flatnonzero(molecule == m) for m in draws[b]])
        for g in range(3):
            chosen = picked[group[picked] == g]
            np.testing.assert_allclose(rows[b + 1, g, :5], values[chosen].mean(axis=0))
            assert rows[b + 1, g, 5] == np.quantile(ranks[chosen], 0.5, method="inverted_cdf")


def test_intervals_match_numpy_nanquantile():
    samples = np.random.default_rng(0).standard_normal((200, 3, 4))
    samples[:50, 0, 1] = np.nan  # resamples without the subset's molecules
    samples[:, 2, 3] = np.nan
    expected = np.nanquantile(samples[:, :, :3], [0.025, 0.975], axis=0)
    np.testing.assert_allclose(_intervals(samples)[..., :3], expected)
    assert np.isnan(_intervals(samples)[:, 2, 3]).all()


def test_effective_rank_detects_collapse():
    rng = np.random.default_rng(0)
    assert effective_rank(np.outer(rng.standard_normal(50), rng.standard_normal(8))) == pytest.approx(1.0)
    assert effective_rank(rng.standard_normal((5000, 8))) > 7.5


# --- end to end on a benchmark folder ------------------------------------------------------


@pytest.fixture(scope="module")
def bench(synthetic_v1):
    """The scorer for the small synthetic-v1 benchmark (built once per session by conftest)."""
    return Evaluator(synthetic_v1)


def submit(evaluator, path, query_fn, candidate_fn, splits=None, similarity="cosine"):
    """Write a submission whose embeddings are functions of the answer key (split, index arrays)."""
    queries, candidates = {}, {}
    for split, key in evaluator.keys.items():
        if splits is None or split in splits:
            queries[split] = (key.query_ids, query_fn(key))
            candidates[split] = (key.candidate_ids, candidate_fn(key))
    return write_submission(
        path, benchmark=evaluator.manifest.name, fingerprint=evaluator.manifest.fingerprint, model=path.stem,
        queries=queries, candidates=candidates, similarity=similarity,
    )


def oracle(evaluator, noise, seed=0):
    """Query = one-hot of its true candidate + noise; candidate = one-hot (one width for all splits)."""
    rng = np.random.default_rng(seed)
    dim = max(len(key.candidate_ids) for key in evaluator.keys.values())
    return (
        lambda key: (np.eye(len(key.candidate_ids), dim)[key.true_index] + noise * rng.standard_normal((len(key.true_index), dim))).astype(np.float32),
        lambda key: np.eye(len(key.candidate_ids), dim, dtype=np.float32),
    )


def test_constant_embedding_scores_at_or_below_chance(bench, tmp_path):
    const = lambda key, n=None: np.ones((len(key.query_ids), 4), np.float32)
    path = submit(bench, tmp_path / "constant.parquet", const, lambda key: np.ones((len(key.candidate_ids), 4), np.float32))
    results = bench.evaluate(path, n_bootstrap=50)
    for split, result in results.splits.items():
        assert any("same embedding" in flag for flag in result.flags)
        for view in (result.per_query, result.averaged):
            metrics = view.subsets["all"].metrics
            for name in METRICS:
                if name == "median_rank":
                    assert metrics[name].value == result.n_candidates >= metrics[name].chance
                else:
                    assert metrics[name].value <= metrics[name].chance
            assert metrics["top_5pct"].value == 0 and metrics["mrr"].value == pytest.approx(1 / result.n_candidates)


def test_rank_collapse_is_flagged(bench):
    key = bench.keys["unseen_molecules"]
    rng = np.random.default_rng(0)
    line = np.sign(rng.standard_normal((len(key.query_ids), 1))) * rng.standard_normal((1, 8))  # two opposite points
    ranked = rank_split(key, line.astype(np.float32), rng.standard_normal((len(key.candidate_ids), 8)).astype(np.float32))
    assert ranked.effective_rank["queries"] == pytest.approx(1.0) and ranked.effective_rank["candidates"] > 6
    assert ranked.flags == ["rank collapse: queries embeddings have effective rank 1.00"]


def test_oracle_scores_perfectly_and_averaged_view_matches_reference(bench, tmp_path):
    query_fn, candidate_fn = oracle(bench, noise=0.0)
    results = bench.evaluate(submit(bench, tmp_path / "oracle.parquet", query_fn, candidate_fn), n_bootstrap=50)
    metrics = results.splits["unseen_images"].per_query.subsets["all"].metrics
    assert metrics["top_1pct"].value == 1 and metrics["mrr"].value == 1 and metrics["median_rank"].value == 1

    query_fn, candidate_fn = oracle(bench, noise=0.8, seed=3)
    path = submit(bench, tmp_path / "noisy.parquet", query_fn, candidate_fn)
    ranked = bench.rank(path)["unseen_molecules"]
    key = bench.keys["unseen_molecules"]
    emb = bench.read(path).splits["unseen_molecules"]
    q = emb.queries / np.linalg.norm(emb.queries, axis=1, keepdims=True)
    c = emb.candidates / np.linalg.norm(emb.candidates, axis=1, keepdims=True)
    means = pd.DataFrame(q.astype(np.float64)).groupby(key.true_index).mean()
    avg = means.to_numpy() / np.linalg.norm(means.to_numpy(), axis=1, keepdims=True)
    ref, ref_molecule = sort_ranks(avg @ c.T.astype(np.float64), means.index.to_numpy(), key.candidate_molecule, np.full(len(avg), TIE_RTOL))
    np.testing.assert_array_equal(ranked.averaged.ranks, ref)
    np.testing.assert_array_equal(ranked.averaged.molecule_ranks, ref_molecule)


def test_breakdowns_and_uncovered_splits(bench, tmp_path):
    query_fn, candidate_fn = oracle(bench, noise=1.0, seed=1)
    path = submit(bench, tmp_path / "two.parquet", query_fn, candidate_fn, splits=("unseen_molecules", "unseen_dataset"))
    results = bench.evaluate(path, n_bootstrap=50)
    assert not results.splits["unseen_images"].evaluated and results.splits["unseen_images"].per_query is None
    ranked = bench.rank(path)
    for split in ("unseen_molecules", "unseen_dataset"):
        view, labels = results.splits[split].per_query, bench.keys[split].labels
        ranks = ranked[split].per_query.ranks
        for dose, subset in view.by_dose.items():
            mask = (labels["dose_level"] == dose).to_numpy()
            assert subset.n_queries == mask.sum()
            assert subset.metrics["mrr"].value == pytest.approx(np.mean(1 / ranks[mask]))
        assert sum(s.n_queries for s in view.by_scaffold.values()) == len(labels)
        assert set(view.by_scaffold) == set(labels["scaffold_group"])
        all_ = view.subsets["all"].metrics["top_5pct"]
        assert all_.low <= all_.value <= all_.high
    split_in_train = results.splits["unseen_dataset"].per_query.subsets
    assert split_in_train["molecule_in_train"].n_queries + split_in_train["molecule_not_in_train"].n_queries == split_in_train["all"].n_queries
    assert "molecule_in_train" not in results.splits["unseen_molecules"].per_query.subsets


def test_results_are_deterministic_and_round_trip(bench, tmp_path):
    path = bench.write_template(tmp_path / "t.parquet", dim=8, seed=1)
    first = write_results(bench.evaluate(path, n_bootstrap=30, seed=4), tmp_path / "a.json")
    second = write_results(bench.evaluate(path, n_bootstrap=30, seed=4), tmp_path / "b.json")
    assert first.read_bytes() == second.read_bytes()
    results = read_results(first)
    assert results.submission.sha256 and results.bootstrap.unit == "molecule"
    assert results == Results.model_validate(json.loads(second.read_text()))
    other = results.model_copy(update={"scorer_version": "99.0.0"})  # another major
    ensure_comparable({"a": results, "b": results})
    with pytest.raises(PhenoBenchError, match="b differ from a"):
        ensure_comparable({"a": results, "b": other})
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(PhenoBenchError, match="not a pheno-bench results file"):
        read_results(tmp_path / "bad.json")


def test_compare_verdicts(bench, tmp_path):
    good = submit(bench, tmp_path / "good.parquet", *oracle(bench, noise=0.3))
    random = bench.write_template(tmp_path / "random.parquet", dim=16)
    better = bench.compare(good, random, n_bootstrap=200)
    assert better.splits["unseen_images"]["per_query/all"]["top_5pct"].verdict == "better"
    assert better.splits["unseen_images"]["per_query/all"]["median_rank"].verdict == "better"
    worse = bench.compare(random, good, n_bootstrap=200)
    assert worse.splits["unseen_dataset"]["per_query/all"]["mrr"].verdict == "worse"
    same = bench.compare(random, random, n_bootstrap=50)
    diff = same.splits["unseen_molecules"]["per_query/active"]["mrr"]
    assert diff.verdict == "tied" and diff.difference == diff.low == diff.high == 0
    evaluated = bench.evaluate(good, n_bootstrap=200).splits["unseen_images"].per_query.subsets["all"].metrics
    assert better.splits["unseen_images"]["per_query/all"]["top_5pct"].a == evaluated["top_5pct"].value


def test_real_benchmark_random_and_oracle(cell_injury_v1, tmp_path):
    """cell-injury-v1 (real data): ids, sizes and chance levels line up; an oracle is perfect everywhere."""
    evaluator = Evaluator(cell_injury_v1)
    results = evaluator.evaluate(evaluator.write_template(tmp_path / "random.parquet"), n_bootstrap=100)
    for split, result in results.splits.items():
        stats = evaluator.manifest.stats(split)
        assert result.evaluated and (result.n_queries, result.n_candidates) == (stats.wells, stats.candidates)
        view = result.per_query
        assert sum(s.n_queries for s in view.by_dose.values()) == result.n_queries
        chance = view.subsets["all"].metrics
        assert chance["top_1pct"].chance == pytest.approx(top_k_count(1, result.n_candidates) / result.n_candidates)
        assert chance["median_rank"].chance == -(-result.n_candidates // 2)
    in_train = results.splits["unseen_dataset"].per_query.subsets
    assert in_train["molecule_in_train"].n_queries + in_train["molecule_not_in_train"].n_queries == in_train["all"].n_queries
    perfect = evaluator.evaluate(submit(evaluator, tmp_path / "oracle.parquet", *oracle(evaluator, noise=0.0)), n_bootstrap=0)
    for result in perfect.splits.values():
        assert all(result.per_query.subsets["all"].metrics[m].value == 1 for m in METRICS if m != "median_rank")
