"""Probe settings chosen by scaffold-grouped cross-validation inside train (never valid, never test).

A probe with a setting (the ridge penalty, the number of chemical neighbours) is scored on
held-out groups of its own train split, the way the benchmark scores unseen molecules:

* **Folds.** Train molecules are grouped by Bemis–Murcko scaffold (an acyclic molecule is a group
  of its own, as in :func:`pheno_bench.split.scaffold_groups`); groups are dealt, largest first
  and in seeded random order within a size, to the fold with the fewest molecules. ``N_FOLDS``
  folds, repeated ``N_REPEATS`` times with different seeds (each repeat is a new partition).
* **Task.** For each fold, the probe is fitted on the other folds' wells only; the held-out
  molecules' (molecule, dose) pairs are the candidates and their *active* wells the queries (the
  benchmark's primary subset), in the probe's own retrieval space.
* **Objective.** The benchmark's primary metric on that task: the fair-tie top-5% hit
  (k = ceil(5% of the held-out candidates), ties at their expected value, exactly as the scorer
  counts them), averaged per molecule and then over molecules (macro). Not a smooth proxy.
* **Choice.** The setting with the best mean over the ``N_FOLDS x N_REPEATS`` held-out folds; ties
  go to the simpler model (larger penalty, fewer neighbours) only when the means are equal (to
  1e-12). If the best setting is at an end of the grid that can be extended (a penalty at either
  end, a neighbour count at the top), the grid is extended one step at a time, so the optimum
  reported is interior or at a natural bound (k = 1).

Every curve (setting -> mean, sd over folds) is kept in the probe's ``choices.json`` and shown on
``site/baselines.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from pheno_bench.baselines.profiles import Conditions, condition_profiles
from pheno_bench.errors import PhenoBenchError
from pheno_bench.metrics import fair_reciprocal_rank, fair_top_k, top_k_count

N_FOLDS = 5
N_REPEATS = 3
CV_SEED = 0
CV_PERCENT = 5
#: scores within this distance are equal (ties go to the simpler setting)
EQUAL = 1e-12


def scaffold_groups(meta: pd.DataFrame) -> pd.Series:
    """The CV group of each well: its scaffold, or ``acyclic:<InChIKey>`` (as the benchmark's splits)."""
    scaffold = meta["scaffold"].fillna("").astype(str) if "scaffold" in meta.columns else pd.Series("", index=meta.index)
    return scaffold.where(scaffold != "", "acyclic:" + meta["inchikey"].astype(str))


def scaffold_folds(meta: pd.DataFrame, *, n_folds: int = N_FOLDS, seed: int = CV_SEED) -> np.ndarray:
    """(n_wells,) fold index of each well: whole scaffold groups dealt, largest first (seeded random
    order within a size), to the fold with the fewest molecules so far."""
    groups = scaffold_groups(meta).to_numpy()
    molecules = pd.DataFrame({"group": groups, "inchikey": meta["inchikey"].astype(str).to_numpy()}).drop_duplicates()
    sizes = molecules.groupby("group").size().sort_index()
    if len(sizes) < n_folds:
        raise PhenoBenchError(f"only {len(sizes)} scaffold groups in train; cross-validation needs at least {n_folds}")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(sizes)), -sizes.to_numpy()))
    load = np.zeros(n_folds, dtype=np.int64)
    fold_of = {}
    for i in order:
        target = int(np.argmin(load))
        fold_of[sizes.index[i]] = target
        load[target] += sizes.iloc[i]
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


@dataclass
class HeldOut:
    """One held-out fold of train, in the probe's retrieval space.

    fit_meta, fit_x: wells (n_fit,) and their coordinates (n_fit, p) the probe may learn from.
    fit: the fit wells' per-(molecule, dose) mean profiles.
    candidates: the held-out (molecule, dose) pairs (candidate_id, inchikey, smiles, dose_level).
    queries: (n_q, p) the held-out active wells; true: (n_q,) row of each one's candidate;
    molecule: (n_q,) int code of each one's molecule (for the macro average).
    """

    fit_meta: pd.DataFrame
    fit_x: np.ndarray
    fit: Conditions
    candidates: pd.DataFrame
    queries: np.ndarray
    true: np.ndarray
    molecule: np.ndarray


def held_out_tasks(meta: pd.DataFrame, x: np.ndarray, *, n_folds: int = N_FOLDS, repeats: int = N_REPEATS, seed: int = CV_SEED) -> list[HeldOut]:
    """The ``n_folds x repeats`` held-out tasks of train wells ``meta`` (n,) with coordinates ``x`` (n, p).

    A fold without an active held-out well is skipped (it cannot score the primary subset)."""
    meta = meta.reset_index(drop=True)
    active = meta["active"].map(lambda v: v is True or v == 1 or str(v).lower() == "true").to_numpy() if "active" in meta.columns else np.ones(len(meta), bool)
    tasks = []
    for repeat in range(repeats):
        folds = scaffold_folds(meta, n_folds=n_folds, seed=seed + repeat)
        for fold in range(n_folds):
            held = folds == fold
            fit_meta = meta[~held].reset_index(drop=True)
            out_meta = meta[held].reset_index(drop=True)
            candidates = (
                out_meta.drop_duplicates("candidate_id").sort_values("candidate_id")[["candidate_id", "inchikey", "smiles", "dose_level"]]
                .assign(dose_level=lambda f: f["dose_level"].astype(str)).reset_index(drop=True)
            )
            rows = np.flatnonzero(held & active)
            if rows.size == 0:
                continue
            true = pd.Index(candidates["candidate_id"]).get_indexer(meta["candidate_id"].to_numpy()[rows])
            molecule = pd.factorize(meta["inchikey"].to_numpy()[rows])[0]
            tasks.append(HeldOut(fit_meta, x[~held], condition_profiles(fit_meta, x[~held]), candidates, x[rows], true, molecule))
    return tasks


def similarities(queries: np.ndarray, profiles: np.ndarray, *, retrieval: str) -> np.ndarray:
    """(n_q, n_c) scores, higher = closer: ``euclidean`` (-|q - c|^2) or ``cosine``."""
    q, c = np.asarray(queries, np.float64), np.asarray(profiles, np.float64)
    if retrieval == "euclidean":
        return 2 * q @ c.T - (c**2).sum(axis=1)[None, :] - (q**2).sum(axis=1)[:, None]
    if retrieval == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
        c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-300)
        return q @ c.T
    raise ValueError(f"unknown retrieval {retrieval!r}")


def task_score(task: HeldOut, profiles: np.ndarray, *, retrieval: str = "euclidean", percent: int = CV_PERCENT, objective: str = "top_k") -> float:
    """A fair-tie retrieval score of one held-out task, averaged per molecule, then over molecules.

    objective: ``top_k`` (the benchmark's primary metric: top-``percent``% hit of each active
    well), ``mrr`` (reciprocal rank) or ``percentile`` (1 - (mid-rank - 1) / (n_candidates - 1)),
    the last two smooth proxies with far less variance."""
    scores = similarities(task.queries, profiles, retrieval=retrieval)
    true = scores[np.arange(len(scores)), task.true][:, None]
    tol = 1e-9 * max(float(np.abs(scores).max(initial=0.0)), 1e-300)
    above = (scores > true + tol).sum(axis=1)
    tied = (np.abs(scores - true) <= tol).sum(axis=1)
    n = profiles.shape[0]
    if objective == "top_k":
        values = fair_top_k(above, tied, top_k_count(percent, n))
    elif objective == "mrr":
        values = fair_reciprocal_rank(above, tied, n)
    elif objective == "percentile":
        values = 1 - (above + (tied - 1) / 2) / max(n - 1, 1)
    else:
        raise ValueError(f"unknown objective {objective!r}")
    return float(pd.Series(values).groupby(task.molecule).mean().mean())


@dataclass
class Curve:
    """A cross-validated setting: grid value -> (mean, sd over held-out folds), and the choice."""

    name: str
    chosen: float
    scores: dict[float, tuple[float, float]]
    n_folds: int
    extended: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "setting": self.name, "chosen": self.chosen, "n_heldout_folds": self.n_folds, "extended_with": self.extended,
            "objective": f"fair-tie top-{CV_PERCENT}% hit of held-out active wells, macro over molecules "
                         f"({N_FOLDS}-fold scaffold-grouped CV inside train, {N_REPEATS} repeats)",
            "curve": {f"{k:g}": {"mean": m, "sd": s} for k, (m, s) in sorted(self.scores.items())},
        }


def cross_validate(
    name: str,
    tasks: Sequence[HeldOut],
    profiles: Callable[[HeldOut, float], np.ndarray],
    grid: Sequence[float],
    *,
    simpler: Callable[[float], float],
    extend: Callable[[float, list[float]], float | None],
    retrieval: str = "euclidean",
    objective: str = "top_k",
    max_extensions: int = 6,
) -> Curve:
    """Score every setting of ``grid`` on every task and choose one (see the module docstring).

    profiles(task, setting) -> (n_candidates, p) predicted profiles of the task's candidates.
    simpler(setting): a sort key, larger = simpler (chosen on exactly equal means).
    extend(best, grid): the next setting beyond ``best`` when it sits at an extendable end of
    ``grid``, else None.
    """
    if not tasks:
        raise PhenoBenchError("no held-out fold with active wells in train; cannot cross-validate the probe's setting")
    scores: dict[float, tuple[float, float]] = {}
    extended: list[float] = []

    def run(setting: float) -> None:
        values = np.array([task_score(task, profiles(task, setting), retrieval=retrieval, objective=objective) for task in tasks])
        scores[setting] = (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0)

    for setting in grid:
        run(setting)
    for _ in range(max_extensions):
        best = _best(scores, simpler)
        nxt = extend(best, sorted(scores))
        if nxt is None or nxt in scores:
            break
        extended.append(nxt)
        run(nxt)
    return Curve(name, _best(scores, simpler), scores, len(tasks), extended)


def _best(scores: dict[float, tuple[float, float]], simpler: Callable[[float], float]) -> float:
    top = max(m for m, _ in scores.values())
    equal = [s for s, (m, _) in scores.items() if top - m <= EQUAL]
    return max(equal, key=simpler)


def extend_geometric(best: float, grid: list[float], *, factor: float = 10.0, low: float = 1e-4, high: float = 1e12) -> float | None:
    """The next penalty beyond ``best`` when it is the smallest or largest of ``grid`` (within [low, high])."""
    if best == grid[0] and best / factor >= low:
        return best / factor
    if best == grid[-1] and best * factor <= high:
        return best * factor
    return None


def extend_counts(best: float, grid: list[float], *, limit: int) -> float | None:
    """The next neighbour count above ``best`` when it is the largest of ``grid`` (k = 1 is a natural bound)."""
    if best == grid[-1] and best < limit:
        return float(min(limit, int(best * 1.5) + 1))
    return None
