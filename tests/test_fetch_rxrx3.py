"""RxRx3-core through huggingface_hub against a real Hub on loopback (olah serving a git repo laid out
exactly as ``recursionpharma/rxrx3-core``): pinned commit, sha256 lock, offline reuse, refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import sys
from pathlib import Path

import pytest

pytest.importorskip("olah")
sys.path.insert(0, str(Path(__file__).parent))

from olah_server import Olah, commit_folder  # noqa: E402
from rxrx3_fixture import EMBEDDINGS_FILE, METADATA_FILE, load_smiles, write_rxrx3  # noqa: E402

from pheno_bench.errors import PhenoBenchError  # noqa: E402
from pheno_bench.fetch import FetchError, fetch_source, lock_path  # noqa: E402
from pheno_bench.io import sha256_file  # noqa: E402
from pheno_bench.paths import data_root  # noqa: E402

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed (olah serves git repositories)"),
    pytest.mark.skipif(not (data_root() / "molecules-moshkov2023").is_dir(), reason="needs ../shared/data/molecules-moshkov2023 for real SMILES"),
]
REPO = "recursionpharma/rxrx3-core"
DEAD_ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """olah serving recursionpharma/rxrx3-core with two commits (a first release, then a changed metadata file)."""
    base = tmp_path_factory.mktemp("rxrx3-hub")
    release = base / "release"
    write_rxrx3(release, load_smiles(data_root(), 60))
    (release / "README.md").write_text("---\nlicense: other\n---\n# RxRx3-core (test fixture)\n")
    repo = base / "mirrors" / "datasets" / REPO
    first = commit_folder(repo, release, "release")
    changed = base / "changed"
    shutil.copytree(release, changed)
    (changed / METADATA_FILE).write_bytes((release / METADATA_FILE).read_bytes().replace(b"HUVEC", b"HUVEC", 1) + b"")
    with open(changed / METADATA_FILE, "a") as handle:  # one more (CRISPR) row: a different release
        handle.write("gene-099_1_A01,gene-099,1,A01,GENE9,GENE9_guide_1,,,CRISPR,HUVEC,treatment\n")
    second = commit_folder(repo, changed, "second release")
    olah = Olah(base / "mirrors", base / "olah")
    try:
        yield {"url": olah.url, "release": release, "commits": (first, second)}
    finally:
        olah.stop()


@pytest.fixture
def env(tmp_path, monkeypatch, hub):
    """A fresh pheno-bench home (lock files), Hub cache and empty data root; HF_ENDPOINT -> olah."""
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", hub["url"])
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PHENO_BENCH_RXRX3_REVISION", raising=False)
    (tmp_path / "data").mkdir()
    return tmp_path


def test_fetch_records_the_commit_and_sha256s_then_reuses_the_cache_offline(env, hub, monkeypatch):
    first, second = hub["commits"]
    fetched = fetch_source("rxrx3-core", data_root=env / "data", revision=first)
    assert fetched.revision == first and fetched.folder.name == first
    for name in (METADATA_FILE, EMBEDDINGS_FILE):
        assert (fetched.folder / name).read_bytes() == (hub["release"] / name).read_bytes()
        assert fetched.files[name] == sha256_file(hub["release"] / name)
    lock = json.loads(lock_path("rxrx3-core").read_text())
    assert lock["revision"] == first and set(lock["files"]) == {METADATA_FILE, EMBEDDINGS_FILE}
    # later fetches use the recorded commit even though main moved on
    assert fetch_source("rxrx3-core", data_root=env / "data").folder.name == first
    # offline, with nothing listening: the cache alone
    monkeypatch.setenv("HF_ENDPOINT", DEAD_ENDPOINT)
    assert fetch_source("rxrx3-core", data_root=env / "data", offline=True).folder.name == first


def test_another_revision_needs_update_and_is_recorded_again(env, hub):
    first, second = hub["commits"]
    fetch_source("rxrx3-core", data_root=env / "data", revision=first)
    with pytest.raises(FetchError, match=f"revision '{second}' differs from the commit {first} recorded in .*--update"):
        fetch_source("rxrx3-core", data_root=env / "data", revision=second)
    fetched = fetch_source("rxrx3-core", data_root=env / "data", revision=second, update=True)
    assert fetched.revision == second and fetched.files[METADATA_FILE] != sha256_file(hub["release"] / METADATA_FILE)


def test_unknown_revision_and_offline_miss_are_one_line(env, hub, monkeypatch):
    with pytest.raises(FetchError, match=r"recursionpharma/rxrx3-core: revision 'v9.9' not found on the Hub.*check --revision") as err:
        fetch_source("rxrx3-core", data_root=env / "data", revision="v9.9")
    assert "\n" not in str(err.value)
    monkeypatch.setenv("HF_ENDPOINT", DEAD_ENDPOINT)
    with pytest.raises(FetchError, match=r"is not in the local Hub cache; run once with network: pheno-bench sources fetch rxrx3-core") as err:
        fetch_source("rxrx3-core", data_root=env / "data", offline=True)
    assert "\n" not in str(err.value)


def test_a_tampered_or_truncated_cached_file_is_refused(env, hub):
    fetched = fetch_source("rxrx3-core", data_root=env / "data", revision=hub["commits"][0])
    blob = (fetched.folder / EMBEDDINGS_FILE).resolve()
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])  # a half file where a whole one was
    with pytest.raises(FetchError, match=rf"{EMBEDDINGS_FILE}: sha256 [0-9a-f]{{16}}… does not match the recorded at the first fetch .*--force") as err:
        fetch_source("rxrx3-core", data_root=env / "data")
    assert "\n" not in str(err.value)
    # --force downloads it again and the recorded sha256 then matches
    assert fetch_source("rxrx3-core", data_root=env / "data", force=True).files[EMBEDDINGS_FILE] == sha256_file(hub["release"] / EMBEDDINGS_FILE)


def test_an_interrupted_download_is_never_trusted(env, hub, tmp_path):
    """A ``.incomplete`` blob (what huggingface_hub leaves when a transfer breaks) never passes for the file."""
    fetched = fetch_source("rxrx3-core", data_root=env / "data", revision=hub["commits"][0])
    blob = (fetched.folder / EMBEDDINGS_FILE).resolve()
    cache = Path(os.environ["HF_HUB_CACHE"])
    fresh = tmp_path / "hf2"
    shutil.copytree(cache, fresh, symlinks=True)
    fresh_blob = fresh / blob.relative_to(cache)
    for snapshot in (fresh / "datasets--recursionpharma--rxrx3-core" / "snapshots").iterdir():
        shutil.rmtree(snapshot)
    data = fresh_blob.read_bytes()
    fresh_blob.unlink()
    Path(str(fresh_blob) + ".incomplete").write_bytes(data[: len(data) // 3])
    os.environ["HF_HUB_CACHE"] = str(fresh)
    again = fetch_source("rxrx3-core", data_root=env / "data")
    assert (again.folder / EMBEDDINGS_FILE).read_bytes() == (hub["release"] / EMBEDDINGS_FILE).read_bytes()
    assert again.files[EMBEDDINGS_FILE] == sha256_file(hub["release"] / EMBEDDINGS_FILE)


def test_a_local_copy_is_checked_against_the_recorded_sha256s(env, hub):
    fetch_source("rxrx3-core", data_root=env / "data", revision=hub["commits"][0])
    local = env / "data" / "rxrx3-core"
    shutil.copytree(hub["release"], local)
    assert fetch_source("rxrx3-core", data_root=env / "data").folder == local
    (local / METADATA_FILE).write_text((local / METADATA_FILE).read_text().replace("HUVEC", "HUVEK", 1))
    with pytest.raises(PhenoBenchError, match=rf"{METADATA_FILE}: sha256 .* does not match .*replace the local copy"):
        fetch_source("rxrx3-core", data_root=env / "data")


def test_cli_fetch_prints_the_commit_and_refuses_offline_misses(env, hub):
    run = lambda *args, **extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", "from pheno_bench.cli import main; main()", "sources", "fetch", "rxrx3-core", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **extra},
    )
    done = run("--data-root", str(env / "data"), "--revision", hub["commits"][0])
    assert done.returncode == 0, done.stderr
    assert f"revision {hub['commits'][0]}" in done.stdout and "2 files checked" in done.stdout
    missing = run("--data-root", str(env / "data"), "--offline", HF_HUB_CACHE=str(env / "empty-cache"), HF_ENDPOINT=DEAD_ENDPOINT)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().startswith("error:") and "run once with network" in missing.stderr


def test_unreachable_hub_is_one_line_within_seconds_then_the_recorded_commit_is_reused(env, hub):
    """No retry chatter: one request to a dead Hub, one line; after a fetch, the cached commit serves a dead Hub."""
    run = lambda *args, **extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", "from pheno_bench.cli import main; main()", "sources", "fetch", "rxrx3-core", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **extra},
    )
    start = time.monotonic()
    dead = run("--data-root", str(env / "data"), HF_ENDPOINT=DEAD_ENDPOINT)
    elapsed = time.monotonic() - start
    assert dead.returncode == 2 and "Traceback" not in dead.stderr and "Retry" not in dead.stderr
    assert len(dead.stderr.strip().splitlines()) == 1 and "cannot reach the Hub" in dead.stderr, dead.stderr
    assert elapsed < 15, elapsed  # python start-up included; the old path retried for ~25 s
    assert run("--data-root", str(env / "data"), "--revision", hub["commits"][0]).returncode == 0
    reused = run("--data-root", str(env / "data"), HF_ENDPOINT=DEAD_ENDPOINT)
    assert reused.returncode == 0, reused.stderr
    assert f"revision {hub['commits'][0]}" in reused.stdout
