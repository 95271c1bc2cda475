"""Per-split summaries: fair per-query values -> every metric of every subset, with intervals.

Subsets (:func:`partitions`): all and active queries (anchors apart), by dose level and by scaffold,
and in ``unseen_dataset`` the molecules in / not in train; each is scored, descriptive or too few
(:func:`subset_status`, the "too few" rule); micro and macro averages with the molecule bootstrap
(:func:`cell_estimates`, :func:`summarise_split`); and the benchmark's primary metric
(:func:`primary_result`).
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pheno_bench.errors import PhenoBenchError
from pheno_bench.medians import forget
from pheno_bench.metric_ids import k_of_folds, metric_label, parse_metric_id
from pheno_bench.averages import bootstrap_weights, grouped_estimates, macro_estimates, point_and_bounds
from pheno_bench.metrics import IDENTITY_METRICS, METRICS, TOP_K_METRICS, TOP_PERCENTS, metric_parts, top_k_count
from pheno_bench.results import Estimate, Primary, SplitResult, SubsetResult, ViewResult, dose_sort_key
from pheno_bench.scoring.views import View

#: A subset with fewer molecules is "too few to score" (or, for breakdowns, shown without interval).
MIN_MOLECULES = 10
#: splits whose point is molecules a model never trained on: a subset all in train is too few there
UNSEEN_MOLECULE_SPLITS = ("unseen_molecules", "unseen_dataset")
HEADLINE_SUBSETS = ("all", "active")


def partitions(view: View, split: str) -> list[tuple[str, np.ndarray, list[str]]]:
    """(result field, group code per row or -1 to leave it out, subset name per code); anchors only in 'anchors'."""
    labels, n = view.labels, len(view.labels)
    anchor = labels["anchor"].to_numpy(dtype=bool)
    keep = lambda mask: np.where(mask & ~anchor, 0, -1)
    active = labels["active"].to_numpy(dtype=bool)
    parts = [("subsets", keep(np.ones(n, bool)), ["all"]), ("subsets", keep(active), ["active"])]
    if "non_cytotoxic" in labels.columns:  # only benchmarks whose answers flag it (absent: no subset)
        non_cytotoxic = labels["non_cytotoxic"].fillna(False).to_numpy(dtype=bool)
        parts.append(("subsets", keep(active & non_cytotoxic), ["active_non_cytotoxic"]))
    if anchor.any():
        parts.append(("subsets", np.where(anchor, 0, -1), ["anchors"]))
    if split == "unseen_dataset":
        in_train = labels["in_train"].to_numpy(dtype=bool)
        parts.append(("subsets", np.where(anchor, -1, np.where(in_train, 0, 1)), ["molecule_in_train", "molecule_not_in_train"]))
    for name, column, order in (("by_dose", "dose_level", dose_sort_key), ("by_scaffold", "scaffold_group", str)):
        names = sorted(labels[column].unique(), key=order)
        codes = pd.Index(names).get_indexer(labels[column])
        parts.append((name, np.where(anchor, -1, codes), [str(x) for x in names]))
    return parts


def subset_status(field_name: str, subset: str, split: str, n_molecules: int, all_in_train: bool) -> tuple[str, str]:
    """(status, reason) of one subset: ``scored``, ``descriptive`` (values, no interval) or ``too_few`` (the "too few" rule)."""
    if split in UNSEEN_MOLECULE_SPLITS and all_in_train:
        return "too_few", f"too few to score: all {n_molecules} molecules in train"
    if n_molecules < MIN_MOLECULES:
        if field_name == "by_scaffold" or subset == "anchors":
            return "descriptive", f"{n_molecules} molecule(s), no interval"
        return "too_few", f"too few to score ({n_molecules} molecule{'s' if n_molecules != 1 else ''} < {MIN_MOLECULES})"
    return "scored", ""


def _k_fields(metric: str, n_candidates: int | dict[int, int], n_level: int | None = None) -> dict:
    """k and n_candidates of a top-K% estimate; for an identity top-K% (ranked among the candidates
    at the true dose level), those of the level when every query of the cell has one level size."""
    if metric in IDENTITY_METRICS:
        return {} if n_level is None else {"k": top_k_count(IDENTITY_METRICS[metric], n_level), "n_candidates": n_level}
    if metric not in TOP_K_METRICS or not isinstance(n_candidates, int):
        return {}
    return {"k": top_k_count(TOP_K_METRICS[metric], n_candidates), "n_candidates": n_candidates}


def _level_size(view: View, rows: np.ndarray) -> int | None:
    """The number of candidates at the true dose level when every row of ``rows`` (bool) has the same, else None."""
    if view.n_level is None or not rows.any():
        return None
    sizes = np.unique(view.n_level[rows])
    return int(sizes[0]) if sizes.size == 1 else None


def cell_estimates(view: View, codes: np.ndarray, weights: np.ndarray, molecule: np.ndarray, which: str = "values") -> tuple[np.ndarray, np.ndarray]:
    """Group codes present in ``codes`` and their (2, rows, groups, n_metrics) micro and macro estimates.

    which: "values", "chance", "floor" (the median rank: the tie-aware median of the pooled rank
    distribution, each row's rank uniform over its tied block, when the view has the tied blocks)
    or "pessimistic" (the lower median of its ranks a + t)."""
    present, (values, mol, group, tied) = _cell(view, codes, molecule, which)
    return present, np.stack([average(values, mol, group, weights, tied=tied) for average in (grouped_estimates, macro_estimates)])


def cell_point_and_bounds(view: View, codes: np.ndarray, weights: np.ndarray, molecule: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group codes present in ``codes``, their (2 averages, 1, groups, n_metrics) estimates under
    weights[:1] alone (:func:`cell_estimates` of it, bit for bit: the same single-row computation
    as chance's) and the (2 averages, groups, n_metrics) low and high bounds of their bootstrap
    intervals over the resamples weights[1:].

    The bounds are the same numbers as :func:`pheno_bench.averages.intervals` over
    :func:`cell_estimates`' resample rows, without its (2, rows, groups, n_metrics) array (at 1,000
    resamples of 400 scaffold groups, 120 MB): each group's samples are reduced as they are
    computed; and what does not depend on the weights is computed once for both."""
    present, (values, mol, group, tied) = _cell(view, codes, molecule, "values")
    pairs = [point_and_bounds(average, values, mol, group, weights, tied=tied) for average in ("micro", "macro")]
    low, high = np.stack([bounds for _, bounds in pairs], axis=1)
    return present, np.stack([point for point, _ in pairs])[:, None], low, high


#: chance and floor cells by a digest of what they are computed from: they depend on the answer key
#: and the subset only, not on the submission, so a board or a fold set scoring many files computes
#: each once (the same computation, so the same bits)
_REFERENCE_CELLS: dict[str, np.ndarray] = {}
_REFERENCE_LOCK = threading.Lock()
REFERENCE_CELLS_KEPT = 256


def forget_reference_cells() -> None:
    """Drop the kept chance and floor cells (a benchmark timing one file's scoring starts without them)."""
    with _REFERENCE_LOCK:
        _REFERENCE_CELLS.clear()


def _reference_digest(view: View, which: str, molecule: np.ndarray, weights: np.ndarray):
    """A sha256 object fed with what a view's ``which`` cells depend on besides the subset's group
    codes (values, tied blocks, molecules, the point row): made once per view, copied per subset."""
    digest = hashlib.sha256(which.encode())
    for array in (getattr(view, which), view.tied_of(which), molecule, weights):
        _feed(digest, array)
    return digest


def _feed(digest, array: np.ndarray | None) -> None:
    if array is not None:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())


def _reference_cells(view: View, codes: np.ndarray, weights: np.ndarray, molecule: np.ndarray, which: str, base) -> np.ndarray:
    """:func:`cell_estimates` (point row only) of ``which`` ("chance" or "floor"), reused when
    its inputs (``base``: :func:`_reference_digest` of the view; and the group codes) are the same."""
    digest = base.copy()
    _feed(digest, codes)
    key = digest.hexdigest()
    with _REFERENCE_LOCK:
        kept = _REFERENCE_CELLS.get(key)
    if kept is None:
        kept = cell_estimates(view, codes, weights, molecule, which)[1]
        with _REFERENCE_LOCK:  # files may be scored in threads
            while len(_REFERENCE_CELLS) >= REFERENCE_CELLS_KEPT:
                _REFERENCE_CELLS.pop(next(iter(_REFERENCE_CELLS)))
            _REFERENCE_CELLS[key] = kept
    return kept.copy()


def _cell(view: View, codes: np.ndarray, molecule: np.ndarray, which: str) -> tuple[np.ndarray, list]:
    """Group codes present in ``codes`` (>= 0 kept) and the arguments of the averages for them:
    [values (kept rows), molecule codes, group index into present, tied blocks or None]."""
    keep = np.flatnonzero(codes >= 0)
    present, group = np.unique(codes[keep], return_inverse=True)
    tied = view.tied_of(which)
    return present, [getattr(view, which)[keep], molecule[keep], group, None if tied is None else tied[keep]]


def summarise(view: View, split: str, weights: np.ndarray, *, breakdowns: bool = True) -> tuple[ViewResult, dict[str, dict[str, float]]]:
    """Every metric (micro and macro, chance level, interval or status) for every subset; and the pessimistic view.
    breakdowns=False: the subsets only (by_dose and by_scaffold left empty; the subsets' numbers are the same)."""
    molecule, n_molecules = view.molecule_codes()
    in_train = view.labels["in_train"].to_numpy(dtype=bool)
    fields = {"subsets": {}, "by_dose": {}, "by_scaffold": {}}
    pessimistic = {}
    reference = {which: _reference_digest(view, which, molecule, weights[:1]) for which in ("chance", "floor") if getattr(view, which) is not None}
    for field_name, codes, names in partitions(view, split):
        if not breakdowns and field_name != "subsets":
            continue
        keep = codes >= 0
        if not keep.any():
            continue
        n_queries = np.bincount(codes[keep], minlength=len(names))
        mol_sets = pd.DataFrame({"g": codes[keep], "m": molecule[keep], "t": in_train[keep]}).drop_duplicates(["g", "m"])
        n_mol = np.bincount(mol_sets["g"], minlength=len(names))
        all_train = mol_sets.groupby("g")["t"].all().reindex(range(len(names)), fill_value=False).to_numpy()
        statuses = [subset_status(field_name, names[g], split, int(n_mol[g]), bool(all_train[g])) for g in range(len(names))]
        scored_codes = np.where(keep & np.isin(codes, [g for g, (s, _) in enumerate(statuses) if s == "scored"]), codes, -1)
        described = np.where(keep & np.isin(codes, [g for g, (s, _) in enumerate(statuses) if s == "descriptive"]), codes, -1)
        estimates = {}
        for part, rows in ((scored_codes, weights), (described, weights[:1])):
            if (part >= 0).any():
                # point estimates and chance levels by the same single-row computation, so that a
                # submission whose per-query values equal chance's scores chance bit for bit
                if len(rows) > 1:  # point: (2 averages, 1, groups, n_metrics); low, high: (2, groups, n_metrics)
                    present, point, low, high = cell_point_and_bounds(view, part, rows, molecule)
                else:
                    present, point = cell_estimates(view, part, weights[:1], molecule)
                    low = high = np.full((2, *point.shape[2:]), np.nan)
                chance = _reference_cells(view, part, weights[:1], molecule, "chance", reference["chance"])
                # the query-blind floor: the same computation as chance, on the floor ranking's values
                floor = _reference_cells(view, part, weights[:1], molecule, "floor", reference["floor"]) if view.floor is not None else np.full_like(chance, np.nan)
                # per group: [average][metric] lists of Python floats (None: no interval / no floor)
                cells = zip(*(np.swapaxes(a, 0, 1) for a in (_finite(point[:, 0]), _optional(low), _optional(high), _finite(chance[:, 0]), _optional(floor[:, 0]))))
                estimates.update(zip(present.tolist(), cells))
                if field_name == "subsets":
                    present_p, pess = cell_estimates(view, part, weights[:1], molecule, "pessimistic")
                    for g, row in zip(present_p.tolist(), _finite(pess[0, 0]).tolist()):
                        pessimistic[names[g]] = dict(zip(METRICS, row))
        for g, name in enumerate(names):
            if n_queries[g] == 0:
                continue
            status, reason = statuses[g]
            level_size = _level_size(view, keep & (codes == g))
            result = {"n_queries": int(n_queries[g]), "n_molecules": int(n_mol[g]), "status": status, "reason": reason}
            if g in estimates:
                k_fields = [_k_fields(metric, view.n_candidates, level_size) for metric in METRICS]
                for average, value, low, high, chance, floor in zip(("metrics", "macro"), *(a.tolist() for a in estimates[g])):
                    if status != "scored":
                        low = high = [None] * len(METRICS)
                    result[average] = {
                        metric: Estimate(value=value[j], low=low[j], high=high[j], chance=chance[j], floor=floor[j], **k_fields[j])
                        for j, metric in enumerate(METRICS)
                    }
            fields[field_name][name] = SubsetResult(**result)
        forget()  # what was prepared for this partition's groups is not asked for again
    return ViewResult(**fields), pessimistic


def _finite(x: np.ndarray) -> np.ndarray:
    """x (float64), checked: every value finite."""
    bad = x[~np.isfinite(x)]
    if bad.size:
        raise PhenoBenchError(f"internal error: a metric is {bad[0]}; please report this submission to the maintainers")
    return x


def _optional(x: np.ndarray) -> np.ndarray:
    """x as an object array of Python floats, None where NaN (no interval, no floor); checked: no infinity."""
    _finite(x[~np.isnan(x)])
    out = x.astype(object)
    out[np.isnan(x)] = None
    return out


def split_rng(seed: int, split: str) -> np.random.Generator:
    """The bootstrap generator of one split: the same molecules are drawn for every file scored with this seed."""
    return np.random.default_rng([seed, zlib.crc32(split.encode())])


def summarise_split(per_query: View, averaged: View, split: str, *, n_bootstrap: int, seed: int, base: dict, breakdowns: bool = True, **extra) -> SplitResult:
    """The SplitResult of (possibly pooled) views: bootstrap over the molecules of the pooled set.
    breakdowns=False: no by_dose / by_scaffold cells (a fold's results inside pooled ones keep none)."""
    _, n_molecules = per_query.molecule_codes()
    weights = bootstrap_weights(n_molecules, n_resamples=n_bootstrap, rng=split_rng(seed, split))
    pq_result, pessimistic = summarise(per_query, split, weights, breakdowns=breakdowns)
    avg_result, _ = summarise(averaged, split, weights, breakdowns=breakdowns)
    n_cand = per_query.n_candidates
    k = {f"top_{p}pct": top_k_count(p, n_cand) for p in TOP_PERCENTS} if isinstance(n_cand, int) else {}
    return SplitResult(evaluated=True, **base, k=k, per_query=pq_result, averaged=avg_result, pessimistic=pessimistic, **extra)


def primary_result(metric_id: str | None, splits: Mapping[str, SplitResult], *, not_evaluated: Mapping[str, str] | None = None) -> Primary | None:
    """The primary metric's Estimate from a results' splits (value None when too few / not evaluated).

    not_evaluated: split -> why it was not evaluated (e.g. "fold(s) [2] have no unseen_molecules"),
    kept as ``Primary.reason`` when the primary metric's split is one of them.
    """
    if not metric_id:
        return None
    split, view, subset, average, metric = parse_metric_id(metric_id)
    result = splits.get(split)
    if result is None or not result.evaluated:
        why = (not_evaluated or {}).get(split) or f"the submission does not cover {split}"
        return Primary(id=metric_id, label=metric_label(metric_id), value=None, reason=f"not evaluated: {why}")
    sub = getattr(result, view).subsets.get(subset)
    est = (sub.metrics if average == "micro" else sub.macro).get(metric) if sub is not None else None
    if est is None:
        return Primary(id=metric_id, label=metric_label(metric_id), value=None, n_molecules=sub.n_molecules if sub else None)
    label = metric_label(metric_id, est.k, est.n_candidates)
    if est.k is None and metric in TOP_K_METRICS and result.n_candidates_by_fold:
        label += f" ({k_of_folds(TOP_K_METRICS[metric], result.n_candidates_by_fold)})"
    cell = sub.metrics if average == "micro" else sub.macro
    parts = {part: cell[name] for part, name in metric_parts(metric).items() if name in cell}
    return Primary(
        id=metric_id, label=label, value=est.value, low=est.low, high=est.high,
        chance=est.chance, floor=est.floor, k=est.k, n_candidates=est.n_candidates, n_molecules=sub.n_molecules, parts=parts,
    )
