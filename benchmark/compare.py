"""Verdicts a reader can act on: is model A better than, worse than or tied with model B?

- **Primary verdict**: on the benchmark's primary metric, a - b with a paired percentile bootstrap
  interval over molecules (both models scored on the same resampled molecules); better / worse
  when the 95% interval excludes 0, tied otherwise. This is the leaderboard's tie rule. The verdict
  carries its bound (``statement``: "tied: a is at most +4.3 better and at most 3.4 worse than b"),
  the standard deviation of the bootstrap differences (``se``) and the minimum detectable difference
  at 80 % power, two-sided 5 % (``mde`` = (z_0.975 + z_0.8) * se, :mod:`pheno_bench.power`).
- **Every other cell** (split x view x subset x micro/macro x metric, subsets that are scored):
  a two-sided p-value from the bootstrap standard error (normal approximation), Holm-adjusted over
  the whole family; the cell's interval is at the Holm level of its step, so a verdict other than
  tied means the adjusted p-value is below 0.05 and the interval excludes 0.
- **p-values are floored at 1 / (resamples + 1)**: B resamples cannot resolve a smaller p-value, so
  none is reported (the normal tail of a z of 6 is not evidence the bootstrap gives). Holm is applied
  to the floored values: a family of m cells can reject only when m / (B + 1) < 0.05, so secondary
  verdicts need B >= 20 m resamples (``Comparison.p_floor``, ``holm_cells``; the CLI says so).
- **Seeds and folds pooled, seed variance included**: a fold benchmark's files are pooled across
  folds (as in :func:`pheno_bench.scoring.pooling.evaluate_folds`); an entry with several seed runs
  (a run: one seed, all folds) is scored on the per-query values averaged over its runs, and each
  bootstrap replicate **resamples the runs with replacement** (independently for a and b, with the
  molecules paired), so the interval includes training-seed variance. The point estimate is the
  plain average over runs. Runs are matched across folds by their order in each fold; folds with
  different numbers of files are averaged per fold and not resampled (``PrimaryDifference.seeds`` says which).

Built on the public API of :mod:`pheno_bench.scoring` (:class:`~pheno_bench.scoring.Scorer`, views,
subsets, estimates); ``Evaluator.compare`` and :func:`pheno_bench.evaluate.compare_submissions` call it.
"""

from __future__ import annotations

import math
import os
import zlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.special import erfc, ndtri

from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import is_fold_set
from pheno_bench.metric_ids import VIEWS, metric_label, parse_metric_id
from pheno_bench.metrics import CI_LEVEL, LOWER_IS_BETTER, METRICS, N_VALUES, TOP_K_METRICS, bootstrap_weights, intervals, top_k_count
from pheno_bench.power import SeedInterval, minimum_detectable_difference, verdict_statement
from pheno_bench.registry import locate
from pheno_bench.results import BootstrapInfo, Comparison, Difference, PrimaryDifference
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.scoring import (
    SCORER_VERSION,
    Scorer,
    View,
    cell_estimates,
    fold_numbers,
    fold_set_reference,
    locate_submission_benchmark,
    partitions,
    pool_views,
    split_rng,
    submission_ref,
    subset_status,
)
from pheno_bench.submission import peek_metadata

ALPHA = 1 - CI_LEVEL


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


def _split_views(evaluator: Scorer, files: Sequence, split: str) -> dict[str, list[View]] | None:
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


class _Runs:
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


def _seeds_note(runs_a: dict, runs_b: dict, averaged: dict[str, str]) -> str:
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


def _verdict(metric: str, low: float, high: float) -> str:
    sign = -1 if metric in LOWER_IS_BETTER else 1
    if sign * low > 0 and sign * high > 0:
        return "better"
    if sign * low < 0 and sign * high < 0:
        return "worse"
    return "tied"


def _opt(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _scored_subsets(view: View, split: str):
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


def holm_resamples(m: int, *, alpha: float = ALPHA, step: int = 1000) -> int:
    """The resamples a Holm family of ``m`` cells needs: the smallest multiple of ``step`` (at least
    ``step``) with m / (B + 1) <= alpha / 2, so that a cell at the p-value floor 1 / (B + 1) is rejected
    with room to spare (191 cells on cell-injury-v2: 8,000)."""
    return max(step, step * math.ceil((2 * m / alpha - 1) / step))


def compare_views(
    views_a: dict[str, dict[str, list[View]]],
    views_b: dict[str, dict[str, list[View]]],
    *,
    primary: str | None,
    n_bootstrap: int | None,
    seed: int,
    averaged: dict[str, str] | None = None,
) -> tuple[PrimaryDifference | None, dict, dict[str, str], int, int]:
    """Paired comparison of two models' views (split -> view -> one View per seed run; a bare View is one run).

    Returns the primary difference, split -> cell -> metric -> Difference, the splits not compared, the
    Holm family size m and the resamples B used (``n_bootstrap``, or None: :func:`holm_resamples` of m).
    ``averaged``: side -> why its seeds were averaged and not resampled (for the note)."""
    primary_parts = parse_metric_id(primary) if primary else None
    as_runs = lambda views: {split: {name: v if isinstance(v, list) else [v] for name, v in per.items()} for split, per in views.items()}
    views_a, views_b = as_runs(views_a), as_runs(views_b)
    seeds = _seeds_note(next(iter(views_a.values()), {}), next(iter(views_b.values()), {}), averaged or {})
    skipped = {}
    cells = []  # (split, view, subset, part)
    for split in TEST_SPLITS:
        if split not in views_a or split not in views_b:
            skipped[split] = "not covered by " + " and ".join(n for n, v in (("a", views_a), ("b", views_b)) if split not in v)
            continue
        cells += [(split, view, subset, part) for view in VIEWS for subset, part in _scored_subsets(views_a[split][view][0], split)]
    is_primary = lambda split, view, subset, average, metric: primary_parts == (split, view, subset, average, metric)
    family = sum(not is_primary(split, view, subset, average, metric) and metric not in EXPLORATORY_METRICS
                 for split, view, subset, _ in cells for average in ("micro", "macro") for metric in METRICS)
    n_bootstrap = holm_resamples(family) if n_bootstrap is None else n_bootstrap
    raw: list[tuple[str, str, str, np.ndarray, np.ndarray]] = []  # (split, cell, metric, a rows, b rows)
    primary_diff = None
    sides: dict = {}
    for split, view, subset, part in cells:
        if split not in sides:
            _, n_molecules = views_a[split]["per_query"][0].molecule_codes()
            weights = bootstrap_weights(n_molecules, n_resamples=n_bootstrap, rng=split_rng(seed, split))
            sides[split] = weights, {side: _Runs(views[split], seed_counts(len(views[split]["per_query"]), n_bootstrap, seed_rng(seed, split, side)))
                                     for side, views in (("a", views_a), ("b", views_b))}
        weights, runs = sides[split]
        va = views_a[split][view][0]
        molecule, _ = va.molecule_codes()  # sorted InChIKeys: the same codes in every run and both sides
        rows_a = runs["a"].estimates(view, part, weights, molecule)
        rows_b = runs["b"].estimates(view, part, weights, molecule)
        for a_i, average in enumerate(("micro", "macro")):
            cell = f"{view}/{subset}" + ("/macro" if average == "macro" else "")
            for j, metric in enumerate(METRICS):
                if is_primary(split, view, subset, average, metric):
                    primary_diff = _primary(primary, metric, rows_a[a_i, :, j], rows_b[a_i, :, j], va.n_candidates, seeds)
                else:
                    raw.append((split, cell, metric, rows_a[a_i, :, j], rows_b[a_i, :, j]))
    holm = _holm(raw, p_floor(n_bootstrap))
    ordered = {split: {cell: {metric: holm[split][cell][metric] for metric in METRICS if metric in holm[split][cell]} for cell in holm[split]} for split in holm}
    return primary_diff, ordered, skipped, family, n_bootstrap


def p_floor(n_bootstrap: int) -> float:
    """The smallest p-value ``n_bootstrap`` resamples can report: 1 / (n_bootstrap + 1)."""
    return 1.0 / (n_bootstrap + 1)


def percentile_p(diff: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a - b = 0 from the resampled differences ``diff`` (NaN rows dropped):
    2 * (1 + #resamples on the far side of 0) / (B + 1), at most 1, so never below 1 / (B + 1)."""
    rest = diff[np.isfinite(diff)]
    if not rest.size:
        return 1.0
    tail = min(np.sum(rest <= 0), np.sum(rest >= 0))
    return float(min(1.0, 2 * (1 + tail) / (rest.size + 1)))


def _se(diff: np.ndarray) -> float:
    return float(np.nanstd(diff, ddof=1)) if np.isfinite(diff).sum() > 1 else np.nan


def _primary(metric_id: str, metric: str, a: np.ndarray, b: np.ndarray, n_candidates, seeds: str) -> PrimaryDifference:
    k = top_k_count(TOP_K_METRICS[metric], n_candidates) if metric in TOP_K_METRICS and isinstance(n_candidates, int) else None
    diff = a - b
    low, high = intervals(diff[1:]) if len(diff) > 1 else (np.nan, np.nan)
    verdict = _verdict(metric, low, high) if np.isfinite(low) else "tied"
    se = _se(diff[1:])
    return PrimaryDifference(
        id=metric_id, label=metric_label(metric_id, k, n_candidates if k is not None else None), a=float(a[0]), b=float(b[0]), difference=float(diff[0]),
        low=_opt(low), high=_opt(high), verdict=verdict, level=CI_LEVEL, p_value=percentile_p(diff[1:]) if len(diff) > 1 else None,
        se=_opt(se), mde=minimum_detectable_difference(_opt(se)),
        statement=verdict_statement(verdict, _opt(low), _opt(high), metric), seeds=seeds,
    )


#: metrics whose bootstrap standard error is unreliable (the median is not smooth): their cells get a
#: percentile interval and are marked exploratory, outside the Holm family
EXPLORATORY_METRICS = frozenset({"median_rank"})


def _exploratory(a: np.ndarray, b: np.ndarray, metric: str) -> Difference:
    diff = a - b
    low, high = intervals(diff[1:]) if len(diff) > 1 else (np.nan, np.nan)
    verdict = _verdict(metric, low, high) if np.isfinite(low) else "tied"
    return Difference(a=float(a[0]), b=float(b[0]), difference=float(diff[0]), low=_opt(low), high=_opt(high), verdict=verdict,
                      level=CI_LEVEL, p_value=percentile_p(diff[1:]), p_holm=None, exploratory=True, se=_opt(_se(diff[1:])))


def _holm(raw, floor: float) -> dict:
    """Holm-adjusted differences for every secondary cell, nested split -> cell -> metric
    (cells of EXPLORATORY_METRICS: percentile interval, marked exploratory). p-values below ``floor``
    (1 / (B + 1)) are raised to it before the adjustment."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for split, cell, metric, a, b in raw:
        if metric in EXPLORATORY_METRICS:
            out[split][cell][metric] = _exploratory(a, b, metric)
    raw = [r for r in raw if r[2] not in EXPLORATORY_METRICS]
    m = len(raw)
    diffs = [a - b for *_, a, b in raw]
    point = np.array([d[0] for d in diffs])
    se = np.array([_se(d[1:]) for d in diffs])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, np.abs(point) / se, np.where(point == 0, 0.0, np.inf))
    p = np.where(np.isfinite(se) | (se == 0), erfc(z / np.sqrt(2)), 1.0)
    p = np.maximum(p, floor)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order])) if m else np.array([])
    p_holm = np.empty(m)
    p_holm[order] = adjusted
    # the Holm level of each step: alpha / (m - i) up to the first step not rejected, then frozen
    step_alpha = np.empty(m)
    rejected = adjusted < ALPHA
    stop = int(np.argmin(rejected)) if not rejected.all() else m - 1
    for i, idx in enumerate(order):
        step_alpha[idx] = ALPHA / (m - min(i, stop))
    for i, (split, cell, metric, a, b) in enumerate(raw):
        half = ndtri(1 - step_alpha[i] / 2) * se[i] if np.isfinite(se[i]) else np.nan
        low, high = point[i] - half, point[i] + half
        verdict = "tied" if not p_holm[i] < ALPHA else _verdict(metric, low, high)
        out[split][cell][metric] = Difference(
            a=float(a[0]), b=float(b[0]), difference=float(point[i]), low=_opt(low), high=_opt(high), verdict=verdict,
            level=float(1 - step_alpha[i]), p_value=float(p[i]), p_holm=float(p_holm[i]), exploratory=False, se=_opt(se[i]),
        )
    return {split: dict(cells) for split, cells in out.items()}


def _comparison(reference, a_refs, b_refs, primary_diff, splits, skipped, family, n_bootstrap, seed) -> Comparison:
    return Comparison(
        scorer_version=SCORER_VERSION, benchmark=reference, a=a_refs[0], b=b_refs[0],
        bootstrap=BootstrapInfo(n_resamples=n_bootstrap, seed=seed, level=CI_LEVEL),
        primary=primary_diff, splits=splits, not_compared=skipped, a_files=a_refs, b_files=b_refs, holm_cells=family,
        p_floor=p_floor(n_bootstrap),
    )


def _run_views(evaluator: Scorer, subs: Sequence) -> dict[str, dict[str, list[View]]]:
    """split -> view -> one View per submission (run), for the splits every submission covers."""
    return {split: v for split in TEST_SPLITS if (v := _split_views(evaluator, subs, split)) is not None}


def compare_runs(evaluator: Scorer, a_files: Sequence, b_files: Sequence, *, n_bootstrap: int | None = 1000, seed: int = 0) -> Comparison:
    """Compare two entries of one benchmark without folds: a_files / b_files are their seed files (runs, resampled).
    n_bootstrap None: enough resamples for the Holm family (:func:`holm_resamples`)."""
    subs_a = [evaluator.read(f) for f in a_files]
    subs_b = [evaluator.read(f) for f in b_files]
    views_a, views_b = _run_views(evaluator, subs_a), _run_views(evaluator, subs_b)
    primary_diff, splits, skipped, family, n_bootstrap = compare_views(views_a, views_b, primary=evaluator.primary_metric, n_bootstrap=n_bootstrap, seed=seed)
    return _comparison(evaluator.reference, [submission_ref(s) for s in subs_a], [submission_ref(s) for s in subs_b], primary_diff, splits, skipped, family, n_bootstrap, seed)


def _by_fold(files: Sequence[str | os.PathLike], who: str) -> dict[int, list[Path]]:
    out: dict[int, list[Path]] = defaultdict(list)
    for path in map(Path, files):
        fold = peek_metadata(path).fold
        if fold is None:
            raise PhenoBenchError(f"{path}: its metadata names no fold, but {who}'s other files are fold files; give every fold's files")
        out[fold].append(path)
    return dict(out)


def _pooled_runs(evaluators: dict[int, Scorer], by: dict[int, list[Path]], folds: list[int]) -> tuple[dict, str | None]:
    """split -> view -> one pooled View per run (run r: the r-th file of every fold), and None; or, when
    the folds hold different numbers of files, one run of the per-fold averages and the reason."""
    counts = {len(by[k]) for k in folds}
    out = {}
    for split in TEST_SPLITS:
        per_fold = {k: _split_views(evaluators[k], by[k], split) for k in folds}
        if any(v is None for v in per_fold.values()):
            continue
        if len(counts) == 1:
            out[split] = {view: [pool_views([per_fold[k][view][r] for k in folds], folds) for r in range(len(by[folds[0]]))] for view in VIEWS}
        else:
            out[split] = {view: [pool_views([average_views(per_fold[k][view]) for k in folds], folds)] for view in VIEWS}
    note = None if len(counts) == 1 else f"seeds averaged per fold, not resampled (folds hold {', '.join(str(len(by[k])) for k in folds)} files)"
    return out, note


def compare_entries(
    a_files: Sequence[str | os.PathLike],
    b_files: Sequence[str | os.PathLike],
    *,
    benchmark: str | os.PathLike | None = None,
    n_bootstrap: int | None = 1000,
    seed: int = 0,
) -> Comparison:
    """Compare two leaderboard entries (or two files): seeds and folds pooled, paired bootstrap over molecules,
    seed runs resampled in every replicate (see the module docstring).

    a_files, b_files: every submission file of each entry (one per seed; for a fold benchmark one
    per seed and fold, the fold read from each file's metadata). ``comparison.primary.verdict`` is
    the verdict on the primary metric (``statement``: with its bound; ``mde``: the minimum detectable
    difference); ``comparison.splits`` holds the Holm-adjusted secondary cells. n_bootstrap None:
    enough resamples for the Holm family to reach a verdict (:func:`holm_resamples`; the CLI's default).
    """
    if not a_files or not b_files:
        raise PhenoBenchError("compare needs at least one submission file on each side")
    metas = [peek_metadata(p) for p in [*a_files, *b_files]]
    names = {m.benchmark for m in metas}
    if benchmark is None and len(names) > 1:
        raise PhenoBenchError(f"{a_files[0]} and {b_files[0]} are for different benchmarks ({', '.join(sorted(names))}); compare submissions for one benchmark")
    folded = {m.fold is not None for m in metas}
    if folded != {True}:
        if folded == {True, False}:
            raise PhenoBenchError("some files name a fold and others do not; compare fold files with fold files of the same benchmark")
        return compare_runs(Scorer(benchmark or locate_submission_benchmark(a_files[0])), a_files, b_files, n_bootstrap=n_bootstrap, seed=seed)
    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(a_files[0])
    if not is_fold_set(root):  # fold files for a benchmark without folds: the reader refuses them, naming the file
        return compare_runs(Scorer(root), a_files, b_files, n_bootstrap=n_bootstrap, seed=seed)
    folds = fold_numbers(root)
    by_a, by_b = _by_fold(a_files, "a"), _by_fold(b_files, "b")
    for who, by in (("a", by_a), ("b", by_b)):
        if missing := sorted(set(folds) - set(by)):
            raise PhenoBenchError(f"entry {who} has no file for fold(s) {missing} of {root.name}; pooled comparisons need every fold")
    evaluators = {k: Scorer(root, fold=k) for k in folds}
    (views_a, note_a), (views_b, note_b) = _pooled_runs(evaluators, by_a, folds), _pooled_runs(evaluators, by_b, folds)
    averaged = {side: note for side, note in (("a", note_a), ("b", note_b)) if note}
    primary = evaluators[folds[0]].primary_metric
    primary_diff, splits, skipped, family, n_bootstrap = compare_views(views_a, views_b, primary=primary, n_bootstrap=n_bootstrap, seed=seed, averaged=averaged)
    refs = lambda by: [submission_ref(evaluators[k].read(p)) for k in folds for p in by[k]]
    return _comparison(fold_set_reference(root), refs(by_a), refs(by_b), primary_diff, splits, skipped, family, n_bootstrap, seed)


def _entry_views(files: Sequence[str | os.PathLike], benchmark) -> tuple[str | None, dict, str | None]:
    """(primary metric id, split -> view -> one View per run, why the seeds are averaged or None) of one entry."""
    folded = {peek_metadata(p).fold is not None for p in files}
    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(files[0])
    if folded != {True} or not is_fold_set(root):
        scorer = Scorer(root)
        return scorer.primary_metric, _run_views(scorer, [scorer.read(f) for f in files]), None
    folds = fold_numbers(root)
    by = _by_fold(files, "the entry")
    if missing := sorted(set(folds) - set(by)):
        raise PhenoBenchError(f"the entry has no file for fold(s) {missing} of {root.name}; its interval needs every fold")
    evaluators = {k: Scorer(root, fold=k) for k in folds}
    views, note = _pooled_runs(evaluators, by, folds)
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
    primary, views, note = _entry_views(files, benchmark)
    if primary is None:
        return None
    split, view, subset, average, metric = parse_metric_id(primary)
    if split not in views:
        return None
    runs = views[split][view]
    part = dict(_scored_subsets(runs[0], split)).get(subset)
    if part is None:
        return None
    molecule, n_molecules = runs[0].molecule_codes()
    weights = bootstrap_weights(n_molecules, n_resamples=n_bootstrap, rng=split_rng(seed, split))
    a_i, j = ("micro", "macro").index(average), METRICS.index(metric)
    both = _Runs(views[split], seed_counts(len(runs), n_bootstrap, seed_rng(seed, split, "a"))).estimates(view, part, weights, molecule)[a_i, :, j]
    fixed = _Runs(views[split], np.ones((n_bootstrap + 1, len(runs)), dtype=np.int64)).estimates(view, part, weights, molecule)[a_i, :, j]
    per_run = [float(cell_estimates(run, part, weights[:1], molecule)[1][a_i, 0, 0, j]) for run in runs]
    low, high = intervals(both[1:]) if n_bootstrap else (np.nan, np.nan)
    method = "bootstrap over molecules and seed runs (percentile)" if note is None else f"bootstrap over molecules; {note}"
    return SeedInterval(
        value=float(both[0]), low=float(low), high=float(high), se=_se(both[1:]), se_molecules=_se(fixed[1:]),
        sd_seeds=float(np.std(per_run, ddof=1)) if len(per_run) > 1 else 0.0, n_seeds=len(runs), values=tuple(per_run),
        method=method,
    )
