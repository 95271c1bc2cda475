"""The scorer end to end on benchmark folders: fair ties, scale-proofing, strict JSON, micro/macro,
anchors, the "too few" rule, the primary metric. (Ranks and metric values against independent
references are in test_ranking.py; verdicts in test_compare.py.)"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import (
    METRICS,
    SCORER_VERSION,
    Evaluator,
    effective_rank,
    load_split_key,
    parse_metric_id,
    rank_split,
    top_k_count,
)
from pheno_bench.results import Results, ensure_comparable, read_results, write_results
from pheno_bench.submission import write_submission


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity tokens (they are not JSON)."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def bench(synthetic_v1):
    """The scorer for the small synthetic-v1 benchmark (built once per session by conftest)."""
    return Evaluator(synthetic_v1)


def submit(evaluator, path, query_fn, candidate_fn, splits=None, similarity="cosine", model=None):
    """Write a submission whose embeddings are functions of the answer key (split, index arrays)."""
    queries, candidates = {}, {}
    for split, key in evaluator.keys.items():
        if splits is None or split in splits:
            queries[split] = (key.query_ids, query_fn(key))
            candidates[split] = (key.candidate_ids, candidate_fn(key))
    return write_submission(
        path, benchmark=evaluator.manifest.name, fingerprint=evaluator.manifest.fingerprint, model=model or path.stem,
        queries=queries, candidates=candidates, similarity=similarity, fold=evaluator.manifest.fold,
    )


def oracle(evaluator, noise, seed=0):
    """Query = one-hot of its true candidate + noise; candidate = one-hot (one width for all splits)."""
    rng = np.random.default_rng(seed)
    dim = max(len(key.candidate_ids) for key in evaluator.keys.values())
    return (
        lambda key: (np.eye(len(key.candidate_ids), dim)[key.true_index] + noise * rng.standard_normal((len(key.true_index), dim))).astype(np.float32),
        lambda key: np.eye(len(key.candidate_ids), dim, dtype=np.float32),
    )


def scaled(evaluator, path, source, factor, similarity="cosine"):
    """A copy of the submission ``source`` with every embedding multiplied by ``factor`` (in float32)."""
    sub = evaluator.read(source)
    queries = {s: (evaluator.keys[s].query_ids, (e.queries.astype(np.float64) * factor).astype(np.float32)) for s, e in sub.splits.items()}
    candidates = {s: (evaluator.keys[s].candidate_ids, (e.candidates.astype(np.float64) * factor).astype(np.float32)) for s, e in sub.splits.items()}
    return write_submission(path, benchmark=evaluator.manifest.name, fingerprint=evaluator.manifest.fingerprint, model=sub.metadata.model,
                            queries=queries, candidates=candidates, similarity=similarity)


def all_estimates(results):
    """(split, view, subset, average, metric) -> Estimate for every scored or descriptive cell."""
    out = {}
    for split, result in results.splits.items():
        for view in ("per_query", "averaged"):
            view_result = getattr(result, view)
            if view_result is None:
                continue
            for field in ("subsets", "by_dose", "by_scaffold"):
                for name, subset in getattr(view_result, field).items():
                    for average, values in (("micro", subset.metrics), ("macro", subset.macro)):
                        for metric, est in values.items():
                            out[(split, view, field, name, average, metric)] = est
    return out


def test_constant_embedding_scores_exactly_chance_on_every_metric(bench, tmp_path):
    """Regression: the v1 scorer counted ties against the submission (below chance); overflowed dot gave 100%."""
    ones = lambda key, n=None: np.ones((len(key.query_ids), 4), np.float32)
    path = submit(bench, tmp_path / "constant.parquet", ones, lambda key: np.ones((len(key.candidate_ids), 4), np.float32))
    results = bench.evaluate(path, n_bootstrap=50)
    estimates = all_estimates(results)
    assert len(estimates) > 100
    for cell, est in estimates.items():
        assert est.value == est.chance, cell  # exactly, bit for bit
    for split, result in results.splits.items():
        assert any("same embedding" in flag for flag in result.flags)
        assert result.per_query.subsets["all"].metrics["median_rank"].value == (result.n_candidates + 1) / 2
        pessimistic = result.pessimistic["all"]
        assert pessimistic["top_5pct"] == 0 and pessimistic["mrr"] == pytest.approx(1 / result.n_candidates)  # the old view, kept


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_scores_are_invariant_to_scale_1e30_and_1e_30(bench, tmp_path, similarity):
    """Regression: x1e30 under dot overflowed to 100% everywhere (NaN thresholds); x1e-30 under cosine raised LinAlgError."""
    base = bench.write_template(tmp_path / "base.parquet", dim=16, seed=3)
    plain = bench.evaluate(scaled(bench, tmp_path / "one.parquet", base, 1.0, similarity), n_bootstrap=30)
    for factor in (1e30, 1e-30):
        other = bench.evaluate(scaled(bench, tmp_path / f"x{factor}.parquet", base, factor, similarity), n_bootstrap=30)
        assert other.splits == plain.splits, factor
        assert other.primary == plain.primary


def test_huge_constant_dot_embedding_scores_chance_not_100(bench, tmp_path):
    """Regression (defect 1): one constant vector x 1e20 under dot overflowed to 'every query a hit'."""
    big = lambda key: np.full((len(key.query_ids), 8), 3e19, np.float32)
    path = submit(bench, tmp_path / "big.parquet", big, lambda key: np.full((len(key.candidate_ids), 8), 1e20, np.float32), similarity="dot")
    results = bench.evaluate(path, n_bootstrap=20)
    for cell, est in all_estimates(results).items():
        assert est.value == est.chance, cell


def test_results_json_is_strict_and_deterministic(bench, tmp_path):
    path = bench.write_template(tmp_path / "t.parquet", dim=8, seed=1)
    first = write_results(bench.evaluate(path, n_bootstrap=30, seed=4), tmp_path / "a.json")
    second = write_results(bench.evaluate(path, n_bootstrap=30, seed=4), tmp_path / "b.json")
    assert first.read_bytes() == second.read_bytes()
    data = strict_json(first.read_text())
    assert data["scorer_version"] == SCORER_VERSION == "4.0.1" and data["ties"] == "fair"
    results = read_results(first)
    assert results.submission.sha256 and results.bootstrap.unit == "molecule"
    assert results == Results.model_validate(json.loads(second.read_text()))
    other = results.model_copy(update={"scorer_version": "99.0.0"})  # another major
    ensure_comparable({"a": results, "b": results, "c": results.model_copy(update={"scorer_version": "4.1.0"})})
    with pytest.raises(PhenoBenchError, match="b differ from a"):
        ensure_comparable({"a": results, "b": other})
    with pytest.raises(PhenoBenchError, match="b differ from a"):  # scorer 3 numbers (median of mid-ranks) never mix with 4
        ensure_comparable({"a": results, "b": results.model_copy(update={"scorer_version": "3.0.0"})})
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(PhenoBenchError, match="not a pheno-bench results file"):
        read_results(tmp_path / "bad.json")


def test_every_top_k_metric_says_its_k(bench, tmp_path):
    results = bench.evaluate(bench.write_template(tmp_path / "t.parquet", dim=8), n_bootstrap=10)
    for split, result in results.splits.items():
        key = bench.keys[split]
        level_size = pd.Series(key.candidate_dose).value_counts()
        for name, est in result.per_query.subsets["all"].metrics.items():
            percent = 1 if name.endswith("1pct") else 5
            if name.startswith("identity"):  # ranked among the candidates at the true dose level: that level's k
                sizes = set(level_size[key.labels.loc[~key.labels["anchor"], "dose_level"]].tolist())
                size = sizes.pop() if len(sizes) == 1 else None
                assert (est.k, est.n_candidates) == ((top_k_count(percent, size), size) if size else (None, None))
            elif "top" in name:
                assert est.n_candidates == result.n_candidates and est.k == top_k_count(percent, result.n_candidates)
            else:
                assert est.k is None
        for dose, subset in result.per_query.by_dose.items():  # one level: its k, always
            if subset.metrics:
                assert subset.metrics["identity_top_5pct"].n_candidates == level_size[dose]
                assert subset.metrics["identity_top_5pct"].k == top_k_count(5, int(level_size[dose]))
        assert result.k == {"top_1pct": top_k_count(1, result.n_candidates), "top_5pct": top_k_count(5, result.n_candidates)}


def test_oracle_scores_perfectly_and_averaged_view_matches_reference(bench, tmp_path):
    query_fn, candidate_fn = oracle(bench, noise=0.0)
    results = bench.evaluate(submit(bench, tmp_path / "oracle.parquet", query_fn, candidate_fn), n_bootstrap=50)
    for average in ("metrics", "macro"):
        metrics = getattr(results.splits["unseen_images"].per_query.subsets["all"], average)
        assert metrics["top_1pct"].value == 1 and metrics["mrr"].value == 1 and metrics["median_rank"].value == 1
    assert results.primary.value == 1

    query_fn, candidate_fn = oracle(bench, noise=0.8, seed=3)
    path = submit(bench, tmp_path / "noisy.parquet", query_fn, candidate_fn)
    ranked = bench.rank(path)["unseen_molecules"]
    key = bench.keys["unseen_molecules"]
    emb = bench.read(path).splits["unseen_molecules"]
    q = emb.queries / np.linalg.norm(emb.queries.astype(np.float64), axis=1, keepdims=True)
    c = emb.candidates / np.linalg.norm(emb.candidates.astype(np.float64), axis=1, keepdims=True)
    means = pd.DataFrame(q).groupby(key.true_index).mean()
    avg = means.to_numpy() / np.linalg.norm(means.to_numpy(), axis=1, keepdims=True)
    sims = avg @ c.T
    true = means.index.to_numpy()
    above = (sims > sims[np.arange(len(true)), true][:, None]).sum(axis=1)  # Gaussian noise: no ties
    np.testing.assert_array_equal(ranked.averaged.counts.above, above)
    np.testing.assert_array_equal(ranked.averaged.ranks, above + 1)


def test_micro_and_macro_match_an_independent_groupby(bench, tmp_path):
    path = submit(bench, tmp_path / "noisy.parquet", *oracle(bench, noise=1.2, seed=2))
    results = bench.evaluate(path, n_bootstrap=0)
    view = bench.rank(path)["unseen_molecules"].per_query
    frame = pd.DataFrame(view.values, columns=METRICS).assign(molecule=view.labels["inchikey"], active=view.labels["active"])
    for subset, rows in (("all", frame), ("active", frame[frame.active])):
        got = results.splits["unseen_molecules"].per_query.subsets[subset]
        assert got.n_molecules == rows.molecule.nunique() and got.n_queries == len(rows)
        for metric in ("top_5pct", "mrr", "molecule_top_1pct"):
            assert got.metrics[metric].value == pytest.approx(rows[metric].mean())
            assert got.macro[metric].value == pytest.approx(rows.groupby("molecule")[metric].mean().mean())
        assert got.metrics["mrr"].low is None  # no bootstrap: no interval


def test_breakdowns_and_uncovered_splits(bench, tmp_path):
    query_fn, candidate_fn = oracle(bench, noise=1.0, seed=1)
    path = submit(bench, tmp_path / "two.parquet", query_fn, candidate_fn, splits=("unseen_molecules", "unseen_dataset"))
    results = bench.evaluate(path, n_bootstrap=50)
    assert not results.splits["unseen_images"].evaluated and results.splits["unseen_images"].per_query is None
    ranked = bench.rank(path)
    for split in ("unseen_molecules", "unseen_dataset"):
        view, labels = results.splits[split].per_query, bench.keys[split].labels
        rr = ranked[split].per_query.values[:, 4]
        for dose, subset in view.by_dose.items():
            mask = (labels["dose_level"] == dose).to_numpy()
            assert subset.n_queries == mask.sum()
            if subset.status != "too_few":
                assert subset.metrics["mrr"].value == pytest.approx(np.mean(rr[mask]))
        assert sum(s.n_queries for s in view.by_scaffold.values()) == len(labels)
        for scaffold in view.by_scaffold.values():  # scaffold groups of < 10 molecules: a value, never an interval
            assert scaffold.status in ("descriptive", "scored") or (split == "unseen_dataset" and "in train" in scaffold.reason)
            if scaffold.status == "descriptive":
                assert scaffold.metrics["mrr"].low is None
        all_ = view.subsets["all"].metrics["top_5pct"]
        assert all_.low <= all_.value <= all_.high
    subsets = results.splits["unseen_dataset"].per_query.subsets
    assert subsets["molecule_in_train"].n_queries + subsets["molecule_not_in_train"].n_queries == subsets["all"].n_queries
    assert subsets["molecule_in_train"].status == "too_few" and not subsets["molecule_in_train"].metrics  # all in train
    assert "molecule_in_train" not in results.splits["unseen_molecules"].per_query.subsets


def test_too_few_molecules_is_never_a_number(bench, tmp_path):
    """A subset of fewer than 10 molecules is reported as too few, with its n."""
    root = bench.root
    evaluator = Evaluator(root)
    key = evaluator.keys["unseen_molecules"]
    few = key.labels["inchikey"].drop_duplicates().iloc[:4].tolist()
    evaluator.keys["unseen_molecules"].labels["active"] = key.labels["inchikey"].isin(few).to_numpy()
    results = evaluator.evaluate(evaluator.write_template(tmp_path / "t.parquet", dim=8), n_bootstrap=20)
    active = results.splits["unseen_molecules"].per_query.subsets["active"]
    assert active.status == "too_few" and active.n_molecules == 4 and active.metrics == {} and active.macro == {}
    assert "too few" in active.reason and "4" in active.reason
    assert results.primary.value is None and results.primary.n_molecules == 4  # the primary subset is too few


def test_anchors_are_reported_apart(bench, tmp_path):
    """Positive controls (spec.anchor_molecules) never count in headline numbers."""
    key = bench.keys["unseen_images"]
    anchors = key.labels["inchikey"].value_counts().index[:2].tolist()
    evaluator = Evaluator(bench.root)
    evaluator.anchors = tuple(anchors)
    evaluator.keys = {split: load_split_key(bench.root, split, anchors=anchors) for split in evaluator.keys}
    results = evaluator.evaluate(evaluator.write_template(tmp_path / "t.parquet", dim=8), n_bootstrap=20)
    subsets = results.splits["unseen_images"].per_query.subsets
    n_anchor = int(key.labels["inchikey"].isin(anchors).sum())
    assert subsets["anchors"].n_queries == n_anchor and subsets["anchors"].n_molecules == 2
    assert subsets["anchors"].status == "descriptive" and subsets["anchors"].metrics["mrr"].low is None
    assert subsets["all"].n_queries == len(key.labels) - n_anchor
    by_dose = results.splits["unseen_images"].per_query.by_dose
    assert sum(s.n_queries for s in by_dose.values()) == len(key.labels) - n_anchor


def test_primary_metric_is_declared_and_resolved(bench, tmp_path):
    assert bench.primary_metric == "unseen_molecules/per_query/active/macro/top_5pct"
    results = bench.evaluate(bench.write_template(tmp_path / "t.parquet", dim=8), n_bootstrap=20)
    cell = results.splits["unseen_molecules"].per_query.subsets["active"].macro["top_5pct"]
    assert (results.primary.value, results.primary.low, results.primary.high, results.primary.chance) == (cell.value, cell.low, cell.high, cell.chance)
    assert f"k = {cell.k} of {cell.n_candidates}" in results.primary.label
    assert "synthetic-v1" not in bench.manifest.spec.get("primary_metric", "")  # frozen manifest unchanged
    with pytest.raises(PhenoBenchError, match="not '<split>/<view>/<subset>/<average>/<metric>'"):
        parse_metric_id("unseen_molecules/active/top_5pct")


def test_rank_collapse_is_flagged(bench):
    key = bench.keys["unseen_molecules"]
    rng = np.random.default_rng(0)
    line = np.sign(rng.standard_normal((len(key.query_ids), 1))) * rng.standard_normal((1, 8))  # two opposite points
    ranked = rank_split(key, line.astype(np.float32), rng.standard_normal((len(key.candidate_ids), 8)).astype(np.float32))
    assert ranked.effective_rank["queries"] == pytest.approx(1.0) and ranked.effective_rank["candidates"] > 6
    assert ranked.flags == ["rank collapse: queries embeddings have effective rank 1.00"]


def test_effective_rank_detects_collapse_at_any_scale():
    rng = np.random.default_rng(0)
    assert effective_rank(np.outer(rng.standard_normal(50), rng.standard_normal(8))) == pytest.approx(1.0)
    x = rng.standard_normal((5000, 8))
    assert effective_rank(x) > 7.5 and effective_rank(x * 1e-30) == pytest.approx(effective_rank(x))


def test_a_shared_offset_is_not_rank_collapse():
    """Regression: rank was computed on uncentred rows, so a useful probe whose embeddings share a large
    offset (probe-ridge-v1: 13.9 % against 5.2 % chance) was flagged "rank collapse" (1.23; 4.17 centred)."""
    rng = np.random.default_rng(0)
    spread = rng.standard_normal((500, 8))
    assert effective_rank(spread + 50.0) == pytest.approx(effective_rank(spread), rel=1e-6) and effective_rank(spread + 50.0) > 7


def test_real_benchmark_random_and_oracle(cell_injury_v1, tmp_path):
    """cell-injury-v1 (real data): ids, sizes, k and chance levels line up; an oracle is perfect everywhere;
    the unseen_dataset active subset (2 molecules, both in train) is too few to score."""
    evaluator = Evaluator(cell_injury_v1)
    results = evaluator.evaluate(evaluator.write_template(tmp_path / "random.parquet"), n_bootstrap=100)
    for split, result in results.splits.items():
        stats = evaluator.manifest.stats(split)
        assert result.evaluated and (result.n_queries, result.n_candidates) == (stats.wells, stats.candidates)
        view = result.per_query
        anchors = view.subsets.get("anchors")
        assert sum(s.n_queries for s in view.by_dose.values()) == result.n_queries - (anchors.n_queries if anchors else 0)
        chance = view.subsets["all"].metrics
        assert chance["top_1pct"].chance == pytest.approx(top_k_count(1, result.n_candidates) / result.n_candidates)
        assert chance["median_rank"].chance == (result.n_candidates + 1) / 2
    assert results.splits["unseen_images"].per_query.subsets["anchors"].n_molecules == 4
    assert results.splits["unseen_dataset"].per_query.subsets["active"].status == "too_few"
    assert results.primary.id == "unseen_molecules/per_query/active/macro/top_5pct" and results.primary.value is not None
    assert results.primary.label.endswith("(k = 9 of 174)")
    perfect = evaluator.evaluate(submit(evaluator, tmp_path / "oracle.parquet", *oracle(evaluator, noise=0.0)), n_bootstrap=0)
    for result in perfect.splits.values():
        assert all(result.per_query.subsets["all"].metrics[m].value == 1 for m in METRICS if m != "median_rank")


def test_fold_headlines_without_breakdowns_and_reused_chance_cells_give_the_same_results(bench, tmp_path, monkeypatch):
    """Issue 16: a fold's results inside pooled ones skip the by-dose / by-scaffold cells they never
    keep (``breakdowns=False`` must equal the full results with those emptied), and the chance and
    floor cells, which depend on the answer key and subset only, are computed once across files
    (the second file's results must equal a fresh computation's, bit for bit)."""
    from pheno_bench.scoring import summaries
    from pheno_bench.scoring.pooling import headline_only

    first = submit(bench, tmp_path / "a.parquet", *oracle(bench, 0.8, seed=1))
    second = submit(bench, tmp_path / "b.parquet", *oracle(bench, 0.9, seed=2))
    full = bench.evaluate(first)
    assert any(s.per_query.by_scaffold for s in full.splits.values() if s.evaluated)
    assert bench.evaluate(first, breakdowns=False).model_dump_json() == headline_only(full).model_dump_json()

    computed = []
    cell_estimates = summaries.cell_estimates
    monkeypatch.setattr(summaries, "cell_estimates", lambda view, codes, w, m, which="values": (computed.append(which), cell_estimates(view, codes, w, m, which))[1])
    reused = bench.evaluate(second).model_dump_json()  # chance and floor cells as the first file's
    assert "chance" not in computed and "floor" not in computed and "values" in computed
    monkeypatch.setattr(summaries, "_REFERENCE_CELLS", {})
    computed.clear()
    assert bench.evaluate(second).model_dump_json() == reused and "chance" in computed and "floor" in computed


def test_result_values_are_python_floats_none_for_no_interval_and_an_infinity_is_an_internal_error():
    """The summaries check whole arrays of estimates at once (issue 16: no Python call per number):
    NaN in an optional field (interval, floor) is None, any infinity, or NaN where a value is
    required, is the internal-error line, never a number in the results."""
    from pheno_bench.scoring.summaries import _finite, _optional

    got = _optional(np.array([[0.25, np.nan], [3.0, 1e300]])).tolist()
    assert got == [[0.25, None], [3.0, 1e300]] and all(type(x) is float for row in got for x in row if x is not None)
    assert _finite(np.array([1.5, -2.0])).tolist() == [1.5, -2.0]
    for bad, check in ((np.array([1.0, np.inf]), _optional), (np.array([np.nan, 1.0]), _finite), (np.array([-np.inf]), _finite)):
        with pytest.raises(PhenoBenchError, match="internal error: a metric is"):
            check(bad)
