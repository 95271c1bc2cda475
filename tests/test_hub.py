"""Hub round trip, end to end on loopback: olah serves benchmarks committed to local git repos.

publish -> HubWriter (the Hub's write API, committing into olah's mirror folder) -> olah ->
download: pinned revision, offline reuse, tampered files refused, unknown repo -> one error line,
and ``datasets.load_dataset`` through the card's configs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("olah")
datasets = pytest.importorskip("datasets")

from huggingface_hub import DatasetCard  # noqa: E402

from olah_server import HubWriter, Olah, commit_folder  # noqa: E402
from pheno_bench.errors import PhenoBenchError  # noqa: E402
from pheno_bench.hub import CONFIGS, dataset_card, download, publish, register  # noqa: E402
from pheno_bench.manifest import (  # noqa: E402
    SourceInfo,
    answers_path,
    candidates_path,
    locate,
    queries_path,
    read_manifest,
    verify,
    wells_path,
)
from pheno_bench.paths import benchmark_home  # noqa: E402
from pheno_bench.schema import SPLITS  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed (olah serves git repositories)")
ORG = "pheno"
DEAD_ENDPOINT = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benches(synthetic_v1, tmp_path_factory) -> tuple[Path, Path]:
    """Two different builds of synthetic-v1: its frozen seed, and seed 1."""
    from pheno_bench.split import build_benchmark

    return synthetic_v1, build_benchmark("synthetic-v1", out=tmp_path_factory.mktemp("bench") / "seed-1", seed=1)


@pytest.fixture(scope="module")
def hub(tmp_path_factory, benches):
    """olah on loopback serving ``pheno/bench`` (2 commits: v1 then v2) and ``pheno/tampered``."""
    base = tmp_path_factory.mktemp("hub")
    mirrors = base / "mirrors"
    v1, v2 = benches
    repo = mirrors / "datasets" / ORG / "bench"
    shas = [commit_folder(repo, v1, "v1"), commit_folder(repo, v2, "v2")]
    tampered = base / "tampered"
    shutil.copytree(v1, tampered)
    path = tampered / candidates_path("unseen_molecules")
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    commit_folder(mirrors / "datasets" / ORG / "tampered", tampered, "a file that does not match its manifest")
    olah = Olah(mirrors, base / "olah")
    try:
        yield {"url": olah.url, "shas": shas, "mirrors": mirrors, "olah": olah}
    finally:
        olah.stop()


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "hf-cache"


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """A pheno-bench home per test: downloads register there, apart from other tests' builds."""
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "home"))


def _cli(*args: str, endpoint: str, offline: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "1" if offline else "0"}
    code = "from pheno_bench.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


# --- dataset card -----------------------------------------------------------------------------


def test_card_configs_cover_every_data_file(benches):
    manifest = read_manifest(benches[0])
    card = DatasetCard(dataset_card(manifest, repo_id="pheno/bench"))
    listed = {f["path"] for c in card.data.configs for f in c["data_files"]}
    assert listed == {f.path for f in manifest.files if f.path.endswith(".parquet")}
    assert [c["config_name"] for c in card.data.configs] == list(CONFIGS)
    assert manifest.fingerprint in card.text
    assert all(f"| `{s}` |" in card.text for s in SPLITS)
    assert 'load_dataset("pheno/bench", "queries", split="unseen_molecules")' in card.text


@pytest.mark.parametrize("licences, expected", [
    (["CC-BY-4.0"], "cc-by-4.0"),
    (["CC-BY-4.0", "MIT", "mit"], ["cc-by-4.0", "mit"]),
    (["CC-BY-4.0", "BSD-3-Clause (profiles); research use only"], "other"),
])
def test_card_licence_is_a_hub_id_only_when_every_source_has_one(benches, licences, expected):
    manifest = read_manifest(benches[0])
    sources = [SourceInfo(name=f"s{i}", files={}, licence=text, citation="c") for i, text in enumerate(licences)]
    card = DatasetCard(dataset_card(manifest.model_copy(update={"sources": sources})))
    assert card.data.license == expected
    assert all(f"| {text} |" in card.text for text in licences)


# --- download ---------------------------------------------------------------------------------


def test_download_pinned_revision_gets_the_first_version(hub, benches, cache):
    first, second = hub["shas"]
    old = download(f"{ORG}/bench", revision=first, cache_dir=cache, endpoint=hub["url"])
    assert old.name == first
    assert verify(old).fingerprint == read_manifest(benches[0]).fingerprint
    new = download(f"{ORG}/bench", cache_dir=cache, endpoint=hub["url"])
    assert new.name == second
    assert read_manifest(new).fingerprint == read_manifest(benches[1]).fingerprint
    assert (old / queries_path("unseen_images")).read_bytes() == (benches[0] / queries_path("unseen_images")).read_bytes()
    # registered under its name: evaluate and info find the last download
    assert locate(read_manifest(new).name).resolve() == new.resolve()


def test_offline_reuse_after_the_server_is_gone(hub, benches, cache, tmp_path):
    olah = Olah(hub["mirrors"], tmp_path / "olah")  # its own server, stopped below
    try:
        online = download(f"{ORG}/bench", cache_dir=cache, endpoint=olah.url)
    finally:
        olah.stop()
    offline = download(f"{ORG}/bench", cache_dir=cache, offline=True, endpoint=olah.url)
    assert offline == online
    pinned = download(f"{ORG}/bench", revision=online.name, cache_dir=cache, endpoint=olah.url)
    assert pinned == online
    result = _cli("splits", "download", f"{ORG}/bench", "--cache-dir", str(cache), endpoint=olah.url, offline=True)
    assert result.returncode == 0, result.stderr
    assert str(online) in result.stdout and online.name in result.stdout
    assert read_manifest(online).fingerprint in result.stdout
    with pytest.raises(PhenoBenchError, match="not in the local cache and offline mode is on"):
        download(f"{ORG}/bench", revision=hub["shas"][0], cache_dir=cache, offline=True)


def test_tampered_file_on_the_hub_is_refused(hub, benches, cache):
    home = benchmark_home(read_manifest(benches[0]).name)
    before = home.resolve() if home.exists() else None
    with pytest.raises(PhenoBenchError, match=r"candidates/unseen_molecules\.parquet: sha256 does not match") as err:
        download(f"{ORG}/tampered", cache_dir=cache, endpoint=hub["url"])
    assert "\n" not in str(err.value)
    assert (home.resolve() if home.exists() else None) == before  # not registered


def test_tampered_cache_is_refused_and_force_fetches_again(hub, cache):
    snapshot = download(f"{ORG}/bench", cache_dir=cache, endpoint=hub["url"])
    blob = (snapshot / wells_path("train")).resolve()  # the snapshot file links to a cached blob
    blob.write_bytes(blob.read_bytes()[::-1])
    with pytest.raises(PhenoBenchError, match=r"wells/train\.parquet: sha256 does not match.*--force"):
        download(f"{ORG}/bench", cache_dir=cache, offline=True)
    assert verify(download(f"{ORG}/bench", cache_dir=cache, force=True, endpoint=hub["url"]))


@pytest.mark.parametrize("args, needle", [
    ([f"{ORG}/nope"], "pheno/nope@main"),
    ([f"{ORG}/bench", "--revision", "no-such-branch"], "pheno/bench@no-such-branch"),
])
def test_unknown_repo_or_revision_is_one_error_line(hub, cache, args, needle):
    result = _cli("splits", "download", *args, "--cache-dir", str(cache), endpoint=hub["url"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "not found" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_hub_without_cache_is_one_clear_error(cache):
    with pytest.raises(PhenoBenchError, match=r"pheno/bench@main: cannot be fetched .*not in the local cache"):
        download(f"{ORG}/bench", cache_dir=cache, endpoint=DEAD_ENDPOINT)


def test_register_keeps_a_same_local_build_and_refuses_another(benches):
    home = benchmark_home(read_manifest(benches[0]).name)
    shutil.copytree(benches[0], home)
    assert register(benches[0]) == home and not home.is_symlink()
    with pytest.raises(PhenoBenchError, match="holds another build"):
        register(benches[1])


# --- datasets.load_dataset through the card's configs ----------------------------------------


def test_load_dataset_configs_on_the_downloaded_folder(hub, benches, cache, tmp_path):
    snapshot = download(f"{ORG}/bench", revision=hub["shas"][0], cache_dir=cache, endpoint=hub["url"])
    for config, files in CONFIGS.items():
        for split, path in files.items():
            rows = datasets.load_dataset(str(snapshot), config, split=split, cache_dir=str(tmp_path / "ds"))
            expected = pq.read_table(benches[0] / path)
            assert rows.num_rows == expected.num_rows
            assert rows.column_names == expected.column_names
            key = expected.column_names[0]
            assert rows[key] == expected.column(key).to_pylist()


def test_load_dataset_from_the_hub_by_repo_id(hub, benches, tmp_path):
    """What a user types: ``datasets.load_dataset("ORG/NAME", config, revision=...)`` against the Hub."""
    code = (
        "import datasets, sys; ds = datasets.load_dataset(sys.argv[1], 'queries', split='unseen_molecules', "
        "revision=sys.argv[2], cache_dir=sys.argv[3]); print(ds.num_rows, ds['query_id'][0])"
    )
    env = {**os.environ, "HF_ENDPOINT": hub["url"], "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", code, f"{ORG}/bench", hub["shas"][0], str(tmp_path / "ds")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = pq.read_table(benches[0] / queries_path("unseen_molecules"))
    assert result.stdout.split() == [str(expected.num_rows), expected.column("query_id")[0].as_py()]


# --- publish ----------------------------------------------------------------------------------


@pytest.fixture
def writer(hub):
    server = HubWriter(hub["mirrors"])
    try:
        yield server
    finally:
        server.stop()


def test_publish_then_download_round_trip(hub, writer, benches, cache):
    v1, v2 = benches
    sha = publish(v1, f"{ORG}/published", private=True, endpoint=writer.url)
    assert writer.visibility["published"] == "private"
    repo = writer.repo(f"{ORG}/published")
    sent = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only", sha],
                          capture_output=True, text=True, check=True).stdout.split()
    manifest = read_manifest(v1)
    assert sorted(sent) == sorted(["README.md", "manifest.json", *(f.path for f in manifest.files)])
    got = download(f"{ORG}/published", revision=sha, cache_dir=cache, endpoint=hub["url"])
    assert read_manifest(got).fingerprint == manifest.fingerprint
    assert (got / "README.md").read_text() == dataset_card(manifest, repo_id=f"{ORG}/published")
    # a second build on a branch leaves main as it was
    branch_sha = publish(v2, f"{ORG}/published", revision="v2", endpoint=writer.url)
    assert read_manifest(download(f"{ORG}/published", revision="v2", cache_dir=cache, endpoint=hub["url"])).fingerprint \
        == read_manifest(v2).fingerprint
    assert download(f"{ORG}/published", cache_dir=cache, endpoint=hub["url"]).name == sha != branch_sha


def test_publish_cli_prints_the_commit(writer, benches):
    result = _cli("splits", "publish", str(benches[0]), "--repo", f"{ORG}/by-cli", endpoint=writer.url)
    assert result.returncode == 0, result.stderr
    head = subprocess.run(["git", "-C", str(writer.repo(f"{ORG}/by-cli")), "rev-parse", "main"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert f"{ORG}/by-cli  revision {head}" in result.stdout


def test_publish_verifies_before_sending_anything(writer, benches, tmp_path):
    folder = tmp_path / "bench"
    shutil.copytree(benches[0], folder)
    (folder / answers_path("unseen_dataset")).write_bytes(b"not the answers")
    result = _cli("splits", "publish", str(folder), "--repo", f"{ORG}/never", endpoint=writer.url)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "answers/unseen_dataset.parquet: sha256 does not match" in result.stderr
    assert writer.requests == []


def test_publish_to_an_unreachable_hub_is_one_clear_error(benches):
    with pytest.raises(PhenoBenchError, match=r"pheno/x@main on http://127\.0\.0\.1:9: cannot reach the Hub"):
        publish(benches[0], f"{ORG}/x", endpoint=DEAD_ENDPOINT)
