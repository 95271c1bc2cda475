"""Activity beside cell count (pheno_bench.cytotoxicity): the logistic fit against statsmodels,
the tables against brute-force recounts, on the real cell-injury-v2 labels and wells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pheno_bench.cytotoxicity import (
    activity_by_cell_count,
    cell_count_r2,
    cytotoxicity_summary,
    cytotoxicity_table,
    logistic_regression,
    non_cytotoxic_queries,
)
from pheno_bench.errors import PhenoBenchError

sm = pytest.importorskip("statsmodels.api", reason="statsmodels (the test extra) is not installed")


def test_logistic_regression_matches_statsmodels_on_generated_data():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = rng.random(400) < 1 / (1 + np.exp(-(0.3 - 1.2 * x["a"] + 0.5 * x["b"])))
    fit = logistic_regression(x, y)
    want = sm.Logit(y.astype(float), sm.add_constant(x)).fit(disp=0)
    assert np.allclose(fit.coef, want.params.to_numpy(), atol=1e-8)
    assert np.allclose(fit.se, want.bse.to_numpy(), rtol=1e-6)
    assert np.allclose(fit.p_value, want.pvalues.to_numpy(), rtol=1e-5)
    assert fit.pseudo_r2 == pytest.approx(want.prsquared, rel=1e-8)
    with pytest.raises(PhenoBenchError, match="both classes"):
        logistic_regression(x, np.zeros(400))


def _v2_test_conditions(root) -> tuple[pd.DataFrame, pd.DataFrame]:
    """unseen_molecules answers pooled over the 5 folds (every non-anchor molecule once, labels from
    all its wells): (one row per condition, the wells)."""
    from pheno_bench.address_dose import benchmark_wells

    wells = pd.concat([benchmark_wells(root / f"fold-{k}").query("split == 'unseen_molecules' and source == 'cell-injury'") for k in range(5)])
    conditions = wells.drop_duplicates("condition_id")[["inchikey", "dose_level", "time_h", "condition_id", "p_value", "active"]]
    return conditions, wells


@pytest.mark.slow
def test_cytotoxicity_reading_of_real_v2_labels(cell_injury_v2):
    conditions, wells = _v2_test_conditions(cell_injury_v2)
    table = cytotoxicity_table(conditions, wells)
    # brute force: mean cell count of each condition's wells, then the shares by hand
    mean = wells.groupby("condition_id")["cell_count"].mean()
    testable = conditions[conditions["p_value"].notna()].assign(cc=lambda f: f["condition_id"].map(mean), active=lambda f: f["active"].astype(bool))
    assert len(table) == len(testable) == 1_018
    assert np.allclose(table.set_index("condition_id")["cell_count"].sort_index(), testable.set_index("condition_id")["cc"].sort_index())
    low = testable["cc"] < 0.8
    summary = cytotoxicity_summary(table)
    assert summary.active_share_below == pytest.approx(testable.loc[low, "active"].mean())
    assert summary.active_share_at_or_above == pytest.approx(testable.loc[~low, "active"].mean())
    assert summary.non_cytotoxic_active == int((testable["active"] & ~low).sum())
    # the review: 87 % active below 0.8, 33 % at or above; activity falls with cell count
    assert summary.active_share_below > 0.8 and summary.active_share_at_or_above < 0.4
    want = sm.Logit(testable["active"].astype(float), sm.add_constant(np.log(np.maximum(testable["cc"], 1e-3)))).fit(disp=0)
    coef, se, p = summary.logit.term("ln_cell_count")
    assert coef == pytest.approx(want.params.iloc[1], rel=1e-6) and se == pytest.approx(want.bse.iloc[1], rel=1e-5)
    assert coef < -1 and p < 1e-10
    bins = activity_by_cell_count(table)
    assert bins["conditions"].sum() == len(table) and bins["active"].sum() == summary.active
    top = testable[testable["cc"] >= 1.0]
    assert bins.iloc[-1]["conditions"] == len(top) and bins.iloc[-1]["active"] == top["active"].sum()


@pytest.mark.slow
def test_non_cytotoxic_flag_per_query_uses_every_well_of_the_condition(cell_injury_v2):
    from pheno_bench.address_dose import benchmark_wells

    flags = non_cytotoxic_queries(cell_injury_v2 / "fold-0")
    wells = benchmark_wells(cell_injury_v2 / "fold-0")
    treated = wells[~wells["is_control"]]
    for query in flags.sample(40, random_state=0).itertuples():
        mean = treated.loc[treated["condition_id"] == query.condition_id, "cell_count"].mean()
        assert (query.cell_count == pytest.approx(mean)) or (np.isnan(mean) and np.isnan(query.cell_count))
        assert query.non_cytotoxic == (mean >= 0.8)
    assert set(flags["split"]) == {"unseen_images", "unseen_molecules", "unseen_dataset"}
    assert not flags.loc[flags["split"] == "unseen_dataset", "non_cytotoxic"].any()  # LINCS: no cell count
    assert 0.2 < flags.loc[flags["split"] == "unseen_molecules", "non_cytotoxic"].mean() < 0.6


def test_cell_count_r2_matches_a_hand_rolled_cross_validation(cell_injury_wells):
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GroupKFold

    meta = cell_injury_wells.meta
    treated = ~meta["is_control"].to_numpy()
    x, y, groups = cell_injury_wells.features[treated].astype(float), meta["cell_count"].to_numpy(float)[treated], meta["inchikey"].to_numpy()[treated]
    r2 = cell_count_r2(x, y, groups)
    predicted = np.empty_like(y)
    for train, test in GroupKFold(5).split(x, y, groups):
        predicted[test] = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(x[train], y[train]).predict(x[test])
    assert r2 == pytest.approx(1 - ((y - predicted) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    assert r2 > 0.6  # the features carry the cell count (review: R² 0.69)


def test_cytotoxicity_refuses_wells_without_cell_count():
    meta = pd.DataFrame({"inchikey": ["K"], "dose_level": ["1"], "time_h": [24.0], "is_control": [False]})
    with pytest.raises(PhenoBenchError, match="no cell_count"):
        cytotoxicity_table(pd.DataFrame({"inchikey": ["K"], "dose_level": ["1"], "time_h": [24.0], "p_value": [0.01], "active": [True]}), meta)
