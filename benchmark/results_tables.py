"""Terminal tables of results and comparisons (``pheno-bench evaluate`` and ``compare``): the
rendering layer above the models of :mod:`pheno_bench.results`."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from pheno_bench.metric_ids import HEADERS, SUBSET_ORDER, TOP_K_PERCENT, k_of_folds
from pheno_bench.results import Comparison, Results, SplitResult, SubsetResult, dose_sort_key
from pheno_bench.text import format_value, literal


def _cell(value: float, low: float | None, high: float | None, metric: str) -> str:
    """The value, and its interval on a second, dim line."""
    if low is None:
        return format_value(value, metric)
    return f"{format_value(value, metric)}\n[dim]{format_value(low, metric)}–{format_value(high, metric)}[/]"


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
    return f"[bold]primary metric[/] {literal(p.label)}: [bold]{format_value(p.value, metric)}{unit}[/]{escape(interval)}  (chance {format_value(p.chance, metric)})"


def _table(title: str, *first: str) -> Table:
    table = Table(title=title, caption="accuracies in %, 95% interval below each value; ties count at their expected value (fair)")
    for header in first:
        table.add_column(header)
    for header in HEADERS.values():
        table.add_column(header, justify="right")
    return table


def _k_row(result: SplitResult) -> list[str]:
    """'k = 2 of 174' under each top-K% column (per fold when pooled)."""
    cells = []
    for metric in HEADERS:
        if metric not in TOP_K_PERCENT:
            cells.append("")
        elif result.n_candidates_by_fold:
            cells.append(k_of_folds(TOP_K_PERCENT[metric], result.n_candidates_by_fold))
        else:
            cells.append(f"k = {-(-TOP_K_PERCENT[metric] * result.n_candidates // 100)} of {result.n_candidates}")
    return cells


def _subset_rows(table: Table, split: str, subset: SubsetResult, label: str) -> None:
    if subset.status == "too_few":
        table.add_row(split, label, str(subset.n_queries), f"[italic]{literal(subset.reason or 'too few to score')}[/]", *[""] * (len(HEADERS) - 1))
        return
    note = "" if subset.status == "scored" else " [dim](no interval)[/]"
    for average, values in (("micro", subset.metrics), ("macro", subset.macro)):
        if values:
            cells = [_cell(values[m].value, values[m].low, values[m].high, m) for m in HEADERS]
            table.add_row(split, f"{label}, {average}{note}", str(subset.n_queries) if average == "micro" else f"{subset.n_molecules} mol.", *cells)


def results_table(results: Results) -> Table:
    """The headline table: each split's subsets (micro and macro), per query and averaged, the k of
    every top-K% column and the chance level."""
    table = _table(f"{literal(results.submission.model)} on {literal(results.benchmark.name)}", "split", "queries", "n")
    for split, result in results.splits.items():
        if not result.evaluated:
            table.add_row(split, "not evaluated", "", *[""] * len(HEADERS), end_section=True)
            continue
        table.add_row(split, "[italic]top-K% counts[/]", "", *_k_row(result))
        for view, suffix in (("per_query", ""), ("averaged", " (averaged)")):
            subsets = getattr(result, view).subsets
            for name in (n for n in SUBSET_ORDER if n in subsets):
                _subset_rows(table, split, subsets[name], name + suffix)
        chance = result.per_query.subsets["all"].metrics
        if chance:
            table.add_row(split, "[italic]chance[/]", "", *[format_value(chance[m].chance, m) for m in HEADERS], end_section=True)
        else:
            table.add_section()
    return table


def dose_table(results: Results) -> Table:
    """Per-query metrics of every evaluated split by dose level (µM), micro."""
    table = _table("by dose level (µM), per query, micro", "split", "dose", "n")
    for split, result in results.splits.items():
        if result.evaluated:
            by_dose = result.per_query.by_dose
            for dose in sorted(by_dose, key=dose_sort_key):
                subset = by_dose[dose]
                if subset.status == "too_few":
                    table.add_row(split, literal(dose), str(subset.n_queries), f"[italic]{literal(subset.reason)}[/]", *[""] * (len(HEADERS) - 1))
                    continue
                metrics = subset.metrics
                table.add_row(split, literal(dose), str(subset.n_queries), *[_cell(metrics[m].value, metrics[m].low, metrics[m].high, m) for m in HEADERS])
            table.add_section()
    return table


def primary_comparison_line(comparison: Comparison) -> str:
    """The verdict on the primary metric, one line."""
    p = comparison.primary
    if p is None:
        return "[bold]primary metric:[/] not compared (none declared, or its subset is too few to score)"
    metric = p.id.rsplit("/", 1)[-1]
    colour = {"better": "green", "worse": "red", "tied": "yellow"}[p.verdict]
    return (
        f"[bold]primary[/] {literal(p.label)}: a {format_value(p.a, metric)} vs b {format_value(p.b, metric)}, "
        f"a - b = {format_value(p.difference, metric)} {escape(f'[{format_value(p.low, metric)}, {format_value(p.high, metric)}]')} "
        f"→ [bold {colour}]a is {p.verdict if p.verdict != 'tied' else 'tied with b'}{'' if p.verdict == 'tied' else ' than b'}[/]"
        + (f"\n  {escape(p.statement)}" if p.statement else "")
        + (f"; smallest difference detectable at 80 % power: {format_value(p.mde, metric)}" if p.mde is not None else "")
        + (f"\n  seeds: {escape(p.seeds)}" if p.seeds else "")
    )


def comparison_table(comparison: Comparison) -> Table:
    """a - b per split and subset (rows) and metric (columns), coloured by Holm-adjusted verdict."""
    colours = {"better": "green", "worse": "red", "tied": "yellow"}
    a = f"{literal(comparison.a.model)} ({len(comparison.a_files) or 1} file(s))"
    b = f"{literal(comparison.b.model)} ({len(comparison.b_files) or 1} file(s))"
    table = _table(f"{a} minus {b}", "split", "queries")
    table.caption = (
        f"a - b (accuracies in % points); secondary cells: Holm-adjusted over {comparison.holm_cells} cells, interval at each cell's "
        "Holm level; green: a better, red: a worse, yellow: tied; median rank: exploratory (no multiplicity control)"
        + (f"; p-values floored at 1/(resamples+1) = {comparison.p_floor:.2g}" if comparison.p_floor else "")
        + (f" [bold]— {comparison.bootstrap.n_resamples} resamples cannot resolve a Holm family of {comparison.holm_cells} cells "
           f"(needs {comparison.holm_cells}/(B+1) < 0.05): every secondary cell reads tied; rerun without --bootstrap[/]"
           if comparison.p_floor and comparison.holm_cells * comparison.p_floor >= 0.05 else "")
    )
    for split, subsets in comparison.splits.items():
        for subset, metrics in subsets.items():
            cells = [
                f"[dim]{_cell(d.difference, d.low, d.high, m)}\nexploratory[/]" if d.exploratory
                else f"[{colours[d.verdict]}]{_cell(d.difference, d.low, d.high, m)}\n{d.verdict}[/]"
                for m, d in metrics.items()
            ]
            label = subset.replace("per_query/", "").replace("averaged/", "averaged, ").replace("/macro", ", macro")
            table.add_row(split, label, *cells)
        table.add_section()
    for split, reason in comparison.not_compared.items():
        table.add_row(split, f"not compared: {reason}", *[""] * len(HEADERS))
    return table
