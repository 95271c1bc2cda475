"""An entry's seed runs: its files read into per-query views, one per run (a run: one seed, every
fold pooled), and the bootstrap over molecules **and** runs that :mod:`pheno_bench.compare` (both
sides of a verdict) and :func:`entry_interval` (one entry's board interval) share.

In every bootstrap replicate the molecules are drawn with replacement (the scorer's
:func:`~pheno_bench.scoring.split_rng` weights) and the runs are drawn with replacement
(:func:`seed_counts`, from :func:`seed_rng`, independent of the molecules); the replicate's value
is the metric of the runs' per-query values averaged with the drawn multiplicities. Row 0 (every run
once, every molecule once) is the point estimate: the plain average over runs, as before.
"""

from __future__ import annotations

import os
import zlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import is_fold_set
from pheno_bench.metric_ids import VIEWS, parse_metric_id
from pheno_bench.averages import bootstrap_weights, intervals
from pheno_bench.metrics import METRICS, N_VALUES
from pheno_bench.power import SeedInterval
from pheno_bench.registry import locate
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.scoring import Scorer, View, cell_estimates, fold_numbers, locate_submission_benchmark, partitions, pool_views, split_rng, subset_status
from pheno_bench.submission import peek_metadata


def average_views(views: Sequence[View], counts: Sequence[int] | None = None) -> View:
    """Per-query values averaged over seed runs of one model (same queries, same order).

    counts: how many times each run is drawn (a bootstrap replicate's seed resample); None: once each.
    A single run drawn (alone or several times) is returned as it is (its tied blocks kept)."""
    counts = np.ones(len(views), dtype=np.int64) if counts is None else np.asarray(counts)
    drawn = np.flatnonzero(counts)
    if len(drawn) == 1:
        return views[int(drawn[0])]
    if (counts == counts[0]).all():
        mean = lambda name: np.mean([getattr(v, name) for v in views], axis=0)
    else:
        mean = lambda name: np.tensordot(counts / counts.sum(), np.stack([getattr(v, name) for v in views]), axes=1)
    first = views[0]
    return View(mean("values"), mean("pessimistic"), first.chance, first.labels, first.n_candidates)


def split_views(evaluator: Scorer, files: Sequence, split: str) -> dict[str, list[View]] | None:
    """{view name: one View per file (seed run)} of one benchmark (or fold); None if a file skips the split."""
    ranked = [evaluator.rank(f) for f in files]
    if any(split not in r for r in ranked):
        return None
    return {view: [getattr(r[split], view) for r in ranked] for view in VIEWS}


def seed_counts(n_runs: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n_bootstrap, n_runs) int64: row 0 all ones (the point estimate: every run once), then how
    many times each run is drawn in each resample of n_runs runs with replacement (all ones for one run)."""
    if n_runs == 1:
        return np.ones((1 + n_bootstrap, 1), dtype=np.int64)
    draws = rng.integers(0, n_runs, size=(n_bootstrap, n_runs)) + np.arange(n_bootstrap)[:, None] * n_runs
    counts = np.bincount(draws.ravel(), minlength=n_bootstrap * n_runs).reshape(n_bootstrap, n_runs)
    return np.vstack([np.ones((1, n_runs), dtype=np.int64), counts])


def seed_rng(seed: int, split: str, side: str) -> np.random.Generator:
    """The generator of one side's seed resamples in one split (independent of the molecules' :func:`split_rng`)."""
    return np.random.default_rng([seed, zlib.crc32(split.encode()), zlib.crc32(f"seeds/{side}".encode())])


class SeedRuns:
    """One side's seed runs of one split: their views, the seed resample of every bootstrap row,
    and the run-averaged view of each distinct resample (computed once)."""

    def __init__(self, runs: dict[str, list[View]], counts: np.ndarray):
        self.runs, self.counts = runs, counts
        self.patterns, inverse = np.unique(counts, axis=0, return_inverse=True)
        self.rows = [np.flatnonzero(inverse.ravel() == p) for p in range(len(self.patterns))]
        self._averaged: dict[tuple[str, int], View] = {}

    def view(self, name: str, pattern: int) -> View:
        if (name, pattern) not in self._averaged:
            self._averaged[name, pattern] = average_views(self.runs[name], self.patterns[pattern])
        return self._averaged[name, pattern]

    def estimates(self, name: str, part: np.ndarray, weights: np.ndarray, molecule: np.ndarray) -> np.ndarray:
        """(2 averages, rows, N_VALUES) the subset ``part >= 0`` under each row's molecule weights and seed resample."""
        out = np.full((2, len(weights), N_VALUES), np.nan)
        for p, rows in enumerate(self.rows):
            _, est = cell_estimates(self.view(name, p), part, weights[rows], molecule)
            out[:, rows] = est[:, :, 0]
        return out


def runs_note(runs_a: dict, runs_b: dict, averaged: dict[str, str]) -> str:
    """How the seeds enter the interval, for PrimaryDifference.seeds."""
    parts = []
    for side, runs in (("a", runs_a), ("b", runs_b)):
        n = len(next(iter(runs.values()))) if runs else 0
        if side in averaged:
            parts.append(f"{side}: {averaged[side]}")
        elif n > 1:
            parts.append(f"{side}: {n} runs resampled with the molecules")
        else:
            parts.append(f"{side}: one run")
    return "; ".join(parts)


def scored_subsets(view: View, split: str):
    """(subset name, part codes: 0 for its rows, -1 elsewhere) of every scored subset of ``view``."""
    molecule, _ = view.molecule_codes()
    in_train = view.labels["in_train"].to_numpy(dtype=bool)
    for field_name, codes, names in partitions(view, split):
        if field_name != "subsets":
            continue
        for g, subset in enumerate(names):
            part = np.where(codes == g, 0, -1)
            mols = np.unique(molecule[part >= 0])
            if mols.size and subset_status(field_name, subset, split, int(mols.size), bool(in_train[part >= 0].all()))[0] == "scored":
                yield subset, part


def bootstrap_se(diff: np.ndarray) -> float:
    return float(np.nanstd(diff, ddof=1)) if np.isfinite(diff).sum() > 1 else np.nan


def run_views(evaluator: Scorer, subs: Sequence) -> dict[str, dict[str, list[View]]]:
    """split -> view -> one View per submission (run), for the splits every submission covers."""
    return {split: v for split in TEST_SPLITS if (v := split_views(evaluator, subs, split)) is not None}


def files_by_fold(files: Sequence[str | os.PathLike], who: str) -> dict[int, list[Path]]:
    out: dict[int, list[Path]] = defaultdict(list)
    for path in map(Path, files):
        fold = peek_metadata(path).fold
        if fold is None:
            raise PhenoBenchError(f"{path}: its metadata names no fold, but {who}'s other files are fold files; give every fold's files")
        out[fold].append(path)
    return dict(out)


def pooled_runs(evaluators: dict[int, Scorer], by: dict[int, list[Path]], folds: list[int]) -> tuple[dict, str | None]:
    """split -> view -> one pooled View per run (run r: the r-th file of every fold), and None; or, when
    the folds hold different numbers of files, one run of the per-fold averages and the reason."""
    counts = {len(by[k]) for k in folds}
    out = {}
    for split in TEST_SPLITS:
        per_fold = {k: split_views(evaluators[k], by[k], split) for k in folds}
        if any(v is None for v in per_fold.values()):
            continue
        if len(counts) == 1:
            out[split] = {view: [pool_views([per_fold[k][view][r] for k in folds], folds) for r in range(len(by[folds[0]]))] for view in VIEWS}
        else:
            out[split] = {view: [pool_views([average_views(per_fold[k][view]) for k in folds], folds)] for view in VIEWS}
    note = None if len(counts) == 1 else f"seeds averaged per fold, not resampled (folds hold {', '.join(str(len(by[k])) for k in folds)} files)"
    return out, note


def entry_views(files: Sequence[str | os.PathLike], benchmark) -> tuple[str | None, dict, str | None]:
    """(primary metric id, split -> view -> one View per run, why the seeds are averaged or None) of one entry."""
    folded = {peek_metadata(p).fold is not None for p in files}
    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(files[0])
    if folded != {True} or not is_fold_set(root):
        scorer = Scorer(root)
        return scorer.primary_metric, run_views(scorer, [scorer.read(f) for f in files]), None
    folds = fold_numbers(root)
    by = files_by_fold(files, "the entry")
    if missing := sorted(set(folds) - set(by)):
        raise PhenoBenchError(f"the entry has no file for fold(s) {missing} of {root.name}; its interval needs every fold")
    evaluators = {k: Scorer(root, fold=k) for k in folds}
    views, note = pooled_runs(evaluators, by, folds)
    return evaluators[folds[0]].primary_metric, views, note


def entry_interval(
    files: Sequence[str | os.PathLike], *, benchmark: str | os.PathLike | None = None, n_bootstrap: int = 1000, seed: int = 0,
) -> SeedInterval | None:
    """One entry's primary metric with an interval over molecules **and** training seeds (for its board row).

    files: the entry's files (one per seed; for a fold benchmark one per seed and fold). Each bootstrap
    replicate draws the molecules with replacement and the seed runs with replacement (as
    :func:`compare_entries` does for each side); value: the run average; low, high: the percentile
    interval; se: the SD of the replicates; se_molecules: the same with the runs fixed (the scorer's
    interval of the run average); sd_seeds: the SD of the runs' own values. With n runs, resampling
    them gives (n - 1) / n of their variance of the mean (the plain bootstrap's shrink). None when the
    primary subset is not scored or the entry does not cover its split.
    """
    primary, views, note = entry_views(files, benchmark)
    if primary is None:
        return None
    split, view, subset, average, metric = parse_metric_id(primary)
    if split not in views:
        return None
    runs = views[split][view]
    part = dict(scored_subsets(runs[0], split)).get(subset)
    if part is None:
        return None
    molecule, n_molecules = runs[0].molecule_codes()
    weights = bootstrap_weights(n_molecules, n_resamples=n_bootstrap, rng=split_rng(seed, split))
    a_i, j = ("micro", "macro").index(average), METRICS.index(metric)
    both = SeedRuns(views[split], seed_counts(len(runs), n_bootstrap, seed_rng(seed, split, "a"))).estimates(view, part, weights, molecule)[a_i, :, j]
    fixed = SeedRuns(views[split], np.ones((n_bootstrap + 1, len(runs)), dtype=np.int64)).estimates(view, part, weights, molecule)[a_i, :, j]
    per_run = [float(cell_estimates(run, part, weights[:1], molecule)[1][a_i, 0, 0, j]) for run in runs]
    low, high = intervals(both[1:]) if n_bootstrap else (np.nan, np.nan)
    method = "bootstrap over molecules and seed runs (percentile)" if note is None else f"bootstrap over molecules; {note}"
    return SeedInterval(
        value=float(both[0]), low=float(low), high=float(high), se=bootstrap_se(both[1:]), se_molecules=bootstrap_se(fixed[1:]),
        sd_seeds=float(np.std(per_run, ddof=1)) if len(per_run) > 1 else 0.0, n_seeds=len(runs), values=tuple(per_run),
        method=method,
    )
