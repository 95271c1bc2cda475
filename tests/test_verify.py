"""Re-run verification: blind copies, ``leaderboard verify``, the badge and the pull-request rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from pheno_bench.blind import make_blind_copy
from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard.submit import changed_entries
from pheno_bench.leaderboard.verification import read_record, verification_status
from pheno_bench.leaderboard.verify import compared_cells, verify_entry
from pheno_bench.manifest import answers_path, queries_path, read_manifest, verify
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.submission import write_submission


@pytest.fixture(autouse=True)
def _cli_on_path(monkeypatch):
    """The entries' commands call ``pheno-bench``: the one installed beside this interpreter."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def _probe_entry(benchmark: Path, out: Path, name: str = "random", seeds=(0,)) -> Path:
    from pheno_bench.baselines.probes import run_probe

    run_probe(name, benchmark=benchmark, out=out, seeds=list(seeds), results_dir=out.parent.parent / "results", log=lambda _: None)
    return out


def test_blind_copy_rekeys_reorders_and_withholds_the_answers(synthetic_v1, tmp_path):
    copy = make_blind_copy(synthetic_v1, tmp_path / "blind")
    manifest = verify(copy.public)  # complete apart from the withheld answer files
    assert manifest.blind and not read_manifest(synthetic_v1).blind
    for split in TEST_SPLITS:
        assert not (copy.public / answers_path(split)).exists() and (copy.answers / answers_path(split)).is_file()
        old = pq.read_table(synthetic_v1 / queries_path(split)).to_pandas()
        new = pq.read_table(copy.public / queries_path(split)).to_pandas()
        assert not set(old["query_id"]) & set(new["query_id"])  # no id survives
        assert sorted(map(bytes, np.stack(old["features"]).astype(np.float32))) == sorted(map(bytes, np.stack(new["features"]).astype(np.float32)))
        # the answer key follows the new ids: each new query's true candidate is the old one's
        old_key = pq.read_table(synthetic_v1 / answers_path(split)).to_pandas().set_index("query_id")["candidate_id"]
        new_key = pq.read_table(copy.answers / answers_path(split)).to_pandas().set_index("query_id")["candidate_id"]
        by_features = lambda frame, key: dict(zip(map(lambda f: np.asarray(f, np.float32).tobytes(), frame["features"]), key.loc[frame["query_id"]]))
        assert by_features(old, old_key) == by_features(new, new_key)
    blind = Evaluator(copy.public)
    assert blind.blind
    constant = write_submission(
        tmp_path / "constant.parquet", benchmark=blind.manifest.name, fingerprint=blind.manifest.fingerprint, model="constant",
        queries={s: (list(q), np.ones((len(q), 4))) for s, (q, _) in blind.expected.items()},
        candidates={s: (list(c), np.ones((len(c), 4))) for s, (_, c) in blind.expected.items()},
    )
    with pytest.raises(PhenoBenchError, match="blind copy"):
        blind.evaluate(constant)
    # with the withheld key a constant file scores exactly chance, as on the benchmark itself
    scored = Evaluator(copy.public, answers=copy.answers).evaluate(constant, n_bootstrap=0)
    assert scored.primary.value == pytest.approx(scored.primary.chance, abs=1e-12)
    # a wrong answer key is refused, not silently used
    other = tmp_path / "other"
    (other / "answers").mkdir(parents=True)
    for split in TEST_SPLITS:
        (other / answers_path(split)).write_bytes((synthetic_v1 / answers_path(split)).read_bytes())
    with pytest.raises(PhenoBenchError, match="not the answer key"):
        Evaluator(copy.public, answers=other)


def test_a_probe_entry_reproduces_and_a_tampered_one_does_not(synthetic_v1, tmp_path):
    entry = _probe_entry(synthetic_v1, tmp_path / "sub" / "probe-random-syn", seeds=(0, 1))
    assert verification_status(entry).state == "none"
    record = verify_entry(entry, benchmark=synthetic_v1, log=lambda _: None)
    assert record.passed and record.blind and [r.seed for r in record.runs] == [0, 1]
    assert all(r.max_abs_difference <= 1e-9 and r.committed for r in record.runs)
    assert read_record(entry) == record
    assert verification_status(entry, fingerprint=record.fingerprint).state == "verified"
    assert verification_status(entry, fingerprint="0" * 64).state == "stale"  # made against another build
    old_scorer = record.model_copy(update={"scorer_version": "3.0.0"})  # numbers of another scorer major
    (entry / "verification.json").write_text(old_scorer.model_dump_json())
    assert verification_status(entry).state == "stale"
    (entry / "verification.json").write_text(record.model_dump_json())

    # the committed seed-0 file swapped for one made from the answer key (a perfect score): the
    # command cannot reproduce it, so the record says it differs
    evaluator = Evaluator(synthetic_v1)
    queries, candidates = {}, {}
    width = max(len(key.candidate_ids) for key in evaluator.keys.values())
    for split, key in evaluator.keys.items():
        onehot = np.eye(width)[: len(key.candidate_ids)]
        candidates[split] = (list(key.candidate_ids), onehot)
        queries[split] = (list(key.query_ids), onehot[key.true_index])
    cheat = write_submission(
        tmp_path / "cheat.parquet", benchmark=evaluator.manifest.name, fingerprint=evaluator.manifest.fingerprint,
        model="Random embeddings (chance)", queries=queries, candidates=candidates,
    )
    (entry / "seed-0.parquet").write_bytes(cheat.read_bytes())
    assert verification_status(entry).state == "stale"  # files changed since the last re-run
    record = verify_entry(entry, benchmark=synthetic_v1, log=lambda _: None)
    assert not record.passed
    first = record.runs[0]
    assert not first.passed and first.max_abs_difference > 0.5
    assert first.committed[evaluator.primary_metric or next(iter(first.committed))] > first.rerun[evaluator.primary_metric or next(iter(first.rerun))]
    assert record.runs[1].passed
    status = verification_status(entry)
    assert status.state == "differs" and "✗" in status.label


def test_a_command_that_reads_the_answers_fails_on_the_blind_copy(synthetic_v1, tmp_path):
    entry = _probe_entry(synthetic_v1, tmp_path / "sub" / "peeker")
    script = tmp_path / "peek.py"
    script.write_text(
        "import sys, pathlib\n"
        "key = pathlib.Path(sys.argv[1]) / 'answers' / 'unseen_molecules.parquet'\n"
        "key.read_bytes()\n"
    )
    meta = yaml.safe_load((entry / "metadata.yaml").read_text())
    meta["verify"] = {"command": f"{sys.executable} {script} {{benchmark}} {{out}}"}
    (entry / "metadata.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(PhenoBenchError, match=r"re-run exited with 1 .*No such file"):
        verify_entry(entry, benchmark=synthetic_v1, log=lambda _: None)
    assert read_record(entry) is None  # nothing written


def test_compared_cells_are_the_primary_and_every_split_headline(synthetic_v1, tmp_path):
    evaluator = Evaluator(synthetic_v1)
    results = evaluator.evaluate(evaluator.write_template(tmp_path / "t.parquet"), n_bootstrap=0)
    cells = compared_cells(results)
    assert len(cells) == 3 * 4 + (results.primary is not None)
    split = results.splits["unseen_images"]
    assert cells["unseen_images/per_query/all/micro/top_5pct"] == split.per_query.subsets["all"].metrics["top_5pct"].value
    # the median rank as a fraction of the candidates, so one tolerance fits every cell
    assert cells["unseen_images/per_query/all/micro/median_rank/n_candidates"] == split.per_query.subsets["all"].metrics["median_rank"].value / split.n_candidates
    assert all(0 <= v <= 1 for v in cells.values())


def test_a_pull_request_may_not_add_a_verification_record(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "submissions" / "mine").mkdir(parents=True)
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    git("init", "-q")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "base")
    (repo / "submissions" / "mine" / "metadata.yaml").write_text("model: x\n")
    git("add", "-A")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "entry")
    monkeypatch.chdir(repo)
    assert changed_entries("HEAD~1", submissions="submissions") == [Path("submissions/mine")]
    (repo / "submissions" / "mine" / "verification.json").write_text("{}")
    git("add", "-A")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "forged")
    with pytest.raises(PhenoBenchError, match="verification.json.*maintainer"):
        changed_entries("HEAD~2", submissions="submissions")


def test_a_trained_baseline_entry_reproduces_on_a_blind_copy(synthetic_v1, tmp_path):
    pytest.importorskip("torch", reason="the trained baselines need PyTorch (the baselines extra)")
    from pheno_bench.baselines.run import run_baseline

    entry = tmp_path / "sub" / "clip-syn"
    run_baseline("clip", benchmark=synthetic_v1, seeds=[0], out=entry, results_dir=tmp_path / "r", samples_seen=6400, progress=False, log=lambda _: None)
    spec = yaml.safe_load((entry / "metadata.yaml").read_text())["verify"]
    assert "--samples 6400" in spec["command"] and spec["tolerance"] == 0.01
    record = verify_entry(entry, benchmark=synthetic_v1, log=lambda _: None)
    assert record.passed and record.blind
    # CPU, same machine: the model trains to the same weights whatever the query ids and order
    assert record.runs[0].max_abs_difference <= 1e-9


def test_the_primary_line_reads_the_number_against_chance_and_the_floor(synthetic_v1, tmp_path):
    """`evaluate` prints the query-blind floor beside chance and the primary's dose and identity parts."""
    from pheno_bench.results_tables import primary_line
    from pheno_bench.text import format_value

    evaluator = Evaluator(synthetic_v1)
    results = evaluator.evaluate(evaluator.write_template(tmp_path / "t.parquet"), n_bootstrap=0)
    p, metric = results.primary, results.primary.id.rsplit("/", 1)[-1]
    line = primary_line(results)
    assert f"(chance {format_value(p.chance, metric)}, query-blind floor {format_value(p.floor, metric)})" in line
    assert f"dose part {format_value(p.parts['dose'].value, 'dose_part')}" in line and "identity part" in line


def test_the_board_shows_the_badge_against_its_own_build(synthetic_v1, tmp_path):
    """A record made against another build of the benchmark (another fingerprint) is stale on the board."""
    from pheno_bench.leaderboard import build

    entry = _probe_entry(synthetic_v1, tmp_path / "sub" / "probe-random-syn")
    record = verify_entry(entry, benchmark=synthetic_v1, log=lambda _: None)
    page = lambda: (tmp_path / "site/leaderboard/synthetic-v1/index.md").read_text()
    build(submissions=tmp_path / "sub", site=tmp_path / "site", benchmarks=[synthetic_v1])
    assert f"re-run ✓ {record.date}" in page()
    (entry / "verification.json").write_text(record.model_copy(update={"fingerprint": "0" * 64}).model_dump_json())
    build(submissions=tmp_path / "sub", site=tmp_path / "site", benchmarks=[synthetic_v1])
    assert "re-run stale" in page() and "re-run ✓" not in page()
