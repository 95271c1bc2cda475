"""Terminal tables of results and comparisons (``pheno-bench evaluate``, ``compare``, ``baselines``):
the rendering layer above the models of :mod:`pheno_bench.results`.

Every table is a :class:`pheno_bench.grid.Grid`: cells are placed by metric key, never by
position, a cell a row lacks shows "–", and the columns come from the metrics the results hold
(in the order of :data:`pheno_bench.metric_ids.HEADERS`, then any other), so a metric added to
the scorer gets its column without a change here. ``grid.tables(width)`` stacks the columns to fit
a narrow terminal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from rich.markup import escape

from pheno_bench.grid import MISSING, Column, Grid
from pheno_bench.metric_ids import HEADERS, SUBSET_ORDER, TOP_K_PERCENT, k_of_folds, parse_metric_id
from pheno_bench.results import Comparison, Difference, Results, SplitResult, SubsetResult, SubmissionRef, dose_sort_key
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.text import format_value, literal

CAPTION = "accuracies in %, 95% interval below each value; ties count at their expected value (fair)"
VERDICT_COLOURS = {"better": "green", "worse": "red", "tied": "yellow"}


def metric_columns(keys: Iterable[str]) -> list[Column]:
    """A column per metric key present: in :data:`HEADERS` order, then unknown keys (their id as header)."""
    keys = list(dict.fromkeys(keys))
    known = [k for k in HEADERS if k in keys]
    return [Column(k, HEADERS.get(k, k)) for k in [*known, *(k for k in keys if k not in HEADERS)]]


def _cell(value: float | None, low: float | None, high: float | None, metric: str) -> str:
    """The value, and its interval on a second, dim line."""
    if value is None:
        return MISSING
    if low is None or high is None:
        return format_value(value, metric)
    return f"{format_value(value, metric)}\n[dim]{format_value(low, metric)}–{format_value(high, metric)}[/]"


def _interval(low: float | None, high: float | None, metric: str) -> str:
    return "" if low is None or high is None else escape(f"[{format_value(low, metric)}, {format_value(high, metric)}]")


def primary_line(results: Results) -> str:
    """One line naming the primary metric and its value (rich markup, strings escaped)."""
    p = results.primary
    if p is None:
        return "[bold]primary metric:[/] none declared for this benchmark"
    metric = p.id.rsplit("/", 1)[-1]
    if p.value is None and p.reason:
        return f"[bold]primary metric[/] {literal(p.label)}: {literal(p.reason)}"
    if p.value is None:
        n = f" ({p.n_molecules} molecules)" if p.n_molecules is not None else ""
        return f"[bold]primary metric[/] {literal(p.label)}: too few to score{n}"
    interval = f" [{format_value(p.low, metric)}–{format_value(p.high, metric)}]" if p.low is not None else ""
    unit = "" if metric in ("mrr", "median_rank") else " %"
    floor = f", query-blind floor {format_value(p.floor, metric)}" if p.floor is not None else ""
    parts = "".join(
        f"; {name} part {format_value(e.value, e_metric)} (chance {format_value(e.chance, e_metric)})"
        for name, e in p.parts.items() for e_metric in ["dose_part" if name == "dose" else "identity_top_5pct"]
    )
    return (f"[bold]primary metric[/] {literal(p.label)}: [bold]{format_value(p.value, metric)}{unit}[/]{escape(interval)}  "
            f"(chance {format_value(p.chance, metric)}{floor}){parts}")


def _results_metrics(results: Results) -> list[str]:
    keys: list[str] = []
    for result in results.splits.values():
        for view in (result.per_query, result.averaged):
            for subset in (view.subsets.values() if view is not None else ()):
                keys += [*subset.metrics, *subset.macro]
    return keys or list(HEADERS)


def _k_cells(result: SplitResult, columns: Sequence[Column]) -> dict[str, str]:
    """'k = 2 of 174' under each top-K% column (per fold when pooled)."""
    cells = {}
    for column in columns:
        percent = TOP_K_PERCENT.get(column.key)
        if percent is None:
            cells[column.key] = ""
        elif result.n_candidates_by_fold:
            cells[column.key] = k_of_folds(percent, result.n_candidates_by_fold)
        else:
            cells[column.key] = f"k = {-(-percent * result.n_candidates // 100)} of {result.n_candidates}"
    return cells


def subset_words(name: str) -> str:
    """A subset's name as words that wrap: 'molecule_not_in_train' -> 'molecule not in train'."""
    return name.replace("_", " ")


def _subset_rows(grid: Grid, split: str, subset: SubsetResult, label: str) -> None:
    if subset.status == "too_few":
        grid.add_row({"split": split, "queries": f"{label} [italic]({literal(subset.reason or 'too few to score')})[/]", "n": str(subset.n_queries)})
        return
    note = "" if subset.status == "scored" else " [dim](no interval)[/]"
    for average, values in (("micro", subset.metrics), ("macro", subset.macro)):
        if values:
            n = str(subset.n_queries) if average == "micro" else f"{subset.n_molecules} mol."
            grid.add_row({"split": split, "queries": f"{label}, {average}{note}", "n": n,
                          **{m: _cell(e.value, e.low, e.high, m) for m, e in values.items()}})


def _files_text(results: Results) -> str:
    if len(results.submissions) > 1:
        return f"{len(results.submissions)} files"
    return literal(results.submission.file)


def results_table(results: Results) -> Grid:
    """The headline table: each split's subsets (micro and macro), per query and averaged, the k of
    every top-K% column and the chance level."""
    columns = metric_columns(_results_metrics(results))
    grid = Grid(
        f"{literal(results.submission.model)} ({_files_text(results)}) on {literal(results.benchmark.name)}",
        [Column("split", "split", "left"), Column("queries", "queries", "left"), Column("n", "n", "left")], columns, caption=CAPTION,
    )
    for split, result in results.splits.items():
        if not result.evaluated:
            grid.add_row({"split": split, "queries": "not evaluated"}, end_section=True)
            continue
        grid.add_row({"split": split, "queries": "[italic]top-K% counts[/]", **_k_cells(result, columns)})
        for view, suffix in (("per_query", ""), ("averaged", " (averaged)")):
            subsets = getattr(result, view).subsets
            for name in [n for n in SUBSET_ORDER if n in subsets] + sorted(set(subsets) - set(SUBSET_ORDER)):
                _subset_rows(grid, split, subsets[name], subset_words(name) + suffix)
        chance = result.per_query.subsets["all"].metrics
        if chance:
            grid.add_row({"split": split, "queries": "[italic]chance[/]", **{m: format_value(e.chance, m) for m, e in chance.items()}})
        grid.end_section()
    return grid


def dose_table(results: Results) -> Grid:
    """Per-query metrics of every evaluated split by dose level (µM), micro."""
    grid = Grid("by dose level (µM), per query, micro", [Column("split", "split", "left"), Column("dose", "dose", "left"), Column("n", "n", "left")],
                metric_columns(_results_metrics(results)), caption=CAPTION)
    for split, result in results.splits.items():
        if result.evaluated:
            by_dose = result.per_query.by_dose
            for dose in sorted(by_dose, key=dose_sort_key):
                subset = by_dose[dose]
                row = {"split": split, "dose": literal(dose), "n": str(subset.n_queries)}
                if subset.status == "too_few":
                    grid.add_row({**row, "dose": f"{literal(dose)} [italic]({literal(subset.reason)})[/]"})
                    continue
                grid.add_row({**row, **{m: _cell(e.value, e.low, e.high, m) for m, e in subset.metrics.items()}})
            grid.end_section()
    return grid


# --- comparisons ------------------------------------------------------------------------------


def side_label(paths: Sequence[str | os.PathLike]) -> str:
    """Words for one side of a comparison: the file, or the files' common folder and how many.

    ['out/a.parquet'] -> 'out/a.parquet'; three seeds of an entry -> 'submissions/x/ (3 files)'.
    """
    paths = [Path(p) for p in paths]
    if len(paths) == 1:
        return str(paths[0])
    try:
        common = Path(os.path.commonpath([str(p) for p in paths]))
    except ValueError:  # relative and absolute mixed
        common = Path()
    if str(common) in ("", "."):
        return ", ".join(str(p) for p in paths)
    return f"{common}/ ({len(paths)} files)"


def _refs_label(refs: Sequence[SubmissionRef], fallback: SubmissionRef) -> str:
    refs = list(refs) or [fallback]
    if len(refs) == 1:
        return refs[0].file
    return f"{len(refs)} files: " + ", ".join(r.file for r in refs)


def comparison_title(comparison: Comparison, a: str | None = None, b: str | None = None) -> str:
    """'a = out/example.parquet (random) minus b = out/other.parquet (random)': which files, which models."""
    a = a if a is not None else _refs_label(comparison.a_files, comparison.a)
    b = b if b is not None else _refs_label(comparison.b_files, comparison.b)
    return f"a = {literal(a)} ({literal(comparison.a.model)}) minus b = {literal(b)} ({literal(comparison.b.model)})"


def primary_comparison_line(comparison: Comparison) -> str:
    """The verdict on the primary metric, one line."""
    p = comparison.primary
    if p is None:
        return "[bold]primary metric:[/] not compared (none declared, or its subset is too few to score)"
    metric = p.id.rsplit("/", 1)[-1]
    colour = VERDICT_COLOURS[p.verdict]
    return (
        f"[bold]primary[/] {literal(p.label)}: a {format_value(p.a, metric)} vs b {format_value(p.b, metric)}, "
        f"a - b = {format_value(p.difference, metric)} {_interval(p.low, p.high, metric)} "
        f"→ [bold {colour}]a is {p.verdict if p.verdict != 'tied' else 'tied with b'}{'' if p.verdict == 'tied' else ' than b'}[/]"
        + (f"\n  {escape(p.statement)}" if p.statement else "")
        + (f"; smallest difference detectable at 80 % power: {format_value(p.mde, metric)}" if p.mde is not None else "")
        + (f"\n  seeds: {escape(p.seeds)}" if p.seeds else "")
    )


def comparison_label(cell: str) -> str:
    """'per_query/active/macro' -> 'active, macro'; 'averaged/molecule_in_train' -> 'averaged, molecule in train'."""
    view, subset, *average = cell.split("/")
    return ("averaged, " if view == "averaged" else "") + subset_words(subset) + (", macro" if average else "")


def _difference_cell(d: Difference, metric: str, *, primary: bool = False) -> str:
    text = f"{format_value(d.difference, metric)}\n{_interval(d.low, d.high, metric)}"
    if primary:
        return f"[bold {VERDICT_COLOURS[d.verdict]}]{text}\n{d.verdict} (primary)[/]"
    if d.exploratory:
        return f"[dim]{text}\nexploratory[/]"
    return f"[{VERDICT_COLOURS[d.verdict]}]{text}\n{d.verdict}[/]"


def comparison_table(comparison: Comparison, a: str | None = None, b: str | None = None) -> Grid:
    """a - b per split and subset (rows) and metric (columns), coloured by Holm-adjusted verdict.

    The primary metric's cell sits in its own row and column, marked "(primary)" (its verdict is
    the paired percentile bootstrap, outside the Holm family). a, b: how to name each side
    (default: the file names the comparison records).
    """
    rows: dict[tuple[str, str], dict[str, str]] = {}
    keys: list[str] = []
    for split, cells in comparison.splits.items():
        for cell, metrics in cells.items():
            rows[(split, cell)] = {m: _difference_cell(d, m) for m, d in metrics.items()}
            keys += list(metrics)
    p = comparison.primary
    if p is not None:
        split, view, subset, average, metric = parse_metric_id(p.id)
        cell = f"{view}/{subset}" + ("/macro" if average == "macro" else "")
        rows.setdefault((split, cell), {})[metric] = _difference_cell(p, metric, primary=True)
        keys.append(metric)
    grid = Grid(comparison_title(comparison, a, b), [Column("split", "split", "left"), Column("queries", "queries", "left")], metric_columns(keys))
    grid.caption = (
        f"a - b (accuracies in % points), 95% interval below; secondary cells: Holm-adjusted over {comparison.holm_cells} cells, interval at each cell's "
        "Holm level; green: a better, red: a worse, yellow: tied; the primary cell: paired percentile bootstrap (as on the headline line); "
        "median rank: exploratory (no multiplicity control)"
        + (f"; p-values floored at 1/(resamples+1) = {comparison.p_floor:.2g}" if comparison.p_floor else "")
        + (f" — {comparison.bootstrap.n_resamples} resamples cannot resolve a Holm family of {comparison.holm_cells} cells "
           f"(needs {comparison.holm_cells}/(B+1) < 0.05): every secondary cell reads tied; rerun without --bootstrap"
           if comparison.p_floor and comparison.holm_cells * comparison.p_floor >= 0.05 else "")
    )
    order = {s: i for i, s in enumerate(TEST_SPLITS)}
    last = None
    for split, cell in sorted(rows, key=lambda k: (order.get(k[0], len(order)), k[0])):
        if last is not None and split != last:
            grid.end_section()
        grid.add_row({"split": split, "queries": comparison_label(cell), **rows[(split, cell)]})
        last = split
    grid.end_section()
    for split, reason in comparison.not_compared.items():
        grid.add_row({"split": split, "queries": f"not compared: {literal(reason)}"})
    return grid


# --- seeds of a baseline ----------------------------------------------------------------------

#: (metric, subset) columns of the seeds table
SEED_COLUMNS = (("top_1pct", "all"), ("top_1pct", "active"), ("top_5pct", "all"), ("top_5pct", "active"), ("molecule_top_1pct", "active"), ("mrr", "all"))


def _headline(results: Results, split: str, subset: str, metric: str) -> float | None:
    result = results.splits.get(split)
    if result is None or not result.evaluated or subset not in result.per_query.subsets:
        return None
    estimate = result.per_query.subsets[subset].metrics.get(metric)
    return None if estimate is None else estimate.value


def mean_over_seeds(values: Sequence[float | None], metric: str) -> str:
    """'27.5 ± 1.2' over two or more seeds, '27.5' for one, '–' for none; never 'nan' (missing values are left out)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return MISSING
    if len(finite) == 1:
        return format_value(finite[0], metric)
    array = np.asarray(finite, dtype=np.float64)
    return f"{format_value(float(array.mean()), metric)} ± {format_value(float(array.std(ddof=1)), metric)}"


def _seed_words(counts: set[int]) -> str:
    if counts == {1}:
        return "1 seed"
    return f"mean ± sd over {'/'.join(map(str, sorted(counts)))} seeds"


def primary_seed_lines(rows: Mapping[str, Mapping[object, Results]]) -> list[str]:
    """Per row label, the primary metric over its seeds: '<label>: primary metric <words> = 4.2 ± 0.3 (3 seeds)'."""
    lines = []
    for label, by_seed in rows.items():
        runs = list(by_seed.values())
        primary = next((r.primary for r in runs if r.primary is not None), None)
        if primary is None:
            lines.append(f"{literal(label)}: no primary metric declared")
            continue
        metric = primary.id.rsplit("/", 1)[-1]
        values = [r.primary.value if r.primary is not None else None for r in runs]
        n = sum(v is not None for v in values)
        chance = f", chance {format_value(primary.chance, metric)}" if primary.chance is not None else ""
        lines.append(f"{literal(label)}: primary metric {literal(primary.label)} = [bold]{mean_over_seeds(values, metric)}[/] "
                     f"({n} seed{'s' if n != 1 else ''}{chance})")
    return lines


def seeds_table(rows: Mapping[str, Mapping[object, Results]], *, title: str) -> Grid:
    """Rows (label -> seed -> Results): per split, the mean ± sd over seeds of the headline metrics
    (percent; MRR as is); one seed shows its value alone ('1 seed' in the title), never '± 0.0'."""
    columns = [Column(f"{subset}/{metric}", f"{HEADERS.get(metric, metric)} ({subset})") for metric, subset in SEED_COLUMNS]
    counts = {len(by_seed) for by_seed in rows.values()} or {0}
    grid = Grid(f"{literal(title)} (per query, {_seed_words(counts)})", [Column("split", "split", "left"), Column("model", "model", "left")], columns)
    for split in TEST_SPLITS:
        for index, (label, by_seed) in enumerate(rows.items()):
            cells = {c.key: mean_over_seeds([_headline(r, split, c.key.split("/")[0], c.key.split("/")[1]) for r in by_seed.values()], c.key.split("/")[1])
                     for c in columns}
            grid.add_row({"split": split if index == 0 else "", "model": literal(label), **cells}, end_section=index == len(rows) - 1)
    return grid


__all__ = [
    "CAPTION", "comparison_label", "comparison_table", "comparison_title", "dose_table", "mean_over_seeds", "metric_columns",
    "primary_comparison_line", "primary_line", "primary_seed_lines", "results_table", "seeds_table", "side_label",
]
