"""rxrx3-core-v1 built end to end through the real fetching code: olah on loopback serves a git repo laid out
exactly as ``recursionpharma/rxrx3-core``; ``build_benchmark`` fetches (pinned commit, sha256 lock),
ingests, curates, labels activity and writes the 5-fold set. Tampered raw files stop the build."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("olah")
sys.path.insert(0, str(Path(__file__).parent))

from olah_server import Olah, commit_folder  # noqa: E402
from rxrx3_fixture import CXSMILES, EMBEDDINGS_FILE, METADATA_FILE, load_smiles, write_rxrx3  # noqa: E402

from pheno_bench.errors import PhenoBenchError  # noqa: E402
from pheno_bench.io import sha256_file  # noqa: E402
from pheno_bench.paths import data_root  # noqa: E402

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed (olah serves git repositories)"),
    pytest.mark.skipif(not (data_root() / "molecules-moshkov2023").is_dir(), reason="needs ../shared/data/molecules-moshkov2023 for real SMILES"),
    pytest.mark.slow,
]
REPO = "recursionpharma/rxrx3-core"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """rxrx3-core-v1 from an empty data root: fetched from olah, built once for the module."""
    from pheno_bench.split import build_benchmark

    base = tmp_path_factory.mktemp("rxrx3-v1")
    release = base / "release"
    # CRISPR_control wells outnumber EMPTY_control 2:1 on every compound plate, as in the published metadata
    fixture = write_rxrx3(release, load_smiles(data_root(), 40), experiments={"compound-001": (3, 32), "compound-002": (2, 8)}, controls_per_plate=(36, 72))
    sha = commit_folder(base / "mirrors" / "datasets" / REPO, release, "release", lfs=("*.parquet", "*.csv"))
    olah = Olah(base / "mirrors", base / "olah")
    env = {"PHENO_BENCH_HOME": str(base / "home"), "HF_HUB_CACHE": str(base / "hf"), "HF_ENDPOINT": olah.url}
    saved = {k: __import__("os").environ.get(k) for k in env}
    import os

    os.environ.update(env)
    os.environ.pop("HF_HUB_OFFLINE", None)
    (base / "data").mkdir()
    class Log:
        lines: list[str] = []

        def print(self, line, **_):
            self.lines.append(str(line))

    log = Log()
    try:
        root = build_benchmark("rxrx3-core-v1", out=base / "out" / "rxrx3-core-v1", data_root=base / "data", progress=log)
        yield {"root": root, "fixture": fixture, "release": release, "sha": sha, "base": base, "log": log.lines}
    finally:
        olah.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _fold_manifests(root):
    from pheno_bench.folds import fold_root, read_fold_set
    from pheno_bench.manifest import read_manifest

    fold_set = read_fold_set(root)
    return fold_set, [read_manifest(fold_root(root, e.fold)) for e in fold_set.folds]


def test_a_five_fold_set_whose_sources_are_the_fetched_files(built):
    fold_set, manifests = _fold_manifests(built["root"])
    assert fold_set.name == "rxrx3-core-v1" and fold_set.k == 5
    assert fold_set.primary_metric == "unseen_molecules/per_query/active/macro/top_5pct"
    expected = {name: sha256_file(built["release"] / name) for name in (METADATA_FILE, EMBEDDINGS_FILE)}
    for m in manifests:
        assert [s.name for s in m.sources] == ["rxrx3-core", "rxrx3-core-compound-002"]
        assert all(s.files == expected for s in m.sources)
        assert "Non-Commercial" in m.sources[0].licence
        assert m.feature_names == [f"feature_{i}" for i in range(384)]
        # randomised layouts: the address-matched null leaves (nearly) every replicated pair testable
        assert all(s.testable_pairs >= 0.9 * s.pairs for s in m.splits if s.pairs)
        assert any(s.active_pairs > 0 for s in m.splits)


def test_exclusions_are_counted_on_purpose(built):
    _, manifests = _fold_manifests(built["root"])
    excluded = manifests[0].excluded
    reasons = " | ".join(e["reason"] for e in excluded)
    crispr = [e for e in excluded if e["reason"].startswith("CRISPR gene-knockout experiment well") and e["source"] == "rxrx3-core"]
    assert crispr and crispr[0]["wells"] == built["fixture"].n_crispr_wells
    # the publisher's choices: negative controls EMPTY_control only; repeated well_id rows averaged (counted)
    crispr_controls = {e["source"]: e["wells"] for e in excluded if e["reason"].startswith("CRISPR_control well of a compound experiment")}
    assert crispr_controls == {"rxrx3-core": 3 * 72, "rxrx3-core-compound-002": 2 * 72}
    averaged = [e for e in excluded if e["reason"].startswith("well_id with more than one row")]
    assert [(e["source"], e["wells"], e["merged_rows"]) for e in averaged] == [("rxrx3-core", 2, 5)]
    assert sorted(w.split("rxrx3-core:")[1] for w in averaged[0]["id"].split(", ")) == sorted(built["fixture"].quirks["repeated_well_ids"])
    assert "byte-identical to another well's of the same treatment" in reasons
    assert "byte-identical to a well of another treatment" in reasons
    assert "compound well without a positive concentration" in reasons
    assert f"no row in {EMBEDDINGS_FILE}" in reasons


def test_controls_molecules_and_doses(built):
    from pheno_bench.folds import fold_root
    from rdkit import Chem

    root = fold_root(built["root"], 0)
    train = pd.read_parquet(root / "wells" / "train.parquet", columns=["well_id", "is_control", "compound_id", "inchikey", "dose_level", "source"])
    controls = train[train["is_control"]]
    assert set(controls["compound_id"]) == {"EMPTY_control"}
    assert controls["inchikey"].isna().all()
    treated = train[~train["is_control"]]
    assert set(treated["dose_level"]) <= {"0.0025", "0.01", "0.025", "0.1", "0.25", "1", "2.5", "10"}
    # the CXSMILES molecule: identity = RDKit's reading of the published CXSMILES, extension included
    key = Chem.MolToInchiKey(Chem.MolFromSmiles(CXSMILES))
    all_ids = pd.concat([pd.read_parquet(root / "wells" / f"{s}.parquet", columns=["inchikey"]) for s in ("train", "valid")])
    answers = pd.concat([pd.read_parquet(root / "answers" / f"{s}.parquet", columns=["inchikey", "well_id"]) for s in ("unseen_images", "unseen_molecules", "unseen_dataset")])
    assert key in set(all_ids["inchikey"]) | set(answers["inchikey"])
    # the 0.026 µM well snapped to 0.025, wherever the split put it
    odd = "rxrx3-core:" + built["fixture"].quirks["odd_concentration"]
    every = pd.concat([
        pd.read_parquet(root / "wells" / f"{s}.parquet", columns=["well_id", "dose_level"]) for s in ("train", "valid")
    ] + [pd.read_parquet(root / "answers" / f"{s}.parquet", columns=["well_id", "dose_level"]) for s in ("unseen_images", "unseen_molecules", "unseen_dataset")])
    assert every.loc[every["well_id"] == odd, "dose_level"].tolist() == ["0.025"]


def test_unseen_dataset_is_the_held_out_experiment_and_molecules_rotate(built):
    from pheno_bench.folds import fold_root

    unseen = {}
    for k in range(5):
        root = fold_root(built["root"], k)
        dataset = pd.read_parquet(root / "answers" / "unseen_dataset.parquet")
        assert dataset["well_id"].str.startswith("rxrx3-core:compound-002_").all() and len(dataset) > 0
        molecules = pd.read_parquet(root / "answers" / "unseen_molecules.parquet")
        assert not molecules["well_id"].str.startswith("rxrx3-core:compound-002_").any()
        unseen[k] = set(molecules["inchikey"])
        train = pd.read_parquet(root / "wells" / "train.parquet", columns=["inchikey"])
        assert not unseen[k] & set(train["inchikey"].dropna())
    every = [m for s in unseen.values() for m in s]
    assert len(every) == len(set(every))  # each molecule unseen in at most one fold


def test_the_baselines_run_unchanged_on_the_openphenom_embeddings(built, tmp_path):
    """Guideline 1, phenomic side: on rxrx3-core-v1 the frozen pre-trained phenomic encoder is OpenPhenom (its
    384-d well embeddings are the benchmark features); the reference baselines and probes train on them as they are."""
    pytest.importorskip("torch")
    from pheno_bench.baselines.featurise import get_featuriser
    from pheno_bench.baselines.probes import run_probe
    from pheno_bench.baselines.run import run_baseline

    fold_set, manifests = _fold_manifests(built["root"])
    assert manifests[0].feature_names == [f"feature_{i}" for i in range(384)]
    trained = run_baseline(
        "molphenix", benchmark=built["root"], folds=[0], seeds=[0], out=tmp_path / "molphenix-rx", results_dir=tmp_path / "r",
        featuriser=get_featuriser("morgan"), progress=False, log=lambda _: None, samples_seen=64 * 40, batch_size=64,
    )
    probe = run_probe("ridge", benchmark=built["root"], folds=[0], out=tmp_path / "probe-ridge-rx", results_dir=tmp_path / "p", log=lambda _: None)
    for results in (*trained.values(), *probe.values()):
        assert results.benchmark.name == "rxrx3-core-v1"
        assert all(results.splits[s].evaluated for s in ("unseen_images", "unseen_molecules", "unseen_dataset"))


def test_a_tampered_cached_file_stops_the_build_with_one_line(built, tmp_path, monkeypatch):
    import os

    from pheno_bench.split import build_benchmark

    monkeypatch.setenv("PHENO_BENCH_HOME", str(built["base"] / "home"))  # the lock of the first fetch
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        blob = built["base"] / "home" / "sources" / "rxrx3-core" / built["sha"] / METADATA_FILE
        original = blob.read_bytes()
        blob.write_bytes(original.replace(b"HUVEC", b"HUVEK", 1))
        try:
            with pytest.raises(PhenoBenchError, match=rf"{METADATA_FILE}: sha256 [0-9a-f]{{16}}… does not match the sha256 recorded in .*rxrx3-core.lock.json when it was verified, ") as err:
                build_benchmark("rxrx3-core-v1", out=tmp_path / "again", data_root=built["base"] / "data")
            assert "\n" not in str(err.value)
            assert not (tmp_path / "again").exists()
        finally:
            blob.write_bytes(original)
    finally:
        os.environ.pop("HF_HUB_OFFLINE", None)


def test_the_publishers_choices_are_in_the_build_log_and_splits_info(built):
    """Controls and repeated well_ids, as the publisher handles them, visible where a user looks: the build log and `splits info`."""
    import subprocess

    log = "\n".join(built["log"])
    assert "ingested rxrx3-core: " in log and "negative controls EMPTY_control: 108 wells (216 CRISPR_control wells left out)" in log
    assert "repeated well_ids averaged: 2 wells (5 rows)" in log
    done = subprocess.run([sys.executable, "-c", "from pheno_bench.cli import main; main()", "splits", "info", str(built["root"])],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})  # tables follow $COLUMNS (80 under pytest)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert any("controls=['EMPTY_control']" in r and "exclude_experiments=['compound-002']" in r for r in rows), done.stdout
    assert any("repeated_well_ids=average" in r for r in rows)
    assert any(re.search(r"│\s+216 │ CRISPR_control well of a compound experiment: not a negative control here \(negative controls: EMPTY_control only", r) for r in rows)
    assert any(re.search(r"│\s+2 │ well_id with more than one row in OpenPhenom_rxrx3_core_embeddings.parquet: its 5 rows averaged", r) for r in rows)


def test_pin_records_the_fingerprint_of_a_build_from_the_fetched_files(built, tmp_path):
    from pheno_bench.folds import read_fold_set
    from pheno_bench.pins import pin_source
    from pheno_bench.sources import rxrx3_core_pins

    module = tmp_path / "rxrx3_core_pins.py"
    module.write_text(Path(rxrx3_core_pins.__file__).read_text())
    release = pin_source("rxrx3-core", data_root=built["base"] / "data", benchmarks=[built["root"]], module_path=module, log=lambda _: None)
    assert release["revision"] == built["sha"]
    assert release["fingerprints"] == {"rxrx3-core-v1": read_fold_set(built["root"]).fingerprint}
    assert f"'rxrx3-core-v1': '{read_fold_set(built['root']).fingerprint}'" in module.read_text()


# --- lincs-cp-v1 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lincs_built(tmp_path_factory):
    """lincs-cp-v1 fetched from a loopback HTTP mirror (the real SQ00015054 among its plates) and built once."""
    import os

    from lincs_fixture import FileServer, write_lincs

    from pheno_bench.sources import lincs_cp
    from pheno_bench.split import build_benchmark

    if not (data_root() / "cell-injury-dahlin2023").is_dir():
        pytest.skip("needs ../shared/data/cell-injury-dahlin2023 (the unseen dataset)")
    base = tmp_path_factory.mktemp("lincs-v1")
    mirror = base / "mirror"
    write_lincs(mirror, data_root())
    server = FileServer(mirror)
    saved = {k: os.environ.get(k) for k in ("PHENO_BENCH_HOME", lincs_cp.MIRROR_ENV)}
    saved_pins = lincs_cp.PINNED
    os.environ.update({"PHENO_BENCH_HOME": str(base / "home"), lincs_cp.MIRROR_ENV: server.url})
    # the fixture's plate maps stand in for the publisher's: accept their sha256s as the pins
    lincs_cp.PINNED = {**{f"platemaps/{p.relative_to(mirror / 'github')}": sha256_file(p) for p in (mirror / "github").rglob("*") if p.is_file()},
                       lincs_cp.SAMPLES_FILE: lincs_cp.SAMPLES_SHA256}
    try:
        root = build_benchmark("lincs-cp-v1", out=base / "out" / "lincs-cp-v1")
        yield {"root": root, "base": base, "server": server}
    finally:
        lincs_cp.PINNED = saved_pins
        server.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def test_lincs_cp_v1_is_built_from_the_fetched_plates(lincs_built):
    from lincs_fixture import PLATES, REAL_PLATE

    fold_set, manifests = _fold_manifests(lincs_built["root"])
    assert fold_set.name == "lincs-cp-v1" and fold_set.k == 5
    m = manifests[0]
    assert [s.name for s in m.sources] == ["lincs-cp", "cell-injury"]
    lincs_files = m.sources[0].files
    assert len([f for f in lincs_files if f.startswith("profiles/")]) == len(PLATES)
    real = data_root() / "lincs-pilot1-SQ00015054" / f"{REAL_PLATE}_normalized_feature_select.csv.gz"
    assert lincs_files[f"profiles/{REAL_PLATE}/{REAL_PLATE}_normalized_feature_select.csv.gz"] == sha256_file(real)
    assert 10 <= len(m.feature_names) < 181  # features on every LINCS plate and in cell-injury
    from pheno_bench.folds import fold_root

    dataset = pd.read_parquet(fold_root(lincs_built["root"], 0) / "answers" / "unseen_dataset.parquet")
    assert dataset["well_id"].str.startswith("cell-injury:").all()
    unseen = pd.read_parquet(fold_root(lincs_built["root"], 0) / "answers" / "unseen_molecules.parquet")
    assert unseen["well_id"].str.startswith("lincs-cp:").all()
    assert any("not selected on every plate" in e["reason"] for e in m.excluded)
