"""The leaderboard: entry validation, add, seed aggregation, ranking, rendering and escaping.

On the small synthetic-v1 benchmark with generated embeddings of known quality
(tests/leaderboard_helpers.py): these are properties of the leaderboard, not of real phenotypes.
The real-data site build (cell-injury-v1) is at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from leaderboard_helpers import REPO, make_entry, metadata, mkdocs_build, site_config, write_seed_file
from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard import (
    METADATA_FILE,
    Entry,
    add_entry,
    aggregate_seeds,
    beats,
    build,
    check_comparable,
    check_entry_name,
    discover,
    paired_verdicts,
    rank_entries,
    read_metadata,
    results_frame,
    score_entry,
    seed_file,
)

XSS = "<script>alert(1)</script>"
MARKDOWN_LINK = "A paragraph.\n\n[click](javascript:alert(2)) **bold** | pipe"


@pytest.fixture(scope="module")
def toy(synthetic_v1):
    """The scorer for synthetic-v1 (built once per session by conftest)."""
    return Evaluator(synthetic_v1)


@pytest.fixture(scope="module")
def built(toy, tmp_path_factory):
    """A leaderboard of four entries of known quality plus two identical twins, built once."""
    root = tmp_path_factory.mktemp("board")
    subs = root / "submissions"
    make_entry(toy, subs, "oracle", noise=0.0, seeds=(0, 1), model="Oracle")
    make_entry(toy, subs, "good", noise=0.2, seeds=(0, 1, 2), model=XSS, description=MARKDOWN_LINK)
    make_entry(toy, subs, "random", noise=100.0, seeds=(0, 1), kind="example", model="random embeddings")
    make_entry(toy, subs, "twin-a", noise=0.5, seeds=(0,), test_molecules_seen=True)
    make_entry(toy, subs, "twin-b", noise=0.5, seeds=(0,))
    site_config(root)
    report = build(submissions=subs, site=root / "site", benchmarks=[toy.root])
    return root, report


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
        "missing": {k: v for k, v in good.items() if k != "test_molecules_seen"},
    }
    fields = {"typo": "licnce", "url": "code_url", "seeds": "seeds", "missing": "test_molecules_seen"}
    for case, data in cases.items():
        path = tmp_path / f"{case}.yaml"
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(PhenoBenchError, match=re.escape(str(path))) as err:
            read_metadata(path)
        assert fields[case] in str(err.value)
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(PhenoBenchError, match="mapping"):
        read_metadata(tmp_path / "list.yaml")


def test_entry_folder_must_hold_one_file_per_seed(toy, tmp_path):
    folder = make_entry(toy, tmp_path, "e", noise=0.1, seeds=(0, 1))
    assert sorted(Entry.load(folder).files()) == [0, 1]
    (folder / seed_file(1)).rename(folder / seed_file(2))
    with pytest.raises(PhenoBenchError, match=r"missing \['seed-1.parquet'\], unlisted \['seed-2.parquet'\]"):
        Entry.load(folder)
    (folder / seed_file(2)).rename(folder / seed_file(1))
    (folder / "notes.txt").write_text("x")
    with pytest.raises(PhenoBenchError, match="notes.txt: unexpected file"):
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


# --- aggregation and ranking ----------------------------------------------------------------


def test_aggregate_seeds_is_mean_sample_std_and_envelope(toy, tmp_path):
    scored = score_entry(Entry.load(make_entry(toy, tmp_path, "e", noise=0.3, seeds=(0, 1, 2))), toy)
    agg = aggregate_seeds(results_frame({("e", s): r for s, r in scored.results.items()})).set_index(["split", "view", "kind", "group", "metric"])
    for split in ("unseen_images", "unseen_dataset"):
        for subset, metric in (("all", "top_1pct"), ("active", "mrr"), ("all", "median_rank")):
            estimates = [r.splits[split].per_query.subsets[subset].metrics[metric] for r in scored.results.values()]
            values = np.array([e.value for e in estimates])
            row = agg.loc[(split, "per_query", "subsets", subset, metric)]
            assert row["mean"] == pytest.approx(values.mean())
            assert row["std"] == pytest.approx(np.std(values, ddof=1))
            assert row["n"] == 3 and row["values"] == pytest.approx(list(values))
            assert row["low"] == min(e.low for e in estimates) and row["high"] == max(e.high for e in estimates)
    one = aggregate_seeds(results_frame({("e", 0): scored.results[0]}))
    assert one["std"].isna().all() and (one["n"] == 1).all()


def test_results_of_different_benchmarks_or_scorers_are_never_mixed(toy, tmp_path):
    results = score_entry(Entry.load(make_entry(toy, tmp_path, "e", noise=0.3, seeds=(0,))), toy).results[0]
    check_comparable({"a": results, "b": results})
    other_bench = results.model_copy(update={"benchmark": results.benchmark.model_copy(update={"fingerprint": "0" * 64})})
    with pytest.raises(PhenoBenchError, match="fingerprint"):
        check_comparable({"a": results, "b": other_bench})
    other_scorer = results.model_copy(update={"scorer_version": "2.1.0"})
    with pytest.raises(PhenoBenchError, match=f"scorer versions {results.scorer_version}, 2.1.0"):
        check_comparable({"a": results, "b": other_scorer})


def test_rank_counts_entries_significantly_better():
    means = {"a": 0.9, "b": 0.85, "c": 0.5, "d": 0.1}
    wins = {("a", "c"), ("b", "c"), ("a", "d"), ("b", "d"), ("c", "d")}  # a, b tied; c beaten by both
    assert rank_entries(means, wins) == [("a", 1, True), ("b", 1, True), ("c", 3, False), ("d", 4, False)]
    assert [e for e, *_ in rank_entries({"x": 3.0, "y": 1.0}, set(), higher_is_better=False)] == ["y", "x"]


def test_paired_verdicts_separate_good_from_random_and_tie_twins(toy, tmp_path):
    scored = [
        score_entry(Entry.load(make_entry(toy, tmp_path, name, noise=noise, seeds=(0,))), toy)
        for name, noise in (("good", 0.1), ("random", 100.0))
    ]
    twin = make_entry(toy, tmp_path, "twin", noise=0.1, seeds=(0,))
    scored.append(score_entry(Entry.load(twin), toy))
    wins = beats(paired_verdicts(scored, toy), split="unseen_molecules", subset="all", metric="top_1pct")
    assert wins == {("good", "random"), ("twin", "random")}


# --- the built leaderboard ------------------------------------------------------------------


def _rows(markdown: str, split: str, subset: str) -> list[tuple[str, str]]:
    """(rank, entry) of the rows of one leaderboard table in a generated page."""
    table = markdown.split(f'data-split="{split}" data-subset="{subset}"')[1].split("</table>")[0]
    return re.findall(r'<tr data-entry="([^"]+)"><td>(=?\d+)</td>', table)


def test_build_ranks_entries_marks_ties_and_shows_chance(built):
    root, report = built
    assert report.benchmarks == {"synthetic-v1": ["good", "oracle", "random", "twin-a", "twin-b"]} and report.skipped == {}
    page = (root / "site/leaderboard/synthetic-v1/index.md").read_text()
    for split in ("unseen_images", "unseen_molecules", "unseen_dataset"):
        rows = _rows(page, split, "all")
        assert [e for e, _ in rows][0] == "oracle" and [e for e, _ in rows][-1] == "random"
        ranks = dict(rows)
        assert ranks["twin-a"] == ranks["twin-b"] and ranks["twin-a"].startswith("=")
    assert '<td><em>chance</em></td><td>' in page
    assert "`random` is an example entry" in page
    assert "twin-a</a> †" in page  # test molecules seen
    for path in ("index.md", "synthetic-v1/data-card.md", "synthetic-v1/entries/good.md", "synthetic-v1/plots/accuracy.svg", "synthetic-v1/plots/dose.svg", "synthetic-v1/results/good/seed-2.json"):
        assert (root / "site/leaderboard" / path).is_file(), path
    saved = json.loads((root / "site/leaderboard/synthetic-v1/results/good/seed-2.json").read_text())
    assert saved["benchmark"]["fingerprint"] == json.loads((root / "site/leaderboard/synthetic-v1/results/oracle/seed-0.json").read_text())["benchmark"]["fingerprint"]


def test_build_is_deterministic(built, toy, tmp_path):
    root, _ = built
    again = tmp_path / "site"
    build(submissions=root / "submissions", site=again, benchmarks=[toy.root])
    first = {p.relative_to(root / "site/leaderboard"): p.read_bytes() for p in (root / "site/leaderboard").rglob("*") if p.is_file()}
    second = {p.relative_to(again / "leaderboard"): p.read_bytes() for p in (again / "leaderboard").rglob("*") if p.is_file()}
    assert first.keys() == second.keys() and all(first[k] == second[k] for k in first)
    assert b"<dc:date>" not in first[next(k for k in first if k.suffix == ".svg")]


def test_built_site_escapes_every_submission_string(built):
    root, _ = built
    assert mkdocs_build(root / "mkdocs.yml") == []
    html = "\n".join(p.read_text() for p in (root / "build").rglob("*.html"))
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html and "<strong>bold</strong>" not in html
    assert "A paragraph. [click](javascript:alert(2)) **bold** | pipe" in html
    docs = json.loads((root / "build/search/search_index.json").read_text())["docs"]
    assert not [d["location"] for d in docs if XSS in d["title"] or XSS in d["text"]]


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
    assert "`broken`" in (site / "leaderboard/index.md").read_text()
    assert not (site / "leaderboard/synthetic-v1/entries/broken.md").exists()


# --- the repository's own entries and site ----------------------------------------------------


def test_committed_entries_are_valid():
    for folder in discover(REPO / "submissions"):
        entry = Entry.load(folder)
        assert all(path.is_file() for path in entry.files().values())


@pytest.mark.slow
def test_repository_site_builds_from_a_fresh_copy(cell_injury_v1, tmp_path):
    """`pheno-bench leaderboard build && mkdocs build --strict` on a copy of the repository."""
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "site", tmp_path / "site", ignore=shutil.ignore_patterns("leaderboard", ".leaderboard.*"))
    shutil.copytree(REPO / "submissions", tmp_path / "submissions")
    cli = [sys.executable, "-m", "pheno_bench.cli", "leaderboard", "build", "--benchmark", str(cell_injury_v1)]
    done = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "build/site/leaderboard/index.html").is_file()
    entries = discover(tmp_path / "submissions")
    for folder in entries:
        assert (tmp_path / "build/site/leaderboard/cell-injury-v1/entries" / folder.name / "index.html").is_file()


def test_build_without_entries_writes_an_empty_index(tmp_path):
    (tmp_path / "submissions").mkdir()
    report = build(submissions=tmp_path / "submissions", site=tmp_path / "site")
    assert report.benchmarks == {} and "No entries yet" in (tmp_path / "site/leaderboard/index.md").read_text()
    with pytest.raises(PhenoBenchError, match="submissions folder not found"):
        build(submissions=tmp_path / "nowhere", site=tmp_path / "site")
