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


def test_build_never_destroys_a_folder_that_is_not_a_benchmark(tmp_path):
    """A typo'd --out (a thesis folder, the project root) must be refused before any work, its files untouched."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("important")
    result = run("splits", "build", "synthetic-v1", "--out", str(precious))
    assert result.returncode == 2
    assert "is not a pheno-bench benchmark" in result.stderr and "Traceback" not in result.stderr
    assert (precious / "thesis.txt").read_text() == "important" and sorted(p.name for p in precious.iterdir()) == ["thesis.txt"]


def test_build_into_a_file_is_one_line_error(tmp_path):
    victim = tmp_path / "victim.parquet"
    victim.write_bytes(b"data")
    result = run("splits", "build", "synthetic-v1", "--out", str(victim))
    assert result.returncode == 2
    assert "--out is a file" in result.stderr and "Traceback" not in result.stderr
    assert victim.read_bytes() == b"data"
