"""Blind copies of a benchmark, for re-running an entry's command (``leaderboard verify``).

A **blind copy** is the benchmark as a model sees it, re-keyed so that nothing but the features
links a query to the published files:

* every test split's queries get fresh random ids (``secrets``: never derived from anything),
  and the queries file is written in the order of those ids (a random order);
* ``answers/`` is withheld: the copy's manifest lists the re-keyed answer files (so its
  fingerprint names them) and says ``"blind": true``; the files themselves go to a separate
  **answer key** folder that only the scorer reads (:func:`blind_scorer`);
* train and valid wells, candidates and the README are copied unchanged (they are what a model
  trains on and ranks).

A command run on the copy (in a fresh ``PHENO_BENCH_HOME``) therefore cannot read the answers
from the benchmark folder or the user's cache, nor look them up by query id or row order. It can
still recognise a query by its features (the raw profiles are public data): re-running shows that
the command reproduces the entry from the public inputs, not that its code is honest; reviewers
read the code (``code_url``).

For a fold set, every fold is re-keyed and the fold-set manifest names the new fold fingerprints.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pheno_bench.errors import PhenoBenchError
from pheno_bench.manifest import (
    ALLOWED_UNLISTED,
    MANIFEST,
    answers_path,
    file_entry,
    is_fold_set,
    queries_path,
    read_fold_set,
    verify,
    write_fold_set,
    write_manifest,
)
from pheno_bench.schema import TEST_SPLITS


@dataclass(frozen=True)
class BlindCopy:
    """Where a blind copy lives: ``public`` (what the command sees), ``answers`` (the private answer
    key, same relative paths) and the folds (None: a benchmark without folds)."""

    public: Path
    answers: Path
    folds: list[int] | None


def _fresh_ids(n: int) -> list[str]:
    ids: set[str] = set()
    while len(ids) < n:  # 64 random bits each: a repeat is astronomically unlikely, but never kept
        ids.add("q-" + secrets.token_hex(8))
    return list(ids)


def _rekey(table: pa.Table, mapping: dict[str, str]) -> pa.Table:
    new = pa.array([mapping[q] for q in table.column("query_id").to_pylist()], type=pa.string())
    table = table.set_column(table.schema.get_field_index("query_id"), "query_id", new)
    return table.take(pc.sort_indices(table, sort_keys=[("query_id", "ascending")]))


def _copy_one(root: Path, public: Path, answers: Path) -> str:
    """Write the blind copy of the benchmark ``root``; returns the copy's fingerprint."""
    manifest = verify(root)
    public.mkdir(parents=True)
    rewritten: dict[str, Path] = {}
    for split in TEST_SPLITS:
        queries = pq.read_table(root / queries_path(split))
        key = pq.read_table(root / answers_path(split))
        mapping = dict(zip(queries.column("query_id").to_pylist(), _fresh_ids(queries.num_rows)))
        if set(key.column("query_id").to_pylist()) != set(mapping):
            raise PhenoBenchError(f"{root / answers_path(split)}: answer key does not match the queries; build or download the benchmark again")
        for rel, table, base in ((queries_path(split), queries, public), (answers_path(split), key, answers)):
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(_rekey(table, mapping), base / rel, compression="zstd")
            rewritten[rel] = base
    files = []
    for entry in manifest.files:
        if entry.path in rewritten:
            files.append(file_entry(rewritten[entry.path], entry.path))
            continue
        (public / entry.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / entry.path, public / entry.path)
        files.append(entry)
    for name in sorted(ALLOWED_UNLISTED - {MANIFEST}):
        if (root / name).is_file():
            shutil.copyfile(root / name, public / name)
    copy = manifest.model_copy(update={"files": files, "blind": True})
    write_manifest(copy, public)
    return copy.fingerprint  # the sha256 of the bytes write_manifest wrote


def make_blind_copy(benchmark: str | os.PathLike, out: str | os.PathLike) -> BlindCopy:
    """Write a blind copy of the benchmark folder ``benchmark`` (a benchmark or a fold-set root,
    verified first) under the new folder ``out``: ``out/public`` and ``out/answers``."""
    root, out = Path(benchmark), Path(out)
    if out.exists():
        raise PhenoBenchError(f"{out}: already exists; a blind copy is written to a new folder")
    public, answers = out / "public", out / "answers"
    if not is_fold_set(root):
        _copy_one(root, public, answers)
        return BlindCopy(public, answers, None)
    fold_set = read_fold_set(root)
    entries = []
    for entry in fold_set.folds:
        fingerprint = _copy_one(root / entry.path, public / entry.path, answers / entry.path)
        entries.append(entry.model_copy(update={"fingerprint": fingerprint}))
    for name in sorted(ALLOWED_UNLISTED - {MANIFEST}):
        if (root / name).is_file():
            shutil.copyfile(root / name, public / name)
    write_fold_set(fold_set.model_copy(update={"folds": entries}), public)
    return BlindCopy(public, answers, [e.fold for e in entries])
