"""The leaderboard's results cache: an unchanged entry is never scored twice.

``leaderboard build`` re-scores every entry with the installed scorer. What a run of an entry
(one seed; every fold of it for a fold benchmark) scores to depends only on its files' bytes, the
benchmark, the scorer and the bootstrap options, so the results are kept under
``<home>/cache/results/`` (:func:`pheno_bench.paths.home`), one record per **key** (a line of
JSON with the key and a sha256 over the key and the payload, then the payload as it is):

- a run: the run's files (fold, file name, sha256 of the bytes), the benchmark's name, version
  and fingerprint, the scorer version, the package version and the bootstrap options;
- a verdict (:mod:`.ranking`): both entries' run keys, the primary metric and the same versions;
- a run's primary-split views (:mod:`.primary_views`: the per-query values a verdict resamples), the
  run's key with its own kind and the split, kept as arrays in an ``.npz`` file;
- a board's plot (:func:`plot_key`): a sha256 of the table and options it is drawn from, of the
  plotting code and matplotlib's version; the payload is the SVG.

A changed file, benchmark fingerprint, scorer or package version or bootstrap option is a
different key: everything it touches is scored again. A record is trusted only if it holds its
own key, the sha256 of its contents matches and the contents validate against their model
(:class:`CachedRun`, :class:`CachedVerdict`, whose results are checked against the key); otherwise
it is ignored, one line says so, and the run is re-scored (and the record rewritten). The digest
guards against corruption and careless edits, not against someone who can write the cache folder
and recompute it: that person can change the installed scorer as well. Records are written
atomically (a temporary file renamed into place). An ``.npz`` record holds its key and a sha256 over
the key and every array (name, dtype, shape, bytes) beside the arrays, and is read without pickle.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import atomic_path, write_text
from pheno_bench.paths import home
from pheno_bench.results import Results
from pheno_bench.safe_read import open_regular, sha256_of
from pheno_bench.scoring import SCORER_VERSION
from pheno_bench.submission import Limits
from pheno_bench.version import __version__

#: The record layout; a new layout is a new key (old records are never read as new ones).
CACHE_FORMAT = 1
#: how a verdict treats an entry's seed runs (pheno_bench.compare): part of its key, so a change re-computes it
VERDICT_SEEDS = "resample"
#: The bootstrap every leaderboard number uses (the scorer's defaults, stated once here).
N_BOOTSTRAP, BOOTSTRAP_SEED = 1000, 0

T = TypeVar("T")


def cache_folder() -> Path:
    """Where the records live: ``<home>/cache/results``."""
    return home() / "cache" / "results"


def file_sha256(path: Path, limits: Limits | None = None) -> str:
    """sha256 of a submission file's bytes (a regular file within the size cap, as the reader demands)."""
    with open_regular(Path(path), max_bytes=(limits or Limits()).max_bytes) as handle:
        return sha256_of(handle)


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def _digest(obj) -> str:
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


def _record_digest(key, body: bytes) -> str:
    """sha256 of a record: its key (canonical JSON), a newline, its payload's UTF-8 bytes."""
    return hashlib.sha256(_canonical(key).encode() + b"\n" + body).hexdigest()


#: the names under which an .npz record keeps its key and digest
_KEY, _SHA256 = "__key__", "__sha256__"


def _arrays_digest(stored_key: np.ndarray, arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over an array record: its key's bytes, then every array's name, dtype, shape and bytes (names sorted)."""
    digest = hashlib.sha256(stored_key.tobytes())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(_canonical([name, a.dtype.str, list(a.shape)]).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CachedFile(_Record):
    """What the entry-level checks need from one file without reading it again."""

    fold: int | None
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    splits: list[str] = Field(description="the test splits the file embeds")
    embeddings: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of its embeddings alone (copied-seed check)")


class CachedRun(_Record):
    """One run's record: its files and its results (None: a fold run that misses folds), as the
    model's JSON (fields in the scorer's order) and as the text the leaderboard publishes
    (:func:`pheno_bench.io.json_text`: keys sorted, indented)."""

    files: list[CachedFile]
    results: Results | None
    published: str | None


class CachedVerdict(_Record):
    """One paired verdict on the primary metric (a against b; None: nothing to compare)."""

    difference: float
    low: float | None
    high: float | None
    verdict: Literal["better", "worse", "tied"]
    method: str


def run_key(benchmark: Mapping[str, object], files: Mapping[int | None, Path], shas: Mapping[int | None, str]) -> dict:
    """The key of one run: its files (fold, name, sha256), the benchmark and every version that changes a number."""
    return {
        "kind": "run", "format": CACHE_FORMAT, **benchmark, "scorer_version": SCORER_VERSION, "pheno_bench_version": __version__,
        "bootstrap": {"n_resamples": N_BOOTSTRAP, "seed": BOOTSTRAP_SEED},
        "files": [[fold, Path(files[fold]).name, shas[fold]] for fold in sorted(files, key=lambda f: -1 if f is None else f)],
    }


def verdict_key(a: list, b: list, *, primary: str, benchmark: Mapping[str, object]) -> dict:
    """The key of a verdict: each side's runs ((seed, run files) in seed order), the primary metric, the versions."""
    return {
        "kind": "verdict", "format": CACHE_FORMAT, **benchmark, "scorer_version": SCORER_VERSION, "pheno_bench_version": __version__,
        "bootstrap": {"n_resamples": N_BOOTSTRAP, "seed": BOOTSTRAP_SEED, "seeds": VERDICT_SEEDS}, "primary": primary, "a": a, "b": b,
    }


@dataclass
class ResultsCache:
    """Records keyed by :func:`run_key` / :func:`verdict_key` in ``folder`` (default :func:`cache_folder`).

    rescore: never read a record (score everything again, and rewrite the records). on_note: called
    with one line when a record is ignored as corrupt or tampered (the line is also kept in ``notes``).
    ``hits`` / ``misses`` count lookups per kind ("run", "verdict").
    """

    folder: Path | None = None
    rescore: bool = False
    on_note: Callable[[str], None] | None = None
    notes: list[str] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    misses: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.folder = Path(self.folder) if self.folder is not None else cache_folder()

    def path(self, key: Mapping, *, suffix: str = ".record") -> Path:
        """The record file of ``key``: ``<folder>/<kind>/<sha256 of the key>.record`` (``.npz`` for arrays)."""
        return self.folder / str(key["kind"]) / f"{_digest(key)}{suffix}"

    def _note(self, line: str) -> None:
        self.notes.append(line)
        if self.on_note is not None:
            self.on_note(line)

    def get(self, key: Mapping, parse: Callable[[str], T], *, what: str) -> T | None:
        """The payload stored under ``key``, parsed and validated by ``parse``; None when absent,
        when re-scoring, or when the record does not check out (then one line says so)."""
        kind = str(key["kind"])
        path = self.path(key)
        if self.rescore or not path.is_file():
            self.misses[kind] = self.misses.get(kind, 0) + 1
            return None
        try:
            if not path.is_file() or path.is_symlink():
                raise ValueError("not a regular file")
            header, newline, body = path.read_bytes().partition(b"\n")
            record = json.loads(header) if newline else None
            if not isinstance(record, dict) or set(record) != {"key", "sha256"}:
                raise ValueError("not a cache record")
            if record["key"] != json.loads(_canonical(key)):
                raise ValueError("it holds another key")
            if record["sha256"] != _record_digest(record["key"], body):
                raise ValueError("its contents do not match their sha256")
            value = parse(body.decode("utf-8"))
        except (OSError, ValueError, TypeError, ValidationError, PhenoBenchError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._note(f"cache record {path} ignored ({reason}): re-scoring {what}")
            self.misses[kind] = self.misses.get(kind, 0) + 1
            return None
        self.hits[kind] = self.hits.get(kind, 0) + 1
        return value

    def get_arrays(self, key: Mapping, parse: Callable[[dict[str, np.ndarray]], T], *, what: str) -> tuple[T] | None:
        """(the arrays stored under ``key`` (:meth:`put_arrays`), parsed and validated by ``parse``,);
        None when absent, when re-scoring, or when the record does not check out (then one line says so)."""
        kind = str(key["kind"])
        path = self.path(key, suffix=".npz")
        if self.rescore or not path.is_file():
            self.misses[kind] = self.misses.get(kind, 0) + 1
            return None
        try:
            if path.is_symlink():
                raise ValueError("not a regular file")
            with np.load(path, allow_pickle=False) as record:
                arrays = {name: record[name] for name in record.files}
            stored_key, digest = arrays.pop(_KEY, None), arrays.pop(_SHA256, None)
            if stored_key is None or digest is None:
                raise ValueError("not a cache record")
            if json.loads(stored_key.tobytes().decode()) != json.loads(_canonical(key)):
                raise ValueError("it holds another key")
            if digest.tobytes().decode() != _arrays_digest(stored_key, arrays):
                raise ValueError("its contents do not match their sha256")
            value = parse(arrays)
        except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._note(f"cache record {path} ignored ({reason}): re-computing {what}")
            self.misses[kind] = self.misses.get(kind, 0) + 1
            return None
        self.hits[kind] = self.hits.get(kind, 0) + 1
        return (value,)

    def put_arrays(self, key: Mapping, arrays: Mapping[str, np.ndarray]) -> Path:
        """Store ``arrays`` (name -> numeric array) under ``key`` as an ``.npz`` record, atomically."""
        stored_key = np.frombuffer(_canonical(key).encode(), dtype=np.uint8)
        arrays = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
        if {_KEY, _SHA256} & set(arrays) or any(a.dtype.hasobject for a in arrays.values()):
            raise ValueError("array records hold numeric arrays, and not under the names of the key or digest")
        digest = np.frombuffer(_arrays_digest(stored_key, arrays).encode(), dtype=np.uint8)
        path = self.path(key, suffix=".npz")
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays, **{_KEY: stored_key, _SHA256: digest})
        return path

    def put(self, key: Mapping, payload: str) -> Path:
        """Store ``payload`` (a text) under ``key``, atomically: one line of JSON (the key and the
        sha256 of the key and the payload), then the payload as it is (nothing to escape or parse
        to check it: a v2 run's record is 7 MB)."""
        key = json.loads(_canonical(key))
        header = json.dumps({"key": key, "sha256": _record_digest(key, payload.encode("utf-8"))}, sort_keys=True, ensure_ascii=True, allow_nan=False)
        path = self.path(key)
        write_text(header + "\n" + payload, path)
        return path


def plot_key(name: str, inputs) -> dict:
    """The key of one drawn plot: its name, a sha256 of everything it is drawn from (``inputs``:
    JSON-able, floats at full precision), and the plotting code (the sha256 of
    :mod:`pheno_bench.plots`, matplotlib's version): the same key, the same SVG bytes."""
    import matplotlib

    from pheno_bench import plots

    drawn = json.dumps(inputs, sort_keys=True, allow_nan=True, default=repr, separators=(",", ":"))
    return {
        "kind": "plot", "plot": name, "inputs": hashlib.sha256(drawn.encode()).hexdigest(),
        "code": hashlib.sha256(Path(plots.__file__).read_bytes()).hexdigest(), "matplotlib": matplotlib.__version__, "pheno_bench": __version__,
    }


def parse_svg(payload: str) -> str:
    """A plot record's SVG text (an XML document holding an <svg> element)."""
    if not payload.startswith("<?xml") or "<svg" not in payload[:2000]:
        raise ValueError("not an SVG document")
    return payload


def parse_run(key: Mapping, payload: str) -> CachedRun:
    """A run record validated against its key: the same files, and results (validated by the
    :class:`~pheno_bench.results.Results` model) of this scorer, benchmark and bootstrap."""
    run = CachedRun.model_validate_json(payload)
    if [[f.fold, f.file, f.sha256] for f in run.files] != key["files"]:
        raise ValueError("its files are not the key's")
    r = run.results
    # the published text and the results are written together from one Results object, and the
    # record's sha256 covers both: parsing the text again to compare them cost ~0.1 s per v2 run
    if (r is None) != (run.published is None):
        raise ValueError("its published text is not its results")
    if r is not None:
        if r.scorer_version != SCORER_VERSION or r.pheno_bench_version != __version__:
            raise ValueError(f"results of scorer {r.scorer_version} (package {r.pheno_bench_version})")
        if r.benchmark.fingerprint != key["fingerprint"] or r.benchmark.name != key["benchmark"]:
            raise ValueError("results of another benchmark")
        if (r.bootstrap.n_resamples, r.bootstrap.seed) != (N_BOOTSTRAP, BOOTSTRAP_SEED):
            raise ValueError("results of another bootstrap")
        scored = {s.sha256 for s in [r.submission, *r.submissions]}
        if not {f.sha256 for f in run.files} <= scored:
            raise ValueError("results of other files")
    return run


def parse_verdict(payload: str) -> CachedVerdict | None:
    """A verdict record's payload (``null``: nothing to compare)."""
    if json.loads(payload) is None:
        return None
    return CachedVerdict.model_validate_json(payload)


__all__ = [
    "BOOTSTRAP_SEED", "CACHE_FORMAT", "N_BOOTSTRAP", "CachedFile", "CachedRun", "CachedVerdict", "ResultsCache", "cache_folder",
    "file_sha256", "parse_run", "parse_verdict", "run_key", "verdict_key",
]
