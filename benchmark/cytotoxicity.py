"""A cytotoxicity-aware reading of activity: how much of "active" is cell loss.

``active`` (``pheno_bench.activity``) says a condition's wells can be told apart from their plates'
controls; in a cell-injury screen the commonest way to differ is to have fewer cells. This module
reads activity beside the publishers' **relative well cell count** (``cell_count``: the well's cell
count relative to its plate's DMSO wells), per condition (the mean over its wells):

* :func:`cytotoxicity_table`: per condition, its cell count and a ``non_cytotoxic`` flag (mean
  relative cell count at least ``NON_CYTOTOXIC_CELL_COUNT`` = 0.8); ``non_cytotoxic_active`` is the
  subset of actives that cannot be explained by cell loss alone;
* :func:`activity_by_cell_count`: the active share per cell-count bin;
* :func:`cytotoxicity_summary`: active share below / at or above the cut, the share of actives that
  are cytotoxic, the logistic regression of activity on ln(cell count) (alone and with log dose and
  time), its coefficient, standard error and Wald p-value (:func:`logistic_regression`, Newton
  iterations; checked against statsmodels in the tests), and the AUC of low cell count for active;
* :func:`cell_count_r2`: how well the benchmark features predict the cell count (cross-validated
  ridge regression, molecules held out together);
* :func:`non_cytotoxic_queries`: the flag per test query of a built benchmark, for scoring a
  "non-cytotoxic active" subset apart (``active & non_cytotoxic``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

from pheno_bench.errors import PhenoBenchError

#: A condition whose mean relative cell count is at least this is "non-cytotoxic" (the review's cut).
NON_CYTOTOXIC_CELL_COUNT = 0.8
#: Relative cell counts are floored here before the logarithm (the smallest published value is 0.0025).
MIN_CELL_COUNT = 1e-3
BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, np.inf)


def condition_cell_counts(meta: pd.DataFrame, *, keys: tuple[str, ...] = ("inchikey", "dose_level", "time_h")) -> pd.DataFrame:
    """Mean relative cell count per condition over its treated wells: ``keys`` + ``cell_count``, ``cell_count_wells``."""
    if "cell_count" not in meta:
        raise PhenoBenchError("cytotoxicity: the wells carry no cell_count column (cell-injury-v1 has none; use the curated wells or cell-injury-v2)")
    treated = meta[~meta["is_control"].astype(bool)].assign(dose_level=lambda f: f["dose_level"].astype(str))
    grouped = treated.groupby(list(keys), dropna=False)["cell_count"]
    return pd.DataFrame({"cell_count": grouped.mean(), "cell_count_wells": grouped.count()}).reset_index()


def cytotoxicity_table(
    activity: pd.DataFrame, meta: pd.DataFrame, *, keys: tuple[str, ...] = ("inchikey", "dose_level", "time_h"),
    threshold: float = NON_CYTOTOXIC_CELL_COUNT,
) -> pd.DataFrame:
    """Activity per condition beside its mean relative cell count.

    activity: one row per condition with ``keys``, ``p_value`` and ``active`` (the output of
    :func:`pheno_bench.activity.activity_table` for one source); meta: the wells it was computed from,
    with ``cell_count``. Returns the testable conditions (p-value not NaN) with ``cell_count``,
    ``non_cytotoxic`` (cell_count >= threshold) and ``non_cytotoxic_active`` (active and non-cytotoxic).
    """
    counts = condition_cell_counts(meta, keys=keys)
    table = activity.assign(dose_level=activity["dose_level"].astype(str)).merge(counts, on=list(keys), how="left")
    table = table[table["p_value"].notna() & table["cell_count"].notna()].reset_index(drop=True)
    table["active"] = table["active"].astype(bool)
    table["non_cytotoxic"] = table["cell_count"] >= threshold
    table["non_cytotoxic_active"] = table["active"] & table["non_cytotoxic"]
    return table


def activity_by_cell_count(table: pd.DataFrame, *, bins: tuple[float, ...] = BINS) -> pd.DataFrame:
    """Per bin of mean relative cell count ``[low, high)``: conditions, active conditions and their share."""
    cut = pd.cut(table["cell_count"], bins=list(bins), right=False)
    grouped = table.groupby(cut, observed=False)["active"]
    out = pd.DataFrame({"conditions": grouped.size(), "active": grouped.sum().astype(int)})
    out["active_share"] = out["active"] / out["conditions"].where(out["conditions"] > 0)
    out.index = [f"[{i.left:g}, {i.right:g})" for i in out.index]
    return out.rename_axis("cell_count").reset_index()


class LogitFit(BaseModel):
    """A logistic regression fitted by Newton's method: coefficients with Wald standard errors and p-values."""

    names: list[str]
    coef: list[float]
    se: list[float]
    p_value: list[float] = Field(description="two-sided Wald p-value per coefficient")
    n: int
    log_likelihood: float
    pseudo_r2: float = Field(description="McFadden: 1 - log L / log L of the intercept-only model")

    def term(self, name: str) -> tuple[float, float, float]:
        """(coefficient, standard error, p-value) of one term."""
        i = self.names.index(name)
        return self.coef[i], self.se[i], self.p_value[i]


def logistic_regression(x: pd.DataFrame, y: np.ndarray, *, iterations: int = 100, tol: float = 1e-10) -> LogitFit:
    """Maximum-likelihood logistic regression of ``y`` (n,) in {0, 1} on the columns of ``x`` (n, k) plus an intercept."""
    names = ["intercept", *map(str, x.columns)]
    design = np.column_stack([np.ones(len(x)), x.to_numpy(dtype=np.float64)])
    y = np.asarray(y, dtype=np.float64)
    if not len(y) or y.min() == y.max():
        raise PhenoBenchError("logistic regression: the outcome needs both classes")
    beta = np.zeros(design.shape[1])
    for _ in range(iterations):
        mu = 1 / (1 + np.exp(-design @ beta))
        weight = mu * (1 - mu)
        step = np.linalg.solve(design.T @ (design * weight[:, None]), design.T @ (y - mu))
        beta += step
        if np.abs(step).max() < tol:
            break
    mu = np.clip(1 / (1 + np.exp(-design @ beta)), 1e-15, 1 - 1e-15)
    cov = np.linalg.inv(design.T @ (design * (mu * (1 - mu))[:, None]))
    se = np.sqrt(np.diag(cov))
    loglik = float(np.sum(y * np.log(mu) + (1 - y) * np.log(1 - mu)))
    p0 = y.mean()
    null = float(len(y) * (p0 * np.log(p0) + (1 - p0) * np.log(1 - p0)))
    return LogitFit(
        names=names, coef=beta.tolist(), se=se.tolist(), p_value=(2 * stats.norm.sf(np.abs(beta / se))).tolist(), n=len(y),
        log_likelihood=loglik, pseudo_r2=1 - loglik / null,
    )


class CytotoxicitySummary(BaseModel):
    """How much of activity goes with cell loss (one source, testable conditions)."""

    conditions: int
    active: int
    threshold: float = Field(description="non-cytotoxic: mean relative cell count >= threshold")
    below: int = Field(description="conditions with cell count below the threshold")
    active_share_below: float
    at_or_above: int
    active_share_at_or_above: float
    cytotoxic_share_of_actives: float = Field(description="share of active conditions whose cell count is below the threshold")
    non_cytotoxic_active: int = Field(description="active conditions with cell count at or above the threshold")
    auc_low_cell_count: float = Field(description="P(an active condition has a lower cell count than an inactive one), ties 1/2")
    logit: LogitFit = Field(description="active ~ ln(cell count)")
    logit_adjusted: LogitFit | None = Field(None, description="active ~ ln(cell count) + log10(dose µM) + [48 h]")


def cytotoxicity_summary(table: pd.DataFrame, *, threshold: float = NON_CYTOTOXIC_CELL_COUNT) -> CytotoxicitySummary:
    """:func:`cytotoxicity_table`'s rows summarised (see :class:`CytotoxicitySummary`)."""
    active = table["active"].to_numpy(bool)
    low = table["cell_count"].to_numpy(float) < threshold
    cells = table["cell_count"].to_numpy(float)
    log_cells = pd.DataFrame({"ln_cell_count": np.log(np.maximum(cells, MIN_CELL_COUNT))})
    auc = stats.mannwhitneyu(-cells[active], -cells[~active]).statistic / (active.sum() * (~active).sum()) if active.any() and (~active).any() else float("nan")
    adjusted = None
    if "time_h" in table and table["time_h"].nunique() > 1:
        covariates = log_cells.assign(log10_dose=np.log10(pd.to_numeric(table["dose_level"]).to_numpy()), hours_48=(table["time_h"].to_numpy() == 48).astype(float))
        adjusted = logistic_regression(covariates, active)
    return CytotoxicitySummary(
        conditions=len(table), active=int(active.sum()), threshold=threshold,
        below=int(low.sum()), active_share_below=float(active[low].mean()) if low.any() else float("nan"),
        at_or_above=int((~low).sum()), active_share_at_or_above=float(active[~low].mean()) if (~low).any() else float("nan"),
        cytotoxic_share_of_actives=float(low[active].mean()) if active.any() else float("nan"),
        non_cytotoxic_active=int((active & ~low).sum()), auc_low_cell_count=float(auc),
        logit=logistic_regression(log_cells, active), logit_adjusted=adjusted,
    )


def cell_count_r2(features: np.ndarray, cell_count: np.ndarray, groups: np.ndarray, *, folds: int = 5) -> float:
    """Cross-validated R² of the relative cell count predicted from the features.

    features: (n, d); cell_count, groups: (n,). Ridge regression with its penalty chosen by
    RidgeCV (efficient leave-one-out over 10^-2 … 10^4) inside each training part; ``GroupKFold(folds)``
    over ``groups`` (e.g. the molecule), so a molecule's wells are never in train and test at once.
    R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² over the out-of-fold predictions.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GroupKFold, cross_val_predict

    y = np.asarray(cell_count, dtype=np.float64)
    keep = np.isfinite(y)
    x, y, groups = np.asarray(features, dtype=np.float64)[keep], y[keep], np.asarray(groups)[keep]
    predicted = cross_val_predict(RidgeCV(alphas=np.logspace(-2, 4, 13)), x, y, groups=groups, cv=GroupKFold(folds))
    return float(1 - ((y - predicted) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def non_cytotoxic_queries(root: str | Path, *, threshold: float = NON_CYTOTOXIC_CELL_COUNT) -> pd.DataFrame:
    """Per test query of a built benchmark (one fold root): its condition's mean relative cell count
    over **all** wells of the benchmark with that condition in its source (train, valid and every test split, as
    the test activity labels use all wells) and ``non_cytotoxic`` (>= threshold).

    Columns: ``query_id``, ``split``, ``condition_id``, ``cell_count``, ``non_cytotoxic``,
    ``active``. A scorer can score the subset ``active & non_cytotoxic`` ("non-cytotoxic active")
    beside ``active`` by joining on ``query_id``. Benchmarks without ``cell_count`` (cell-injury-v1)
    raise :class:`PhenoBenchError`.
    """
    from pheno_bench.address_dose import benchmark_wells

    wells = benchmark_wells(root)
    if "cell_count" not in wells or "condition_id" not in wells:
        raise PhenoBenchError(f"{root}: the benchmark carries no cell_count / condition_id (cell-injury-v1 has none)")
    treated = wells[~wells["is_control"]]
    keys = ["source", "condition_id"]  # a LINCS well never borrows a cell-injury condition's cell count
    mean = treated.groupby(keys)["cell_count"].mean().rename("cell_count")
    queries = treated[treated["query_id"].notna()] if "query_id" in treated else treated.iloc[:0]
    out = queries[["query_id", "split", *keys, "active"]].reset_index(drop=True)
    out["cell_count"] = out[keys].merge(mean, left_on=keys, right_index=True, how="left")["cell_count"].to_numpy()
    out = out.drop(columns="source")
    out["non_cytotoxic"] = out["cell_count"].to_numpy(float) >= threshold - 1e-9  # a mean of exactly 0.8, summed in any order
    out["active"] = out["active"].fillna(False).astype(bool)
    return out[["query_id", "split", "condition_id", "cell_count", "non_cytotoxic", "active"]]
