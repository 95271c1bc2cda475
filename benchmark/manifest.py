"""The frozen benchmark on disk: its file layout, its manifest and fingerprint, and verification;
and the parent manifest of a benchmark built as K folds (:class:`FoldSet`, addressed and checked by
:mod:`pheno_bench.folds`). Both are read here, so that reading a fold set's root as one benchmark
is one clear error.

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
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import atomic_path, sha256_file, write_text
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
    """Everything that identifies a built benchmark; frozen once written.

    Unknown top-level fields are refused. A manifest read from disk has as fingerprint the sha256
    of the file's exact bytes (so any edit, whitespace included, makes another benchmark).
    """

    model_config = ConfigDict(extra="forbid")
    _file_sha256: str | None = PrivateAttr(None)  # sha256 of the bytes it was read from
    _read_canonical: str | None = PrivateAttr(None)  # sha256 of to_bytes() when read: a copy with changes is a new manifest

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
    blind: bool = Field(
        False, exclude_if=lambda v: not v,
        description="a blind copy for re-running an entry (pheno_bench.blind): re-keyed queries, answers/ listed but withheld",
    )
    fold: int | None = Field(
        None, ge=0, exclude_if=lambda v: v is None,
        description="which scaffold cross-validation fold of the benchmark this folder is (None: a benchmark without folds)",
    )

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
        """sha256 of manifest.json's exact bytes (read from disk), or of the bytes :func:`write_manifest` writes."""
        canonical = hashlib.sha256(self.to_bytes()).hexdigest()
        return self._file_sha256 if self._file_sha256 and canonical == self._read_canonical else canonical


def file_entry(root: Path, relpath: str) -> FileEntry:
    path = root / relpath
    return FileEntry(path=relpath, sha256=sha256_file(path), bytes=path.stat().st_size)


def write_manifest(manifest: Manifest, root: str | os.PathLike) -> Path:
    path = Path(root) / MANIFEST
    write_text(manifest.to_bytes().decode(), path)  # exactly the bytes the fingerprint hashes
    return path


def read_manifest(root: str | os.PathLike) -> Manifest:
    """The manifest of the benchmark folder ``root``, validated."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise PhenoBenchError(
            f"{path}: no benchmark manifest; build one with `pheno-bench splits build` "
            "or fetch one with `pheno-bench splits download`"
        )
    raw = path.read_bytes()
    if b'"kind": "fold-set"' in raw:
        k = read_fold_set(root).k
        raise PhenoBenchError(f"{path}: {Path(root).name} is a set of {k} folds, not one benchmark; address a fold: {Path(root) / 'fold-0'} .. fold-{k - 1} (or NAME/fold-K as --benchmark)")
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else None
        where = f"{'.'.join(map(str, first['loc'])) or 'manifest'}: {first['msg']}" if first else str(exc).splitlines()[0]
        raise PhenoBenchError(f"{path}: invalid benchmark manifest ({where}); build or download the benchmark again") from None
    manifest._file_sha256 = hashlib.sha256(raw).hexdigest()
    manifest._read_canonical = hashlib.sha256(manifest.to_bytes()).hexdigest()
    return manifest


def verify(root: str | os.PathLike, *, remedy: str = "build or download the benchmark again") -> Manifest:
    """Check every file of the benchmark at ``root`` against its manifest's sha256 (a blind copy's
    withheld answer files may be absent; present, they are checked like the others).

    Raises PhenoBenchError naming the first missing or altered file, ending with ``remedy``.
    """
    root = Path(root)
    manifest = read_manifest(root)
    withheld = {answers_path(split) for split in TEST_SPLITS} if manifest.blind else set()
    for entry in manifest.files:
        path = root / entry.path
        if entry.path in withheld and not path.exists():  # a blind copy: the answer key is kept apart
            continue
        if not path.is_file():
            raise PhenoBenchError(f"{path}: listed in the manifest but missing; {remedy}")
        if sha256_file(path) != entry.sha256:
            raise PhenoBenchError(
                f"{path}: sha256 does not match the manifest (file altered or corrupted); {remedy}"
            )
    if extra := unlisted_files(root, manifest):
        raise PhenoBenchError(
            f"{root / extra[0]}: not listed in the benchmark manifest ({len(extra)} such file(s)); "
            f"a benchmark folder holds only its manifest's files: remove it, or {remedy}"
        )
    return manifest


#: files a benchmark folder may hold besides those its manifest lists
ALLOWED_UNLISTED = frozenset({MANIFEST, "README.md", ".gitattributes"})


def unlisted_files(root: str | os.PathLike, manifest: Manifest) -> list[str]:
    """Relative paths of files under ``root`` that the manifest does not list (sorted)."""
    root = Path(root)
    listed = {f.path for f in manifest.files} | ALLOWED_UNLISTED
    found = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel not in listed:
                found.append(rel)
    return sorted(found)


# --- the fold-set manifest ------------------------------------------------------------------


FOLD_SET_FORMAT_VERSION = 1
FOLD_PATTERN = re.compile(r"^fold-(\d+)$")


def fold_dir(k: int) -> str:
    """The folder name of fold ``k`` inside a fold set: ``fold-<k>``."""
    return f"fold-{k}"


class FoldEntry(BaseModel):
    """One fold of a fold set: its number, folder (relative) and its own benchmark fingerprint."""

    fold: int = Field(ge=0)
    path: str = Field(description="folder relative to the fold-set root, 'fold-<k>'")
    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the fold's manifest.json")


class FoldSet(BaseModel):
    """The parent manifest of a benchmark built as K folds; frozen once written.

    composition: pooled description of the folds (per split: molecules, scaffolds, dose levels,
    conditions, actives, anchors; per fold: unseen molecules and active fraction); free-form JSON
    written by :mod:`pheno_bench.split`. checks: the fold-set invariants that were verified at build.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["fold-set"] = "fold-set"
    format_version: int = FOLD_SET_FORMAT_VERSION
    name: str
    version: str
    seed: int
    spec: dict
    primary_metric: str | None = None
    folds: list[FoldEntry] = Field(min_length=2)
    anchors: list[str] = Field(default_factory=list, description="InChIKeys in train of every fold (never unseen)")
    composition: dict = Field(default_factory=dict)
    checks: dict = Field(default_factory=dict)
    extra: dict = Field(default_factory=dict, description="probes, calibration and other build reports")
    _file_sha256: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consecutive(self) -> "FoldSet":
        numbers = [f.fold for f in self.folds]
        if numbers != list(range(len(numbers))):
            raise ValueError(f"folds must be numbered 0..K-1 in order, got {numbers}")
        if bad := [f.path for f in self.folds if f.path != fold_dir(f.fold)]:
            raise ValueError(f"fold folders must be named fold-<k>, got {bad}")
        return self

    @property
    def k(self) -> int:
        return len(self.folds)

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @property
    def fingerprint(self) -> str:
        """sha256 of the fold-set manifest file's exact bytes (as read from disk): the benchmark fingerprint.

        A fold set made in memory (not read) is fingerprinted by the bytes :func:`write_fold_set` writes.
        """
        return self._file_sha256 or hashlib.sha256(self.to_bytes()).hexdigest()

    def entry(self, k: int) -> FoldEntry:
        if not 0 <= k < self.k:
            raise PhenoBenchError(f"{self.name} has folds 0..{self.k - 1}; there is no fold {k}")
        return self.folds[k]


def _manifest_json(root: Path):
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_bytes())
    except ValueError:
        return None


def is_fold_set(root: str | os.PathLike) -> bool:
    """True if ``root`` holds a fold-set manifest (not a single benchmark's)."""
    data = _manifest_json(Path(root))
    return isinstance(data, dict) and data.get("kind") == "fold-set"


def read_fold_set(root: str | os.PathLike) -> FoldSet:
    """The validated fold-set manifest of ``root``; one clear error if it is not a fold set."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise PhenoBenchError(f"{path}: no manifest; build the benchmark with `pheno-bench splits build`")
    if not is_fold_set(root):
        raise PhenoBenchError(f"{root}: a single benchmark, not a fold set (its manifest has no \"kind\": \"fold-set\")")
    raw = path.read_bytes()
    try:
        fold_set = FoldSet.model_validate_json(raw)
    except ValueError as exc:
        raise PhenoBenchError(f"{path}: invalid fold-set manifest: {str(exc).splitlines()[0]}; build or download the benchmark again") from None
    fold_set._file_sha256 = hashlib.sha256(raw).hexdigest()
    return fold_set


def write_fold_set(fold_set: FoldSet, root: str | os.PathLike) -> Path:
    """Write ``fold_set`` as ``root/manifest.json`` (the exact bytes its fingerprint names)."""
    path = Path(root) / MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_bytes(fold_set.to_bytes())
    return path
