"""Hub round trip, end to end on loopback: olah serves benchmarks committed to local git repos.

publish -> HubWriter (the Hub's write API, committing into olah's mirror folder) -> olah ->
download: pinned revision, offline reuse, tampered files refused, unknown repo -> one error line,
and ``datasets.load_dataset`` through the card's configs.
"""

from __future__ import annotations

import os
import shutil
import time
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
from pheno_bench.hub import CONFIGS, dataset_card, download, fold_configs, publish, register  # noqa: E402
from pheno_bench.manifest import (  # noqa: E402
    SourceInfo,
    answers_path,
    candidates_path,
    queries_path,
    read_manifest,
    verify,
    wells_path,
)
from pheno_bench.paths import benchmark_home  # noqa: E402
from pheno_bench.registry import locate  # noqa: E402
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


@pytest.fixture(scope="module")
def fold_set(benches, tmp_path_factory) -> Path:
    """A two-fold fold set (B's layout) made of the two synthetic builds, each re-labelled as its fold."""
    from pheno_bench.folds import FoldEntry, FoldSet, write_fold_set
    from pheno_bench.manifest import write_manifest

    root = tmp_path_factory.mktemp("folds") / "bench-folds"
    entries = []
    for k, bench in enumerate(benches):
        shutil.copytree(bench, root / f"fold-{k}")
        manifest = read_manifest(bench).model_copy(update={"fold": k})
        write_manifest(manifest, root / f"fold-{k}")
        entries.append(FoldEntry(fold=k, path=f"fold-{k}", fingerprint=read_manifest(root / f"fold-{k}").fingerprint))
    spec = read_manifest(benches[0]).spec
    write_fold_set(FoldSet(name="synthetic-v1", version="1.0.0", seed=0, spec=spec, folds=entries), root)
    (root / "README.md").write_text("# the fold set's own card\n\nComposition pooled over folds.\n")
    return root


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
    assert 'load_dataset("pheno/bench", "queries", split="unseen_molecules", revision="<commit sha>")' in card.text
    from pheno_bench.evaluate import primary_metric_of

    primary = primary_metric_of(manifest)
    assert f"(`{primary}`)" in card.text and "leaderboard ranks by this one number" in card.text
    split = primary.split("/")[0]
    n = manifest.stats(split).candidates
    pct = int(primary.rsplit("_", 1)[-1].removesuffix("pct"))  # the primary metric is a top-K% metric
    assert f"(k = {-(-pct * n // 100)} of {n})" in card.text  # k = ceil(K% of the candidates)
    pinned = dataset_card(manifest, repo_id="pheno/bench", revision="a" * 40)
    assert pinned.count('revision="' + "a" * 40 + '"') == 3 and "<commit sha>" not in pinned


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
    assert "published copy" in str(err.value) and "fails its own manifest" in str(err.value)
    assert "--force" not in str(err.value)  # fetching again cannot fix the publisher's copy
    assert (home.resolve() if home.exists() else None) == before  # not registered


def test_tampered_cache_is_refused_and_force_fetches_again(hub, cache):
    snapshot = download(f"{ORG}/bench", cache_dir=cache, endpoint=hub["url"])
    blob = (snapshot / wells_path("train")).resolve()  # the snapshot file links to a cached blob
    blob.write_bytes(blob.read_bytes()[::-1])
    with pytest.raises(PhenoBenchError, match=r"wells/train\.parquet: sha256 does not match.*cached copy.*--force"):
        download(f"{ORG}/bench", cache_dir=cache, offline=True)
    with pytest.raises(PhenoBenchError, match=r"cached copy.*--force"):  # online, a cached copy is not fetched again
        download(f"{ORG}/bench", cache_dir=cache, endpoint=hub["url"])
    assert verify(download(f"{ORG}/bench", cache_dir=cache, force=True, endpoint=hub["url"]))


@pytest.mark.parametrize("args, needle", [
    ([f"{ORG}/nope"], "pheno/nope@main"),
    ([f"{ORG}/bench", "--revision", "no-such-branch"], "pheno/bench@no-such-branch"),
    ([f"{ORG}/bench", "--revision", "b" * 40], "pheno/bench@" + "b" * 40),
    ([f"{ORG}/nope", "--revision", "b" * 40], "pheno/nope@" + "b" * 40),
])
def test_unknown_repo_or_revision_is_one_error_line(hub, cache, args, needle):
    result = _cli("splits", "download", *args, "--cache-dir", str(cache), endpoint=hub["url"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "repository or revision not found" in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "Error:" not in lines[0] and "EntryNotFound" not in lines[0]


@pytest.mark.parametrize("revision", [None, "a" * 40])
def test_unreachable_hub_without_cache_is_one_line_within_seconds(cache, revision):
    """No retry chatter: one request, one line (a pinned sha used to print 11 retry lines over 24 s)."""
    args = ["--revision", revision] if revision else []
    start = time.monotonic()
    result = _cli("splits", "download", f"{ORG}/bench", *args, "--cache-dir", str(cache), endpoint=DEAD_ENDPOINT)
    elapsed = time.monotonic() - start
    assert result.returncode == 2
    lines = (result.stderr + result.stdout).strip().splitlines()
    assert len(lines) == 1, lines
    assert "cannot reach the Hub" in lines[0] and "not in the local cache" in lines[0]
    assert f"pheno/bench@{revision or 'main'}" in lines[0]
    assert elapsed < 8, f"took {elapsed:.1f} s"  # includes the interpreter start-up


def test_register_records_every_build_and_the_last_is_current(benches):
    from pheno_bench.registry import entries, find

    first, second = (read_manifest(b) for b in benches)
    register(benches[0])
    register(benches[1])
    assert locate(first.name).resolve() == benches[1].resolve()  # the last one registered
    # a submission names its fingerprint: the matching build is found although another is current
    assert locate(first.name, fingerprint=first.fingerprint).resolve() == benches[0].resolve()
    assert find(first.name, fingerprint="0" * 64).resolve() == benches[1].resolve()  # unknown: the current one
    register(benches[0])  # registering again moves it last, without a duplicate entry
    assert locate(first.name).resolve() == benches[0].resolve()
    assert len([e for e in entries() if e["name"] == first.name]) == 2


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
    # main's card pins the data commit (the revision to cite) in every snippet
    latest = download(f"{ORG}/published", cache_dir=cache, endpoint=hub["url"])
    assert (latest / "README.md").read_text() == dataset_card(manifest, repo_id=f"{ORG}/published", revision=sha)
    assert f'revision="{sha}"' in (latest / "README.md").read_text()
    # a second build on a branch leaves main as it was
    branch_sha = publish(v2, f"{ORG}/published", revision="v2", endpoint=writer.url)
    assert read_manifest(download(f"{ORG}/published", revision="v2", cache_dir=cache, endpoint=hub["url"])).fingerprint \
        == read_manifest(v2).fingerprint
    main_head = download(f"{ORG}/published", cache_dir=cache, endpoint=hub["url"]).name
    assert main_head == latest.name != branch_sha


def test_publish_cli_prints_the_commit(writer, benches):
    result = _cli("splits", "publish", str(benches[0]), "--repo", f"{ORG}/by-cli", endpoint=writer.url)
    assert result.returncode == 0, result.stderr
    data = subprocess.run(["git", "-C", str(writer.repo(f"{ORG}/by-cli")), "rev-parse", "main~1"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert f"revision to cite: {ORG}/by-cli@{data}" in result.stdout
    assert f"pheno-bench splits download {ORG}/by-cli --revision {data}" in result.stdout


def test_publish_verifies_before_sending_anything(writer, benches, tmp_path):
    folder = tmp_path / "bench"
    shutil.copytree(benches[0], folder)
    (folder / answers_path("unseen_dataset")).write_bytes(b"not the answers")
    result = _cli("splits", "publish", str(folder), "--repo", f"{ORG}/never", endpoint=writer.url)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "answers/unseen_dataset.parquet: sha256 does not match" in result.stderr
    assert writer.requests == []


def test_publish_refuses_a_benchmark_whose_source_forbids_rehosting(writer, benches, tmp_path):
    """RxRx3-core's licence: only the split definition may be shared, never its features."""
    import json

    folder = tmp_path / "restricted"
    shutil.copytree(benches[0], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sources"][0]["licence"] = "Recursion Non-Commercial EULA; features never redistributed by pheno-bench"
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    result = _cli("splits", "publish", str(folder), "--repo", f"{ORG}/restricted", endpoint=writer.url)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "forbids re-hosting" in result.stderr and "Traceback" not in result.stderr
    assert writer.requests == []


def test_publish_to_an_unreachable_hub_is_one_clear_error(benches):
    with pytest.raises(PhenoBenchError, match=r"pheno/x@main on http://127\.0\.0\.1:9: cannot reach the Hub"):
        publish(benches[0], f"{ORG}/x", endpoint=DEAD_ENDPOINT)


# --- fold sets: one repository, fold-<k>/ folders, configs per fold ------------------------------


def test_fold_set_publish_download_locate_and_load_dataset(hub, writer, fold_set, cache, tmp_path):
    from pheno_bench.folds import read_fold_set

    folds = read_fold_set(fold_set)
    sha = publish(fold_set, f"{ORG}/folds", endpoint=writer.url)
    got = download(f"{ORG}/folds", revision=sha, cache_dir=cache, endpoint=hub["url"])
    assert read_fold_set(got).fingerprint == folds.fingerprint
    for entry in folds.folds:
        assert verify(got / entry.path).fingerprint == entry.fingerprint
    # found by name, per fold, and as NAME/fold-k
    assert locate("synthetic-v1", fold=1).resolve() == (got / "fold-1").resolve()
    assert locate("synthetic-v1/fold-0").resolve() == (got / "fold-0").resolve()
    assert locate("synthetic-v1", fold=0, fingerprint=folds.folds[0].fingerprint).resolve() == (got / "fold-0").resolve()
    card = DatasetCard((download(f"{ORG}/folds", cache_dir=cache, endpoint=hub["url"]) / "README.md").read_text())
    names = [c["config_name"] for c in card.data.configs]
    assert names == list(fold_configs(2)) and "fold-1-queries" in names
    assert f'"fold-0-wells", split="train", revision="{sha}"' in card.text
    assert "Composition pooled over folds." in card.text  # the fold set's own card follows
    rows = datasets.load_dataset(str(got), "fold-1-queries", split="unseen_molecules", cache_dir=str(tmp_path / "ds"))
    assert rows.num_rows == pq.read_table(fold_set / "fold-1" / queries_path("unseen_molecules")).num_rows


def test_fold_set_with_a_tampered_fold_is_not_published(writer, fold_set, tmp_path):
    folder = tmp_path / "folds"
    shutil.copytree(fold_set, folder)
    (folder / "fold-1" / wells_path("valid")).write_bytes(b"x")
    with pytest.raises(PhenoBenchError, match=r"fold-1/wells/valid\.parquet: sha256 does not match"):
        publish(folder, f"{ORG}/never-folds", endpoint=writer.url)
    assert writer.requests == []


# --- the pull-request check fetches the benchmark it needs ------------------------------------


def test_leaderboard_check_downloads_the_benchmark(hub, benches, tmp_path, monkeypatch):
    """`leaderboard check --download` (what the workflow runs) on a machine without the benchmark."""
    import numpy as np
    import yaml

    import pheno_bench
    from pheno_bench.leaderboard.submit import init_entry

    commit_folder(hub["mirrors"] / "datasets" / ORG / "for-check", benches[0], "v1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    meta = init_entry("const", submissions=tmp_path / "submissions", benchmark="synthetic-v1", seeds=[0])
    data = yaml.safe_load(meta.read_text())
    data.update(model="constant", authors=["t"], training_data="none", test_molecules_seen=False, licence="CC0-1.0")
    meta.write_text(yaml.safe_dump(data))
    bench = pheno_bench.load_benchmark(benches[0])
    bench.write_submission(meta.parent / "seed-0.parquet", model="constant",
                           queries={s: np.ones((len(t.query_ids), 2)) for s, t in bench.test.items()},
                           candidates={s: np.ones((len(t.candidates), 2)) for s, t in bench.test.items()})
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "empty-home"))  # this machine has no benchmark
    result = _cli("leaderboard", "check", str(meta.parent), endpoint=hub["url"])
    assert result.returncode == 2 and "not built or downloaded yet" in result.stderr
    result = _cli("leaderboard", "check", str(meta.parent), "--download", "--repo", f"{ORG}/for-check", endpoint=hub["url"])
    assert result.returncode == 0, result.stderr
    assert f"const: valid for synthetic-v1 (fingerprint {bench.fingerprint[:12]})" in result.stdout
