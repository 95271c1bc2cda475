"""Answer keys: what a test split's queries are, read from the benchmark folder (never from the user).

A :class:`SplitKey` is row-aligned with the split's queries and candidates files: the true
candidate of each query, each candidate's molecule, and per query the labels the summaries group
by (molecule, dose, scaffold, active, in train, anchor).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet
from pheno_bench.floor import query_blind_scores
from pheno_bench.manifest import answers_path, candidates_path, queries_path, wells_path


@dataclass
class SplitKey:
    """The answer key of one test split, row-aligned with its queries and candidates files."""

    split: str
    query_ids: np.ndarray  # (n_queries,)
    candidate_ids: np.ndarray  # (n_candidates,)
    true_index: np.ndarray  # (n_queries,) row of the true candidate
    candidate_molecule: np.ndarray  # (n_candidates,) molecule code
    labels: pd.DataFrame  # per query: molecule, inchikey, dose_level, scaffold_group, active, in_train, anchor (non_cytotoxic when the answers carry it)
    candidate_dose: np.ndarray | None = None  # (n_candidates,) dose level label (None: one level, the identity part is then over every candidate)
    floor_scores: np.ndarray | None = None  # (n_candidates,) the query-blind floor's candidate scores (None: no floor)
    candidate_table: pd.DataFrame | None = None  # the candidates file (candidate_id, inchikey, dose_level, concentration_um, ...)

    @property
    def n_molecules(self) -> int:
        return int(self.candidate_molecule.max()) + 1


#: the train wells' columns the query-blind floor reads (those present are read; never the features)
FLOOR_COLUMNS = ("inchikey", "concentration_um", "dose_level", "active", "is_control")


def read_train_meta(root: str | os.PathLike) -> pd.DataFrame | None:
    """The train wells' labels the query-blind floor needs (:data:`FLOOR_COLUMNS`), or None when the
    benchmark has no train wells file with InChIKeys (then no floor)."""
    path = Path(root) / wells_path("train")
    if not path.is_file():
        return None
    names = pq.read_schema(path).names
    if "inchikey" not in names:
        return None
    return pq.read_table(path, columns=[c for c in FLOOR_COLUMNS if c in names]).to_pandas()


def public_split_key(root: str | os.PathLike, split: str) -> SplitKey:
    """The public half of a split's key (query and candidate ids, the candidates table) with no
    answers: what a blind copy (:mod:`pheno_bench.blind`) can tell about a split. Nothing can be
    scored with it (no true candidates, no labels)."""
    root = Path(root)
    queries = read_parquet(root / queries_path(split), what="benchmark queries file").column("query_id").to_numpy()
    candidates = read_parquet(root / candidates_path(split), what="benchmark candidates file").to_pandas()
    empty = np.zeros(0, dtype=np.int64)
    return SplitKey(split, queries, candidates["candidate_id"].to_numpy(), empty, empty, pd.DataFrame(), candidate_table=candidates)


def load_split_key(
    root: str | os.PathLike, split: str, *, anchors: Sequence[str] = (), train_meta: pd.DataFrame | None = None,
    answers: str | os.PathLike | None = None,
) -> SplitKey:
    """Read the answer key of ``split`` from the benchmark folder ``root``; ``anchors``: positive-control
    InChIKeys; ``train_meta``: the train wells' labels (:func:`read_train_meta`), for the query-blind
    floor's candidate scores (None: no floor); ``answers``: the folder holding ``answers/`` when it
    is kept apart from the benchmark (a blind copy's answer key; default ``root``)."""
    root = Path(root)
    answers_root = Path(answers) if answers is not None else root
    queries = read_parquet(root / queries_path(split), what="benchmark queries file").column("query_id").to_numpy()
    candidates = read_parquet(root / candidates_path(split), what="benchmark candidates file").to_pandas()
    answers = read_parquet(answers_root / answers_path(split), what="benchmark answers file").to_pandas().set_index("query_id")
    missing = pd.Index(queries).difference(answers.index)
    unknown = pd.Index(answers["candidate_id"]).difference(candidates["candidate_id"])
    if missing.size or unknown.size or answers.index.has_duplicates:
        raise PhenoBenchError(
            f"{answers_root / answers_path(split)}: answer key does not match queries/candidates of {split}; "
            "the benchmark folder is damaged: build or download it again"
        )
    answers = answers.loc[queries]
    molecules, candidate_molecule = np.unique(candidates["inchikey"].to_numpy(), return_inverse=True)
    true_index = pd.Index(candidates["candidate_id"]).get_indexer(answers["candidate_id"])
    inchikey = molecules[candidate_molecule[true_index]]
    labels = pd.DataFrame(
        {
            "molecule": candidate_molecule[true_index],
            "inchikey": inchikey,
            "dose_level": answers["dose_level"].astype(str).to_numpy(),
            "scaffold_group": answers["scaffold"].fillna("").replace("", "(acyclic)").to_numpy(),
            "active": answers["active"].fillna(False).to_numpy(dtype=bool),
            "in_train": answers["in_train"].fillna(False).to_numpy(dtype=bool),
            "anchor": pd.Index(inchikey).isin(list(anchors)),
        }
    )
    if "non_cytotoxic" in answers.columns:  # benchmarks that flag non-cytotoxic queries (cell-injury-v2.1 on)
        labels["non_cytotoxic"] = answers["non_cytotoxic"].fillna(False).to_numpy(dtype=bool)
    dose = candidates["dose_level"].astype(str).to_numpy() if "dose_level" in candidates.columns else None
    floor = None if train_meta is None or not len(candidates) else query_blind_scores(train_meta, candidates)
    return SplitKey(
        split, queries, candidates["candidate_id"].to_numpy(), true_index, candidate_molecule, labels,
        candidate_dose=dose, floor_scores=floor, candidate_table=candidates,
    )
