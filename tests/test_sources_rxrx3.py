"""The rxrx3-core adapter on small files written in exactly the published Hub layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pheno_bench.curate import curate
from pheno_bench.errors import PhenoBenchError
from pheno_bench.fetch import lock_path
from pheno_bench.paths import data_root
from pheno_bench.sources import rxrx3_core
from pheno_bench.sources.rxrx3_core import EMBEDDINGS_FILE, METADATA_FILE, NOMINAL_DOSES_UM, SOURCE

pytestmark = pytest.mark.skipif(
    not (data_root() / "molecules-moshkov2023").is_dir(), reason="needs ../shared/data/molecules-moshkov2023 for real SMILES"
)



@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """Each test writes different raw files: its own sha256 lock (a shared one would rightly refuse them)."""
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never reach for the Hub from these tests
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


METADATA_COLUMNS = ["well_id", "experiment_name", "plate", "address", "gene", "treatment", "SMILES", "concentration", "perturbation_type", "cell_type", "well_type_label"]
#: A compound row of the published metadata example (its SMILES carries a CXSMILES extension).
CXSMILES = "CC1=[N+](CCCCCCCCCC[N+]2=C(C)C=C(N)C3=CC=CC=C23)C2=CC=CC=C2C(N)=C1 |c:1,13,21,29,31,35,t:16,19,23,27|"
DOSES = ("0.0025", "0.01", "0.025", "0.1", "0.25", "1.0", "2.5", "10.0")
N_FEATURES = 384


def _row(experiment, plate, address, *, gene="", treatment="", smiles="", concentration="", kind="COMPOUND", label=""):
    return {
        "well_id": f"{experiment}_{plate}_{address}", "experiment_name": experiment, "plate": str(plate), "address": address,
        "gene": gene, "treatment": treatment, "SMILES": smiles, "concentration": concentration,
        "perturbation_type": kind, "cell_type": "HUVEC", "well_type_label": label,
    }


def layout() -> pd.DataFrame:
    """Two compound plates (5 real molecules + Dequalinium × 8 doses, EMPTY and CRISPR controls) and a gene plate."""
    smiles = pd.read_csv(data_root() / "molecules-moshkov2023" / "smiles.txt")["smiles"].iloc[[0, 10, 100, 1000, 10000]]
    molecules = [(f"Compound-{i}", s) for i, s in enumerate(smiles)] + [("Dequalinium", CXSMILES)]
    rows, slot = [], 0
    for name, smi in molecules:
        for dose in DOSES:
            plate = 1 + slot % 2
            rows.append(_row("compound-001", plate, f"B{slot:02d}", treatment=name, smiles=smi, concentration=dose, label="treatment"))
            slot += 1
    for plate in (1, 2):
        rows += [_row("compound-001", plate, f"A{i:02d}", treatment="EMPTY_control", label="negative_control") for i in range(4)]
        rows += [_row("compound-001", plate, f"C{i:02d}", treatment="CRISPR_control", label="negative_control") for i in range(2)]
    rows.append(_row("compound-001", 1, "D01", treatment="Oddball", smiles=smiles.iloc[0], concentration="0.026", label="treatment"))
    rows += [_row("gene-001", 1, f"E{i:02d}", gene="PLK1", treatment=f"PLK1_guide_{i}", kind="CRISPR", label="treatment") for i in range(3)]
    rows += [_row("gene-001", 1, f"F{i:02d}", gene="EMPTY_control", treatment="EMPTY_control", kind="CRISPR", label="negative_control") for i in range(2)]
    return pd.DataFrame(rows, columns=METADATA_COLUMNS)


def write(root: Path, metadata: pd.DataFrame, embeddings: pd.DataFrame) -> Path:
    folder = root / "rxrx3-core"
    folder.mkdir(parents=True, exist_ok=True)
    metadata.to_csv(folder / METADATA_FILE, index=False)
    embeddings.to_parquet(folder / EMBEDDINGS_FILE, index=False)
    lock_path("rxrx3-core").unlink(missing_ok=True)  # new files, as a new release: record their sha256s again
    return root


def embeddings_for(well_ids, seed: int = 0) -> pd.DataFrame:
    """OpenPhenom-shaped rows for ``well_ids``, in a shuffled order (the adapter must join by id)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((len(well_ids), N_FEATURES)).astype(np.float32)
    frame = pd.DataFrame(values, columns=[f"feature_{i}" for i in range(N_FEATURES)])
    frame.insert(0, "well_id", list(well_ids))
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture
def published(tmp_path):
    metadata = layout()
    missing = "compound-001_2_B03"
    embeddings = embeddings_for([w for w in metadata["well_id"] if w != missing] + ["compound-009_1_Z99"])
    return write(tmp_path, metadata, embeddings), metadata, embeddings, missing


def test_reads_the_published_layout(published):
    root, metadata, embeddings, missing = published
    ingested = SOURCE.load(root)
    meta = ingested.wells.meta
    compounds = metadata[(metadata["perturbation_type"] == "COMPOUND") & (metadata["SMILES"] != "")]
    # negative controls: EMPTY_control only, as the publisher's EFAAR analysis (control_key = "EMPTY_control")
    controls = metadata[(metadata["perturbation_type"] == "COMPOUND") & metadata["treatment"].eq("EMPTY_control")]
    assert len(meta) == len(compounds) + len(controls) - 1
    assert "rxrx3-core:" + missing not in set(meta["well_id"])
    assert meta["is_control"].sum() == len(controls)
    assert meta.loc[meta["is_control"], "compound_id"].value_counts().to_dict() == {"EMPTY_control": 8}
    assert not meta["compound_id"].eq("CRISPR_control").any()
    assert set(meta["plate"]) == {"compound-001_1", "compound-001_2"}
    assert set(meta["batch"]) == {"compound-001"}
    assert (meta["well_id"] == "rxrx3-core:" + meta["plate"] + "_" + meta["well"]).all()
    assert meta.loc[meta["is_control"], ["smiles", "concentration_um"]].isna().all().all()
    deq = meta[meta["compound_id"] == "Dequalinium"]
    assert (deq["smiles"] == CXSMILES).all() and sorted(deq["concentration_um"]) == sorted(map(float, DOSES))
    # Features come from the embedding row with the same well_id, whatever the row order.
    by_id = embeddings.set_index("well_id")
    published_ids = meta["well_id"].str.removeprefix("rxrx3-core:")
    np.testing.assert_array_equal(ingested.wells.features, by_id.loc[published_ids].to_numpy(np.float32))
    assert ingested.wells.metadata.feature_names == [f"feature_{i}" for i in range(N_FEATURES)]
    assert set(ingested.files) == {METADATA_FILE, EMBEDDINGS_FILE}


def test_reports_what_it_leaves_out(published):
    root, *_, missing = published
    reasons = {e["reason"].split(" (")[0]: e for e in SOURCE.load(root).excluded}
    crispr = reasons["CRISPR gene-knockout experiment well"]
    assert crispr["wells"] == 5 and "rxrx3-core:gene-001_1_E00" in crispr["id"]
    crispr_control = next(e for r, e in reasons.items() if r.startswith("CRISPR_control well of a compound experiment"))
    assert crispr_control["wells"] == 4 and "not a negative control" in crispr_control["reason"] and "EFAAR" in crispr_control["reason"]
    assert reasons[f"no row in {EMBEDDINGS_FILE}"]["id"] == "rxrx3-core:" + missing
    assert reasons[f"embedding in {EMBEDDINGS_FILE} without a row in {METADATA_FILE}"]["id"] == "rxrx3-core:compound-009_1_Z99"


def test_curation_reads_cxsmiles_and_snaps_the_published_doses(published):
    root, *_ = published
    curated = curate([SOURCE.load(root)], {"rxrx3-core": NOMINAL_DOSES_UM})
    meta = curated.wells.meta
    treated = meta[~meta["is_control"]]
    assert treated["inchikey"].notna().all()
    assert set(treated.loc[treated["compound_id"] == "Dequalinium", "dose_level"]) == {"0.0025", "0.01", "0.025", "0.1", "0.25", "1", "2.5", "10"}
    assert treated.loc[treated["compound_id"] == "Oddball", "dose_level"].tolist() == ["0.025"]


def test_a_nan_embedding_is_reported_by_well_id(tmp_path):
    metadata = layout()
    embeddings = embeddings_for(metadata["well_id"])
    bad = "compound-001_1_B04"
    embeddings.loc[embeddings["well_id"] == bad, "feature_7"] = np.nan
    ingested = SOURCE.load(write(tmp_path, metadata, embeddings))
    assert "rxrx3-core:" + bad not in set(ingested.wells.meta["well_id"])
    assert any(e["id"] == "rxrx3-core:" + bad and EMBEDDINGS_FILE in e["reason"] for e in ingested.excluded)
    assert np.isfinite(ingested.wells.features).all()


@pytest.mark.parametrize("column", ["well_id", "treatment", "SMILES", "concentration", "perturbation_type", "plate"])
def test_missing_metadata_column_is_one_clear_error(tmp_path, column):
    metadata = layout()
    write(tmp_path, metadata.drop(columns=[column]), embeddings_for(metadata["well_id"]))
    with pytest.raises(PhenoBenchError, match=rf"{METADATA_FILE}: missing columns \['{column}'\]"):
        SOURCE.load(tmp_path)


@pytest.mark.parametrize(("drop", "message"), [(["well_id"], "missing column 'well_id'"), ([f"feature_{i}" for i in range(N_FEATURES)], "no 'feature_\\*' columns")])
def test_malformed_embeddings_are_one_clear_error(tmp_path, drop, message):
    metadata = layout()
    write(tmp_path, metadata, embeddings_for(metadata["well_id"]).drop(columns=drop))
    with pytest.raises(PhenoBenchError, match=rf"{EMBEDDINGS_FILE}: {message}"):
        SOURCE.load(tmp_path)


def test_bad_metadata_values_name_the_well(tmp_path):
    metadata = layout()
    embeddings = embeddings_for(metadata["well_id"])
    garbled = metadata.copy()
    garbled.loc[3, "concentration"] = "10 uM"
    write(tmp_path, garbled, embeddings)
    with pytest.raises(PhenoBenchError, match=rf"concentration is not a number: {metadata.loc[3, 'well_id']}"):
        SOURCE.load(tmp_path)
    write(tmp_path, pd.concat([metadata, metadata.iloc[[0]]]), embeddings)
    with pytest.raises(PhenoBenchError, match=rf"well_id appears more than once: {metadata.loc[0, 'well_id']}"):
        SOURCE.load(tmp_path)
    unknown = metadata.copy()
    unknown.loc[5, "perturbation_type"] = "SIRNA"
    write(tmp_path, unknown, embeddings)
    with pytest.raises(PhenoBenchError, match=r"perturbation_type \['SIRNA'\]"):
        SOURCE.load(tmp_path)


def test_missing_files_and_folder_are_clear_errors(tmp_path):
    with pytest.raises(PhenoBenchError, match=r"offline, and nothing of recursionpharma/rxrx3-core was fetched before .*; run once with network: pheno-bench sources fetch rxrx3-core"):
        SOURCE.load(tmp_path)  # no local copy, offline: the Hub cache is empty
    metadata = layout()
    write(tmp_path, metadata, embeddings_for(metadata["well_id"]))
    (tmp_path / "rxrx3-core" / EMBEDDINGS_FILE).unlink()
    with pytest.raises(PhenoBenchError, match=f"{EMBEDDINGS_FILE}: missing from the local copy"):
        SOURCE.load(tmp_path)


def test_crispr_controls_are_controls_only_when_asked(published):
    """``controls=`` changes the choice (a different benchmark); the default is the publisher's."""
    root, metadata, *_ = published
    both = SOURCE.load(root, controls=["EMPTY_control", "CRISPR_control"])
    assert both.wells.meta.loc[both.wells.meta["is_control"], "compound_id"].value_counts().to_dict() == {"EMPTY_control": 8, "CRISPR_control": 4}
    default = SOURCE.load(root)
    assert default.notes[0] == "negative controls EMPTY_control: 8 wells (4 CRISPR_control wells left out)"


def test_repeated_well_ids_are_averaged_as_the_publisher_does(tmp_path):
    """A well_id with several embedding rows becomes one well whose features are the mean of its rows
    (checked against pandas' groupby-mean of the file, as the publisher's notebook computes it)."""
    metadata = layout()
    embeddings = embeddings_for(metadata["well_id"])
    treated, control = "compound-001_1_B04", "compound-001_2_A01"
    rng = np.random.default_rng(5)
    extra = pd.concat([embeddings[embeddings["well_id"] == treated]] * 2 + [embeddings[embeddings["well_id"] == control]], ignore_index=True)
    extra.iloc[:, 1:] = extra.iloc[:, 1:].to_numpy() + rng.standard_normal((3, N_FEATURES)).astype(np.float32)
    repeated = pd.concat([embeddings, extra], ignore_index=True).sample(frac=1.0, random_state=1)
    write(tmp_path, metadata, repeated)
    ingested = SOURCE.load(tmp_path)
    meta = ingested.wells.meta
    assert meta["well_id"].is_unique and len(meta) == len(layout_wells_kept(metadata))
    expected = pd.read_parquet(tmp_path / "rxrx3-core" / EMBEDDINGS_FILE).groupby("well_id").mean()  # independent: pandas on the file
    for well in (treated, control):
        row = meta.index[meta["well_id"] == "rxrx3-core:" + well][0]
        np.testing.assert_allclose(ingested.wells.features[row], expected.loc[well].to_numpy(np.float32), rtol=1e-5, atol=1e-6)  # float32 rounding
        assert not np.allclose(ingested.wells.features[row], embeddings.set_index("well_id").loc[well].to_numpy(np.float32))
    entry = next(e for e in ingested.excluded if e["reason"].startswith("well_id with more than one row"))
    assert entry["wells"] == 2 and entry["merged_rows"] == 5 and "averaged" in entry["reason"]
    assert ingested.notes[1] == "repeated well_ids averaged: 2 wells (5 rows)"
    with pytest.raises(PhenoBenchError, match=rf"{EMBEDDINGS_FILE}: well_id appears more than once: .*{treated}"):
        SOURCE.reader(tmp_path / "rxrx3-core", repeated_well_ids="refuse")


def layout_wells_kept(metadata: pd.DataFrame) -> pd.DataFrame:
    """The wells of :func:`layout` the adapter keeps: compound-experiment molecules with a dose and EMPTY controls."""
    compound = metadata["perturbation_type"].eq("COMPOUND")
    return metadata[compound & (metadata["SMILES"].ne("") | metadata["treatment"].eq("EMPTY_control"))]


def test_a_truncated_embeddings_file_says_to_fetch_it_again(tmp_path, caplog):
    """Regression: a truncated parquet was answered "write the OpenPhenom embeddings file with pyarrow"."""
    metadata = layout()
    write(tmp_path, metadata, embeddings_for(metadata["well_id"]))
    path = tmp_path / "rxrx3-core" / EMBEDDINGS_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(PhenoBenchError, match=r"truncated or corrupt parquet file .*`pheno-bench sources fetch rxrx3-core --force`") as err:
        SOURCE.load(tmp_path)
    assert "pyarrow" not in str(err.value) and "\n" not in str(err.value)
    # a local copy that was never fetched has no publisher checksum: recorded at first use, with a visible warning
    assert any("no publisher checksum" in r.getMessage() and "recorded at first use" in r.getMessage() for r in caplog.records)


def test_registered_under_its_name():
    assert rxrx3_core.SOURCE.name == "rxrx3-core" and rxrx3_core.SOURCE.nominal_doses_um == NOMINAL_DOSES_UM



def test_an_unseen_experiment_sharing_its_molecules_is_named_as_the_cause_before_activity(tmp_path, monkeypatch):
    """Regression: when compound-002 (the unseen dataset) repeats the other experiment's molecules, the build said after
    the activity step (38 s on a fixture) "valid holds 0.0 % of molecules ... change the fraction" (a frozen fraction)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from rxrx3_fixture import write_rxrx3

    from pheno_bench import crossval
    from pheno_bench.split import build_benchmark

    smiles = pd.read_csv(data_root() / "molecules-moshkov2023" / "smiles.txt")["smiles"].iloc[:40].tolist()
    folder = tmp_path / "data" / "rxrx3-core"
    write_rxrx3(folder, smiles, experiments={"compound-001": (2, 20), "compound-002": (1, 20)}, controls_per_plate=(20, 40), quirks=False)
    metadata = pd.read_csv(folder / METADATA_FILE, dtype=str, keep_default_na=False)
    first = metadata[(metadata["experiment_name"] == "compound-001") & metadata["SMILES"].ne("")].drop_duplicates("treatment")
    second = metadata["experiment_name"].eq("compound-002") & metadata["SMILES"].ne("")
    same = dict(zip(metadata.loc[second, "treatment"].drop_duplicates(), zip(first["treatment"], first["SMILES"])))
    metadata.loc[second, "SMILES"] = metadata.loc[second, "treatment"].map(lambda t: same[t][1])
    metadata.loc[second, "treatment"] = metadata.loc[second, "treatment"].map(lambda t: same[t][0])
    metadata.to_csv(folder / METADATA_FILE, index=False)
    monkeypatch.setattr(crossval, "_activity", lambda *a, **k: pytest.fail("the activity step ran before the cause was found"))
    with pytest.raises(PhenoBenchError, match=r"rxrx3-core-v1: 20 of the 20 molecules of its other sources are also in the unseen-dataset source "
                                              r"rxrx3-core-compound-002 .*never held out.*The fractions are not the problem") as err:
        build_benchmark("rxrx3-core-v1", out=tmp_path / "out", data_root=tmp_path / "data")
    assert "change the fraction" not in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_untestable_pairs_under_the_matching_null_do_not_suggest_the_matching_null():
    """Regression: the untestable-pairs error told specs that already use null_addresses='match' to use it."""
    from pheno_bench.activity import activity_table
    from pheno_bench.curate import MIN_CONTROLS
    from pheno_bench.schema import Wells, WellsMetadata

    rng = np.random.default_rng(0)
    rows = [(p, f"C{k}", None) for p in range(8) for k in range(MIN_CONTROLS)]  # too few controls to lend a pseudo-treatment
    rows += [(int(p), f"T{i}", i) for i in range(6) for p in rng.choice(8, 3, replace=False)]
    plate, well, pair = zip(*rows)
    treated = np.array([p is not None for p in pair])
    meta = pd.DataFrame({
        "well_id": [f"g:P{p}:{w}" for p, w in zip(plate, well)], "source": "g", "plate": [f"P{p}" for p in plate], "batch": "b",
        "is_control": ~treated, "compound_id": None, "smiles": None, "inchikey": [None if p is None else f"KEY{p}" for p in pair],
        "concentration_um": np.where(treated, 1.0, np.nan), "dose_level": [None if p is None else "1" for p in pair], "well": list(well),
    })
    wells = Wells(meta, rng.standard_normal((len(meta), 8)).astype(np.float32), WellsMetadata(sources=["g"], feature_names=[f"f{i}" for i in range(8)], feature_space="test"))
    with pytest.raises(PhenoBenchError, match=r"untestable .*already matches addresses \(null_addresses='match'\), so the plates lack usable controls") as err:
        activity_table(wells, n_permutations=200, n_pseudo=50, seed=0, null_addresses="match", check_testable=True)
    assert "use null_addresses='match'" not in str(err.value)
    with pytest.raises(PhenoBenchError, match=r"use null_addresses='match'"):  # the advice stays where it helps
        activity_table(wells, n_permutations=200, n_pseudo=50, seed=0, check_testable=True)
