"""Carry a submission from a superseded benchmark version to its successor (cell-injury-v1 → v1.1,
cell-injury-v2 → v2.1) without re-running the model.

A successor that keeps every well, split, candidate and query feature of its predecessor and only
re-keys the queries (v1.1 and v2.1 replace the legacy query ids, which hash back to plate and
address, by ids made from each query's own features) asks a model for exactly the same embeddings.
:func:`migrate_submission` maps each old query id to its well through the OLD answer key, and the
well to its new query id through the NEW one, after checking that both benchmarks hold the same
wells in every split, the same candidates, and byte-identical query features; anything else is
refused (embed the new benchmark with the model instead).

A migrated file is a new file: its sha256 differs, and the leaderboard's re-run verification (which
runs the model again on a re-keyed copy) is what vouches for how an entry's files were made.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet
from pheno_bench.manifest import answers_path, candidates_path, is_fold_set, queries_path, read_manifest
from pheno_bench.registry import locate
from pheno_bench.schema import TEST_SPLITS, features_matrix
from pheno_bench.scoring import Scorer, locate_submission_benchmark
from pheno_bench.submission import peek_metadata, write_submission


def _split_files(root: Path, split: str, n_features: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(answers indexed by query_id, query ids in file order, query features (n, d)) of one split."""
    queries = read_parquet(root / queries_path(split), what="benchmark queries file")
    answers = read_parquet(root / answers_path(split), what="benchmark answers file").select(["query_id", "well_id"]).to_pandas()
    ids = queries.column("query_id").to_numpy(zero_copy_only=False).astype(str)
    return answers.set_index("query_id"), ids, features_matrix(queries.column("features"), n_features)


def migrate_submission(path: str | os.PathLike, *, to: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write ``out``: the submission ``path`` re-keyed for benchmark ``to`` (a name or folder).

    The file is validated against the benchmark its metadata names (which must be built or
    downloaded here, as must ``to``); a fold file is migrated to the same fold of ``to``. Model,
    similarity, description and every embedding are kept bit for bit; only query ids, the row
    order and the benchmark reference (name, fingerprint) change.
    """
    path, out = Path(path), Path(out)
    if out.resolve() == path.resolve():
        raise PhenoBenchError(f"{out}: --out is the input file; write the migrated file elsewhere")
    meta = peek_metadata(path)
    old_root = locate_submission_benchmark(path)
    if meta.fold is not None and is_fold_set(old_root):  # a fold file: its own fold of the set
        old_root = locate(old_root, fold=meta.fold)
    new_root = locate(to, meta.fold)
    old, new = read_manifest(old_root), read_manifest(new_root)
    if new.fold != meta.fold:
        raise PhenoBenchError(f"{path}: a file for fold {meta.fold} cannot move to {new.name} (fold {new.fold}); migrate each fold file to its own fold")
    if old.fingerprint == new.fingerprint:
        raise PhenoBenchError(f"{path}: already a submission for {new.name} ({new.fingerprint[:12]}…); nothing to migrate")
    if old.feature_names != new.feature_names:
        raise PhenoBenchError(f"{path}: {old.name} and {new.name} have different features; embed {new.name}'s queries with the model instead")
    submission = Scorer(old_root).read(path)
    queries, candidates = {}, {}
    for split, emb in submission.splits.items():
        old_answers, old_ids, old_features = _split_files(old_root, split, len(old.feature_names))
        new_answers, new_ids, new_features = _split_files(new_root, split, len(new.feature_names))
        old_wells = old_answers.loc[old_ids, "well_id"].to_numpy(str)
        position = pd.Index(old_wells)
        new_wells = new_answers.loc[new_ids, "well_id"].to_numpy(str)
        if position.has_duplicates or len(new_wells) != len(old_wells) or not position.isin(new_wells).all() or not pd.Index(new_wells).isin(old_wells).all():
            raise PhenoBenchError(f"{path}: {split} of {new.name} does not hold the same wells as {old.name}; embed {new.name} with the model instead")
        rows = position.get_indexer(new_wells)  # old row of each new query, in the new file's order
        if not np.array_equal(old_features[rows].view(np.uint32), new_features.view(np.uint32)):
            raise PhenoBenchError(f"{path}: {split} query features differ between {old.name} and {new.name}; embed {new.name} with the model instead")
        old_candidates = read_parquet(old_root / candidates_path(split), what="benchmark candidates file").column("candidate_id").to_pylist()
        new_candidates = read_parquet(new_root / candidates_path(split), what="benchmark candidates file").column("candidate_id").to_pylist()
        if old_candidates != new_candidates:
            raise PhenoBenchError(f"{path}: {split} candidates differ between {old.name} and {new.name}; embed {new.name} with the model instead")
        queries[split] = (list(new_ids), emb.queries[rows])
        candidates[split] = (new_candidates, emb.candidates)
    for split in TEST_SPLITS:  # a split the file does not cover stays uncovered
        queries.setdefault(split, None)
    m = submission.metadata
    return write_submission(
        out, benchmark=new.name, fingerprint=new.fingerprint, model=m.model, similarity=m.similarity, description=m.description, fold=meta.fold,
        queries={s: v for s, v in queries.items() if v is not None}, candidates=candidates,
    )
