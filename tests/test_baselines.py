"""Reference baselines: losses against hand computations, featurisation, data guidelines,
determinism, the torch-less CLI, and a smoke run on synthetic-v1 retrieving far above chance."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="the baselines extra (PyTorch) is not installed")

from pheno_bench.baselines.config import BASELINES, get_config  # noqa: E402
from pheno_bench.baselines.data import (  # noqa: E402
    TrainingSet,
    class_labels,
    concentration_features,
    replicate_distance,
    training_set,
    Standardiser,
)
from pheno_bench.baselines.featurise import MorganCounts, RDKitDescriptors, cache_path, featurise, get_featuriser  # noqa: E402
from pheno_bench.baselines.losses import clip_loss, cloob_loss, hopfield_retrieval, info_loob, sigmoid_loss, soft_targets  # noqa: E402
from pheno_bench.baselines.train import batch_indices, embed, train  # noqa: E402
from pheno_bench.errors import PhenoBenchError  # noqa: E402
from pheno_bench.schema import Wells, WellsMetadata  # noqa: E402

SMILES = ["CCOc1ccccc1C(=O)N", "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "c1ccc2ccccc2c1", "OC(=O)CCc1ccccc1", "CCN(CC)CC"]


def _unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _t(x) -> torch.Tensor:
    return torch.tensor(np.asarray(x), dtype=torch.float64)


# --- losses against direct formulas ----------------------------------------------------------


def _infoloob_direct(a, b, classes, inv_tau):
    """τ · mean_i [−mean_{j∈P(i)} k_ij + log Σ_{j∉P(i)} exp k_ij], k = a·b / τ, in plain Python."""
    n = len(a)
    total = 0.0
    for i in range(n):
        k = [inv_tau * sum(a[i][e] * b[j][e] for e in range(len(a[i]))) for j in range(n)]
        pos = [k[j] for j in range(n) if classes[j] == classes[i]]
        neg = [k[j] for j in range(n) if classes[j] != classes[i]]
        total += -sum(pos) / len(pos) + math.log(sum(math.exp(v) for v in neg))
    return total / n / inv_tau


@pytest.mark.parametrize("classes", [[0, 1, 2], [0, 0, 1, 2]])
def test_infoloob_matches_direct_formula(classes):
    rng = np.random.default_rng(1)
    a, b = _unit_rows(rng, len(classes), 4), _unit_rows(rng, len(classes), 4)
    positives = torch.tensor(np.equal.outer(classes, classes))
    got = info_loob(_t(a), _t(b), positives, 14.3).item()
    assert got == pytest.approx(_infoloob_direct(a.tolist(), b.tolist(), classes, 14.3), rel=1e-10)


def test_infoloob_leaves_the_positive_out_of_the_denominator():
    # InfoNCE is bounded below by 0; InfoLOOB is not: a perfect match makes it negative.
    x = _t(np.eye(3))
    assert info_loob(x, x, torch.eye(3, dtype=torch.bool), 14.3).item() < 0
    assert clip_loss(x, x, torch.eye(3, dtype=torch.bool), 14.3).item() > 0


def test_hopfield_retrieval_matches_numpy():
    rng = np.random.default_rng(2)
    state, stored = _unit_rows(rng, 3, 5), _unit_rows(rng, 4, 5)
    logits = 14.3 * state @ stored.T
    weights = np.exp(logits - logits.max(1, keepdims=True))
    weights /= weights.sum(1, keepdims=True)
    expected = weights @ stored
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(hopfield_retrieval(_t(state), _t(stored), 14.3).numpy(), expected, rtol=1e-10)


def test_cloob_loss_is_infoloob_of_hopfield_retrievals_in_both_modalities():
    rng = np.random.default_rng(3)
    x, y = _unit_rows(rng, 3, 4), _unit_rows(rng, 3, 4)

    def retrieve(state, stored):
        w = np.exp(14.3 * state @ stored.T)
        r = (w / w.sum(1, keepdims=True)) @ stored
        return r / np.linalg.norm(r, axis=1, keepdims=True)

    direct = _infoloob_direct(retrieve(x, x).tolist(), retrieve(y, x).tolist(), [0, 1, 2], 14.3) + _infoloob_direct(
        retrieve(y, y).tolist(), retrieve(x, y).tolist(), [0, 1, 2], 14.3
    )
    got = cloob_loss(_t(x), _t(y), torch.eye(3, dtype=torch.bool), 14.3, 14.3).item()
    assert got == pytest.approx(direct, rel=1e-9)


def test_clip_loss_matches_direct_formula():
    rng = np.random.default_rng(4)
    x, y = _unit_rows(rng, 3, 4), _unit_rows(rng, 3, 4)
    logits = 10.0 * x @ y.T

    def cross_entropy(rows):
        return np.mean([-rows[i, i] + math.log(sum(math.exp(v) for v in rows[i])) for i in range(3)])

    expected = (cross_entropy(logits) + cross_entropy(logits.T)) / 2
    assert clip_loss(_t(x), _t(y), torch.eye(3, dtype=torch.bool), 10.0).item() == pytest.approx(expected, rel=1e-10)


def test_sigmoid_loss_matches_direct_formula():
    rng = np.random.default_rng(5)
    x, y = _unit_rows(rng, 3, 4), _unit_rows(rng, 3, 4)
    targets = np.array([[1.0, 0.2, 0.0], [0.1, 1.0, 0.3], [0.0, 0.0, 1.0]])
    t, b = 10.0, -3.0
    expected = 0.0
    for i in range(3):
        for j in range(3):
            p = 1 / (1 + math.exp(-(t * float(x[i] @ y[j]) + b)))
            expected -= targets[i, j] * math.log(p) + (1 - targets[i, j]) * math.log(1 - p)
    got = sigmoid_loss(_t(x), _t(y), _t(targets), t, b).item()
    assert got == pytest.approx(expected / 3, rel=1e-10)


def test_soft_targets_are_arctan_of_rms_distance():
    phenomic = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    positives = torch.tensor([[True, False, False], [False, True, True], [False, True, True]])
    got = soft_targets(_t(phenomic), positives, scale=2.0, weight=0.5).numpy()
    assert got[1, 2] == 1.0 and got[0, 0] == 1.0
    d01 = 5.0 / math.sqrt(2)
    assert got[0, 1] == pytest.approx(0.5 * (1 - 2 / math.pi * math.atan(d01 / 2.0)))
    assert got[0, 2] == pytest.approx(0.5 * (1 - 2 / math.pi * math.atan((1 / math.sqrt(2)) / 2.0)))
    assert got[0, 2] > got[0, 1]  # closer phenotypes, larger soft target


# --- molecules ---------------------------------------------------------------------------------


def test_morgan_counts_match_rdkit_hashed_count_fingerprint():
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    got = MorganCounts()(SMILES)
    assert got.shape == (len(SMILES), 1024) and got.dtype == np.float32
    for row, smiles in zip(got, SMILES):
        counts = np.zeros(1024)
        for bit, count in AllChem.GetHashedMorganFingerprint(Chem.MolFromSmiles(smiles), 3, nBits=1024).GetNonzeroElements().items():
            counts[bit] = count
        np.testing.assert_allclose(row, np.log1p(counts), rtol=1e-6)


def test_featurise_caches_per_smiles_and_featuriser():
    calls = []

    class Counting:
        key = "counting-v1"

        def __call__(self, smiles):
            calls.append(list(smiles))
            return np.array([[len(s), s.count("C")] for s in smiles], dtype=np.float32)

    first = featurise(SMILES[:3], Counting())
    again = featurise([SMILES[2], SMILES[0], SMILES[3]], Counting())
    assert calls == [sorted(SMILES[:3]), [SMILES[3]]]  # only the new molecule was computed
    np.testing.assert_array_equal(again[:2], first[[2, 0]])
    assert cache_path(Counting()).is_file()
    assert cache_path(Counting()) != cache_path(MorganCounts())


def test_featuriser_specs_and_errors():
    both = get_featuriser("morgan+rdkit2d")
    features = both(SMILES[:2])
    assert features.shape == (2, 1024 + RDKitDescriptors()(SMILES[:1]).shape[1]) and np.isfinite(features).all()
    with pytest.raises(PhenoBenchError, match="unknown featuriser 'ecfp'"):
        get_featuriser("ecfp")
    with pytest.raises(PhenoBenchError, match="does not parse"):
        featurise(["not a smiles ((("], MorganCounts(), cache=False)


# --- data guidelines ---------------------------------------------------------------------------


def _wells(rng: np.random.Generator) -> Wells:
    rows = []
    for m, smiles in enumerate(SMILES[:3]):
        for dose in ("0.1", "1", "10"):
            for replicate in range(3):
                rows.append(dict(well_id=f"w{m}{dose}{replicate}", smiles=smiles, inchikey=f"KEY{m}", dose_level=dose,
                                 candidate_id=f"KEY{m}@{dose}", p_value=0.5 if m == 2 else 0.001))
    meta = pd.DataFrame(rows).assign(source="s", plate="p", batch="b", is_control=False, compound_id="c", concentration_um=1.0)
    return Wells(meta, rng.normal(size=(len(meta), 6)).astype(np.float32), WellsMetadata(sources=["s"], feature_names=list("abcdef"), feature_space="raw"))


def test_training_set_averages_replicates_and_flags_inactive_pairs():
    wells = _wells(np.random.default_rng(6))
    config = get_config("molphenix")
    standardiser = Standardiser.fit(wells.features)
    data = training_set(wells, config, featuriser=MorganCounts(), levels=["0.1", "1", "10"], standardiser=standardiser, origin="test")
    expected = pd.DataFrame(standardiser(wells.features)).assign(key=wells.meta["candidate_id"]).groupby("key").mean()
    np.testing.assert_allclose(data.phenomic, expected.to_numpy(), rtol=1e-5, atol=1e-6)
    assert len(set(data.classes)) == 9 and data.inactive.sum() == 3  # molecule 2: p = 0.5 > 0.05
    assert data.molecule.shape == (9, 1024 + 3 + 1)
    plain = training_set(wells, get_config("cloome"), featuriser=MorganCounts(), levels=["0.1", "1", "10"], standardiser=standardiser, origin="test")
    assert plain.phenomic.shape == (27, 6) and plain.molecule.shape == (27, 1024) and len(set(plain.classes)) == 3


def test_concentration_encoding_and_classes():
    doses = pd.Series(["0.1", "10", "3"])
    got = concentration_features(doses, ["0.1", "1", "10"], origin="test")
    np.testing.assert_allclose(got, [[1, 0, 0, -1], [0, 0, 1, 1], [0, 0, 0, math.log10(3)]], rtol=1e-6)
    with pytest.raises(PhenoBenchError, match="not a positive number"):
        concentration_features(pd.Series(["high"]), ["0.1"], origin="wells/train.parquet")
    frame = pd.DataFrame({"inchikey": ["A", "A", "B"], "candidate_id": ["A@1", "A@10", "B@1"]})
    assert list(class_labels(frame, get_config("molphenix"))) == [0, 1, 2]
    assert list(class_labels(frame, get_config("cloome"))) == [0, 0, 1]


def test_replicate_distance_matches_brute_force():
    rng = np.random.default_rng(7)
    x, groups = rng.normal(size=(11, 3)), rng.integers(0, 4, size=11)
    brute = [np.sqrt(((x[i] - x[j]) ** 2).mean()) for i in range(11) for j in range(i + 1, 11) if groups[i] == groups[j]]
    assert replicate_distance(x, groups) == pytest.approx(np.median(brute))


def test_undersampling_keeps_actives_and_a_fraction_of_inactives():
    n = 400
    data = TrainingSet(np.zeros((n, 2), np.float32), np.zeros((n, 2), np.float32), np.arange(n), np.arange(n) >= 100, 1.0)
    config = get_config("molphenix", batch_size=100)
    batches = batch_indices(data, config, np.random.default_rng(0))
    drawn = np.concatenate([next(batches) for _ in range(400)])
    active_share = np.mean(drawn < 100)
    expected = 100 / (100 + 300 * config.inactive_keep)  # 100 actives and ~75 inactives per epoch
    assert active_share == pytest.approx(expected, abs=0.03)
    without = batch_indices(data, get_config("molphenix", batch_size=100, undersample_inactive=False), np.random.default_rng(0))
    assert np.mean(np.concatenate([next(without) for _ in range(40)]) < 100) == pytest.approx(0.25, abs=0.03)


# --- training ----------------------------------------------------------------------------------


def _planted(seed: int = 0, n_classes: int = 40, reps: int = 4):
    """Molecule inputs (one random vector per class) and phenotypes = a fixed linear map + noise."""
    rng = np.random.default_rng(seed)
    molecules = rng.normal(size=(n_classes, 16)).astype(np.float32)
    mapping = rng.normal(size=(16, 12)).astype(np.float32)
    classes = np.repeat(np.arange(n_classes), reps)
    phenomic = (molecules[classes] @ mapping + 0.3 * rng.normal(size=(len(classes), 12))).astype(np.float32)
    return TrainingSet(phenomic, molecules[classes], classes, np.zeros(len(classes), bool), 1.0), molecules, mapping


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_training_learns_a_planted_mapping_and_is_deterministic(name):
    data, molecules, mapping = _planted()
    config = get_config(name, samples_seen=64 * 60, batch_size=64, hidden_dim=64, n_layers=2, embed_dim=32, explicit_concentration=False, average_replicates=False)
    model = train(data, config, seed=0, progress=False)
    queries = embed(model, molecules @ mapping, kind="phenomic")  # noise-free phenotype of each class
    candidates = embed(model, molecules, kind="molecule")
    similarity = queries @ candidates.T
    ranks = (similarity >= np.diag(similarity)[:, None]).sum(1)
    assert np.mean(ranks <= 2) > 0.5  # chance: 2 / 40
    again = embed(train(data, config, seed=0, progress=False), molecules, kind="molecule")
    other = embed(train(data, config, seed=1, progress=False), molecules, kind="molecule")
    assert again.tobytes() == candidates.tobytes()
    assert not np.allclose(other, candidates)


# --- command line ------------------------------------------------------------------------------


def _cli(*args: str, block_torch: bool = False) -> subprocess.CompletedProcess:
    code = "import sys\n"
    if block_torch:
        code += "sys.modules['torch'] = None\n"
    code += f"sys.argv = ['pheno-bench', *{list(args)!r}]\nfrom pheno_bench.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})


def test_cli_without_torch_gives_one_clear_error():
    assert _cli("--help", block_torch=True).returncode == 0
    listed = _cli("baselines", "list", block_torch=True)
    assert listed.returncode == 0 and "molphenix" in listed.stdout and "cloome" in listed.stdout
    run = _cli("baselines", "run", "cloome", "--benchmark", "x", "--out", "y", block_torch=True)
    assert run.returncode == 2
    assert "pip install 'pheno-bench[baselines]'" in run.stderr and "Traceback" not in run.stderr


def test_cli_unknown_baseline_and_bad_seeds(tmp_path):
    run = _cli("baselines", "run", "resnet", "--benchmark", str(tmp_path), "--out", str(tmp_path / "e"))
    assert run.returncode == 2 and "unknown baseline 'resnet'" in run.stderr
    bad = _cli("baselines", "run", "clip", "--benchmark", str(tmp_path), "--seeds", "0", "x", "--out", str(tmp_path / "e"))
    assert bad.returncode == 2 and "seeds are non-negative integers" in bad.stderr
    name = _cli("baselines", "run", "clip", "--benchmark", str(tmp_path), "--out", str(tmp_path / "My Entry"))
    assert name.returncode == 2 and "entry name 'My Entry' is not valid" in name.stderr


# --- smoke run on the synthetic benchmark ------------------------------------------------------


SMOKE = dict(samples_seen=64 * 400, batch_size=64, hidden_dim=256, n_layers=2, embed_dim=64, lr=3e-3, featuriser="morgan")  # about 5 s a seed


def _active_top1(result, split="unseen_images"):
    return result.splits[split].per_query.subsets["active"].metrics["top_1pct"]


@pytest.mark.parametrize("name", ["cloome", "clip"])
def test_smoke_run_retrieves_far_above_chance(synthetic_v1, tmp_path, name):
    from pheno_bench.baselines.run import run_baseline

    results = run_baseline(name, benchmark=synthetic_v1, seeds=[0], out=tmp_path / name, results_dir=tmp_path / "r", progress=False, log=lambda _: None, **SMOKE)
    top1 = _active_top1(results[0])
    assert top1.value > 10 * top1.chance, top1


def test_molphenix_run_writes_a_valid_entry_deterministically(synthetic_v1, tmp_path):
    from pheno_bench.baselines.run import run_baseline
    from pheno_bench.leaderboard import Entry
    from pheno_bench.results import read_results

    out = tmp_path / "molphenix"
    results = run_baseline("molphenix", benchmark=synthetic_v1, seeds=[0, 1], out=out, results_dir=tmp_path / "results", progress=False, log=lambda _: None, **SMOKE)
    entry = Entry.load(out)
    assert entry.metadata.kind == "baseline" and entry.metadata.seeds == [0, 1] and entry.metadata.parameters > 0
    for seed, result in results.items():
        assert read_results(tmp_path / "results" / f"seed-{seed}.json") == result
        top1 = _active_top1(result)
        assert top1.value > 10 * top1.chance, (seed, top1)
    assert (out / "seed-0.parquet").read_bytes() != (out / "seed-1.parquet").read_bytes()
    again = run_baseline("molphenix", benchmark=synthetic_v1, seeds=[0], out=tmp_path / "again", results_dir=tmp_path / "r2", progress=False, log=lambda _: None, **SMOKE)
    assert (tmp_path / "again" / "seed-0.parquet").read_bytes() == (out / "seed-0.parquet").read_bytes()
    assert again[0].splits == results[0].splits


def test_ablate_switches_off_one_guideline_per_row_and_keeps_results_only(synthetic_v1, tmp_path):
    from pheno_bench.baselines.config import ABLATIONS
    from pheno_bench.baselines.run import ablate

    keys = ["full", "no-concentration", "p0.01"]
    rows = ablate("molphenix", benchmark=synthetic_v1, seeds=[0], out=tmp_path, rows=keys, progress=False, log=lambda _: None, **{**SMOKE, "samples_seen": 64 * 50})
    labels = {key: label for key, label, _ in ABLATIONS["molphenix"]}
    assert list(rows) == [labels[k] for k in keys]
    assert (tmp_path / "summary.json").is_file()
    for key in keys:
        assert (tmp_path / key / "seed-0.json").is_file() and rows[labels[key]][0].submission.model
    assert not list(tmp_path.rglob("*.parquet"))  # ablation rows keep results JSON, not embeddings
    with pytest.raises(PhenoBenchError, match="no ablation defined for 'resnet'"):
        ablate("resnet", benchmark=synthetic_v1, out=tmp_path)
    with pytest.raises(PhenoBenchError, match="no ablation row 'nope'"):
        ablate("molphenix", benchmark=synthetic_v1, out=tmp_path, rows=["nope"])
