"""Submission format: the template, and one clear error (file, split, ids, fix) per kind of bad file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pheno_bench.cli import main
from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator
from pheno_bench.schema import METADATA_KEY

DIM = 4


@pytest.fixture(scope="module")
def bench(synthetic_v1):
    """The scorer for the small synthetic-v1 benchmark (built once per session by conftest)."""
    return Evaluator(synthetic_v1)


@pytest.fixture(scope="module")
def good(bench, tmp_path_factory):
    return pq.read_table(bench.write_template(tmp_path_factory.mktemp("good") / "good.parquet", dim=DIM))


def with_metadata(table: pa.Table, **changes) -> pa.Table:
    meta = json.loads(table.schema.metadata[METADATA_KEY]) | changes
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})


def set_column(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


def edit_embedding(table: pa.Table, row: int, value) -> pa.Table:
    emb = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    emb[row] = value
    return set_column(table, "embedding", pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), DIM))


def ragged(table: pa.Table, rows: slice) -> pa.Table:
    values = table.column("embedding").to_pylist()
    values[rows] = [v[:3] for v in values[rows]]
    return set_column(table, "embedding", pa.array(values, pa.list_(pa.float32())))


def first_row(table, split="unseen_molecules", kind="query"):
    return int(np.flatnonzero(pc.and_(pc.equal(table["split"], split), pc.equal(table["kind"], kind)).to_numpy(zero_copy_only=False))[0])


def id_at(table, row):
    return table["id"][row].as_py()


def rename(table, row, new_id):
    ids = table["id"].to_pylist()
    ids[row] = new_id
    return set_column(table, "id", pa.array(ids, pa.string()))


def nan_case(t):
    row = first_row(t)
    return edit_embedding(t, row, np.nan), ["split unseen_molecules", "NaN or infinity", id_at(t, row), "nan_to_num"]


def inf_case(t):
    row = first_row(t, "unseen_dataset", "candidate")
    return edit_embedding(t, row, np.inf), ["split unseen_dataset", "candidate embedding", id_at(t, row)]


def zero_case(t):
    row = first_row(t)
    return edit_embedding(t, row, 0.0), ["split unseen_molecules", "zero vectors", id_at(t, row), "'dot'"]


def unknown_id_case(t):
    return rename(t, first_row(t) + 3, "q-nope"), ["split unseen_molecules", "unknown query id", "'q-nope'", "queries/unseen_molecules.parquet"]


def missing_id_case(t):
    row = first_row(t, "unseen_dataset") + 2
    return t.filter(pc.invert(pc.equal(t["id"], id_at(t, row)))), ["split unseen_dataset", "missing", id_at(t, row), "leave the split out"]


def duplicate_case(t):
    row = first_row(t)
    return pa.concat_tables([t, t.slice(row, 1)]), ["split unseen_molecules", "more than once", id_at(t, row), "one row per query"]


def ragged_case(t):
    first = first_row(t, "unseen_images")
    return ragged(t, slice(first + 5, first + 7)), ["unseen_images", "length other than 4", id_at(t, first + 5), "lengths 3", "same dimension"]


def null_embedding_case(t):
    values = t["embedding"].to_pylist()
    values[0] = None
    return set_column(t, "embedding", pa.array(values, pa.list_(pa.float32()))), [t["split"][0].as_py(), "without an embedding", id_at(t, 0)]


def replace_values(column, old, new):
    return pa.array([new if v == old else v for v in column.to_pylist()], pa.string())


# case -> the bad table made from the good one, and words its one-line message must contain
CASES = {
    "empty": lambda t: (t.slice(0, 0), ["no rows", "add one row"]),
    "no metadata": lambda t: (t.replace_schema_metadata(None), ["no 'pheno_bench' metadata", "write_submission"]),
    "bad similarity": lambda t: (with_metadata(t, similarity="euclid"), ["similarity", "--format"]),
    "misspelt metadata": lambda t: (with_metadata(t, modle="x"), ["modle", "--format"]),
    "wrong benchmark": lambda t: (with_metadata(t, benchmark="other-v1"), ["'other-v1'", "--benchmark"]),
    "wrong fingerprint": lambda t: (with_metadata(t, fingerprint="0" * 64), ["fingerprint 000000000000", "download"]),
    "unknown split": lambda t: (set_column(t, "split", replace_values(t["split"], "unseen_dataset", "test")), ["'test'", "must be one of"]),
    "unknown kind": lambda t: (set_column(t, "kind", replace_values(t["kind"], "candidate", "cand")), ["'cand'", "'query' or 'candidate'"]),
    "missing column": lambda t: (t.drop_columns(["kind"]), ["no column 'kind'", "split, kind, id, embedding"]),
    "integer ids": lambda t: (set_column(t, "id", pa.array(range(t.num_rows))), ["'id' has type int64", "strings"]),
    "null ids": lambda t: (set_column(t, "id", pa.array([None] + t["id"].to_pylist()[1:], pa.string())), ["'id'", "null", "fill every row"]),
    "float64 embedding": lambda t: (set_column(t, "embedding", t["embedding"].cast(pa.list_(pa.float64(), DIM))), ["double, not float32", "astype(numpy.float32)"]),
    "string embedding": lambda t: (set_column(t, "embedding", pa.array(["x"] * t.num_rows)), ["type string", "fixed-size list"]),
    "null embedding": null_embedding_case,
    "ragged": ragged_case,
    "candidate dim mismatch": lambda t: (ragged(t, slice(t.num_rows - 12, None)), ["unseen_dataset", "12 embedding(s) of length other than 4", "@"]),
    "nan": nan_case,
    "inf": inf_case,
    "zero vector": zero_case,
    "unknown id": unknown_id_case,
    "missing id": missing_id_case,
    "duplicate id": duplicate_case,
}


@pytest.mark.parametrize("case", CASES)
def test_bad_submission_gives_one_clear_error(case, good, bench, tmp_path, monkeypatch, capsys):
    bad, words = CASES[case](good)
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path)
    with pytest.raises(PhenoBenchError) as err:
        bench.evaluate(path, n_bootstrap=0)
    message = str(err.value)
    assert message.startswith(str(path)) and all(word in message for word in words), message

    out = tmp_path / "results.json"
    monkeypatch.setattr(sys, "argv", ["pheno-bench", "evaluate", str(path), "--benchmark", str(bench.root), "--out", str(out)])
    with pytest.raises(SystemExit) as stop:
        main()
    captured = capsys.readouterr()
    assert stop.value.code == 2 and "Traceback" not in captured.err
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and str(path) in captured.err
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"split,kind,id\nunseen_images,query,q-1\n"])
def test_not_a_parquet_file(content, bench, tmp_path):
    path = tmp_path / "sub.parquet"
    path.write_bytes(content)
    with pytest.raises(PhenoBenchError, match="not a readable parquet file.*pyarrow or pandas"):
        bench.evaluate(path)
    with pytest.raises(PhenoBenchError, match="submission not found"):
        bench.evaluate(tmp_path / "absent.parquet")


def test_zero_vectors_are_fine_under_dot_and_rows_are_matched_by_id(good, bench, tmp_path):
    table = with_metadata(edit_embedding(good, first_row(good), 0.0), similarity="dot")
    pq.write_table(table, tmp_path / "dot.parquet")
    assert bench.evaluate(tmp_path / "dot.parquet", n_bootstrap=0).submission.similarity == "dot"
    pq.write_table(good, tmp_path / "a.parquet")
    pq.write_table(good.take(np.random.default_rng(0).permutation(good.num_rows)), tmp_path / "b.parquet")
    a, b = (bench.evaluate(tmp_path / f"{n}.parquet", n_bootstrap=20).splits for n in "ab")
    assert a == b


def test_pandas_written_list_column_is_accepted(good, bench, tmp_path):
    frame = good.to_pandas()
    frame["embedding"] = [np.asarray(v, dtype=np.float32) for v in frame["embedding"]]
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(good.schema.metadata)
    pq.write_table(table, tmp_path / "pandas.parquet")
    assert pa.types.is_list(pq.read_schema(tmp_path / "pandas.parquet").field("embedding").type)
    assert bench.evaluate(tmp_path / "pandas.parquet", n_bootstrap=0).submission.dim == DIM


def test_template_is_valid_deterministic_and_at_chance(bench, tmp_path):
    first = bench.write_template(tmp_path / "a.parquet", seed=3)
    assert first.read_bytes() == bench.write_template(tmp_path / "b.parquet", seed=3).read_bytes()
    submission = bench.read(first)
    assert set(submission.splits) == set(bench.keys) and submission.metadata.model == "random"
    for split, emb in submission.splits.items():
        assert emb.queries.shape == (len(bench.keys[split].query_ids), 64)


def test_cli_template_format_evaluate_json(bench, tmp_path):
    """The console script end to end, as a user runs it."""
    run = lambda *args: subprocess.run([sys.executable, "-m", "pheno_bench.cli", *map(str, args)], capture_output=True, text=True, cwd=tmp_path)
    made = run("submission", "template", bench.root, "--out", "sub.parquet", "--dim", 8)
    assert made.returncode == 0 and (tmp_path / "sub.parquet").is_file()
    fmt = run("evaluate", "--format", "--benchmark", bench.root)
    assert fmt.returncode == 0 and "fixed_size_list<float32>" in fmt.stdout and bench.keys["unseen_images"].query_ids[0] in fmt.stdout
    scored = run("evaluate", "sub.parquet", "--benchmark", bench.root, "--json", "--bootstrap", 20)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout) == json.loads((tmp_path / "sub.results.json").read_text())
    bad = run("evaluate", "missing.parquet", "--benchmark", bench.root)
    assert bad.returncode == 2 and "submission not found" in bad.stderr and "Traceback" not in bad.stderr
    assert run("submission", "template", bench.root, "--out", "other.parquet", "--dim", 8, "--seed", 1).returncode == 0
    compared = run("compare", "sub.parquet", "other.parquet", "--benchmark", bench.root, "--bootstrap", 20)
    assert compared.returncode == 0 and any(v in compared.stdout for v in ("tied", "better", "worse")), compared.stderr
