"""Verdicts a reader can act on: is model A better than, worse than or tied with model B?

- **Primary verdict**: on the benchmark's primary metric, a - b with a paired percentile bootstrap
  interval over molecules (both models scored on the same resampled molecules); better / worse
  when the 95% interval excludes 0, tied otherwise. This is the leaderboard's tie rule.
- **Every other cell** (split x view x subset x micro/macro x metric, subsets that are scored):
  a two-sided p-value from the bootstrap standard error (normal approximation: percentile p-values
  cannot go below 1 / resamples, too coarse for a correction over ~100 cells), Holm-adjusted over
  the whole family; the cell's interval is at the Holm level of its step, so a verdict other than
  tied means the adjusted p-value is below 0.05 and the interval excludes 0.
- **Seeds and folds pooled**: an entry with several seeds is compared on the per-query values
  averaged over its seeds; a fold benchmark's files are pooled across folds (as in
  :func:`pheno_bench.scoring.pooling.evaluate_folds`) before the bootstrap.

Built on the public API of :mod:`pheno_bench.scoring` (:class:`~pheno_bench.scoring.Scorer`, views,
subsets, estimates); ``Evaluator.compare`` and :func:`pheno_bench.evaluate.compare_submissions` call it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.special import erfc, ndtri

from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import is_fold_set
from pheno_bench.metric_ids import VIEWS, metric_label, parse_metric_id
from pheno_bench.metrics import CI_LEVEL, LOWER_IS_BETTER, METRICS, TOP_K_METRICS, bootstrap_weights, intervals, top_k_count
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


def average_views(views: Sequence[View]) -> View:
    """Per-query values averaged over seed runs of one model (same queries, same order)."""
    if len(views) == 1:
        return views[0]
    mean = lambda name: np.mean([getattr(v, name) for v in views], axis=0)
    first = views[0]
    return View(mean("values"), mean("pessimistic"), first.chance, first.labels, first.n_candidates)


def _split_views(evaluator: Scorer, files: Sequence, split: str) -> dict[str, View] | None:
    """{view name: seed-averaged View} of one benchmark (or fold) for ``files``; None if a file skips the split."""
    ranked = [evaluator.rank(f) for f in files]
    if any(split not in r for r in ranked):
        return None
    return {view: average_views([getattr(r[split], view) for r in ranked]) for view in VIEWS}


def _difference_rows(view_a: View, view_b: View, codes: np.ndarray, weights: np.ndarray, molecule: np.ndarray) -> np.ndarray:
    """(2 averages, rows, 6) a - b under each bootstrap row, for the subset ``codes >= 0``."""
    _, est_a = cell_estimates(view_a, codes, weights, molecule)
    _, est_b = cell_estimates(view_b, codes, weights, molecule)
    return np.stack([est_a[:, :, 0], est_b[:, :, 0]])  # (a|b, average, rows, 6)


def _verdict(metric: str, low: float, high: float) -> str:
    sign = -1 if metric in LOWER_IS_BETTER else 1
    if sign * low > 0 and sign * high > 0:
        return "better"
    if sign * low < 0 and sign * high < 0:
        return "worse"
    return "tied"


def _opt(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def compare_views(
    views_a: dict[str, dict[str, View]],
    views_b: dict[str, dict[str, View]],
    *,
    primary: str | None,
    n_bootstrap: int,
    seed: int,
) -> tuple[PrimaryDifference | None, dict, dict[str, str], int]:
    """Paired comparison of two models' views (split -> view -> View); returns the primary
    difference, split -> cell -> metric -> Difference, the splits not compared, and the Holm family size."""
    primary_parts = parse_metric_id(primary) if primary else None
    raw: list[tuple[str, str, str, np.ndarray, np.ndarray]] = []  # (split, cell, metric, a rows, b rows)
    primary_diff = None
    skipped = {}
    for split in TEST_SPLITS:
        if split not in views_a or split not in views_b:
            skipped[split] = "not covered by " + " and ".join(n for n, v in (("a", views_a), ("b", views_b)) if split not in v)
            continue
        _, n_molecules = views_a[split]["per_query"].molecule_codes()
        weights = bootstrap_weights(n_molecules, n_resamples=n_bootstrap, rng=split_rng(seed, split))
        for view in VIEWS:
            va, vb = views_a[split][view], views_b[split][view]
            molecule, _ = va.molecule_codes()  # sorted InChIKeys: the same codes in both views
            in_train = va.labels["in_train"].to_numpy(dtype=bool)
            for field_name, codes, names in partitions(va, split):
                if field_name != "subsets":
                    continue
                for g, subset in enumerate(names):
                    part = np.where(codes == g, 0, -1)
                    mols = np.unique(molecule[part >= 0])
                    if mols.size == 0:
                        continue
                    status, _ = subset_status(field_name, subset, split, int(mols.size), bool(in_train[part >= 0].all()))
                    if status != "scored":
                        continue
                    rows = _difference_rows(va, vb, part, weights, molecule)
                    for a_i, average in enumerate(("micro", "macro")):
                        cell = f"{view}/{subset}" + ("/macro" if average == "macro" else "")
                        for j, metric in enumerate(METRICS):
                            if primary_parts == (split, view, subset, average, metric):
                                primary_diff = _primary(primary, metric, rows[0, a_i, :, j], rows[1, a_i, :, j], va.n_candidates)
                            else:
                                raw.append((split, cell, metric, rows[0, a_i, :, j], rows[1, a_i, :, j]))
    holm = _holm(raw)
    ordered = {split: {cell: {metric: holm[split][cell][metric] for metric in METRICS if metric in holm[split][cell]} for cell in holm[split]} for split in holm}
    return primary_diff, ordered, skipped, sum(r[2] not in EXPLORATORY_METRICS for r in raw)


def _primary(metric_id: str, metric: str, a: np.ndarray, b: np.ndarray, n_candidates) -> PrimaryDifference:
    k = top_k_count(TOP_K_METRICS[metric], n_candidates) if metric in TOP_K_METRICS and isinstance(n_candidates, int) else None
    diff = a - b
    low, high = intervals(diff[1:]) if len(diff) > 1 else (np.nan, np.nan)
    verdict = _verdict(metric, low, high) if np.isfinite(low) else "tied"
    return PrimaryDifference(
        id=metric_id, label=metric_label(metric_id, k, n_candidates if k is not None else None), a=float(a[0]), b=float(b[0]), difference=float(diff[0]),
        low=_opt(low), high=_opt(high), verdict=verdict, level=CI_LEVEL,
    )


#: metrics whose bootstrap standard error is unreliable (the median is not smooth): their cells get a
#: percentile interval and are marked exploratory, outside the Holm family
EXPLORATORY_METRICS = frozenset({"median_rank"})


def _exploratory(a: np.ndarray, b: np.ndarray, metric: str) -> Difference:
    diff = a - b
    low, high = intervals(diff[1:]) if len(diff) > 1 else (np.nan, np.nan)
    rest = diff[1:][np.isfinite(diff[1:])]
    p = min(1.0, 2 * min(np.mean(rest <= 0), np.mean(rest >= 0))) if rest.size else 1.0
    verdict = _verdict(metric, low, high) if np.isfinite(low) else "tied"
    return Difference(a=float(a[0]), b=float(b[0]), difference=float(diff[0]), low=_opt(low), high=_opt(high), verdict=verdict,
                      level=CI_LEVEL, p_value=float(p), p_holm=None, exploratory=True)


def _holm(raw) -> dict:
    """Holm-adjusted differences for every secondary cell, nested split -> cell -> metric
    (cells of EXPLORATORY_METRICS: percentile interval, marked exploratory)."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for split, cell, metric, a, b in raw:
        if metric in EXPLORATORY_METRICS:
            out[split][cell][metric] = _exploratory(a, b, metric)
    raw = [r for r in raw if r[2] not in EXPLORATORY_METRICS]
    m = len(raw)
    diffs = [a - b for *_, a, b in raw]
    point = np.array([d[0] for d in diffs])
    se = np.array([np.nanstd(d[1:], ddof=1) if np.isfinite(d[1:]).sum() > 1 else np.nan for d in diffs])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, np.abs(point) / se, np.where(point == 0, 0.0, np.inf))
    p = np.where(np.isfinite(se) | (se == 0), erfc(z / np.sqrt(2)), 1.0)
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
            level=float(1 - step_alpha[i]), p_value=float(p[i]), p_holm=float(p_holm[i]), exploratory=False,
        )
    return {split: dict(cells) for split, cells in out.items()}


def _comparison(reference, a_refs, b_refs, primary_diff, splits, skipped, family, n_bootstrap, seed) -> Comparison:
    return Comparison(
        scorer_version=SCORER_VERSION, benchmark=reference, a=a_refs[0], b=b_refs[0],
        bootstrap=BootstrapInfo(n_resamples=n_bootstrap, seed=seed, level=CI_LEVEL),
        primary=primary_diff, splits=splits, not_compared=skipped, a_files=a_refs, b_files=b_refs, holm_cells=family,
    )


def compare_runs(evaluator: Scorer, a_files: Sequence, b_files: Sequence, *, n_bootstrap: int = 1000, seed: int = 0) -> Comparison:
    """Compare two entries of one benchmark without folds: a_files / b_files are their seed files (pooled)."""
    subs_a = [evaluator.read(f) for f in a_files]
    subs_b = [evaluator.read(f) for f in b_files]
    views_a, views_b = {}, {}
    for split in TEST_SPLITS:
        if (va := _split_views(evaluator, subs_a, split)) is not None:
            views_a[split] = va
        if (vb := _split_views(evaluator, subs_b, split)) is not None:
            views_b[split] = vb
    primary_diff, splits, skipped, family = compare_views(views_a, views_b, primary=evaluator.primary_metric, n_bootstrap=n_bootstrap, seed=seed)
    return _comparison(evaluator.reference, [submission_ref(s) for s in subs_a], [submission_ref(s) for s in subs_b], primary_diff, splits, skipped, family, n_bootstrap, seed)


def _by_fold(files: Sequence[str | os.PathLike], who: str) -> dict[int, list[Path]]:
    out: dict[int, list[Path]] = defaultdict(list)
    for path in map(Path, files):
        fold = peek_metadata(path).fold
        if fold is None:
            raise PhenoBenchError(f"{path}: its metadata names no fold, but {who}'s other files are fold files; give every fold's files")
        out[fold].append(path)
    return dict(out)


def compare_entries(
    a_files: Sequence[str | os.PathLike],
    b_files: Sequence[str | os.PathLike],
    *,
    benchmark: str | os.PathLike | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Compare two leaderboard entries (or two files): seeds pooled, folds pooled, paired bootstrap over molecules.

    a_files, b_files: every submission file of each entry (one per seed; for a fold benchmark one
    per seed and fold, the fold read from each file's metadata). ``comparison.primary.verdict`` is
    the verdict on the primary metric; ``comparison.splits`` holds the Holm-adjusted secondary cells.
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
    views_a, views_b = {}, {}
    for split in TEST_SPLITS:
        for by, out in ((by_a, views_a), (by_b, views_b)):
            per_fold = {k: _split_views(evaluators[k], by[k], split) for k in folds}
            if all(v is not None for v in per_fold.values()):
                out[split] = {view: pool_views([per_fold[k][view] for k in folds], folds) for view in VIEWS}
    primary = evaluators[folds[0]].primary_metric
    primary_diff, splits, skipped, family = compare_views(views_a, views_b, primary=primary, n_bootstrap=n_bootstrap, seed=seed)
    refs = lambda by: [submission_ref(evaluators[k].read(p)) for k in folds for p in by[k]]
    return _comparison(fold_set_reference(root), refs(by_a), refs(by_b), primary_diff, splits, skipped, family, n_bootstrap, seed)
