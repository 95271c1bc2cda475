"""Scaffold cross-validation folds: the fold-set layout, its invariants, labels without test wells."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from conftest import HAS_DATA, HAS_MOLECULES
from pheno_bench.crossval import (
    ACTIVE_TOLERANCE, MOLECULE_SPREAD, FoldAssignment, assign_folds, check_no_test_wells_in_labels, condition_id,
)
from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import fold_root, is_fold_set, read_fold_set, verify_fold_set
from pheno_bench.manifest import MANIFEST, read_manifest
from pheno_bench.registry import locate
from pheno_bench.specs import BenchmarkSpec, SourceConfig

K = 3
SPEC = BenchmarkSpec(
    name="synthetic-folds-test",
    version="0.0.1",
    sources=[
        SourceConfig(name="synthetic", options={"name": "synthetic", "n_molecules": 90, "doses": [0.3, 3.0, 30.0], "n_features": 24, "address_effect": 0.3, "seed": 0}),
        SourceConfig(name="synthetic", options={"name": "synthetic-b", "n_molecules": 20, "molecule_offset": 80, "doses": [0.3, 3.0, 30.0], "n_features": 24, "seed": 1}),
    ],
    unseen_dataset_source="synthetic-b",
    activity_permutations=500,
    folds=K,
    activity_null_addresses="match",
    primary_metric="unseen_molecules/per_query/active/macro/top_5pct",
)
needs_molecules = pytest.mark.skipif(not HAS_MOLECULES, reason="needs ../shared/data/molecules-moshkov2023")


def _build(out):
    from pheno_bench.crossval import build_fold_set

    return build_fold_set(SPEC, out=out)


@pytest.fixture(scope="module")
def fold_set_root(tmp_path_factory):
    if not HAS_MOLECULES:
        pytest.skip("needs ../shared/data/molecules-moshkov2023")
    return _build(tmp_path_factory.mktemp("folds") / "synthetic-folds-test")


def _answers(root, k, split):
    return pq.read_table(fold_root(root, k) / f"answers/{split}.parquet").to_pandas()


@needs_molecules
def test_fold_set_manifest_and_layout(fold_set_root):
    assert is_fold_set(fold_set_root)
    fold_set = verify_fold_set(fold_set_root)
    assert fold_set.k == K and fold_set.fingerprint == hashlib.sha256((fold_set_root / MANIFEST).read_bytes()).hexdigest()
    assert fold_set.primary_metric == SPEC.primary_metric
    for entry in fold_set.folds:
        manifest = read_manifest(fold_root(fold_set_root, entry.fold))
        assert manifest.fold == entry.fold and manifest.name == SPEC.name
        assert manifest.fingerprint == entry.fingerprint
    fingerprints = {e.fingerprint for e in fold_set.folds}
    assert len(fingerprints) == K  # every fold its own benchmark
    with pytest.raises(PhenoBenchError, match="set of 3 folds"):
        read_manifest(fold_set_root)
    assert locate(fold_set_root, fold=1) == fold_set_root / "fold-1"
    assert locate(fold_set_root / "fold-2") == fold_set_root / "fold-2"
    with pytest.raises(PhenoBenchError, match="no fold 3"):
        fold_root(fold_set_root, 3)
    with pytest.raises(PhenoBenchError, match="not a fold set"):
        read_fold_set(fold_set_root / "fold-0")


@needs_molecules
def test_every_molecule_unseen_in_exactly_one_fold_and_scaffolds_disjoint(fold_set_root):
    unseen = {k: _answers(fold_set_root, k, "unseen_molecules") for k in range(K)}
    train = {k: pq.read_table(fold_root(fold_set_root, k) / "wells/train.parquet", columns=["inchikey", "is_control"]).to_pandas() for k in range(K)}
    everything = set().union(*(set(t.loc[~t["is_control"], "inchikey"]) for t in train.values()), *(set(u["inchikey"]) for u in unseen.values()))
    counts = pd.Series([m for u in unseen.values() for m in set(u["inchikey"])]).value_counts()
    assert (counts == 1).all() and set(counts.index) == everything  # no anchors in this spec
    scaffolds = [set(u["scaffold"].replace("", np.nan).dropna()) for u in unseen.values()]
    for a in range(K):
        for b in range(a + 1, K):
            assert not scaffolds[a] & scaffolds[b]
        assert not set(unseen[a]["inchikey"]) & set(train[a]["inchikey"])
    sizes = [u["inchikey"].nunique() for u in unseen.values()]
    assert max(sizes) - min(sizes) <= MOLECULE_SPREAD


@needs_molecules
def test_active_fraction_balanced_against_an_independent_count(fold_set_root):
    fractions = []
    for k in range(K):
        conditions = _answers(fold_set_root, k, "unseen_molecules").drop_duplicates("condition_id")
        tested = conditions[conditions["p_value"].notna()]
        fractions.append(tested["active"].mean())
    assert max(fractions) - min(fractions) <= 2 * ACTIVE_TOLERANCE


@needs_molecules
def test_training_labels_use_train_and_valid_wells_only(fold_set_root):
    """Recompute fold 0's training labels independently from its train+valid wells and compare."""
    from pheno_bench.activity import activity_table
    from pheno_bench.schema import Wells

    root = fold_root(fold_set_root, 0)
    train = Wells.from_arrow(pq.read_table(root / "wells/train.parquet"))
    valid = Wells.from_arrow(pq.read_table(root / "wells/valid.parquet"))
    meta = pd.concat([train.meta, valid.meta], ignore_index=True)
    both = Wells(meta.assign(well=meta["address"]), np.concatenate([train.features, valid.features]), train.metadata)
    table = activity_table(both, n_permutations=SPEC.activity_permutations, seed=SPEC.seed, null_addresses="match")
    merged = meta[~meta["is_control"]].merge(table, on=["inchikey", "dose_level"], suffixes=("", "_again"))
    np.testing.assert_allclose(merged["p_value"].to_numpy(float), merged["p_value_again"].to_numpy(float), equal_nan=True)
    # the test labels differ from a recomputation on train wells: they come from all wells
    images = _answers(fold_set_root, 0, "unseen_images")
    assert images["p_value"].notna().all()


def test_leak_check_names_the_test_wells():
    split_of = pd.Series({"w1": "train", "w2": "unseen_images", "w3": "valid"})
    check_no_test_wells_in_labels({"w1", "w3"}, split_of)
    with pytest.raises(PhenoBenchError, match="1 test wells, e.g. \\['w2'\\]"):
        check_no_test_wells_in_labels({"w1", "w2"}, split_of)


@needs_molecules
def test_rebuild_is_byte_identical(fold_set_root, tmp_path):
    again = _build(tmp_path / "again")
    first = {p.relative_to(fold_set_root): p.read_bytes() for p in fold_set_root.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys() and first == second


def _molecules(n_groups=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        for m in range(int(rng.integers(1, 4))):
            testable = int(rng.integers(2, 7))
            rows.append((f"M{g:02d}{m}", f"g{g}", False, int(rng.integers(0, testable + 1)), testable))
    rows.append(("ANCHOR", "ganchor", True, 3, 3))
    return pd.DataFrame(rows, columns=["inchikey", "group", "anchor", "active", "testable"])


def test_assign_folds_balances_and_validates():
    assignment = assign_folds(_molecules(), 5, np.random.default_rng(0))
    m = assignment.molecules
    counts = m.loc[~m["anchor"], "fold"].value_counts()
    assert counts.max() - counts.min() <= MOLECULE_SPREAD
    assert (m.loc[m["anchor"], "fold"] == -1).all()
    assert (m.groupby("group")["fold"].nunique() == 1).all()
    again = assign_folds(_molecules(), 5, np.random.default_rng(0))
    pd.testing.assert_frame_equal(m, again.molecules)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.assign(fold=m["fold"].where(m["inchikey"] != "M000", 99)), "unseen in no fold"),
        (lambda m: m.assign(fold=m["fold"].where(m["inchikey"] != "ANCHOR", 0)), "anchor molecule is unseen"),
        (lambda m: m.assign(group=m["group"].where(m["inchikey"] != "M000", m.loc[~m["anchor"] & (m["fold"] != m.loc[m["inchikey"] == "M000", "fold"].iloc[0]), "group"].iloc[0])), "scaffold groups in two folds"),
        (lambda m: m.assign(fold=m["fold"].where(m["anchor"] | (m.index > 25), 0)), "unbalanced in molecules"),
        (lambda m: m.assign(active=np.where(m["fold"] == 1, m["testable"], 0)), "unbalanced in active fraction"),
        (lambda m: pd.concat([m, m.iloc[[3]]], ignore_index=True), "listed twice"),
    ],
)
def test_each_fold_invariant_is_enforced(change, message):
    good = assign_folds(_molecules(), 5, np.random.default_rng(0)).molecules
    with pytest.raises(ValidationError, match=message):
        FoldAssignment(molecules=change(good), k=5)


def test_condition_id_names_time():
    meta = pd.DataFrame({"inchikey": ["K", "K", None], "dose_level": ["1", "1", None], "time_h": [24.0, 48.0, 24.0], "is_control": [False, False, True]})
    assert condition_id(meta, ("time_h",)).tolist()[:2] == ["K@1@24h", "K@1@48h"]
    assert pd.isna(condition_id(meta, ("time_h",))[2])


@pytest.mark.skipif(not HAS_DATA, reason="real data not found (set PHENO_BENCH_DATA to ../shared/data)")
def test_cell_injury_v2_real(cell_injury_v2):
    """The real cell-injury-v2: 5 folds, every non-anchor molecule unseen once, times apart, anchors flagged."""
    root = cell_injury_v2  # built once per session (conftest), shared with the diagnostics tests
    fold_set = verify_fold_set(root)
    pooled = fold_set.composition["pooled"]
    assert fold_set.k == 5 and pooled["unseen_molecules"]["molecules"] == pooled["molecules"] - pooled["anchors"]
    assert max(pooled["molecules_per_fold"]) - min(pooled["molecules_per_fold"]) <= 2
    answers = pd.concat([_answers(root, k, "unseen_images") for k in range(5)])
    assert set(answers["time_h"]) == {24.0, 48.0}
    assert answers["condition_id"].str.endswith(("@24h", "@48h")).all()
    assert answers.loc[answers["inchikey"].isin(fold_set.anchors), "is_anchor"].all()
    assert json.loads((root / MANIFEST).read_bytes())["kind"] == "fold-set"
