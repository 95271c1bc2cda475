"""Versioned results of the scorer: the pydantic models, atomic writing, reading, and the rule
that results of different benchmarks or scorer majors are never mixed (used by the leaderboard).

Showing them is another module's job: terminal tables in :mod:`pheno_bench.results_tables`, the
leaderboard's pages in :mod:`pheno_bench.leaderboard.render`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import sha256_file, write_json
from pheno_bench.metric_ids import HEADERS, SUBSET_ORDER, TOP_K_PERCENT, k_of_folds  # noqa: F401 (re-exported: their old home)
from pheno_bench.text import format_value, literal, printable  # noqa: F401 (re-exported: their old home)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Estimate(_Frozen):
    """One metric on one subset: the value, its bootstrap interval, the chance level and the query-blind floor."""

    value: float
    low: float | None = Field(description="lower bound of the interval (None: no interval, see SubsetResult.status)")
    high: float | None
    chance: float = Field(description="expected value under a uniformly random ranking (= a constant embedding's score)")
    floor: float | None = Field(
        None, description="the score of the query-blind floor ranking (candidates ordered by the train dose prior, "
        "one dose per molecule first, never looking at the query), computed by the scorer; None: no floor for this benchmark",
    )
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
    floor: float | None = Field(None, description="the query-blind floor on this cell (see Estimate.floor)")
    k: int | None = None
    n_candidates: int | None = None
    n_molecules: int | None = None
    parts: dict[str, Estimate] = Field(
        default_factory=dict,
        description="the primary cell's dose part ('dose': dose_part) and identity part ('identity': identity_top_K pct), each with its chance and floor",
    )
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
    p_value: float | None = Field(
        None, description="two-sided, from the bootstrap standard error (normal approximation; percentile for exploratory cells), "
        "never below 1 / (resamples + 1), the resolution of the bootstrap",
    )
    p_holm: float | None = Field(None, description="Holm-adjusted over every secondary cell of the comparison (from the floored p-values)")
    exploratory: bool = Field(False, description="no multiplicity control: read as exploratory")
    se: float | None = Field(None, description="standard deviation of the bootstrap differences (molecules, and seeds where an entry has several)")


class PrimaryDifference(Difference):
    id: str
    label: str
    statement: str = Field("", description="the verdict with its bound, e.g. 'tied: a is at most 4.3 better and at most 3.4 worse than b (95 % interval)'")
    mde: float | None = Field(None, description="minimum detectable difference at 80 % power, two-sided 5 %: (z_0.975 + z_0.8) * se")
    seeds: str = Field("", description="how the entries' seeds enter the interval (resampled with the molecules, or one run)")


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
    p_floor: float | None = Field(None, description="the smallest p-value reported: 1 / (resamples + 1)")


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


# --- where results go, and never over other results -------------------------------------------

RESULTS_SUFFIX = ".results.json"


def results_path(submissions: Sequence[str | os.PathLike]) -> Path:
    """Where ``evaluate`` writes results by default: one rule for every results file.

    One submission: ``<folder>/<stem>.results.json`` beside it (``out/a.parquet`` ->
    ``out/a.results.json``), so two submissions never share a results file. Fold files pooled:
    ``<stem>.pooled.results.json`` in their common folder, the stem being what the files' names
    share without the fold (``out/v2/fold-0.parquet``... -> ``out/v2/folds.pooled.results.json``;
    ``m-fold-0.parquet``... -> ``m.pooled.results.json``).
    """
    paths = [Path(p) for p in submissions]
    if len(paths) == 1:
        return paths[0].with_name(paths[0].name.removesuffix(".parquet") + RESULTS_SUFFIX)
    folder = Path(os.path.commonpath([str(p.parent) for p in paths])) if len({p.is_absolute() for p in paths}) == 1 else paths[0].parent
    stem = os.path.commonprefix([p.name.removesuffix(".parquet") for p in paths])
    stem = re.sub(r"[-_.]*(folds?[-_.]*)?$", "", stem)
    return folder / f"{stem or 'folds'}.pooled{RESULTS_SUFFIX}"


def file_identity(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The sha256 of each file, sorted: what a results file records of the submissions it scored."""
    return sorted(sha256_file(p) for p in paths)


def recorded_identity(path: str | os.PathLike) -> tuple[list[str], ...] | None:
    """The submissions a results (or comparison) file records: (sha256s,) for results, (a's, b's) for a
    comparison; None when ``path`` is not a pheno-bench results file."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        if "submission" in data:
            refs = data.get("submissions") or [data["submission"]]
            return (sorted(r["sha256"] for r in refs),)
        if "a" in data and "b" in data:
            return tuple(sorted(r["sha256"] for r in (data.get(side + "_files") or [data[side]])) for side in ("a", "b"))
    except (KeyError, TypeError):
        return None
    return None


def check_replace(path: str | os.PathLike, identity, *, force: bool = False, flag: str = "--force") -> bool:
    """Results never replace other results silently: True when ``path`` exists and may be replaced
    (it records the same submissions, ``identity`` as :func:`recorded_identity` gives; or ``force``),
    False when it does not exist; otherwise one clear error naming the file and the fix.

    ``identity`` may be a callable (computed only when ``path`` exists: hashing is not free).
    """
    path = Path(path)
    if not path.exists():
        return False
    if path.is_dir():
        raise PhenoBenchError(f"{path}: is a folder; give a results file name, e.g. {path / 'results.json'}")
    if force:
        return True
    recorded = recorded_identity(path)
    if recorded is not None and recorded == tuple(identity() if callable(identity) else identity):
        return True
    what = "the results of other submission files" if recorded is not None else "something that is not a pheno-bench results file"
    raise PhenoBenchError(f"{path}: already exists and holds {what}; nothing was replaced: pass {flag} to replace it, or write elsewhere (--out)")


def refuse_existing_results(paths: Sequence[str | os.PathLike], *, replace: bool, flag: str = "--replace") -> None:
    """Before any work: results files that already exist are replaced only when asked (``replace``);
    otherwise one clear error naming the first and the fix (used for the baselines' per-run results)."""
    if replace:
        return
    if existing := [Path(p) for p in paths if Path(p).exists()]:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise PhenoBenchError(
            f"{existing[0]}: results of an earlier run already exist{more}; nothing was run: pass {flag} to replace them, "
            "or write them elsewhere (--results FOLDER)"
        )
