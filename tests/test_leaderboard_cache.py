"""The leaderboard's results cache: unchanged entries are not re-scored, the pages are the same bytes.

On the shared synthetic-v1 board (tests/leaderboard_helpers.py, built once per session without a
cache): the scorer's calls are counted (``BenchmarkScorer.score_run`` per run, ``compare_primary``
per verdict), never timed.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from leaderboard_helpers import shared_board, write_seed_file
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard import build, ranking, rescore
from pheno_bench.leaderboard.cache import ResultsCache


@pytest.fixture(scope="module")
def warm(synthetic_v1, tmp_path_factory):
    """The shared board's entries with a filled cache: (folder with submissions/ and cache/, the board's
    pages built without a cache). The first, cold cached build must give the same bytes."""
    reference = shared_board(synthetic_v1, tmp_path_factory.getbasetemp()) / "site" / "leaderboard"
    root = tmp_path_factory.mktemp("warm")
    shutil.copytree(reference.parent.parent / "submissions", root / "submissions")
    report = _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert report.cached == {"synthetic-v1": []}
    assert _pages(root / "site/leaderboard") == _pages(reference)  # with the cache = without it
    return root, reference


@pytest.fixture()
def board(warm, tmp_path):
    """A copy of the warm board (entries and cache) to change, and the reference pages."""
    root, reference = warm
    for part in ("submissions", "cache"):
        shutil.copytree(root / part, tmp_path / part)
    return tmp_path, reference


def _small(warm, folder: Path, names=("one-seed", "random-probe")) -> Path:
    """A board of two one-run entries of the shared board (cheap to score again and again)."""
    for name in names:
        shutil.copytree(warm[0] / "submissions" / name, folder / "submissions" / name)
    return folder


@pytest.fixture()
def calls(monkeypatch):
    """Counts of runs scored (entry, seed) and verdicts computed (a, b) during a build."""
    counted = {"runs": [], "verdicts": []}
    score_run, compare_primary = rescore.BenchmarkScorer.score_run, ranking.compare_primary

    def counting_run(self, files, submissions=None):
        counted["runs"].append(Path(next(iter(files.values()))).parent.name)
        return score_run(self, files, submissions)

    def counting_verdict(a, b, scorer, *cache):
        counted["verdicts"].append((a.name, b.name))
        return compare_primary(a, b, scorer, *cache)

    monkeypatch.setattr(rescore.BenchmarkScorer, "score_run", counting_run)
    monkeypatch.setattr(ranking, "compare_primary", counting_verdict)
    return counted


def _pages(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _build(root: Path, synthetic_v1, cache: ResultsCache | None, site: str = "site"):
    return build(submissions=root / "submissions", site=root / site, benchmarks=[synthetic_v1], cache=cache)


def test_second_build_rescores_nothing_and_pages_are_the_same_bytes(board, calls, synthetic_v1):
    root, reference = board
    report = _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert calls == {"runs": [], "verdicts": []}
    assert sorted(report.cached["synthetic-v1"]) == sorted(report.benchmarks["synthetic-v1"]) and len(report.cached["synthetic-v1"]) == 7
    assert _pages(root / "site/leaderboard") == _pages(reference)


def test_a_changed_file_rescores_only_its_run(board, calls, synthetic_v1):
    root, reference = board
    write_seed_file(Evaluator(synthetic_v1), root / "submissions/fair/seed-1.parquet", noise=0.5, seed=99)
    report = _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert calls["runs"] == ["fair"]  # seed 1 alone: seeds 0 and 2 come from the cache
    assert calls["verdicts"] and all("fair" in pair for pair in calls["verdicts"])  # only the verdicts with fair in them
    assert "fair" not in report.cached["synthetic-v1"] and "good" in report.cached["synthetic-v1"]
    changed = {k for k, v in _pages(root / "site/leaderboard").items() if _pages(reference).get(k) != v}
    assert "synthetic-v1/results/fair/seed-1.json" in changed and "synthetic-v1/results/fair/seed-0.json" not in changed


def test_a_changed_scorer_version_or_fingerprint_rescores_everything(calls, synthetic_v1, tmp_path, monkeypatch, warm):
    root = _small(warm, tmp_path)
    _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert sorted(calls["runs"]) == ["one-seed", "random-probe"]
    calls["runs"].clear()
    _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert calls["runs"] == []
    from pheno_bench.leaderboard import cache as cache_module

    with monkeypatch.context() as patch:
        patch.setattr(cache_module, "SCORER_VERSION", "4.99.0")
        _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert sorted(calls["runs"]) == ["one-seed", "random-probe"]
    calls["runs"].clear()
    key = rescore.BenchmarkScorer.key.fget
    monkeypatch.setattr(rescore.BenchmarkScorer, "key", property(lambda self: key(self) | {"fingerprint": "0" * 64}))
    _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert sorted(calls["runs"]) == ["one-seed", "random-probe"]


def test_a_tampered_or_corrupt_cache_record_is_never_used(board, calls, synthetic_v1):
    root, reference = board
    folder = root / "cache"
    records = sorted((folder / "run").glob("*.record"))
    good = {p: p.read_text() for p in records}
    target = next(p for p, text in good.items() if '"fold":null,"file":"seed-0.parquet"' in text.partition("\n")[2])
    header, _, text = good[target].partition("\n")
    # 1. a number changed (the primary value doubled), digest left as it was
    payload = json.loads(text)
    payload["results"]["primary"]["value"] = 2 * payload["results"]["primary"]["value"] + 0.25
    target.write_text(header + "\n" + json.dumps(payload))
    # 2. another run's record copied over one whose key differs (digest intact, key wrong)
    other = next(p for p in records if p != target)
    victim = next(p for p in records if p not in (target, other))
    victim.write_text(good[other])
    # 3. a truncated record
    broken = next(p for p in records if p not in (target, other, victim))
    broken.write_text(good[broken][: len(good[broken]) // 2])
    notes = []
    _build(root, synthetic_v1, ResultsCache(folder, on_note=notes.append), site="site2")
    assert len(calls["runs"]) == 3 and len(notes) == 3
    assert any("do not match their sha256" in n for n in notes) and any("another key" in n for n in notes)
    assert all(n.startswith("cache record ") and "re-scoring entry " in n and "\n" not in n for n in notes)
    assert _pages(root / "site2/leaderboard") == _pages(reference)
    # re-scored records were rewritten: a third build uses them again
    calls["runs"].clear()
    _build(root, synthetic_v1, ResultsCache(folder), site="site3")
    assert calls["runs"] == []


def test_cli_build_prints_one_line_per_entry_off_a_terminal(synthetic_v1, tmp_path, monkeypatch, capsys, warm):
    from pheno_bench.cli import main

    root = _small(warm, tmp_path)
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "home"))
    args = ["pheno-bench", "leaderboard", "build", "--submissions", str(root / "submissions"), "--site", str(root / "site"), "--benchmark", str(synthetic_v1)]
    for extra, expect, board_step in (
        ([], "scored", "verdicts and pages"), ([], "every run from the cache", "unchanged, pages of the last build reused"), (["--rescore"], "scored", "verdicts and pages"),
    ):
        monkeypatch.setattr(sys, "argv", args + extra)
        try:
            main()
        except SystemExit as stop:
            assert stop.code in (0, None)
        lines = capsys.readouterr().out.splitlines()
        steps = [line for line in lines if line.startswith("[")]
        assert len(steps) == 3 and steps[0].startswith("[1/3] one-seed (synthetic-v1): ") and expect in steps[0]
        assert steps[-1].startswith(f"[3/3] synthetic-v1: {board_step}")
    assert (tmp_path / "home/cache/results/run").is_dir()


def test_unchanged_plots_come_from_the_cache_and_a_damaged_plot_record_is_redrawn(board, synthetic_v1, monkeypatch):
    """Issue 16: a board's SVG plots drawn from the same data and plotting code are written from the
    cache (matplotlib is the slow part of an unchanged build); a damaged plot record is one note
    and a redraw; the pages are the same bytes either way."""
    from pheno_bench import plots

    root, reference = board
    drawn = []
    save_svg = plots.save_svg
    monkeypatch.setattr(plots, "save_svg", lambda fig, path: (drawn.append(Path(path).name), save_svg(fig, path))[1])
    cache = ResultsCache(root / "cache")
    _build(root, synthetic_v1, cache)
    assert drawn == []  # the warm cache drew them: nothing drawn now
    assert cache.hits.get("plot") == 3 and _pages(root / "site/leaderboard") == _pages(reference)
    record = next((root / "cache/plot").glob("*.record"))
    record.write_text(record.read_text().replace("<svg", "<svg onload='x()'", 1))  # its sha256 no longer matches
    cache = ResultsCache(root / "cache")
    _build(root, synthetic_v1, cache, site="site2")  # a new site folder: no earlier pages to reuse, the board is rendered
    assert len(drawn) == 1 and any("plot" in note and "ignored" in note for note in cache.notes)
    assert _pages(root / "site2/leaderboard") == _pages(reference)
    assert "onload" not in record.read_text()  # rewritten by the redraw


def test_an_unchanged_board_reuses_its_pages_and_an_edited_page_is_rendered_again(board, synthetic_v1, monkeypatch):
    """Issue 16: a board whose inputs (entries' files, benchmark, code) did not change is copied from
    the last build after every file is checked against its stamp; an edited page, or a changed
    entry, renders it again; the pages are the same bytes as a full render either way."""
    from pheno_bench.leaderboard import render

    root, reference = board
    rendered = []
    render_benchmark = render.render_benchmark
    monkeypatch.setattr(render, "render_benchmark", lambda out, **kw: (rendered.append(out.name), render_benchmark(out, **kw))[1])
    _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert rendered == ["synthetic-v1"]  # the first build into this site: nothing to reuse
    _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert rendered == ["synthetic-v1"] and _pages(root / "site/leaderboard") == _pages(reference)
    page = next((root / "site/leaderboard/synthetic-v1").glob("*.md"))
    page.write_text(page.read_text() + "\n<script>alert(1)</script>\n")  # a hand edit of the published page
    _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert rendered == ["synthetic-v1"] * 2 and _pages(root / "site/leaderboard") == _pages(reference)
    (root / "submissions/fair/metadata.yaml").write_text((root / "submissions/fair/metadata.yaml").read_text() + "\n# a comment\n")
    _build(root, synthetic_v1, ResultsCache(root / "cache"))
    assert rendered == ["synthetic-v1"] * 3  # an entry's file changed: rendered again
    _build(root, synthetic_v1, ResultsCache(root / "cache", rescore=True))
    assert rendered == ["synthetic-v1"] * 4  # --rescore always renders
