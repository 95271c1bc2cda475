"""The leaderboard: ``submissions/<entry>/`` folders -> re-scored, aggregated, rendered pages.

An **entry** is a folder ``submissions/<entry>/`` holding ``metadata.yaml`` (an
:class:`EntryMetadata`) and one submission file per seed, ``seed-<N>.parquet``. The leaderboard
never reads a claimed number: :func:`build` re-scores every file with the installed scorer,
aggregates seeds (mean ± sample standard deviation, n) and renders Markdown pages and SVG plots
into ``site/leaderboard/`` for mkdocs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import LOWER_IS_BETTER, METRICS, SCORER_VERSION, Evaluator
from pheno_bench.io import write_text
from pheno_bench.manifest import SplitStats, read_manifest
from pheno_bench.results import HEADERS, SUBSET_ORDER, Comparison, Results, dose_sort_key, ensure_comparable, write_results
from pheno_bench.results import format_value
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.submission import Submission

METADATA_FILE = "metadata.yaml"
ENTRY_NAME = re.compile(r"^(?!.*\.\.)[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
SEED_FILE = re.compile(r"^seed-(\d+)\.parquet$")


def seed_file(seed: int) -> str:
    """The file name of one seed's submission inside an entry folder."""
    return f"seed-{seed}.parquet"


def check_entry_name(name: str) -> str:
    """``name`` if it is a valid entry name (lower-case letters, digits, ``-_.``; 1-64 characters).

    The name becomes a folder and a URL, so anything that could escape ``submissions/`` or need
    quoting is refused.
    """
    if not isinstance(name, str) or not ENTRY_NAME.fullmatch(name):
        raise PhenoBenchError(
            f"entry name {name!r} is not valid: use 1-64 lower-case letters, digits, '-', '_' or "
            "single '.', starting and ending with a letter or digit (e.g. 'my-model-v2')"
        )
    return name


class EntryMetadata(BaseModel):
    """``submissions/<entry>/metadata.yaml``: who made the model, how, and on what data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str = Field(min_length=1, max_length=120, description="model name as shown on the leaderboard")
    kind: Literal["submission", "baseline", "example"] = Field(
        "submission", description="baseline: a pheno-bench reference baseline; example: a placeholder, not a model"
    )
    description: str = Field("", max_length=2000, description="one paragraph: what the model is")
    authors: list[str] = Field(min_length=1, description="people or organisations")
    code_url: HttpUrl | None = Field(None, description="where the training code is")
    paper_url: HttpUrl | None = Field(None, description="the paper or preprint")
    benchmark: str = Field(min_length=1, description="benchmark name, e.g. cell-injury-v1")
    training_data: str = Field(min_length=1, max_length=2000, description="every dataset used for training or pre-training")
    test_molecules_seen: bool = Field(description="whether any test-split molecule was seen in training or pre-training")
    seeds: list[int] = Field(min_length=1, description="training seeds; one submission file seed-<N>.parquet each")
    parameters: int | None = Field(None, ge=0, description="number of trained parameters")
    hardware: str = Field("", max_length=200, description="what it was trained on")
    date: dt.date = Field(description="date of the submission")
    licence: str = Field(min_length=1, max_length=100, description="licence of the embeddings and model")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError("seeds must be distinct non-negative integers")
        return sorted(seeds)

    @field_validator("authors")
    @classmethod
    def _named(cls, authors: list[str]) -> list[str]:
        authors = [a.strip() for a in authors]
        if not all(authors):
            raise ValueError("an author name is empty")
        return authors

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True)


def read_metadata(path: str | os.PathLike) -> EntryMetadata:
    """Read and validate an entry's metadata YAML file; one clear error if it is wrong."""
    path = Path(path)
    if not path.is_file():
        raise PhenoBenchError(f"{path}: metadata file not found; copy the example in the docs (How to submit)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PhenoBenchError(f"{path}: not valid UTF-8 YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise PhenoBenchError(f"{path}: expected a YAML mapping of metadata fields")
    try:
        return EntryMetadata.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'metadata'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise PhenoBenchError(f"{path}: invalid entry metadata ({problems}); fix these fields") from None


@dataclass(frozen=True)
class Entry:
    """A validated leaderboard entry folder."""

    name: str
    path: Path
    metadata: EntryMetadata

    def files(self) -> dict[int, Path]:
        """Seed -> submission file."""
        return {seed: self.path / seed_file(seed) for seed in self.metadata.seeds}

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Entry":
        """Validate the entry folder ``path``: its name, metadata and exactly one file per seed."""
        path = Path(path)
        name = check_entry_name(path.name)
        metadata = read_metadata(path / METADATA_FILE)
        entry = cls(name, path, metadata)
        found = {int(m.group(1)) for f in path.iterdir() if (m := SEED_FILE.match(f.name))}
        missing = sorted(set(metadata.seeds) - found)
        extra = sorted(found - set(metadata.seeds))
        if missing or extra:
            raise PhenoBenchError(
                f"{path}: metadata seeds {metadata.seeds} do not match the files "
                f"(missing {[seed_file(s) for s in missing]}, unlisted {[seed_file(s) for s in extra]}); "
                "add one seed-<N>.parquet per listed seed"
            )
        for file in path.iterdir():
            if file.name != METADATA_FILE and not SEED_FILE.match(file.name) and file.name != "README.md":
                raise PhenoBenchError(
                    f"{file}: unexpected file in entry {name!r}; an entry holds only {METADATA_FILE}, "
                    "README.md and seed-<N>.parquet files"
                )
            if file.is_symlink():
                raise PhenoBenchError(f"{file}: symbolic links are not allowed in an entry; copy the file")
        return entry


def discover(submissions: str | os.PathLike) -> list[Path]:
    """Every entry folder under ``submissions`` (sorted by name; files and dot-folders skipped)."""
    root = Path(submissions)
    if not root.is_dir():
        raise PhenoBenchError(f"{root}: submissions folder not found; run from the repository root or pass --submissions")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def add_entry(
    files: list[str | os.PathLike],
    *,
    entry: str,
    metadata: str | os.PathLike | EntryMetadata,
    submissions: str | os.PathLike = "submissions",
    benchmark: str | os.PathLike | None = None,
    replace: bool = False,
) -> Entry:
    """Create ``submissions/<entry>/`` from submission files (one per metadata seed, in order).

    Each file is validated and scored against ``benchmark`` (a folder or name; default the
    metadata's) before anything is written; the folder appears whole or not at all.
    """
    name = check_entry_name(entry)
    meta = metadata if isinstance(metadata, EntryMetadata) else read_metadata(metadata)
    if len(files) != len(meta.seeds):
        raise PhenoBenchError(
            f"entry {name!r}: {len(files)} submission file(s) for seeds {meta.seeds}; "
            "pass one file per seed listed in the metadata, in the same order"
        )
    root = Path(submissions)
    target = root / name
    if target.exists() and not replace:
        raise PhenoBenchError(f"{target}: entry already exists; pass --replace to overwrite it")
    evaluator = Evaluator(benchmark or meta.benchmark)
    if evaluator.manifest.name != meta.benchmark:
        raise PhenoBenchError(f"entry {name!r}: metadata names benchmark {meta.benchmark!r}, not {evaluator.manifest.name!r}; fix one of them")
    for file in files:
        evaluator.evaluate(file)
    root.mkdir(parents=True, exist_ok=True)
    staging = _staging(root, name)
    try:
        for seed, file in zip(meta.seeds, files):
            shutil.copyfile(file, staging / seed_file(seed))
        write_text(meta.to_yaml(), staging / METADATA_FILE)
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Entry.load(target)


def _staging(parent: Path, name: str) -> Path:
    """A new, world-readable hidden folder in ``parent`` (mkdocs skips dot-folders) to build in."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}."))
    path.chmod(0o755)
    return path


def _replace_dir(new: Path, target: Path) -> None:
    """Move the folder ``new`` to ``target``, replacing any old one with one rename each."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


# --- scoring ------------------------------------------------------------------------------


@dataclass
class Scored:
    """One entry scored by the installed scorer: per seed, the validated submission and its results."""

    entry: Entry
    submissions: dict[int, Submission]
    results: dict[int, Results]


def score_entry(entry: Entry, evaluator: Evaluator) -> Scored:
    """Validate and score every seed file of ``entry`` against ``evaluator``'s benchmark."""
    if entry.metadata.benchmark != evaluator.manifest.name:
        raise PhenoBenchError(
            f"{entry.path / METADATA_FILE}: benchmark {entry.metadata.benchmark!r} but scored against "
            f"{evaluator.manifest.name!r}; fix the metadata's benchmark field"
        )
    submissions = {seed: evaluator.read(path) for seed, path in entry.files().items()}
    covered = {seed: sorted(sub.splits) for seed, sub in submissions.items()}
    if len({tuple(c) for c in covered.values()}) > 1:
        raise PhenoBenchError(
            f"{entry.path}: the seed files cover different test splits ({covered}); "
            "every seed of an entry must embed the same splits"
        )
    results = {seed: evaluator.evaluate(sub) for seed, sub in submissions.items()}
    return Scored(entry, submissions, results)


def check_comparable(results: Mapping[str, Results]) -> None:
    """Refuse results (label -> Results) of different benchmark fingerprints or scorer versions."""
    ensure_comparable(results)
    versions = {r.scorer_version for r in results.values()}
    if len(versions) > 1:
        raise PhenoBenchError(
            f"results were made by scorer versions {', '.join(sorted(versions))}; a leaderboard shows one "
            "scorer version: re-score every entry with `pheno-bench leaderboard build`"
        )


# --- aggregation --------------------------------------------------------------------------

KEYS = ["entry", "split", "view", "kind", "group", "metric"]


def results_frame(results: Mapping[tuple[str, int], Results]) -> pd.DataFrame:
    """Every estimate of every (entry, seed) as one tidy row.

    Columns: entry, seed, split, view (per_query | averaged), kind (subsets | by_dose |
    by_scaffold), group (subset, dose level or scaffold), metric, value, low, high, chance,
    n_queries. Splits a submission does not cover have no rows.
    """
    rows = []
    for (entry, seed), result in results.items():
        for split, split_result in result.splits.items():
            if not split_result.evaluated:
                continue
            for view in ("per_query", "averaged"):
                view_result = getattr(split_result, view)
                for kind in ("subsets", "by_dose", "by_scaffold"):
                    for group, subset in getattr(view_result, kind).items():
                        for metric, est in subset.metrics.items():
                            rows.append((entry, seed, split, view, kind, group, metric, est.value, est.low, est.high, est.chance, subset.n_queries))
    columns = ["entry", "seed", *KEYS[1:], "value", "low", "high", "chance", "n_queries"]
    return pd.DataFrame(rows, columns=columns).astype({"low": float, "high": float})


def aggregate_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """Seeds -> one row per (entry, split, view, kind, group, metric).

    frame: from :func:`results_frame`. Adds mean, std (sample: ddof=1, NaN for one seed), n
    (seeds), low / high (the envelope of the seeds' intervals: lowest low, highest high), values
    (per-seed values in seed order), chance and n_queries.
    """
    frame = frame.sort_values(["entry", "seed"], kind="stable")
    grouped = frame.groupby(KEYS, sort=True, dropna=False)
    out = grouped.agg(
        mean=("value", "mean"), std=("value", "std"), n=("value", "size"),
        low=("low", "min"), high=("high", "max"), chance=("chance", "first"), n_queries=("n_queries", "first"),
    )
    out["values"] = grouped["value"].agg(list)
    return out.reset_index()


def paired_verdicts(scored: list[Scored], evaluator: Evaluator) -> dict[tuple[str, str], list[Comparison]]:
    """(a, b) -> the scorer's paired comparisons of a's and b's seed files, matched in seed order.

    Each unordered pair of entries once (a before b in ``scored``); the i-th seed of a meets the
    i-th seed of b, so an entry with fewer seeds sets the number of comparisons.
    """
    comparisons = {}
    for i, a in enumerate(scored):
        for b in scored[i + 1 :]:
            pairs = zip(sorted(a.submissions.items()), sorted(b.submissions.items()))
            comparisons[a.entry.name, b.entry.name] = [evaluator.compare(sa, sb) for (_, sa), (_, sb) in pairs]
    return comparisons


def beats(comparisons: dict[tuple[str, str], list[Comparison]], *, split: str, subset: str, metric: str) -> set[tuple[str, str]]:
    """Pairs (winner, loser): the winner is better in every matched-seed paired comparison."""
    out = set()
    for (a, b), runs in comparisons.items():
        verdicts = {run.splits.get(split, {}).get(f"per_query/{subset}", {}).get(metric) for run in runs}
        verdicts = {v.verdict if v is not None else None for v in verdicts}
        if verdicts == {"better"}:
            out.add((a, b))
        elif verdicts == {"worse"}:
            out.add((b, a))
    return out


def rank_entries(means: Mapping[str, float], wins: set[tuple[str, str]], *, higher_is_better: bool = True) -> list[tuple[str, int, bool]]:
    """(entry, rank, tied) sorted by mean (best first, then by name).

    rank = 1 + the number of entries significantly better (in ``wins``); tied: another entry
    has the same rank.
    """
    sign = -1 if higher_is_better else 1
    order = sorted(means, key=lambda e: (sign * means[e], e))
    ranks = {e: 1 + sum((other, e) in wins for other in means) for e in order}
    counts = pd.Series(ranks).value_counts()
    return [(e, ranks[e], bool(counts[ranks[e]] > 1)) for e in order]


# --- rendering ----------------------------------------------------------------------------

RANKING_METRIC = "top_1pct"
TABLE_METRICS = ("top_1pct", "top_5pct", "molecule_top_1pct", "mrr", "median_rank")
BREAKDOWN_METRICS = ("top_1pct", "top_5pct", "mrr")
HEADLINE = ("all", "active")
DEFINITIONS = {
    "top_1pct": "share of queries whose true (molecule, dose) candidate is within the top 1% of the split's candidates (ties count against the model)",
    "top_5pct": "the same within the top 5%",
    "molecule_top_1pct": "share of queries whose true molecule, at its best-ranked dose, is within the top 1%",
    "molecule_top_5pct": "the same within the top 5%",
    "mrr": "mean over queries of 1 / rank of the true candidate",
    "median_rank": "median rank of the true candidate (lower is better)",
}


def _environment() -> jinja2.Environment:
    """Templates with every value HTML-escaped and its line breaks turned into single spaces.

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
        finalize=lambda value: re.sub(r"\s*\n\s*", " ", value) if isinstance(value, str) else value,
    )


def _cell(row, *, interval: bool = False) -> str:
    """'mean ± std' (one seed: the value alone); with interval, 'value [low–high]'."""
    metric = row["metric"]
    if interval:
        value = format_value(row["value"], metric)
        return value if pd.isna(row["low"]) else f"{value} [{format_value(row['low'], metric)}–{format_value(row['high'], metric)}]"
    text = format_value(row["mean"], metric)
    return text if row["n"] < 2 else f"{text} ± {format_value(row['std'], metric)}"


def _metrics_context(metrics=METRICS) -> list[dict]:
    return [{"key": m, "label": HEADERS[m], "definition": DEFINITIONS[m]} for m in metrics]


def _select(agg: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows of ``agg`` whose columns equal the given values."""
    mask = np.ones(len(agg), dtype=bool)
    for column, value in where.items():
        mask &= (agg[column] == value).to_numpy()
    return agg[mask]


def _lookup(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, dict]:
    """The rows of ``frame`` as dicts, keyed by the tuple of their ``keys`` columns."""
    return {tuple(row[k] for k in keys): row for row in frame.to_dict("records")}


def _leaderboard_tables(agg: pd.DataFrame, entries: dict[str, Entry], comparisons) -> list[dict]:
    """One table per (test split, headline subset): ranked rows and the chance level."""
    cells = _lookup(agg, KEYS)
    tables = []
    for split in TEST_SPLITS:
        for subset in HEADLINE:
            ranking = _select(agg, split=split, view="per_query", kind="subsets", group=subset, metric=RANKING_METRIC)
            if ranking.empty:
                continue
            means = dict(zip(ranking["entry"], ranking["mean"]))
            wins = beats(comparisons, split=split, subset=subset, metric=RANKING_METRIC)
            ranked = rank_entries(means, wins, higher_is_better=RANKING_METRIC not in LOWER_IS_BETTER)
            where = (split, "per_query", "subsets", subset)
            tables.append({
                "split": split, "subset": subset, "queries": int(ranking["n_queries"].iloc[0]),
                "rows": [
                    {"entry": name, "href": f"entries/{name}/", "model": entries[name].metadata.model, "kind": entries[name].metadata.kind,
                     "seen": entries[name].metadata.test_molecules_seen, "rank": rank, "tied": tied,
                     "n": cells[(name, *where, RANKING_METRIC)]["n"], "cells": [_cell(cells[(name, *where, m)]) for m in TABLE_METRICS]}
                    for name, rank, tied in ranked
                ],
                "chance": [format_value(cells[(ranked[0][0], *where, m)]["chance"], m) for m in TABLE_METRICS],
                "missing": sorted(set(entries) - set(means)),
            })
    return tables


def _plots(agg: pd.DataFrame, out: Path, tables: list[dict]) -> dict[str, str]:
    """Write the benchmark's SVG plots under ``out/plots``; return their paths relative to ``out``."""
    try:
        from pheno_bench.plots import accuracy_plot, dose_plot, save_svg
    except ImportError:
        raise PhenoBenchError("the leaderboard plots need matplotlib: pip install 'pheno-bench[docs]'") from None
    label = HEADERS[RANKING_METRIC]
    top = _select(agg, view="per_query", metric=RANKING_METRIC)
    subsets = top[top["kind"] == "subsets"].assign(
        mean=lambda d: 100 * d["mean"], low=lambda d: 100 * d["low"].fillna(d["mean"]), high=lambda d: 100 * d["high"].fillna(d["mean"]),
        seeds=lambda d: d["values"].map(lambda v: [100 * x for x in v]), subset=lambda d: d["group"],
    )
    splits = [s for s in TEST_SPLITS if (subsets["split"] == s).any()]
    order = list(dict.fromkeys(row["entry"] for t in tables for row in t["rows"]))
    chance = {s: 100 * subsets[subsets["split"] == s]["chance"].iloc[0] for s in splits}
    doses = top[top["kind"] == "by_dose"].assign(
        dose=lambda d: d["group"].astype(float), mean=lambda d: 100 * d["mean"], std=lambda d: 100 * d["std"].fillna(0.0)
    )
    paths = {"accuracy": "plots/accuracy.svg", "dose": "plots/dose.svg"}
    save_svg(accuracy_plot(subsets, splits=splits, entries=order, chance=chance, label=label), out / paths["accuracy"])
    save_svg(dose_plot(doses, splits=splits, entries=order, label=label), out / paths["dose"])
    return paths


def _entry_context(scored: Scored, agg: pd.DataFrame) -> dict:
    """Everything an entry page shows, as plain strings."""
    name = scored.entry.name
    mine = agg[agg["entry"] == name]
    cells = _lookup(mine, KEYS[1:])
    per_seed_cells = _lookup(results_frame({(name, seed): r for seed, r in scored.results.items()}), ["seed", *KEYS[1:]])
    summary, per_seed, parts = [], [], {"by_dose": [], "by_scaffold": []}
    for split in TEST_SPLITS:
        groups = {kind: set(mine[(mine["split"] == split) & (mine["kind"] == kind)]["group"]) for kind in ("subsets", *parts)}
        if not groups["subsets"]:
            continue
        subsets = [s for s in SUBSET_ORDER if s in groups["subsets"]]
        for view, suffix in (("per_query", ""), ("averaged", ", averaged")):
            summary += [
                {"split": split, "subset": subset + suffix, "queries": cells[(split, view, "subsets", subset, RANKING_METRIC)]["n_queries"],
                 "cells": [_cell(cells[(split, view, "subsets", subset, m)]) for m in METRICS]}
                for subset in subsets
            ]
        per_seed.append({"split": split, "rows": [
            {"subset": subset, "metric": HEADERS[m],
             "cells": [_cell(per_seed_cells[(seed, split, "per_query", "subsets", subset, m)], interval=True) for seed in sorted(scored.results)]}
            for subset in subsets for m in METRICS
        ]})
        for kind in parts:
            keys = sorted(groups[kind], key=dose_sort_key if kind == "by_dose" else str)
            parts[kind].append({"split": split, "rows": [
                {"group": g, "queries": cells[(split, "per_query", kind, g, RANKING_METRIC)]["n_queries"],
                 "cells": [_cell(cells[(split, "per_query", kind, g, m)]) for m in BREAKDOWN_METRICS]}
                for g in keys
            ]})
    meta = scored.entry.metadata
    return {
        "entry": {"name": name, **meta.model_dump(mode="json")},
        "summary": summary,
        "per_seed": per_seed,
        "not_evaluated": [s for s in TEST_SPLITS if mine[mine["split"] == s].empty],
        "seeds": [
            {"seed": seed, "sha256": r.submission.sha256, "results": f"../results/{name}/seed-{seed}.json",
             "flags": [f"{split}: {flag}" for split, sr in r.splits.items() for flag in sr.flags]}
            for seed, r in sorted(scored.results.items())
        ],
        "breakdowns": [
            {"title": "dose level (µM)", "open": True, "parts": parts["by_dose"], "labels": [HEADERS[m] for m in BREAKDOWN_METRICS],
             "note": "Per-query scores of the queries treated at each dose level (all queries)."},
            {"title": "scaffold", "open": False, "parts": parts["by_scaffold"], "labels": [HEADERS[m] for m in BREAKDOWN_METRICS],
             "note": "Per-query scores grouped by the Bemis–Murcko scaffold of the query's molecule ((acyclic) for acyclic molecules)."},
        ],
    }


def render_benchmark(out: Path, *, evaluator: Evaluator, scored: list[Scored], env: jinja2.Environment) -> None:
    """Write one benchmark's pages, plots and per-seed results JSON into the folder ``out``."""
    results = {(s.entry.name, seed): r for s in scored for seed, r in s.results.items()}
    check_comparable({f"{entry} seed {seed}": r for (entry, seed), r in results.items()})
    agg = aggregate_seeds(results_frame(results))
    entries = {s.entry.name: s.entry for s in scored}
    tables = _leaderboard_tables(agg, entries, paired_verdicts(scored, evaluator))
    manifest = evaluator.manifest
    first = next(iter(results.values()))
    bench = {
        "name": manifest.name, "version": manifest.version, "fingerprint": manifest.fingerprint,
        "scorer_version": first.scorer_version, "package_version": first.pheno_bench_version,
    }
    page = {
        "bench": bench, "tables": tables, "metrics": _metrics_context(TABLE_METRICS), "definitions": _metrics_context(), "ranking_label": HEADERS[RANKING_METRIC],
        "examples": [n for n, e in entries.items() if e.metadata.kind == "example"], "plots": _plots(agg, out, tables),
    }
    write_text(env.get_template("leaderboard_benchmark.md.j2").render(page), out / "index.md")
    activity = [(k, v if isinstance(v, str) else json.dumps(v, sort_keys=True)) for k, v in sorted(manifest.activity.items())]
    columns = [(name, field.description or name) for name, field in SplitStats.model_fields.items() if name not in ("split", "dose_levels")]
    card = env.get_template("leaderboard_data_card.md.j2").render(m=manifest, fingerprint=manifest.fingerprint, activity=activity, split_columns=columns)
    write_text(card, out / "data-card.md")
    entry_page = env.get_template("leaderboard_entry.md.j2")
    for s in scored:
        context = _entry_context(s, agg) | {"bench": bench, "metrics": _metrics_context()}
        write_text(entry_page.render(context), out / "entries" / f"{s.entry.name}.md")
        for seed, r in s.results.items():
            write_results(r, out / "results" / s.entry.name / f"seed-{seed}.json")


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
    PhenoBenchError naming it, or with ``skip_invalid`` is reported and left out. The output
    folder is replaced whole, only once everything rendered.
    """
    evaluators: dict[str, Evaluator] = {}
    folders = {read_manifest(Path(b)).name: Path(b) for b in benchmarks}
    scored: dict[str, list[Scored]] = {}
    skipped: dict[str, str] = {}
    for path in discover(submissions):
        try:
            entry = Entry.load(path)
            name = entry.metadata.benchmark
            if name not in evaluators:
                evaluators[name] = Evaluator(folders.get(name, name))
            scored.setdefault(name, []).append(score_entry(entry, evaluators[name]))
        except PhenoBenchError as exc:
            if not skip_invalid:
                raise PhenoBenchError(
                    f"entry {path.name!r} is invalid: {exc} (or build the rest with --skip-invalid)"
                ) from None
            skipped[path.name] = str(exc)
    env = _environment()
    target = Path(site) / "leaderboard"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging(target.parent, "leaderboard")
    try:
        for name, entries in sorted(scored.items()):
            render_benchmark(staging / name, evaluator=evaluators[name], scored=entries, env=env)
        listing = [
            {"name": name, "entries": len(entries), "scorer_version": SCORER_VERSION, "fingerprint": evaluators[name].manifest.fingerprint}
            for name, entries in sorted(scored.items())
        ]
        write_text(env.get_template("leaderboard_index.md.j2").render(benchmarks=listing, skipped=sorted(skipped)), staging / "index.md")
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuildReport(target, {name: [s.entry.name for s in entries] for name, entries in sorted(scored.items())}, skipped)
