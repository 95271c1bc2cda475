"""Leaderboard re-scoring: every entry's files scored by the installed scorer, seeds aggregated.

The leaderboard never reads a claimed number: every file is re-scored by the installed scorer.
One **run** is one seed of an entry (pooled over the folds of a fold benchmark). This module:
the benchmark's primary metric (:class:`PrimaryMetric`), the scorer(s) of one benchmark
(:class:`BenchmarkScorer`), an entry scored (:func:`score_entry`, :class:`Scored`; with a
:class:`~.cache.ResultsCache`, a run whose files, benchmark and scorer are unchanged is taken from
the cache instead of being scored) and whether it may be ranked (:func:`eligibility`), the tidy
frame of every estimate and its seed aggregation. Verdicts and ranks are :mod:`.ranking`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator, evaluate_folds
from pheno_bench.folds import is_fold_set, read_fold_set
from pheno_bench.io import json_text
from pheno_bench.leaderboard.cache import (
    BOOTSTRAP_SEED, N_BOOTSTRAP, CachedFile, CachedRun, ResultsCache, file_sha256, parse_run, run_key,
)
from pheno_bench.leaderboard.entries import METADATA_FILE, Entry, EntryMetadata
from pheno_bench.metric_ids import parse_metric_id
from pheno_bench.metrics import LOWER_IS_BETTER
from pheno_bench.registry import locate
from pheno_bench.results import Estimate, Results, ensure_comparable
from pheno_bench.scoring import SplitRanks, rank_split
from pheno_bench.specs import BENCHMARKS, PRIMARY_METRIC
from pheno_bench.submission import Submission
from pheno_bench.leaderboard.tables import KEYS, aggregate_seeds, results_frame  # noqa: F401 (re-exported: their earlier home)

#: Seeds an entry needs to be ranked (probes are deterministic: one is enough).
MIN_SEEDS = 3
MIN_PROBE_SEEDS = 1
#: Used when a benchmark declares no primary metric (the scorer's format, see pheno_bench.evaluate).
DEFAULT_PRIMARY = PRIMARY_METRIC  # for a benchmark whose spec declares none

RANKED, PROBE, NOT_RANKED = "ranked", "probe", "not ranked"


# --- the primary metric -----------------------------------------------------------------------


@dataclass(frozen=True)
class PrimaryMetric:
    """The one number a benchmark is ranked by: ``<split>/<view>/<subset>/<average>/<metric>``."""

    split: str
    view: str
    subset: str
    average: str
    metric: str

    @classmethod
    def parse(cls, text: str) -> "PrimaryMetric":
        return cls(*parse_metric_id(str(text)))

    @property
    def id(self) -> str:
        return f"{self.split}/{self.view}/{self.subset}/{self.average}/{self.metric}"

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER

    def estimate(self, results: Results) -> Estimate | None:
        """The primary metric's estimate in ``results`` (None if absent or too few to score)."""
        split = results.splits.get(self.split)
        if split is None or not split.evaluated:
            return None
        view = getattr(split, self.view, None)
        subset = None if view is None else view.subsets.get(self.subset)
        if subset is None:
            return None
        return (subset.macro if self.average == "macro" else subset.metrics).get(self.metric)


def primary_metric(name: str, declared: str | None = None) -> PrimaryMetric:
    """The primary metric of benchmark ``name``: ``declared`` (a manifest's), else its spec's, else the default."""
    if declared is None:
        spec = BENCHMARKS.get(name)
        declared = spec.primary_metric if spec is not None else None
    return PrimaryMetric.parse(declared or DEFAULT_PRIMARY)


# --- one benchmark (single split or fold set) --------------------------------------------------


class BenchmarkScorer:
    """The scorer(s) of one benchmark: a single frozen benchmark, or a fold set (one scorer per fold)."""

    def __init__(self, benchmark: str | Path):
        self.root = locate(benchmark)
        self.fold_set = read_fold_set(self.root) if is_fold_set(self.root) else None
        self._evaluators: dict[int | None, Evaluator] = {}
        self._read: dict[tuple[int | None, str], object] = {}
        self._split_ranks: dict[tuple[int | None, str, str], SplitRanks | None] = {}
        #: a run's views of one split for the verdicts, by (its files' (fold, sha256), split): filled by .primary_views
        self.run_views: dict[tuple, object] = {}
        if self.fold_set is None:
            manifest = self.evaluator(None).manifest
            self.name, self.version, self.fingerprint = manifest.name, manifest.version, manifest.fingerprint
            declared = self.evaluator(None).primary_metric
        else:
            fs = self.fold_set
            self.name, self.version, self.fingerprint = fs.name, fs.version, fs.fingerprint
            declared = fs.primary_metric
        self.primary = primary_metric(self.name, declared)

    def read(self, fold: int | None, file):
        """The validated submission of ``file`` for fold ``fold``: a read submission as is; a
        :class:`FileRef` (a run taken from the cache) read once per scorer, its sha256 checked."""
        if not isinstance(file, FileRef):
            return self.evaluator(fold).read(file)
        if (fold, file.sha256) not in self._read:
            submission = self.evaluator(fold).read(file.path)
            if submission.sha256 != file.sha256:
                raise PhenoBenchError(f"{file.path}: the file changed during the build (sha256 {submission.sha256}, was {file.sha256}); build again")
            self._read[fold, file.sha256] = submission
        return self._read[fold, file.sha256]

    def split_ranks(self, fold: int | None, file, split: str) -> SplitRanks | None:
        """The ranks of one split of ``file`` (fold ``fold``), computed once per scorer (None: the file
        does not embed that split): what ``Scorer.rank`` computes for that split, for the verdicts,
        which need the primary metric's split alone. A file scored in this build (not a :class:`FileRef`)
        was ranked by its fold's scorer already: those ranks are taken, not computed again."""
        submission = self.read(fold, file)
        key = (fold, submission.sha256, split)
        if key not in self._split_ranks:
            emb, evaluator = submission.splits.get(split), self.evaluator(fold)
            if emb is None:
                self._split_ranks[key] = None
            elif not isinstance(file, FileRef):
                self._split_ranks[key] = evaluator.rank(submission)[split]
            else:
                self._split_ranks[key] = rank_split(
                    evaluator.keys[split], emb.queries, emb.candidates, similarity=submission.metadata.similarity, memory_mb=evaluator.memory_mb
                )
        return self._split_ranks[key]

    @property
    def folds(self) -> list[int] | None:
        """The benchmark's folds (None: not a fold benchmark)."""
        return None if self.fold_set is None else [f.fold for f in self.fold_set.folds]

    def evaluator(self, fold: int | None) -> Evaluator:
        """The scorer of fold ``fold`` (None: the benchmark itself), made once."""
        if fold not in self._evaluators:
            if (fold is None) != (self.fold_set is None):
                raise PhenoBenchError(f"{self.name}: " + ("a fold benchmark; name the fold" if fold is None else f"has no folds (fold {fold} asked)"))
            if fold is not None:
                self._evaluators[fold] = Evaluator(self.root, fold=fold)
            else:
                self._evaluators[None] = Evaluator(self.root)
        return self._evaluators[fold]

    @property
    def manifest(self):
        """A single-split manifest for the data card (fold 0's for a fold set)."""
        return self.evaluator(None if self.fold_set is None else self.folds[0]).manifest

    def check_metadata(self, meta: EntryMetadata, *, where: str) -> None:
        """Refuse metadata for another benchmark, or whose folds do not fit this benchmark."""
        if meta.benchmark != self.name:
            raise PhenoBenchError(f"{where}: metadata names benchmark {meta.benchmark!r}, not {self.name!r}; fix the metadata's benchmark field")
        if self.folds is None and meta.folds is not None:
            raise PhenoBenchError(f"{where}: {self.name} has no folds but the metadata lists folds {meta.folds}; remove the folds field")
        if self.folds is not None:
            if meta.folds is None:
                raise PhenoBenchError(f"{where}: {self.name} is built as folds {self.folds}; list them in the metadata's folds field (files fold-<k>/seed-<N>.parquet)")
            if unknown := sorted(set(meta.folds) - set(self.folds)):
                raise PhenoBenchError(f"{where}: folds {unknown} do not exist in {self.name} (folds {self.folds})")

    def score_run(self, files: Mapping[int | None, Path], submissions: Mapping[int | None, object] | None = None) -> Results | None:
        """One seed's results: the file's, or pooled over every fold (None when folds are missing)."""
        subs = submissions or files
        if self.fold_set is None:
            return self.evaluator(None).evaluate(subs[None], n_bootstrap=N_BOOTSTRAP, seed=BOOTSTRAP_SEED)
        if set(files) != set(self.folds):
            return None  # a partial fold set is never pooled (shown, not ranked)
        return pooled_fold_results(self, {k: subs[k] for k in self.folds})

    @property
    def key(self) -> dict:
        """The benchmark's part of a cache key: name, version, fingerprint (a fold set's for a fold benchmark)."""
        return {"benchmark": self.name, "version": self.version, "fingerprint": self.fingerprint}


def pooled_fold_results(scorer: BenchmarkScorer, files: Mapping[int, object]) -> Results:
    """One model's results pooled over every fold (the scorer's :func:`pheno_bench.evaluate.evaluate_folds`),
    with the board's own fold scorers (answer keys read once per build) and the files they read already."""
    subs = {k: f if isinstance(f, Submission) else getattr(f, "path", f) for k, f in files.items()}
    return evaluate_folds(
        subs, benchmark=scorer.root, n_bootstrap=N_BOOTSTRAP, seed=BOOTSTRAP_SEED, scorers={k: scorer.evaluator(k) for k in files},
    )


# --- scored entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    """A submission file whose run came from the cache (not read): its path and sha256.

    A path-like: :meth:`pheno_bench.scoring.Scorer.read` reads and validates it when a verdict needs it.
    """

    path: Path
    sha256: str

    def __fspath__(self) -> str:
        return str(self.path)


@dataclass
class Scored:
    """One entry scored by the installed scorer.

    submissions: seed -> fold -> validated submission (a :class:`FileRef` for a run taken from the
    cache); results: seed -> Results (pooled over folds; absent for a seed whose folds are
    incomplete); status: ranked | probe | not ranked, with the reason; cached: the seeds whose
    results came from the cache; keys: seed -> its run's cache key (files and sha256s); results_json:
    seed -> its results as the JSON text published (kept when a cache is used, written as is).
    """

    entry: Entry
    submissions: dict[int, dict[int | None, object]]
    results: dict[int, Results]
    status: str = RANKED
    reason: str = ""
    flags: list[str] = field(default_factory=list)
    cached: list[int] = field(default_factory=list)
    keys: dict[int, dict] = field(default_factory=dict)
    results_json: dict[int, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.entry.name


def eligibility(meta: EntryMetadata, folds: list[int] | None) -> tuple[str, str]:
    """(status, reason): whether an entry meets the ranking rules (seeds and folds)."""
    missing = sorted(set(folds or []) - set(meta.folds or []))
    fold_reason = f"folds {', '.join(map(str, missing))} missing (all {len(folds)} needed)" if missing else ""
    if meta.kind == "probe":
        seeds = "" if len(meta.seeds) >= MIN_PROBE_SEEDS else f"{len(meta.seeds)} seeds"
        return PROBE, fold_reason or seeds
    if meta.kind == "example":
        return NOT_RANKED, "an example entry (not a model)"
    if fold_reason:
        return NOT_RANKED, fold_reason
    if len(meta.seeds) < MIN_SEEDS:
        return NOT_RANKED, f"{len(meta.seeds)} seed{'s' if len(meta.seeds) != 1 else ''} (ranking needs {MIN_SEEDS})"
    return RANKED, ""


def score_entry(entry: Entry, scorer: BenchmarkScorer | Evaluator, *, cache: ResultsCache | None = None) -> Scored:
    """Validate and score every file of ``entry``; seeds are pooled over folds for a fold benchmark.

    cache: runs whose key (files' sha256, benchmark fingerprint, scorer and package versions,
    bootstrap) has a valid record are taken from it without reading their files; the others are
    read, scored and stored. The entry-level checks (same splits in every file, no copied seeds)
    run on every file either way.
    """
    if isinstance(scorer, Evaluator):
        scorer = BenchmarkScorer(scorer.root)
    scorer.check_metadata(entry.metadata, where=str(entry.path / METADATA_FILE))
    runs = entry.runs()
    keys: dict[int, dict] = {}
    cached: dict[int, CachedRun] = {}
    if cache is not None:
        for seed, per_fold in runs.items():
            shas = {fold: file_sha256(path, scorer.evaluator(fold).limits) for fold, path in per_fold.items()}
            keys[seed] = run_key(scorer.key, per_fold, shas)
            hit = cache.get(keys[seed], lambda text, key=keys[seed]: parse_run(key, text), what=f"entry {entry.name} seed {seed}")
            if hit is not None:
                cached[seed] = hit
    submissions: dict[int, dict[int | None, object]] = {}
    files: dict[tuple[int, int | None], CachedFile] = {}
    for seed, per_fold in runs.items():
        if seed in cached:
            submissions[seed] = {f.fold: FileRef(per_fold[f.fold], f.sha256) for f in cached[seed].files}
            files.update({(seed, f.fold): f for f in cached[seed].files})
            continue
        submissions[seed] = {fold: scorer.evaluator(fold).read(path) for fold, path in per_fold.items()}
        for fold, sub in submissions[seed].items():
            files[seed, fold] = CachedFile(fold=fold, file=sub.path.name, sha256=sub.sha256, splits=sorted(sub.splits), embeddings=_embedding_digest(sub))
    covered = {run: tuple(f.splits) for run, f in files.items()}
    if len(set(covered.values())) > 1:
        shown = {f"seed {s}" + (f" fold {f}" if f is not None else ""): list(c) for (s, f), c in covered.items()}
        raise PhenoBenchError(
            f"{entry.path}: the seed files cover different test splits ({shown}); "
            "every seed (and fold) of an entry must embed the same splits"
        )
    _refuse_copied_seeds(entry, {run: f.embeddings for run, f in files.items()})
    results, texts = {}, {}
    for seed, per_fold in submissions.items():
        if seed in cached:
            record = cached[seed]
            r = record.results
        else:
            r = scorer.score_run(runs[seed], per_fold)
            if cache is not None:
                text = None if r is None else json_text(r.model_dump(mode="json"))
                record = CachedRun(files=[files[seed, fold] for fold in sorted(per_fold, key=_fold_order)], results=r, published=text)
                if {fold: sha for fold, _, sha in keys[seed]["files"]} == {fold: sub.sha256 for fold, sub in per_fold.items()}:
                    cache.put(keys[seed], record.model_dump_json())  # only when the bytes scored are the bytes keyed
        if r is not None:
            results[seed] = r
            if cache is not None:
                texts[seed] = record.published
    status, reason = eligibility(entry.metadata, scorer.folds)
    flags = sorted({f"{split}: {flag}" for r in results.values() for split, sr in r.splits.items() for flag in sr.flags})
    return Scored(entry, submissions, results, status, reason, flags, cached=sorted(cached), keys=keys, results_json=texts)


def _fold_order(fold: int | None) -> int:
    return -1 if fold is None else fold


def _embedding_digest(submission) -> str:
    """sha256 over a submission's embeddings (split by split, in the benchmark's order), not its metadata."""
    import hashlib

    digest = hashlib.sha256()
    for split in sorted(submission.splits):
        emb = submission.splits[split]
        digest.update(split.encode())
        digest.update(np.ascontiguousarray(emb.queries, dtype=np.float32).tobytes())
        digest.update(np.ascontiguousarray(emb.candidates, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _refuse_copied_seeds(entry: Entry, digests: Mapping[tuple[int, int | None], str]) -> None:
    """Two seeds of one fold with identical embeddings are one run copied: they would fake replication
    (the ranking rule asks for several seeds), so the entry is refused.

    digests: (seed, fold) -> sha256 of that file's embeddings (:func:`_embedding_digest`).
    """
    folds = {fold for _, fold in digests}
    for fold in sorted(folds, key=_fold_order):
        seen: dict[str, int] = {}
        for seed in sorted(s for s, f in digests if f == fold):
            key = digests[seed, fold]
            if key in seen:
                where = f" (fold {fold})" if fold is not None else ""
                raise PhenoBenchError(
                    f"{entry.path}: seed {seed}{where} has the same embeddings as seed {seen[key]}: a copy of one run, not a "
                    "second seed; submit one file per independently trained seed"
                )
            seen[key] = seed


def check_comparable(results: Mapping[str, Results]) -> None:
    """Refuse results (label -> Results) of different benchmark fingerprints or scorer versions."""
    ensure_comparable(results)
    versions = {r.scorer_version for r in results.values()}
    if len(versions) > 1:
        raise PhenoBenchError(
            f"results were made by scorer versions {', '.join(sorted(versions))}; a leaderboard shows one "
            "scorer version: re-score every entry with `pheno-bench leaderboard build`"
        )
