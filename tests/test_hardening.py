"""Hostile files and strings: printed literally, nothing half-written, inputs never overwritten,
resource caps, a fingerprint that is the manifest's bytes, and benchmark folders that hold only
what their manifest lists."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from cli_helpers import run_cli
from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator
from pheno_bench.manifest import read_manifest, verify
from pheno_bench.results import literal
from pheno_bench.submission import Limits, write_submission

from test_evaluate import strict_json


@pytest.fixture(scope="module")
def bench(synthetic_v1):
    return Evaluator(synthetic_v1)


def template_with(bench, path, *, model="random", description="", dim=4, splits=None):
    rng = np.random.default_rng(0)
    keys = {s: k for s, k in bench.keys.items() if splits is None or s in splits}
    return write_submission(
        path, benchmark=bench.manifest.name, fingerprint=bench.manifest.fingerprint, model=model, description=description,
        queries={s: (k.query_ids, rng.standard_normal((len(k.query_ids), dim), dtype=np.float32)) for s, k in keys.items()},
        candidates={s: (k.candidate_ids, rng.standard_normal((len(k.candidate_ids), dim), dtype=np.float32)) for s, k in keys.items()},
    )


def test_literal_escapes_markup_and_control_characters():
    from rich.console import Console

    def shown(text):
        console = Console(record=True, width=200, color_system=None)
        console.print(literal(text), highlight=False)
        return console.export_text().rstrip("\n")

    assert shown("evil[/bold] [red]x[/red]") == "evil[/bold] [red]x[/red]"
    assert shown("\x1b[31mred\x07") == "\\x1b[31mred\\x07"
    assert shown("a\u202eb\nc") == "a\\u202eb\\nc"  # bidi override and newline shown, not obeyed
    assert shown("µM top-1%") == "µM top-1%"


def test_markup_and_escapes_in_model_name_are_printed_literally(bench, tmp_path, monkeypatch, capsys):
    """Regression (defect 3): `evil[/bold]` crashed evaluate after results.json was written; ANSI reached the terminal."""
    path = template_with(bench, tmp_path / "evil.parquet", model="evil[/bold] \x1b[31mred[bold]", description="[link=x]y[/link]")
    out = tmp_path / "r.json"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "evaluate", path, "--benchmark", bench.root, "--out", out, "--bootstrap", 10)
    assert code == 0, stderr
    assert "evil[/bold]" in stdout and "\\x1b[31mred[bold]" in stdout and "\x1b" not in stdout
    results = strict_json(out.read_text())
    assert results["submission"]["model"] == "evil[/bold] \x1b[31mred[bold]"  # stored as given, escaped only on screen


def test_error_messages_are_printed_literally(bench, tmp_path, monkeypatch, capsys):
    path = tmp_path / "[bold]x\x1b[2J.parquet"
    code, _, stderr = run_cli(monkeypatch, capsys, "evaluate", path, "--benchmark", bench.root)
    assert code == 2 and "[bold]x\\x1b[2J.parquet" in stderr and "\x1b[2J" not in stderr and stderr.count("\n") == 1


@pytest.mark.parametrize("where", ["submission", "benchmark"])
def test_out_equal_to_an_input_is_refused(bench, tmp_path, monkeypatch, capsys, where):
    """Regression (defect 6): `evaluate X.parquet --out X.parquet` replaced the submission with the JSON."""
    path = template_with(bench, tmp_path / "sub.parquet")
    before = path.read_bytes()
    out = path if where == "submission" else bench.root / "answers" / "unseen_images.parquet"
    answers = out.read_bytes()
    code, stdout, stderr = run_cli(monkeypatch, capsys, "evaluate", path, "--benchmark", bench.root, "--out", out)
    assert code == 2 and "--out" in stderr and "Traceback" not in stderr
    assert path.read_bytes() == before and out.read_bytes() == answers
    code, _, stderr = run_cli(monkeypatch, capsys, "compare", path, path, "--benchmark", bench.root, "--out", path)
    assert code == 2 and path.read_bytes() == before


def test_json_output_is_strict(bench, tmp_path, monkeypatch, capsys):
    path = template_with(bench, tmp_path / "sub.parquet")
    code, stdout, _ = run_cli(monkeypatch, capsys, "evaluate", path, "--benchmark", bench.root, "--json", "--bootstrap", 10)
    assert code == 0 and strict_json(stdout)["primary"]["id"].startswith("unseen_molecules/")
    other = template_with(bench, tmp_path / "other.parquet", dim=5)  # the same file twice is refused (see below)
    code, stdout, _ = run_cli(monkeypatch, capsys, "compare", path, other, "--benchmark", bench.root, "--json", "--bootstrap", 10)
    assert code == 0 and strict_json(stdout)["primary"]["verdict"] in ("tied", "better", "worse")


def test_primary_metric_is_printed_first(bench, tmp_path, monkeypatch, capsys):
    path = template_with(bench, tmp_path / "sub.parquet")
    code, stdout, _ = run_cli(monkeypatch, capsys, "evaluate", path, "--benchmark", bench.root, "--bootstrap", 10)
    assert code == 0 and stdout.lstrip().startswith("primary metric unseen_molecules, active queries, macro top-5% (k = ")
    assert "k = " in stdout and " of " in stdout


def test_dimension_and_size_caps(bench, tmp_path, monkeypatch, capsys):
    """Regression (defect 4): a 924 MB, dim-100,000 file was accepted and took 5 GB."""
    wide = template_with(bench, tmp_path / "wide.parquet", dim=4097, splits=("unseen_dataset",))
    with pytest.raises(PhenoBenchError, match="dimension 4097 is above the cap of 4096"):
        bench.read(wide)
    code, _, stderr = run_cli(monkeypatch, capsys, "evaluate", wide, "--benchmark", bench.root, "--out", tmp_path / "r.json")
    assert code == 2 and "--max-dim" in stderr and stderr.count("\n") == 1 and not (tmp_path / "r.json").exists()
    code, _, stderr = run_cli(monkeypatch, capsys, "evaluate", wide, "--benchmark", bench.root, "--out", tmp_path / "r.json", "--max-dim", 5000, "--bootstrap", 5)
    assert code == 0, stderr
    small = template_with(bench, tmp_path / "small.parquet")
    with pytest.raises(PhenoBenchError, match="above the 0 MB cap"):
        Evaluator(bench.root, limits=Limits(max_bytes=1000)).read(small)


@pytest.fixture
def copy(bench, tmp_path):
    """A private copy of the benchmark folder to tamper with."""
    target = tmp_path / "bench"
    shutil.copytree(bench.root, target)
    return target


def test_fingerprint_is_the_sha256_of_the_manifest_bytes(bench, copy, tmp_path):
    """Regression (defect 5): whitespace edits and unknown fields kept the old fingerprint."""
    import hashlib

    path = copy / "manifest.json"
    assert read_manifest(copy).fingerprint == hashlib.sha256(path.read_bytes()).hexdigest() == bench.manifest.fingerprint
    submission = template_with(bench, tmp_path / "sub.parquet")
    path.write_bytes(path.read_bytes().replace(b'{\n  "', b'{\n    "', 1))  # one whitespace edit
    changed = read_manifest(copy)
    assert changed.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest() != bench.manifest.fingerprint
    with pytest.raises(PhenoBenchError, match="different build"):
        Evaluator(copy).read(submission)
    data = json.loads(path.read_text())
    data["surprise"] = 1
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    with pytest.raises(PhenoBenchError, match="invalid benchmark manifest.*surprise"):
        read_manifest(copy)


def test_unlisted_files_in_a_benchmark_folder_are_refused(bench, copy, tmp_path, monkeypatch, capsys):
    verify(copy)
    (copy / "answers" / "extra.parquet").write_bytes(b"x")
    with pytest.raises(PhenoBenchError, match="extra.parquet: not listed in the benchmark manifest"):
        verify(copy)
    code, _, stderr = run_cli(monkeypatch, capsys, "splits", "info", copy)
    assert code == 2 and "not listed" in stderr
    submission = template_with(bench, tmp_path / "sub.parquet")
    code, _, stderr = run_cli(monkeypatch, capsys, "evaluate", submission, "--benchmark", copy, "--out", tmp_path / "r.json")
    assert code == 2 and "not listed" in stderr and not (tmp_path / "r.json").exists()


# --- fixer G: metadata the scorer used to take silently (F's 23:07 notes) ------------------------


def _with_metadata(src, dst, **changes):
    """A copy of submission ``src`` whose 'pheno_bench' metadata has ``changes`` (bypassing write_submission's checks)."""
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    meta = json.loads(table.schema.metadata[b"pheno_bench"])
    meta.update(changes)
    pq.write_table(table.replace_schema_metadata({b"pheno_bench": json.dumps(meta).encode()}), dst)
    return dst


def test_a_fold_in_the_metadata_of_a_benchmark_without_folds_is_refused(bench, tmp_path, monkeypatch, capsys):
    """Regression: a synthetic-v1 / cell-injury-v1 file saying "fold": 2 was scored, the fold silently dropped."""
    path = _with_metadata(template_with(bench, tmp_path / "ok.parquet"), tmp_path / "fold.parquet", fold=2)
    with pytest.raises(PhenoBenchError, match=r"fold\.parquet: its metadata says fold 2, but synthetic-v1 has no folds; remove fold from the metadata"):
        bench.read(path)
    code, stdout, stderr = run_cli(monkeypatch, capsys, "evaluate", path, "--benchmark", bench.root, "--out", tmp_path / "r.json")
    assert code == 2 and stderr.count("\n") == 1 and "has no folds" in stderr and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("field, size, cap", [("model", 121, 120), ("description", 2001, 2000)])
def test_metadata_strings_are_capped(bench, tmp_path, monkeypatch, capsys, field, size, cap):
    """Regression: model = 100,000 x "x" was accepted and printed as a 128 KB table title."""
    ok = template_with(bench, tmp_path / "ok.parquet")
    assert bench.read(_with_metadata(ok, tmp_path / "at-cap.parquet", **{field: "x" * cap})).metadata  # the cap itself is fine
    path = _with_metadata(ok, tmp_path / "long.parquet", **{field: "x" * size})
    code, stdout, stderr = run_cli(monkeypatch, capsys, "evaluate", path, "--benchmark", bench.root, "--out", tmp_path / "r.json")
    assert code == 2 and stderr.count("\n") == 1 and not stdout and not (tmp_path / "r.json").exists()
    assert f"long.parquet: invalid 'pheno_bench' metadata ({field}: String should have at most {cap} characters)" in stderr
    with pytest.raises(ValueError):  # the writer refuses it too
        template_with(bench, tmp_path / "w.parquet", **{field: "x" * size})


def test_unknown_benchmark_in_the_metadata_names_the_file(bench, tmp_path, monkeypatch, capsys):
    """Regression: "error: unknown benchmark 'cell-injury-v9'; did you mean …" did not say which file named it."""
    path = _with_metadata(template_with(bench, tmp_path / "ok.parquet"), tmp_path / "v9.parquet", benchmark="cell-injury-v9")
    for command in (("evaluate", path), ("evaluate", "--format", path), ("compare", path, path)):
        code, _, stderr = run_cli(monkeypatch, capsys, *command)
        assert code == 2 and stderr.count("\n") == 1, (command, stderr)
        assert "v9.parquet: the benchmark named in its metadata: unknown benchmark 'cell-injury-v9'" in stderr


def test_compare_refuses_fold_files_of_a_benchmark_without_folds(bench, tmp_path, monkeypatch, capsys):
    a = _with_metadata(template_with(bench, tmp_path / "a0.parquet"), tmp_path / "a.parquet", fold=1)
    b = _with_metadata(template_with(bench, tmp_path / "b0.parquet", model="b"), tmp_path / "b.parquet", fold=1)
    code, _, stderr = run_cli(monkeypatch, capsys, "compare", a, b, "--benchmark", bench.root)
    assert code == 2 and stderr.count("\n") == 1 and "a.parquet: its metadata says fold 1, but synthetic-v1 has no folds" in stderr


def test_compare_and_template_never_write_into_the_benchmark_folder(bench, tmp_path, monkeypatch, capsys):
    """Regression: `compare --out <bench>/x.json` and `template --out <bench>/x.parquet` wrote there, and from then on
    every command refused the benchmark (an unlisted file)."""
    a, b = template_with(bench, tmp_path / "a.parquet"), template_with(bench, tmp_path / "b.parquet", dim=5)
    before = sorted(p.name for p in bench.root.iterdir())
    code, _, err = run_cli(monkeypatch, capsys, "compare", a, b, "--benchmark", bench.root, "--out", bench.root / "cmp.json", "--bootstrap", 10)
    assert code == 2 and "inside the benchmark folder" in err
    code, _, err = run_cli(monkeypatch, capsys, "submission", "template", bench.root, "--out", bench.root / "ex.parquet")
    assert code == 2 and "inside the benchmark folder" in err
    assert sorted(p.name for p in bench.root.iterdir()) == before
    verify(bench.root)


def test_compare_refuses_a_file_twice_or_on_both_sides(bench, tmp_path, monkeypatch, capsys):
    a, b = template_with(bench, tmp_path / "a.parquet"), template_with(bench, tmp_path / "b.parquet", dim=5)
    code, _, err = run_cli(monkeypatch, capsys, "compare", "--a", a, "--a", a, "--b", b, "--benchmark", bench.root)
    assert code == 2 and "given twice for a" in err
    code, _, err = run_cli(monkeypatch, capsys, "compare", "--a", a, "--a", b, "--b", a, "--benchmark", bench.root)
    assert code == 2 and "given for both a and b" in err


def test_template_refuses_a_dimension_the_scorer_would_refuse(bench, tmp_path, monkeypatch, capsys):
    code, _, _ = run_cli(monkeypatch, capsys, "submission", "template", bench.root, "--dim", 5000, "--out", tmp_path / "big.parquet")
    assert code == 2 and not (tmp_path / "big.parquet").exists()


# --- safe reading (issue 19): nothing is materialised before it is known good ---------------------

#: The issue's file: a valid dim-4,096 file plus 60,000 extra rows of zeros (0.14 MB under zstd); the old
#: reader decoded every row (2.58 GB peak on cell-injury-v1) before refusing the unknown ids.
EXTRA_ROWS, WIDE = 60_000, 4096
MEMORY_BOUND_MB = 500


def _padded_file(bench, path, *, extra: int, dim: int):
    """A valid file of width ``dim`` (every vector all ones) plus ``extra`` rows of unknown ids and zero vectors, written in
    chunks of 2,000 rows (the test never holds the whole file in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pheno_bench.schema import matrix_column

    good = pq.read_table(template_with(bench, path.with_suffix(".small.parquet"), dim=1))
    head = good.set_column(3, "embedding", matrix_column(np.ones((good.num_rows, dim), dtype=np.float32)))
    with pq.ParquetWriter(path, head.schema, compression="zstd") as writer:
        writer.write_table(head)
        for start in range(0, extra, 2000):
            rows = min(2000, extra - start)
            writer.write_table(pa.table({
                "split": pa.array(["unseen_images"] * rows), "kind": pa.array(["query"] * rows),
                "id": pa.array([f"q-extra-{start + i}" for i in range(rows)]),
                "embedding": matrix_column(np.zeros((rows, dim), dtype=np.float32)),
            }, schema=head.schema))
    return path


#: Peak RSS of the process as VmHWM (the high-water mark of this process's own memory map). Not
#: ru_maxrss: Linux carries the forking parent's RSS over exec into the child's ru_maxrss (pytest's
#: ~1 GB here), so a subprocess's ru_maxrss cannot show a peak below its parent's.
_PEAK = """
import atexit, re, sys
def peak():
    with open("/proc/self/status") as status:
        kb = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
    print(f"peak-rss-kb {kb}", file=sys.stderr)
atexit.register(peak)
sys.argv = ["pheno-bench", *sys.argv[1:]]
from pheno_bench.cli import main
main()
"""


def _cli_peak(*args, timeout=120):
    """The CLI in a fresh interpreter: (exit code, stderr lines without the peak line, peak RSS in MB)."""
    import subprocess

    run = subprocess.run([sys.executable, "-c", _PEAK, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    lines = run.stderr.splitlines()
    peak = [int(line.split()[1]) for line in lines if line.startswith("peak-rss-kb ")]
    return run.returncode, [line for line in lines if not line.startswith("peak-rss-kb ")], peak[0] / 1024 if peak else None


def test_a_file_of_60000_extra_rows_is_refused_within_a_memory_bound(cell_injury_v1, tmp_path):
    """Regression (issue 19): the row count is read from the footer, so the 983 MB of zeros the file
    decompresses to are never materialised (the old reader peaked at 2.3 GB on this file). Peak RSS of the
    whole `evaluate` process (a memory bound, VmHWM in a fresh interpreter; not a timing). On
    cell-injury-v1, whose scorer alone peaks near 190 MB (synthetic-v1's near 540 MB)."""
    bench = Evaluator(cell_injury_v1)
    import os

    if not os.path.exists("/proc/self/status"):
        pytest.skip("peak memory is read from /proc/self/status (Linux)")
    path = _padded_file(bench, tmp_path / "padded.parquet", extra=EXTRA_ROWS, dim=WIDE)
    assert path.stat().st_size < 2 * 2**20  # a small file
    code, err, peak_mb = _cli_peak("evaluate", path, "--benchmark", bench.root, "--out", tmp_path / "r.json")
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {path}: ") and "rows" in err[0] and "remove the extra rows" in err[0]
    assert peak_mb is not None and peak_mb < MEMORY_BOUND_MB, peak_mb
    assert not (tmp_path / "r.json").exists()


def test_a_named_pipe_is_refused_at_once(bench, tmp_path):
    """Regression (issue 19): `evaluate <fifo>` blocked forever in open(). It is refused from os.stat, never
    opened; the subprocess timeout is only a hang guard, not a timing assertion."""
    import os

    fifo = tmp_path / "sub.parquet"
    os.mkfifo(fifo)
    good = template_with(bench, tmp_path / "good.parquet")
    for args in (("evaluate", fifo, "--benchmark", bench.root), ("evaluate", fifo), ("compare", good, fifo, "--benchmark", bench.root)):
        code, err, _ = _cli_peak(*args, timeout=30)
        assert code == 2 and len(err) == 1, (args, err)
        assert err[0] == (
            f"error: {fifo}: a named pipe, not a regular file; the submission is read only from a parquet file "
            "on disk: write it to a file (write_submission) and give that file's path"
        ), err


@pytest.mark.parametrize("target", ["directory", "device"])
def test_directories_and_devices_are_refused(bench, tmp_path, target):
    import os

    path = tmp_path if target == "directory" else "/dev/zero"
    if target == "device" and not os.path.exists(path):
        pytest.skip("no /dev/zero here")
    with pytest.raises(PhenoBenchError, match=f"a {'directory' if target == 'directory' else 'character device'}, not a regular file"):
        bench.read(path)


def test_footer_declaring_more_values_than_the_dimension_cap_is_refused_before_reading(bench, tmp_path):
    """A variable-length list column can hide one huge row; its value count is in the footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = pq.read_table(template_with(bench, tmp_path / "ok.parquet"))
    values = good.column("embedding").to_pylist()
    values[0] = [1.0] * (good.num_rows * 4097 + 1)  # more floats than every row at the cap together
    path = tmp_path / "huge-row.parquet"
    pq.write_table(good.set_column(3, "embedding", pa.array(values, pa.list_(pa.float32()))), path)
    with pytest.raises(PhenoBenchError, match=r"huge-row.parquet: the embedding column declares .* more than 4096 floats a row"):
        bench.read(path)
