"""Fold sets: a benchmark built as K scaffold cross-validation folds (``cell-injury-v2``).

Layout of a fold-set folder (all paths relative to it)::

    manifest.json      a :class:`FoldSet` (``"kind": "fold-set"``); its sha256 is the benchmark fingerprint
    README.md          the data card (composition pooled over folds, probes, calibration)
    fold-0/ ... fold-<K-1>/
                       each a complete frozen benchmark folder (see :mod:`pheno_bench.manifest`)
                       whose own ``manifest.json`` has the same name and ``fold: k``

Every non-anchor molecule of the primary source is in ``unseen_molecules`` of exactly one fold.
A fold is addressed as ``(root, k)`` (:func:`fold_root`), or by the path or name
``cell-injury-v2/fold-2`` (:func:`pheno_bench.manifest.locate` resolves both).
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
from pheno_bench.manifest import MANIFEST, Manifest, read_manifest, verify

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
    from pheno_bench.io import atomic_path

    path = Path(root) / MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_bytes(fold_set.to_bytes())
    return path


def fold_root(root: str | os.PathLike, k: int) -> Path:
    """The benchmark folder of fold ``k`` of the fold set at ``root`` (checked to exist)."""
    root = Path(root)
    entry = read_fold_set(root).entry(k)
    path = root / entry.path
    if not (path / MANIFEST).is_file():
        raise PhenoBenchError(f"{path}: fold {k} listed in {root / MANIFEST} but missing; build the benchmark again")
    return path


def fold_of(root: str | os.PathLike) -> int | None:
    """The fold number of a benchmark folder (its manifest's ``fold``), None for a benchmark without folds."""
    return read_manifest(root).fold


def check_fold_set(root: str | os.PathLike, *, remedy: str = "build the benchmark again") -> FoldSet:
    """Cheap checks of a fold-set folder (no file hashing): nothing unlisted at its root, and each fold's
    manifest is the one the fold set lists (name, fold number and fingerprint)."""
    root = Path(root)
    fold_set = read_fold_set(root)
    listed = {MANIFEST, "README.md", ".gitattributes", *(entry.path for entry in fold_set.folds)}
    if unlisted := sorted(p.name for p in root.iterdir() if p.name not in listed):
        raise PhenoBenchError(
            f"{root / unlisted[0]}: not part of {fold_set.name} (the fold-set manifest lists only {MANIFEST}, README.md and "
            f"fold-0 .. fold-{fold_set.k - 1}); remove it, or {remedy}"
        )
    for entry in fold_set.folds:
        manifest = read_manifest(root / entry.path)
        if manifest.fingerprint != entry.fingerprint:
            raise PhenoBenchError(f"{root / entry.path}: fingerprint {manifest.fingerprint[:12]}… differs from the fold set's {entry.fingerprint[:12]}…; {remedy}")
        if manifest.fold != entry.fold or manifest.name != fold_set.name:
            raise PhenoBenchError(f"{root / entry.path}: manifest says {manifest.name} fold {manifest.fold}, fold set lists {fold_set.name} fold {entry.fold}; {remedy}")
    return fold_set


def verify_fold_set(root: str | os.PathLike, *, remedy: str = "build the benchmark again") -> FoldSet:
    """:func:`check_fold_set`, then every fold's files against its manifest (sha256)."""
    root = Path(root)
    fold_set = check_fold_set(root, remedy=remedy)
    for entry in fold_set.folds:
        verify(root / entry.path, remedy=remedy)
    return fold_set
