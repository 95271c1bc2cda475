"""Split rules and invariants: validators on generated assignments, rules on the real data."""

import hashlib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from conftest import HAS_DATA, requires_data, requires_molecules
from pheno_bench.curate import curate
from pheno_bench.manifest import MANIFEST, read_manifest, verify
from pheno_bench.schema import SPLITS, TEST_SPLITS
from pheno_bench.sources import get_source, load_source
from pheno_bench.split import SplitAssignment, assign_splits, get_spec, hold_out_groups


def _assignment_rows():
    rows = [
        ("c1", "train", "A", None, "", True),
        ("t1", "train", "A", "M1", "g1", False),
        ("t2", "valid", "A", "M2", "g2", False),
        ("t3", "unseen_images", "A", "M1", "g1", False),
        ("t4", "unseen_molecules", "A", "M3", "g3", False),
        ("t5", "unseen_dataset", "B", "M4", "g4", False),
    ]
    return pd.DataFrame(rows, columns=["well_id", "split", "source", "inchikey", "group", "is_control"])


def test_valid_assignment_passes():
    SplitAssignment(wells=_assignment_rows(), unseen_dataset_source="B")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: pd.concat([w, w.iloc[[1]].assign(split="valid")]), "wells in two splits"),
        (lambda w: w[w["split"] != "valid"], "split valid is empty"),
        (lambda w: w.assign(group=w["group"].replace("g3", "g1")), "unseen_molecules scaffolds also in train"),
        (lambda w: w.assign(group=w["group"].replace("g2", "g1")), "valid scaffolds also in train"),
        (lambda w: w.assign(source=["A", "B", "A", "A", "A", "B"]), "unseen_dataset source B used outside"),
        (lambda w: w.assign(inchikey=w["inchikey"].replace({"M1": "M9"}).where(w["well_id"] != "t1", "M1")), "unseen_images molecules not in train"),
        (lambda w: w.assign(split=w["split"].where(w["well_id"] != "c1", "valid")), "control wells outside train"),
    ],
)
def test_each_invariant_is_enforced(change, message):
    with pytest.raises(ValidationError, match=message):
        SplitAssignment(wells=change(_assignment_rows()), unseen_dataset_source="B")


@requires_molecules
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3])
def test_scaffold_groups_balance_molecule_fraction_on_real_chemistry(fraction):
    from pheno_bench.curate import standardise_molecules
    from pheno_bench.paths import data_root
    from pheno_bench.split import scaffold_groups

    smiles = (data_root() / "molecules-moshkov2023" / "smiles.txt").read_text().split()[1:3001]
    table = standardise_molecules(pd.Series(smiles)).dropna(subset=["inchikey"]).drop_duplicates("inchikey")
    molecules = pd.DataFrame({"inchikey": table["inchikey"].to_numpy(), "group": scaffold_groups(table.reset_index(drop=True)).to_numpy()})
    target = round(fraction * len(molecules))
    groups = hold_out_groups(molecules, target, np.random.default_rng(0), np.ones(len(molecules), bool))
    realised = molecules["group"].isin(groups).mean()
    assert abs(realised - fraction) <= 0.02
    # acyclic molecules are groups of one, never one lump
    acyclic = molecules[molecules["group"].str.startswith("acyclic:")]
    assert acyclic["group"].is_unique


@pytest.fixture(scope="module")
def real_assignment():
    if not HAS_DATA:
        pytest.skip("real data not found")
    parts = [load_source("cell-injury"), load_source("lincs-pilot1")]
    curated = curate(parts, {p.wells.metadata.sources[0]: get_source(p.wells.metadata.sources[0]).nominal_doses_um for p in parts})
    spec = get_spec("cell-injury-v1")
    assignment = assign_splits(curated.wells, spec)
    meta = curated.wells.meta.merge(assignment.wells[["well_id", "split", "group"]], on="well_id")
    return spec, meta


@requires_data
def test_unseen_molecules_fraction_and_whole_molecules(real_assignment):
    spec, meta = real_assignment
    treated = meta[~meta["is_control"] & (meta["source"] == "cell-injury")]
    molecule_split = treated.groupby("inchikey")["split"].agg(set)
    held = molecule_split[molecule_split.apply(lambda s: "unseen_molecules" in s)]
    assert all(s == {"unseen_molecules"} for s in held)  # every dose, every well held out
    assert abs(len(held) / len(molecule_split) - spec.unseen_molecules_fraction) <= 0.02
    assert not set(held.index) & set(spec.anchor_molecules)


@requires_data
def test_unseen_images_holds_whole_plates_and_every_dose(real_assignment):
    _, meta = real_assignment
    treated = meta[~meta["is_control"] & (meta["source"] == "cell-injury")]
    images = treated[treated["split"] == "unseen_images"]
    train = treated[treated["split"] == "train"]
    assert set(images["inchikey"]) <= set(train["inchikey"])
    assert set(images["dose_level"]) == set(train["dose_level"])
    whole = [p for p in images["plate"].unique() if p not in set(train["plate"])]
    assert images["plate"].isin(whole).mean() > 0.9  # mostly whole plates; replicates fill dose gaps
    assert 0.13 <= len(images) / (len(images) + len(train)) <= 0.17


@requires_data
def test_unseen_dataset_is_the_whole_other_source(real_assignment):
    _, meta = real_assignment
    treated = meta[~meta["is_control"]]
    assert set(treated.loc[treated["split"] == "unseen_dataset", "source"]) == {"lincs-pilot1"}
    assert (treated.loc[treated["source"] == "lincs-pilot1", "split"] == "unseen_dataset").all()


@requires_data
def test_built_benchmark_files_and_manifest(cell_injury_v1):
    manifest = verify(cell_injury_v1)
    assert manifest.fingerprint == hashlib.sha256((cell_injury_v1 / MANIFEST).read_bytes()).hexdigest()
    assert [s.split for s in manifest.splits] == list(SPLITS)
    for split in TEST_SPLITS:
        queries = pq.read_table(cell_injury_v1 / f"queries/{split}.parquet")
        assert queries.column_names == ["query_id", "features"]  # no labels, no plate, no well
        candidates = pq.read_table(cell_injury_v1 / f"candidates/{split}.parquet").to_pandas()
        assert list(candidates.columns) == ["candidate_id", "inchikey", "smiles", "dose_level", "concentration_um"]
        answers = pq.read_table(cell_injury_v1 / f"answers/{split}.parquet").to_pandas()
        assert set(answers["candidate_id"]) == set(candidates["candidate_id"])
        assert set(answers["query_id"]) == set(queries.column("query_id").to_pylist())
        assert not answers["query_id"].str.contains("cell-injury|lincs|BR0|SQ0").any()
        assert manifest.stats(split).candidates == len(candidates)
    dataset = pq.read_table(cell_injury_v1 / "answers/unseen_dataset.parquet").to_pandas()
    assert dataset["in_train"].sum() > 0  # molecules shared with train are flagged


@requires_data
def test_build_is_byte_identical(cell_injury_v1, tmp_path):
    from pheno_bench.split import build_benchmark

    again = build_benchmark("cell-injury-v1", out=tmp_path / "again")
    first = {p.relative_to(cell_injury_v1): p.read_bytes() for p in cell_injury_v1.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys() and first == second
    other = build_benchmark("cell-injury-v1", out=tmp_path / "seed1", seed=1)
    assert read_manifest(other).fingerprint != read_manifest(cell_injury_v1).fingerprint


def test_balanced_plate_hold_out_spreads_over_layouts():
    from pheno_bench.split import hash_layout, hold_out_images

    rows = []
    for plate in range(12):
        layout = "A" if plate < 8 else "B"  # 8 plates of map A, 4 of map B
        for m in range(10):
            address = f"C{m:02d}" if layout == "A" else f"D{9 - m:02d}"
            rows.append((f"P{plate:02d}", address, f"M{m}", "1"))
    meta = pd.DataFrame(rows, columns=["plate", "well", "inchikey", "dose_level"])
    layouts = {p: hash_layout(g) for p, g in meta.groupby("plate")}
    assert len(set(layouts.values())) == 2
    unbalanced = []
    for seed in range(20):
        plain = hold_out_images(meta, 0.25, np.random.default_rng(seed))
        whole_plain = meta.assign(held=plain).groupby("plate")["held"].all()
        unbalanced.append({layouts[p] for p in whole_plain[whole_plain].index} != set(layouts.values()))
        held = hold_out_images(meta, 0.25, np.random.default_rng(seed), balance_layouts=True)
        whole = meta.assign(held=held).groupby("plate")["held"].all()
        whole = set(whole[whole].index)
        assert {layouts[p] for p in whole} == set(layouts.values())  # whole plates of both maps held out
        per_layout = pd.Series([layouts[p] for p in whole]).value_counts()
        assert per_layout.max() - per_layout.min() <= 1  # round robin: no map loses two plates before another loses one
    assert any(unbalanced)  # a plain random plate order misses the rare map on some seeds
