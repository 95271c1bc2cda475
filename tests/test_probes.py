"""Training-free probes (no torch): the geometry that makes cosine mean "nearest profile",
the profile predictors against hand computations, the confound probes' inputs, safe entry
writing (refuse without --replace, never delete what a run did not write), and probe runs on
synthetic-v1 (deterministic, centroid far above chance, random at chance)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from pheno_bench.baselines.probes import PROBES, layout_queries, run_probe, well_address
from pheno_bench.baselines.profiles import (
    Conditions,
    centroid_profiles,
    condition_profiles,
    euclidean_lift,
    neighbour_profiles,
    tanimoto_matrix,
    top_percent_hit_rate,
)
from pheno_bench.errors import PhenoBenchError


def _cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def test_euclidean_lift_makes_cosine_rank_by_euclidean_distance():
    rng = np.random.default_rng(0)
    queries, candidates = rng.normal(size=(20, 7)) * 3, rng.normal(size=(30, 7)) * rng.uniform(0.1, 5, size=(30, 1))
    q, c = euclidean_lift(queries, candidates)
    distance = ((queries[:, None, :] - candidates[None, :, :]) ** 2).sum(-1)
    assert (np.argsort(-_cosine(q.astype(np.float64), c.astype(np.float64)), axis=1) == np.argsort(distance, axis=1)).all()
    assert np.allclose(np.linalg.norm(c, axis=1), np.linalg.norm(c[0]), rtol=1e-5)  # one norm for every candidate


def test_top_percent_hit_rate_counts_ties_at_their_expected_value():
    rng = np.random.default_rng(1)
    queries, true = rng.normal(size=(10, 4)), rng.integers(0, 40, size=10)
    constant = np.ones((40, 4))
    assert top_percent_hit_rate(queries, constant, true, percent=5) == pytest.approx(2 / 40)  # k = 2 of 40, all tied
    candidates = rng.normal(size=(40, 4))
    sims = _cosine(queries, candidates)
    brute = np.mean([(sims[i] > sims[i, true[i]]).sum() < 2 for i in range(10)])
    assert top_percent_hit_rate(queries, candidates, true, percent=5) == pytest.approx(brute)


def _meta(rows):
    return pd.DataFrame(rows, columns=["candidate_id", "inchikey", "smiles", "dose_level", "time_h"])


def test_condition_profiles_average_each_time_point_first():
    meta = _meta([("A@1", "A", "CCO", "1", 24.0)] * 3 + [("A@1", "A", "CCO", "1", 48.0), ("B@5", "B", "CCN", "5", 24.0)])
    x = np.array([[0.0], [0.0], [0.0], [4.0], [1.0]])
    conditions = condition_profiles(meta, x)
    assert conditions.frame["candidate_id"].tolist() == ["A@1", "B@5"]
    assert conditions.profiles[:, 0].tolist() == [2.0, 1.0]  # midpoint of 24 h (0) and 48 h (4), not the well mean 1
    profiles, known = centroid_profiles(pd.DataFrame({"candidate_id": ["B@5", "C@1"]}), conditions)
    assert known.tolist() == [True, False] and profiles[0, 0] == 1.0 and profiles[1, 0] == 0.0


def test_neighbour_profiles_weigh_the_k_most_similar_molecules_at_their_nearest_dose():
    smiles = {"A": "c1ccccc1CCO", "B": "c1ccccc1CCN", "C": "CCCCCCCCCC"}
    frame = pd.DataFrame(
        [("A@1", "A", smiles["A"], "1"), ("A@10", "A", smiles["A"], "10"), ("B@1", "B", smiles["B"], "1"), ("C@1", "C", smiles["C"], "1")],
        columns=["candidate_id", "inchikey", "smiles", "dose_level"],
    ).assign(log_dose=lambda f: np.log10(f["dose_level"].astype(float)))
    profiles = np.array([[1.0, 0.0], [5.0, 0.0], [0.0, 1.0], [9.0, 9.0]])
    conditions = Conditions(frame, profiles)
    query = pd.DataFrame({"candidate_id": ["Q@8"], "smiles": ["c1ccccc1CCCO"], "dose_level": ["8"]})
    sim = tanimoto_matrix(["c1ccccc1CCCO"], [smiles["A"], smiles["B"], smiles["C"]])[0]
    top2 = np.argsort(-sim)[:2]
    assert set(top2) == {0, 1}
    expected = (sim[0] * profiles[1] + sim[1] * profiles[2]) / (sim[0] + sim[1])  # A at 10 µM (nearest to 8), B at 1
    assert np.allclose(neighbour_profiles(query, conditions, k=2)[0], expected)


def test_layout_query_uses_only_other_molecules_at_the_same_address():
    class Data:
        train_meta = pd.DataFrame({"well_id": ["s:p1:B02", "s:p2:B2", "s:p3:B2", "s:p1:C3"], "inchikey": ["Q", "X", "Y", "Z"]})
        train_x = np.array([[100.0], [1.0], [3.0], [7.0]])

    answers = pd.DataFrame({"well_id": ["s:p9:B02", "s:p9:D4"], "inchikey": ["Q", "Q"]}, index=["q1", "q2"])
    out = layout_queries(Data, answers, ["q1", "q2"])
    assert out[0, 0] == 2.0  # mean of X and Y at B2; the query's own molecule Q (100) left out
    assert out[1, 0] == pytest.approx(Data.train_x.mean())  # no train well at D4: the mean profile (ties)
    assert well_address(pd.Series(["a:b:A01", "x:y:p12"])).tolist() == ["A1", "P12"]


def _probe(name, bench, out, **kw):
    return run_probe(name, benchmark=bench, out=out, results_dir=out.parent / f"results-{out.name}", log=lambda _: None, **kw)


def _top1(results, split, subset="all"):
    return results.splits[split].per_query.subsets[subset].metrics["top_1pct"].value


def test_probe_runs_write_marked_deterministic_entries(synthetic_v1, tmp_path):
    centroid = _probe("centroid", synthetic_v1, tmp_path / "a" / "probe-centroid")[0]
    again = _probe("centroid", synthetic_v1, tmp_path / "b" / "probe-centroid")[0]
    first, second = (p / "probe-centroid" / "seed-0.parquet" for p in (tmp_path / "a", tmp_path / "b"))
    assert first.read_bytes() == second.read_bytes()
    meta = yaml.safe_load((tmp_path / "a" / "probe-centroid" / "metadata.yaml").read_text())
    assert meta["kind"] == "probe" and meta["seeds"] == [0]
    chance = centroid.splits["unseen_images"].per_query.subsets["all"].metrics["top_1pct"].chance
    assert _top1(centroid, "unseen_images") > 5 * chance  # planted phenotypes: own train wells retrieve
    random = _probe("random", synthetic_v1, tmp_path / "a" / "probe-random", seeds=[0, 1, 2])
    mean = np.mean([_top1(r, "unseen_images") for r in random.values()])
    assert mean < 4 * chance
    neighbours = _probe("chem-neighbours", synthetic_v1, tmp_path / "a" / "probe-chem")[0]
    assert neighbours.splits["unseen_molecules"].evaluated


def test_run_refuses_existing_entry_and_never_deletes_other_seeds(synthetic_v1, tmp_path):
    out = tmp_path / "probe-random"
    _probe("random", synthetic_v1, out, seeds=[0, 1, 2])
    kept = {s: (out / f"seed-{s}.parquet").read_bytes() for s in (1, 2)}
    with pytest.raises(PhenoBenchError, match="already exists; pass --replace"):
        _probe("random", synthetic_v1, out, seeds=[0])
    _probe("random", synthetic_v1, out, seeds=[0], replace=True)  # the case: --seeds 0 into a 3-seed entry
    assert yaml.safe_load((out / "metadata.yaml").read_text())["seeds"] == [0, 1, 2]
    assert {s: (out / f"seed-{s}.parquet").read_bytes() for s in (1, 2)} == kept
    _probe("random", synthetic_v1, out, seeds=[3], replace=True)
    assert yaml.safe_load((out / "metadata.yaml").read_text())["seeds"] == [0, 1, 2, 3]
    with pytest.raises(PhenoBenchError, match="never merged across models"):
        _probe("centroid", synthetic_v1, out, replace=True)
    assert sorted(p.name for p in out.iterdir()) == ["metadata.yaml", *(f"seed-{s}.parquet" for s in range(4))]


def test_cytotoxicity_probe_needs_a_cell_count(synthetic_v1, tmp_path):
    with pytest.raises(PhenoBenchError, match="cytotoxicity probe needs"):
        _probe("cytotoxicity", synthetic_v1, tmp_path / "probe-cyto")
    assert not (tmp_path / "probe-cyto").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The CLI with torch made unimportable (a finder that refuses it): probes and `baselines list` must not need it."""
    block = (
        "import sys, importlib.abc\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
    )
    code = block + "sys.argv = ['pheno-bench', *%r]\nfrom pheno_bench.cli import main\nmain()" % (list(args),)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})


def test_cli_lists_probes_and_runs_one_without_torch(synthetic_v1, tmp_path):
    listing = _cli("baselines", "list")
    assert listing.returncode == 0, listing.stderr
    for name in [*PROBES, "molphenix", "cloome", "clip", "minimol"]:
        assert name in listing.stdout
    run = _cli("baselines", "run", "ridge", "--benchmark", str(synthetic_v1), "--out", str(tmp_path / "probe-ridge"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "probe-ridge" / "seed-0.parquet").is_file()
    again = _cli("baselines", "run", "ridge", "--benchmark", str(synthetic_v1), "--out", str(tmp_path / "probe-ridge"))
    assert again.returncode != 0 and "--replace" in again.stderr and "Traceback" not in again.stderr
    unknown = _cli("baselines", "run", "centroid", "--benchmark", str(synthetic_v1), "--out", str(tmp_path / "x"), "--featuriser", "morgan")
    assert unknown.returncode != 0 and "is a probe" in unknown.stderr


def test_deterministic_probe_refuses_extra_seeds(synthetic_v1, tmp_path):
    """Regression: `--seeds 1` on a deterministic probe wrote a byte copy of seed 0 and listed seeds [0, 1],
    fake replication toward the leaderboard's seed rule."""
    with pytest.raises(PhenoBenchError, match="deterministic"):
        _probe("centroid", synthetic_v1, tmp_path / "probe-centroid", seeds=[0, 1])
    assert not (tmp_path / "probe-centroid").exists()


# --- the query-blind floor (issue 19) -------------------------------------------------------------

from pheno_bench.floor import dose_prior, dose_ranks, query_blind_scores  # noqa: E402


def _train(rows):
    """Train wells (inchikey, concentration_um, active); one row per well."""
    return pd.DataFrame(rows, columns=["inchikey", "concentration_um", "active"]).assign(is_control=False)


def test_dose_prior_is_the_macro_share_of_active_wells_by_dose_rank():
    train = _train([("A", 10, True), ("A", 10, True), ("A", 1, True), ("A", 0.1, False), ("B", 5, True), ("B", 5, False), ("B", 2, False), ("C", 3, False)])
    prior = dose_prior(train)
    # A: 2 of its 3 active wells at rank 1, 1 at rank 2; B: its 1 active well at rank 1; C has none (left out)
    assert prior.to_dict() == pytest.approx({1: (2 / 3 + 1) / 2, 2: (1 / 3) / 2})
    assert dose_ranks(pd.DataFrame({"inchikey": ["A", "A", "B"], "dose_level": ["1", "10", "3"]})).tolist() == [2, 1, 1]


def test_query_blind_scores_put_one_dose_of_every_molecule_in_each_block():
    train = _train([("T", c, a) for c, a in ((20, True), (20, True), (10, True), (5, False), (1, False))])
    candidates = pd.DataFrame(
        [(f"{m}@{d}", m, str(d)) for m, doses in (("X", (1, 5, 20)), ("Y", (0.5, 2)), ("Z", (7,))) for d in doses],
        columns=["candidate_id", "inchikey", "dose_level"],
    )
    scores = dict(zip(candidates["candidate_id"], query_blind_scores(train, candidates)))
    # block 1: every molecule's highest dose (the prior favours rank 1), tied; then each molecule's next
    assert scores == {"X@20": -1, "Y@2": -1, "Z@7": -1, "X@5": -2, "Y@0.5": -2, "X@1": -3}
    shuffled = candidates.sample(frac=1, random_state=0)
    assert dict(zip(shuffled["candidate_id"], query_blind_scores(train, shuffled))) == scores  # rows matched by content, not order


def _query_blind_file(evaluator, path, rule):
    """A query-blind submission: every query (1, 0), candidates placed by ``rule(candidates) -> scores`` (ties kept)."""
    import hashlib

    from pheno_bench.baselines.data import candidate_frame
    from pheno_bench.baselines.probes import block_embedding
    from pheno_bench.schema import TEST_SPLITS
    from pheno_bench.submission import write_submission

    queries, candidates = {}, {}
    for split in TEST_SPLITS:
        query_ids, candidate_ids = evaluator.expected[split]
        frame = candidate_frame(evaluator.root, split).set_index("candidate_id").loc[list(candidate_ids)].reset_index()
        queries[split] = (query_ids, np.tile([1.0, 0.0], (len(query_ids), 1)))
        candidates[split] = (candidate_ids, block_embedding(rule(frame, hashlib)))
    manifest = evaluator.manifest
    return write_submission(path, benchmark=manifest.name, fingerprint=manifest.fingerprint, model=path.stem, queries=queries, candidates=candidates, fold=manifest.fold)


def _dose(frame):
    return pd.to_numeric(frame["concentration_um"], errors="coerce").to_numpy()


#: the issue's query-blind files: (a) each molecule's highest dose in one tied top block; (b) dose-ordered
#: blocks (tied within a dose level, highest first); (c) two tied blocks of 70% / 30% picked by a hash; a constant
QUERY_BLIND_FILES = {
    "top-dose": lambda f, h: (_dose(f) == f.assign(d=_dose(f)).groupby("inchikey")["d"].transform("max").to_numpy()).astype(float),
    "dose-ordered": lambda f, h: _dose(f),
    "hashed-70-30": lambda f, h: np.array([int(h.sha256(i.encode()).hexdigest(), 16) % 100 < 70 for i in f["candidate_id"]], float),
    "constant": lambda f, h: np.zeros(len(f)),
}


@pytest.mark.parametrize("benchmark", ["cell-injury-v1", "cell-injury-v2 fold 0"])
def test_query_blind_files_never_beat_the_query_blind_probe(benchmark, request, tmp_path):
    """Issue 19: query-blind files scored above chance; the probe is the floor they cannot beat (primary metric,
    molecule top-5%, and `compare`), it reaches the molecule-level bound k / n_molecules, and a constant file is
    still chance exactly."""
    from pheno_bench.baselines.probes import probe_results
    from pheno_bench.evaluate import Evaluator

    root = request.getfixturevalue("cell_injury_v1" if benchmark == "cell-injury-v1" else "cell_injury_v2")
    evaluator = Evaluator(root, fold=None if benchmark == "cell-injury-v1" else 0)
    probe_file = tmp_path / "probe.parquet"
    probe = probe_results("query-blind", evaluator.root, path=probe_file, n_bootstrap=200)
    molecules = lambda r: r.splits["unseen_molecules"].per_query.subsets["active"].macro["molecule_top_5pct"]
    split = probe.splits["unseen_molecules"]
    bound = min(split.k["top_5pct"], split.n_molecules) / split.n_molecules  # at most k distinct molecules in the top k
    assert split.per_query.subsets["all"].metrics["molecule_top_5pct"].value == pytest.approx(bound, abs=1e-12)
    assert probe.primary.value > probe.primary.chance
    # the scorer's own floor (computed from train labels, beside chance in every result) is this probe's score
    assert probe.primary.floor == pytest.approx(probe.primary.value, abs=1e-12)
    floor_cells = probe.splits["unseen_molecules"].per_query.subsets["all"].metrics
    assert all(e.floor == pytest.approx(e.value, abs=1e-9) for e in floor_cells.values()), {m: (e.value, e.floor) for m, e in floor_cells.items()}
    for name, rule in QUERY_BLIND_FILES.items():
        path = _query_blind_file(evaluator, tmp_path / f"{name}.parquet", rule)
        result = evaluator.evaluate(path, n_bootstrap=200)
        assert result.primary.value <= probe.primary.value + 1e-12, (name, result.primary.value, probe.primary.value)
        assert molecules(result).value <= molecules(probe).value + 1e-12, name
        assert evaluator.compare(path, probe_file, n_bootstrap=200).primary.verdict != "better", name  # compare_runs, the evaluator's ranks reused
        median = result.splits["unseen_molecules"].per_query.subsets["all"].metrics["median_rank"]
        if name == "constant":
            assert result.primary.value == result.primary.chance and molecules(result).value == molecules(result).chance
            assert median.value == median.chance  # scorer 4: a full tie is the uniform rank distribution, exactly chance
        if name == "hashed-70-30":  # scorer 3 (median of mid-ranks): 61.5 against a chance of 87.5 on v1
            assert median.value >= median.chance - 2, (median.value, median.chance)


# --- settings by scaffold-grouped CV inside train (issue 19) ----------------------------------------

from pheno_bench.baselines.tuning import HeldOut, cross_validate, extend_geometric, scaffold_folds, task_score  # noqa: E402


@pytest.mark.parametrize("scale_inputs", [True, False])
def test_ridge_profiles_match_scikit_learn_at_every_penalty(scale_inputs):
    from sklearn.linear_model import Ridge

    from pheno_bench.baselines.profiles import RidgeProfiles

    rng = np.random.default_rng(0)
    bits, log_dose, y = rng.integers(0, 2, (40, 30)).astype(float), rng.normal(size=40), rng.normal(size=(40, 5))
    model = RidgeProfiles(scale_inputs=scale_inputs).fit(bits, log_dose, y)
    x = np.column_stack([bits, log_dose])
    mean, sd = x.mean(0), (x.std(0) if scale_inputs else np.ones(x.shape[1]))
    sd = np.where(sd > 0, sd, 1.0)
    new_bits, new_dose = rng.integers(0, 2, (7, 30)).astype(float), rng.normal(size=7)
    for alpha in (0.1, 10.0, 1e4):
        reference = Ridge(alpha=alpha).fit((x - mean) / sd, y).predict((np.column_stack([new_bits, new_dose]) - mean) / sd)
        assert np.allclose(model.predict(new_bits, new_dose, alpha=alpha), reference, atol=1e-9)


def test_scaffold_folds_keep_groups_whole_and_are_deterministic():
    meta = pd.DataFrame({
        "inchikey": [f"M{i}" for i in range(30) for _ in range(2)],
        "scaffold": [("" if i % 7 == 0 else f"S{i % 5}") for i in range(30) for _ in range(2)],
    })
    folds = scaffold_folds(meta, n_folds=3, seed=1)
    assert (folds == scaffold_folds(meta, n_folds=3, seed=1)).all()
    group = meta["scaffold"].where(meta["scaffold"] != "", "acyclic:" + meta["inchikey"])
    assert (pd.Series(folds).groupby(group.to_numpy()).nunique() == 1).all()  # a scaffold never split
    molecules = pd.Series(folds).groupby(meta["inchikey"].to_numpy()).first().value_counts()
    assert molecules.max() - molecules.min() <= 6  # dealt to the emptiest fold: sizes within one group's size


def test_task_score_is_the_fair_top_k_macro_over_molecules():
    queries = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    profiles = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]] + [[-1.0, -1.0]] * 37)  # 40 candidates: k = 2
    task = HeldOut(None, None, None, None, queries, np.array([0, 2, 2]), np.array([0, 0, 1]))
    # query 0: tied with candidate 1 at the top -> hit; query 1: 2 above (0 and 1) -> miss; query 2: alone at top -> hit
    assert task_score(task, profiles, retrieval="cosine") == pytest.approx(((1 + 0) / 2 + 1) / 2)
    tied = HeldOut(None, None, None, None, queries[:1], np.array([0]), np.array([0]))
    assert task_score(tied, np.ones((40, 2)), retrieval="cosine") == pytest.approx(2 / 40)  # all tied: chance


def test_cross_validation_extends_a_grid_whose_best_is_at_an_edge_and_ties_go_to_the_simpler():
    class Task:
        pass

    peak = 1e5  # the score rises towards 1e5, then falls
    profiles = lambda task, alpha: alpha
    import pheno_bench.baselines.tuning as tuning

    def fake_score(task, alpha, **_):
        return -abs(np.log10(alpha) - np.log10(peak)) + task.noise

    tasks = [Task(), Task()]
    tasks[0].noise, tasks[1].noise = 0.0, 0.1
    original = tuning.task_score
    tuning.task_score = fake_score
    try:
        curve = cross_validate("alpha", tasks, profiles, [1.0, 10.0, 100.0], simpler=lambda a: a, extend=extend_geometric)
        assert curve.chosen == peak and curve.extended == [1e3, 1e4, 1e5, 1e6]  # extended past the peak, then stopped
        flat = cross_validate("alpha", tasks, lambda t, a: 1.0, [1.0, 10.0], simpler=lambda a: a, extend=lambda b, g: None)
        assert flat.chosen == 10.0  # exactly equal: the larger penalty (simpler)
    finally:
        tuning.task_score = original


def test_reference_ridge_is_tuned_inside_train_and_the_worked_example_does_not_beat_it(cell_injury_v1_1, tmp_path):
    """Issue 19: the v1 ridge probe chose alpha 1e7 on valid (near-constant, 13.9 %) while the worked example
    (alpha 10) scored 21.3 %. The probe's penalty now comes from scaffold-grouped CV inside train, its optimum
    interior to the grid; the example must not be `better` than it in a paired comparison."""
    from test_loader import worked_example

    from pheno_bench.baselines.probes import ALPHA_GRID, prepare_probe, write_probe_submission
    from pheno_bench.evaluate import Evaluator

    evaluator = Evaluator(cell_injury_v1_1)  # the worked example's benchmark (v1's wells, opaque ids)
    data = prepare_probe("ridge", evaluator.root, evaluator.manifest.feature_names)
    curve = data.curves["alpha"]
    grid = sorted(float(a) for a in curve["curve"])
    assert grid[0] < data.choices["alpha"] < grid[-1] and grid[0] <= min(ALPHA_GRID) and grid[-1] >= max(ALPHA_GRID)
    probe = write_probe_submission("ridge", evaluator, seed=0, path=tmp_path / "probe.parquet", data=data)
    (tmp_path / "example.py").write_text(worked_example())
    run = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    comparison = evaluator.compare(tmp_path / "out" / "ridge-seed-0.parquet", probe, n_bootstrap=500)
    assert comparison.primary.verdict != "better", comparison.primary
