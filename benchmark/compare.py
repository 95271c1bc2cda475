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
- **Seeds and folds pooled, seed variance included** (the runs machinery is :mod:`pheno_bench.runs`): a fold benchmark's files are pooled across
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
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy.special import erfc, ndtri

from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import is_fold_set
from pheno_bench.metric_ids import VIEWS, metric_label, parse_metric_id
from pheno_bench.averages import bootstrap_weights, intervals
from pheno_bench.metrics import CI_LEVEL, LOWER_IS_BETTER, METRICS, TOP_K_METRICS, top_k_count
from pheno_bench.power import minimum_detectable_difference, verdict_statement
from pheno_bench.registry import locate
from pheno_bench.runs import (  # noqa: F401 (average_views, entry_interval, seed_counts, seed_rng: re-exported)
    SeedRuns,
    average_views,
    bootstrap_se,
    entry_interval,
    files_by_fold,
    pooled_runs,
    run_views,
    runs_note,
    scored_subsets,
    seed_counts,
    seed_rng,
)
from pheno_bench.results import BootstrapInfo, Comparison, Difference, PrimaryDifference
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.scoring import SCORER_VERSION, Scorer, View, fold_numbers, fold_set_reference, locate_submission_benchmark, split_rng, submission_ref
from pheno_bench.submission import peek_metadata

ALPHA = 1 - CI_LEVEL


def _verdict(metric: str, low: float, high: float) -> str:
    sign = -1 if metric in LOWER_IS_BETTER else 1
    if sign * low > 0 and sign * high > 0:
        return "better"
    if sign * low < 0 and sign * high < 0:
        return "worse"
    return "tied"


def _opt(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


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
    seeds: str = "resample",
    primary_only: bool = False,
) -> tuple[PrimaryDifference | None, dict, dict[str, str], int, int]:
    """Paired comparison of two models' views (split -> view -> one View per seed run; a bare View is one run).

    Returns the primary difference, split -> cell -> metric -> Difference, the splits not compared, the
    Holm family size m and the resamples B used (``n_bootstrap``, or None: :func:`holm_resamples` of m).
    ``averaged``: side -> why its seeds were averaged and not resampled (for the note); ``seeds``:
    "resample" (runs drawn with replacement in every replicate) or "average" (runs fixed: molecules only,
    the scorer 4.0 reading, kept to measure what the seeds add). ``primary_only``: the primary cell alone
    (the same numbers: every split's molecule and seed draws come from their own streams; no secondary cells)."""
    if seeds not in ("resample", "average"):
        raise PhenoBenchError(f"seeds must be 'resample' or 'average', not {seeds!r}")
    if seeds == "average":
        averaged = {"a": "runs averaged, not resampled", "b": "runs averaged, not resampled"}
    primary_parts = parse_metric_id(primary) if primary else None
    as_runs = lambda views: {split: {name: v if isinstance(v, list) else [v] for name, v in per.items()} for split, per in views.items()}
    views_a, views_b = as_runs(views_a), as_runs(views_b)
    note = runs_note(next(iter(views_a.values()), {}), next(iter(views_b.values()), {}), averaged or {})
    skipped = {}
    cells = []  # (split, view, subset, part)
    for split in TEST_SPLITS:
        if split not in views_a or split not in views_b:
            skipped[split] = "not covered by " + " and ".join(n for n, v in (("a", views_a), ("b", views_b)) if split not in v)
            continue
        cells += [(split, view, subset, part) for view in VIEWS for subset, part in scored_subsets(views_a[split][view][0], split)]
    if primary_only:
        cells = [c for c in cells if primary_parts is not None and c[:3] == primary_parts[:3]]
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
            counts = lambda n, side: (seed_counts(n, n_bootstrap, seed_rng(seed, split, side)) if seeds == "resample" and side not in (averaged or {})
                                      else np.ones((n_bootstrap + 1, n), dtype=np.int64))
            sides[split] = weights, {side: SeedRuns(views[split], counts(len(views[split]["per_query"]), side)) for side, views in (("a", views_a), ("b", views_b))}
        weights, runs = sides[split]
        va = views_a[split][view][0]
        molecule, _ = va.molecule_codes()  # sorted InChIKeys: the same codes in every run and both sides
        rows_a = runs["a"].estimates(view, part, weights, molecule)
        rows_b = runs["b"].estimates(view, part, weights, molecule)
        for a_i, average in enumerate(("micro", "macro")):
            cell = f"{view}/{subset}" + ("/macro" if average == "macro" else "")
            for j, metric in enumerate(METRICS):
                if is_primary(split, view, subset, average, metric):
                    primary_diff = _primary(primary, metric, rows_a[a_i, :, j], rows_b[a_i, :, j], va.n_candidates, note)
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


def _primary(metric_id: str, metric: str, a: np.ndarray, b: np.ndarray, n_candidates, seeds: str) -> PrimaryDifference:
    k = top_k_count(TOP_K_METRICS[metric], n_candidates) if metric in TOP_K_METRICS and isinstance(n_candidates, int) else None
    diff = a - b
    low, high = intervals(diff[1:]) if len(diff) > 1 else (np.nan, np.nan)
    verdict = _verdict(metric, low, high) if np.isfinite(low) else "tied"
    se = bootstrap_se(diff[1:])
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
                      level=CI_LEVEL, p_value=percentile_p(diff[1:]), p_holm=None, exploratory=True, se=_opt(bootstrap_se(diff[1:])))


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
    se = np.array([bootstrap_se(d[1:]) for d in diffs])
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


def compare_runs(evaluator: Scorer, a_files: Sequence, b_files: Sequence, *, n_bootstrap: int | None = 1000, seed: int = 0, seeds: str = "resample") -> Comparison:
    """Compare two entries of one benchmark without folds: a_files / b_files are their seed files (runs, resampled).
    n_bootstrap None: enough resamples for the Holm family (:func:`holm_resamples`)."""
    subs_a = [evaluator.read(f) for f in a_files]
    subs_b = [evaluator.read(f) for f in b_files]
    views_a, views_b = run_views(evaluator, subs_a), run_views(evaluator, subs_b)
    primary_diff, splits, skipped, family, n_bootstrap = compare_views(views_a, views_b, primary=evaluator.primary_metric, n_bootstrap=n_bootstrap, seed=seed, seeds=seeds)
    return _comparison(evaluator.reference, [submission_ref(s) for s in subs_a], [submission_ref(s) for s in subs_b], primary_diff, splits, skipped, family, n_bootstrap, seed)


def compare_entries(
    a_files: Sequence[str | os.PathLike],
    b_files: Sequence[str | os.PathLike],
    *,
    benchmark: str | os.PathLike | None = None,
    n_bootstrap: int | None = 1000,
    seed: int = 0,
    seeds: str = "resample",
) -> Comparison:
    """Compare two leaderboard entries (or two files): seeds and folds pooled, paired bootstrap over molecules,
    seed runs resampled in every replicate (see the module docstring).

    a_files, b_files: every submission file of each entry (one per seed; for a fold benchmark one
    per seed and fold, the fold read from each file's metadata). ``comparison.primary.verdict`` is
    the verdict on the primary metric (``statement``: with its bound; ``mde``: the minimum detectable
    difference); ``comparison.splits`` holds the Holm-adjusted secondary cells. n_bootstrap None:
    enough resamples for the Holm family to reach a verdict (:func:`holm_resamples`; the CLI's default).
    seeds: "resample" (default) or "average" (seed runs fixed, only the molecules resampled).
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
        return compare_runs(Scorer(benchmark or locate_submission_benchmark(a_files[0])), a_files, b_files, n_bootstrap=n_bootstrap, seed=seed, seeds=seeds)
    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(a_files[0])
    if not is_fold_set(root):  # fold files for a benchmark without folds: the reader refuses them, naming the file
        return compare_runs(Scorer(root), a_files, b_files, n_bootstrap=n_bootstrap, seed=seed, seeds=seeds)
    folds = fold_numbers(root)
    by_a, by_b = files_by_fold(a_files, "a"), files_by_fold(b_files, "b")
    for who, by in (("a", by_a), ("b", by_b)):
        if missing := sorted(set(folds) - set(by)):
            raise PhenoBenchError(f"entry {who} has no file for fold(s) {missing} of {root.name}; pooled comparisons need every fold")
    evaluators = {k: Scorer(root, fold=k) for k in folds}
    (views_a, note_a), (views_b, note_b) = pooled_runs(evaluators, by_a, folds), pooled_runs(evaluators, by_b, folds)
    averaged = {side: note for side, note in (("a", note_a), ("b", note_b)) if note}
    primary = evaluators[folds[0]].primary_metric
    primary_diff, splits, skipped, family, n_bootstrap = compare_views(views_a, views_b, primary=primary, n_bootstrap=n_bootstrap, seed=seed, averaged=averaged, seeds=seeds)
    refs = lambda by: [submission_ref(evaluators[k].read(p)) for k in folds for p in by[k]]
    return _comparison(fold_set_reference(root), refs(by_a), refs(by_b), primary_diff, splits, skipped, family, n_bootstrap, seed)


