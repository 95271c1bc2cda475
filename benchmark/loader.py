"""Train and test arrays in one call, as OGB's and TDC's loaders give them.

>>> import pheno_bench
>>> bench = pheno_bench.load_benchmark("cell-injury-v1")        # or a folder; fold=k for a fold set
>>> bench.train.features.shape, bench.train.molecule[:2]        # (n_wells, n_features), InChIKeys
>>> test = bench.test["unseen_molecules"]
>>> test.query_features.shape, len(test.candidates)             # (n_queries, n_features), n_candidates
>>> bench.write_submission("out/sub.parquet", model="mine", queries={...}, candidates={...})

The object reads the frozen files of :mod:`pheno_bench.manifest` (verified against the manifest
by default) and never the answer key: test queries carry only their id and features.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet
from pheno_bench.manifest import Manifest, candidates_path, queries_path, read_manifest, verify, wells_path
from pheno_bench.registry import locate
from pheno_bench.schema import TEST_SPLITS, features_matrix


@dataclass
class WellSplit:
    """Labelled wells of ``train`` or ``valid``.

    meta: one row per well (``well_id``, ``plate``, ``is_control``, ``smiles``, ``inchikey``,
    ``concentration_um``, ``dose_level``, ``candidate_id``, ``p_value``, ``q_value``, ``active``, and ``condition_id``, ``time_h``,
    ``cell_count``, ``address`` where the benchmark has them). features: float32 (n_wells, n_features).
    """

    name: str
    meta: pd.DataFrame
    features: np.ndarray
    feature_names: list[str]

    def __len__(self) -> int:
        return len(self.meta)

    def _column(self, name: str, default=None) -> np.ndarray:
        if name in self.meta.columns:
            column = self.meta[name].astype(object)
            return column.where(column.notna(), None).to_numpy()  # missing (a control's molecule) is None, not NaN
        return np.full(len(self.meta), default, dtype=object)

    @property
    def molecule(self) -> np.ndarray:
        """(n_wells,) InChIKey of each well's molecule (None for controls)."""
        return self._column("inchikey")

    @property
    def smiles(self) -> np.ndarray:
        """(n_wells,) SMILES of each well's molecule (None for controls)."""
        return self._column("smiles")

    @property
    def dose(self) -> np.ndarray:
        """(n_wells,) dose level (string, µM, as in candidate ids ``<InChIKey>@<dose>``)."""
        return self._column("dose_level")

    @property
    def concentration_um(self) -> np.ndarray:
        """(n_wells,) measured concentration in µM."""
        return self.meta["concentration_um"].to_numpy(dtype=float)

    @property
    def active(self) -> np.ndarray:
        """(n_wells,) bool: the well's (molecule, dose) was called active (False for controls)."""
        return self.meta["active"].fillna(False).to_numpy(dtype=bool) if "active" in self.meta else np.zeros(len(self), bool)

    @property
    def is_control(self) -> np.ndarray:
        """(n_wells,) bool: a control well (DMSO or a plate control)."""
        return self.meta["is_control"].to_numpy(dtype=bool)

    @property
    def condition(self) -> np.ndarray:
        """(n_wells,) what was done to the well, (molecule, dose, time): the benchmark's ``condition_id``
        column, else ``<candidate_id>`` (plus ``@<time>h`` when a ``time_h`` column exists); "control" for controls."""
        for column in ("condition_id", "condition"):
            if column in self.meta.columns:
                return self.meta[column].fillna("control").astype(str).to_numpy()
        base = self.meta["candidate_id"] if "candidate_id" in self.meta else self.meta["inchikey"].astype(str) + "@" + self.meta["dose_level"].astype(str)
        base = base.fillna("control").astype(str)
        if "time_h" in self.meta.columns:
            return (base + "@" + self.meta["time_h"].astype(str) + "h").to_numpy()
        return base.to_numpy()

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Arrays of equal length: ``features`` (n, d) float32, ``molecule``, ``smiles``, ``dose``,
        ``concentration_um``, ``active``, ``is_control``, ``condition``, ``well_id``, ``plate``."""
        return {
            "features": self.features, "molecule": self.molecule, "smiles": self.smiles, "dose": self.dose,
            "concentration_um": self.concentration_um, "active": self.active, "is_control": self.is_control,
            "condition": self.condition, "well_id": self.meta["well_id"].to_numpy(), "plate": self.meta["plate"].to_numpy(),
        }

    def to_pandas(self) -> pd.DataFrame:
        """One row per well: the metadata columns, ``condition``, then one column per feature name."""
        meta = self.meta.assign(condition=self.condition)
        return pd.concat([meta, pd.DataFrame(self.features, columns=self.feature_names)], axis=1)


@dataclass
class TestSplit:
    """One test split: the queries to embed (no labels) and the candidate (molecule, dose) set to rank.

    query_ids: (n_queries,) str. query_features: float32 (n_queries, n_features).
    candidates: one row per candidate: ``candidate_id`` (``<InChIKey>@<dose>``), ``inchikey``,
    ``smiles``, ``dose_level``, ``concentration_um``.
    """

    name: str
    query_ids: np.ndarray
    query_features: np.ndarray
    candidates: pd.DataFrame
    feature_names: list[str]

    @property
    def candidate_ids(self) -> np.ndarray:
        return self.candidates["candidate_id"].to_numpy()

    def to_numpy(self) -> dict[str, np.ndarray]:
        """``query_id``, ``query_features`` (n_q, d), ``candidate_id``, ``candidate_molecule``,
        ``candidate_smiles``, ``candidate_dose``, ``candidate_concentration_um``."""
        c = self.candidates
        return {
            "query_id": self.query_ids, "query_features": self.query_features,
            "candidate_id": c["candidate_id"].to_numpy(), "candidate_molecule": c["inchikey"].to_numpy(),
            "candidate_smiles": c["smiles"].to_numpy(), "candidate_dose": c["dose_level"].to_numpy(),
            "candidate_concentration_um": c["concentration_um"].to_numpy(dtype=float),
        }

    def to_pandas(self) -> dict[str, pd.DataFrame]:
        """``{"queries": query_id + one column per feature, "candidates": the candidate table}``."""
        queries = pd.concat([pd.DataFrame({"query_id": self.query_ids}), pd.DataFrame(self.query_features, columns=self.feature_names)], axis=1)
        return {"queries": queries, "candidates": self.candidates.copy()}


@dataclass
class Benchmark:
    """A frozen benchmark in memory: ``train``, ``valid`` and ``test[split]`` (see :func:`load_benchmark`)."""

    root: Path
    manifest: Manifest
    train: WellSplit
    valid: WellSplit
    test: dict[str, TestSplit] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def fingerprint(self) -> str:
        """What a submission must name (sha256 of this benchmark's, or this fold's, manifest)."""
        return self.manifest.fingerprint

    @property
    def fold(self) -> int | None:
        return self.manifest.fold

    @property
    def feature_names(self) -> list[str]:
        return list(self.manifest.feature_names)

    def __repr__(self) -> str:
        fold = f", fold {self.fold}" if self.fold is not None else ""
        tests = ", ".join(f"{k} {len(v.query_ids)}q/{len(v.candidates)}c" for k, v in self.test.items())
        return (f"Benchmark({self.name} v{self.version}{fold}: train {len(self.train)}, valid {len(self.valid)} wells; "
                f"{tests}; {len(self.feature_names)} features)")

    def to_numpy(self) -> dict[str, dict[str, np.ndarray]]:
        """``{"train": {...}, "valid": {...}, "<test split>": {...}}`` (see each split's ``to_numpy``)."""
        return {"train": self.train.to_numpy(), "valid": self.valid.to_numpy(), **{k: v.to_numpy() for k, v in self.test.items()}}

    def to_pandas(self) -> dict[str, pd.DataFrame]:
        """``train`` and ``valid`` wells frames, and ``<split>/queries`` and ``<split>/candidates`` per test split."""
        frames = {"train": self.train.to_pandas(), "valid": self.valid.to_pandas()}
        for split, test in self.test.items():
            for kind, frame in test.to_pandas().items():
                frames[f"{split}/{kind}"] = frame
        return frames

    def write_submission(
        self,
        path: str | os.PathLike,
        *,
        model: str,
        queries: Mapping[str, np.ndarray],
        candidates: Mapping[str, np.ndarray],
        similarity: str = "cosine",
        description: str = "",
    ) -> Path:
        """Write a submission for this benchmark (or fold): ``queries[split]`` has shape (n_queries, dim)
        in ``test[split].query_ids`` order, ``candidates[split]`` (n_candidates, dim) in candidate order.
        Splits left out are simply not scored."""
        from pheno_bench.submission import write_submission

        unknown = sorted(set(queries) ^ set(candidates)) + sorted(set(queries) - set(self.test))
        if unknown:
            raise PhenoBenchError(f"queries and candidates must cover the same test splits of {sorted(self.test)}; check {unknown}")
        return write_submission(
            path, benchmark=self.name, fingerprint=self.fingerprint, model=model, similarity=similarity, description=description,
            queries={s: (self.test[s].query_ids, np.asarray(e)) for s, e in queries.items()},
            candidates={s: (self.test[s].candidate_ids, np.asarray(e)) for s, e in candidates.items()},
            fold=self.fold,
        )

    def torch_dataset(self, split: str = "train", **kwargs):
        """A ``torch.utils.data.Dataset`` over ``train`` or ``valid`` wells (needs the baselines extra).

        kwargs go to :class:`pheno_bench.torch_data.WellsDataset` (e.g. ``include_controls=True``)."""
        from pheno_bench.torch_data import wells_dataset

        if split not in ("train", "valid"):
            raise PhenoBenchError(f"torch_dataset covers the labelled splits train and valid, not {split!r}")
        return wells_dataset(getattr(self, split), **kwargs)


def _wells(root: Path, split: str, feature_names: list[str]) -> WellSplit:
    table = read_parquet(root / wells_path(split), what=f"{split} wells")
    features = features_matrix(table.column("features"), len(feature_names))
    meta = table.drop_columns(["features"]).to_pandas()
    return WellSplit(split, meta, features, feature_names)


def _test(root: Path, split: str, feature_names: list[str]) -> TestSplit:
    queries = read_parquet(root / queries_path(split), what=f"{split} queries")
    candidates = read_parquet(root / candidates_path(split), what=f"{split} candidates").to_pandas()
    features = features_matrix(queries.column("features"), len(feature_names))
    return TestSplit(split, queries.column("query_id").to_numpy(zero_copy_only=False).astype(object), features, candidates, feature_names)


def load_benchmark(name: str | os.PathLike, fold: int | None = None, *, verify_files: bool = True) -> Benchmark:
    """Load a built or downloaded benchmark (or one fold of a fold set) into memory.

    name: a benchmark name (``cell-injury-v1``; found wherever ``splits build``/``download`` left it),
    ``NAME/fold-k``, or a folder. fold: the fold of a fold set (``cell-injury-v2`` has 5); required
    for a fold set. verify_files: check every file's sha256 against the manifest first.
    Returns a :class:`Benchmark` with ``train``/``valid`` (:class:`WellSplit`), ``test[split]``
    (:class:`TestSplit`), ``feature_names``, ``to_numpy()``, ``to_pandas()`` and ``write_submission()``.
    """
    from pheno_bench.folds import is_fold_set, read_fold_set

    root = locate(name, fold)
    if is_fold_set(root):
        k = read_fold_set(root).k
        raise PhenoBenchError(f"{name} is a set of {k} folds; pass fold=0..{k - 1} (e.g. load_benchmark({str(name)!r}, fold=0))")
    manifest = verify(root) if verify_files else read_manifest(root)
    names = list(manifest.feature_names)
    return Benchmark(
        root=root, manifest=manifest,
        train=_wells(root, "train", names), valid=_wells(root, "valid", names),
        test={split: _test(root, split, names) for split in TEST_SPLITS},
    )
