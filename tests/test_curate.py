"""Curation rules on small generated inputs (the properties, not the real data)."""

import numpy as np
import pandas as pd
import pytest

from pheno_bench.curate import dose_levels, robust_standardise, standardise_molecules


def test_dose_levels_snap_within_tolerance_and_refuse_outliers():
    labels, nominal = dose_levels(np.array([0.62, 0.63, 19.999, 7.5, np.nan]), (0.625, 5.0, 10.0, 20.0))
    assert labels.tolist() == ["0.625", "0.625", "20", None, None]
    assert np.isnan(nominal[3]) and nominal[2] == 20.0


def test_dose_levels_without_series_keep_three_significant_figures():
    labels, _ = dose_levels(np.array([0.0041152, 3.33333]), None)
    assert labels.tolist() == ["0.00412", "3.33"]


def test_molecules_salts_stripped_bad_smiles_reported():
    table = standardise_molecules(pd.Series(["CCO.Cl", "OCC", "c1ccccc1CC(=O)O", "not-a-smiles", "C1CC"]))
    assert table.loc["CCO.Cl", "inchikey"] == table.loc["OCC", "inchikey"]
    assert table.loc["CCO.Cl", "scaffold"] == ""  # acyclic
    assert table.loc["c1ccccc1CC(=O)O", "scaffold"] == "c1ccccc1"
    assert table.loc["not-a-smiles", "error"] == "SMILES does not parse with RDKit"
    assert table.loc["C1CC", "error"] is not None  # unclosed ring


def test_robust_standardise_against_plate_controls():
    rng = np.random.default_rng(0)
    meta = pd.DataFrame({"plate": ["a"] * 8 + ["b"] * 8 + ["c"] * 3, "is_control": [True] * 5 + [False] * 3 + [True] * 5 + [False] * 3 + [True, False, False]})
    features = rng.normal(size=(19, 4)).astype(np.float32)
    features[8:16] += 100  # a plate effect
    out, unusable = robust_standardise(meta, features)
    assert unusable.tolist() == [False] * 16 + [True] * 3  # plate c has one control
    for plate in "ab":
        ctrl = (meta["plate"] == plate) & meta["is_control"]
        np.testing.assert_allclose(np.median(out[ctrl.to_numpy()], axis=0), 0, atol=1e-6)
        x = features[ctrl.to_numpy()]
        mad = 1.4826 * np.median(np.abs(x - np.median(x, 0)), 0)
        np.testing.assert_allclose(out[ctrl.to_numpy()], (x - np.median(x, 0)) / mad, rtol=1e-5)


def test_rowcol_correction_fitted_on_controls_removes_planted_row_and_column_effects():
    import numpy as np
    import pandas as pd

    from pheno_bench.layout import correct, split_address
    from pheno_bench.schema import Wells, WellsMetadata

    rng = np.random.default_rng(0)
    rows, cols = list("BCDEFG"), list(range(2, 12))
    row_eff = {r: rng.normal(0, 1, 4) for r in rows}
    col_eff = {c: rng.normal(0, 1, 4) for c in cols}
    records = []
    for plate in range(8):
        for r in rows:
            for c in cols:
                control = rng.random() < 0.4
                records.append((f"P{plate}", f"{r}{c:02d}", control))
    meta = pd.DataFrame(records, columns=["plate", "well", "is_control"])
    r, c = split_address(meta["well"])
    effect = np.stack([row_eff[a] + col_eff[b] for a, b in zip(r, c)])
    treated_signal = np.where(meta["is_control"].to_numpy()[:, None], 0.0, 3.0)
    x = effect + treated_signal + rng.normal(0, 0.05, effect.shape)
    meta = meta.assign(well_id=meta["plate"] + ":" + meta["well"], source="s", batch="b", compound_id=None, smiles=None,
                       inchikey=None, concentration_um=np.nan, dose_level=None)
    wells = Wells(meta, x.astype(np.float32), WellsMetadata(sources=["s"], feature_names=list("abcd"), feature_space="test"))
    corrected = correct(wells, "rowcol-controls")
    # the layout is gone, the treated wells keep their signal
    assert np.abs(corrected[meta["is_control"].to_numpy()]).max() < 0.3
    np.testing.assert_allclose(corrected[~meta["is_control"].to_numpy()].mean(), 3.0, atol=0.1)
    assert correct(Wells(meta.drop(columns="well"), wells.features, wells.metadata), "rowcol-controls").tolist() == wells.features.tolist()
    assert split_address(["B07", "AF48", None, "x"])[1].tolist() == [7, 48, -1, -1]
