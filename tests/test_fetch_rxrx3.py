"""RxRx3-core from a real Hub on loopback: olah serves a git repo laid out exactly as ``recursionpharma/rxrx3-core``
(the large files committed through git-lfs, so olah serves their LFS sha256 as the Hub does), and a real HTTP
proxy in front of it flips a byte, cuts a transfer, stalls or answers an error status on request.

What is checked: every file is verified against the Hub's own checksum for the resolved commit on the first
fetch as on every later one; a branch is recorded as its commit sha; ``--force`` never destroys a good copy;
every network failure is one line; offline reuse; the maintainer's pin command."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("olah")
sys.path.insert(0, str(Path(__file__).parent))

from olah_server import Olah, TamperingProxy, commit_folder  # noqa: E402
from rxrx3_fixture import EMBEDDINGS_FILE, METADATA_FILE, load_smiles, write_rxrx3  # noqa: E402

from pheno_bench import fetch_hub  # noqa: E402
from pheno_bench.errors import PhenoBenchError  # noqa: E402
from pheno_bench.fetch import HUB_BLOB, HUB_LFS, FetchError, fetch_source, lock_path  # noqa: E402
from pheno_bench.io import sha256_file  # noqa: E402
from pheno_bench.paths import data_root  # noqa: E402
from pheno_bench.sources import rxrx3_core_pins  # noqa: E402

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed (olah serves git repositories)"),
    pytest.mark.skipif(not (data_root() / "molecules-moshkov2023").is_dir(), reason="needs ../shared/data/molecules-moshkov2023 for real SMILES"),
]
REPO = "recursionpharma/rxrx3-core"
DEAD_ENDPOINT = "http://127.0.0.1:9"
FILES = (METADATA_FILE, EMBEDDINGS_FILE)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """olah serving recursionpharma/rxrx3-core with two commits, and a tampering proxy in front of it.

    First commit: both files through git-lfs (as on the Hub, where both are LFS files). Second commit:
    one more metadata row, the CSV committed as a plain git blob (the Hub's other kind of checksum).
    """
    base = tmp_path_factory.mktemp("rxrx3-hub")
    release = base / "release"
    write_rxrx3(release, load_smiles(data_root(), 30))
    (release / "README.md").write_text("---\nlicense: other\n---\n# RxRx3-core (test fixture)\n")
    repo = base / "mirrors" / "datasets" / REPO
    first = commit_folder(repo, release, "release", lfs=("*.parquet", "*.csv"))
    changed = base / "changed"
    shutil.copytree(release, changed)
    with open(changed / METADATA_FILE, "a") as handle:  # one more (CRISPR) row: a different release
        handle.write("gene-099_1_A01,gene-099,1,A01,GENE9,GENE9_guide_1,,,CRISPR,HUVEC,treatment\n")
    second = commit_folder(repo, changed, "second release", lfs=("*.parquet",))
    olah = Olah(base / "mirrors", base / "olah")
    proxy = TamperingProxy(olah.url)
    try:
        yield {"url": olah.url, "proxy": proxy, "release": release, "changed": changed, "commits": (first, second)}
    finally:
        proxy.stop()
        olah.stop()


@pytest.fixture
def env(tmp_path, monkeypatch, hub):
    """A fresh pheno-bench home (lock, kept copies) and empty data root; HF_ENDPOINT -> olah (direct)."""
    hub["proxy"].clear()
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_ENDPOINT", hub["url"])
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PHENO_BENCH_RXRX3_REVISION", raising=False)
    (tmp_path / "data").mkdir()
    return tmp_path


def kept(env, commit: str) -> dict[str, tuple[str, int]]:
    """(sha256, inode) of each kept file of ``commit``."""
    folder = env / "home" / "sources" / "rxrx3-core" / commit
    return {name: (sha256_file(folder / name), (folder / name).stat().st_ino) for name in FILES}


def leftovers(env) -> list[Path]:
    incoming = env / "home" / "sources" / ".incoming"
    return [p for p in incoming.rglob("*") if p.is_file()] if incoming.is_dir() else []


def cli(*args, **extra):
    return subprocess.run(
        [sys.executable, "-c", "from pheno_bench.cli import main; main()", "sources", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", **extra},
    )


def test_first_fetch_verifies_every_file_against_the_hubs_checksum_and_records_the_commit(env, hub, monkeypatch):
    first, second = hub["commits"]
    fetched = fetch_source("rxrx3-core", data_root=env / "data", revision=first)
    assert fetched.revision == first and fetched.folder == env / "home" / "sources" / "rxrx3-core" / first
    lock = json.loads(lock_path("rxrx3-core").read_text())
    for name in FILES:
        assert (fetched.folder / name).read_bytes() == (hub["release"] / name).read_bytes()
        assert fetched.files[name] == sha256_file(hub["release"] / name)
        # the LFS sha256 the Hub (olah) published is the sha256 of the released bytes, computed here independently
        assert fetched.verified[name] == HUB_LFS
        assert lock["checks"][name] == {"publisher": HUB_LFS, "checksum": hashlib.sha256((hub["release"] / name).read_bytes()).hexdigest(),
                                        "size": (hub["release"] / name).stat().st_size}
    assert lock["revision"] == first
    # later fetches use the recorded commit even though main moved on
    assert fetch_source("rxrx3-core", data_root=env / "data").folder.name == first
    # offline, with nothing listening: the verified copies alone
    monkeypatch.setenv("HF_ENDPOINT", DEAD_ENDPOINT)
    assert fetch_source("rxrx3-core", data_root=env / "data", offline=True).folder.name == first


def test_a_branch_is_resolved_to_its_commit_and_a_plain_git_file_is_checked_by_its_blob_id(env, hub):
    _, second = hub["commits"]
    fetched = fetch_source("rxrx3-core", data_root=env / "data", revision="main")
    assert fetched.revision == second and fetched.folder.name == second
    assert json.loads(lock_path("rxrx3-core").read_text())["revision"] == second  # the sha, never "main"
    assert fetched.verified == {EMBEDDINGS_FILE: HUB_LFS, METADATA_FILE: HUB_BLOB}
    blob_id = subprocess.run(["git", "hash-object", str(hub["changed"] / METADATA_FILE)], capture_output=True, text=True, check=True).stdout.strip()
    assert json.loads(lock_path("rxrx3-core").read_text())["checks"][METADATA_FILE]["checksum"] == blob_id


def test_another_revision_needs_update_and_is_recorded_again(env, hub):
    first, second = hub["commits"]
    fetch_source("rxrx3-core", data_root=env / "data", revision=first)
    with pytest.raises(FetchError, match=f"revision '{second}' is commit {second}, not the commit recorded in .*; pass --update"):
        fetch_source("rxrx3-core", data_root=env / "data", revision=second)
    with pytest.raises(FetchError, match=f"revision 'main' is commit {second}, not the commit recorded"):
        fetch_source("rxrx3-core", data_root=env / "data", revision="main")
    fetched = fetch_source("rxrx3-core", data_root=env / "data", revision=second, update=True)
    assert fetched.revision == second and fetched.files[METADATA_FILE] == sha256_file(hub["changed"] / METADATA_FILE)


def test_unknown_revision_and_offline_misses_are_one_line(env, hub, monkeypatch):
    with pytest.raises(FetchError, match=r"recursionpharma/rxrx3-core@v9.9: revision not found on the Hub.*check --revision") as err:
        fetch_source("rxrx3-core", data_root=env / "data", revision="v9.9")
    assert "\n" not in str(err.value)
    monkeypatch.setenv("HF_ENDPOINT", DEAD_ENDPOINT)
    with pytest.raises(FetchError, match=r"offline, and nothing of recursionpharma/rxrx3-core was fetched before .*run once with network: pheno-bench sources fetch rxrx3-core") as err:
        fetch_source("rxrx3-core", data_root=env / "data", offline=True)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("commit", "name", "label"), [(0, EMBEDDINGS_FILE, "LFS sha256"), (1, METADATA_FILE, "git blob id")])
def test_a_byte_flipped_in_transit_is_refused_on_the_first_fetch(env, hub, monkeypatch, commit, name, label):
    """No lock, nothing fetched before: the proxy flips one bit of one byte of the file; the Hub's checksum refuses it."""
    proxy, sha = hub["proxy"], hub["commits"][commit]
    monkeypatch.setenv("HF_ENDPOINT", proxy.url)
    proxy.flip[name] = 100
    with pytest.raises(FetchError, match=rf"{name} as received has .* not the Hub's {label} .*corrupted or altered on the way\); the download was discarded; run") as err:
        fetch_source("rxrx3-core", data_root=env / "data", revision=sha)
    assert "\n" not in str(err.value)
    assert proxy.flipped and name in proxy.flipped[0]  # the proxy really altered the transfer
    assert not lock_path("rxrx3-core").exists()  # nothing recorded
    assert not (env / "home" / "sources" / "rxrx3-core" / sha / name).exists() and not leftovers(env)  # nothing kept


def test_force_never_destroys_a_good_copy_and_replaces_it_only_after_the_check(env, hub, monkeypatch):
    first = hub["commits"][0]
    fetch_source("rxrx3-core", data_root=env / "data", revision=first)
    before = kept(env, first)
    # the Hub is down: one line, the kept copies byte-identical
    down = cli("fetch", "rxrx3-core", "--data-root", str(env / "data"), "--force", HF_ENDPOINT=DEAD_ENDPOINT)
    assert down.returncode == 2 and "Traceback" not in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1 and "cannot reach the Hub" in down.stderr and "is unchanged" in down.stderr, down.stderr
    assert kept(env, first) == before
    # a flipped byte in transit: refused, the kept copy untouched (same bytes, same file)
    monkeypatch.setenv("HF_ENDPOINT", hub["proxy"].url)
    hub["proxy"].flip[EMBEDDINGS_FILE] = 4096
    with pytest.raises(FetchError, match=rf"{EMBEDDINGS_FILE} as received .*the download was discarded and the copy at .* is unchanged"):
        fetch_source("rxrx3-core", data_root=env / "data", force=True)
    assert kept(env, first) == before and not leftovers(env)
    # a good --force: at the moment of the check the old copy is still in place; afterwards the new one replaced it
    hub["proxy"].clear()
    seen = []
    check = fetch_hub._mismatch

    def spy(got, expected, pinned):
        seen.append({name: ino for name, (_, ino) in kept(env, first).items()})
        return check(got, expected, pinned)

    monkeypatch.setattr(fetch_hub, "_mismatch", spy)
    fetch_source("rxrx3-core", data_root=env / "data", force=True)
    after = kept(env, first)
    assert len(seen) == 2 and all(s == {n: ino for n, (_, ino) in before.items()} for s in seen)  # both checked before anything moved
    assert {n: sha for n, (sha, _) in after.items()} == {n: sha for n, (sha, _) in before.items()}
    assert all(after[n][1] != before[n][1] for n in FILES)  # new files moved into place


@pytest.mark.parametrize("failure", ["refused", "timeout", "server error", "not found", "cut transfer"])
def test_every_network_failure_is_one_line_and_keeps_the_copy(env, hub, monkeypatch, failure):
    first, proxy = hub["commits"][0], hub["proxy"]
    fetch_source("rxrx3-core", data_root=env / "data", revision=first)
    before = kept(env, first)
    monkeypatch.setenv("HF_ENDPOINT", proxy.url)
    if failure == "refused":
        monkeypatch.setenv("HF_ENDPOINT", DEAD_ENDPOINT)
        expected = "cannot reach the Hub"
    elif failure == "timeout":
        monkeypatch.setattr(fetch_hub, "TIMEOUT_S", 1.0)
        proxy.stall["/api/"] = 3.0
        expected = "did not answer within 1 s"
    elif failure == "server error":
        proxy.status["/api/"] = 503
        expected = "answered HTTP 503"
    elif failure == "not found":
        proxy.status[f"/resolve/{first}/{EMBEDDINGS_FILE}"] = 404
        expected = f"{EMBEDDINGS_FILE}: not found on the Hub .*HTTP 404"
    else:
        proxy.cut.add(EMBEDDINGS_FILE)
        expected = f"{EMBEDDINGS_FILE}: the transfer from the Hub .* was cut"
    with pytest.raises(FetchError, match=expected) as err:
        fetch_source("rxrx3-core", data_root=env / "data", force=True)
    assert "\n" not in str(err.value) and "unchanged" in str(err.value)
    assert kept(env, first) == before and not leftovers(env)


def test_a_file_altered_on_disk_is_refused_and_force_replaces_it(env, hub):
    fetched = fetch_source("rxrx3-core", data_root=env / "data", revision=hub["commits"][0])
    path = fetched.folder / EMBEDDINGS_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a half file where a whole one was
    with pytest.raises(FetchError, match=rf"{EMBEDDINGS_FILE}: has sha256 .* not the Hub's LFS sha256 .*altered or truncated on disk.*--force") as err:
        fetch_source("rxrx3-core", data_root=env / "data")
    assert "\n" not in str(err.value)
    with pytest.raises(FetchError, match=rf"{EMBEDDINGS_FILE}: sha256 .* does not match the sha256 recorded in .* when it was verified, .*--force"):
        fetch_source("rxrx3-core", data_root=env / "data", offline=True)
    assert fetch_source("rxrx3-core", data_root=env / "data", force=True).files[EMBEDDINGS_FILE] == sha256_file(hub["release"] / EMBEDDINGS_FILE)


def test_a_local_copy_is_checked_against_the_recorded_sha256s(env, hub):
    fetch_source("rxrx3-core", data_root=env / "data", revision=hub["commits"][0])
    local = env / "data" / "rxrx3-core"
    shutil.copytree(hub["release"], local)
    assert fetch_source("rxrx3-core", data_root=env / "data").folder == local
    (local / METADATA_FILE).write_text((local / METADATA_FILE).read_text().replace("HUVEC", "HUVEK", 1))
    with pytest.raises(PhenoBenchError, match=rf"{METADATA_FILE}: sha256 .* does not match the sha256 recorded in .* when it was first fetched, .*replace the local copy"):
        fetch_source("rxrx3-core", data_root=env / "data")


def test_cli_fetch_says_what_each_file_was_verified_against(env, hub):
    done = cli("fetch", "rxrx3-core", "--data-root", str(env / "data"), "--revision", "main")
    assert done.returncode == 0, done.stderr
    assert f"revision {hub['commits'][1]}" in done.stdout and "2 files checked" in done.stdout
    assert "verified against: Hub LFS sha256 (1), Hub git blob id (1)" in done.stdout
    missing = cli("fetch", "rxrx3-core", "--data-root", str(env / "data"), "--offline", PHENO_BENCH_HOME=str(env / "other-home"), HF_ENDPOINT=DEAD_ENDPOINT)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().startswith("error:") and "run once with network" in missing.stderr


def test_unreachable_hub_is_one_line_within_seconds_then_the_recorded_commit_is_reused(env, hub):
    """No retry chatter: one request to a dead Hub, one line; after a fetch, the verified copies serve a dead Hub."""
    start = time.monotonic()
    dead = cli("fetch", "rxrx3-core", "--data-root", str(env / "data"), HF_ENDPOINT=DEAD_ENDPOINT)
    elapsed = time.monotonic() - start
    assert dead.returncode == 2 and "Traceback" not in dead.stderr and "Retry" not in dead.stderr
    assert len(dead.stderr.strip().splitlines()) == 1 and "cannot reach the Hub" in dead.stderr, dead.stderr
    assert "nothing of recursionpharma/rxrx3-core was fetched before" in dead.stderr
    assert elapsed < 15, elapsed  # python start-up included; the Hub client alone retries for ~25 s
    assert cli("fetch", "rxrx3-core", "--data-root", str(env / "data"), "--revision", hub["commits"][0]).returncode == 0
    reused = cli("fetch", "rxrx3-core", "--data-root", str(env / "data"), HF_ENDPOINT=DEAD_ENDPOINT)
    assert reused.returncode == 0, reused.stderr
    assert f"revision {hub['commits'][0]}" in reused.stdout
    assert "the Hub cannot be reached" in reused.stderr and f"using the copies of commit {hub['commits'][0]}" in reused.stderr


def test_pin_records_a_verified_fetch_and_the_next_fetch_holds_to_it(env, hub, monkeypatch, tmp_path):
    """The maintainer's command writes the pins module; with those pins a fresh user gets the pinned commit, not main."""
    first, second = hub["commits"]
    module = tmp_path / "rxrx3_core_pins.py"
    shutil.copy(rxrx3_core_pins.__file__, module)
    done = cli("pin", "rxrx3-core", "--revision", first, "--no-build", "--module", str(module), "--data-root", str(env / "data"))
    assert done.returncode == 0, done.stderr
    assert f"pinned rxrx3-core: 2 files at revision {first}" in done.stdout
    namespace: dict = {}
    exec(module.read_text(), namespace)  # the module as the next release would import it
    release = namespace["RELEASE"]
    assert release["revision"] == first and release["fingerprints"] == {}
    assert {n: f["sha256"] for n, f in release["files"].items()} == {n: sha256_file(hub["release"] / n) for n in FILES}
    assert {f["publisher"] for f in release["files"].values()} == {HUB_LFS}
    # a fresh user (no lock) with these pins: the pinned commit, although main has moved on
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "fresh"))
    monkeypatch.setattr(rxrx3_core_pins, "RELEASE", release)
    with pytest.raises(FetchError, match=f"revision 'main' is commit {second}, not the pinned release commit {first}"):
        fetch_source("rxrx3-core", data_root=env / "data", revision="main")
    assert fetch_source("rxrx3-core", data_root=env / "data").revision == first
    # a pin the Hub no longer publishes (the release changed under its commit) is refused
    wrong = {**release, "files": {**release["files"], EMBEDDINGS_FILE: {**release["files"][EMBEDDINGS_FILE], "sha256": "0" * 64}}}
    monkeypatch.setattr(rxrx3_core_pins, "RELEASE", wrong)
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "fresh2"))
    with pytest.raises(FetchError, match=rf"the Hub now publishes LFS sha256 .* for {EMBEDDINGS_FILE}, not the pinned sha256 0000"):
        fetch_source("rxrx3-core", data_root=env / "data")
