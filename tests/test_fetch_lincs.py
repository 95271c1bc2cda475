"""LINCS Cell Painting batch 1 through pooch against a real HTTP server on loopback that answers as S3 does
(size, MD5 ETag): pinned plate maps, profiles checked against the ETag on their first fetch (first use, with a
warning, where it is not an MD5), sha256 lock, offline reuse, interrupted and tampered downloads, and the adapter."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lincs_fixture import PLATES, REAL_PLATE, UNPROFILED, FileServer, write_lincs  # noqa: E402

from pheno_bench.errors import PhenoBenchError  # noqa: E402
from pheno_bench.fetch import FIRST_USE, PINNED, S3_ETAG, FetchError, fetch_source, lock_path  # noqa: E402
from pheno_bench.io import sha256_file  # noqa: E402
from pheno_bench.paths import data_root  # noqa: E402
from pheno_bench.sources import lincs_cp  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (data_root() / "lincs-pilot1-SQ00015054").is_dir(), reason="needs ../shared/data/lincs-pilot1-SQ00015054 (the real plate is one of the served ones)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lincs-mirror")
    facts = write_lincs(root, data_root())
    served = FileServer(root)
    try:
        yield served, root, facts
    finally:
        served.stop()


@pytest.fixture
def env(tmp_path, monkeypatch, server):
    """A fresh home, an empty data root, the mirror URL, and the fixture's plate maps accepted as pinned
    (the real pins are checked in test_real_pins_refuse_the_fixture_plate_maps)."""
    served, root, _ = server
    for rules in (served.broken, served.flip, served.etags, served.headers):
        rules.clear()
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(lincs_cp.MIRROR_ENV, served.url)
    pins = {f"platemaps/{p.relative_to(root / 'github')}": sha256_file(p) for p in (root / "github").rglob("*") if p.is_file()}
    monkeypatch.setattr(lincs_cp, "PINNED", {**pins, lincs_cp.SAMPLES_FILE: lincs_cp.SAMPLES_SHA256})
    (tmp_path / "data").mkdir()
    return tmp_path


def test_fetches_every_profiled_plate_and_records_sha256s(env, server):
    served, root, facts = server
    fetched = fetch_source("lincs-cp", data_root=env / "data")
    assert fetched.folder == env / "home" / "sources" / "lincs-cp"
    plates = sorted(PLATES)
    assert sorted(p.name for p in (fetched.folder / "profiles").iterdir()) == plates  # not the unprofiled one
    real = fetched.folder / lincs_cp.profile_name(REAL_PLATE)
    assert real.read_bytes() == (data_root() / "lincs-pilot1-SQ00015054" / f"{REAL_PLATE}_normalized_feature_select.csv.gz").read_bytes()
    lock = json.loads(lock_path("lincs-cp").read_text())
    assert len(lock["files"]) == 2 + 2 + len(plates) and lock["files"][lincs_cp.profile_name(REAL_PLATE)] == sha256_file(real)
    # every profile checked against the server's MD5 ETag before it was kept; plate maps and samples against their pins
    assert {n: v for n, v in fetched.verified.items() if n.startswith("profiles/")} == {lincs_cp.profile_name(p): S3_ETAG for p in plates}
    assert {v for n, v in fetched.verified.items() if not n.startswith("profiles/")} == {PINNED}
    assert lock["checks"][lincs_cp.profile_name(REAL_PLATE)]["checksum"] == __import__("hashlib").md5(real.read_bytes()).hexdigest()
    assert not any(UNPROFILED in r for r in served.requests)
    # a second fetch downloads nothing; offline it touches no server at all
    before = len(served.requests)
    fetch_source("lincs-cp", data_root=env / "data")
    fetch_source("lincs-cp", data_root=env / "data", offline=True)
    assert len(served.requests) == before


def test_an_interrupted_download_leaves_nothing_and_restarts_cleanly(env, server):
    served, root, _ = server
    broken = f"/gallery/{REAL_PLATE}/{REAL_PLATE}_normalized_feature_select.csv.gz"
    served.broken.add(broken)
    with pytest.raises(FetchError, match=r"download failed .*nothing was kept, run `pheno-bench sources fetch lincs-cp` again") as err:
        fetch_source("lincs-cp", data_root=env / "data")
    assert "\n" not in str(err.value)
    folder = env / "home" / "sources" / "lincs-cp"
    assert not (folder / lincs_cp.profile_name(REAL_PLATE)).exists()
    assert not [p for p in folder.rglob("*") if p.is_file() and REAL_PLATE in p.name]  # no half file anywhere
    served.broken.clear()
    fetched = fetch_source("lincs-cp", data_root=env / "data")
    assert sha256_file(fetched.folder / lincs_cp.profile_name(REAL_PLATE)) == sha256_file(root / broken.lstrip("/"))


def test_a_tampered_file_is_refused_on_disk_and_from_the_server(env, server):
    served, root, _ = server
    fetched = fetch_source("lincs-cp", data_root=env / "data")
    plate = fetched.folder / lincs_cp.profile_name("SQ00015052")
    plate.write_bytes(plate.read_bytes()[:-10])
    with pytest.raises(FetchError, match=r"SQ00015052_normalized_feature_select.csv.gz: sha256 [0-9a-f]{16}… does not match the sha256 recorded in .*lincs-cp.lock.json when it was first fetched, [0-9a-f]{16}… .*--force"):
        fetch_source("lincs-cp", data_root=env / "data", offline=True)
    # the server now serves other bytes than those recorded: refused, the good local copy untouched
    served_file = root / "gallery" / "SQ00015053" / "SQ00015053_normalized_feature_select.csv.gz"
    original = served_file.read_bytes()
    try:
        served_file.write_bytes(original + b"\n")
        with pytest.raises(FetchError, match=r"SQ00015053_normalized_feature_select.csv.gz: the file as received does not match the sha256 recorded in .*nothing was kept and the copy at .* is unchanged"):
            fetch_source("lincs-cp", data_root=env / "data", force=True)
    finally:
        served_file.write_bytes(original)
    assert sha256_file(fetched.folder / lincs_cp.profile_name("SQ00015053")) == sha256_file(served_file)


def test_a_byte_flipped_in_transit_is_refused_by_the_etag_on_the_first_fetch(env, server):
    """No lock yet, no pin for the profile: the server's MD5 ETag catches one flipped bit; nothing is kept or recorded."""
    served, root, _ = server
    name = lincs_cp.profile_name("SQ00015052")
    served.flip.add("/gallery/" + name.removeprefix("profiles/"))
    with pytest.raises(FetchError, match=r"SQ00015052_normalized_feature_select.csv.gz: the file as received has MD5 .* the server's ETag says .*corrupted or altered on the way\); nothing was kept") as err:
        fetch_source("lincs-cp", data_root=env / "data")
    assert "\n" not in str(err.value)
    folder = env / "home" / "sources" / "lincs-cp"
    assert not [p for p in folder.rglob("*") if p.is_file() and "SQ00015052" in p.name]
    assert name not in json.loads(lock_path("lincs-cp").read_text())["files"]


def test_a_profile_without_an_md5_etag_is_recorded_at_first_use_with_one_warning(env, server, caplog):
    """A multipart ETag ("<hex>-<parts>") or a KMS-encrypted object's ETag is not an MD5: nothing to verify against."""
    served, root, _ = server
    multipart, kms = ("/gallery/" + lincs_cp.profile_name(p).removeprefix("profiles/") for p in ("SQ00015056", "SQ00015057"))
    served.etags[multipart] = '"9b2cf535f27731c974343645a3985328-3"'
    served.headers[kms] = {"x-amz-server-side-encryption": "aws:kms"}
    fetched = fetch_source("lincs-cp", data_root=env / "data")
    assert fetched.verified[lincs_cp.profile_name("SQ00015056")] == FIRST_USE == fetched.verified[lincs_cp.profile_name("SQ00015057")]
    assert fetched.verified[lincs_cp.profile_name(REAL_PLATE)] == S3_ETAG
    checks = json.loads(lock_path("lincs-cp").read_text())["checks"]
    assert "(multipart upload)" in checks[lincs_cp.profile_name("SQ00015056")]["why"]
    assert "encrypted with aws:kms" in checks[lincs_cp.profile_name("SQ00015057")]["why"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "pheno_bench.fetch"]
    assert len(warnings) == 1 and "2 file(s) recorded at first use, not verified against the publisher" in warnings[0]


def test_real_pins_refuse_the_fixture_plate_maps(env, server, monkeypatch):
    """The plate maps are pinned to the publisher's bytes at a git commit: the fixture's are refused."""
    monkeypatch.setattr(lincs_cp, "PINNED", {f"platemaps/{k}": v for k, v in lincs_cp.PLATEMAP_SHA256.items()})
    with pytest.raises(FetchError, match=r"barcode_platemap.csv: the file as received does not match the pinned sha256 dffd7395d0b0d92e"):
        fetch_source("lincs-cp", data_root=env / "data")
    assert lincs_cp.PROFILED_PLATES.__len__() == 136 and REAL_PLATE in lincs_cp.PROFILED_PLATES


def test_offline_before_any_fetch_is_one_line(env, monkeypatch):
    with pytest.raises(FetchError, match=r"not fetched yet .* and offline; run once with network: pheno-bench sources fetch lincs-cp") as err:
        fetch_source("lincs-cp", data_root=env / "data", offline=True)
    assert "\n" not in str(err.value)
    monkeypatch.setenv(lincs_cp.OFFLINE_ENV, "1")  # what a benchmark build honours
    with pytest.raises(FetchError, match=r"not fetched yet .* and offline"):
        lincs_cp.SOURCE.load(env / "data")


def test_the_adapter_reads_every_plate_against_its_plate_map(env, server):
    _, root, facts = server
    fetch_source("lincs-cp", data_root=env / "data")
    ingested = lincs_cp.SOURCE.load(env / "data")
    meta = ingested.wells.meta
    assert sorted(meta["plate"].unique()) == sorted(PLATES)
    assert (meta["well_id"] == "lincs-cp:" + meta["plate"] + ":" + meta["well"]).all()
    assert not meta["well_id"].duplicated().any()
    # per-plate feature selection: only features present on every plate, in the real plate's order
    real = pd.read_csv(data_root() / "lincs-pilot1-SQ00015054" / f"{REAL_PLATE}_normalized_feature_select.csv.gz", low_memory=False)
    names = ingested.wells.metadata.feature_names
    assert set(names) < {c for c in real.columns if not c.startswith("Metadata_")} and len(names) >= 454 - 5 * 5
    assert not any(n.startswith("Cells_Extra_") for n in names)
    reasons = {e["reason"].split(" (")[0]: e for e in ingested.excluded}
    assert any("not selected on every plate" in r for r in reasons)
    assert any(e["id"] == UNPROFILED for e in ingested.excluded)
    bad = [e for e in ingested.excluded if e["id"] == facts["unresolvable"]]
    assert bad and bad[0]["wells"] == 3 * 6  # one compound x 6 doses on each of the 3 plates of map B
    # the real plate's values are the published ones, joined by well
    plate = meta["plate"].eq(REAL_PLATE).to_numpy()
    by_well = real.set_index("Metadata_Well")[names]
    np.testing.assert_allclose(ingested.wells.features[plate], by_well.loc[meta.loc[plate, "well"]].to_numpy(np.float32), rtol=1e-6)
    assert meta.loc[plate & meta["is_control"].to_numpy()].shape[0] == (real["Metadata_broad_sample"] == "DMSO").sum()


def test_a_profile_that_disagrees_with_its_plate_map_is_one_line(env, server, tmp_path):
    _, root, _ = server
    fetched = fetch_source("lincs-cp", data_root=env / "data")
    local = env / "data" / "lincs-cp"
    import shutil

    shutil.copytree(fetched.folder, local)
    map_file = local / "platemaps" / "platemap" / "C-7161-01-LM6-027.txt"
    text = map_file.read_text().splitlines()
    cells = text[40].split("\t")
    cells[4] = "0.123"  # another dose for one well
    text[40] = "\t".join(cells)
    map_file.write_text("\n".join(text) + "\n")
    with pytest.raises(PhenoBenchError, match=r"disagrees with plate map C-7161-01-LM6-027 .*is this the plate as published\?") as err:
        lincs_cp._read(local)
    assert "\n" not in str(err.value)


def test_cli_fetch_reports_the_files(env, server):
    served, _, _ = server
    # the subprocess cannot see the monkeypatched pins: give it a home whose lock already accepts
    # the fixture (a first in-process fetch), so the CLI's check is the sha256 lock
    fetch_source("lincs-cp", data_root=env / "data")
    done = subprocess.run(
        [sys.executable, "-c", "from pheno_bench.cli import main; main()", "sources", "fetch", "lincs-cp", "--data-root", str(env / "data"), "--offline"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert done.returncode == 2 and "does not match the pinned" in done.stderr and "Traceback" not in done.stderr  # real pins vs fixture maps
    assert done.stderr.count("\n") == 1


def test_a_truncated_profile_is_one_line_naming_it(env, server):
    """Regression (F, 23:06): a truncated .csv.gz in a local copy escaped lincs_cp._read as EOFError ("Aborted.")."""
    import shutil

    fetched = fetch_source("lincs-cp", data_root=env / "data")
    local = env / "data" / "lincs-cp"
    shutil.copytree(fetched.folder, local)
    profile = local / lincs_cp.profile_name(REAL_PLATE)
    profile.write_bytes(profile.read_bytes()[: profile.stat().st_size // 2])
    with pytest.raises(PhenoBenchError, match=rf"{re.escape(str(profile))}: cannot be read as CSV \(") as err:
        lincs_cp._read(local)
    assert "\n" not in str(err.value)
