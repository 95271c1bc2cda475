"""The leaderboard: entries (seeds, folds, probes), re-scoring, ranking from paired verdicts, pages.

On the small synthetic-v1 benchmark with generated embeddings of known quality
(tests/leaderboard_helpers.py): these are properties of the leaderboard, not of real phenotypes.
The shared board (BOARD: four ranked entries, two of them twins, one with one seed, a degenerate
example and two probes) is built once per session. The real-data site build is at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from leaderboard_helpers import (
    BOARD, MARKDOWN_LINK, REPO, XSS, fold_benchmark, make_entry, metadata, mkdocs_build, shared_board, site_config, write_seed_file,
)
from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard import (
    METADATA_FILE,
    MIN_SEEDS,
    NOT_RANKED,
    PROBE,
    RANKED,
    BenchmarkScorer,
    Entry,
    add_entry,
    aggregate_seeds,
    board,
    build,
    check_comparable,
    check_entry_name,
    discover,
    eligibility,
    rank_entries,
    read_metadata,
    results_frame,
    score_entry,
    seed_file,
)
from pheno_bench.leaderboard.ranking import Verdict


@pytest.fixture(scope="module")
def toy(synthetic_v1):
    """The scorer for synthetic-v1 (built once per session by conftest)."""
    return Evaluator(synthetic_v1)


@pytest.fixture(scope="module")
def built(synthetic_v1, tmp_path_factory):
    """The shared board: (root with submissions/ and site/leaderboard/, its benchmark page)."""
    root = shared_board(synthetic_v1, tmp_path_factory.getbasetemp())
    return root, (root / "site/leaderboard/synthetic-v1/index.md").read_text()


def _headline(page: str) -> list[tuple[str, str, str]]:
    """(entry, status, rank cell) of the headline table's rows, in page order."""
    table = page.split('data-table="headline"')[1].split("</table>")[0]
    return re.findall(r'<tr data-entry="([^"]+)" data-status="([^"]+)"[^>]*><td data-sort="\d+">([^<]*)</td>', table)


# --- entries --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "my-model", "molphenix_v2.1", "x" * 64, "0abc9"])
def test_valid_entry_names(name):
    assert check_entry_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a\\b", "..", "a..b", "-a", "a-", ".a", "Model", "a b", "a\n", "x" * 65, XSS])
def test_invalid_entry_names_are_refused(name):
    with pytest.raises(PhenoBenchError, match="entry name"):
        check_entry_name(name)


def test_metadata_errors_name_file_and_field(tmp_path):
    good = metadata("synthetic-v1", [0]).model_dump(mode="json", exclude_none=True)
    cases = {
        "typo": good | {"licnce": "MIT"},
        "url": good | {"code_url": "javascript:alert(1)"},
        "seeds": good | {"seeds": [1, 1]},
        "folds": good | {"folds": [0, 0]},
        "kind": good | {"kind": "oracle"},
        "missing": {k: v for k, v in good.items() if k != "test_molecules_seen"},
    }
    fields = {"typo": "licnce", "url": "code_url", "seeds": "seeds", "folds": "folds", "kind": "kind", "missing": "test_molecules_seen"}
    for case, data in cases.items():
        path = tmp_path / f"{case}.yaml"
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(PhenoBenchError, match=re.escape(str(path))) as err:
            read_metadata(path)
        assert fields[case] in str(err.value)
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(PhenoBenchError, match="mapping"):
        read_metadata(tmp_path / "list.yaml")
    probe = tmp_path / "probe.yaml"
    probe.write_text(yaml.safe_dump(good | {"kind": "probe", "folds": [2, 0, 1]}))
    assert read_metadata(probe).kind == "probe" and read_metadata(probe).folds == [0, 1, 2]
    assert "folds" not in metadata("synthetic-v1", [0]).to_yaml()  # entries without folds keep their old bytes


def test_entry_folder_must_hold_one_file_per_seed(toy, tmp_path):
    folder = make_entry(toy, tmp_path, "e", noise=0.1, seeds=(0, 1))
    assert sorted(Entry.load(folder).files()) == [0, 1]
    (folder / seed_file(1)).rename(folder / seed_file(2))
    with pytest.raises(PhenoBenchError, match=r"missing seed-1.parquet: add one .*; not listed in metadata.yaml: seed-2.parquet"):
        Entry.load(folder)
    (folder / seed_file(2)).rename(folder / seed_file(1))
    (folder / "notes.txt").write_text("x")
    with pytest.raises(PhenoBenchError, match="notes.txt: unexpected file"):
        Entry.load(folder)


def test_fold_entry_layout(tmp_path):
    """fold-<k>/seed-<n>.parquet, one per listed fold and seed; nothing else, no links."""
    folder = tmp_path / "cv-model"
    for fold in (0, 1, 2):
        (folder / f"fold-{fold}").mkdir(parents=True)
        for seed in (0, 1):
            (folder / f"fold-{fold}" / seed_file(seed)).write_bytes(b"x")
    (folder / METADATA_FILE).write_text(metadata("cell-injury-v2", [0, 1], folds=[0, 1, 2]).to_yaml())
    entry = Entry.load(folder)
    assert entry.runs() == {s: {k: folder / f"fold-{k}" / seed_file(s) for k in (0, 1, 2)} for s in (0, 1)}
    with pytest.raises(PhenoBenchError, match="has folds"):
        entry.files()
    (folder / "fold-2" / seed_file(1)).unlink()
    with pytest.raises(PhenoBenchError, match=r"missing fold-2/seed-1.parquet: add one"):
        Entry.load(folder)
    (folder / "fold-2" / seed_file(1)).symlink_to(folder / "fold-2" / seed_file(0))
    with pytest.raises(PhenoBenchError, match="symbolic links"):
        Entry.load(folder)
    (folder / "fold-2" / seed_file(1)).unlink()
    (folder / "fold-2" / seed_file(1)).write_bytes(b"x")
    (folder / "fold-2" / "notes.txt").write_text("x")
    with pytest.raises(PhenoBenchError, match="notes.txt: unexpected file"):
        Entry.load(folder)
    (folder / "fold-2" / "notes.txt").unlink()
    (folder / seed_file(0)).write_bytes(b"x")  # a top-level seed file beside the folds
    with pytest.raises(PhenoBenchError, match=r"not listed in metadata.yaml: seed-0.parquet"):
        Entry.load(folder)


def test_add_entry_validates_everything_before_writing(toy, tmp_path):
    files = [write_seed_file(toy, tmp_path / f"s{s}.parquet", noise=0.1, seed=s) for s in (0, 1)]
    meta = metadata(toy.manifest.name, [0, 1])
    subs = tmp_path / "submissions"
    with pytest.raises(PhenoBenchError, match="one file per seed"):
        add_entry(files[:1], entry="mine", metadata=meta, submissions=subs, benchmark=toy.root)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(PhenoBenchError, match="broken.parquet"):
        add_entry([files[0], broken], entry="mine", metadata=meta, submissions=subs, benchmark=toy.root)
    with pytest.raises(PhenoBenchError, match="has no folds"):
        add_entry({0: {0: files[0]}}, entry="mine", metadata=metadata(toy.manifest.name, [0], folds=[0]), submissions=subs, benchmark=toy.root)
    assert not (subs / "mine").exists() and not list(subs.glob(".*"))

    entry = add_entry(files, entry="mine", metadata=meta, submissions=subs, benchmark=toy.root)
    assert sorted(p.name for p in entry.path.iterdir()) == [METADATA_FILE, "seed-0.parquet", "seed-1.parquet"]
    assert (entry.path / "seed-1.parquet").read_bytes() == files[1].read_bytes()
    assert read_metadata(entry.path / METADATA_FILE) == meta
    with pytest.raises(PhenoBenchError, match="already exists"):
        add_entry(files, entry="mine", metadata=meta, submissions=subs, benchmark=toy.root)
    with pytest.raises(PhenoBenchError, match="entry name"):
        add_entry(files, entry="../escape", metadata=meta, submissions=subs, benchmark=toy.root)

    meta_file = tmp_path / "meta.yaml"
    meta_file.write_text(meta.to_yaml())
    cli = [sys.executable, "-m", "pheno_bench.cli", "leaderboard", "add", *map(str, files), "--entry", "cli-entry",
           "--metadata", str(meta_file), "--submissions", str(subs), "--benchmark", str(toy.root)]
    done = subprocess.run(cli, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Entry.load(subs / "cli-entry").metadata == meta
    done = subprocess.run(cli, capture_output=True, text=True)
    assert done.returncode == 2 and "already exists" in done.stderr and "Traceback" not in done.stderr


def test_seeds_must_cover_the_same_splits(toy, tmp_path):
    folder = make_entry(toy, tmp_path, "partial", noise=0.1, seeds=(0, 1))
    write_seed_file(toy, folder / seed_file(1), noise=0.1, seed=1, splits=("unseen_images",))
    with pytest.raises(PhenoBenchError, match="cover different test splits"):
        score_entry(Entry.load(folder), toy)


# --- ranking rules ----------------------------------------------------------------------------


def test_eligibility_seeds_folds_probes_examples():
    meta = lambda seeds, **kw: metadata("x", seeds, **kw)
    assert eligibility(meta(range(MIN_SEEDS)), None) == (RANKED, "")
    status, reason = eligibility(meta(range(MIN_SEEDS - 1)), None)
    assert status == NOT_RANKED and f"ranking needs {MIN_SEEDS}" in reason
    assert eligibility(meta([0], kind="probe"), None) == (PROBE, "")  # probes are deterministic: one seed is enough
    assert eligibility(meta(range(5), kind="example"), None)[0] == NOT_RANKED
    status, reason = eligibility(meta(range(3), folds=[0, 1, 3]), [0, 1, 2, 3, 4])
    assert status == NOT_RANKED and reason.startswith("folds 2, 4 missing")
    assert eligibility(meta(range(3), folds=[0, 1, 2]), [0, 1, 2]) == (RANKED, "")
    assert eligibility(meta([0], kind="probe", folds=[0]), [0, 1])[0] == PROBE


def test_rank_counts_entries_significantly_better():
    means = {"a": 0.9, "b": 0.85, "c": 0.5, "d": 0.1}
    wins = {("a", "c"), ("b", "c"), ("a", "d"), ("b", "d"), ("c", "d")}  # a, b tied; c beaten by both
    assert rank_entries(means, wins) == [("a", 1, True), ("b", 1, True), ("c", 3, False), ("d", 4, False)]
    assert [e for e, *_ in rank_entries({"x": 3.0, "y": 1.0}, set(), higher_is_better=False)] == ["y", "x"]
    # rank, not mean, orders the table: d is beaten by a but c (lower mean, wide interval) by nobody
    assert rank_entries({"a": 0.9, "d": 0.85, "c": 0.8}, {("a", "d")}) == [("a", 1, True), ("c", 1, True), ("d", 2, False)]


def _fake(name, status, mean, seeds=3):
    est = None if mean is None else SimpleNamespace(value=mean, low=mean - 0.05, high=mean + 0.05)
    meta = SimpleNamespace(seeds=list(range(seeds)), folds=None)
    return SimpleNamespace(name=name, status=status, reason="", results={0: est} if mean is not None else {}, entry=SimpleNamespace(metadata=meta))


def test_board_places_probes_and_unranked_rows_in_place_and_checks_above_the_probes():
    primary = SimpleNamespace(higher_is_better=True, estimate=lambda est: est)
    scored = [_fake("a", RANKED, 0.9), _fake("b", RANKED, 0.6), _fake("c", RANKED, 0.3), _fake("p1", PROBE, 0.7, 1),
              _fake("p2", PROBE, 0.1, 1), _fake("u", NOT_RANKED, 0.95, 1), _fake("none", NOT_RANKED, None)]
    better = {("a", "b"), ("a", "c"), ("b", "c"), ("a", "p1"), ("a", "p2"), ("b", "p2"), ("c", "p2"), ("u", "p1"), ("u", "p2")}
    verdicts = {}
    for x, y in better:
        verdicts[x, y] = Verdict(x, y, 0.1, 0.05, 0.15, "better", "test")
        verdicts[y, x] = verdicts[x, y].flipped()
    rows = board(scored, verdicts, primary)
    assert [r.name for r in rows] == ["u", "a", "p1", "b", "c", "p2", "none"]
    assert [r.rank for r in rows] == [None, 1, None, 2, 3, None, None]
    by = {r.name: r for r in rows}
    assert by["a"].above_probes and by["u"].above_probes
    assert by["b"].above_probes is False and by["b"].probes_not_beaten == ["p1"]  # 0.6 < 0.7 but tied: not "above"
    assert by["p1"].above_probes is None and by["none"].mean is None
    assert verdicts["p1", "a"].verdict == "worse" and verdicts["p1", "a"].low == pytest.approx(-0.15)


# --- aggregation ------------------------------------------------------------------------------


def test_aggregate_seeds_is_mean_sample_std_and_envelope(built):
    root, _ = built
    runs = {s: json.loads((root / f"site/leaderboard/synthetic-v1/results/fair/seed-{s}.json").read_text()) for s in (0, 1, 2)}
    from pheno_bench.results import Results

    results = {s: Results.model_validate(r) for s, r in runs.items()}
    agg = aggregate_seeds(results_frame({("good", s): r for s, r in results.items()})).set_index(["split", "view", "kind", "group", "average", "metric"])
    checked = 0
    for split in ("unseen_images", "unseen_dataset"):
        for subset, average, metric in (("all", "micro", "top_1pct"), ("active", "macro", "mrr"), ("all", "micro", "median_rank")):
            estimates = [
                (r.splits[split].per_query.subsets[subset].metrics if average == "micro" else r.splits[split].per_query.subsets[subset].macro)[metric]
                for r in results.values()
            ]
            values = np.array([e.value for e in estimates])
            row = agg.loc[(split, "per_query", "subsets", subset, average, metric)]
            assert row["mean"] == pytest.approx(values.mean())
            assert row["std"] == pytest.approx(np.std(values, ddof=1))
            assert row["n"] == 3 and row["values"] == pytest.approx(list(values))
            assert row["low"] == min(e.low for e in estimates) and row["high"] == max(e.high for e in estimates)
            checked += 1
    assert checked == 6
    one = aggregate_seeds(results_frame({("e", 0): results[0]}))
    assert one["std"].isna().all() and (one["n"] == 1).all()


def test_results_of_different_benchmarks_or_scorers_are_never_mixed(built):
    root, _ = built
    from pheno_bench.results import read_results

    results = read_results(root / "site/leaderboard/synthetic-v1/results/good/seed-0.json")
    check_comparable({"a": results, "b": results})
    other_bench = results.model_copy(update={"benchmark": results.benchmark.model_copy(update={"fingerprint": "0" * 64})})
    with pytest.raises(PhenoBenchError, match="fingerprint"):
        check_comparable({"a": results, "b": other_bench})
    other_scorer = results.model_copy(update={"scorer_version": results.scorer_version.split(".")[0] + ".99.0"})
    with pytest.raises(PhenoBenchError, match="scorer versions"):
        check_comparable({"a": results, "b": other_scorer})


# --- the built board --------------------------------------------------------------------------


def test_headline_ranks_from_paired_verdicts_with_probes_in_place(built, synthetic_v1):
    root, page = built
    rows = _headline(page)
    names = [n for n, _, _ in rows]
    assert sorted(names) == sorted(BOARD)
    status = {n: s for n, s, _ in rows}
    rank = {n: r for n, _, r in rows}
    assert {n for n, s in status.items() if s == PROBE} == {"centroid-probe", "random-probe"}
    assert rank["centroid-probe"] == rank["random-probe"] == "probe"
    assert status["one-seed"] == status["constant"] == NOT_RANKED and rank["one-seed"] == "not ranked"
    assert "1 seed (ranking needs 3)" in page and "an example entry" in page
    assert rank["good"] == "1" and rank["fair"] == rank["fair-twin"] == "=2"
    ranked = [int(r.lstrip("=")) for _, s, r in rows if s == RANKED]
    assert ranked == sorted(ranked)
    # in place: the probes sit between the entries they fall between (means from the results JSON)
    primary = BenchmarkScorer(synthetic_v1).primary
    from pheno_bench.results import read_results

    means = {n: np.mean([primary.estimate(read_results(p)).value for p in (root / "site/leaderboard/synthetic-v1/results" / n).glob("seed-*.json")]) for n in names}
    assert names == sorted(names, key=lambda n: -means[n])  # well-separated generated entries: rank order = mean order
    assert names.index("good") < names.index("centroid-probe") < names.index("fair") < names.index("random-probe")
    # above the probes: only when the verdict says better than each probe
    cells = dict(re.findall(r'<tr data-entry="([^"]+)"[^\n]*<td title="[^"]*">([^<]*)</td></tr>', page))
    assert cells["good"] == "above all 2" and cells["fair"].startswith("not above") and cells["centroid-probe"] == "reference"
    assert "⚠ degenerate" in page.split('data-entry="constant"')[1].split("</tr>")[0]


def test_verdicts_are_the_scorers_pooled_comparison(built, synthetic_v1):
    """The entry page's verdict against another entry is the scorer's seed-pooled paired comparison."""
    from pheno_bench.compare import compare_entries

    root, _ = built
    entry_page = (root / "site/leaderboard/synthetic-v1/entries/fair.md").read_text()
    verdicts = dict(re.findall(r'<tr data-other="([^"]+)" data-verdict="([^"]+)">', entry_page))
    assert verdicts["good"] == "worse" and verdicts["random-probe"] == "better" and verdicts["fair-twin"] == "tied"
    subs = root / "submissions"
    files = lambda name: sorted((subs / name).glob("seed-*.parquet"))
    direct = compare_entries(files("fair"), files("centroid-probe"), benchmark=synthetic_v1).primary
    assert verdicts["centroid-probe"] == direct.verdict
    # the board's verdict (the primary cell alone, from its own ranks) is compare's, number for number
    from pheno_bench.leaderboard import BenchmarkScorer, Entry, paired_verdicts, score_entry

    scorer = BenchmarkScorer(synthetic_v1)
    scored = [score_entry(Entry.load(subs / n), scorer) for n in ("fair", "centroid-probe")]
    board = paired_verdicts(scored, scorer)[("fair", "centroid-probe")]
    assert (board.difference, board.low, board.high) == pytest.approx((direct.difference, direct.low, direct.high), abs=1e-12)
    assert "of 3 ranked entries" in entry_page and "(shared with fair-twin)" in entry_page


def test_every_top_k_percent_on_the_pages_states_its_k(built, synthetic_v1):
    """Issue 8 req. 4 (F's 23:14 note): no rendered page said k; the headline, the per-split tables,
    entry pages and the index now do, with k counted from each split's own candidate file."""
    import math

    import pandas as pd

    from pheno_bench.schema import TEST_SPLITS

    root, page = built
    n = {split: len(pd.read_parquet(synthetic_v1 / "candidates" / f"{split}.parquet")) for split in TEST_SPLITS}
    k = lambda percent, split: f"k = {math.ceil(percent * n[split] / 100)} of {n[split]}"
    # the headline: the primary metric's label with its k, in the heading line and the column header
    primary = f"unseen_molecules, active queries, macro top-5% ({k(5, 'unseen_molecules')})"
    assert f"Ranked by **{primary}**" in page
    header = page.split('data-table="headline"')[1].split("</thead>")[0]
    assert f">macro top-5% ({k(5, 'unseen_molecules')})</th>" in header  # the split and subset: in the line above
    # every per-split table: its top-K% headers give that split's k
    checked = 0
    for split in TEST_SPLITS:
        for table in re.findall(rf'<details data-table="detail" data-split="{split}".*?</thead>', page, re.S):
            assert f">top-1% ({k(1, split)})</th>" in table and f">top-5% ({k(5, split)})</th>" in table
            assert f">mol. top-1% ({k(1, split)})</th>" in table
            checked += 1
    assert checked == page.count('<details data-table="detail"') >= len(TEST_SPLITS)
    entry = (root / "site/leaderboard/synthetic-v1/entries/good.md").read_text()
    assert f"<th>{primary}</th>" in entry and f"unseen_images top-1% {k(1, 'unseen_images')}" in entry
    assert primary in (root / "site/leaderboard/index.md").read_text()
    assert "k = " in (root / "site/leaderboard/synthetic-v1/data-card.md").read_text()


def test_built_site_escapes_every_entry_string(built, tmp_path):
    root, _ = built
    shutil.copytree(root / "site/leaderboard", tmp_path / "site/leaderboard")
    assert mkdocs_build(site_config(tmp_path)) == []
    html = "\n".join(p.read_text() for p in (tmp_path / "build").rglob("*.html"))
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html and "<strong>bold</strong>" not in html
    assert "A paragraph. [click](javascript:alert(2)) **bold** | pipe" in html  # MARKDOWN_LINK, shown literally
    assert MARKDOWN_LINK.split("\n")[0] in html
    docs = json.loads((tmp_path / "build/search/search_index.json").read_text())["docs"]
    assert not [d["location"] for d in docs if XSS in d["title"] or XSS in d["text"]]
    assert (tmp_path / "build/leaderboard/synthetic-v1/entries/good.html").is_file()  # use_directory_urls: false


def test_invalid_entry_fails_the_build_naming_it_or_is_skipped(toy, tmp_path):
    subs, site = tmp_path / "submissions", tmp_path / "site"
    make_entry(toy, subs, "fine", noise=0.3)
    build(submissions=subs, site=site, benchmarks=[toy.root])
    before = {p: p.read_bytes() for p in (site / "leaderboard").rglob("*") if p.is_file()}
    broken = make_entry(toy, subs, "broken", noise=0.3)
    (broken / seed_file(0)).write_bytes(b"garbage")

    cli = [sys.executable, "-m", "pheno_bench.cli", "leaderboard", "build", "--submissions", str(subs), "--site", str(site), "--benchmark", str(toy.root)]
    done = subprocess.run(cli, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "entry 'broken' is invalid" in done.stderr and "seed-0.parquet" in done.stderr
    assert {p: p.read_bytes() for p in (site / "leaderboard").rglob("*") if p.is_file()} == before  # untouched

    report = build(submissions=subs, site=site, benchmarks=[toy.root], skip_invalid=True)
    assert list(report.skipped) == ["broken"] and report.benchmarks == {"synthetic-v1": ["fine"]}
    # deterministic: the same entry gives the same bytes (pages, plots, results JSON)
    board = lambda files: {p.relative_to(site): b for p, b in files.items() if "synthetic-v1" in p.parts}
    again = {p: p.read_bytes() for p in (site / "leaderboard").rglob("*") if p.is_file()}
    assert board(again) == board(before) and any(p.suffix == ".svg" for p in board(again))
    assert all(b"<dc:date>" not in b for p, b in board(again).items() if p.suffix == ".svg")
    assert "`broken`" in (site / "leaderboard/index.md").read_text()
    assert not (site / "leaderboard/synthetic-v1/entries/broken.md").exists()

    # --skip-invalid that leaves no valid entry fails and writes nothing
    shutil.rmtree(subs / "fine")
    before = {p: p.read_bytes() for p in (site / "leaderboard").rglob("*") if p.is_file()}
    done = subprocess.run([*cli, "--skip-invalid"], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "left no valid entry" in done.stderr
    assert {p: p.read_bytes() for p in (site / "leaderboard").rglob("*") if p.is_file()} == before


def test_build_without_entries_writes_an_empty_index(tmp_path):
    (tmp_path / "submissions").mkdir()
    report = build(submissions=tmp_path / "submissions", site=tmp_path / "site")
    assert report.benchmarks == {} and "No entries yet" in (tmp_path / "site/leaderboard/index.md").read_text()
    with pytest.raises(PhenoBenchError, match="submissions folder not found"):
        build(submissions=tmp_path / "nowhere", site=tmp_path / "site")


# --- the repository's own entries and site ----------------------------------------------------


def test_committed_entries_are_valid():
    for folder in discover(REPO / "submissions"):
        entry = Entry.load(folder)
        assert all(path.is_file() for per_fold in entry.runs().values() for path in per_fold.values())


@pytest.mark.slow
def test_repository_site_builds_from_a_fresh_copy(cell_injury_v1, cell_injury_v1_1, tmp_path):
    """`pheno-bench leaderboard build && mkdocs build --strict` on a copy of the repository."""
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    for hook in config.get("hooks", []):  # mkdocs hooks named by mkdocs.yml, relative to the repository
        (tmp_path / hook).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / hook, tmp_path / hook)
    shutil.copytree(REPO / "site", tmp_path / "site", ignore=shutil.ignore_patterns("leaderboard", ".leaderboard.*"))
    shutil.copytree(REPO / "submissions", tmp_path / "submissions")
    entries = [f for f in discover(tmp_path / "submissions") if Entry.load(f).metadata.benchmark in ("cell-injury-v1", "cell-injury-v1.1")]
    for folder in discover(tmp_path / "submissions"):
        if folder not in entries:
            shutil.rmtree(folder)  # entries of benchmarks this test does not build
    cli = [sys.executable, "-m", "pheno_bench.cli", "leaderboard", "build", "--benchmark", str(cell_injury_v1), "--benchmark", str(cell_injury_v1_1)]
    done = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "build/site/leaderboard/index.html").is_file()
    for folder in entries:
        board = Entry.load(folder).metadata.benchmark
        assert (tmp_path / "build/site/leaderboard" / board / "entries" / f"{folder.name}.html").is_file()
    old_board = (tmp_path / "site/leaderboard/cell-injury-v1/index.md").read_text()
    assert 'Superseded by cell-injury-v1.1' in old_board and "(../cell-injury-v1.1/index.md)" in old_board
    assert "Superseded" not in (tmp_path / "site/leaderboard/cell-injury-v1.1/index.md").read_text()


# --- a fold benchmark -------------------------------------------------------------------------


@pytest.mark.slow
def test_fold_benchmark_entries_pool_folds_and_rank(synthetic_v1, tmp_path_factory):
    """fold-<k>/seed-<n> entries: pooled over folds per seed, ranked only with every fold, seeds x folds shown."""
    from pheno_bench.evaluate import evaluate_folds
    from pheno_bench.folds import read_fold_set
    from pheno_bench.results import read_results

    root = fold_benchmark(tmp_path_factory.getbasetemp())
    folds = [f.fold for f in read_fold_set(root).folds]
    evaluators = {k: Evaluator(root, fold=k) for k in folds}
    subs = tmp_path_factory.mktemp("cv") / "submissions"
    make_entry(evaluators, subs, "cv-good", noise=0.25, seeds=(0, 1, 2))
    make_entry({k: evaluators[k] for k in folds[:-1]}, subs, "cv-partial", noise=0.25, seeds=(0, 1, 2))
    make_entry(evaluators, subs, "cv-probe", noise=100.0, seeds=(0,), kind="probe")
    report = build(submissions=subs, site=subs.parent / "site", benchmarks=[root])
    assert report.benchmarks == {"synthetic-cv": ["cv-good", "cv-partial", "cv-probe"]}
    page = (subs.parent / "site/leaderboard/synthetic-cv/index.md").read_text()
    rows = {n: (s, r) for n, s, r in _headline(page)}
    assert rows["cv-good"] == (RANKED, "1") and rows["cv-probe"] == (PROBE, "probe")
    assert rows["cv-partial"] == (NOT_RANKED, "not ranked") and f"folds {folds[-1]} missing" in page
    assert f">3 × {len(folds)}</td>" in page and "above all 1" in page
    # every top-K% states its k, per fold as `evaluate` prints it (issue 8 req. 4)
    from pheno_bench.leaderboard.render import split_k

    ns = [len(evaluators[k].keys["unseen_molecules"].candidate_ids) for k in folds]
    span = lambda xs: str(min(xs)) if min(xs) == max(xs) else f"{min(xs)}–{max(xs)}"
    per_fold = f"k = {span([-(-5 * x // 100) for x in ns])} of {span(ns)} per fold"
    assert f"macro top-5% ({per_fold})</th>" in page.split('data-table="headline"')[1].split("</thead>")[0]
    assert split_k(BenchmarkScorer(root), "unseen_molecules")["top_5pct"] == per_fold
    assert f">top-5% ({per_fold})</th>" in page
    # each seed's results are the scorer's pooling of that seed's fold files
    saved = read_results(subs.parent / "site/leaderboard/synthetic-cv/results/cv-good/seed-1.json")
    direct = evaluate_folds({k: subs / "cv-good" / f"fold-{k}" / seed_file(1) for k in folds}, benchmark=root)
    assert saved.primary == direct.primary and saved.splits == direct.splits
    assert not (subs.parent / "site/leaderboard/synthetic-cv/results/cv-partial").exists()
    # a fold entry written by add_entry: seed -> fold -> file, each file checked against its own fold
    files = {0: {k: subs / "cv-good" / f"fold-{k}" / seed_file(0) for k in folds}}
    meta = metadata("synthetic-cv", [0], folds=folds)
    entry = add_entry(files, entry="cv-added", metadata=meta, submissions=subs.parent / "added", benchmark=root)
    assert entry.runs()[0] == {k: entry.path / f"fold-{k}" / seed_file(0) for k in folds}
    swapped = {0: {0: files[0][1], **{k: files[0][k] for k in folds[1:]}}}
    with pytest.raises(PhenoBenchError):
        add_entry(swapped, entry="cv-swapped", metadata=meta, submissions=subs.parent / "added", benchmark=root)
    assert not (subs.parent / "added" / "cv-swapped").exists()


def test_control_characters_in_entry_strings_are_shown_escaped_on_pages():
    """Regression: an ESC byte in a model name reached the generated pages raw (HTML escaping does not touch it)."""
    from pheno_bench.leaderboard.render import environment

    page = environment().from_string("{{ name }}|{{ other }}").render(name="evil\x1b[31mred\x07", other="<b>\u200b</b>")
    assert "\x1b" not in page and "\x07" not in page and "\u200b" not in page
    assert page == "evil\\x1b[31mred\\x07|&lt;b&gt;\\u200b&lt;/b&gt;"


def test_board_states_its_power_and_entry_pages_bound_every_verdict(built, synthetic_v1):
    """Issue 20: the board gives its minimum detectable difference (80 % power) from its own paired
    verdicts, and a "tied" on an entry page carries its bound, never reads as "equal"."""
    from pheno_bench.leaderboard import BenchmarkScorer, Entry, discover, paired_verdicts, score_entry
    from pheno_bench.metrics import CI_LEVEL
    from pheno_bench.power import minimum_detectable_difference, se_from_interval

    root, page = built
    scorer = BenchmarkScorer(synthetic_v1)
    scored = [score_entry(Entry.load(f), scorer) for f in discover(root / "submissions")]
    pairs = {tuple(sorted(k)): v for k, v in paired_verdicts(scored, scorer).items()}
    mdes = sorted(minimum_detectable_difference(se_from_interval(v.low, v.high, CI_LEVEL)) for v in pairs.values() if v.low is not None)
    median = float(np.median(mdes))  # by hand: 2.80 x the SE each 95 % interval implies, median over the pairs
    match = re.search(r"\*\*Power\.\*\* .*? is\s+\*\*([0-9.]+) points\*\* \(median over (\d+) pairs", page, re.S)
    assert match and int(match.group(2)) == len(mdes)
    assert float(match.group(1)) == pytest.approx(100 * median, abs=0.05)
    entry_page = (root / "site/leaderboard/synthetic-v1/entries/fair.md").read_text()
    tied = re.search(r'<tr data-other="fair-twin" data-verdict="tied">.*?<small>([^<]+)</small>', entry_page)
    assert tied and tied.group(1).startswith("this entry is at most") and "better and at most" in tied.group(1)
