"""Corrupt raw files: a truncated or damaged .csv.gz stops with one line naming the file (never click's bare "Aborted.")."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

from pheno_bench.errors import PhenoBenchError
from pheno_bench.sources import read_csv


def _csv_bytes(rows: int = 4000) -> bytes:
    lines = ["a,b,c"] + [f"{i},{i * 7 % 13},x{i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _truncated_gzip(path):
    whole = gzip.compress(_csv_bytes())
    path.write_bytes(whole[: len(whole) // 2])  # what an interrupted download leaves
    return path


def test_truncated_gzip_names_the_file(tmp_path):
    path = _truncated_gzip(tmp_path / "wells.csv.gz")
    with pytest.raises(PhenoBenchError) as caught:
        read_csv(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot be read as CSV (")
    assert "\n" not in message


@pytest.mark.parametrize("damage", ["bad-deflate", "bad-header"])
def test_corrupt_gzip_names_the_file(tmp_path, damage):
    whole = bytearray(gzip.compress(_csv_bytes()))
    if damage == "bad-deflate":  # corrupt the deflate stream -> zlib.error
        whole[20:60] = b"\xff" * 40
    else:  # right magic, wrong compression method -> gzip.BadGzipFile
        whole[2] = 7
    path = tmp_path / "wells.csv.gz"
    path.write_bytes(bytes(whole))
    with pytest.raises(PhenoBenchError, match=r"wells\.csv\.gz: cannot be read as CSV \("):
        read_csv(path)


def test_truncated_raw_file_cli_one_line_exit_2(tmp_path):
    data = tmp_path / "data"
    (data / "cell-injury-dahlin2023").mkdir(parents=True)
    path = _truncated_gzip(data / "cell-injury-dahlin2023" / "cell_injury_union_wells_340feat.csv.gz")
    run = subprocess.run(
        [sys.executable, "-m", "pheno_bench.cli", "splits", "build", "cell-injury-v1", "--data-root", str(data), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env={**__import__("os").environ, "PHENO_BENCH_HOME": str(tmp_path / "home")},
    )
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert "cell_injury_union_wells_340feat.csv.gz: cannot be read as CSV (" in lines[0]
    assert "Aborted" not in run.stderr + run.stdout and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
