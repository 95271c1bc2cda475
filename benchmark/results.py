"""Versioned results of the scorer: the pydantic models, atomic writing, reading, and the rule
that results of different benchmarks or scorer majors are never mixed (used by the leaderboard).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.table import Table

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import write_json


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Estimate(_Frozen):
    """One metric on one subset: the value, its bootstrap interval and the chance level."""

    value: float
    low: float | None = Field(description="lower bound of the interval (None if no resample had data)")
    high: float | None
    chance: float = Field(description="expected value under a uniformly random ranking without ties")


class SubsetResult(_Frozen):
    n_queries: int
    n_molecules: int
    metrics: dict[str, Estimate]


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


class Results(_Frozen):
    """What ``pheno-bench evaluate`` writes; the leaderboard renders only these."""

    scorer_version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    pheno_bench_version: str
    benchmark: BenchmarkRef
    submission: SubmissionRef
    bootstrap: BootstrapInfo
    splits: dict[str, SplitResult]

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


class Comparison(_Frozen):
    """What ``pheno-bench compare`` returns: split -> "<view>/<subset>" -> metric -> Difference."""

    scorer_version: str
    benchmark: BenchmarkRef
    a: SubmissionRef
    b: SubmissionRef
    bootstrap: BootstrapInfo
    splits: dict[str, dict[str, dict[str, Difference]]]
    not_compared: dict[str, str] = Field(default_factory=dict)


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


def format_value(value: float, metric: str) -> str:
    if metric == "median_rank":
        return f"{value:.0f}"
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
SUBSET_ORDER = ("all", "active", "molecule_in_train", "molecule_not_in_train")


def _table(title: str, *first: str) -> Table:
    table = Table(title=title, caption="accuracies in %, 95% interval below each value")
    for header in first:
        table.add_column(header)
    for header in HEADERS.values():
        table.add_column(header, justify="right")
    return table


def results_table(results: Results) -> Table:
    """The headline table: each split's subsets, per query and averaged, with the chance level."""
    table = _table(f"{results.submission.model} on {results.benchmark.name}", "split", "queries", "n")
    for split, result in results.splits.items():
        if not result.evaluated:
            table.add_row(split, "not evaluated", "", *[""] * len(HEADERS), end_section=True)
            continue
        for view, suffix in (("per_query", ""), ("averaged", " (averaged)")):
            subsets = getattr(result, view).subsets
            for name in (n for n in SUBSET_ORDER if n in subsets):
                metrics = subsets[name].metrics
                table.add_row(split, name + suffix, str(subsets[name].n_queries), *[_cell(metrics[m].value, metrics[m].low, metrics[m].high, m) for m in HEADERS])
        chance = result.per_query.subsets["all"].metrics
        table.add_row(split, "[italic]chance[/]", f"/{result.n_candidates}", *[format_value(chance[m].chance, m) for m in HEADERS], end_section=True)
    return table


def dose_table(results: Results) -> Table:
    """Per-query metrics of every evaluated split by dose level (µM)."""
    table = _table("by dose level (µM), per query", "split", "dose", "n")
    for split, result in results.splits.items():
        if result.evaluated:
            by_dose = result.per_query.by_dose
            for dose in sorted(by_dose, key=dose_sort_key):
                metrics = by_dose[dose].metrics
                table.add_row(split, dose, str(by_dose[dose].n_queries), *[_cell(metrics[m].value, metrics[m].low, metrics[m].high, m) for m in HEADERS])
            table.add_section()
    return table


def comparison_table(comparison: Comparison) -> Table:
    """a - b per split and subset (rows) and metric (columns), coloured by verdict."""
    colours = {"better": "green", "worse": "red", "tied": "yellow"}
    table = _table(f"{comparison.a.model} ({comparison.a.file}) minus {comparison.b.model} ({comparison.b.file})", "split", "queries")
    table.caption = "a - b (accuracies in % points), paired 95% interval over molecules; green: a better, red: a worse, yellow: tied"
    for split, subsets in comparison.splits.items():
        for subset, metrics in subsets.items():
            cells = [f"[{colours[d.verdict]}]{_cell(d.difference, d.low, d.high, m)}\n{d.verdict}[/]" for m, d in metrics.items()]
            table.add_row(split, subset.replace("per_query/", "").replace("averaged/", "averaged, "), *cells)
        table.add_section()
    for split, reason in comparison.not_compared.items():
        table.add_row(split, f"not compared: {reason}", *[""] * len(HEADERS))
    return table
