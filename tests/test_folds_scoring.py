"""Pooled scoring of one model's fold files, on a small fold set made from synthetic-v1.

The fold set here is built by copying synthetic-v1 into two folds (each manifest with its own
``fold``), so both folds hold the same test splits: enough to check the pooling mechanics (every
fold required, per-fold numbers kept, pooled = all folds' queries with one bootstrap over
molecules, seeds and folds pooled in comparisons). The real fold benchmark (cell-injury-v2) is
built from real data; its invariants are tested in test_folds.py.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from pheno_bench.cli import main
from pheno_bench.compare import compare_entries
from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator, evaluate_folds
from pheno_bench.folds import FoldEntry, FoldSet, write_fold_set
from pheno_bench.manifest import read_manifest, write_manifest

from test_evaluate import strict_json

K = 2


@pytest.fixture(scope="module")
def fold_set(synthetic_v1, tmp_path_factory):
    root = tmp_path_factory.mktemp("folds") / "synthetic-folds"
    entries = []
    for k in range(K):
        folder = root / f"fold-{k}"
        shutil.copytree(synthetic_v1, folder)
        manifest = read_manifest(folder).model_copy(update={"fold": k})
        write_manifest(manifest, folder)
        entries.append(FoldEntry(fold=k, path=f"fold-{k}", fingerprint=read_manifest(folder).fingerprint))
    base = read_manifest(root / "fold-0")
    write_fold_set(FoldSet(name=base.name, version=base.version, seed=0, spec=base.spec, folds=entries), root)
    return root


@pytest.fixture(scope="module")
def templates(fold_set, tmp_path_factory):
    """Two random 'models' (seeds), each one file per fold."""
    folder = tmp_path_factory.mktemp("fold-subs")
    return {
        seed: {k: Evaluator(fold_set, fold=k).write_template(folder / f"s{seed}-fold-{k}.parquet", dim=8, seed=10 * seed + k) for k in range(K)}
        for seed in range(4)
    }


def test_pooled_results_keep_per_fold_numbers(fold_set, templates):
    files = templates[0]
    pooled = evaluate_folds(files, benchmark=fold_set, n_bootstrap=50)
    assert sorted(pooled.folds) == ["0", "1"] and [s.file for s in pooled.submissions] == [files[k].name for k in range(K)]
    for k in range(K):
        alone = Evaluator(fold_set, fold=k).evaluate(files[k], n_bootstrap=50)
        for split, result in pooled.folds[str(k)].splits.items():  # per-fold headline subsets kept; breakdowns pooled only
            assert result.per_query.subsets == alone.splits[split].per_query.subsets and result.per_query.by_dose == {}
    for split, result in pooled.splits.items():
        fold_values = [pooled.folds[str(k)].splits[split].per_query.subsets["all"] for k in range(K)]
        expected = sum(f.metrics["top_5pct"].value * f.n_queries for f in fold_values) / sum(f.n_queries for f in fold_values)
        assert result.per_query.subsets["all"].metrics["top_5pct"].value == pytest.approx(expected)
        assert result.per_query.subsets["all"].n_queries == sum(f.n_queries for f in fold_values)
        assert set(result.n_candidates_by_fold) == {"0", "1"}
    assert pooled.primary.value is not None and pooled.benchmark.name == "synthetic-v1"


def test_a_missing_fold_is_an_error(fold_set, templates):
    with pytest.raises(PhenoBenchError, match=r"fold\(s\) \[1\] of synthetic-folds missing"):
        evaluate_folds([templates[0][0]], benchmark=fold_set)
    with pytest.raises(PhenoBenchError, match="both for fold 0"):
        evaluate_folds([templates[0][0], templates[1][0]], benchmark=fold_set)
    with pytest.raises(PhenoBenchError, match="metadata says fold 0, but it was given as fold 1"):
        evaluate_folds({0: templates[0][0], 1: templates[1][0]}, benchmark=fold_set)


def run(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["pheno-bench", *map(str, args)])
    try:
        main()
    except SystemExit as stop:
        return stop.code or 0
    return 0


def test_cli_pools_fold_files_and_writes_fold_templates(fold_set, templates, tmp_path, monkeypatch, capsys):
    assert run(monkeypatch, "submission", "template", fold_set, "--all-folds", "--out", tmp_path / "t", "--dim", 4) == 0
    made = sorted((tmp_path / "t").glob("fold-*.parquet"))
    assert [p.name for p in made] == ["fold-0.parquet", "fold-1.parquet"]
    out = tmp_path / "pooled.json"
    assert run(monkeypatch, "evaluate", *made, "--benchmark", fold_set, "--out", out, "--bootstrap", 20) == 0
    printed = capsys.readouterr().out
    data = strict_json(out.read_text())
    assert sorted(data["folds"]) == ["0", "1"] and "k = " in printed
    assert run(monkeypatch, "evaluate", made[0], "--benchmark", fold_set, "--out", tmp_path / "x.json") == 2
    assert "missing" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_entries_compared_with_seeds_and_folds_pooled(fold_set, templates):
    a = [templates[s][k] for s in (0, 1) for k in range(K)]
    b = [templates[s][k] for s in (2, 3) for k in range(K)]
    comparison = compare_entries(a, b, benchmark=fold_set, n_bootstrap=200)
    assert len(comparison.a_files) == 4 and comparison.primary.verdict == "tied"
    assert all(d.verdict == "tied" for cells in comparison.splits.values() for m in cells.values() for d in m.values() if not d.exploratory)
    with pytest.raises(PhenoBenchError, match="no file for fold"):
        compare_entries([templates[0][0]], b, benchmark=fold_set)


# --- the fold-set manifest is as tamper-evident as a single benchmark's (issue 8 req. 8) ---------


def _copy(fold_set, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(fold_set, copy)
    return copy


def test_fold_set_fingerprint_is_the_sha256_of_the_file_bytes(fold_set, tmp_path):
    import hashlib

    from pheno_bench.folds import read_fold_set

    copy = _copy(fold_set, tmp_path)
    path = copy / "manifest.json"
    assert read_fold_set(copy).fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n ", 1))  # a whitespace edit: same JSON, new bytes
    assert read_fold_set(copy).fingerprint == hashlib.sha256(path.read_bytes()).hexdigest() != read_fold_set(fold_set).fingerprint


def test_fold_set_manifest_with_an_unknown_field_is_refused(fold_set, tmp_path):
    import json

    from pheno_bench.folds import read_fold_set

    copy = _copy(fold_set, tmp_path)
    data = json.loads((copy / "manifest.json").read_text())
    data["claimed_score"] = 1.0
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(PhenoBenchError, match="invalid fold-set manifest"):
        read_fold_set(copy)


def test_unlisted_file_beside_the_folds_is_refused_by_evaluate_and_info(fold_set, templates, tmp_path, capsys, monkeypatch):
    copy = _copy(fold_set, tmp_path)
    (copy / "extra-answers.parquet").write_bytes(b"x")
    with pytest.raises(PhenoBenchError, match="extra-answers.parquet: not part of"):
        evaluate_folds(templates[0], benchmark=copy, n_bootstrap=10)
    monkeypatch.setattr(sys, "argv", ["pheno-bench", "splits", "info", str(copy)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "not part of" in capsys.readouterr().err


# --- fixer G (F's 23:07/23:11 notes) ---------------------------------------------------------------


def test_a_fold_file_scored_against_another_fold_is_refused(fold_set, templates):
    """A fold-0 file against fold 1 is refused by its fold, not reported as 'a different build'."""
    with pytest.raises(PhenoBenchError, match=r"s0-fold-0\.parquet: made for fold 0 of synthetic-v1, not fold 1; .*fold-0"):
        Evaluator(fold_set, fold=1).read(templates[0][0])
    assert Evaluator(fold_set, fold=0).read(templates[0][0]).metadata.fold == 0


def test_a_fold_file_leaving_out_the_primary_split_says_not_evaluated(fold_set, templates, tmp_path, monkeypatch, capsys):
    """Regression: the primary line said "too few to score" when fold 1's file left out unseen_molecules."""
    from pheno_bench.submission import write_submission

    ev = Evaluator(fold_set, fold=1)
    rng = np.random.default_rng(1)
    kept = [s for s in ev.keys if s != "unseen_molecules"]
    partial = write_submission(
        tmp_path / "fold-1.parquet", benchmark=ev.manifest.name, fingerprint=ev.manifest.fingerprint, model="partial", fold=1,
        queries={s: (ev.keys[s].query_ids, rng.standard_normal((len(ev.keys[s].query_ids), 4), dtype=np.float32)) for s in kept},
        candidates={s: (ev.keys[s].candidate_ids, rng.standard_normal((len(ev.keys[s].candidate_ids), 4), dtype=np.float32)) for s in kept},
    )
    pooled = evaluate_folds([templates[0][0], partial], benchmark=fold_set, n_bootstrap=10)
    assert pooled.primary.value is None and not pooled.splits["unseen_molecules"].evaluated
    assert pooled.primary.reason == "not evaluated: fold(s) [1] of synthetic-v1 have no unseen_molecules"
    out = tmp_path / "r.json"
    assert run(monkeypatch, "evaluate", templates[0][0], partial, "--benchmark", fold_set, "--out", out, "--bootstrap", 10) == 0
    first = capsys.readouterr().out.strip().splitlines()[0]
    assert first.startswith("primary metric unseen_molecules, active queries, macro top-5%: not evaluated: fold(s) [1]")
    assert "too few" not in first
    assert strict_json(out.read_text())["primary"]["reason"].startswith("not evaluated: fold(s) [1]")


def test_format_of_a_fold_set_suggests_a_fold_evaluate_accepts(fold_set, templates, monkeypatch, capsys):
    """Regression: `evaluate --format --benchmark cell-injury-v2` suggested `--fold K`, which evaluate lacks."""
    assert run(monkeypatch, "evaluate", "--format", "--benchmark", fold_set) == 2
    err = capsys.readouterr().err
    assert "--fold" not in err and f"--benchmark {fold_set}/fold-0" in err and err.count("\n") == 1
    assert run(monkeypatch, "evaluate", "--format", "--benchmark", f"{fold_set}/fold-0") == 0  # the suggestion works
    assert "pheno-bench submission format" in capsys.readouterr().out


def test_fold_files_find_the_build_they_were_made_for_among_several(fold_set, tmp_path, monkeypatch):
    """Two registered builds of one name: fold files (which carry their fold's fingerprint) are scored
    against their own build, not the last one registered."""
    from pheno_bench import registry
    from pheno_bench.evaluate import locate_submission_benchmark

    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "home"))
    other = tmp_path / "other-build"
    entries = []
    for k in range(K):
        folder = other / f"fold-{k}"
        shutil.copytree(fold_set / f"fold-{k}", folder)
        write_manifest(read_manifest(folder).model_copy(update={"version": "9.9.9"}), folder)
        entries.append(FoldEntry(fold=k, path=f"fold-{k}", fingerprint=read_manifest(folder).fingerprint))
    base = read_manifest(other / "fold-0")
    write_fold_set(FoldSet(name=base.name, version=base.version, seed=0, spec=base.spec, folds=entries), other)
    registry.register(other)
    registry.register(fold_set)  # the name now means fold_set
    made_for_other = Evaluator(other, fold=1).write_template(tmp_path / "other-fold-1.parquet", dim=4)
    assert locate_submission_benchmark(made_for_other) == other.resolve()
    made_for_first = Evaluator(fold_set, fold=1).write_template(tmp_path / "first-fold-1.parquet", dim=4)
    assert locate_submission_benchmark(made_for_first) == fold_set.resolve()
