"""Submitting: ``leaderboard init`` writes a metadata.yaml to fill in; ``leaderboard check`` (the
pull-request workflow's command) validates and re-scores an entry, locally, as one command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import pheno_bench
from conftest import requires_molecules
from pheno_bench.errors import PhenoBenchError
from pheno_bench.leaderboard.entries import read_metadata
from pheno_bench.leaderboard.submit import TO_FILL, changed_entries, check_entry, init_entry

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "leaderboard-entry.yml"


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pheno_bench.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=os.environ.copy(), timeout=300)


def fill(path: Path, **extra) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(model="Ridge baseline", authors=["Ada Lovelace"], training_data="synthetic-v1 train split only",
                test_molecules_seen=False, licence="CC-BY-4.0", **extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_init_writes_a_template_that_is_invalid_until_filled(tmp_path):
    path = init_entry("my-model", submissions=tmp_path / "submissions", benchmark="cell-injury-v1")
    assert path == tmp_path / "submissions" / "my-model" / "metadata.yaml"
    text = path.read_text()
    assert text.count("(REQUIRED)") == len(TO_FILL) and "leaderboard check" in text
    raw = yaml.safe_load(text)
    assert raw["benchmark"] == "cell-injury-v1" and raw["seeds"] == [0, 1, 2] and "folds" not in raw
    with pytest.raises(PhenoBenchError, match=r"invalid entry metadata \(model: .*authors"):
        read_metadata(path)
    fill(path)
    meta = read_metadata(path)
    assert meta.model == "Ridge baseline" and meta.kind == "submission"
    with pytest.raises(PhenoBenchError, match="already exists"):
        init_entry("my-model", submissions=tmp_path / "submissions")


def test_init_lists_every_fold_of_a_fold_benchmark(tmp_path, monkeypatch):
    from pheno_bench import specs

    spec = specs.BENCHMARKS["synthetic-v1"].model_copy(update={"name": "folded-v9", "folds": 5})
    monkeypatch.setitem(specs.BENCHMARKS, "folded-v9", spec)
    path = init_entry("m", submissions=tmp_path, benchmark="folded-v9", seeds=[3])
    raw = yaml.safe_load(path.read_text())
    assert raw["folds"] == [0, 1, 2, 3, 4] and raw["seeds"] == [3]
    assert "fold-<k>/seed-<N>.parquet" in path.read_text()


@pytest.mark.parametrize("args, needle", [
    (["leaderboard", "init", "Bad Name"], "entry name 'Bad Name' is not valid"),
    (["leaderboard", "init", "ok", "--benchmark", "cell-injury-v"], "did you mean"),
])
def test_init_refuses_bad_input_in_one_line(tmp_path, args, needle):
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2 and needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "submissions").exists()


@pytest.fixture(scope="module")
def entry(synthetic_v1, tmp_path_factory) -> Path:
    """submissions/ridge: a filled-in entry with one seed of a small ridge model, written by the loader."""
    from sklearn.linear_model import Ridge

    root = tmp_path_factory.mktemp("repo")
    path = init_entry("ridge", submissions=root / "submissions", benchmark="synthetic-v1", seeds=[0])
    fill(path)
    bench = pheno_bench.load_benchmark(synthetic_v1)
    treated = ~bench.train.is_control
    index = {m: i for i, m in enumerate(sorted(set(bench.train.molecule[treated])))}
    # a toy model: the mean profile of each training molecule, candidates unknown to train at random
    rng = np.random.default_rng(0)
    means = {m: bench.train.features[treated][bench.train.molecule[treated] == m].mean(0) for m in index}
    model = Ridge(alpha=1.0).fit(bench.train.features[treated], bench.train.features[treated])
    queries = {s: model.predict(t.query_features) for s, t in bench.test.items()}
    candidates = {s: np.stack([means.get(m, rng.normal(size=len(bench.feature_names))) for m in t.candidates["inchikey"]])
                  for s, t in bench.test.items()}
    bench.write_submission(path.parent / "seed-0.parquet", model="ridge", queries=queries, candidates=candidates)
    return path.parent


@requires_molecules
def test_check_re_scores_a_valid_entry(entry, synthetic_v1):
    report = check_entry(entry)
    assert report.entry == "ridge" and report.benchmark == "synthetic-v1"
    assert report.status == "not ranked" and "1 seed" in report.reason  # ranking asks for three seeds
    assert set(report.values) == {0} and report.primary.startswith("unseen_molecules/")
    from pheno_bench.evaluate import Evaluator

    primary = Evaluator(synthetic_v1).evaluate(entry / "seed-0.parquet").primary
    assert report.values[0].startswith(f"{100 * primary.value:.1f}")
    result = cli("leaderboard", "check", str(entry))
    assert result.returncode == 0, result.stderr
    assert "ridge: valid for synthetic-v1" in result.stdout and "seed 0:" in result.stdout


def _copy_seed(entry: Path) -> None:
    shutil.copyfile(entry / "seed-0.parquet", entry / "seed-1.parquet")
    meta = yaml.safe_load((entry / "metadata.yaml").read_text())
    (entry / "metadata.yaml").write_text(yaml.safe_dump({**meta, "seeds": [0, 1]}, sort_keys=False))


@requires_molecules
@pytest.mark.parametrize("damage, needle", [
    (lambda e: (e / "seed-0.parquet").write_bytes(b"junk"), "seed-0.parquet: not a readable parquet file"),
    (lambda e: (e / "seed-0.parquet").rename(e / "seed-1.parquet"), "do not match the files"),
    (lambda e: (e / "metadata.yaml").write_text((e / "metadata.yaml").read_text().replace("licence: CC-BY-4.0", "licence: ''")), "licence"),
    (lambda e: (e / "notes.txt").write_text("hi"), "unexpected file"),
    (lambda e: _copy_seed(e), "seed 1 has the same embeddings as seed 0"),  # one run copied is not two seeds
])
def test_check_fails_on_an_invalid_entry_in_one_line(entry, tmp_path, damage, needle):
    broken = tmp_path / "ridge"
    shutil.copytree(entry, broken)
    damage(broken)
    result = cli("leaderboard", "check", str(broken))
    assert result.returncode == 2, result.stdout
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert "invalid:" in result.stderr and "1 of 1 entry invalid" in result.stderr


@requires_molecules
def test_check_changed_since_checks_only_the_changed_entries(entry, tmp_path):
    """What the workflow runs: entries changed between the base branch and HEAD."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    (repo / "submissions").mkdir(parents=True)
    shutil.copytree(entry, repo / "submissions" / "old-entry")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    git("branch", "base")
    shutil.copytree(entry, repo / "submissions" / "new-entry")
    (repo / "README.md").write_text("unrelated change")
    git("add", "-A")
    git("commit", "-q", "-m", "a new entry")
    cwd = Path.cwd()
    os.chdir(repo)
    try:
        assert changed_entries("base") == [Path("submissions/new-entry")]
    finally:
        os.chdir(cwd)
    result = cli("leaderboard", "check", "--changed-since", "base", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "new-entry: valid" in result.stdout and "old-entry" not in result.stdout
    result = cli("leaderboard", "check", "--changed-since", "main", cwd=repo)
    assert result.returncode == 0 and "nothing to check" in result.stdout
    result = cli("leaderboard", "check", "--changed-since", "no-such-ref", cwd=repo)
    assert result.returncode == 2 and "cannot list the entries changed since 'no-such-ref'" in result.stderr


def test_workflow_installs_fetches_and_runs_the_same_check():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["pull_request"]["paths"] == ["submissions/**"]  # YAML 1.1 reads `on` as True
    steps = workflow["jobs"]["check"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any(r.startswith("pip install") and " ." in r for r in runs)
    check = next(r for r in runs if "pheno-bench leaderboard check" in r)
    assert "--changed-since" in check and "--download" in check
    assert workflow["permissions"] == {"contents": "read"}
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
