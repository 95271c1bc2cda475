"""Writing a benchmark's split files: labelled wells -> ``wells/``, ``queries/``, ``candidates/``,
``answers/`` parquet files and the manifest (layout in :mod:`pheno_bench.manifest`).

Shared by a single benchmark (:func:`pheno_bench.split.build_benchmark`) and by each fold of a
fold set (:func:`pheno_bench.crossval.build_fold_set`); which well goes where is
:mod:`pheno_bench.holdout`'s.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pheno_bench.curate import Curated
from pheno_bench.errors import PhenoBenchError
from pheno_bench.holdout import SplitAssignment
from pheno_bench.io import sha256_file, write_parquet
from pheno_bench.manifest import (
    Manifest,
    SourceInfo,
    SplitStats,
    answers_path,
    candidates_path,
    file_entry,
    queries_path,
    wells_path,
    write_manifest,
)
from pheno_bench.schema import SPLITS, TEST_SPLITS, Wells, matrix_column
from pheno_bench.sources import get_source
from pheno_bench.specs import BenchmarkSpec


def query_id(spec: BenchmarkSpec, well_id: str) -> str:
    """The LEGACY query id (cell-injury-v1, -v2, synthetic-v1): a hash of the benchmark name, seed and
    well id. Name and seed are in the manifest and every plate is listed in the train wells, so
    hashing plates x addresses recovers the well of every query: use :func:`query_ids` instead."""
    return "q-" + hashlib.sha256(f"{spec.name}|{spec.seed}|{well_id}".encode()).hexdigest()[:16]


def query_ids(spec: BenchmarkSpec, split: str, features: np.ndarray, well_ids: pd.Series | None = None) -> list[str]:
    """The query ids of one test split, row-aligned with ``features`` (n, d) float32.

    ``spec.query_ids == "features"``: "q-" + the first 16 hex digits of sha256 over the build's
    public name (name, version, seed, split) and the query's own float32 feature bytes, with the
    occurrence number appended for exact duplicates. Everything an id is made of is either public
    or the features the model already sees, so no hash of public fields (plate, address, dose,
    molecule) can recover more than the features themselves. ``None``: the legacy
    :func:`query_id` of each well id (kept so published benchmarks keep their bytes).
    """
    if spec.query_ids is None:
        return [query_id(spec, w) for w in well_ids]
    prefix = f"{spec.name}|{spec.version}|{spec.seed}|{split}|".encode()
    rows = np.ascontiguousarray(features, dtype=np.float32)
    seen: dict[bytes, int] = {}
    ids = []
    for row in rows:
        raw = row.tobytes()
        k = seen.get(raw, 0)
        seen[raw] = k + 1
        ids.append("q-" + hashlib.sha256(prefix + raw + (b"#%d" % k if k else b"")).hexdigest()[:16])
    if len(set(ids)) != len(ids):  # 64-bit ids: a collision is astronomically unlikely, but never silent
        raise PhenoBenchError(f"benchmark {spec.name}: two {split} queries got the same id; report this build to the maintainers")
    return ids


def _dose_order(labels) -> list[str]:
    return sorted(set(labels), key=float)


def _stats(split: str, meta: pd.DataFrame, train_molecules: set[str]) -> SplitStats:
    treated = meta[~meta["is_control"]]
    pairs = treated.drop_duplicates("candidate_id")
    counts = treated["dose_level"].value_counts()
    return SplitStats(
        split=split,
        wells=len(treated),
        controls=int(meta["is_control"].sum()),
        molecules=treated["inchikey"].nunique(),
        scaffolds=treated["group"].nunique(),
        dose_levels={level: int(counts[level]) for level in _dose_order(counts.index)},
        pairs=len(pairs),
        active_pairs=int(pairs["active"].sum()),
        testable_pairs=int(pairs["p_value"].notna().sum()),
        candidates=len(pairs) if split in TEST_SPLITS else None,
        molecules_in_train=int(treated["inchikey"].drop_duplicates().isin(train_molecules).sum()) if split in TEST_SPLITS else None,
    )


WELL_FILE_COLUMNS = [
    "well_id", "source", "plate", "batch", "is_control", "compound_id", "smiles", "inchikey",
    "concentration_um", "dose_level", "scaffold", "candidate_id", "map", "p_value", "q_value", "active",
]
ANSWER_COLUMNS = ["query_id", "candidate_id", "well_id", "inchikey", "scaffold", "dose_level", "plate", "p_value", "q_value", "active", "in_train"]


def label_wells(curated: Curated, activity: pd.DataFrame, assignment: SplitAssignment, *, keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """The curated wells' metadata with split, group, activity (merged on source, molecule, dose, *keys), candidate id."""
    meta = curated.wells.meta.merge(assignment.wells[["well_id", "split", "group"]], on="well_id", how="left", validate="1:1")
    meta = meta.merge(activity, on=["source", "inchikey", "dose_level", *keys], how="left", validate="m:1")
    meta["candidate_id"] = (meta["inchikey"] + "@" + meta["dose_level"]).where(~meta["is_control"])
    meta["active"] = meta["active"].astype(object).where(~meta["is_control"])
    return meta


def write_benchmark(curated: Curated, activity: pd.DataFrame, assignment: SplitAssignment, spec: BenchmarkSpec, out: Path) -> Manifest:
    """Write every split file and the manifest into ``out`` (an empty folder)."""
    meta = label_wells(curated, activity, assignment)
    return write_splits(meta, curated, spec, out, activity=activity.attrs.get("procedure", {}))


def write_splits(
    meta: pd.DataFrame, curated: Curated, spec: BenchmarkSpec, out: Path, *, activity: dict,
    well_columns: list[str] = WELL_FILE_COLUMNS, answer_columns: list[str] = ANSWER_COLUMNS, fold: int | None = None,
) -> Manifest:
    """Write the split files of labelled wells ``meta`` (row-aligned with ``curated.wells``) and the manifest."""
    wells = curated.wells
    train_molecules = set(meta.loc[(meta["split"] == "train") & ~meta["is_control"], "inchikey"])
    meta["in_train"] = meta["inchikey"].isin(train_molecules)
    written, stats = [], []
    for split in SPLITS:
        index = np.flatnonzero(meta["split"].to_numpy() == split)
        part = meta.iloc[index].copy()
        stats.append(_stats(split, part, train_molecules))
        features = wells.features[index]
        if split in ("train", "valid"):
            table = Wells(part[well_columns], features, wells.metadata).to_arrow()
            write_parquet(table, out / wells_path(split))
            written.append(wells_path(split))
            continue
        part["query_id"] = query_ids(spec, split, features, part["well_id"])
        order = np.argsort(part["query_id"].to_numpy(), kind="stable")
        part, features = part.iloc[order], features[order]
        write_parquet(pa.table({"query_id": part["query_id"].tolist(), "features": matrix_column(features)}), out / queries_path(split))
        candidates = part.drop_duplicates("candidate_id").sort_values("candidate_id")
        candidates = candidates[["candidate_id", "inchikey", "smiles", "dose_level", "nominal_um"]].rename(columns={"nominal_um": "concentration_um"})
        write_parquet(pa.Table.from_pandas(candidates, preserve_index=False), out / candidates_path(split))
        answers = part[answer_columns].astype({"active": bool})
        write_parquet(pa.Table.from_pandas(answers, preserve_index=False), out / answers_path(split))
        written += [queries_path(split), candidates_path(split), answers_path(split)]
    manifest = Manifest(
        name=spec.name,
        version=spec.version,
        seed=spec.seed,
        spec=spec.manifest_dict(),
        sources=[
            SourceInfo(
                name=part.wells.metadata.sources[0],
                files={name: sha256_file(path) for name, path in sorted(part.files.items())},
                licence=get_source(cfg.name).licence,
                citation=get_source(cfg.name).citation,
            )
            for cfg, part in zip(spec.sources, curated.sources)
        ],
        feature_names=wells.metadata.feature_names,
        feature_space=wells.metadata.feature_space,
        activity=activity,
        dose_levels=_dose_order(meta.loc[~meta["is_control"], "dose_level"]),
        splits=stats,
        excluded=curated.excluded,
        files=[file_entry(out, path) for path in written],
        fold=fold,
    )
    write_manifest(manifest, out)
    return manifest
