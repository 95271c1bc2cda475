"""The cell-injury and lincs-pilot1 adapters and curation, on the real published files."""

import gzip

import numpy as np
import pytest

from conftest import requires_data
from pheno_bench.curate import curate
from pheno_bench.errors import PhenoBenchError
from pheno_bench.sources import get_source, load_source

pytestmark = requires_data


@pytest.fixture(scope="module")
def curated():
    parts = [load_source("cell-injury"), load_source("lincs-pilot1")]
    return curate(parts, {"cell-injury": get_source("cell-injury").nominal_doses_um, "lincs-pilot1": get_source("lincs-pilot1").nominal_doses_um})


def test_cell_injury_counts_match_the_data_readme():
    wells = load_source("cell-injury").wells
    meta = wells.meta
    # 6,191 wells published; the two with NaN features are reported and dropped
    assert len(meta) == 6189
    assert meta["is_control"].sum() == 1510
    assert meta.loc[~meta["is_control"], "inchikey"].nunique() == 143
    assert meta["plate"].nunique() == 84
    assert sorted(meta["batch"].unique()) == ["1", "2"]
    assert wells.features.shape == (6189, 340)
    assert meta["well_id"].is_unique


def test_cell_injury_reports_nan_wells_by_id():
    excluded = load_source("cell-injury").excluded
    assert sorted(e["id"] for e in excluded) == ["cell-injury:BR00110035:J10", "cell-injury:BR00114099:I11"]


def test_lincs_unresolved_broad_ids_are_reported_not_guessed():
    ingested = load_source("lincs-pilot1")
    reported = {e["id"] for e in ingested.excluded}
    # 58 compounds on the plate: 45 resolve by broad_id, 3 by deprecated_broad_id, 10 do not resolve
    assert len(reported) == 10
    meta = ingested.wells.meta
    treated = meta[~meta["is_control"]]
    assert treated["compound_id"].str[:13].nunique() == 48
    assert not treated["compound_id"].str[:13].isin(reported).any()
    # BRD-K50691590 resolves only through deprecated_broad_id (bortezomib's InChIKey)
    assert set(treated.loc[treated["compound_id"].str.startswith("BRD-K50691590"), "inchikey"]) == {"GXJABQQUPOEUTA-RDJZCZTQSA-N"}
    assert meta["is_control"].sum() == 24


def test_dose_levels_snap_non_nominal_lincs_values(curated):
    meta = curated.wells.meta
    lincs = meta[(meta["source"] == "lincs-pilot1") & ~meta["is_control"]]
    reported = dict(zip(lincs["concentration_um"].round(7), lincs["dose_level"]))
    assert reported[19.999] == "20" and reported[20.0] == "20"
    assert reported[0.0041152] == "0.00412"
    assert reported[3.3333] == "3.33"
    ci = meta[(meta["source"] == "cell-injury") & ~meta["is_control"]]
    assert set(ci.loc[ci["concentration_um"].isin([0.62, 0.63]), "dose_level"]) == {"0.625"}


def test_curated_feature_space_is_shared_and_standardised(curated):
    wells = curated.wells
    assert len(wells.metadata.feature_names) == 181  # the README: 181 LINCS features share a name
    assert np.isfinite(wells.features).all()
    controls = wells.meta["is_control"].to_numpy()
    for plate in wells.meta.loc[controls, "plate"].unique()[:10]:
        on_plate = controls & (wells.meta["plate"] == plate).to_numpy()
        np.testing.assert_allclose(np.median(wells.features[on_plate], axis=0), 0, atol=1e-5)


def test_molecules_are_canonical_with_scaffolds(curated):
    from rdkit import Chem

    meta = curated.wells.meta
    treated = meta[~meta["is_control"]].drop_duplicates("inchikey")
    for smiles, inchikey in treated[["smiles", "inchikey"]].itertuples(index=False):
        assert Chem.MolToInchiKey(Chem.MolFromSmiles(smiles)) == inchikey
        assert "." not in smiles  # salts and solvents dropped
    assert treated["scaffold"].notna().all()


def test_missing_raw_folder_is_one_clear_error(tmp_path):
    with pytest.raises(PhenoBenchError, match="raw data folder not found"):
        load_source("cell-injury", data_root=tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress(b"Plate,Well\nP1,A01\n"), r"cell_injury_union_wells_340feat.csv.gz: missing columns \[.*Compound Name"),
        (b"Plate,Well\nP1,A01\n", r"cell_injury_union_wells_340feat.csv.gz: cannot be read as CSV"),
    ],
)
def test_malformed_raw_file_is_one_clear_error(tmp_path, content, message):
    folder = tmp_path / "cell-injury-dahlin2023"
    folder.mkdir()
    (folder / "cell_injury_union_wells_340feat.csv.gz").write_bytes(content)
    with pytest.raises(PhenoBenchError, match=message):
        load_source("cell-injury", data_root=tmp_path)
