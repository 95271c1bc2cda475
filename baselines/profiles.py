"""Phenomic profiles predicted without training a network (numpy, RDKit, scikit-learn; no torch).

The training-free probes (:mod:`pheno_bench.baselines.probes`) predict, for each candidate
(molecule, dose), a *profile*: a point in the benchmark's standardised feature space. Queries are
wells in the same space. This module holds the predictors and the one geometric trick that makes
the scorer's cosine retrieval mean "nearest profile":

* :func:`condition_profiles`: the mean standardised profile of each (molecule, dose) of train,
  averaging each time point separately first (a condition is (molecule, dose, time); time points
  are never pooled well by well).
* :func:`centroid_profiles`: a candidate's own train mean (unseen_images), or nothing.
* :func:`neighbour_profiles`: the Tanimoto-weighted mean of the k nearest training molecules,
  each at its train dose nearest (in log dose) to the candidate's dose.
* :class:`RidgeProfiles`: a ridge regression from molecule features + log10 dose to the profile
  (one SVD, any penalty).
* :func:`euclidean_lift`: embeddings whose cosine ranks candidates exactly by Euclidean
  distance between query and profile.
* :func:`top_percent_hit_rate`: the top-K% hit rate with random tie-breaking (the probes' settings
  are chosen by :mod:`pheno_bench.baselines.tuning`, scaffold-grouped CV inside train).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from pheno_bench.errors import PhenoBenchError

#: Column names a benchmark may use for the treatment time of a well (first found wins).
TIME_COLUMNS = ("time_h", "treatment_time_h", "time")


def time_column(frame: pd.DataFrame) -> str | None:
    """The treatment-time column of a wells table, or None (a single time point)."""
    return next((c for c in TIME_COLUMNS if c in frame.columns), None)


def dose_um(dose_levels: pd.Series) -> np.ndarray:
    """Nominal doses in µM from dose-level labels; NaN where not a positive number."""
    values = pd.to_numeric(dose_levels.astype(str), errors="coerce").to_numpy(dtype=np.float64)
    return np.where(values > 0, values, np.nan)


@dataclass
class Conditions:
    """Per (molecule, dose) mean profiles of train.

    frame: one row per candidate_id (sorted): candidate_id, inchikey, smiles, dose_level, log_dose.
    profiles: (n, d) float64, row-aligned with ``frame``.
    """

    frame: pd.DataFrame
    profiles: np.ndarray

    def index(self) -> pd.Index:
        return pd.Index(self.frame["candidate_id"])


def condition_profiles(meta: pd.DataFrame, x: np.ndarray) -> Conditions:
    """Mean profile per candidate of wells ``meta`` (rows aligned with ``x`` (n, d)).

    With a time column, each (candidate, time) is averaged first and the time means are then
    averaged with equal weight, so a candidate measured at 24 h and 48 h is the midpoint of the
    two conditions whatever their well counts.
    """
    keys = ["candidate_id"] + ([t] if (t := time_column(meta)) else [])
    # map(str), not astype(str): pandas keeps a missing time (NaN, e.g. RxRx3-core has no treatment time) as a float there
    groups = meta[keys].apply(lambda column: column.map(str)).agg("\x1f".join, axis=1) if len(keys) > 1 else meta["candidate_id"].astype(str)
    codes, names = pd.factorize(groups, sort=True)
    sums = np.zeros((len(names), x.shape[1]))
    np.add.at(sums, codes, x)
    condition_means = sums / np.bincount(codes, minlength=len(names))[:, None]
    first = np.unique(codes, return_index=True)[1]
    condition_candidate = meta["candidate_id"].astype(str).to_numpy()[first]
    cand_codes, candidates = pd.factorize(condition_candidate, sort=True)
    profiles = np.zeros((len(candidates), x.shape[1]))
    np.add.at(profiles, cand_codes, condition_means)
    profiles /= np.bincount(cand_codes)[:, None]
    rows = meta.iloc[first].assign(candidate_id=condition_candidate)
    frame = rows.drop_duplicates("candidate_id").set_index("candidate_id").loc[list(candidates)].reset_index()
    frame = frame[["candidate_id", "inchikey", "smiles", "dose_level"]].assign(
        dose_level=lambda f: f["dose_level"].astype(str), log_dose=lambda f: np.log10(dose_um(f["dose_level"]))
    )
    return Conditions(frame.reset_index(drop=True), profiles)


def centroid_profiles(candidates: pd.DataFrame, conditions: Conditions) -> tuple[np.ndarray, np.ndarray]:
    """(profiles (n, d), known (n,) bool): each candidate's own train mean; zero rows where unknown."""
    position = conditions.index().get_indexer(candidates["candidate_id"].astype(str))
    known = position >= 0
    profiles = np.zeros((len(candidates), conditions.profiles.shape[1]))
    profiles[known] = conditions.profiles[position[known]]
    return profiles, known


def morgan_bits(smiles: Sequence[str], *, radius: int = 2, n_bits: int = 2048) -> list:
    """RDKit Morgan bit vectors (ECFP4-like by default) for Tanimoto similarity."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise PhenoBenchError(f"SMILES {s!r} does not parse with RDKit; fix or drop that molecule")
        out.append(generator.GetFingerprint(mol))
    return out


def tanimoto_matrix(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """(len(a), len(b)) Tanimoto similarities of Morgan bits (radius 2, 2,048 bits)."""
    from rdkit import DataStructs

    fa, fb = morgan_bits(a), morgan_bits(b)
    return np.asarray([DataStructs.BulkTanimotoSimilarity(f, fb) for f in fa], dtype=np.float64).reshape(len(a), len(b))


def neighbour_profiles(candidates: pd.DataFrame, conditions: Conditions, *, k: int) -> np.ndarray:
    """(n, d): Tanimoto-weighted mean over the ``k`` training molecules most similar to each candidate.

    Each neighbour contributes its train profile at the dose nearest (|Δ log10 µM|, ties to the
    lower dose) to the candidate's dose. A training molecule is its own nearest neighbour
    (similarity 1), so on unseen_images the candidate's own profile gets the largest weight.
    Similarity ties are broken by InChIKey; all-zero similarities weigh neighbours equally.
    """
    frame = conditions.frame
    molecules = sorted(set(frame["inchikey"]))
    smiles_of = frame.drop_duplicates("inchikey").set_index("inchikey")["smiles"]
    cand_smiles = candidates["smiles"].astype(str).tolist()
    unique_smiles = sorted(set(cand_smiles))
    sim = tanimoto_matrix(unique_smiles, [smiles_of[m] for m in molecules])
    sim_of = dict(zip(unique_smiles, sim))
    k = min(k, len(molecules))
    by_molecule = {m: g for m, g in frame.reset_index().groupby("inchikey")}
    cand_dose = np.log10(dose_um(candidates["dose_level"]))
    out = np.zeros((len(candidates), conditions.profiles.shape[1]))
    for row, (s, dose) in enumerate(zip(cand_smiles, cand_dose)):
        similarity = sim_of[s]
        order = np.lexsort((np.arange(len(molecules)), -similarity))[:k]  # stable: by similarity, then InChIKey
        weights = similarity[order] if similarity[order].sum() > 0 else np.ones(len(order))
        total = np.zeros(conditions.profiles.shape[1])
        for w, m in zip(weights, order):
            group = by_molecule[molecules[m]]
            gap = np.abs(group["log_dose"].to_numpy() - (dose if np.isfinite(dose) else np.nanmedian(frame["log_dose"])))
            nearest = group["index"].to_numpy()[np.lexsort((group["log_dose"].to_numpy(), gap))[0]]
            total += w * conditions.profiles[nearest]
        out[row] = total / weights.sum()
    return out


class RidgeProfiles:
    """Ridge regression: [molecule features, log10 dose] -> profile, fitted on train conditions.

    fit: one row per (molecule, dose) of train (its mean profile), so each condition counts
    once whatever its well count. Inputs are centred (and, with ``scale_inputs``, divided by their
    sd) with the train rows' statistics; the intercept is not penalised. Solved once by SVD, so
    :meth:`predict` gives the fit at any penalty (``alpha`` overrides the one given here) without
    refitting: coef = V diag(s / (s^2 + alpha)) U^T (Y - mean Y), as scikit-learn's Ridge.
    """

    def __init__(self, alpha: float = 1.0, *, scale_inputs: bool = True):
        self.alpha = alpha
        self.scale_inputs = scale_inputs

    @staticmethod
    def inputs(molecule_features: np.ndarray, log_dose: np.ndarray) -> np.ndarray:
        return np.column_stack([molecule_features, log_dose]).astype(np.float64)

    def fit(self, molecule_features: np.ndarray, log_dose: np.ndarray, profiles: np.ndarray) -> "RidgeProfiles":
        x = self.inputs(molecule_features, log_dose)
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0) if self.scale_inputs else np.ones(x.shape[1])
        self.std_ = np.where(std > 0, std, 1.0)
        profiles = np.asarray(profiles, dtype=np.float64)
        self.intercept_ = profiles.mean(axis=0)
        u, self.s_, self.vt_ = np.linalg.svd((x - self.mean_) / self.std_, full_matrices=False)
        self.uty_ = u.T @ (profiles - self.intercept_)
        return self

    def coef(self, alpha: float | None = None) -> np.ndarray:
        """(n_inputs, d) coefficients on the centred (scaled) inputs at penalty ``alpha``."""
        alpha = self.alpha if alpha is None else alpha
        return self.vt_.T @ ((self.s_ / (self.s_**2 + alpha))[:, None] * self.uty_)

    def predict(self, molecule_features: np.ndarray, log_dose: np.ndarray, *, alpha: float | None = None) -> np.ndarray:
        x = self.inputs(molecule_features, np.nan_to_num(log_dose, nan=float(self.mean_[-1])))
        return ((x - self.mean_) / self.std_) @ self.coef(alpha) + self.intercept_


def morgan_bit_matrix(smiles: Sequence[str], *, radius: int = 2, n_bits: int = 1024) -> np.ndarray:
    """(n, n_bits) float64 0/1 Morgan bits (as the worked example in site/getting-started.md)."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    unique = sorted(set(smiles))
    rows = {}
    for s in unique:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise PhenoBenchError(f"SMILES {s!r} does not parse with RDKit; fix or drop that molecule")
        rows[s] = generator.GetFingerprintAsNumPy(mol).astype(np.float64)
    return np.stack([rows[s] for s in smiles]) if len(smiles) else np.zeros((0, n_bits))


def euclidean_lift(queries: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings whose cosine similarity ranks candidates by Euclidean distance to the query.

    queries (n, d), candidates (m, d) -> (n, d + 2), (m, d + 2), float32, with
    q' = (q, t, 0) and c' = (c, −|c|²/(2t), s_c), s_c ≥ 0 chosen so every |c'| is equal and
    t = max |c|. Then q'·c' = q·c − |c|²/2 = (|q|² − |q − c|²)/2, and since every c' has one norm
    the scorer's cosine is, per query, a positive multiple of −|q − c|² plus a constant: the
    candidate ranking is exactly the nearest-profile ranking.
    """
    queries, candidates = np.asarray(queries, np.float64), np.asarray(candidates, np.float64)
    sq = (candidates**2).sum(axis=1)
    t = max(float(np.sqrt(sq.max())) if len(sq) else 1.0, 1e-6)
    extra = -sq / (2 * t)
    norm2 = sq + extra**2
    pad = np.sqrt(np.maximum(norm2.max() * (1 + 1e-9) + 1e-12 - norm2, 0.0))
    c = np.column_stack([candidates, extra, pad])
    q = np.column_stack([queries, np.full(len(queries), t), np.zeros(len(queries))])
    return q.astype(np.float32), c.astype(np.float32)


def top_percent_hit_rate(queries: np.ndarray, candidates: np.ndarray, true_index: np.ndarray, *, percent: int = 5) -> float:
    """Mean over queries of P(true candidate within the top ceil(percent·m/100)) by cosine,
    ties broken at random (exact expectation: (k − g)/e clipped to [0, 1] with g candidates
    strictly better and e tied, the true one included)."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    c = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-30)
    sims = q @ c.T
    true = sims[np.arange(len(q)), true_index][:, None]
    tol = 1e-9 * np.abs(sims).max()
    greater = (sims > true + tol).sum(axis=1)
    equal = (np.abs(sims - true) <= tol).sum(axis=1)
    k = -(-percent * candidates.shape[0] // 100)
    return float(np.clip((k - greater) / equal, 0.0, 1.0).mean())
