"""``pheno_bench.load_benchmark``: train/valid wells and test queries/candidates in one call, the
torch Dataset, and the worked example of the docs run end to end (extracted from the page)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import pheno_bench
from conftest import HAS_DATA, requires_molecules
from pheno_bench.errors import PhenoBenchError
from pheno_bench.manifest import candidates_path, queries_path, read_manifest, wells_path
from pheno_bench.schema import TEST_SPLITS

DOCS = Path(__file__).resolve().parent.parent / "site" / "getting-started.md"


@pytest.fixture(scope="module")
def bench(synthetic_v1):
    return pheno_bench.load_benchmark(synthetic_v1)


@requires_molecules
def test_wells_match_the_files(bench, synthetic_v1):
    manifest = read_manifest(synthetic_v1)
    assert bench.fingerprint == manifest.fingerprint and bench.fold is None
    assert bench.feature_names == manifest.feature_names
    for split in ("train", "valid"):
        wells = getattr(bench, split)
        table = pq.read_table(synthetic_v1 / wells_path(split))
        assert len(wells) == table.num_rows
        assert wells.features.shape == (table.num_rows, len(manifest.feature_names))
        assert wells.features.dtype == np.float32
        expected = np.asarray(table.column("features").to_pylist(), dtype=np.float32)
        np.testing.assert_array_equal(wells.features, expected)
        assert list(wells.molecule) == table.column("inchikey").to_pylist()
        assert list(wells.dose) == table.column("dose_level").to_pylist()
        np.testing.assert_array_equal(wells.active, np.asarray([bool(a) for a in table.column("active").to_pylist()]))
        assert (~wells.is_control).sum() == manifest.stats(split).wells
    # a treated well's condition is its (molecule, dose); controls are "control"
    treated = ~bench.train.is_control
    assert all(c == f"{m}@{d}" or c.startswith(f"{m}@{d}") for c, m, d in
               zip(bench.train.condition[treated], bench.train.molecule[treated], bench.train.dose[treated]))
    assert set(bench.train.condition[~treated]) <= {"control"}


@requires_molecules
def test_test_splits_have_no_labels_and_every_candidate(bench, synthetic_v1):
    manifest = read_manifest(synthetic_v1)
    assert list(bench.test) == list(TEST_SPLITS)
    for split, test in bench.test.items():
        queries = pq.read_table(synthetic_v1 / queries_path(split))
        assert queries.column_names == ["query_id", "features"]  # nothing to leak
        assert list(test.query_ids) == queries.column("query_id").to_pylist()
        assert test.query_features.shape == (manifest.stats(split).wells, len(bench.feature_names))
        assert len(test.candidates) == manifest.stats(split).candidates
        assert list(test.candidate_ids) == pq.read_table(synthetic_v1 / candidates_path(split)).column("candidate_id").to_pylist()


@requires_molecules
def test_to_numpy_and_to_pandas_agree(bench):
    arrays, frames = bench.to_numpy(), bench.to_pandas()
    assert set(arrays) == {"train", "valid", *TEST_SPLITS}
    assert set(frames) == {"train", "valid", *(f"{s}/{k}" for s in TEST_SPLITS for k in ("queries", "candidates"))}
    train = frames["train"]
    np.testing.assert_array_equal(train[bench.feature_names].to_numpy(dtype=np.float32), arrays["train"]["features"])
    assert list(train["condition"]) == list(arrays["train"]["condition"])
    q = frames["unseen_molecules/queries"]
    np.testing.assert_array_equal(q[bench.feature_names].to_numpy(dtype=np.float32), arrays["unseen_molecules"]["query_features"])
    assert list(q["query_id"]) == list(arrays["unseen_molecules"]["query_id"])
    assert len({len(v) for v in arrays["train"].values()}) == 1  # every train array has one row per well


@requires_molecules
def test_write_submission_scores_and_a_constant_embedding_is_chance(bench, tmp_path):
    from pheno_bench.evaluate import Evaluator

    queries = {s: np.ones((len(t.query_ids), 4)) for s, t in bench.test.items()}
    candidates = {s: np.ones((len(t.candidates), 4)) for s, t in bench.test.items()}
    path = bench.write_submission(tmp_path / "constant.parquet", model="constant", queries=queries, candidates=candidates)
    results = Evaluator(bench.root).evaluate(path, n_bootstrap=0)
    assert results.benchmark.fingerprint == bench.fingerprint
    assert results.primary is not None and results.primary.value == pytest.approx(results.primary.chance)
    with pytest.raises(PhenoBenchError, match="same test splits"):
        bench.write_submission(tmp_path / "x.parquet", model="x", queries=queries, candidates={})


@requires_molecules
def test_fold_set_needs_a_fold(synthetic_v1, tmp_path, monkeypatch):
    from pheno_bench.folds import FoldEntry, FoldSet, write_fold_set
    from pheno_bench.manifest import write_manifest
    from pheno_bench.registry import register

    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "home"))
    root = tmp_path / "folds"
    entries = []
    for k in range(2):
        shutil.copytree(synthetic_v1, root / f"fold-{k}")
        write_manifest(read_manifest(synthetic_v1).model_copy(update={"fold": k}), root / f"fold-{k}")
        entries.append(FoldEntry(fold=k, path=f"fold-{k}", fingerprint=read_manifest(root / f"fold-{k}").fingerprint))
    write_fold_set(FoldSet(name="synthetic-v1", version="1.0.0", seed=0, spec={}, folds=entries), root)
    register(root)
    with pytest.raises(PhenoBenchError, match=r"set of 2 folds; pass fold=0\.\.1"):
        pheno_bench.load_benchmark("synthetic-v1")
    one = pheno_bench.load_benchmark("synthetic-v1", fold=1)
    assert one.fold == 1 and one.root == (root / "fold-1").resolve()
    from pheno_bench.submission import peek_metadata

    path = one.write_submission(tmp_path / "fold-1.parquet", model="c",
                                queries={s: np.ones((len(t.query_ids), 2)) for s, t in one.test.items()},
                                candidates={s: np.ones((len(t.candidates), 2)) for s, t in one.test.items()})
    meta = peek_metadata(path)
    assert meta.fold == 1 and meta.fingerprint == one.fingerprint == entries[1].fingerprint
    assert pheno_bench.load_benchmark("synthetic-v1/fold-0").fold == 0


@requires_molecules
def test_torch_dataset(bench):
    torch = pytest.importorskip("torch")
    dataset = bench.torch_dataset("train")
    assert isinstance(dataset, torch.utils.data.Dataset)
    treated = ~bench.train.is_control
    assert len(dataset) == treated.sum()
    first = dataset[0]
    np.testing.assert_array_equal(first["features"].numpy(), bench.train.features[treated][0])
    assert first["molecule"] == bench.train.molecule[treated][0] and first["dose"] == bench.train.dose[treated][0]
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8)))
    assert batch["features"].shape == (8, len(bench.feature_names)) and len(batch["molecule"]) == 8
    assert len(bench.torch_dataset("train", include_controls=True)) == len(bench.train)
    with pytest.raises(PhenoBenchError):
        bench.torch_dataset("unseen_molecules")


def test_import_does_not_load_torch():
    code = "import sys, pheno_bench, pheno_bench.loader, pheno_bench.torch_data; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def worked_example() -> str:
    """The python block after ``<!-- worked-example -->`` in site/getting-started.md."""
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- worked-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"{DOCS}: no worked example block"
    return match.group(1)


def test_worked_example_in_the_docs_runs(request, tmp_path):
    """The docs' example, verbatim, on cell-injury-v1.1 (real data) or else on synthetic-v1."""
    code = worked_example()
    assert 'load_benchmark("cell-injury-v1.1")' in code and "write_submission(" in code and ".evaluate(" in code
    if HAS_DATA:
        request.getfixturevalue("cell_injury_v1_1")  # built and registered in the session's home
    else:
        request.getfixturevalue("synthetic_v1")
        code = code.replace('"cell-injury-v1.1"', '"synthetic-v1"')
    (tmp_path / "example.py").write_text(code)
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                            env=os.environ.copy(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    label, value, _, chance = result.stdout.strip().splitlines()[-1].rsplit(" ", 3)
    assert 0 <= float(value) <= 1 and 0 < float(chance) < 1, result.stdout
    assert (tmp_path / "out" / "ridge-seed-0.parquet").is_file()
