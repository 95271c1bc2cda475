"""Fold sets: a benchmark built as K scaffold cross-validation folds (``cell-injury-v2``): addressing
a fold and checking a fold set across its folds. The fold-set manifest itself (:class:`FoldSet`,
read and written) lives beside the benchmark manifest in :mod:`pheno_bench.manifest`, and is
re-exported here.

Layout of a fold-set folder (all paths relative to it)::

    manifest.json      a :class:`FoldSet` (``"kind": "fold-set"``); its sha256 is the benchmark fingerprint
    README.md          the data card (composition pooled over folds, probes, calibration)
    fold-0/ ... fold-<K-1>/
                       each a complete frozen benchmark folder (see :mod:`pheno_bench.manifest`)
                       whose own ``manifest.json`` has the same name and ``fold: k``

Every non-anchor molecule of the primary source is in ``unseen_molecules`` of exactly one fold.
A fold is addressed as ``(root, k)`` (:func:`fold_root`), or by the path or name
``cell-injury-v2/fold-2`` (:func:`pheno_bench.registry.locate` resolves both).
"""

from __future__ import annotations

import os
from pathlib import Path

from pheno_bench.errors import PhenoBenchError
from pheno_bench.manifest import (  # noqa: F401 (the fold-set model is re-exported from its home, pheno_bench.manifest)
    FOLD_PATTERN,
    FOLD_SET_FORMAT_VERSION,
    MANIFEST,
    FoldEntry,
    FoldSet,
    fold_dir,
    is_fold_set,
    read_fold_set,
    read_manifest,
    verify,
    write_fold_set,
)


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
