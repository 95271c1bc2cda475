"""The verdicts' per-query values in the results cache (:mod:`pheno_bench.leaderboard.primary_views`).

A build with one new entry reads that entry's files and no other: the verdicts against the old
entries take their per-query values from the cache. Those values equal the ones ranked from the
files bit for bit (labels included), the verdicts are the same with and without them, and a
damaged record is a miss (one line), never a traceback or a wrong number. Generated entries on the
small synthetic-v1 benchmark and on a 2-fold synthetic fold set (tests/leaderboard_helpers.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from leaderboard_helpers import fold_benchmark, make_entry
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard import Entry, build
from pheno_bench.leaderboard.cache import ResultsCache
from pheno_bench.leaderboard.primary_views import ARRAYS, run_views, views_key
from pheno_bench.leaderboard.ranking import paired_verdicts
from pheno_bench.leaderboard.rescore import BenchmarkScorer, score_entry
from pheno_bench.metric_ids import VIEWS
from pheno_bench.scoring import scorer as scorer_module


def _pages(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module", params=["single", "folds"])
def board(request, synthetic_v1, tmp_path_factory):
    """(benchmark folder, submissions/ of three entries (one ranked, one with one seed, a probe), a filled cache folder,
    the new entry's folder: one seed, so compared with the ranked entry and the probe)."""
    root = synthetic_v1 if request.param == "single" else fold_benchmark(tmp_path_factory.getbasetemp())
    scorer = BenchmarkScorer(root)
    evaluator = {k: scorer.evaluator(k) for k in scorer.folds} if scorer.folds else Evaluator(root)
    base = tmp_path_factory.mktemp(f"views-{request.param}")
    subs = base / "submissions"
    make_entry(evaluator, subs, "good", noise=0.3, seeds=(0, 1, 2))
    make_entry(evaluator, subs, "fair", noise=0.6, seeds=(3,))
    make_entry(evaluator, subs, "random-probe", noise=100.0, seeds=(0,), kind="probe")
    new = make_entry(evaluator, base / "later", "new", noise=0.4, seeds=(6,))
    build(submissions=subs, site=base / "site-fill", benchmarks=[root], cache=ResultsCache(base / "cache"))
    return root, subs, base / "cache", new


@pytest.fixture()
def copy(board, tmp_path):
    root, subs, cache, new = board
    shutil.copytree(subs, tmp_path / "submissions")
    shutil.copytree(cache, tmp_path / "cache")
    return root, tmp_path / "submissions", tmp_path / "cache", new


@pytest.fixture()
def reads(monkeypatch):
    """Every submission file read (the scorer's reader), in order."""
    seen: list[Path] = []
    read = scorer_module.read_submission

    def counting(path, **kwargs):
        seen.append(Path(path))
        return read(path, **kwargs)

    monkeypatch.setattr(scorer_module, "read_submission", counting)
    return seen


def test_a_build_with_one_new_entry_reads_no_other_entrys_file_and_pages_match_a_rescore(copy, reads):
    root, subs, cache, new = copy
    shutil.copytree(new, subs / "new")
    report = build(submissions=subs, site=subs.parent / "site", benchmarks=[root], cache=ResultsCache(cache))
    assert report.cached[next(iter(report.cached))] == ["fair", "good", "random-probe"]
    assert reads and all(p.is_relative_to(subs / "new") for p in reads), sorted({p.parent.name if p.parent.name != "new" else p.name for p in reads})
    assert len(reads) == len(set(reads))  # each of its files read once (scored, ranked and compared from one read)
    # the same bytes as a build that scores every entry and computes every verdict from the files
    build(submissions=subs, site=subs.parent / "site-rescore", benchmarks=[root], cache=ResultsCache(cache, rescore=True))
    assert _pages(subs.parent / "site/leaderboard") == _pages(subs.parent / "site-rescore/leaderboard")


def _scored(root: Path, subs: Path, cache: ResultsCache | None):
    scorer = BenchmarkScorer(root)
    return scorer, [score_entry(Entry.load(p), scorer, cache=cache) for p in sorted(subs.iterdir())]


def test_cached_views_equal_the_views_ranked_from_the_files_bit_for_bit_and_give_the_same_verdicts(copy):
    root, subs, folder, _ = copy
    for record in (folder / "verdict").glob("*.record"):
        record.unlink()  # the verdicts are computed again: from the cached views, and from the files
    cache = ResultsCache(folder)
    scorer, cached = _scored(root, subs, cache)
    fresh_scorer, fresh = _scored(root, subs, None)
    split = scorer.primary.split
    for a, b in zip(cached, fresh):
        assert a.cached == sorted(a.submissions)  # every run from the cache: its files are not read
        for seed in a.results:
            got = run_views(a, seed, scorer, split, cache)
            want = run_views(b, seed, fresh_scorer, split, None)
            assert got.keys() == want.keys()
            for fold in want:
                for view in VIEWS:
                    g, w = got[fold][view], want[fold][view]
                    assert g.labels.equals(w.labels) and (g.labels.dtypes == w.labels.dtypes).all()
                    assert g.n_candidates == w.n_candidates
                    for field in ARRAYS:
                        x, y = getattr(g, field), getattr(w, field)
                        assert (x is None) == (y is None)
                        if y is not None:
                            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True), (field, view)
    assert cache.hits.get("views") == sum(len(s.results) for s in cached) and not cache.misses.get("views")
    assert not scorer._read  # nothing read for the cached side
    with_views = paired_verdicts(cached, scorer, cache=cache)
    assert cache.hits["views"] == sum(len(s.results) for s in cached)  # each run's record read once per build
    assert with_views == paired_verdicts(fresh, fresh_scorer) and len(with_views) == 2 * 3


def test_a_damaged_views_record_is_a_miss_with_one_line_and_the_same_pages(copy, reads):
    root, subs, folder, _ = copy
    if BenchmarkScorer(root).folds:
        pytest.skip("the record's checks do not depend on folds (the single benchmark's case)")
    records = sorted((folder / "views").glob("*.npz"))
    assert records
    good = records[0].read_bytes()
    records[0].write_bytes(good[: len(good) // 2])  # truncated
    if len(records) > 1:  # a record of another run copied over this one (intact, another key)
        records[1].write_bytes(records[2 % len(records)].read_bytes())
    if len(records) > 2:
        records[2].write_bytes(b"not a zip file")
    for record in (folder / "verdict").glob("*.record"):
        record.unlink()
    notes: list[str] = []
    build(submissions=subs, site=subs.parent / "site", benchmarks=[root], cache=ResultsCache(folder, on_note=notes.append))
    damaged = min(len(records), 3)
    assert len(notes) == damaged and all(n.startswith("cache record ") and "re-computing the views of entry " in n and "\n" not in n for n in notes)
    assert reads  # the damaged runs' files were read and ranked again
    build(submissions=subs, site=subs.parent / "site-rescore", benchmarks=[root], cache=ResultsCache(folder, rescore=True))
    assert _pages(subs.parent / "site/leaderboard") == _pages(subs.parent / "site-rescore/leaderboard")


def test_a_new_scorer_version_or_fingerprint_uses_no_old_views(copy, monkeypatch):
    """Every views record is keyed by the scorer version and the fingerprint: a change of either
    computes every verdict's views again (none read from the cache) and stores them under new keys."""
    root, subs, folder, new = copy
    if BenchmarkScorer(root).folds:
        pytest.skip("keys do not depend on folds (the single benchmark's case)")
    shutil.copytree(new, subs / "new")  # new verdicts are needed: the old views would be read if still keyed the same
    from pheno_bench.leaderboard import cache as cache_module

    before = len(list((folder / "views").glob("*.npz")))
    key = BenchmarkScorer.key.fget
    for change in ("scorer", "fingerprint"):
        with monkeypatch.context() as patch:
            if change == "scorer":
                patch.setattr(cache_module, "SCORER_VERSION", "4.99.0")
            else:
                patch.setattr(BenchmarkScorer, "key", property(lambda self: key(self) | {"fingerprint": "0" * 64}))
            cache = ResultsCache(folder)
            build(submissions=subs, site=subs.parent / f"site-{change}", benchmarks=[root], cache=cache)
        assert not cache.hits.get("views") and not cache.hits.get("run") and not cache.hits.get("verdict"), cache.hits
    assert len(list((folder / "views").glob("*.npz"))) == before + 2 * 6  # 6 runs (3 + 1 + 1 + 1 new), twice
