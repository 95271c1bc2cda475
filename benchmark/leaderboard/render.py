"""Leaderboard pages: re-scored entries -> Markdown pages, SVG plots and results JSON for mkdocs.

:func:`build` re-scores every entry under ``submissions/`` (:mod:`.rescore`, ranks by :mod:`.ranking`), then writes
``<site>/leaderboard/``: an index, and per benchmark a page whose first table is the headline
(rank from paired verdicts on the primary metric, probes as marked reference rows), the detailed
per-split tables collapsed below, plots, a data card and one page per entry. Every string from an
entry sits inside a raw HTML block (never parsed as Markdown) and is HTML-escaped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import replace_folder, write_text
from pheno_bench.leaderboard.entries import Entry, discover, staging_folder
from pheno_bench.leaderboard.ranking import BoardRow, board, paired_verdicts
from pheno_bench.leaderboard.rescore import (
    KEYS, MIN_PROBE_SEEDS, MIN_SEEDS, NOT_RANKED, PROBE, RANKED, BenchmarkScorer, PrimaryMetric, Scored, aggregate_seeds,
    check_comparable, results_frame, score_entry,
)
from pheno_bench.manifest import SplitStats
from pheno_bench.metric_ids import HEADERS, SUBSET_ORDER, TOP_K_PERCENT, k_of_folds, metric_label
from pheno_bench.metrics import METRICS
from pheno_bench.results import dose_sort_key, write_results
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.scoring import SCORER_VERSION
from pheno_bench.text import format_value, printable

TABLE_METRICS = ("top_1pct", "top_5pct", "molecule_top_1pct", "mrr", "median_rank")
BREAKDOWN_METRICS = ("top_1pct", "top_5pct", "mrr")
DETAIL_SUBSETS = ("all", "active")
#: A dose level is plotted only when at least this many molecules stand behind it (the scorer
#: gives an interval from 10 molecules on; fewer are descriptive only).
MIN_DOSE_MOLECULES = 10
DEFINITIONS = {
    "top_1pct": "share of queries whose true (molecule, dose) candidate is within the top 1% of the split's candidates",
    "top_5pct": "the same within the top 5%",
    "molecule_top_1pct": "share of queries whose true molecule, at its best-ranked dose, is within the top 1%",
    "molecule_top_5pct": "the same within the top 5%",
    "mrr": "mean over queries of 1 / rank of the true candidate",
    "median_rank": "median rank of the true candidate (lower is better)",
}


def primary_label(primary: PrimaryMetric, scorer: BenchmarkScorer | None = None) -> str:
    """The scorer's words for the primary metric: 'unseen_molecules, active queries, macro top-5%'.

    With the benchmark's ``scorer``, a top-K% metric states its k as ``evaluate`` prints it:
    '... macro top-5% (k = 9 of 174)', or for a fold benchmark '(k = 9 of 162–174 per fold)'.
    """
    label = metric_label(primary.id)
    if scorer is not None and (k := split_k(scorer, primary.split).get(primary.metric)):
        label += f" ({k})"
    return label


def split_k(scorer: BenchmarkScorer, split: str) -> dict[str, str]:
    """metric -> 'k = 2 of 174' for each top-K% metric of ``split`` (issue 8 req. 4: every top-K% says its k).

    Each split ranks its own candidate list, so k differs between splits; a fold benchmark ranks
    each fold against that fold's candidates ('k = 2 of 162–174 per fold').
    """
    if scorer.folds is None:
        key = scorer.evaluator(None).keys.get(split)
        if key is None:
            return {}
        n = len(key.candidate_ids)
        return {m: f"k = {-(-p * n // 100)} of {n}" for m, p in TOP_K_PERCENT.items()}
    by_fold = {str(k): len(scorer.evaluator(k).keys[split].candidate_ids) for k in scorer.folds if split in scorer.evaluator(k).keys}
    return {m: k_of_folds(p, by_fold) for m, p in TOP_K_PERCENT.items()} if by_fold else {}


def environment() -> jinja2.Environment:
    """Templates with every value HTML-escaped, control characters shown escaped and line breaks turned into single spaces.

    A value can then never end the raw HTML block it sits in (a blank line would) and be read
    as Markdown.
    """
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pheno_bench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=lambda value: printable(re.sub(r"\s*\n\s*", " ", value)) if isinstance(value, str) else value,
    )



def _num(value: float | None, metric: str) -> str:
    return "–" if value is None or pd.isna(value) else format_value(value, metric)


def _cell(row, *, interval: bool = False) -> str:
    """'mean ± std' (one seed: the value alone); with interval, 'value [low–high]'."""
    metric = row["metric"]
    if interval:
        value = format_value(row["value"], metric)
        return value if pd.isna(row["low"]) else f"{value} [{format_value(row['low'], metric)}–{format_value(row['high'], metric)}]"
    text = format_value(row["mean"], metric)
    return text if row["n"] < 2 else f"{text} ± {format_value(row['std'], metric)}"


def _sort_value(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.6f}"


def _metrics_context(metrics=METRICS) -> list[dict]:
    return [{"key": m, "label": HEADERS[m], "definition": DEFINITIONS[m]} for m in metrics]


def _select(agg: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(agg), dtype=bool)
    for column, value in where.items():
        mask &= (agg[column] == value).to_numpy()
    return agg[mask]


def _lookup(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, dict]:
    return {tuple(row[k] for k in keys): row for row in frame.to_dict("records")}


def _rank_text(row: BoardRow) -> str:
    if row.status == PROBE:
        return "probe"
    if row.rank is None:
        return "not ranked"
    return f"{'=' if row.tied else ''}{row.rank}"


def _probe_text(row: BoardRow, n_probes: int) -> tuple[str, str]:
    """(cell, tooltip) of the 'vs probes' column."""
    if row.status == PROBE:
        return "reference", "a probe: a training-free reference model"
    if row.above_probes is None:
        return "–", "no probe on this board"
    if row.above_probes:
        return f"above all {n_probes}", "better than every probe (paired verdict on the primary metric)"
    return f"not above {len(row.probes_not_beaten)} of {n_probes}", "not better than: " + ", ".join(row.probes_not_beaten)


def _headline(rows: list[BoardRow], scored: dict[str, Scored], primary: PrimaryMetric) -> list[dict]:
    n_probes = sum(r.status == PROBE and r.mean is not None for r in rows)
    out = []
    for position, row in enumerate(rows, start=1):
        s = scored[row.name]
        meta = s.entry.metadata
        value = _num(row.mean, primary.metric)
        if row.low is not None and row.mean is not None:
            value += f" [{format_value(row.low, primary.metric)}, {format_value(row.high, primary.metric)}]"
        probes, probes_title = _probe_text(row, n_probes)
        out.append({
            "entry": row.name, "href": f"entries/{row.name}.html", "model": meta.model, "kind": meta.kind, "status": row.status,
            "reason": row.reason, "seen": meta.test_molecules_seen, "flags": s.flags, "position": position,
            "rank": _rank_text(row), "value": value, "value_sort": _sort_value(row.mean),
            "sd": "" if row.std is None else format_value(row.std, primary.metric),
            "seeds": f"{row.seeds} × {row.folds}" if row.folds is not None else str(row.seeds), "runs": row.seeds * (row.folds or 1),
            "probes": probes, "probes_title": probes_title,
        })
    return out


def _detail_tables(agg: pd.DataFrame, order: list[str], scored: dict[str, Scored], average: str, scorer: BenchmarkScorer) -> list[dict]:
    """One collapsed table per (test split, subset): every entry's metrics, in headline order; top-K% headers state k."""
    cells = _lookup(agg, KEYS)
    tables = []
    for split in TEST_SPLITS:
        for subset in DETAIL_SUBSETS:
            present = _select(agg, split=split, view="per_query", kind="subsets", group=subset, average=average)
            if present.empty:
                continue
            names = [n for n in order if n in set(present["entry"])]
            where = (split, "per_query", "subsets", subset, average)
            row_of = lambda n, m: cells.get((n, *where, m))
            ks = split_k(scorer, split)
            tables.append({
                "split": split, "subset": subset, "queries": int(present["n_queries"].iloc[0]), "molecules": int(present["n_molecules"].iloc[0]),
                "headers": [
                    {"label": HEADERS[m] + (f" ({ks[m]})" if m in ks else ""), "definition": DEFINITIONS[m]}
                    for m in TABLE_METRICS
                ],
                "rows": [
                    {"entry": n, "href": f"entries/{n}.html", "status": scored[n].status,
                     "cells": [(_cell(r), _sort_value(r["mean"])) if (r := row_of(n, m)) is not None else ("–", "") for m in TABLE_METRICS],
                     "n": int(present[present["entry"] == n]["n"].iloc[0])}
                    for n in names
                ],
                "chance": [format_value(r["chance"], m) if (r := next((row_of(n, m) for n in names if row_of(n, m) is not None), None)) is not None else "–" for m in TABLE_METRICS],
                "missing": sorted(set(order) - set(names)),
            })
    return tables


def _plots(agg: pd.DataFrame, out: Path, rows: list[BoardRow], primary: PrimaryMetric) -> dict[str, str]:
    """Write the benchmark's SVG plots under ``out/plots``; return their paths relative to ``out``.

    A plot with nothing to show is not written (its key is absent).
    """
    try:
        from pheno_bench.plots import accuracy_plot, dose_plot, probe_plot, save_svg
    except ImportError:
        raise PhenoBenchError("the leaderboard plots need matplotlib: pip install 'pheno-bench[docs]'") from None
    metric, view, average = primary.metric, primary.view, primary.average
    scale = 1.0 if metric in ("median_rank", "mrr") else 100.0
    label = f"{average} {HEADERS.get(metric, metric)}" + ("" if scale == 1.0 else " (%)")
    order = [r.name for r in rows if r.mean is not None]
    probes = {r.name for r in rows if r.status == PROBE}
    top = _select(agg, view=view, average=average, metric=metric)
    subsets = top[(top["kind"] == "subsets") & top["group"].isin(DETAIL_SUBSETS)].assign(
        mean=lambda d: scale * d["mean"], low=lambda d: scale * d["low"].fillna(d["mean"]), high=lambda d: scale * d["high"].fillna(d["mean"]),
        seeds=lambda d: d["values"].map(lambda v: [scale * x for x in v]), subset=lambda d: d["group"],
    )
    splits = [s for s in TEST_SPLITS if (subsets["split"] == s).any()]
    paths: dict[str, str] = {}
    if splits and order:
        chance = {s: scale * subsets[subsets["split"] == s]["chance"].iloc[0] for s in splits}
        paths["accuracy"] = "plots/accuracy.svg"
        save_svg(accuracy_plot(subsets, splits=splits, entries=[e for e in order if e in set(subsets["entry"])], chance=chance, label=label, probes=probes), out / paths["accuracy"])
    doses = top[(top["kind"] == "by_dose") & (top["n_molecules"] >= MIN_DOSE_MOLECULES) & top["low"].notna() & ~top["entry"].isin(probes)].assign(
        dose=lambda d: d["group"].astype(float), mean=lambda d: scale * d["mean"],
        low=lambda d: (scale * d["low"].fillna(d["mean"])).clip(0, 100 if scale == 100 else None),
        high=lambda d: (scale * d["high"].fillna(d["mean"])).clip(0, 100 if scale == 100 else None),
    )
    dose_splits = [s for s in TEST_SPLITS if (doses["split"] == s).any()]
    if dose_splits:
        paths["dose"] = "plots/dose.svg"
        entries = [e for e in order if e in set(doses["entry"])]
        save_svg(dose_plot(doses, splits=dose_splits, entries=entries, label=label), out / paths["dose"])
    board_rows = [r for r in rows if r.mean is not None]
    if board_rows:
        table = pd.DataFrame({
            "entry": [r.name for r in board_rows], "mean": [scale * r.mean for r in board_rows],
            "low": [scale * (r.low if r.low is not None else r.mean) for r in board_rows],
            "high": [scale * (r.high if r.high is not None else r.mean) for r in board_rows],
            "probe": [r.status == PROBE for r in board_rows],
        })
        chance_rows = _select(agg, split=primary.split, view=view, kind="subsets", group=primary.subset, average=average, metric=metric)
        chance = scale * float(chance_rows["chance"].iloc[0]) if len(chance_rows) else None
        paths["probes"] = "plots/probes.svg"
        save_svg(probe_plot(table, label=f"{label}: {primary.subset} queries, {primary.split}", chance=chance), out / paths["probes"])
    return paths


def _verdicts_context(name: str, verdicts, scored: dict[str, Scored], rows: dict[str, BoardRow], primary: PrimaryMetric) -> list[dict]:
    out = []
    for other in (r for r in rows.values() if r.name != name):
        v = verdicts.get((name, other.name))
        if v is None:
            continue
        interval = "" if v.low is None else f" [{format_value(v.low, primary.metric)}, {format_value(v.high, primary.metric)}]"
        out.append({
            "other": other.name, "href": f"{other.name}.html", "status": other.status, "rank": _rank_text(other),
            "difference": f"{'+' if v.difference >= 0 else '−'}{format_value(abs(v.difference), primary.metric)}{interval}",
            "verdict": v.verdict, "method": v.method,
        })
    return out


SUMMARY_VIEWS = (("per_query", "micro", ""), ("per_query", "macro", ", macro"), ("averaged", "micro", ", averaged"))


def _entry_context(scored: Scored, agg: pd.DataFrame, average: str) -> dict:
    """Everything an entry page shows apart from its rank, as plain strings."""
    name = scored.entry.name
    mine = agg[agg["entry"] == name]
    cells = _lookup(mine, KEYS[1:])
    per_seed_cells = _lookup(results_frame({(name, seed): r for seed, r in scored.results.items()}), ["seed", *KEYS[1:]])
    summary, per_seed, parts = [], [], {"by_dose": [], "by_scaffold": []}
    text = lambda key: _cell(cells[key]) if key in cells else "–"
    for split in TEST_SPLITS:
        here = mine[(mine["split"] == split) & (mine["view"] == "per_query")]
        groups = {kind: set(here[here["kind"] == kind]["group"]) for kind in ("subsets", *parts)}
        if not groups["subsets"]:
            continue
        subsets = [s for s in SUBSET_ORDER if s in groups["subsets"]] + sorted(groups["subsets"] - set(SUBSET_ORDER))
        for view, avg, suffix in SUMMARY_VIEWS:
            for subset in subsets:
                rows = mine[(mine["split"] == split) & (mine["view"] == view) & (mine["kind"] == "subsets") & (mine["group"] == subset) & (mine["average"] == avg)]
                if len(rows):
                    summary.append({"split": split, "subset": subset + suffix, "queries": int(rows["n_queries"].iloc[0]),
                                    "cells": [text((split, view, "subsets", subset, avg, m)) for m in METRICS]})
        seeds = sorted(scored.results)
        per_seed.append({"split": split, "rows": [
            {"subset": subset, "metric": HEADERS[m],
             "cells": [_cell(per_seed_cells[k], interval=True) if (k := (seed, split, "per_query", "subsets", subset, average, m)) in per_seed_cells else "–" for seed in seeds]}
            for subset in subsets for m in METRICS
        ]})
        for kind in parts:
            keys = sorted(groups[kind], key=dose_sort_key if kind == "by_dose" else str)
            rows = []
            for g in keys:
                first = here[(here["kind"] == kind) & (here["group"] == g)].iloc[0]
                rows.append({"group": g, "queries": int(first["n_queries"]), "molecules": int(first["n_molecules"]),
                             "cells": [text((split, "per_query", kind, g, "micro", m)) for m in BREAKDOWN_METRICS]})
            parts[kind].append({"split": split, "rows": rows})
    meta = scored.entry.metadata
    return {
        "entry": {"name": name, **meta.model_dump(mode="json")},
        "summary": summary,
        "average": average,
        "per_seed": per_seed,
        "not_evaluated": [s for s in TEST_SPLITS if mine[mine["split"] == s].empty],
        "seeds": [
            {"seed": seed, "sha256": ", ".join(f"{'' if f is None else f'fold {f}: '}{sub.sha256}" for f, sub in sorted(scored.submissions[seed].items(), key=str)),
             "results": f"../results/{name}/seed-{seed}.json" if seed in scored.results else None,
             "flags": [f"{split}: {flag}" for split, sr in scored.results[seed].splits.items() for flag in sr.flags] if seed in scored.results else []}
            for seed in sorted(scored.submissions)
        ],
        "breakdowns": [
            {"title": "dose level (µM)", "open": True, "parts": parts["by_dose"], "labels": [HEADERS[m] for m in BREAKDOWN_METRICS],
             "note": "Per-query (micro) scores of the queries treated at each dose level (all queries); no interval below 10 molecules."},
            {"title": "scaffold", "open": False, "parts": parts["by_scaffold"], "labels": [HEADERS[m] for m in BREAKDOWN_METRICS],
             "note": "Per-query (micro) scores grouped by the Bemis–Murcko scaffold of the query's molecule ((acyclic) for acyclic molecules)."},
        ],
    }


def render_benchmark(out: Path, *, scorer: BenchmarkScorer, scored: list[Scored], env: jinja2.Environment) -> None:
    """Write one benchmark's pages, plots and per-seed results JSON into the folder ``out``."""
    results = {(s.name, seed): r for s in scored for seed, r in s.results.items()}
    if results:
        check_comparable({f"{entry} seed {seed}": r for (entry, seed), r in results.items()})
    frame = results_frame(results)
    agg = aggregate_seeds(frame) if len(frame) else frame.assign(mean=[], std=[], n=[], values=[])
    by_name = {s.name: s for s in scored}
    primary = scorer.primary
    verdicts = paired_verdicts(scored, scorer)
    rows = board(scored, verdicts, primary)
    row_of = {r.name: r for r in rows}
    order = [r.name for r in rows]
    first = next(iter(results.values()), None)
    bench = {
        "name": scorer.name, "version": scorer.version, "fingerprint": scorer.fingerprint, "folds": scorer.folds,
        "scorer_version": first.scorer_version if first else SCORER_VERSION,
        "package_version": first.pheno_bench_version if first else "",
        "primary": primary.id, "primary_label": primary_label(primary, scorer), "metric_label": f"{primary.average} {HEADERS.get(primary.metric, primary.metric)}",
    }
    chance_rows = _select(agg, split=primary.split, view=primary.view, kind="subsets", group=primary.subset, average=primary.average, metric=primary.metric) if len(agg) else agg
    page = {
        "bench": bench,
        "headline": _headline(rows, by_name, primary),
        "chance": format_value(float(chance_rows["chance"].iloc[0]), primary.metric) if len(chance_rows) else "–",
        "tables": _detail_tables(agg, order, by_name, primary.average, scorer) if len(agg) else [],
        "average": primary.average,
        "metrics": _metrics_context(TABLE_METRICS), "definitions": _metrics_context(),
        "plots": _plots(agg, out, rows, primary) if len(agg) else {},
        "min_seeds": MIN_SEEDS, "min_probe_seeds": MIN_PROBE_SEEDS, "min_dose_molecules": MIN_DOSE_MOLECULES,
        "method": sorted({v.method for v in verdicts.values()}),
        "n_ranked": sum(r.rank is not None for r in rows),
    }
    write_text(env.get_template("leaderboard_benchmark.md.j2").render(page), out / "index.md")
    manifest = scorer.manifest
    activity = [(k, v if isinstance(v, str) else json.dumps(v, sort_keys=True)) for k, v in sorted(manifest.activity.items())]
    columns = [(name, f.description or name) for name, f in SplitStats.model_fields.items() if name not in ("split", "dose_levels")]
    folds = [{"fold": f.fold, "fingerprint": f.fingerprint} for f in scorer.fold_set.folds] if scorer.fold_set is not None else []
    card = env.get_template("leaderboard_data_card.md.j2").render(
        m=manifest, fingerprint=scorer.fingerprint, activity=activity, split_columns=columns, folds=folds, primary_label=primary_label(primary, scorer)
    )
    write_text(card, out / "data-card.md")
    entry_page = env.get_template("leaderboard_entry.md.j2")
    n_ranked = page["n_ranked"]
    for s in scored:
        row = row_of[s.name]
        tied_with = [r.name for r in rows if r.rank is not None and r.rank == row.rank and r.name != s.name]
        context = _entry_context(s, agg, primary.average) | {
            "split_k": [{"split": split, "k": split_k(scorer, split)} for split in TEST_SPLITS if split_k(scorer, split)],
            "bench": bench, "metrics": _metrics_context(), "status": s.status, "reason": s.reason, "rank": row.rank,
            "tied_with": tied_with, "n_ranked": n_ranked, "flags": s.flags,
            "primary_value": next((h["value"] for h in page["headline"] if h["entry"] == s.name), "–"),
            "above_probes": row.above_probes, "probes_not_beaten": row.probes_not_beaten,
            "verdicts": _verdicts_context(s.name, verdicts, by_name, row_of, primary),
        }
        write_text(entry_page.render(context), out / "entries" / f"{s.name}.md")
        for seed, r in s.results.items():
            write_results(r, out / "results" / s.name / f"seed-{seed}.json")


@dataclass
class BuildReport:
    """What :func:`build` did: entries per benchmark and entries left out (with why)."""

    out: Path
    benchmarks: dict[str, list[str]]
    skipped: dict[str, str]


def build(
    *,
    submissions: str | os.PathLike = "submissions",
    site: str | os.PathLike = "site",
    benchmarks: Sequence[str | os.PathLike] = (),
    skip_invalid: bool = False,
) -> BuildReport:
    """Re-score every entry under ``submissions`` and render ``<site>/leaderboard/``.

    benchmarks: benchmark folders to use (by their manifest name) instead of the ones found
    where ``splits build`` and ``splits download`` put them. An invalid entry raises
    PhenoBenchError naming it, or with ``skip_invalid`` is reported and left out; if that leaves
    no valid entry at all, the build fails (an empty board is never published over the entries).
    The output folder is replaced whole, only once everything rendered.
    """
    scorers: dict[str, BenchmarkScorer] = {}
    for folder in benchmarks:
        scorer = BenchmarkScorer(Path(folder))
        scorers[scorer.name] = scorer
    scored: dict[str, list[Scored]] = {}
    skipped: dict[str, str] = {}
    for path in discover(submissions):
        try:
            entry = Entry.load(path)
            name = entry.metadata.benchmark
            if name not in scorers:
                scorers[name] = BenchmarkScorer(name)
            result = score_entry(entry, scorers[name])
            scored.setdefault(name, []).append(result)
        except PhenoBenchError as exc:
            if not skip_invalid:
                raise PhenoBenchError(f"entry {path.name!r} is invalid: {exc} (or build the rest with --skip-invalid)") from None
            skipped[path.name] = str(exc)
    if skipped and not scored:
        raise PhenoBenchError(
            f"--skip-invalid left no valid entry ({len(skipped)} invalid: {', '.join(sorted(skipped))}); "
            "nothing was written: fix the entries (the first: " + next(iter(skipped.values())) + ")"
        )
    env = environment()
    target = Path(site) / "leaderboard"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(target.parent, "leaderboard")
    try:
        for name, entries in sorted(scored.items()):
            render_benchmark(staging / name, scorer=scorers[name], scored=entries, env=env)
        listing = [
            {"name": name, "entries": sum(s.status != PROBE for s in entries), "probes": sum(s.status == PROBE for s in entries),
             "ranked": sum(s.status == RANKED for s in entries), "scorer_version": SCORER_VERSION, "fingerprint": scorers[name].fingerprint,
             "primary_label": primary_label(scorers[name].primary, scorers[name])}
            for name, entries in sorted(scored.items())
        ]
        write_text(env.get_template("leaderboard_index.md.j2").render(benchmarks=listing, skipped=sorted(skipped)), staging / "index.md")
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuildReport(target, {name: [s.name for s in entries] for name, entries in sorted(scored.items())}, skipped)


__all__ = ["BuildReport", "build", "render_benchmark", "primary_label", "split_k", "MIN_DOSE_MOLECULES", "NOT_RANKED"]
