"""The submission file: one parquet of embeddings keyed by (split, kind, id), written and read strictly.

A submission holds, for each test split it covers, one embedding per query and one per candidate
of that split. Rows are found by id, never by position. Pheno-bench metadata (benchmark name and
fingerprint, model name, similarity) sits in the parquet schema metadata under ``pheno_bench``.
:func:`read_submission` turns every kind of bad file into one :class:`PhenoBenchError` that names
the file, the split, a few offending ids and the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import ValidationError

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import write_parquet
from pheno_bench.safe_read import open_regular, parquet_file, sha256_of
from pheno_bench.schema import METADATA_KEY, TEST_SPLITS, features_matrix, matrix_column
from pheno_bench.submission_format import (  # noqa: F401 (the format's names, re-exported: pheno_bench.submission is the public module)
    FORMAT,
    FORMAT_VERSION,
    ID_FILES,
    KINDS,
    MAX_BYTES,
    MAX_DESCRIPTION_CHARS,
    MAX_DIM,
    MAX_DIM_TEXT,
    MAX_MODEL_CHARS,
    MAX_NAME_CHARS,
    Limits,
    SplitEmbeddings,
    Submission,
    SubmissionMetadata,
    expected_input_format,
)

def write_submission(
    path: str | os.PathLike,
    *,
    benchmark: str,
    fingerprint: str,
    model: str,
    queries: Mapping[str, tuple[Sequence[str], np.ndarray]],
    candidates: Mapping[str, tuple[Sequence[str], np.ndarray]],
    similarity: str = "cosine",
    description: str = "",
    fold: int | None = None,
) -> Path:
    """Write a submission parquet atomically.

    queries, candidates: split -> (ids, embeddings of shape (len(ids), dim)).
    fold: for a benchmark with folds, the fold these embeddings were made for (its fingerprint is that fold's).
    """
    metadata = SubmissionMetadata(
        benchmark=benchmark, fingerprint=fingerprint, model=model, similarity=similarity, description=description, fold=fold
    )
    blocks = [(split, kind, ids, emb) for kind, part in (("query", queries), ("candidate", candidates)) for split, (ids, emb) in part.items()]
    for split, kind, ids, emb in blocks:
        if np.ndim(emb) != 2 or len(emb) != len(ids):
            raise ValueError(f"{split} {kind} embeddings have shape {np.shape(emb)}, expected ({len(ids)}, dim)")
    dims = {np.shape(emb)[1] for *_, emb in blocks}
    if len(dims) != 1:
        raise ValueError(f"all embeddings must have one dimension, got {sorted(dims) or 'no embeddings'}")
    dim = dims.pop()
    split_col = [split for split, _, ids, _ in blocks for _ in range(len(ids))]
    kind_col = [kind for _, kind, ids, _ in blocks for _ in range(len(ids))]
    id_col = [str(i) for *_, ids, _ in blocks for i in ids]
    matrix = np.concatenate([np.asarray(emb, dtype=np.float32).reshape(-1, dim) for *_, emb in blocks])
    table = pa.table(
        {
            "split": pa.array(split_col, pa.string()),
            "kind": pa.array(kind_col, pa.string()),
            "id": pa.array(id_col, pa.string()),
            "embedding": matrix_column(matrix),
        }
    ).replace_schema_metadata({METADATA_KEY: metadata.model_dump_json().encode()})
    write_parquet(table, path)
    return Path(path)


def template(
    path: str | os.PathLike,
    *,
    benchmark: str,
    fingerprint: str,
    expected: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    dim: int = 64,
    seed: int = 0,
    fold: int | None = None,
) -> Path:
    """Write a valid submission of random Gaussian embeddings (model ``random``) covering ``expected``."""
    rng = np.random.default_rng(seed)
    queries, candidates = {}, {}
    for split, (query_ids, candidate_ids) in expected.items():
        queries[split] = (query_ids, rng.standard_normal((len(query_ids), dim), dtype=np.float32))
        candidates[split] = (candidate_ids, rng.standard_normal((len(candidate_ids), dim), dtype=np.float32))
    return write_submission(
        path,
        benchmark=benchmark,
        fingerprint=fingerprint,
        model="random",
        queries=queries,
        candidates=candidates,
        description=f"random Gaussian embeddings, dim {dim}, seed {seed}: the chance level",
        fold=fold,
    )


def _some(ids, k: int = 3) -> str:
    """A short quoted list of ids: "'a', 'b', 'c' and 7 more"."""
    ids = list(ids)
    shown = ", ".join(repr(str(i)) for i in ids[:k])
    return shown + (f" and {len(ids) - k} more" if len(ids) > k else "")


def read_submission(
    path: str | os.PathLike,
    *,
    benchmark: str,
    fingerprint: str,
    expected: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    limits: Limits | None = None,
    fold: int | None | object = ...,
) -> Submission:
    """Read and validate a submission against a benchmark, cheapest checks first.

    benchmark, fingerprint: the benchmark's name and manifest fingerprint.
    fold: the benchmark's fold (None: a benchmark without folds); a file whose metadata names
    another fold, or any fold for a benchmark without folds, is refused. Default: not checked.
    expected: split -> (query ids, candidate ids) in the benchmark's order.
    limits: caps on file size and dimension.
    Raises PhenoBenchError (file, split, ids, fix) on the first problem found.

    Reading order (so a refusal costs little memory, whatever the file holds): the path must be a
    regular file (a pipe, device, directory or socket is refused before it is read); then, from
    the parquet footer alone, metadata, row count, columns and their types, the embedding
    dimension and the declared value counts and sizes of every column; then the id columns
    (split, kind, id) alone; the embeddings are read last, once every id is known good, so they
    hold at most one row per expected query and candidate.
    """
    path = Path(path)
    limits = limits or Limits()
    with open_regular(path, max_bytes=limits.max_bytes) as handle:
        parquet = parquet_file(path, handle)
        schema = parquet.schema_arrow
        metadata = _metadata(path, schema, benchmark, fingerprint, fold)
        if parquet.metadata.num_rows == 0:
            raise PhenoBenchError(f"{path}: the submission has no rows; add one row per query and candidate of each test split")
        dim_cap = _check_schema(path, schema, limits)
        n_expected = sum(len(q) + len(c) for q, c in expected.values())
        _check_footer(path, parquet.metadata, n_expected=n_expected, dim_cap=dim_cap, max_id_chars=_longest_id(expected))
        ids = parquet.read(columns=["split", "kind", "id"])
        split_col, kind_col, id_col = (_string_column(path, ids, name) for name in ("split", "kind", "id"))
        del ids
        if bad := sorted(set(split_col) - set(TEST_SPLITS)):
            raise PhenoBenchError(
                f"{path}: unknown split value(s) {_some(bad)}; split must be one of {', '.join(TEST_SPLITS)} "
                "(train and valid are not scored)"
            )
        if bad := sorted(set(kind_col) - set(KINDS)):
            raise PhenoBenchError(f"{path}: unknown kind value(s) {_some(bad)}; kind must be 'query' or 'candidate'")
        rows_of: dict[str, dict[str, np.ndarray]] = {}
        for split in TEST_SPLITS:
            in_split = split_col == split
            if not in_split.any():
                continue
            rows_of[split] = {}
            for kind, wanted in zip(KINDS, expected[split]):
                rows = np.flatnonzero(in_split & (kind_col == kind))
                rows_of[split][kind] = rows[_positions(path, split, kind, id_col[rows], wanted)]
        # every row is now a known, unique, expected id: the embeddings are at most the expected size
        dim, embeddings = _embedding_matrix(path, parquet.read(columns=["embedding"]), id_col, split_col, limits)
        splits = {}
        for split, kinds in rows_of.items():
            ordered = {kind: embeddings[rows] for kind, rows in kinds.items()}
            for kind, wanted in zip(KINDS, expected[split]):
                _check_values(path, split, kind, ordered[kind], wanted, metadata.similarity)
            splits[split] = SplitEmbeddings(queries=ordered["query"], candidates=ordered["candidate"])
        del embeddings
        digest = sha256_of(handle)
    return Submission(path=path, metadata=metadata, sha256=digest, dim=dim, splits=splits)


def _check_schema(path: Path, schema: pa.Schema, limits: Limits) -> int:
    """Columns and their types from the schema alone; returns the largest dimension a row may have."""
    for name in ("split", "kind", "id"):
        if name not in schema.names:
            raise PhenoBenchError(
                f"{path}: no column {name!r} (has {', '.join(schema.names)}); "
                "a submission has columns split, kind, id, embedding"
            )
        kind = schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise PhenoBenchError(f"{path}: column {name!r} has type {kind}; it must hold strings")
    if "embedding" not in schema.names:
        raise PhenoBenchError(f"{path}: no column 'embedding'; a submission has columns split, kind, id, embedding")
    kind = schema.field("embedding").type
    if not (pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        raise PhenoBenchError(f"{path}: column 'embedding' has type {kind}; it must be a fixed-size list of float32")
    if not pa.types.is_float32(kind.value_type):
        raise PhenoBenchError(
            f"{path}: column 'embedding' holds {kind.value_type}, not float32; "
            "cast the embeddings with .astype(numpy.float32) before writing"
        )
    if pa.types.is_fixed_size_list(kind):
        _check_dim(path, kind.list_size, limits)
        return kind.list_size
    return limits.max_dim


def _check_dim(path: Path, dim: int, limits: Limits) -> None:
    if dim > limits.max_dim:
        raise PhenoBenchError(
            f"{path}: embedding dimension {dim} is above the cap of {limits.max_dim}; "
            "reduce the dimension (e.g. PCA) (maintainers: --max-dim)"
        )


def _longest_id(expected: Mapping[str, tuple[Sequence[str], Sequence[str]]]) -> int:
    """Characters of the longest expected id (the caps on the id columns scale with it)."""
    return max((len(str(i)) for q, c in expected.values() for ids in (q, c) for i in ids), default=64)


def _check_footer(path: Path, footer: pq.FileMetaData, *, n_expected: int, dim_cap: int, max_id_chars: int) -> None:
    """Row count, value counts and decompressed sizes declared in the footer, against what the
    benchmark expects, before any column is read.

    Up to twice the expected rows, the id columns are read next (so a duplicate or unknown id is
    named in the error); more rows than that is refused here, as is an embedding column declaring
    more than ``dim_cap`` floats a row, or id columns declaring far more bytes than the ids take.
    """
    n_rows = footer.num_rows
    if n_rows > 2 * n_expected:
        raise PhenoBenchError(
            f"{path}: {n_rows:,} rows, but this benchmark has {n_expected:,} queries and candidates in all "
            "(one row each); remove the extra rows (ids come from queries/<split>.parquet and candidates/<split>.parquet)"
        )
    values, id_bytes, emb_bytes = 0, 0, 0
    for g in range(footer.num_row_groups):
        group = footer.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            if column.path_in_schema.split(".")[0] == "embedding":
                values += column.num_values
                emb_bytes += column.total_uncompressed_size
            else:  # split, kind, id (other columns are never read, but count toward the cap)
                id_bytes += column.total_uncompressed_size
    value_cap = n_rows * (dim_cap + 1)  # + one level for a row holding a null or empty list
    if values > value_cap or emb_bytes > 4 * value_cap + 16 * n_rows + 2**20:  # float32 values + levels + page headers
        raise PhenoBenchError(
            f"{path}: the embedding column declares {values:,} values ({emb_bytes / 2**20:.0f} MB) for {n_rows:,} rows, "
            f"more than {dim_cap} floats a row; write one vector of the model's dimension per row"
        )
    if id_bytes > 3 * n_rows * (max_id_chars + 32) + 2**20:
        raise PhenoBenchError(
            f"{path}: the columns other than embedding declare {id_bytes / 2**20:.0f} MB for {n_rows:,} rows, far more "
            "than this benchmark's ids take; write only the columns split, kind, id, embedding, with the ids of "
            "queries/<split>.parquet and candidates/<split>.parquet"
        )


def peek_metadata(path: str | os.PathLike) -> SubmissionMetadata:
    """The metadata of a submission file, read without its rows (to find its benchmark)."""
    path = Path(path)
    with open_regular(path, max_bytes=None) as handle:
        return _parse_metadata(path, parquet_file(path, handle).schema_arrow)


def _metadata(path: Path, schema: pa.Schema, benchmark: str, fingerprint: str, fold: int | None | object = ...) -> SubmissionMetadata:
    metadata = _parse_metadata(path, schema)
    if metadata.benchmark != benchmark:
        raise PhenoBenchError(
            f"{path}: made for benchmark {metadata.benchmark!r}, not {benchmark!r}; "
            f"pass --benchmark pointing at {metadata.benchmark}, or re-embed the splits of {benchmark}"
        )
    if fold is not ... and metadata.fold is not None and metadata.fold != fold:
        if fold is None:
            raise PhenoBenchError(
                f"{path}: its metadata says fold {metadata.fold}, but {benchmark} has no folds; "
                "remove fold from the metadata (write_submission(..., fold=None))"
            )
        raise PhenoBenchError(
            f"{path}: made for fold {metadata.fold} of {benchmark}, not fold {fold}; score it against "
            f"--benchmark {benchmark}/fold-{metadata.fold}, or all fold files of the model together"
        )
    if metadata.fingerprint != fingerprint:
        raise PhenoBenchError(
            f"{path}: made for {benchmark} with fingerprint {metadata.fingerprint[:12]}…, but this copy of "
            f"{benchmark} has fingerprint {fingerprint[:12]}… (a different build); download the published "
            f"benchmark (`pheno-bench splits download`) and re-embed its queries and candidates"
        )
    return metadata


def _parse_metadata(path: Path, schema: pa.Schema) -> SubmissionMetadata:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise PhenoBenchError(
            f"{path}: no 'pheno_bench' metadata in the parquet schema; write the file with "
            "pheno_bench.submission.write_submission (format: `pheno-bench evaluate --format`)"
        )
    try:
        return SubmissionMetadata.model_validate(json.loads(raw))
    except ValueError as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"]) or "metadata"
        raise PhenoBenchError(
            f"{path}: invalid 'pheno_bench' metadata ({where}: {first['msg']}); "
            "see `pheno-bench evaluate --format` for the fields"
        ) from None


def _string_column(path: Path, table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        raise PhenoBenchError(
            f"{path}: no column {name!r} (has {', '.join(table.column_names)}); "
            "a submission has columns split, kind, id, embedding"
        )
    column = table.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise PhenoBenchError(f"{path}: column {name!r} has type {column.type}; it must hold strings")
    if column.null_count:
        raise PhenoBenchError(f"{path}: column {name!r} has {column.null_count} empty (null) value(s); fill every row")
    return column.to_numpy()


def _embedding_matrix(path: Path, table: pa.Table, ids: np.ndarray, splits: np.ndarray, limits: Limits) -> tuple[int, np.ndarray]:
    """The (rows, dim) float32 embedding matrix, after null and dimension checks (types: :func:`_check_schema`)."""
    column = table.column("embedding").combine_chunks()
    if column.null_count:
        rows = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
        raise PhenoBenchError(
            f"{path}: split {splits[rows[0]]}: {len(rows)} row(s) without an embedding (ids {_some(ids[rows])}); "
            "give every row a vector"
        )
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    dim = int(np.bincount(lengths).argmax())
    if dim == 0:
        raise PhenoBenchError(f"{path}: embeddings are empty lists; give every row a vector of the model's dimension")
    _check_dim(path, dim, limits)
    if (odd := np.flatnonzero(lengths != dim)).size:
        raise PhenoBenchError(
            f"{path}: split {splits[odd[0]]}: {odd.size} embedding(s) of length other than {dim} "
            f"(ids {_some(ids[odd])}; lengths {', '.join(map(str, sorted(set(lengths[odd].tolist()))))}); "
            "every query and candidate embedding must have the same dimension"
        )
    return dim, features_matrix(column, dim)


def _positions(path: Path, split: str, kind: str, got: np.ndarray, wanted: Sequence[str]) -> np.ndarray:
    """For each wanted id, the index of its row in ``got``; errors on duplicate, unknown, missing ids."""
    source = ID_FILES[kind].format(split=split)
    got_index = pd.Index(got)
    if got_index.has_duplicates:
        dup = got_index[got_index.duplicated()].unique()
        raise PhenoBenchError(
            f"{path}: split {split}: {len(dup)} {kind} id(s) appear more than once ({_some(dup)}); "
            f"keep one row per {kind}"
        )
    wanted_index = pd.Index(wanted)
    if (unknown := got_index.difference(wanted_index, sort=False)).size:
        raise PhenoBenchError(
            f"{path}: split {split}: {len(unknown)} unknown {kind} id(s) ({_some(unknown)}); "
            f"ids must come from {source} of this benchmark"
        )
    positions = got_index.get_indexer(wanted_index)
    if (missing := np.flatnonzero(positions < 0)).size:
        raise PhenoBenchError(
            f"{path}: split {split}: {missing.size} of {len(wanted)} {kind} id(s) missing ({_some(wanted_index[missing])}); "
            f"embed every id of {source}, or leave the split out entirely"
        )
    return positions


def _check_values(path: Path, split: str, kind: str, emb: np.ndarray, ids: Sequence[str], similarity: str) -> None:
    bad = np.flatnonzero(~np.isfinite(emb).all(axis=1))
    if bad.size:
        raise PhenoBenchError(
            f"{path}: split {split}: {bad.size} {kind} embedding(s) contain NaN or infinity (ids {_some(np.asarray(ids)[bad])}); "
            "fix the model output (e.g. numpy.nan_to_num) before writing"
        )
    if similarity == "cosine":
        zero = np.flatnonzero(~np.any(emb != 0, axis=1))
        if zero.size:
            raise PhenoBenchError(
                f"{path}: split {split}: {zero.size} {kind} embedding(s) are zero vectors (ids {_some(np.asarray(ids)[zero])}), "
                "which have no cosine similarity; give them a non-zero vector or set similarity to 'dot'"
            )
