"""The frozen benchmark on disk: its file layout, its manifest and fingerprint, and verification.

Layout of a benchmark folder (all paths relative to it)::

    manifest.json                   this model; its sha256 is the benchmark fingerprint
    README.md                       dataset card (YAML ``configs`` for ``datasets.load_dataset``)
    wells/train.parquet             labelled wells (features + molecule + dose + activity)
    wells/valid.parquet             labelled wells for model selection
    queries/<test split>.parquet    ``query_id`` + ``features``: what a model embeds, no labels
    candidates/<test split>.parquet ``candidate_id`` + ``smiles`` + ``inchikey`` + dose: the set to rank
    answers/<test split>.parquet    the answer key (query -> candidate, activity), read by the scorer
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import sha256_file, write_json
from pheno_bench.paths import benchmark_home
from pheno_bench.schema import SPLITS, TEST_SPLITS

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def wells_path(split: str) -> str:
    return f"wells/{split}.parquet"


def queries_path(split: str) -> str:
    return f"queries/{split}.parquet"


def candidates_path(split: str) -> str:
    return f"candidates/{split}.parquet"


def answers_path(split: str) -> str:
    return f"answers/{split}.parquet"


class FileEntry(BaseModel):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class SplitStats(BaseModel):
    """What ``splits info`` prints for one split."""

    split: str
    wells: int = Field(gt=0, description="treated wells (the queries, for a test split)")
    controls: int = Field(0, description="control wells")
    molecules: int
    scaffolds: int
    dose_levels: dict[str, int] = Field(description="wells per dose level")
    active_pairs: int = Field(description="(molecule, dose) pairs called active")
    testable_pairs: int = Field(description="(molecule, dose) pairs with an activity p-value (two or more wells)")
    pairs: int = Field(description="(molecule, dose) pairs")
    candidates: int | None = Field(default=None, description="candidate set size (test splits)")
    molecules_in_train: int | None = Field(default=None, description="molecules also in train")


class SourceInfo(BaseModel):
    name: str
    files: dict[str, str] = Field(description="raw file name -> sha256")
    licence: str
    citation: str


class Manifest(BaseModel):
    """Everything that identifies a built benchmark; frozen once written."""

    format_version: int = FORMAT_VERSION
    name: str
    version: str
    seed: int
    spec: dict
    sources: list[SourceInfo]
    feature_names: list[str]
    feature_space: str
    activity: dict = Field(description="the activity procedure and its parameters")
    dose_levels: list[str]
    splits: list[SplitStats]
    excluded: list[dict] = Field(default_factory=list, description="wells or molecules left out, with why")
    files: list[FileEntry]

    @model_validator(mode="after")
    def _complete(self) -> "Manifest":
        names = [s.split for s in self.splits]
        if sorted(names) != sorted(SPLITS):
            raise ValueError(f"benchmark must have exactly the splits {SPLITS}, has {names}")
        paths = {f.path for f in self.files}
        needed = {wells_path(s) for s in ("train", "valid")}
        for split in TEST_SPLITS:
            needed |= {queries_path(split), candidates_path(split), answers_path(split)}
        if missing := sorted(needed - paths):
            raise ValueError(f"manifest lists no file for {missing}")
        for stats in self.splits:
            if stats.split in TEST_SPLITS and not stats.candidates:
                raise ValueError(f"test split {stats.split} has no candidate list")
        return self

    def stats(self, split: str) -> SplitStats:
        return next(s for s in self.splits if s.split == split)

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()

    @property
    def fingerprint(self) -> str:
        """sha256 over the manifest's bytes: names this exact benchmark."""
        return hashlib.sha256(self.to_bytes()).hexdigest()


def file_entry(root: Path, relpath: str) -> FileEntry:
    path = root / relpath
    return FileEntry(path=relpath, sha256=sha256_file(path), bytes=path.stat().st_size)


def write_manifest(manifest: Manifest, root: str | os.PathLike) -> Path:
    path = Path(root) / MANIFEST
    write_json(manifest.model_dump(mode="json"), path)
    return path


def read_manifest(root: str | os.PathLike) -> Manifest:
    """The manifest of the benchmark folder ``root``, validated."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise PhenoBenchError(
            f"{path}: no benchmark manifest; build one with `pheno-bench splits build` "
            "or fetch one with `pheno-bench splits download`"
        )
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValueError as exc:
        raise PhenoBenchError(f"{path}: invalid benchmark manifest: {str(exc).splitlines()[0]}") from None


def verify(root: str | os.PathLike, *, remedy: str = "build or download the benchmark again") -> Manifest:
    """Check every file of the benchmark at ``root`` against its manifest's sha256.

    Raises PhenoBenchError naming the first missing or altered file, ending with ``remedy``.
    """
    root = Path(root)
    manifest = read_manifest(root)
    for entry in manifest.files:
        path = root / entry.path
        if not path.is_file():
            raise PhenoBenchError(f"{path}: listed in the manifest but missing; {remedy}")
        if sha256_file(path) != entry.sha256:
            raise PhenoBenchError(
                f"{path}: sha256 does not match the manifest (file altered or corrupted); {remedy}"
            )
    return manifest


def locate(benchmark: str | os.PathLike) -> Path:
    """A benchmark folder from a path or a benchmark name (looked up in the pheno-bench home)."""
    path = Path(benchmark)
    if (path / MANIFEST).is_file():
        return path
    home = benchmark_home(str(benchmark))
    if (home / MANIFEST).is_file():
        return home
    raise PhenoBenchError(
        f"benchmark {str(benchmark)!r} not found (looked in {path} and {home}); "
        f"run `pheno-bench splits build {benchmark}` or `pheno-bench splits download ORG/NAME`, "
        "or pass --benchmark PATH"
    )
