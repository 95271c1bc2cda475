"""How far the activity p-values and labels can be trusted: calibration per address pattern and
per address, the cut-off Benjamini–Hochberg actually applies, and the agreement of one
condition's label across the folds of a fold set.

* :func:`calibration_by_pattern`: held-out control pseudo-treatments (``activity.calibrate``) split
  by address pattern: *single-address* (the wells share one address, as 92 % of cell-injury's
  replicated conditions) and *scattered*; fraction below each alpha and the KS test against uniform.
* :func:`calibration_by_address`: the same per held-out address, worst first, with the binomial
  test of its rate against alpha.
* :func:`bh_cutoff`: the largest p-value among a source's active conditions: the threshold the
  Benjamini–Hochberg step actually used, where the calibration matters for the labels.
* :func:`fold_label_agreement`: train/valid labels of the same condition in different folds (each
  fold computes them from its own train + valid wells): agreement on ``active`` and on
  ``p <= 0.01``, and per fold the share of conditions at the smallest attainable p-value.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet
from pheno_bench.manifest import wells_path

ALPHAS = (0.01, 0.02, 0.03, 0.05, 0.1)


def _rates(p: np.ndarray, alphas) -> dict:
    p = np.asarray(p, dtype=float)
    p = p[np.isfinite(p)]
    out = {"n": len(p)}
    for alpha in alphas:
        out[f"below_{alpha:g}"] = float((p < alpha).mean()) if len(p) else np.nan
    out["ks_pvalue"] = float(stats.kstest(p, "uniform").pvalue) if len(p) else np.nan
    return out


def calibration_by_pattern(cal: pd.DataFrame, *, alphas: tuple[float, ...] = ALPHAS, column: str = "p_value") -> pd.DataFrame:
    """Rows ``all``, ``single-address`` (``address`` not null) and ``scattered`` (null): n, fraction
    of ``column`` below each alpha, KS p-value against uniform. cal: ``activity.calibrate``'s frame."""
    single = cal["address"].notna().to_numpy()
    rows = {"all": cal[column], "single-address": cal.loc[single, column], "scattered": cal.loc[~single, column]}
    return pd.DataFrame([{"pattern": name, **_rates(p.to_numpy(), alphas)} for name, p in rows.items()])


def calibration_by_address(cal: pd.DataFrame, *, alpha: float = 0.05, column: str = "p_value") -> pd.DataFrame:
    """Per held-out address: n, the fraction below ``alpha`` and the two-sided binomial p-value of
    that count against ``alpha``; sorted by the fraction, largest (most anti-conservative) first."""
    rows = []
    for address, p in cal[cal["address"].notna()].groupby("address")[column]:
        p = p.dropna().to_numpy(float)
        k = int((p < alpha).sum())
        rows.append({"address": str(address), "n": len(p), f"below_{alpha:g}": k / len(p) if len(p) else np.nan,
                     "binomial_pvalue": float(stats.binomtest(k, len(p), alpha).pvalue) if len(p) else np.nan})
    out = pd.DataFrame(rows, columns=["address", "n", f"below_{alpha:g}", "binomial_pvalue"])
    return out.sort_values([f"below_{alpha:g}", "n"], ascending=[False, False], ignore_index=True)


def bh_cutoff(activity: pd.DataFrame) -> pd.Series:
    """Per source: the largest p-value among its active conditions (NaN where none is active)."""
    active = activity[activity["active"].astype(bool)]
    return active.groupby("source")["p_value"].max().reindex(sorted(activity["source"].unique()))


class LabelAgreement(BaseModel):
    """One condition's train/valid label in different folds of a fold set."""

    source: str
    fold_pairs: int = Field(description="(condition, fold a, fold b) comparisons: a condition labelled (testable) in both folds")
    conditions: int = Field(description="distinct conditions compared")
    active_agreement: float = Field(description="share of comparisons with the same active flag")
    p01_agreement: float = Field(description="share of comparisons on the same side of p <= 0.01")
    per_fold: list[dict] = Field(description="per fold: testable conditions, active share, share with p <= 0.01, "
                                 "share at the smallest attainable p (1 / (n_pseudo + 1)), that p, the commonest p-value and its share")


def fold_labels(fold_root: str | Path, *, source: str) -> pd.DataFrame:
    """The train and valid conditions of one fold with their labels: index ``condition_id``; p_value, active."""
    fold_root = Path(fold_root)
    frames = []
    for split in ("train", "valid"):
        table = read_parquet(fold_root / wells_path(split), what=f"{split} wells").drop_columns(["features"]).to_pandas()
        frames.append(table)
    wells = pd.concat(frames, ignore_index=True)
    if "condition_id" not in wells:
        raise PhenoBenchError(f"{fold_root}: no condition_id column (not a fold of a per-condition benchmark)")
    wells = wells[~wells["is_control"].astype(bool) & (wells["source"] == source)]
    labels = wells.drop_duplicates("condition_id").set_index("condition_id")[["p_value", "active"]]
    return labels.assign(active=labels["active"].fillna(False).astype(bool))


def fold_label_agreement(root: str | Path, *, source: str = "cell-injury") -> LabelAgreement:
    """:class:`LabelAgreement` over every pair of folds of the fold set at ``root`` (``fold-<k>/``)."""
    root = Path(root)
    folds = sorted((p for p in root.glob("fold-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))
    if len(folds) < 2:
        raise PhenoBenchError(f"{root}: not a fold set with two or more folds (no fold-<k>/ folders)")
    labels, per_fold = [], []
    for folder in folds:
        table = fold_labels(folder, source=source)
        manifest = json.loads((folder / "manifest.json").read_text())
        n_pseudo = manifest["activity"]["train_valid"]["n_pseudo"]
        tested = table[table["p_value"].notna()]
        floor = 1 / (n_pseudo + 1)
        labels.append(tested)
        per_fold.append({
            "fold": int(folder.name.split("-")[1]), "testable": len(tested), "active_share": float(tested["active"].mean()),
            "p01_share": float((tested["p_value"] <= 0.01).mean()), "at_min_p_share": float(np.isclose(tested["p_value"], floor).mean()),
            "min_p": floor, "commonest_p": float(tested["p_value"].mode().min()),
            "commonest_p_share": float((tested["p_value"] == tested["p_value"].mode().min()).mean()),
        })
    same_active = same_p01 = total = 0
    seen: set[str] = set()
    for a, b in itertools.combinations(labels, 2):
        both = a.merge(b, left_index=True, right_index=True, suffixes=("_a", "_b"))
        same_active += int((both["active_a"] == both["active_b"]).sum())
        same_p01 += int(((both["p_value_a"] <= 0.01) == (both["p_value_b"] <= 0.01)).sum())
        total += len(both)
        seen |= set(both.index)
    return LabelAgreement(
        source=source, fold_pairs=total, conditions=len(seen), active_agreement=same_active / total if total else np.nan,
        p01_agreement=same_p01 / total if total else np.nan, per_fold=per_fold,
    )
