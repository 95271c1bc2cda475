"""From a benchmark folder to the arrays the baselines train on and embed (numpy only).

Phenomic inputs are the benchmark features standardised with the train wells' mean and standard
deviation. Molecule inputs are the featuriser's output, optionally followed by the explicit
concentration encoding (one-hot dose level over the manifest's levels, then log10 µM).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pheno_bench.baselines.config import BaselineConfig
from pheno_bench.baselines.featurise import Featuriser, featurise
from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet
from pheno_bench.manifest import candidates_path, queries_path, wells_path
from pheno_bench.schema import Wells, features_matrix


@dataclass
class TrainingSet:
    """Training examples, row-aligned.

    phenomic: (n, d) standardised phenomic inputs (a well, or the mean of a (molecule, dose)'s wells).
    molecule: (n, m) molecule inputs.
    classes: (n,) int class per example; equal classes are positives of each other.
    inactive: (n,) bool, p_value above the cutoff (undersampled when the config asks).
    soft_scale: the arctan soft-target scale: median RMS distance between replicate wells.
    wells, members: with ``averaging="subsets"``, the standardised wells (w, d) and, per example,
    its wells' rows (n, max replicates), padded with -1; each draw averages a random subset.
    """

    phenomic: np.ndarray
    molecule: np.ndarray
    classes: np.ndarray
    inactive: np.ndarray
    soft_scale: float
    wells: np.ndarray | None = None
    members: np.ndarray | None = None

    def batch_phenomic(self, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Phenomic inputs (b, d) of examples ``index``: fixed, or means of random replicate subsets.

        Subsets: for an example with r replicates, a size s uniform in 1..r, then s replicates
        uniformly without replacement (random keys, the s smallest), so every draw differs.
        """
        if self.members is None:
            return self.phenomic[index]
        members = self.members[index]
        valid = members >= 0
        sizes = rng.integers(1, valid.sum(axis=1) + 1)
        keys = np.where(valid, rng.random(members.shape), np.inf)
        order = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
        chosen = valid & (order < sizes[:, None])
        sums = np.einsum("br,brd->bd", chosen.astype(np.float32), self.wells[np.where(valid, members, 0)])
        return (sums / sizes[:, None]).astype(np.float32)


@dataclass
class Standardiser:
    """x → (x − mean) / std with the train wells' statistics; shapes (d,)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> "Standardiser":
        std = features.std(axis=0, dtype=np.float64)
        return cls(features.mean(axis=0, dtype=np.float64).astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32)


def load_wells(root: Path, split: str) -> Wells:
    """The labelled wells of ``split`` (train or valid), controls excluded."""
    path = root / wells_path(split)
    wells = Wells.from_arrow(read_parquet(path, what=f"{split} wells"), origin=str(path))
    return wells.take(~wells.meta["is_control"].astype(bool).to_numpy())


def dose_values(dose_levels: pd.Series, *, origin: str) -> np.ndarray:
    """Nominal doses in µM from the dose-level labels (e.g. "0.625" → 0.625)."""
    values = pd.to_numeric(dose_levels, errors="coerce").to_numpy(dtype=np.float64)
    if bad := sorted(set(dose_levels[~(values > 0)].astype(str)))[:3]:
        raise PhenoBenchError(f"{origin}: dose_level {bad} is not a positive number in µM; rebuild the benchmark")
    return values


def concentration_features(dose_levels: pd.Series, levels: list[str], *, origin: str) -> np.ndarray:
    """(n, len(levels) + 1): one-hot dose level (all zero for a level not in ``levels``), log10 µM."""
    onehot = (dose_levels.astype(str).to_numpy()[:, None] == np.asarray(levels, dtype=object)[None, :])
    log_dose = np.log10(dose_values(dose_levels, origin=origin))[:, None]
    return np.concatenate([onehot, log_dose], axis=1).astype(np.float32)


def molecule_inputs(
    frame: pd.DataFrame, config: BaselineConfig, *, featuriser: Featuriser, levels: list[str], origin: str
) -> np.ndarray:
    """Molecule inputs of rows with ``smiles`` and ``dose_level``: shape (n, m)."""
    fingerprints = featurise(frame["smiles"].tolist(), featuriser)
    if not config.explicit_concentration:
        return fingerprints
    return np.concatenate(
        [fingerprints, concentration_features(frame["dose_level"], levels, origin=origin)], axis=1
    )


def class_labels(frame: pd.DataFrame, config: BaselineConfig) -> np.ndarray:
    """Class ids: (molecule, dose) with implicit concentration, else the molecule."""
    return pd.factorize(frame["candidate_id" if config.implicit_concentration else "inchikey"], sort=True)[0]


def training_set(
    wells: Wells, config: BaselineConfig, *, featuriser: Featuriser, levels: list[str], standardiser: Standardiser, origin: str
) -> TrainingSet:
    """The training examples of ``wells`` under ``config`` (averaging, classes, activity)."""
    meta = wells.meta.assign(dose_level=wells.meta["dose_level"].astype(str))
    phenomic = standardiser(wells.features)
    groups, first = _groups(meta)
    soft_scale = replicate_distance(phenomic, groups)
    wells_x = members = None
    if config.average_replicates:
        if config.averaging == "subsets":
            wells_x, members = phenomic, _members(groups, len(first))
        phenomic = _group_means(phenomic, groups, len(first))
        meta = meta.iloc[first].reset_index(drop=True)
    p_values = pd.to_numeric(meta["p_value"], errors="coerce").to_numpy(dtype=np.float64)
    return TrainingSet(
        phenomic=phenomic,
        molecule=molecule_inputs(meta, config, featuriser=featuriser, levels=levels, origin=origin),
        classes=class_labels(meta, config),
        inactive=~(p_values <= config.p_value_cutoff),
        soft_scale=soft_scale,
        wells=wells_x,
        members=members,
    )


def condition_keys(meta: pd.DataFrame) -> pd.Series:
    """The condition of each well: ``condition_id`` when the benchmark has it, else the
    candidate (molecule, dose) joined with the treatment time when there is one. Replicates are
    averaged within a condition only, so time points are never mixed."""
    if "condition_id" in meta.columns and meta["condition_id"].notna().all():
        return meta["condition_id"].astype(str)
    from pheno_bench.baselines.profiles import time_column

    key = meta["candidate_id"].astype(str)
    if (t := time_column(meta)) is not None:
        key = key + "@" + meta[t].astype(str) + "h"
    return key


def _groups(meta: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Group id per well of its condition, and the first well of each group (sorted keys)."""
    codes, _ = pd.factorize(condition_keys(meta), sort=True)
    first = np.unique(codes, return_index=True)[1]
    return codes, first


def _members(groups: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups, max group size) well rows of each group, padded with -1."""
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    members = np.full((n_groups, counts.max()), -1, dtype=np.int64)
    members[groups[order], np.arange(len(order)) - starts[groups[order]]] = order
    return members


def _group_means(features: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    sums = np.zeros((n_groups, features.shape[1]), dtype=np.float64)
    np.add.at(sums, groups, features)
    return (sums / np.bincount(groups, minlength=n_groups)[:, None]).astype(np.float32)


def replicate_distance(x: np.ndarray, groups: np.ndarray) -> float:
    """Median RMS (per-feature) Euclidean distance between two wells of the same group.

    x: (n, d) features; groups: (n,) group id per row. Falls back to 1.0 without replicates.
    """
    order = np.argsort(groups, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0])
    sizes = np.diff(np.r_[starts, len(order)])
    pairs = [
        (order[start + i], order[start + j])
        for start, size in zip(starts, sizes)
        for i, j in zip(*np.triu_indices(size, k=1))
    ]
    if not pairs:
        return 1.0
    left, right = np.asarray(pairs).T
    return float(np.median(np.sqrt(((x[left] - x[right]) ** 2).mean(axis=1))))


def query_inputs(root: Path, split: str, n_features: int) -> tuple[list[str], np.ndarray]:
    """(query ids, raw features (n, d)) of a test split."""
    table = read_parquet(root / queries_path(split), what=f"{split} queries")
    return table.column("query_id").to_pylist(), features_matrix(table.column("features"), n_features)


def candidate_frame(root: Path, split: str) -> pd.DataFrame:
    """The candidates of a test split: candidate_id, inchikey, smiles, dose_level, concentration_um."""
    frame = read_parquet(root / candidates_path(split), what=f"{split} candidates").to_pandas()
    return frame.assign(dose_level=frame["dose_level"].astype(str))
