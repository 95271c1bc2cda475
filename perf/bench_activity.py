"""Activity stage: speed on the real cell-injury-v1 wells, and the calibration figures of site/activity.md.

    python perf/bench_activity.py [--seeds 0 1 2] [--json PATH]

Times ``activity_table`` on the curated cell-injury-v1 wells (cell-injury + lincs-pilot1, as
``splits build`` calls it) and on cell-injury alone, then ``calibrate`` on cell-injury for each
seed: the fraction of held-out control pseudo-treatments below 0.01 / 0.05 / 0.1 / 0.5, a KS
test against uniform, the fraction per well address, and copairs' own p-value on the same
pseudo-treatments. Figures depend on the machine and its load: the script prints both.
``--layouts`` instead measures calibration at addresses that hold treated wells on synthetic screens
with address effects (fixed and randomised layouts) and on cell-injury per condition (site/activity.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from scipy import stats

from pheno_bench.activity import activity_table, calibrate, compute_activity_table, calibration_summary as layout_summary
from pheno_bench.curate import curate
from pheno_bench.sources import get_source, load_source

SOURCES = ("cell-injury", "lincs-pilot1")


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - start, 1)


def calibration_summary(table) -> dict:
    p = table["p_value"].dropna().to_numpy()
    return {
        "n": int(len(p)),
        **{f"below_{a}": round(float((p < a).mean()), 3) for a in (0.01, 0.05, 0.1, 0.5)},
        "ks_pvalue": float(stats.kstest(p, "uniform").pvalue),
        "copairs_p_below_0.05": round(float((table["copairs_p"] < 0.05).mean()), 4),
        "below_0.05_by_address": {
            str(a): f"{(g < 0.05).mean():.3f} (n={len(g)})" for a, g in table.groupby("address")["p_value"]
        },
    }


def synthetic_layout(layout: str, seed: int, address_effect: float = 0.5):
    """A no-effect synthetic screen with address effects on a fixed or randomised layout (site/activity.md)."""
    opts = dict(name="cal", n_molecules=150, doses=[0.3, 3.0, 30.0], replicates=3, wells_per_plate=96, controls_per_plate=12,
                n_features=32, address_effect=address_effect, layout=layout, seed=seed, inactive_fraction=1.0)
    return curate([get_source("synthetic").load(None, **opts)], {"cal": None}).wells


def layouts_report(seeds) -> dict:
    """Calibration at treated addresses (fixed layout) and on randomised layouts, plus real cell-injury per condition."""
    report = {}
    for layout in ("fixed", "randomised"):
        for seed in seeds:
            wells = synthetic_layout(layout, seed)
            (cal, seconds) = timed(calibrate, wells, n_pseudo=500, n_null=1000, n_permutations=2000, seed=seed, null_addresses="match")
            summary = layout_summary(cal, wells)
            summary.pop("per_address", None)
            table = compute_activity_table(wells, n_permutations=2000, n_pseudo=1000, seed=seed, null_addresses="match", check_testable=True)
            p = table["p_value"].dropna()
            summary["no_effect_pairs"] = {"n": len(p), "below_0.05": round(float((p < 0.05).mean()), 4), "active": int(table["active"].sum())}
            report[f"synthetic {layout} seed {seed}"] = {"seconds": seconds, **summary}
    wells = curate([load_source(n) for n in SOURCES], {n: get_source(n).nominal_doses_um for n in SOURCES}).wells
    cell_injury = wells.take((wells.meta["source"] == "cell-injury").to_numpy())
    for seed in seeds[:2]:
        cal, seconds = timed(calibrate, cell_injury, seed=seed, condition=("time_h",), null_addresses="match")
        report[f"cell-injury per condition seed {seed}"] = {"seconds": seconds, **layout_summary(cal, cell_injury)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--layouts", action="store_true", help="calibration at treated addresses on fixed and randomised layouts (v2)")
    args = parser.parse_args()
    report: dict = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    if args.layouts:
        report.update(layouts_report(args.seeds))
        report["load_average_end"] = os.getloadavg()
        print(json.dumps(report, indent=2))
        return
    wells = curate([load_source(n) for n in SOURCES], {n: get_source(n).nominal_doses_um for n in SOURCES}).wells
    cell_injury = wells.take((wells.meta["source"] == "cell-injury").to_numpy())
    table, report["activity_table_s (both sources)"] = timed(activity_table, wells, seed=0)
    _, report["activity_table_s (cell-injury)"] = timed(activity_table, cell_injury, seed=0)
    report["pairs"] = table.attrs["procedure"]["sources"]
    by_dose = table[table["source"] == "cell-injury"].groupby("dose_level")["active"]
    report["cell-injury active fraction by dose"] = {d: f"{g.mean():.2f} (n={len(g)})" for d, g in by_dose}
    for seed in args.seeds:
        cal, seconds = timed(calibrate, cell_injury, seed=seed)
        report[f"calibrate seed {seed}"] = {"seconds": seconds, **calibration_summary(cal)}
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
