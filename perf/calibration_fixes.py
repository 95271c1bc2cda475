"""Fixes tried for the single-address calibration of the activity null (site/activity.md, issue 20).

    python perf/calibration_fixes.py [--seeds 0 1 2 3 4] [--json out.json]

On the real cell-injury wells (per condition, ``null_addresses="match"``, 2,000 null and 1,000
held-out pseudo-treatments per address pattern, as ``activity.calibrate``), each held-out
single-address pseudo-treatment at address A gets a p-value against the null pseudo-treatments at
other addresses under several rules; the script prints, per rule and seed, the fraction below 0.05
and the KS p-value, and per address the fraction below 0.05:

* ``current``: the pooled null of the other addresses (``match``, what cell-injury-v2 uses);
* ``max``: the largest p-value against each other address's null with >= 50 pseudo-treatments
  (the library option ``match-max``);
* ``equal_mixture``: the mean of those per-address p-values (each address weighted equally);
* ``jackknife``: the largest pooled p-value over the nulls leaving out one more address;
* ``median``: the median of the per-address p-values;
* ``times_2``: min(1, 2 p) of ``current``.

It also counts the real single-address conditions whose own address holds null pseudo-treatments
(address-matched nulls), and, with ``--crossfit``, runs ``calibrate`` after a row + column position
correction cross-fitted on the controls (each control well corrected by a model fitted without the
controls at its own address; treated wells by the model fitted on all controls). Prototypes, not
library options (except ``max`` = ``match-max``); a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from scipy import stats

from pheno_bench.activity import _by_source, calibrate
from pheno_bench.activity_null import MIN_PSEUDO_PER_ADDRESS, condition_pairs as _pairs, null_p_values, score_groups as _score, source_null as _null
from pheno_bench.curate import curate
from pheno_bench.layout import median_polish, split_address
from pheno_bench.schema import Wells
from pheno_bench.sources import get_source, load_source

SOURCES = ("cell-injury", "lincs-pilot1")
KEYS = ["inchikey", "dose_level", "time_h"]


def cell_injury() -> Wells:
    wells = curate([load_source(n) for n in SOURCES], {n: get_source(n).nominal_doses_um for n in SOURCES}).wells
    return wells.take((wells.meta["source"] == "cell-injury").to_numpy())


def variants(wells: Wells, seed: int) -> pd.DataFrame:
    """Per held-out single-address pseudo-treatment: its address and its p-value under each rule."""
    _, meta, features = next(_by_source(wells))
    null = _null(meta, features, n=2_000, seed=seed, keys=KEYS, null_addresses="match")
    held = _null(meta, features, n=1_000, seed=seed, keys=KEYS, null_addresses="match", prefix="held", stream=1)
    scored = _score([null.problem, held.problem], 10_000, seed)
    null_stats, held_stats = scored.reindex(null.groups.index), scored.reindex(held.groups.index)
    shared = null.groups[null.groups["address"].notna()]
    parts = []
    for address, index in held.groups[held.groups["address"].notna()].groupby("address").groups.items():
        other = shared[shared["address"] != address]
        observed = held_stats.loc[index]
        current = null_p_values(observed, null_stats.loc[other.index])
        counts = other["address"].value_counts()
        big = [a for a in counts.index if counts[a] >= MIN_PSEUDO_PER_ADDRESS]
        per = np.array([null_p_values(observed, null_stats.loc[other.index[other["address"] == a]]) for a in big])
        jack = np.max([null_p_values(observed, null_stats.loc[other.index[other["address"] != a]]) for a in big], axis=0)
        parts.append(pd.DataFrame({"address": address, "current": current, "max": per.max(axis=0), "equal_mixture": per.mean(axis=0),
                                   "jackknife": jack, "median": np.median(per, axis=0), "times_2": np.minimum(1, 2 * current)}))
    return pd.concat(parts, ignore_index=True)


def matched_conditions(wells: Wells, seed: int = 0) -> dict:
    """Real single-address replicated conditions whose address holds null pseudo-treatments (address-matched null possible)."""
    _, meta, features = next(_by_source(wells))
    pairs, _ = _pairs(meta, KEYS)
    treated = meta[~meta["is_control"]]
    address = treated.groupby(KEYS)["well"].first().reindex(pd.MultiIndex.from_frame(pairs[KEYS])).to_numpy()
    single = (pairs["n_addresses"].to_numpy() == 1) & (pairs["n_wells"].to_numpy() >= 2)
    null = _null(meta, features, n=2_000, seed=seed, keys=KEYS, null_addresses="match")
    counts = null.groups["address"].value_counts()
    at = pd.Series(address[single]).map(counts).fillna(0)
    return {"single_address_conditions": int(single.sum()), "with_any_null_at_address": int((at > 0).sum()),
            "with_50_null_at_address": int((at >= MIN_PSEUDO_PER_ADDRESS).sum()),
            "addresses": sorted(set(pd.Series(address[single])[at.to_numpy() > 0]))}


def crossfit(wells: Wells) -> Wells:
    """Row + column correction: treated wells by the fit on all controls, each control by the fit without its own address."""
    meta, x = wells.meta, wells.features.astype(np.float64)
    row, col = split_address(meta["well"].to_numpy(object))
    control = meta["is_control"].to_numpy(bool)
    address = meta["well"].to_numpy(object)
    out = x.copy()

    def apply(fit_rows, target_rows):
        row_effect, col_effect = median_polish(x[fit_rows], row[fit_rows], col[fit_rows])
        for i in np.flatnonzero(target_rows):
            out[i] = x[i] - row_effect.get(row[i], 0.0) - col_effect.get(col[i], 0.0)

    apply(control, ~control)
    for a in np.unique(address[control]):
        apply(control & (address != a), control & (address == a))
    return Wells(meta, out.astype(np.float32), wells.metadata)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--crossfit", action="store_true", help="also the cross-fitted position correction (3 calibrate runs)")
    parser.add_argument("--json")
    args = parser.parse_args()
    wells = cell_injury()
    frame = pd.concat([variants(wells, s).assign(seed=s) for s in args.seeds], ignore_index=True)
    rules = ["current", "max", "equal_mixture", "jackknife", "median", "times_2"]
    below = frame.groupby("seed")[rules].agg(lambda p: (p < 0.05).mean())
    ks = frame.groupby("seed")[rules].agg(lambda p: stats.kstest(p, "uniform").pvalue)
    print("fraction of held-out single-address pseudo-treatments below 0.05\n", below.round(3).to_string())
    print("\nKS p-value\n", ks.map(lambda v: f"{v:.2g}").to_string())
    print("\nper address, all seeds\n", frame.groupby("address")[rules].agg(lambda p: (p < 0.05).mean()).round(3).to_string())
    report = {"below_0.05": below.to_dict(), "ks": ks.to_dict(), "matched": matched_conditions(wells)}
    print("\naddress-matched nulls:", report["matched"])
    if args.crossfit:
        corrected = crossfit(wells)
        report["crossfit"] = {}
        for seed in args.seeds[:3]:
            cal = calibrate(corrected, seed=seed, condition=("time_h",), null_addresses="match")
            single = cal.loc[cal["address"].notna()]
            per = single.groupby("address")["p_value"].agg(lambda p: (p < 0.05).mean())
            report["crossfit"][seed] = {"single_below_0.05": float((single["p_value"] < 0.05).mean()), "per_address": per.round(3).to_dict()}
            print(f"cross-fitted correction, seed {seed}:", report["crossfit"][seed])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2, default=str)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
