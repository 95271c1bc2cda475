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

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import sha256_file, write_json, write_text
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
        from pheno_bench.folds import read_fold_set

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


def locate(benchmark: str | os.PathLike, fold: int | None = None, *, fingerprint: str | None = None) -> Path:
    """A benchmark folder from a path or a benchmark name.

    A name is looked up in the registry of built and downloaded benchmarks
    (:func:`pheno_bench.registry.find`: the last build or download of that name, wherever its
    ``--out`` was, else ``<home>/benchmarks/<name>``). fingerprint: prefer the registered build with
    this fingerprint (a submission's), falling back to the current one (whose mismatch the caller
    reports). fold: for a fold set (``cell-injury-v2``), the folder of fold ``fold``
    (:func:`pheno_bench.folds.fold_root`); without it a fold set's root is returned (check it with
    :func:`pheno_bench.folds.is_fold_set`). ``"cell-injury-v2/fold-2"`` addresses a fold as a path or a name.
    An unknown name is one error with the closest known names.
    """
    import re

    from pheno_bench import registry

    path = Path(benchmark)
    text = str(benchmark)
    found = path if (path / MANIFEST).is_file() else None
    if found is None and (m := re.fullmatch(r"([A-Za-z0-9][\w.-]*)/fold-(\d+)", text)) and fold is None:
        found = registry.find(m[1], fingerprint=fingerprint, fold=int(m[2]))
        fold = int(m[2]) if found is not None else None
    if found is None and re.fullmatch(r"[A-Za-z0-9][\w.-]*", text):
        found = registry.find(text, fingerprint=fingerprint, fold=fold)
    if found is not None:
        if fold is None:
            return found
        from pheno_bench.folds import fold_root

        return fold_root(found, fold)
    raise PhenoBenchError(_not_found(text, path))


def _not_found(text: str, path: Path) -> str:
    """The one-line error for a benchmark that is neither a folder nor a known build."""
    import difflib

    from pheno_bench import registry
    from pheno_bench.specs import BENCHMARKS

    if any(sep in text for sep in ("/", os.sep)) or text.startswith("."):
        if path.is_dir():
            return (f"{path}: no benchmark manifest in this folder; pass the folder that `pheno-bench splits build --out` "
                    "wrote (it holds manifest.json)")
        base = text.split("/fold-")[0]
        if "/" in base or base.startswith("."):
            return f"{path}: no such benchmark folder; build one with `pheno-bench splits build NAME --out {text}`"
        text = base
    gone = registry.stale(text)
    if text in BENCHMARKS:
        was = f" (it was registered at {gone[-1]}, which is gone or changed)" if gone else ""
        return (f"benchmark {text!r} is not built or downloaded yet{was}; run `pheno-bench splits build {text}` "
                f"or `pheno-bench splits download ORG/{text}`, or pass the benchmark folder")
    known = sorted(set(BENCHMARKS) | set(registry.known_names()))
    close = difflib.get_close_matches(text, known, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"unknown benchmark {text!r}; {hint}known: {', '.join(known)} (or pass a benchmark folder)"
