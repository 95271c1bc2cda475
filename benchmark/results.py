"""Versioned results of the scorer: the pydantic models, atomic writing, reading, and the rule
that results of different benchmarks or scorer majors are never mixed (used by the leaderboard).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.markup import escape
from rich.table import Table

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import write_json


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Estimate(_Frozen):
    """One metric on one subset: the value, its bootstrap interval and the chance level."""

    value: float
    low: float | None = Field(description="lower bound of the interval (None: no interval, see SubsetResult.status)")
    high: float | None
    chance: float = Field(description="expected value under a uniformly random ranking (= a constant embedding's score)")
    k: int | None = Field(None, description="top-K% metrics: candidates counted as a hit, ceil(K * n_candidates / 100)")
    n_candidates: int | None = Field(None, description="top-K% metrics: candidates ranked per query")


class SubsetResult(_Frozen):
    """One subset of queries. status: scored (values with intervals), descriptive (values, no
    interval: fewer than 10 molecules in a breakdown or the anchors), too_few (no value at all)."""

    n_queries: int
    n_molecules: int
    status: Literal["scored", "descriptive", "too_few"] = "scored"
    reason: str = ""
    metrics: dict[str, Estimate] = Field(default_factory=dict, description="micro: mean over queries")
    macro: dict[str, Estimate] = Field(default_factory=dict, description="macro: mean over molecules of each molecule's mean")


class ViewResult(_Frozen):
    """Results of one view of a split (per query, or per averaged (molecule, dose) group)."""

    subsets: dict[str, SubsetResult] = Field(description="all, active; in unseen_dataset also molecule_(not_)in_train")
    by_dose: dict[str, SubsetResult]
    by_scaffold: dict[str, SubsetResult]


class SplitResult(_Frozen):
    evaluated: bool = Field(description="False: the submission does not cover this split (not a zero)")
    n_queries: int
    n_candidates: int
    n_molecules: int
    k: dict[str, int] = Field(default_factory=dict, description="candidates counted as top-K%: ceil(K * n_candidates / 100)")
    per_query: ViewResult | None = None
    averaged: ViewResult | None = None
    effective_rank: dict[str, float] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list, description="degenerate embeddings")
    pessimistic: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="secondary view, ties counted against: per_query subset -> metric -> micro value"
    )
    n_candidates_by_fold: dict[str, int] = Field(default_factory=dict, description="pooled folds: candidates of each fold")


class BenchmarkRef(_Frozen):
    name: str
    version: str
    fingerprint: str


class SubmissionRef(_Frozen):
    file: str
    sha256: str
    model: str
    similarity: str
    dim: int
    description: str = ""


class BootstrapInfo(_Frozen):
    n_resamples: int
    seed: int
    level: float
    unit: Literal["molecule"] = "molecule"


class Primary(_Frozen):
    """The benchmark's one ranking number (declared in its spec), like MTEB's main_score."""

    id: str = Field(description="'<split>/<view>/<subset>/<average>/<metric>'")
    label: str
    value: float | None = Field(description="None when the subset is too few to score or the split was not evaluated")
    low: float | None = None
    high: float | None = None
    chance: float | None = None
    k: int | None = None
    n_candidates: int | None = None
    n_molecules: int | None = None
    reason: str | None = Field(
        None, exclude_if=lambda v: v is None,
        description="why value is None when the split was not evaluated, e.g. 'not evaluated: fold(s) [2] of cell-injury-v2 have no unseen_molecules'",
    )


class Results(_Frozen):
    """What ``pheno-bench evaluate`` writes; the leaderboard renders only these."""

    scorer_version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    pheno_bench_version: str
    benchmark: BenchmarkRef
    submission: SubmissionRef
    bootstrap: BootstrapInfo
    primary: Primary | None = None
    ties: Literal["fair"] = Field("fair", description="ties count at their expected value under random tie-breaking")
    anchors: list[str] = Field(default_factory=list, description="positive-control InChIKeys, reported apart (subset 'anchors')")
    splits: dict[str, SplitResult]
    folds: dict[str, "Results"] = Field(default_factory=dict, description="pooled results: each fold's own results")
    submissions: list[SubmissionRef] = Field(default_factory=list, description="pooled results: every file scored")

    @property
    def scorer_major(self) -> int:
        return int(self.scorer_version.split(".")[0])


class Difference(_Frozen):
    """a - b on one metric, with its paired bootstrap interval."""

    a: float
    b: float
    difference: float
    low: float | None
    high: float | None
    verdict: Literal["better", "worse", "tied"] = Field(description="a compared with b; tied when the interval spans 0")
    level: float = Field(0.95, description="confidence level of the interval (Holm-adjusted for secondary cells)")
    p_value: float | None = Field(None, description="two-sided, from the bootstrap standard error (normal approximation)")
    p_holm: float | None = Field(None, description="Holm-adjusted over every secondary cell of the comparison")
    exploratory: bool = Field(False, description="no multiplicity control: read as exploratory")


class PrimaryDifference(Difference):
    id: str
    label: str


class Comparison(_Frozen):
    """What ``pheno-bench compare`` returns: split -> "<view>/<subset>" -> metric -> Difference."""

    scorer_version: str
    benchmark: BenchmarkRef
    a: SubmissionRef
    b: SubmissionRef
    bootstrap: BootstrapInfo
    primary: PrimaryDifference | None = Field(None, description="THE verdict: the primary metric, percentile paired bootstrap")
    splits: dict[str, dict[str, dict[str, Difference]]] = Field(description="split -> '<view>/<subset>' (micro) or '<view>/<subset>/macro' -> metric")
    not_compared: dict[str, str] = Field(default_factory=dict)
    a_files: list[SubmissionRef] = Field(default_factory=list, description="every file of a (seeds, folds), pooled")
    b_files: list[SubmissionRef] = Field(default_factory=list)
    holm_cells: int = Field(0, description="secondary cells in the Holm family")


def write_results(results: Results | Comparison, path: str | os.PathLike) -> Path:
    """Write results as sorted JSON, atomically (no half-written file on failure)."""
    write_json(results.model_dump(mode="json"), path)
    return Path(path)


def read_results(path: str | os.PathLike) -> Results:
    """Read a results JSON file; one clear error if it is missing or not a results file."""
    path = Path(path)
    if not path.is_file():
        raise PhenoBenchError(f"{path}: results file not found; run `pheno-bench evaluate SUBMISSION --out {path}`")
    try:
        return Results.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise PhenoBenchError(f"{path}: not a pheno-bench results file ({str(exc).splitlines()[0]}); evaluate the submission again") from None


def ensure_comparable(results: Mapping[str, Results]) -> None:
    """Refuse to mix results (label -> Results) from different benchmarks or scorer major versions."""
    keys = {label: (r.benchmark.name, r.benchmark.fingerprint, r.scorer_major) for label, r in results.items()}
    if len(set(keys.values())) > 1:
        first, *_ = keys.values()
        odd = [label for label, key in keys.items() if key != first]
        raise PhenoBenchError(
            f"results {', '.join(odd)} differ from {next(iter(keys))} in benchmark fingerprint or scorer "
            f"major version ({first[0]} {first[1][:12]}…, scorer {first[2]}.x); "
            "re-score every submission with the same benchmark and pheno-bench version"
        )


def dose_sort_key(level: str) -> tuple[float, str]:
    """Sort dose labels numerically ("0.625" < "10"), any non-numeric label last."""
    try:
        return float(level), level
    except ValueError:
        return float("inf"), level


def printable(text: object) -> str:
    """``text`` with its control and format characters shown escaped (``\\x1b``, ``\\u200b``)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def literal(text: object) -> str:
    """``text`` safe to print with rich: control and format characters shown escaped (:func:`printable`),
    rich markup escaped, so a submission's strings are printed literally and cannot style or break output."""
    return escape(printable(text))


def format_value(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    if metric == "median_rank":
        return f"{value:.1f}".removesuffix(".0")
    return f"{value:.3f}" if metric == "mrr" else f"{100 * value:.1f}"


def _cell(value: float, low: float | None, high: float | None, metric: str) -> str:
    """The value, and its interval on a second, dim line."""
    if low is None:
        return format_value(value, metric)
    return f"{format_value(value, metric)}\n[dim]{format_value(low, metric)}–{format_value(high, metric)}[/]"


HEADERS = {
    "top_1pct": "top-1%",
    "top_5pct": "top-5%",
    "molecule_top_1pct": "mol. top-1%",
    "molecule_top_5pct": "mol. top-5%",
    "mrr": "MRR",
    "median_rank": "median rank",
}
SUBSET_ORDER = ("all", "active", "molecule_in_train", "molecule_not_in_train", "anchors")
TOP_K_PERCENT = {"top_1pct": 1, "top_5pct": 5, "molecule_top_1pct": 1, "molecule_top_5pct": 5}


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


def _span(values) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def k_of_folds(percent: int, n_candidates_by_fold: Mapping[str, int]) -> str:
    """'k = 2 of 162–174 per fold': pooled folds rank against each fold's own candidate list."""
    ns = list(n_candidates_by_fold.values())
    return f"k = {_span([-(-percent * n // 100) for n in ns])} of {_span(ns)} per fold"


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
