"""The per-query values a verdict needs, cached per run: a verdict never reads another entry's files again.

A paired verdict (:mod:`.ranking`) resamples both entries' per-query values of the primary metric's
split: for each seed run and fold, the ``per_query`` and ``averaged`` :class:`~pheno_bench.scoring.View`
of that split. Ranking them means reading the run's files and ranking them again, so each run's
views are kept in the results cache (:class:`~.cache.ResultsCache`, an ``.npz`` record) under the
run's key with its own kind and the split: the run's files (sha256), the benchmark's fingerprint,
the scorer and package versions. A changed file, fingerprint or scorer is a new key; a record
that does not check out is a miss (one line), and the views are computed from the files again.

Only the numbers are stored (the views' arrays); a view's labels are the answer key's (the same
for every submission of that fold), rebuilt from the fold's :class:`~pheno_bench.scoring.SplitKey`
as :func:`pheno_bench.scoring.views.rank_split` builds them. A view read back equals the view
computed from the files in every field a verdict uses (tests/test_leaderboard_views.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pheno_bench.leaderboard.cache import ResultsCache
from pheno_bench.leaderboard.rescore import BenchmarkScorer, FileRef, Scored
from pheno_bench.metric_ids import VIEWS
from pheno_bench.scoring import SplitKey, View

#: the layout of a views record; a new layout is a new key
VIEWS_FORMAT = 1
#: the View fields kept (each an array with one row per query, or per averaged query); labels and
#: n_candidates come from the answer key, counts are not used by a verdict
ARRAYS = ("values", "pessimistic", "chance", "tied", "chance_tied", "floor", "floor_tied", "n_level")
#: the record of a run one of whose files does not embed the split (the verdict has nothing to compare)
ABSENT = "absent"

RunViews = dict[int | None, dict[str, View]]


def views_key(run_key: Mapping, split: str) -> dict:
    """The key of a run's views of ``split``: the run's key (:func:`~.cache.run_key`) with kind "views"."""
    return {**run_key, "kind": "views", "views_format": VIEWS_FORMAT, "split": split}


def view_labels(key: SplitKey) -> dict[str, object]:
    """view name -> its rows' labels, as :func:`~pheno_bench.scoring.views.rank_split` gives them: every
    query's for ``per_query``; for ``averaged`` the first query of each true (molecule, dose), in the
    order of the true candidates."""
    _, inverse = np.unique(key.true_index, return_inverse=True)
    first = np.unique(inverse.reshape(-1), return_index=True)[1]
    return {"per_query": key.labels.reset_index(drop=True), "averaged": key.labels.iloc[first].reset_index(drop=True)}


def _name(fold: int | None, view: str, field: str) -> str:
    return f"{'none' if fold is None else fold}/{view}/{field}"


def to_arrays(views: RunViews | None) -> dict[str, np.ndarray]:
    """A run's views as named arrays (``<fold>/<view>/<field>``; a field that is None is left out)."""
    if views is None:
        return {ABSENT: np.ones(1, dtype=bool)}
    return {
        _name(fold, view, f): np.asarray(getattr(v, f))
        for fold, per_view in views.items() for view, v in per_view.items() for f in ARRAYS if getattr(v, f) is not None
    }


def from_arrays(arrays: Mapping[str, np.ndarray], keys: Mapping[int | None, SplitKey]) -> RunViews | None:
    """The views of :func:`to_arrays`'s arrays, labels from each fold's answer key (``keys``: fold -> SplitKey).

    Raises ValueError when the arrays are not those of this benchmark's folds (names or shapes)."""
    if ABSENT in arrays:
        if set(arrays) != {ABSENT}:
            raise ValueError("a views record both absent and present")
        return None
    out: RunViews = {}
    expected = set()
    for fold, key in keys.items():
        labels = view_labels(key)
        out[fold] = {}
        for view in VIEWS:
            n = len(labels[view])
            fields = {}
            for f in ARRAYS:
                a = arrays.get(_name(fold, view, f))
                if a is None:
                    continue
                expected.add(_name(fold, view, f))
                if a.shape[:1] != (n,) or (a.ndim == 2) != (f in ("values", "pessimistic", "chance", "floor")):
                    raise ValueError(f"{_name(fold, view, f)} has shape {a.shape}, not {n} rows")
                fields[f] = a
            if not {"values", "pessimistic", "chance"} <= set(fields):
                raise ValueError(f"fold {fold} {view}: values missing")
            out[fold][view] = View(labels=labels[view], n_candidates=len(key.candidate_ids), **fields)
    if set(arrays) != expected:
        raise ValueError("arrays of other folds or fields")
    return out


def run_views(scored: Scored, seed: int, scorer: BenchmarkScorer, split: str, cache: ResultsCache | None) -> RunViews | None:
    """fold -> view name -> View of ``split`` for one seed run of ``scored`` (None: a file does not embed it).

    A run taken from the cache (its files not read in this build) has its views read from the cache
    when its record checks out; otherwise they come from the files (ranked by the board's scorers, once
    per build; a run scored in this build was ranked already) and are stored for the next build. Kept
    by the scorer for the rest of the build (a run is in several verdicts)."""
    subs = scored.submissions[seed]
    memo = (tuple((fold, sub.sha256) for fold, sub in subs.items()), split)
    if memo not in scorer.run_views:
        scorer.run_views[memo] = _run_views(scored, seed, scorer, split, cache)
    return scorer.run_views[memo]


def _run_views(scored: Scored, seed: int, scorer: BenchmarkScorer, split: str, cache: ResultsCache | None) -> RunViews | None:
    subs = scored.submissions[seed]
    key = scored.keys.get(seed)
    record = views_key(key, split) if cache is not None and key is not None else None
    cached_run = any(isinstance(s, FileRef) for s in subs.values())
    if record is not None and cached_run:
        keys = lambda: {fold: scorer.evaluator(fold).keys[split] for fold in subs}
        hit = cache.get_arrays(record, lambda arrays: from_arrays(arrays, keys()), what=f"the views of entry {scored.name} seed {seed}")
        if hit is not None:
            return hit[0]
    ranked = {fold: scorer.split_ranks(fold, sub, split) for fold, sub in subs.items()}
    views = None if any(r is None for r in ranked.values()) else {fold: {v: getattr(r, v) for v in VIEWS} for fold, r in ranked.items()}
    keyed = {fold: sha for fold, _, sha in key["files"]} if key is not None else None
    if record is not None and keyed == {fold: scorer.read(fold, sub).sha256 for fold, sub in subs.items()}:
        cache.put_arrays(record, to_arrays(views))  # only when the bytes ranked are the bytes keyed
    return views


__all__ = ["ABSENT", "ARRAYS", "VIEWS_FORMAT", "from_arrays", "run_views", "to_arrays", "view_labels", "views_key"]
