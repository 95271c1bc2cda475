"""The submission format: its columns and metadata, its caps, and the validated in-memory form.

What a submission file must look like (:data:`FORMAT`, :func:`expected_input_format`), what it
says about itself (:class:`SubmissionMetadata`), the caps a reader enforces (:class:`Limits`) and
what reading returns (:class:`Submission`). Reading and writing files is :mod:`pheno_bench.submission`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pheno_bench.schema import TEST_SPLITS

FORMAT_VERSION = 1
MAX_DIM_TEXT = "4096"
KINDS = ("query", "candidate")
ID_FILES = {"query": "queries/{split}.parquet (column query_id)", "candidate": "candidates/{split}.parquet (column candidate_id)"}

FORMAT = f"""\
pheno-bench submission format, version {FORMAT_VERSION}

One parquet file. One row per embedded query or candidate of a test split; rows are matched by
id, so their order does not matter.

  column     type                            meaning
  split      string                          {" | ".join(TEST_SPLITS)}
  kind       string                          query | candidate
  id         string                          query_id from queries/<split>.parquet, or
                                             candidate_id from candidates/<split>.parquet
  embedding  fixed_size_list<float32>[dim]   the model's embedding; the same dim in every row

Schema metadata, key "pheno_bench", a JSON object:
  {{"format_version": {FORMAT_VERSION}, "benchmark": "<name>", "fingerprint": "<64 hex: the benchmark's>",
   "model": "<your model's name>", "similarity": "cosine" | "dot", "description": "<optional>",
   "fold": <k, fold benchmarks only>}}

A split is scored only if the file has every query and every candidate of it; a split the file
leaves out is reported as "not evaluated". Embeddings must be finite; under cosine no vector may
be zero. Caps: dim <= {MAX_DIM_TEXT}, file <= 2 GB, model <= 120 characters, description <= 2000.
For a benchmark with folds, one file per fold with "fold": k in the metadata (and that fold's
fingerprint); a benchmark without folds takes no "fold". Write one with
pheno_bench.submission.write_submission, or copy the layout of
`pheno-bench submission template <benchmark> --out example.parquet`.
"""


#: Caps on metadata strings (as the leaderboard's EntryMetadata): a 100,000-character model name is refused.
MAX_NAME_CHARS = 200
MAX_MODEL_CHARS = 120
MAX_DESCRIPTION_CHARS = 2000


class SubmissionMetadata(BaseModel):
    """What a submission says about itself (the ``pheno_bench`` schema metadata)."""

    model_config = ConfigDict(extra="forbid")

    format_version: Literal[1] = FORMAT_VERSION
    benchmark: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description="benchmark name, e.g. cell-injury-v1")
    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$", description="the benchmark's manifest fingerprint")
    model: str = Field(min_length=1, max_length=MAX_MODEL_CHARS, description="model name shown in results and on the leaderboard")
    similarity: Literal["cosine", "dot"] = "cosine"
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS, description="one paragraph: what the model is")
    fold: int | None = Field(
        None, ge=0, exclude_if=lambda v: v is None,
        description="for a benchmark with folds: the fold these embeddings were made for (the model never saw its unseen_molecules)",
    )


MAX_DIM = 4096
MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Limits:
    """Resource caps on a submission (documented in site/submission-format.md).

    max_dim: largest embedding dimension; max_bytes: largest file. Maintainers may raise them
    (``pheno-bench evaluate --max-dim N --max-file-mb M``) for a trusted large file.
    """

    max_dim: int = MAX_DIM
    max_bytes: int = MAX_BYTES


@dataclass
class SplitEmbeddings:
    """The embeddings of one covered split, in the benchmark's order.

    queries: float32 (n_queries, dim), row i embeds the i-th query of queries/<split>.parquet.
    candidates: float32 (n_candidates, dim), row j embeds the j-th candidate of candidates/<split>.parquet.
    """

    queries: np.ndarray
    candidates: np.ndarray


@dataclass
class Submission:
    """A validated submission: metadata, file hash and the embeddings of each covered split."""

    path: Path
    metadata: SubmissionMetadata
    sha256: str
    dim: int
    splits: dict[str, SplitEmbeddings]


def expected_input_format(expected: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None) -> str:
    """The submission format as text; with ``expected`` (split -> (query ids, candidate ids)) also the sizes."""
    if not expected:
        return FORMAT
    lines = ["", "This benchmark expects:"]
    for split, (query_ids, candidate_ids) in expected.items():
        lines.append(
            f"  {split:<17} {len(query_ids):>7} queries (e.g. {query_ids[0]!r})  "
            f"{len(candidate_ids):>6} candidates (e.g. {candidate_ids[0]!r})"
        )
    return FORMAT + "\n".join(lines) + "\n"
