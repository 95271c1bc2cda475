"""A benchmark built or downloaded anywhere is found by name afterwards (the registry), and unknown
names get a "did you mean" — through the CLI, as a user meets them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import requires_molecules
from pheno_bench.errors import PhenoBenchError
from pheno_bench.manifest import read_manifest
from pheno_bench.registry import entries, find, locate, register, registry_path


def cli(*args, cwd=None, home=None):
    env = {**os.environ, **({"PHENO_BENCH_HOME": str(home)} if home else {})}
    return subprocess.run([sys.executable, "-m", "pheno_bench.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("PHENO_BENCH_HOME", str(path))
    return path


@pytest.fixture
def copy(synthetic_v1, tmp_path):
    """A copy of the synthetic-v1 build in a folder of its own (as `--out` anywhere leaves it)."""
    folder = tmp_path / "somewhere" / "synthetic-v1"
    shutil.copytree(synthetic_v1, folder)
    return folder


@requires_molecules
def test_build_with_out_is_found_by_name_by_every_command(home, tmp_path):
    """The README path: `splits build X --out out/X`, then info, template and evaluate by name."""
    result = cli("splits", "build", "synthetic-v1", "--out", "out/synthetic-v1", cwd=tmp_path, home=home)
    assert result.returncode == 0, result.stderr
    built = tmp_path / "out" / "synthetic-v1"
    assert not (home / "benchmarks" / "synthetic-v1").exists()  # nothing copied: the registry points at out/
    info = cli("splits", "info", "synthetic-v1", cwd=tmp_path, home=home)
    assert info.returncode == 0, info.stderr
    assert str(built) in info.stdout and read_manifest(built).fingerprint in info.stdout
    template = cli("submission", "template", "synthetic-v1", "--out", "out/example.parquet", cwd=tmp_path, home=home)
    assert template.returncode == 0, template.stderr
    assert (tmp_path / "out" / "example.parquet").is_file()


@requires_molecules
def test_registered_copy_is_current_and_a_seed_build_only_by_fingerprint(home, copy, synthetic_v1, tmp_path):
    register(copy)
    assert locate("synthetic-v1") == copy.resolve()
    other = tmp_path / "other"
    shutil.copytree(synthetic_v1, other)
    manifest = other / "manifest.json"  # another build of the name: a different seed, so another fingerprint
    manifest.write_bytes(manifest.read_bytes().replace(b'"seed": 0', b'"seed": 1', 1))
    register(other, current=False)  # as a --seed build is registered
    assert locate("synthetic-v1") == copy.resolve()
    seeded = read_manifest(other).fingerprint
    assert seeded != read_manifest(copy).fingerprint
    assert find("synthetic-v1", fingerprint=seeded) == other.resolve()
    assert locate("synthetic-v1", fingerprint=seeded) == other.resolve()
    assert find("synthetic-v1", fingerprint=read_manifest(copy).fingerprint) == copy.resolve()


@requires_molecules
def test_moved_build_is_reported_and_skipped(home, copy, tmp_path):
    register(copy)
    moved = tmp_path / "moved"
    copy.rename(moved)
    with pytest.raises(PhenoBenchError, match=r"not built or downloaded yet \(it was registered at .*somewhere/synthetic-v1, which is gone"):
        locate("synthetic-v1")
    register(moved)
    assert locate("synthetic-v1") == moved.resolve()
    assert [e["path"] for e in entries()] == [str(copy.resolve()), str(moved.resolve())]


@requires_molecules
def test_altered_manifest_is_not_trusted(home, copy):
    register(copy)
    manifest = copy / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"seed": 0', b'"seed": 7'))
    assert find("synthetic-v1") is None  # the registered fingerprint no longer matches


def test_unreadable_registry_is_empty_not_a_crash(home):
    home.mkdir(parents=True)
    registry_path().write_text("{not json")
    assert entries() == []
    with pytest.raises(PhenoBenchError, match="not built or downloaded yet"):
        locate("synthetic-v1")
    registry_path().write_text(json.dumps({"benchmarks": [{"name": "x"}, "junk"]}))
    assert entries() == []


def test_unknown_name_says_did_you_mean_in_every_command(home):
    for args in (["splits", "info", "synthetic_v1"], ["submission", "template", "synthetic_v1"], ["splits", "build", "synthetic_v1"]):
        result = cli(*args, home=home)
        assert result.returncode == 2, (args, result.stderr)
        assert "did you mean 'synthetic-v1'" in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_did_you_mean_in_python(home):
    with pytest.raises(PhenoBenchError, match=r"unknown benchmark 'cel-injury-v1'; did you mean 'cell-injury-v1'"):
        locate("cel-injury-v1")


def test_known_name_not_built_says_how_to_get_it(home):
    result = cli("splits", "info", "cell-injury-v1", home=home)
    assert result.returncode == 2
    assert "not built or downloaded yet" in result.stderr and "splits build cell-injury-v1" in result.stderr


def test_missing_folder_path_is_named(home, tmp_path):
    with pytest.raises(PhenoBenchError, match=r"no such benchmark folder"):
        locate(str(tmp_path / "nope" / "bench"))
    with pytest.raises(PhenoBenchError, match=r"no benchmark manifest in this folder"):
        locate(str(tmp_path))


@requires_molecules
def test_concurrent_registrations_are_all_kept(home, synthetic_v1, tmp_path):
    folders = []
    for i in range(4):
        folders.append(tmp_path / f"b{i}")
        shutil.copytree(synthetic_v1, folders[-1])
    code = "import sys; from pheno_bench.registry import register; register(sys.argv[1])"
    env = {**os.environ, "PHENO_BENCH_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(f)], env=env) for f in folders]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert sorted(e["path"] for e in entries()) == sorted(str(f.resolve()) for f in folders)


@requires_molecules
def test_splits_list_shows_what_each_name_means(home, copy, tmp_path):
    register(copy)
    other = tmp_path / "other"
    shutil.copytree(copy, other)
    register(other, current=False)
    result = cli("splits", "list", home=home)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[-1]: line for line in result.stdout.splitlines() if line.startswith("synthetic-v1")}
    assert "yes" in lines[str(copy.resolve())] and "by fingerprint" in lines[str(other.resolve())]
    shutil.rmtree(copy)
    result = cli("splits", "list", home=home)
    gone = next(line for line in result.stdout.splitlines() if str(copy.resolve()) in line)
    assert "gone" in gone


def test_replacing_a_folder_behind_a_link_replaces_the_link_not_its_target(tmp_path):
    """A build's --out may be an old registration link: the new folder takes the link's place; the
    folder the link pointed at is left as it was."""
    from pheno_bench.io import replace_folder, staged_folder

    kept = tmp_path / "elsewhere"
    kept.mkdir()
    (kept / "thesis.txt").write_text("important")
    link = tmp_path / "out"
    link.symlink_to(kept, target_is_directory=True)
    with staged_folder(link) as staging:
        (staging / "manifest.json").write_text("{}")
    assert not link.is_symlink() and (link / "manifest.json").is_file()
    assert (kept / "thesis.txt").read_text() == "important"
    new = tmp_path / "new"
    new.mkdir()
    replace_folder(new, link)
    assert not new.exists() and not (link / "manifest.json").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "out"]
    with pytest.raises(RuntimeError):
        with staged_folder(link) as staging:
            raise RuntimeError("build failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "out"]  # nothing half-written, staging gone
