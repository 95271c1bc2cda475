"""Leaderboard ranking: paired verdicts on the primary metric, ranks, the headline table.

Entries are ranked on the benchmark's **primary metric** from **paired verdicts** (better / worse /
tied, the scorer's paired bootstrap over molecules, :mod:`pheno_bench.compare`): an entry's rank is
1 + the number of ranked entries significantly better than it, so entries that cannot be told
apart share a rank. Probes are reference rows: compared with every entry ("above the probes" only
when the verdict says so) but never ranked. Re-scoring the entries is :mod:`.rescore`'s (its names
are re-exported here, their earlier home).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pheno_bench.metric_ids import VIEWS, parse_metric_id
from pheno_bench.scoring import View, pool_views

from pheno_bench.compare import compare_views
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard.primary_views import run_views
from pheno_bench.leaderboard.cache import BOOTSTRAP_SEED, N_BOOTSTRAP, VERDICT_SEEDS, ResultsCache, parse_verdict, verdict_key
from pheno_bench.leaderboard.rescore import (  # noqa: F401 (re-exported)
    DEFAULT_PRIMARY,
    KEYS,
    MIN_PROBE_SEEDS,
    MIN_SEEDS,
    NOT_RANKED,
    PROBE,
    RANKED,
    BenchmarkScorer,
    PrimaryMetric,
    Scored,
    aggregate_seeds,
    check_comparable,
    eligibility,
    pooled_fold_results,
    primary_metric,
    results_frame,
    score_entry,
)


@dataclass(frozen=True)
class Verdict:
    """a against b on the primary metric: difference a - b (seed means), its interval, the verdict.

    method: how seeds (and folds) were combined (the scorer pools them: per-query values averaged
    over seeds, folds concatenated, then one paired bootstrap over molecules).
    """

    a: str
    b: str
    difference: float
    low: float | None
    high: float | None
    verdict: str
    method: str

    def flipped(self) -> "Verdict":
        other = {"better": "worse", "worse": "better"}.get(self.verdict, self.verdict)
        low, high = (None if self.high is None else -self.high), (None if self.low is None else -self.low)
        return Verdict(self.b, self.a, -self.difference, low, high, other, self.method)


def compare_primary(a: Scored, b: Scored, scorer: BenchmarkScorer, cache: ResultsCache | None = None) -> Verdict | None:
    """a against b on the primary metric, seeds (and folds) pooled: the scorer's paired bootstrap
    over molecules (:func:`pheno_bench.compare.compare_views`, as ``compare_runs`` / ``compare_entries``
    pool them, the primary cell alone). None when either has no complete run.

    Every file is read once per build, and only the primary metric's split of it ranked, by the
    board's own scorers (kept across pairs); with a ``cache``, a run taken from it has its views read
    from it too (:mod:`.primary_views`): its files are not read at all."""
    seeds_a = [s for s in sorted(a.submissions) if s in a.results]
    seeds_b = [s for s in sorted(b.submissions) if s in b.results]
    if not seeds_a or not seeds_b:
        return None
    metric = scorer.evaluator(None if scorer.folds is None else scorer.folds[0]).primary_metric
    if not metric:
        return None
    split = parse_metric_id(metric)[0]  # only the primary metric's split is ranked: the other cells are not computed
    d, *_ = compare_views(
        _pooled_views(a, seeds_a, scorer, split, cache), _pooled_views(b, seeds_b, scorer, split, cache), primary=metric, n_bootstrap=N_BOOTSTRAP,
        seed=BOOTSTRAP_SEED, seeds=VERDICT_SEEDS, primary_only=True,
    )
    if d is None:
        return None
    return Verdict(a.name, b.name, d.difference, d.low, d.high, d.verdict, "molecules and seed runs resampled" + (", folds pooled" if scorer.fold_set is not None else ""))


def _pooled_views(x: Scored, seeds: list[int], scorer: BenchmarkScorer, split: str, cache: ResultsCache | None = None) -> dict[str, dict[str, list[View]]]:
    """{split: view -> the entry's seed runs}: one View per seed, pooled over the folds, as
    :func:`pheno_bench.compare.compare_entries` builds them ({} when a file does not embed the split)."""
    folds = scorer.folds or [None]
    runs = [run_views(x, s, scorer, split, cache) for s in seeds]
    if any(r is None for r in runs):
        return {}
    if scorer.folds is None:
        return {split: {view: [r[None][view] for r in runs] for view in VIEWS}}
    # a run is one seed across every fold (as pheno_bench.runs.pooled_runs): resampled in each replicate
    return {split: {view: [pool_views([r[k][view] for k in folds], folds) for r in runs] for view in VIEWS}}


def _needed(a: Scored, b: Scored) -> bool:
    """Whether the board uses a against b: a ranked entry is in it, or one of them is a probe."""
    return RANKED in (a.status, b.status) or (a.status == PROBE) != (b.status == PROBE)


def _runs_key(s: Scored) -> list:
    """The runs a verdict pools for ``s``: (seed, [(fold, file name, sha256), ...]) for every seed with results."""
    order = lambda item: -1 if item[0] is None else item[0]
    return [
        [seed, [[fold, Path(sub.path).name, sub.sha256] for fold, sub in sorted(s.submissions[seed].items(), key=order)]]
        for seed in sorted(s.submissions) if seed in s.results
    ]


def _verdict_payload(verdict: Verdict | None) -> str | None:
    """The JSON a verdict is cached as (None: not cached, a number is not finite)."""
    if verdict is None:
        return "null"
    fields = {"difference": verdict.difference, "low": verdict.low, "high": verdict.high, "verdict": verdict.verdict, "method": verdict.method}
    try:
        return json.dumps(fields, allow_nan=False)
    except ValueError:
        return None


def paired_verdicts(scored: list[Scored], scorer: BenchmarkScorer | Evaluator, *, cache: ResultsCache | None = None) -> dict[tuple[str, str], Verdict]:
    """(a, b) -> a against b on the primary metric, both orders, for the pairs the board uses.

    Those are every pair with a ranked entry in it (ranks, entry pages) and every entry against
    every probe ("above the probes"); two probes, or two unranked entries, are not compared.
    cache: a verdict whose two sides' files, benchmark and scorer are unchanged is taken from it.
    """
    if isinstance(scorer, Evaluator):
        scorer = BenchmarkScorer(scorer.root)
    out = {}
    for i, a in enumerate(scored):
        for b in scored[i + 1 :]:
            if not _needed(a, b):
                continue
            key = verdict_key(_runs_key(a), _runs_key(b), primary=scorer.primary.id, benchmark=scorer.key) if cache is not None else None
            hit = cache.get(key, lambda text: (parse_verdict(text),), what=f"the verdict {a.name} against {b.name}") if cache is not None else None
            if hit is not None:
                stored = hit[0]
                verdict = None if stored is None else Verdict(a.name, b.name, stored.difference, stored.low, stored.high, stored.verdict, stored.method)
            else:
                verdict = compare_primary(a, b, scorer, cache)
                if cache is not None and (payload := _verdict_payload(verdict)) is not None:
                    cache.put(key, payload)
            if verdict is not None:
                out[a.name, b.name] = verdict
                out[b.name, a.name] = verdict.flipped()
    return out


def beats(verdicts: Mapping[tuple[str, str], Verdict]) -> set[tuple[str, str]]:
    """Pairs (winner, loser) whose verdict is 'better'."""
    return {(a, b) for (a, b), v in verdicts.items() if v.verdict == "better"}


def rank_entries(means: Mapping[str, float], wins: set[tuple[str, str]], *, higher_is_better: bool = True) -> list[tuple[str, int, bool]]:
    """(entry, rank, tied), best first: by rank, then by mean, then by name.

    rank = 1 + the number of entries of ``means`` significantly better (in ``wins``); tied:
    another entry has the same rank.
    """
    sign = -1 if higher_is_better else 1
    ranks = {e: 1 + sum((other, e) in wins for other in means if other != e) for e in means}
    order = sorted(means, key=lambda e: (ranks[e], sign * means[e], e))
    counts = pd.Series(ranks, dtype=int).value_counts()
    return [(e, ranks[e], bool(counts[ranks[e]] > 1)) for e in order]


@dataclass
class BoardRow:
    """One row of a headline table: an entry (ranked or not) or a probe, with its primary number."""

    name: str
    status: str
    reason: str
    mean: float | None
    low: float | None
    high: float | None
    std: float | None
    seeds: int
    folds: int | None
    rank: int | None = None
    tied: bool = False
    above_probes: bool | None = None
    probes_not_beaten: list[str] = field(default_factory=list)


def board(scored: list[Scored], verdicts: Mapping[tuple[str, str], Verdict], primary: PrimaryMetric) -> list[BoardRow]:
    """The headline table: ranked entries in rank order, probes and unranked entries in place.

    A probe or unranked entry is placed just above the first ranked entry whose primary mean is
    worse than its own; rows without a number go last. ``above_probes`` is True only when the
    paired verdict says better than every probe.
    """
    sign = 1 if primary.higher_is_better else -1
    rows = {}
    for s in scored:
        estimates = [e for r in s.results.values() if (e := primary.estimate(r)) is not None]
        values = [e.value for e in estimates]
        lows = [e.low for e in estimates if e.low is not None]
        highs = [e.high for e in estimates if e.high is not None]
        rows[s.name] = BoardRow(
            s.name, s.status, s.reason,
            float(np.mean(values)) if values else None, min(lows) if lows else None, max(highs) if highs else None,
            float(np.std(values, ddof=1)) if len(values) > 1 else None, len(s.entry.metadata.seeds),
            None if s.entry.metadata.folds is None else len(s.entry.metadata.folds),
        )
    ranked = {n: r.mean for n, r in rows.items() if r.status == RANKED and r.mean is not None}
    for name, rank, tied in rank_entries(ranked, {(a, b) for a, b in beats(verdicts) if a in ranked and b in ranked}, higher_is_better=primary.higher_is_better):
        rows[name].rank, rows[name].tied = rank, tied
    probes = [n for n, r in rows.items() if r.status == PROBE and r.mean is not None]
    for name, row in rows.items():
        if row.status != PROBE and row.mean is not None and probes:
            row.probes_not_beaten = sorted(p for p in probes if getattr(verdicts.get((name, p)), "verdict", None) != "better")
            row.above_probes = not row.probes_not_beaten
    first = sorted((r for r in rows.values() if r.rank is not None), key=lambda r: (r.rank, -sign * r.mean, r.name))
    others = sorted((r for r in rows.values() if r.rank is None and r.mean is not None), key=lambda r: (-sign * r.mean, r.name))
    order: list[BoardRow] = []
    while first or others:
        if others and (not first or sign * others[0].mean > sign * first[0].mean):
            order.append(others.pop(0))
        else:
            order.append(first.pop(0))
    return order + sorted((r for r in rows.values() if r.mean is None), key=lambda r: r.name)
