"""Leaderboard pages: re-scored entries -> Markdown pages, SVG plots and results JSON for mkdocs.

:func:`build` re-scores every entry under ``submissions/`` (:mod:`.rescore`, ranks by :mod:`.ranking`,
the pages' contents by :mod:`.pages`), then writes
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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import replace_folder, write_text
from pheno_bench.leaderboard.cache import ResultsCache, parse_svg, plot_key
from pheno_bench.leaderboard.stamps import inputs_digest, reuse_board, write_stamp
from pheno_bench.leaderboard.entries import METADATA_FILE, Entry, discover, read_metadata, staging_folder
from pheno_bench.leaderboard.pages import (  # noqa: F401 (MIN_DOSE_MOLECULES, primary_label, split_k: re-exported)
    DETAIL_SUBSETS,
    MIN_DOSE_MOLECULES,
    PARTS,
    TABLE_METRICS,
    detail_tables,
    entry_context,
    headline_rows,
    lookup_by_entry,
    metrics_context,
    primary_label,
    reference_rows,
    select_rows,
    split_k,
    verdicts_context,
)
from pheno_bench.leaderboard.verification import verification_status
from pheno_bench.leaderboard.ranking import BoardRow, board, paired_verdicts
from pheno_bench.leaderboard.rescore import (
    KEYS, MIN_PROBE_SEEDS, MIN_SEEDS, NOT_RANKED, PROBE, RANKED, BenchmarkScorer, PrimaryMetric, Scored, aggregate_seeds, check_comparable,
    results_frame, score_entry,
)
from pheno_bench.manifest import SplitStats
from pheno_bench.metric_ids import HEADERS
from pheno_bench.results import write_results
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.scoring import SCORER_VERSION
from pheno_bench.metrics import LOWER_IS_BETTER
from pheno_bench.power import board_power
from pheno_bench.specs import SUPERSEDED
from pheno_bench.text import format_value, printable


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



def _draw(cache: ResultsCache | None, name: str, path: Path, plot, table: pd.DataFrame, **options) -> None:
    """Write ``plot(table, **options)`` as SVG at ``path``; with a cache, the SVG drawn before from
    the same table, options and plotting code is written instead (matplotlib is the slow part of
    an unchanged board's build)."""
    from pheno_bench.plots import save_svg

    key = None
    if cache is not None:
        inputs = {"columns": list(map(str, table.columns)), "rows": table.astype(object).where(table.notna(), None).values.tolist(), "options": options}
        key = plot_key(name, inputs)
        svg = cache.get(key, parse_svg, what=f"the {name} plot")
        if svg is not None:
            write_text(svg, path)
            return
    save_svg(plot(table, **options), path)
    if key is not None:
        cache.put(key, path.read_text(encoding="utf-8"))


def _plots(
    agg: pd.DataFrame, out: Path, rows: list[BoardRow], primary: PrimaryMetric, references: list[dict] | None = None, cache: ResultsCache | None = None
) -> dict[str, str]:
    """Write the benchmark's SVG plots under ``out/plots``; return their paths relative to ``out``.

    A plot with nothing to show is not written (its key is absent). cache: reuse SVGs drawn from the same data.
    """
    try:
        from pheno_bench.plots import accuracy_plot, dose_plot, probe_plot
    except ImportError:
        raise PhenoBenchError("the leaderboard plots need matplotlib: pip install 'pheno-bench[docs]'") from None
    metric, view, average = primary.metric, primary.view, primary.average
    scale = 1.0 if metric in ("median_rank", "mrr") else 100.0
    label = f"{average} {HEADERS.get(metric, metric)}" + ("" if scale == 1.0 else " (%)")
    order = [r.name for r in rows if r.mean is not None]
    probes = {r.name for r in rows if r.status == PROBE}
    top = select_rows(agg, view=view, average=average, metric=metric)
    subsets = top[(top["kind"] == "subsets") & top["group"].isin(DETAIL_SUBSETS)].assign(
        mean=lambda d: scale * d["mean"], low=lambda d: scale * d["low"].fillna(d["mean"]), high=lambda d: scale * d["high"].fillna(d["mean"]),
        seeds=lambda d: d["values"].map(lambda v: [scale * x for x in v]), subset=lambda d: d["group"],
    )
    splits = [s for s in TEST_SPLITS if (subsets["split"] == s).any()]
    paths: dict[str, str] = {}
    if splits and order:
        chance = {s: scale * subsets[subsets["split"] == s]["chance"].iloc[0] for s in splits}
        paths["accuracy"] = "plots/accuracy.svg"
        _draw(cache, "accuracy", out / paths["accuracy"], accuracy_plot, subsets,
              splits=splits, entries=[e for e in order if e in set(subsets["entry"])], chance=chance, label=label, probes=sorted(probes))
    doses = top[(top["kind"] == "by_dose") & (top["n_molecules"] >= MIN_DOSE_MOLECULES) & top["low"].notna() & ~top["entry"].isin(probes)].assign(
        dose=lambda d: d["group"].astype(float), mean=lambda d: scale * d["mean"],
        low=lambda d: (scale * d["low"].fillna(d["mean"])).clip(0, 100 if scale == 100 else None),
        high=lambda d: (scale * d["high"].fillna(d["mean"])).clip(0, 100 if scale == 100 else None),
    )
    dose_splits = [s for s in TEST_SPLITS if (doses["split"] == s).any()]
    if dose_splits:
        paths["dose"] = "plots/dose.svg"
        entries = [e for e in order if e in set(doses["entry"])]
        _draw(cache, "dose", out / paths["dose"], dose_plot, doses, splits=dose_splits, entries=entries, label=label)
    board_rows = [r for r in rows if r.mean is not None]
    if board_rows:
        table = pd.DataFrame({
            "entry": [r.name for r in board_rows], "mean": [scale * r.mean for r in board_rows],
            "low": [scale * (r.low if r.low is not None else r.mean) for r in board_rows],
            "high": [scale * (r.high if r.high is not None else r.mean) for r in board_rows],
            "probe": [r.status == PROBE for r in board_rows],
        })
        chance_rows = select_rows(agg, split=primary.split, view=view, kind="subsets", group=primary.subset, average=average, metric=metric)
        chance = scale * float(chance_rows["chance"].iloc[0]) if len(chance_rows) else None
        floor = next((r["value"] for r in references if r["key"] == "floor"), None) if references else None
        paths["probes"] = "plots/probes.svg"  # rows in the board's order: the plot reads like the table
        _draw(cache, "probes", out / paths["probes"], probe_plot, table, label=f"{label}: {primary.subset} queries, {primary.split}", chance=chance,
              floor=None if floor is None else scale * floor)
    return paths


def _floor_values(scored: dict[str, Scored]) -> list[dict]:
    """[{'key': 'floor', 'value': the primary's query-blind floor}] as the scorer gave it (none: [])."""
    first = next((r.primary for s in scored.values() for r in s.results.values() if r.primary is not None and r.primary.floor is not None), None)
    return [] if first is None else [{"key": "floor", "value": first.floor}]


def _power(verdicts: dict, metric: str) -> dict | None:
    """The board's minimum detectable difference (:func:`pheno_bench.power.board_power`) over its
    paired verdicts, each unordered pair once, as display strings (None: no pair with an interval)."""
    pairs = {tuple(sorted(key)): v for key, v in verdicts.items()}
    power = board_power(pairs.values())
    if power.mde is None:
        return None
    text = lambda x: format_value(x, metric) + (" points" if metric not in LOWER_IS_BETTER else "")
    return {"mde": text(power.mde), "low": text(power.mde_min), "high": text(power.mde_max), "pairs": power.pairs}


def _superseded(name: str, boards: set[str] | None) -> dict | None:
    """What replaces a superseded release (:data:`pheno_bench.specs.SUPERSEDED`); ``linked``: its board is in this build."""
    if name not in SUPERSEDED:
        return None
    by, why = SUPERSEDED[name]
    return {"by": by, "why": why, "linked": boards is not None and by in boards}


def render_benchmark(out: Path, *, scorer: BenchmarkScorer, scored: list[Scored], env: jinja2.Environment, boards: set[str] | None = None,
    cache: ResultsCache | None = None,
) -> None:
    """Write one benchmark's pages, plots and per-seed results JSON into the folder ``out``
    (``boards``: every benchmark of this build, for links between boards; verdicts from ``cache`` where unchanged)."""
    results = {(s.name, seed): r for s in scored for seed, r in s.results.items()}
    if results:
        check_comparable({f"{entry} seed {seed}": r for (entry, seed), r in results.items()})
    frame = results_frame(results)
    agg = aggregate_seeds(frame) if len(frame) else frame.assign(mean=[], std=[], n=[], values=[])
    by_name = {s.name: s for s in scored}
    primary = scorer.primary
    verdicts = paired_verdicts(scored, scorer, cache=cache)
    rows = board(scored, verdicts, primary)
    row_of = {r.name: r for r in rows}
    order = [r.name for r in rows]
    first = next(iter(results.values()), None)
    bench = {
        "name": scorer.name, "version": scorer.version, "fingerprint": scorer.fingerprint, "folds": scorer.folds,
        "scorer_version": first.scorer_version if first else SCORER_VERSION,
        "package_version": first.pheno_bench_version if first else "",
        "primary": primary.id, "primary_label": primary_label(primary, scorer), "metric_label": f"{primary.average} {HEADERS.get(primary.metric, primary.metric)}",
        "superseded": _superseded(scorer.name, boards),
        # the headline's column: short (the split and subset are in the line above it), with its k
        "metric_header": f"{primary.average} {HEADERS.get(primary.metric, primary.metric)}"
                         + (f" ({k})" if (k := split_k(scorer, primary.split).get(primary.metric)) else ""),
    }
    # every entry's cells in one pass over the table and one over the per-seed rows (not one mask per entry)
    cells = lookup_by_entry(agg, KEYS[1:]) if len(agg) else {}
    per_seed_cells = lookup_by_entry(frame, ["seed", *KEYS[1:]]) if len(frame) else {}
    # each entry's re-run badge, once per build, against this build's fingerprint (a record made for another build is stale)
    reruns = {s.name: verification_status(s.entry.path, fingerprint=scorer.fingerprint) for s in scored}
    chance_rows = select_rows(agg, split=primary.split, view=primary.view, kind="subsets", group=primary.subset, average=primary.average, metric=primary.metric) if len(agg) else agg
    page = {
        "bench": bench,
        "headline": headline_rows(rows, by_name, primary, reruns),
        "chance": format_value(float(chance_rows["chance"].iloc[0]), primary.metric) if len(chance_rows) else "–",
        "references": reference_rows(by_name, primary),
        "parts": [{"key": k, "label": label, "definition": definition} for k, (label, _, definition) in PARTS.items()],
        "tables": detail_tables(agg, order, by_name, primary.average, scorer, cells) if len(agg) else [],
        "average": primary.average,
        "metrics": metrics_context(TABLE_METRICS), "definitions": metrics_context(),
        "plots": _plots(agg, out, rows, primary, _floor_values(by_name), cache=cache) if len(agg) else {},
        "min_seeds": MIN_SEEDS, "min_probe_seeds": MIN_PROBE_SEEDS, "min_dose_molecules": MIN_DOSE_MOLECULES,
        "method": sorted({v.method for v in verdicts.values()}),
        "n_ranked": sum(r.rank is not None for r in rows),
        "power": _power(verdicts, primary.metric),
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
        context = entry_context(s, agg, primary.average, reruns[s.name], cells=cells.get(s.name, {}), per_seed_cells=per_seed_cells.get(s.name, {})) | {
            "split_k": [{"split": split, "k": split_k(scorer, split)} for split in TEST_SPLITS if split_k(scorer, split)],
            "bench": bench, "metrics": metrics_context(), "status": s.status, "reason": s.reason, "rank": row.rank,
            "tied_with": tied_with, "n_ranked": n_ranked, "flags": s.flags,
            "primary_value": next((h["value"] for h in page["headline"] if h["entry"] == s.name), "–"),
            "above_probes": row.above_probes, "probes_not_beaten": row.probes_not_beaten,
            "verdicts": verdicts_context(s.name, verdicts, by_name, row_of, primary),
        }
        write_text(entry_page.render(context), out / "entries" / f"{s.name}.md")
        for seed, r in s.results.items():
            if seed in s.results_json:  # the same text write_results writes, made once (or kept in the cache)
                write_text(s.results_json[seed], out / "results" / s.name / f"seed-{seed}.json")
            else:
                write_results(r, out / "results" / s.name / f"seed-{seed}.json")


def _benchmark_names(paths: Sequence[Path]) -> set[str]:
    """The benchmarks the entries name (for the progress count; an unreadable metadata file counts for none)."""
    names = set()
    for path in paths:
        try:
            names.add(read_metadata(path / METADATA_FILE).benchmark)
        except PhenoBenchError:
            pass
    return names


@dataclass
class BuildReport:
    """What :func:`build` did: entries per benchmark, entries left out (with why), and per benchmark
    the entries whose every run came from the results cache (none were scored)."""

    out: Path
    benchmarks: dict[str, list[str]]
    skipped: dict[str, str]
    cached: dict[str, list[str]] = field(default_factory=dict)


def build(
    *,
    submissions: str | os.PathLike = "submissions",
    site: str | os.PathLike = "site",
    benchmarks: Sequence[str | os.PathLike] = (),
    skip_invalid: bool = False,
    cache: ResultsCache | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> BuildReport:
    """Re-score every entry under ``submissions`` and render ``<site>/leaderboard/``.

    benchmarks: benchmark folders to use (by their manifest name) instead of the ones found
    where ``splits build`` and ``splits download`` put them. An invalid entry raises
    PhenoBenchError naming it, or with ``skip_invalid`` is reported and left out; if that leaves
    no valid entry at all, the build fails (an empty board is never published over the entries).
    The output folder is replaced whole, only once everything rendered.

    cache: a :class:`~pheno_bench.leaderboard.cache.ResultsCache`; runs and verdicts whose files,
    benchmark and scorer are unchanged come from it (the pages are the same bytes either way).
    progress: called after each step (each entry, then each benchmark's verdicts and pages) with
    (steps done, steps in all, one line saying what was done).
    """
    scorers: dict[str, BenchmarkScorer] = {}
    for folder in benchmarks:
        scorer = BenchmarkScorer(Path(folder))
        scorers[scorer.name] = scorer
    scored: dict[str, list[Scored]] = {}
    skipped: dict[str, str] = {}
    paths = discover(submissions)
    total = len(paths) + len(_benchmark_names(paths))  # one step per entry, then one per benchmark's pages
    for i, path in enumerate(paths, 1):
        start = time.perf_counter()
        try:
            entry = Entry.load(path)
            name = entry.metadata.benchmark
            if name not in scorers:
                scorers[name] = BenchmarkScorer(name)
            result = score_entry(entry, scorers[name], cache=cache)
            scored.setdefault(name, []).append(result)
        except PhenoBenchError as exc:
            if not skip_invalid:
                raise PhenoBenchError(f"entry {path.name!r} is invalid: {exc} (or build the rest with --skip-invalid)") from None
            skipped[path.name] = str(exc)
            if progress:
                progress(i, total, f"{path.name}: invalid, skipped")
            continue
        if progress:
            fresh = len(result.entry.runs()) - len(result.cached)
            what = f"scored {fresh} run{'s' * (fresh != 1)}" + (f" ({len(result.cached)} from the cache)" if result.cached else "")
            progress(i, total, f"{path.name} ({name}): " + ("every run from the cache" if not fresh else f"{what} in {time.perf_counter() - start:.1f} s"))
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
        for j, (name, entries) in enumerate(sorted(scored.items()), 1):
            start, before = time.perf_counter(), dict(cache.hits) if cache is not None else {}
            inputs = inputs_digest(scorers[name].key, entries, scored)
            if cache is not None and not cache.rescore and reuse_board(target / name, staging / name, inputs):
                if progress:  # nothing it is rendered from changed: the last build's pages, checked file by file
                    progress(min(len(paths) + j, total), total, f"{name}: unchanged, pages of the last build reused in {time.perf_counter() - start:.1f} s")
                continue
            render_benchmark(staging / name, scorer=scorers[name], scored=entries, env=env, boards=set(scored), cache=cache)
            write_stamp(staging / name, inputs)
            if progress:
                reused = "" if cache is None else f", {cache.hits.get('verdict', 0) - before.get('verdict', 0)} verdicts from the cache"
                progress(min(len(paths) + j, total), total, f"{name}: verdicts and pages in {time.perf_counter() - start:.1f} s{reused}")
        listing = [
            {"name": name, "entries": sum(s.status != PROBE for s in entries), "probes": sum(s.status == PROBE for s in entries),
             "ranked": sum(s.status == RANKED for s in entries), "scorer_version": SCORER_VERSION, "fingerprint": scorers[name].fingerprint,
             "primary_label": primary_label(scorers[name].primary, scorers[name]), "superseded": _superseded(name, set(scored))}
            for name, entries in sorted(scored.items())
        ]
        write_text(env.get_template("leaderboard_index.md.j2").render(benchmarks=listing, skipped=sorted(skipped)), staging / "index.md")
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    cached = {name: [s.name for s in entries if len(s.cached) == len(s.entry.runs())] for name, entries in sorted(scored.items())} if cache is not None else {}
    return BuildReport(target, {name: [s.name for s in entries] for name, entries in sorted(scored.items())}, skipped, cached)


__all__ = ["BuildReport", "build", "render_benchmark", "primary_label", "split_k", "MIN_DOSE_MOLECULES", "NOT_RANKED"]
