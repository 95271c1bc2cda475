"""The synthetic source: determinism, the planted signal, inactive pairs, scaffold dependence, options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pheno_bench.activity import activity_table
from pheno_bench.curate import curate, standardise_molecules
from pheno_bench.errors import PhenoBenchError
from pheno_bench.paths import data_root
from pheno_bench.schema import Wells
from pheno_bench.sources.synthetic import SMILES_FILE, SOURCE

FOLDER = data_root() / "molecules-moshkov2023"
pytestmark = pytest.mark.skipif(not FOLDER.is_dir(), reason="needs ../shared/data/molecules-moshkov2023 (real molecules)")
SMALL = {"n_molecules": 120, "replicates": 3, "n_features": 32}


def generate(**options):
    return SOURCE.load(data_root(), **options).wells


def centred(wells: Wells) -> np.ndarray:
    """Features minus the mean of the plate's controls; a control leaves itself out of that mean."""
    x = wells.features.astype(np.float64)
    out = x.copy()
    control = wells.meta["is_control"].to_numpy()
    for index in wells.meta.groupby("plate").indices.values():
        ctrl = index[control[index]]
        total = x[ctrl].sum(axis=0)
        out[index] -= total / len(ctrl)
        out[ctrl] = x[ctrl] - (total - x[ctrl]) / (len(ctrl) - 1)
    return out


def pair_response(wells: Wells) -> pd.Series:
    """The planted response of each (compound_id, concentration) pair."""
    treated = wells.meta[~wells.meta["is_control"]]
    return treated.groupby(["compound_id", "concentration_um"])["planted_response"].first()


def test_same_seed_same_arrays_and_labs_differ_by_seed():
    first, again = generate(**SMALL), generate(**SMALL)
    np.testing.assert_array_equal(first.features, again.features)
    pd.testing.assert_frame_equal(first.meta, again.meta)
    other = generate(**SMALL, seed=1)
    assert not np.allclose(first.features, other.features)
    pd.testing.assert_series_equal(pair_response(first), pair_response(other))  # same biology_seed: same phenotypes
    assert not pair_response(generate(**SMALL, biology_seed=1)).equals(pair_response(first))


def test_layout_plates_controls_and_replicates():
    wells = generate(**SMALL, wells_per_plate=96, controls_per_plate=8)
    meta = wells.meta
    assert wells.features.dtype == np.float32 and meta["well_id"].is_unique
    per_plate = meta.groupby("plate")
    assert (per_plate["is_control"].sum() == 8).all() and (per_plate.size() <= 96).all()
    assert not meta.duplicated(["plate", "well"]).any() and (meta["well_id"] == meta["plate"] + ":" + meta["well"]).all()
    assert meta["well"].str.fullmatch(r"[A-H](0[1-9]|1[0-2])").all()
    treated = meta[~meta["is_control"]]
    replicates = treated.groupby(["compound_id", "concentration_um"])
    assert (replicates.size() == 3).all() and (replicates["plate"].nunique() == 3).all()
    assert (replicates["well"].nunique() == 1).all()  # replicate plates are copies of one plate map
    smiles = pd.read_csv(FOLDER / SMILES_FILE)["smiles"]
    rows = treated["compound_id"].str.removeprefix("moshkov-").astype(int)
    assert (treated["smiles"].to_numpy() == smiles.iloc[rows].to_numpy()).all()
    assert set(treated["concentration_um"]) == {0.1, 0.3, 1.0, 3.0, 10.0, 30.0}
    assert meta.loc[meta["is_control"], ["smiles", "concentration_um"]].isna().all().all()


def test_planted_signal_replicates_of_active_pairs_are_closer_than_other_molecules():
    wells = generate(**SMALL)
    x, meta = centred(wells), wells.meta
    strong = np.flatnonzero(meta["planted_response"].to_numpy() > 0.5)
    pair = (meta["compound_id"] + "@" + meta["concentration_um"].astype(str)).to_numpy()[strong]
    molecule = meta["compound_id"].to_numpy()[strong]
    distance = np.linalg.norm(x[strong, None, :] - x[None, strong, :], axis=-1)
    same_pair = (pair[:, None] == pair[None, :]) & ~np.eye(len(strong), dtype=bool)
    other_molecule = molecule[:, None] != molecule[None, :]
    within = (distance * same_pair).sum(1) / same_pair.sum(1)
    between = (distance * other_molecule).sum(1) / other_molecule.sum(1)
    assert len(strong) > 100 and (within < between).mean() > 0.95


def test_inactive_pairs_look_like_controls_and_active_pairs_do_not():
    wells = generate(**SMALL)
    norm = np.linalg.norm(centred(wells), axis=1)
    control = wells.meta["is_control"].to_numpy()
    response = wells.meta["planted_response"].to_numpy()
    inactive, active = ~control & (response == 0), ~control & (response > 0)
    assert stats.ks_2samp(norm[inactive], norm[control]).pvalue > 0.01
    assert stats.ks_2samp(norm[active], norm[control]).pvalue < 1e-10


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.8])
def test_inactive_fraction_is_realised(fraction):
    response = pair_response(generate(n_molecules=300, replicates=1, n_features=8, inactive_fraction=fraction))
    assert abs((response == 0).mean() - fraction) <= 0.05
    # A molecule is inactive at its lowest doses first, and its response grows with dose.
    by_molecule = response.unstack("concentration_um")
    assert (by_molecule.diff(axis=1).iloc[:, 1:] >= 0).all().all()


def test_effect_grows_with_dose():
    wells = generate(**SMALL)
    norm = pd.Series(np.linalg.norm(centred(wells), axis=1))
    treated = ~wells.meta["is_control"]
    by_dose = norm[treated].groupby(wells.meta.loc[treated, "concentration_um"]).mean()
    assert by_dose.is_monotonic_increasing and by_dose.iloc[-1] > 1.2 * by_dose.iloc[0]


def test_molecules_sharing_a_scaffold_share_a_phenotype():
    smiles = pd.read_csv(FOLDER / SMILES_FILE)["smiles"].iloc[:1500]
    scaffold = standardise_molecules(smiles).reindex(smiles)["scaffold"].reset_index(drop=True)
    groups = scaffold[scaffold != ""].value_counts().index[:15]
    rows = tuple(scaffold.index[scaffold.isin(groups)])
    wells = generate(molecules=rows, replicates=3, n_features=32)
    meta, x = wells.meta, centred(wells)
    top = ((meta["concentration_um"] == 30.0) & (meta["planted_response"] > 0)).to_numpy()
    profile = pd.DataFrame(x[top]).groupby(meta.loc[top, "compound_id"].to_numpy()).mean()
    unit = profile.to_numpy() / np.linalg.norm(profile.to_numpy(), axis=1, keepdims=True)
    family = scaffold.loc[profile.index.str.removeprefix("moshkov-").astype(int)].to_numpy()
    cosine = unit @ unit.T
    same = (family[:, None] == family[None, :]) & ~np.eye(len(family), dtype=bool)
    different = family[:, None] != family[None, :]
    assert cosine[same].mean() > cosine[different].mean() + 0.25


def test_two_labs_share_the_phenotypes_of_shared_molecules():
    lab_a = generate(n_molecules=80, replicates=2, n_features=32)
    lab_b = generate(name="synthetic-b", molecule_offset=40, n_molecules=80, replicates=2, n_features=32)
    assert set(lab_b.meta["source"]) == {"synthetic-b"} and lab_b.metadata.sources == ["synthetic-b"]
    assert not set(lab_a.meta["plate"]) & set(lab_b.meta["plate"])
    a, b = pair_response(lab_a), pair_response(lab_b)
    shared = a.index.intersection(b.index)
    assert len(shared) == 40 * 6
    pd.testing.assert_series_equal(a[shared], b[shared])
    twin = generate(name="synthetic-b", n_molecules=80, replicates=2, n_features=32)  # lab A's molecules and seed
    pd.testing.assert_series_equal(pair_response(twin), a)
    assert not np.allclose(twin.features, lab_a.features)  # the name gives the lab its own noise and plate effects


def test_curation_accepts_the_synthetic_wells():
    ingested = SOURCE.load(data_root(), n_molecules=40, replicates=2, n_features=16)
    curated = curate([ingested], {"synthetic": None}).wells.meta
    treated = curated[~curated["is_control"]]
    assert set(treated["dose_level"]) == {"0.1", "0.3", "1", "3", "10", "30"}
    assert treated["inchikey"].str.fullmatch(r"[A-Z]{14}-[A-Z]{10}-[A-Z]").all() and treated["scaffold"].notna().all()
    assert len(curated) == len(ingested.wells)


def test_activity_calls_recover_the_planted_truth():
    """Planted-inactive pairs get uniform p-values; strongly planted pairs are called active."""
    curated = curate([SOURCE.load(data_root(), n_molecules=300, replicates=3)], {"synthetic": None}).wells
    treated = curated.meta[~curated.meta["is_control"]]
    truth = treated.groupby(["inchikey", "dose_level"])["planted_response"].first().rename("truth").reset_index()
    called = activity_table(curated, n_permutations=1000, seed=0).merge(truth, on=["inchikey", "dose_level"], validate="1:1")
    inactive = called[called["truth"] == 0]
    assert len(inactive) > 500 and 0.02 <= (inactive["p_value"] < 0.05).mean() <= 0.08
    assert called.loc[called["truth"] > 0.6, "active"].mean() > 0.9


def test_wells_round_trip_through_arrow():
    wells = generate(n_molecules=10, replicates=2, n_features=8)
    back = Wells.from_arrow(wells.to_arrow())
    np.testing.assert_array_equal(back.features, wells.features)
    np.testing.assert_array_equal(back.meta["planted_response"], wells.meta["planted_response"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_molecules": 0}, "n_molecules"),
        ({"inactive_fraction": 1.5}, "inactive_fraction"),
        ({"wells_per_plate": 100}, "wells_per_plate"),
        ({"controls_per_plate": 384}, "controls_per_plate=384 leaves no treated well"),
        ({"doses": (1.0, 1.0001)}, "not distinct"),
        ({"doses": (-1.0, 1.0)}, "positive"),
        ({"noise": 0.0}, "noise"),
        ({"name": "Bad Name"}, "name"),
        ({"molecules": (1, 2), "n_molecules": 3}, "either molecules"),
        ({"molecules": (1, 1)}, "distinct"),
        ({"seed": -1}, "seed"),
        ({"colour": "red"}, "colour: Extra inputs"),
    ],
)
def test_bad_options_are_one_clear_error(options, message):
    with pytest.raises(PhenoBenchError, match=f"synthetic source: bad option .*{message}"):
        generate(**options)


def test_selecting_beyond_the_file_names_it():
    with pytest.raises(PhenoBenchError, match=rf"{SMILES_FILE}: has 16978 molecules .* up to 17069"):
        generate(molecule_offset=16970, n_molecules=100)


def test_address_effect_is_one_offset_per_address_on_every_plate():
    plain = generate(**SMALL)
    shifted = generate(**SMALL, address_effect=0.5)
    assert (plain.meta["well_id"] == shifted.meta["well_id"]).all()
    delta = pd.DataFrame(shifted.features - plain.features).assign(well=plain.meta["well"].to_numpy())
    spread = delta.groupby("well").std().fillna(0).to_numpy()
    assert spread.max() < 1e-5  # the same offset at an address on every plate, controls included
    offsets = delta.groupby("well").mean().to_numpy()
    assert 0.4 < offsets.std() < 0.6  # N(0, 0.5^2) per feature
    # as in the real screen, an address holds controls on some plates and treated wells on others
    by_address = plain.meta.groupby("well")["is_control"].agg(["any", "all"])
    assert (by_address["any"] & ~by_address["all"]).sum() > 10


def test_randomised_layout_moves_pairs_and_controls_between_plates():
    fixed = generate(**SMALL)
    moved = generate(**SMALL, layout="randomised")
    np.testing.assert_array_equal(fixed.features, moved.features)  # same wells, only their addresses change
    treated = moved.meta[~moved.meta["is_control"]]
    addresses = treated.groupby(["compound_id", "concentration_um"])["well"].nunique()
    assert (addresses > 1).mean() > 0.9
    fixed_addresses = fixed.meta[~fixed.meta["is_control"]].groupby(["compound_id", "concentration_um"])["well"].nunique()
    assert (fixed_addresses == 1).all()
    assert not moved.meta.duplicated(["plate", "well"]).any()
