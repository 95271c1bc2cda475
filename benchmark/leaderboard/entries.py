"""Leaderboard entries: ``submissions/<entry>/`` folders, their metadata and validation.

Writing a new entry (validated and scored first) is :func:`pheno_bench.leaderboard.submit.add_entry`.

An **entry** is a folder ``submissions/<entry>/`` holding ``metadata.yaml`` (an
:class:`EntryMetadata`) and one submission file per training seed: ``seed-<n>.parquet`` for a
single-split benchmark, ``fold-<k>/seed-<n>.parquet`` for a benchmark built as folds
(``cell-injury-v2``; one file per fold and seed). A **probe** (``kind: probe``) is a training-free
reference model: shown on every board as a marked reference row, never ranked.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from pheno_bench.errors import PhenoBenchError

METADATA_FILE = "metadata.yaml"
README_FILE = "README.md"
VERIFICATION_FILE = "verification.json"  # written by `leaderboard verify` only (see .verification)
ENTRY_NAME = re.compile(r"^(?!.*\.\.)[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
SEED_FILE = re.compile(r"^seed-(\d+)\.parquet$")
FOLD_DIR = re.compile(r"^fold-(\d+)$")
KINDS = ("submission", "baseline", "probe", "example")


def seed_file(seed: int) -> str:
    """The file name of one seed's submission inside an entry folder (or inside its fold folder)."""
    return f"seed-{seed}.parquet"


def fold_folder(fold: int) -> str:
    """The folder of one fold's submission files inside an entry folder: ``fold-<k>``."""
    return f"fold-{fold}"


def run_file(seed: int, fold: int | None = None) -> str:
    """The path, relative to the entry folder, of the file of (seed, fold); fold None: no folds."""
    return seed_file(seed) if fold is None else f"{fold_folder(fold)}/{seed_file(seed)}"


def check_entry_name(name: str) -> str:
    """``name`` if it is a valid entry name (lower-case letters, digits, ``-_.``; 1-64 characters).

    The name becomes a folder and a URL, so anything that could escape ``submissions/`` or need
    quoting is refused.
    """
    if not isinstance(name, str) or not ENTRY_NAME.fullmatch(name):
        raise PhenoBenchError(
            f"entry name {name!r} is not valid: use 1-64 lower-case letters, digits, '-', '_' or "
            "single '.', starting and ending with a letter or digit (e.g. 'my-model-v2')"
        )
    return name


def _distinct_numbers(values: list[int], what: str) -> list[int]:
    if len(set(values)) != len(values) or min(values) < 0:
        raise ValueError(f"{what} must be distinct non-negative integers")
    return sorted(values)


class VerifySpec(BaseModel):
    """How a maintainer re-runs the entry (``pheno-bench leaderboard verify``): a command that writes
    the entry's files again, from the benchmark alone."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    command: str = Field(
        min_length=1, max_length=1000,
        description="one command line (no shell: split like a shell would, no pipes or redirections) with the placeholders "
        "{benchmark} (the benchmark folder to read: a blind copy), {out} (a new entry folder to write, same layout as this one) "
        "and {seeds} (the seeds to run, space-separated); e.g. 'pheno-bench baselines run ridge --benchmark {benchmark} --out {out}'",
    )
    seeds: list[int] | None = Field(None, min_length=1, description="the seeds to re-run (default: every seed of the entry)")
    tolerance: float = Field(1e-9, ge=0, le=0.2, description="largest accepted |committed - re-run| on any compared cell (a fraction, e.g. 0.005 = 0.5 points)")
    reads_answers: bool = Field(
        False, description="the command reads the answer key by design (a diagnostic probe): it is re-run on the benchmark itself, not on a blind copy"
    )
    timeout_minutes: float = Field(60, gt=0, le=24 * 60, description="the re-run is stopped after this long")

    @field_validator("command")
    @classmethod
    def _placeholders(cls, command: str) -> str:
        for needed in ("{benchmark}", "{out}"):
            if needed not in command:
                raise ValueError(f"the command must contain {needed}")
        return command


class EntryMetadata(BaseModel):
    """``submissions/<entry>/metadata.yaml``: who made the model, how, and on what data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str = Field(min_length=1, max_length=120, description="model name as shown on the leaderboard")
    kind: Literal["submission", "baseline", "probe", "example"] = Field(
        "submission",
        description="baseline: a pheno-bench reference baseline; probe: a training-free reference model "
        "(a marked reference row, never ranked); example: a placeholder, not a model",
    )
    description: str = Field("", max_length=2000, description="one paragraph: what the model is")
    authors: list[str] = Field(min_length=1, description="people or organisations")
    code_url: HttpUrl | None = Field(None, description="where the training code is")
    paper_url: HttpUrl | None = Field(None, description="the paper or preprint")
    benchmark: str = Field(min_length=1, description="benchmark name, e.g. cell-injury-v1")
    training_data: str = Field(min_length=1, max_length=2000, description="every dataset used for training or pre-training")
    test_molecules_seen: bool = Field(description="whether any test-split molecule was seen in training or pre-training")
    seeds: list[int] = Field(min_length=1, description="training seeds; one submission file seed-<N>.parquet each (per fold)")
    folds: list[int] | None = Field(
        None, min_length=1, description="fold benchmarks only: the folds submitted, one folder fold-<k>/ each"
    )
    parameters: int | None = Field(None, ge=0, description="number of trained parameters")
    hardware: str = Field("", max_length=200, description="what it was trained on")
    date: dt.date = Field(description="date of the submission")
    licence: str = Field(min_length=1, max_length=100, description="licence of the embeddings and model")
    verify: VerifySpec | None = Field(None, description="how a maintainer re-runs the entry (leaderboard verify); None: not re-runnable")

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        return _distinct_numbers(seeds, "seeds")

    @field_validator("folds")
    @classmethod
    def _distinct_folds(cls, folds: list[int] | None) -> list[int] | None:
        return None if folds is None else _distinct_numbers(folds, "folds")

    @field_validator("authors")
    @classmethod
    def _named(cls, authors: list[str]) -> list[str]:
        authors = [a.strip() for a in authors]
        if not all(authors):
            raise ValueError("an author name is empty")
        return authors

    def runs(self) -> list[tuple[int, int | None]]:
        """Every (seed, fold) with a submission file, seeds outer; fold None without folds."""
        return [(seed, fold) for seed in self.seeds for fold in (self.folds or [None])]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True)


def read_metadata(path: str | os.PathLike) -> EntryMetadata:
    """Read and validate an entry's metadata YAML file; one clear error if it is wrong."""
    path = Path(path)
    if not path.is_file():
        raise PhenoBenchError(f"{path}: metadata file not found; copy the example in the docs (How to submit)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PhenoBenchError(f"{path}: not valid UTF-8 YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise PhenoBenchError(f"{path}: expected a YAML mapping of metadata fields")
    try:
        return EntryMetadata.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'metadata'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise PhenoBenchError(f"{path}: invalid entry metadata ({problems}); fix these fields") from None


def _found_runs(path: Path, name: str) -> set[tuple[int, int | None]]:
    """The (seed, fold) files present in the entry folder ``path``; refuses anything else."""
    found: set[tuple[int, int | None]] = set()
    allowed = f"an entry holds only {METADATA_FILE}, {README_FILE}, {VERIFICATION_FILE}, seed-<N>.parquet files or fold-<k>/seed-<N>.parquet files"
    for item in sorted(path.iterdir()):
        if item.is_symlink():
            raise PhenoBenchError(f"{item}: symbolic links are not allowed in an entry; copy the file")
        if item.name in (METADATA_FILE, README_FILE, VERIFICATION_FILE) and item.is_file():
            continue
        if (m := SEED_FILE.match(item.name)) and item.is_file():
            found.add((int(m.group(1)), None))
        elif (f := FOLD_DIR.match(item.name)) and item.is_dir():
            for sub in sorted(item.iterdir()):
                if sub.is_symlink():
                    raise PhenoBenchError(f"{sub}: symbolic links are not allowed in an entry; copy the file")
                if not ((m := SEED_FILE.match(sub.name)) and sub.is_file()):
                    raise PhenoBenchError(f"{sub}: unexpected file in entry {name!r}; {allowed}")
                found.add((int(m.group(1)), int(f.group(1))))
        else:
            raise PhenoBenchError(f"{item}: unexpected file in entry {name!r}; {allowed}")
    return found


@dataclass(frozen=True)
class Entry:
    """A validated leaderboard entry folder."""

    name: str
    path: Path
    metadata: EntryMetadata

    @property
    def kind(self) -> str:
        return self.metadata.kind

    @property
    def folds(self) -> list[int] | None:
        return self.metadata.folds

    def files(self) -> dict[int, Path]:
        """Seed -> submission file (entries without folds; see :meth:`runs` for fold entries)."""
        if self.metadata.folds is not None:
            raise PhenoBenchError(f"entry {self.name!r} has folds; use Entry.runs() (seed -> fold -> file)")
        return {seed: self.path / seed_file(seed) for seed in self.metadata.seeds}

    def runs(self) -> dict[int, dict[int | None, Path]]:
        """Seed -> fold -> submission file; the fold is None for a benchmark without folds."""
        out: dict[int, dict[int | None, Path]] = {}
        for seed, fold in self.metadata.runs():
            out.setdefault(seed, {})[fold] = self.path / run_file(seed, fold)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Entry":
        """Validate the entry folder ``path``: its name, metadata and exactly one file per (seed, fold)."""
        path = Path(path)
        name = check_entry_name(path.name)
        metadata = read_metadata(path / METADATA_FILE)
        expected = set(metadata.runs())
        found = _found_runs(path, name)
        missing = sorted(expected - found, key=str)
        extra = sorted(found - expected, key=str)
        if missing or extra:
            listed = f"seeds {metadata.seeds}" + (f" x folds {metadata.folds}" if metadata.folds is not None else "")
            layout = "fold-<k>/seed-<N>.parquet per listed fold and seed" if metadata.folds is not None else "seed-<N>.parquet per listed seed"
            found_words = []
            if missing:
                found_words.append(f"missing {', '.join(run_file(*r) for r in missing)}: add one {layout}")
            if extra:
                found_words.append(f"not listed in {METADATA_FILE}: {', '.join(run_file(*r) for r in extra)}: add its seed"
                                   f"{' and fold' if metadata.folds is not None else ''} to the metadata, or remove the file")
            raise PhenoBenchError(f"{path}: metadata {listed} do not match the files ({'; '.join(found_words)})")
        return cls(name, path, metadata)


def discover(submissions: str | os.PathLike) -> list[Path]:
    """Every entry folder under ``submissions`` (sorted by name; files and dot-folders skipped)."""
    root = Path(submissions)
    if not root.is_dir():
        raise PhenoBenchError(f"{root}: submissions folder not found; run from the repository root or pass --submissions")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def files_by_fold(files: Sequence[str | os.PathLike], meta: EntryMetadata) -> dict[int, dict[int, Path]]:
    """seed -> fold -> file from a flat list of fold files (the fold read from each file's metadata).

    Each fold's files are taken in the order given, one per metadata seed (seed order).
    """
    from pheno_bench.submission import peek_metadata

    per_fold: dict[int, list[Path]] = {}
    for path in map(Path, files):
        fold = peek_metadata(path).fold
        if fold is None:
            raise PhenoBenchError(f"{path}: its metadata names no fold, but the entry lists folds {meta.folds}; write fold submissions with write_submission(..., fold=k)")
        per_fold.setdefault(int(fold), []).append(path)
    for fold, paths in sorted(per_fold.items()):
        if len(paths) != len(meta.seeds):
            raise PhenoBenchError(f"fold {fold}: {len(paths)} file(s) for seeds {meta.seeds}; give one file per seed and fold, seeds in the metadata's order")
    return {seed: {fold: paths[i] for fold, paths in sorted(per_fold.items())} for i, seed in enumerate(meta.seeds)}


def staging_folder(parent: Path, name: str) -> Path:
    """A new, world-readable hidden folder in ``parent`` (mkdocs skips dot-folders) to build in."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}."))
    path.chmod(0o755)
    return path


