"""Activity calls: copairs statistic, control pseudo-treatment null, BH, calibration.

Properties on generated wells; calibration and known positive controls on the real cell-injury data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score
from statsmodels.stats.multitest import multipletests

from pheno_bench.activity import activity_table, calibrate, compute_activity_table, null_p_values
from pheno_bench.activity_null import score_groups
from pheno_bench.curate import robust_standardise
from pheno_bench.errors import PhenoBenchError
from pheno_bench.schema import Wells, WellsMetadata
from conftest import requires_data

D = 64


def generated_wells(
    *, n_plates: int = 12, controls: int = 10, replicates: int = 4, effects: tuple[float, ...] = (0.0,) * 10,
    source: str = "gen", seed: int = 0,
) -> Wells:
    """Plates of Gaussian wells with plate offsets, standardised against each plate's controls.

    One (molecule, dose) pair per entry of ``effects`` (its effect size along a random unit
    direction, in noise SDs per feature), ``replicates`` wells each on distinct plates at one
    shared address, as in the real layout; ``controls`` control wells per plate.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_plates):
        rows += [(p, f"C{k:02d}", None, 0.0) for k in range(controls)]
    for i, size in enumerate(effects):
        for p in rng.choice(n_plates, replicates, replace=False):
            rows.append((int(p), f"T{i:02d}", i, size))
    plate, well, pair, size = map(np.array, zip(*rows))
    directions = rng.standard_normal((len(effects), D))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    x = rng.standard_normal((len(rows), D)) + rng.standard_normal((n_plates, D))[plate] * 3
    treated = np.array([p is not None for p in pair])
    x[treated] += (size[treated, None].astype(float) * np.sqrt(D)) * directions[pair[treated].astype(int)]
    meta = pd.DataFrame(
        {
            "well_id": [f"{source}:P{p}:{w}" for p, w in zip(plate, well)],
            "source": source,
            "plate": [f"{source}:P{p}" for p in plate],
            "batch": "b",
            "is_control": ~treated,
            "compound_id": [None if p is None else f"m{p}" for p in pair],
            "smiles": None,
            "inchikey": [None if p is None else f"KEY{p:02d}" for p in pair],
            "concentration_um": np.where(treated, 1.0, np.nan),
            "dose_level": [None if p is None else "1" for p in pair],
            "well": well,
        }
    )
    features, _ = robust_standardise(meta, x.astype(np.float32))
    return Wells(meta, features, WellsMetadata(sources=[source], feature_names=[f"f{i}" for i in range(D)], feature_space="generated"))


def concat(*parts: Wells) -> Wells:
    meta = pd.concat([w.meta for w in parts], ignore_index=True)
    sources = [s for w in parts for s in w.metadata.sources]
    return Wells(meta, np.concatenate([w.features for w in parts]), parts[0].metadata.model_copy(update={"sources": sources}))


def test_map_matches_sklearn_average_precision_per_query():
    wells = generated_wells(effects=(0.3, 0.0, 0.6))
    meta = wells.meta.assign(group=wells.meta["inchikey"])
    maps = score_groups([(meta, wells.features)], 1_000, 0)
    unit = wells.features / np.linalg.norm(wells.features, axis=1, keepdims=True)
    for key, group in meta[~meta["is_control"]].groupby("inchikey"):
        aps = []
        for q in group.index:
            positives = group.index.drop(q)
            negatives = meta.index[meta["is_control"] & (meta["plate"] == meta.at[q, "plate"])]
            candidates = positives.append(negatives)
            labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
            aps.append(average_precision_score(labels, unit[candidates] @ unit[q]))
        assert maps.at[key, "map"] == pytest.approx(np.mean(aps), abs=1e-5)


def test_null_p_values_match_brute_force_with_ties():
    rng = np.random.default_rng(1)
    null = pd.DataFrame({"copairs_p": rng.choice([0.001, 0.01, 0.2, 1.0], 300), "mnap": rng.choice([0.0, 0.5, 0.9], 300)})
    observed = pd.DataFrame({"copairs_p": [0.001, 0.01, 0.2, 1.0, 0.5, np.nan], "mnap": [0.9, 0.5, 0.0, 0.95, 0.1, 0.3]})
    expected = [
        (1 + sum((n.copairs_p < o.copairs_p) or (n.copairs_p == o.copairs_p and n.mnap >= o.mnap) for n in null.itertuples())) / 301
        for o in observed.itertuples()
    ]
    np.testing.assert_allclose(null_p_values(observed, null)[:5], expected[:5])
    assert np.isnan(null_p_values(observed, null)[5])


def test_planted_strong_effects_are_active():
    wells = generated_wells(effects=(1.5,) * 6 + (0.0,) * 14, seed=2)
    table = activity_table(wells, n_permutations=2_000, n_pseudo=1_000, seed=0)
    strong = table["inchikey"].isin([f"KEY{i:02d}" for i in range(6)])
    assert (table.loc[strong, "p_value"] <= 2 / 1_001).all()
    assert table.loc[strong, "active"].all()
    assert table.loc[~strong, "p_value"].median() > 0.2


def test_no_effect_pairs_uniform_and_rarely_active_with_five_controls_per_plate():
    """Real (not pseudo) no-effect pairs, 5 controls per plate as in cell-injury, over 6 generated screens."""
    tables = [
        activity_table(generated_wells(n_plates=40, controls=5, effects=(0.0,) * 80, seed=s), n_permutations=2_000, n_pseudo=1_000, seed=s)
        for s in range(6)
    ]
    p = np.concatenate([t["p_value"].to_numpy() for t in tables])
    assert 0.02 <= (p < 0.05).mean() <= 0.08
    assert 0.4 <= (p < 0.5).mean() <= 0.6
    assert sum(t["active"].sum() for t in tables) <= 0.01 * len(p)


def test_single_well_pairs_are_untestable_not_inactive_by_a_number():
    wells = generated_wells(effects=(1.0, 1.0, 0.0), replicates=1)
    table = activity_table(wells, n_permutations=1_000, n_pseudo=100)
    assert (table["n_wells"] == 1).all()
    assert table[["map", "p_value", "q_value"]].isna().all().all()
    assert not table["active"].any() and table["active"].dtype == bool
    assert table.attrs["procedure"]["sources"]["gen"]["testable"] == 0


def test_bh_q_values_within_source_match_statsmodels_and_brute_force():
    wells = concat(generated_wells(effects=(0.4, 0.2, 0.1, 0.0, 0.0, 0.8), source="a"), generated_wells(effects=(0.3, 0.0, 0.05), source="b", seed=5))
    table = activity_table(wells, n_permutations=1_000, n_pseudo=400, seed=3)
    assert set(table["source"]) == {"a", "b"}
    for _, part in table.groupby("source"):
        p, q = part["p_value"].to_numpy(), part["q_value"].to_numpy()
        np.testing.assert_allclose(q, multipletests(p, method="fdr_bh")[1])
        m = len(p)
        brute = [min(min(p[j] * m / (p <= p[j]).sum() for j in range(m) if p[j] >= p[i]), 1.0) for i in range(m)]
        np.testing.assert_allclose(q, brute)
        assert (part["active"] == (q < 0.05)).all()


def test_same_seed_same_table_and_columns():
    wells = generated_wells(effects=(0.5, 0.2, 0.0, 0.0))
    first = activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=7)
    second = compute_activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=7)  # computed again, not remembered
    pd.testing.assert_frame_equal(first, second)
    assert first.attrs == second.attrs
    third = activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=7)  # remembered: an equal copy, not the same object
    pd.testing.assert_frame_equal(first, third)
    third.loc[0, "active"] = not third.loc[0, "active"]
    assert activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=7).loc[0, "active"] == first.loc[0, "active"]
    assert list(first.columns) == ["source", "inchikey", "dose_level", "n_wells", "map", "p_value", "q_value", "active"]


def test_calibration_on_generated_controls_is_uniform():
    wells = generated_wells(n_plates=30, controls=12, effects=(0.0,) * 30, seed=4)
    p = calibrate(wells, n_pseudo=600, n_null=1_500, n_permutations=2_000, seed=0)["p_value"]
    assert p.notna().all()
    assert 0.02 <= (p < 0.05).mean() <= 0.08
    assert stats.kstest(p, "uniform").pvalue > 0.001


# --- real data -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cell_injury():
    """Cell-injury wells in the cell-injury-v1 feature space (curated with lincs-pilot1)."""
    from pheno_bench.curate import curate
    from pheno_bench.sources import get_source, load_source

    names = ["cell-injury", "lincs-pilot1"]
    wells = curate([load_source(n) for n in names], {n: get_source(n).nominal_doses_um for n in names}).wells
    return wells.take((wells.meta["source"] == "cell-injury").to_numpy())


@requires_data
@pytest.mark.slow
def test_real_control_pseudo_treatments_calibrated(cell_injury):
    cal = calibrate(cell_injury, seed=0)
    p = cal["p_value"].dropna()
    assert len(p) == 1_000
    assert 0.02 <= (p < 0.05).mean() <= 0.08
    # copairs' own p-value is far from uniform on the same pseudo-treatments (why the null is empirical)
    assert (cal["copairs_p"] < 0.05).mean() < 0.02


@requires_data
@pytest.mark.slow
def test_real_positive_controls_active_at_high_dose(cell_injury):
    table = activity_table(cell_injury, seed=0)
    names = cell_injury.meta.dropna(subset=["inchikey"]).drop_duplicates("inchikey").set_index("inchikey")["compound_id"]
    table["name"] = table["inchikey"].map(names)
    for name in ("Wortmannin", "Colchicine", "Nocodazole", "Radicicol"):
        high = table[(table["name"] == name) & (table["dose_level"].astype(float) >= 10)]
        assert len(high) >= 2, name
        assert high["active"].all(), high
    assert 0.3 < table["active"].mean() < 0.95
    assert table["p_value"].notna().all()


# --- conditions, randomised layouts, untestable builds (cell-injury-v2, rxrx3-core) ---------------


def _scatter(wells: Wells, seed: int = 0) -> Wells:
    """The same wells at random addresses of a 1536-well plate, drawn per plate (compounds and controls move, as in RxRx3-core)."""
    rng = np.random.default_rng(seed)
    meta = wells.meta.copy()
    for _, index in meta.groupby("plate").indices.items():
        meta.loc[index, "well"] = [f"R{k:04d}" for k in rng.choice(1536, len(index), replace=False)]  # a 1536-well plate
    return Wells(meta, wells.features, wells.metadata)


def test_randomised_layout_is_testable_only_with_matching_null():
    wells = _scatter(generated_wells(n_plates=12, controls=10, effects=(1.5,) * 3 + (0.0,) * 12, seed=4))
    shared = activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=0)
    assert shared["p_value"].isna().all()  # the v1 null needs one control address on all plates: none here
    with pytest.raises(PhenoBenchError, match="15 of 15 replicated .* untestable"):
        activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=0, check_testable=True)
    match = activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=0, null_addresses="match", check_testable=True)
    assert match["p_value"].notna().all()
    strong = match["inchikey"].isin(["KEY00", "KEY01", "KEY02"])
    assert match.loc[strong, "active"].all() and not match.loc[~strong, "active"].any()
    assert match.attrs["procedure"]["null_addresses"] == "match" and match.attrs["procedure"]["version"] == "2"


def test_v1_procedure_record_is_unchanged_by_the_new_options():
    table = activity_table(generated_wells(effects=(0.5, 0.0)), n_permutations=500, n_pseudo=100, seed=0)
    assert "condition" not in table.attrs["procedure"] and "null_addresses" not in table.attrs["procedure"]
    assert table.attrs["procedure"]["version"] == "1"


def test_condition_scores_each_time_point_against_its_own_plates():
    """Effect only at 48 h: the 48 h condition is active, the 24 h one is not; they are two rows."""
    early = generated_wells(n_plates=10, effects=(0.0, 0.0, 0.0), seed=6)
    late = generated_wells(n_plates=10, effects=(2.0, 0.0, 0.0), seed=7)
    early.meta["plate"] += "-24h"
    early.meta["well_id"] += "-24h"
    wells = concat(Wells(early.meta.assign(time_h=24.0), early.features, early.metadata), Wells(late.meta.assign(time_h=48.0), late.features, late.metadata))
    wells.metadata.sources = ["gen"]
    table = activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=0, condition=("time_h",), null_addresses="match")
    assert list(table.columns[:4]) == ["source", "inchikey", "dose_level", "time_h"] and len(table) == 6
    key0 = table[table["inchikey"] == "KEY00"].set_index("time_h")
    assert bool(key0.at[48.0, "active"]) and not bool(key0.at[24.0, "active"])
    pooled = activity_table(wells, n_permutations=1_000, n_pseudo=300, seed=0)
    assert len(pooled) == 3  # without the condition the two times are one pooled pair


@pytest.mark.parametrize("layout", ["fixed", "randomised"])
def test_pseudo_treatment_calibration_on_both_layouts(layout):
    """Held-out control pseudo-treatments: p < 0.05 for 2-8 % of them (KS not rejecting), fixed and randomised layouts."""
    from pheno_bench.activity import calibration_summary

    base = generated_wells(n_plates=30, controls=8, effects=(0.0,) * 40, seed=11)
    wells = base if layout == "fixed" else _scatter(base, seed=3)
    cal = calibrate(wells, n_pseudo=400, n_null=800, n_permutations=1_000, seed=0, null_addresses="match")
    summary = calibration_summary(cal, wells)
    part = summary["all"]
    assert part["n"] >= 300
    assert 0.02 <= part["below_0.05"] <= 0.08
    assert part["ks_pvalue"] > 0.001
    if layout == "randomised":
        assert summary["randomised"]["n"] == part["n"]


# --- fixed-size control references (rxrx3-core-v1: hundreds of controls per plate) ----------------


def test_reference_controls_keep_randomised_layout_calibrated():
    """Every query vs 12 of its plate's 40 controls: held-out pseudo-treatments p < 0.05 for 3-7 % (KS not rejecting)."""
    from pheno_bench.activity import calibration_summary

    wells = _scatter(generated_wells(n_plates=30, controls=40, effects=(0.0,) * 40, seed=11), seed=3)
    cal = calibrate(wells, n_pseudo=800, n_null=1_000, n_permutations=1_000, seed=0, null_addresses="match", reference_controls=12)
    summary = calibration_summary(cal, wells)
    assert summary["all"]["n"] == summary["randomised"]["n"] == 800
    assert 0.03 <= summary["all"]["below_0.05"] <= 0.07
    assert summary["all"]["ks_pvalue"] > 0.01


def test_reference_controls_detect_planted_effects_and_record_the_option(monkeypatch):
    """Batched pseudo-treatments (several batches), strong pairs active, nulls not, same seed same table."""
    import pheno_bench.activity_null as activity_null

    monkeypatch.setattr(activity_null, "PSEUDO_BATCH", 70)  # 300 pseudo-treatments -> 5 batches
    wells = _scatter(generated_wells(n_plates=12, controls=30, effects=(1.5,) * 3 + (0.0,) * 12, seed=4))
    options = {"n_permutations": 1_000, "n_pseudo": 300, "seed": 0, "null_addresses": "match", "check_testable": True}
    table = activity_table(wells, reference_controls=8, **options)
    assert table["p_value"].notna().all()
    strong = table["inchikey"].isin(["KEY00", "KEY01", "KEY02"])
    assert table.loc[strong, "active"].all() and not table.loc[~strong, "active"].any()
    record = table.attrs["procedure"]
    assert record["reference_controls"] == 8 and record["version"] == "3" and record["sources"]["gen"]["pseudo"] == 300
    pd.testing.assert_frame_equal(table, activity_table(wells, reference_controls=8, **options))
    assert "reference_controls" not in activity_table(wells, **options).attrs["procedure"]


def test_reference_controls_bound_every_plate_real_and_pseudo():
    """Virtual plates hold the pseudo wells + R controls; real plates keep exactly R controls (all but one where fewer)."""
    from pheno_bench.activity_null import drop_one_control, pseudo_treatments

    wells = _scatter(generated_wells(n_plates=12, controls=30, effects=(0.0,) * 6, seed=5))
    meta = wells.meta.assign(group=wells.meta["inchikey"])
    pseudo = pseudo_treatments(meta, wells.features, n=50, rng=np.random.default_rng(0), null_addresses="match", reference=8)
    frame = pseudo.problem[0]
    per_plate = frame.groupby("plate")["is_control"].agg(["sum", "size"])
    assert (per_plate["sum"] == 8).all() and len(per_plate) == 50 * 4  # 4 replicates on 4 plates each
    kept, _ = drop_one_control(meta, wells.features, np.random.default_rng(0), reference=8)
    assert (kept[kept["is_control"]].groupby("plate").size() == 8).all()
    assert (~kept["is_control"]).sum() == (~meta["is_control"]).sum()
    small, _ = drop_one_control(meta, wells.features, np.random.default_rng(0), reference=40)
    assert (small[small["is_control"]].groupby("plate").size() == 29).all()
