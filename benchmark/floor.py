"""The query-blind floor: the best ranking of a split's candidates that never looks at the query.

A ranking that ignores the query puts every query's candidates in the same order, so all it can
use is what train says about candidates. It can still beat chance: a (molecule, dose) at a
molecule's highest dose is more often active than one at its lowest, and at the molecule level
(is any dose of the true molecule in the top k?) a top block holding one dose of *every* molecule
finds more molecules than a uniformly random order. :func:`query_blind_scores` is that ranking:

* **Dose prior** (:func:`dose_prior`): for each dose *rank within its molecule* (1 = the
  molecule's highest concentration), the share of a train molecule's active wells found at that
  rank, averaged over the train molecules with at least one active well (macro, like the primary
  metric, which averages active queries per molecule). Ranks, not absolute dose levels: a level
  prior cannot place a dose train never saw (every dose of unseen_dataset's source but one, in
  cell-injury-v1), and where both are defined they order the doses alike
  (:func:`prior_evidence` measures both on train, leaving each molecule out in turn).
* **One dose per molecule first**: block 1 = each molecule's most likely dose (by the prior; ties:
  the higher concentration), tied across molecules; block 2 = each molecule's next; and so on.
  Whatever k, no query-blind ranking finds more molecules in its top k (block 1 holds one dose of
  every molecule, so any k of the top candidates are k different molecules), and among rankings
  that treat molecules alike, none puts more of the prior's weight in the top k.

Scores are ``-block`` (float64: higher = earlier, equal = tied), ready to embed (every query
identical, candidate similarity decreasing with the block) or to rank directly. Depends only on
numpy and pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _concentration(frame: pd.DataFrame) -> np.ndarray:
    """Concentrations in µM: ``concentration_um`` where present and positive, else the ``dose_level`` label."""
    values = np.full(len(frame), np.nan)
    if "concentration_um" in frame.columns:
        values = pd.to_numeric(frame["concentration_um"], errors="coerce").to_numpy(dtype=np.float64)
    if "dose_level" in frame.columns:
        labels = pd.to_numeric(frame["dose_level"].astype(str), errors="coerce").to_numpy(dtype=np.float64)
        values = np.where(np.isfinite(values) & (values > 0), values, labels)
    return np.where(values > 0, values, np.nan)


def dose_ranks(frame: pd.DataFrame) -> np.ndarray:
    """(n,) int: rank of each row's concentration among the distinct concentrations of its molecule
    (``inchikey``), 1 = highest; a row without a concentration ranks after all of its molecule's doses."""
    conc = _concentration(frame)
    table = pd.DataFrame({"m": frame["inchikey"].astype(str).to_numpy(), "c": np.nan_to_num(conc, nan=-np.inf)})
    return table.groupby("m")["c"].rank(method="dense", ascending=False).to_numpy(dtype=np.int64)


def _is_active(values: pd.Series) -> np.ndarray:
    return values.map(lambda v: v is True or v == 1 or str(v).strip().lower() == "true").to_numpy(dtype=bool)


def _treated(train_meta: pd.DataFrame) -> pd.DataFrame:
    meta = train_meta
    if "is_control" in meta.columns:
        meta = meta[~meta["is_control"].fillna(False).astype(bool)]
    return meta[meta["inchikey"].notna()].reset_index(drop=True)


def dose_prior(train_meta: pd.DataFrame, *, by: str = "rank") -> pd.Series:
    """Share of a molecule's active train wells at each dose rank (``by="rank"``, index 1, 2, …) or
    dose level (``by="level"``, index: concentration in µM), averaged over train molecules with an
    active well. train_meta: train wells (controls are dropped) with inchikey, concentration_um or
    dose_level, and active. Sums to 1 over the index (empty if train has no active well)."""
    meta = _treated(train_meta)
    active = _is_active(meta["active"]) if "active" in meta.columns else np.ones(len(meta), bool)
    key = dose_ranks(meta) if by == "rank" else _concentration(meta)
    if by not in ("rank", "level"):
        raise ValueError(f"by must be 'rank' or 'level', not {by!r}")
    frame = pd.DataFrame({"m": meta["inchikey"].astype(str).to_numpy(), "key": key})[active]
    if frame.empty:
        return pd.Series(dtype=np.float64)
    share = frame.groupby(["m", "key"]).size() / frame.groupby("m").size()
    return share.groupby(level="key").sum().sort_index() / frame["m"].nunique()


def _blocks(candidates: pd.DataFrame, prior_of_row: np.ndarray) -> np.ndarray:
    """(n,) int block of each candidate: its position within its molecule by (prior desc, concentration desc, id)."""
    conc = np.nan_to_num(_concentration(candidates), nan=-np.inf)
    ids = candidates["candidate_id"].astype(str).to_numpy() if "candidate_id" in candidates.columns else np.arange(len(candidates)).astype(str)
    order = np.lexsort((ids, -conc, -prior_of_row, candidates["inchikey"].astype(str).to_numpy()))
    molecule = candidates["inchikey"].astype(str).to_numpy()[order]
    starts = np.r_[True, molecule[1:] != molecule[:-1]]
    position = np.arange(len(order)) - np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    blocks = np.empty(len(order), dtype=np.int64)
    blocks[order] = position + 1
    return blocks


def query_blind_scores(train_meta: pd.DataFrame, candidates: pd.DataFrame) -> np.ndarray:
    """Query-blind candidate scores: -block, block 1 = each molecule's most likely dose under the train
    dose prior (:func:`dose_prior`, by rank), tied across molecules; block 2 = each molecule's next.

    train_meta: (n_wells, ...) train wells with inchikey, concentration_um or dose_level, active
    (is_control rows dropped). candidates: (n_candidates, ...) a split's candidates with
    candidate_id, inchikey and concentration_um or dose_level. Returns (n_candidates,) float64;
    equal scores are ties. Deterministic; never reads a query.
    """
    if len(candidates) == 0:
        return np.zeros(0, dtype=np.float64)
    prior = dose_prior(train_meta, by="rank")
    prior_of_row = prior.reindex(dose_ranks(candidates)).fillna(0.0).to_numpy(dtype=np.float64)
    return -_blocks(candidates.reset_index(drop=True), prior_of_row).astype(np.float64)


def prior_evidence(train_meta: pd.DataFrame) -> dict[str, float]:
    """Train-internal evidence for the prior: leaving each train molecule out in turn, the share of its
    active wells at the dose the prior (fitted on the other molecules) puts first, averaged over the
    molecules with an active well, for the rank prior and the dose-level prior (a level the other
    molecules never had counts as prior 0). Also ``level_undefined``: the share of those wells whose
    dose level no other molecule had. Plain loops over ~100 molecules."""
    meta = _treated(train_meta)
    active = _is_active(meta["active"]) if "active" in meta.columns else np.ones(len(meta), bool)
    molecules = sorted(set(meta["inchikey"].astype(str)[active]))
    ranks, conc = dose_ranks(meta), _concentration(meta)
    out = {"rank": [], "level": [], "level_undefined": []}
    for m in molecules:
        own = (meta["inchikey"].astype(str) == m).to_numpy()
        rest = meta[~own]
        doses = pd.DataFrame({"rank": ranks[own], "conc": conc[own], "active": active[own]}).drop_duplicates(["rank", "conc", "active"])
        wells = pd.DataFrame({"rank": ranks[own & active], "conc": conc[own & active]})
        for by, column in (("rank", "rank"), ("level", "conc")):
            prior = dose_prior(rest, by=by)
            options = doses.drop_duplicates(column)
            values = prior.reindex(options[column].to_numpy()).fillna(0.0).to_numpy()
            first = options.iloc[np.lexsort((-options["conc"].to_numpy(), -values))[0]][column]
            out[by].append(float((wells[column] == first).mean()))
        known = set(dose_prior(rest, by="level").index)
        out["level_undefined"].append(float((~wells["conc"].isin(known)).mean()))
    return {k: float(np.mean(v)) if v else float("nan") for k, v in out.items()}
