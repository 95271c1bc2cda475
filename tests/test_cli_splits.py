"""`pheno-bench splits build/info` as a user runs them: real process, exit codes, one-line errors."""

import shutil
import subprocess
import sys

from conftest import requires_data


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pheno_bench.cli", *args], capture_output=True, text=True, **kwargs)


def test_unknown_benchmark_is_one_line_error():
    result = run("splits", "build", "no-such-benchmark-v9")
    assert result.returncode == 2
    assert "unknown benchmark 'no-such-benchmark-v9'" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_info_on_missing_folder_says_how_to_get_one(tmp_path):
    result = run("splits", "info", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert "splits build" in result.stderr and "Traceback" not in result.stderr


@requires_data
def test_info_prints_table_and_refuses_tampered_file(cell_injury_v1, tmp_path):
    result = run("splits", "info", str(cell_injury_v1))
    assert result.returncode == 0, result.stderr
    assert "unseen_molecules" in result.stdout and "fingerprint" in result.stdout
    copy = tmp_path / "copy"
    shutil.copytree(cell_injury_v1, copy)
    with open(copy / "candidates/unseen_molecules.parquet", "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02")
    result = run("splits", "info", str(copy))
    assert result.returncode == 2
    assert "candidates/unseen_molecules.parquet: sha256 does not match the manifest" in result.stderr
    assert "Traceback" not in result.stderr
