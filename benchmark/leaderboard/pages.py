"""Leaderboard pages, what they say: the rows and cells of a benchmark's headline and detail tables,
an entry's page and its verdicts, the metric definitions, from re-scored entries (:mod:`.rescore`)
and the board (:mod:`.ranking`). Writing the pages, plots and results is :mod:`.render`'s.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pheno_bench.leaderboard.ranking import BoardRow
from pheno_bench.leaderboard.rescore import PROBE, BenchmarkScorer, PrimaryMetric, Scored
from pheno_bench.leaderboard.verification import VerificationStatus
from pheno_bench.power import verdict_statement
from pheno_bench.metric_ids import HEADERS, SUBSET_ORDER, TOP_K_PERCENT, k_of_folds, metric_label
from pheno_bench.metrics import DOSE_IDENTITY, METRICS, RETRIEVAL_METRICS
from pheno_bench.results import dose_sort_key
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.text import format_value

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
    "median_rank": "median of the pooled rank distribution of the true candidate, each query's rank uniform over its tied block (lower is better)",
    "dose_part": "share of queries whose true dose ranks first among the true molecule's own doses (chance 1 / its doses)",
    "identity_top_1pct": "share of queries whose true candidate is within the top 1% of the candidates at the true dose level",
    "identity_top_5pct": "the same within the top 5%",
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


def metrics_context(metrics=METRICS) -> list[dict]:
    return [{"key": m, "label": HEADERS[m], "definition": DEFINITIONS[m]} for m in metrics]


def select_rows(agg: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(agg), dtype=bool)
    for column, value in where.items():
        mask &= (agg[column] == value).to_numpy()
    return agg[mask]


def lookup_by_entry(frame: pd.DataFrame, keys: list[str]) -> dict[str, dict[tuple, Mapping]]:
    """entry -> (the values of ``keys``, the columns after ``entry``) -> that row of ``frame``, in one
    pass over ``frame``. Each row is a read-only mapping column -> value over the frame's columns (made
    when read: most of a board's hundreds of thousands of cells are never shown)."""
    columns = list(frame.columns)
    lists = [frame[c].tolist() for c in columns]
    index = {c: j for j, c in enumerate(columns)}
    out: dict[str, dict[tuple, Mapping]] = {}
    for i, (entry, *key) in enumerate(zip(lists[index["entry"]], *(lists[index[k]] for k in keys))):
        out.setdefault(entry, {})[tuple(key)] = _Row(index, lists, i)
    return out


class _Row(Mapping):
    """Row ``i`` of column lists, read as a mapping column -> value."""

    __slots__ = ("_index", "_lists", "_i")

    def __init__(self, index: dict[str, int], lists: list[list], i: int):
        self._index, self._lists, self._i = index, lists, i

    def __getitem__(self, column: str):
        return self._lists[self._index[column]][self._i]

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


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


#: the primary metric's parts (``Primary.parts``, scorer 4): key -> (header, metric id of its values, definition)
PARTS = {
    "dose": ("dose part", "dose_part", "of the primary cell's queries: the true dose ranks first among the true molecule's own doses"),
    "identity": ("identity part", "identity_top_5pct", "of the primary cell's queries: the true candidate within the top-K% of the candidates at the true dose level"),
}


def _part_metric(primary: PrimaryMetric, part: str) -> str:
    """The metric id whose format a part's values take (identity: the primary's own top-K%)."""
    if part == "identity" and primary.metric in ("top_1pct", "molecule_top_1pct"):
        return "identity_top_1pct"
    return PARTS[part][1]


def _mean_text(values: list[float], metric: str) -> tuple[str, str]:
    """(cell, sort key): the mean over seeds, '–' when none."""
    if not values:
        return "–", ""
    mean = float(np.mean(values))
    return format_value(mean, metric), _sort_value(mean)


def parts_cells(s: Scored, primary: PrimaryMetric) -> dict[str, tuple[str, str]]:
    """part -> (mean over seeds of the primary's part, sort key), from the scorer's ``Primary.parts``."""
    out = {}
    for part in PARTS:
        values = [r.primary.parts[part].value for r in s.results.values() if r.primary is not None and part in r.primary.parts]
        out[part] = _mean_text(values, _part_metric(primary, part))
    return out


def reference_rows(scored: dict[str, Scored], primary: PrimaryMetric) -> list[dict]:
    """The headline's reference rows, the same on every entry: chance (a uniformly random ranking) and
    the query-blind floor (candidates ordered by the train dose prior, never looking at the query),
    for the primary metric and each of its parts, as the scorer computed them (``Primary.chance``,
    ``Primary.floor``, ``Primary.parts``). A row the scorer gave no number for is left out."""
    first = next((r.primary for s in scored.values() for r in s.results.values() if r.primary is not None and r.primary.value is not None), None)
    if first is None:
        return []
    rows = []
    for key, label, title in (("chance", "chance", "a uniformly random ranking (= a constant embedding's score)"),
                              ("floor", "query-blind floor", "candidates ordered by the train dose prior, one dose per molecule first, never looking at the query")):
        value = getattr(first, key)
        if value is None:
            continue
        parts = {part: (format_value(e, _part_metric(primary, part)) if (e := getattr(first.parts.get(part), key, None)) is not None else "–") for part in PARTS}
        rows.append({"key": key, "label": label, "title": title, "value": format_value(value, primary.metric), "parts": parts})
    return rows


def headline_rows(rows: list[BoardRow], scored: dict[str, Scored], primary: PrimaryMetric, reruns: dict[str, VerificationStatus]) -> list[dict]:
    """The headline table's rows; ``reruns``: each entry's re-run badge (:func:`verification_status`)."""
    n_probes = sum(r.status == PROBE and r.mean is not None for r in rows)
    out = []
    for position, row in enumerate(rows, start=1):
        s = scored[row.name]
        meta = s.entry.metadata
        value = _num(row.mean, primary.metric)
        if row.low is not None and row.mean is not None:
            value += f" [{format_value(row.low, primary.metric)}, {format_value(row.high, primary.metric)}]"
        probes, probes_title = _probe_text(row, n_probes)
        rerun = reruns[row.name]
        out.append({
            "rerun": rerun.label, "rerun_state": rerun.state, "rerun_title": rerun.title,
            "entry": row.name, "href": f"entries/{row.name}.html", "model": meta.model, "kind": meta.kind, "status": row.status,
            "reason": row.reason, "seen": meta.test_molecules_seen, "flags": s.flags, "position": position,
            "rank": _rank_text(row), "value": value, "value_sort": _sort_value(row.mean),
            "sd": "" if row.std is None else format_value(row.std, primary.metric),
            "seeds": f"{row.seeds} × {row.folds}" if row.folds is not None else str(row.seeds), "runs": row.seeds * (row.folds or 1),
            "probes": probes, "probes_title": probes_title, "parts": parts_cells(s, primary),
        })
    return out


def detail_tables(agg: pd.DataFrame, order: list[str], scored: dict[str, Scored], average: str, scorer: BenchmarkScorer, cells: dict) -> list[dict]:
    """One collapsed table per (test split, subset): every entry's metrics, in headline order; top-K% headers state k.
    cells: :func:`lookup_by_entry` of ``agg`` on the key columns after ``entry``."""
    tables = []
    for split in TEST_SPLITS:
        for subset in DETAIL_SUBSETS:
            present = select_rows(agg, split=split, view="per_query", kind="subsets", group=subset, average=average)
            if present.empty:
                continue
            names = [n for n in order if n in set(present["entry"])]
            where = (split, "per_query", "subsets", subset, average)
            row_of = lambda n, m: cells.get(n, {}).get((*where, m))
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


def verdicts_context(name: str, verdicts, scored: dict[str, Scored], rows: dict[str, BoardRow], primary: PrimaryMetric) -> list[dict]:
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
            # the bound that goes with the verdict ("at most +x better and at most y worse"): tied is not equal
            "bound": verdict_statement(v.verdict, v.low, v.high, primary.metric).split(": ", 1)[-1].replace("a is", "this entry is").replace("than b", "than it"),
        })
    return out


SUMMARY_VIEWS = (("per_query", "micro", ""), ("per_query", "macro", ", macro"), ("averaged", "micro", ", averaged"))
#: an entry's Summary as two tables that each fit the page: (title, metrics), the metrics in METRICS' order
SUMMARY_GROUPS = (("Retrieval", RETRIEVAL_METRICS), ("Dose and identity parts", DOSE_IDENTITY))


def summary_groups() -> list[dict]:
    """The Summary tables: each group's title, its metrics (key, label, definition) and its cells' slice of METRICS."""
    out, start = [], 0
    for title, metrics in SUMMARY_GROUPS:
        assert tuple(METRICS[start:start + len(metrics)]) == tuple(metrics), "SUMMARY_GROUPS must follow METRICS"
        out.append({"title": title, "metrics": metrics_context(metrics), "start": start, "stop": start + len(metrics)})
        start += len(metrics)
    return out


def entry_context(scored: Scored, agg: pd.DataFrame, average: str, rerun: VerificationStatus, *, cells: Mapping, per_seed_cells: Mapping) -> dict:
    """Everything an entry page shows apart from its rank, as plain strings; ``rerun``: its re-run badge.

    cells, per_seed_cells: this entry's :func:`lookup_by_entry` of ``agg`` (on the key columns after
    ``entry``) and of the benchmark's ``results_frame`` (on seed and those columns)."""
    name = scored.entry.name
    summary, per_seed, parts = [], [], {"by_dose": [], "by_scaffold": []}
    text = lambda key: _cell(cells[key]) if key in cells else "–"
    # the first row (in the table's order) of each (split, view, kind, group, average) and of each
    # (split, view, kind, group): dictionary look-ups instead of a boolean mask per subset
    first_cell, first_group = {}, {}
    for key, row in cells.items():
        first_cell.setdefault(key[:5], row)
        first_group.setdefault(key[:4], row)
    for split in TEST_SPLITS:
        groups = {kind: {g for (sp, v, k, g) in first_group if sp == split and v == "per_query" and k == kind} for kind in ("subsets", *parts)}
        if not groups["subsets"]:
            continue
        subsets = [s for s in SUBSET_ORDER if s in groups["subsets"]] + sorted(groups["subsets"] - set(SUBSET_ORDER))
        for view, avg, suffix in SUMMARY_VIEWS:
            for subset in subsets:
                row = first_cell.get((split, view, "subsets", subset, avg))
                if row is not None:
                    summary.append({"split": split, "subset": subset + suffix, "queries": int(row["n_queries"]),
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
                first = first_group[split, "per_query", kind, g]
                rows.append({"group": g, "queries": int(first["n_queries"]), "molecules": int(first["n_molecules"]),
                             "cells": [text((split, "per_query", kind, g, "micro", m)) for m in BREAKDOWN_METRICS]})
            parts[kind].append({"split": split, "rows": rows})
    meta = scored.entry.metadata
    return {
        "entry": {"name": name, **meta.model_dump(mode="json")},
        "rerun": {"label": rerun.label, "state": rerun.state, "title": rerun.title, "command": meta.verify.command if meta.verify else None},
        "summary": summary,
        "summary_groups": summary_groups(),
        "average": average,
        "per_seed": per_seed,
        "not_evaluated": [s for s in TEST_SPLITS if not any(key[0] == s for key in first_group)],
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
