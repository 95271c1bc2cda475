"""``lincs-cp``: every profiled plate of LINCS Cell Painting batch ``2016_04_01_a549_48hr_batch1`` (A549, 48 h).

Where the files are published (found and checked while writing this adapter; see site/data.md):

* per-plate level-4b profiles ``<plate>/<plate>_normalized_feature_select.csv.gz`` (pycytominer:
  median-aggregated, whole-plate ``mad_robustize`` normalised, feature-selected *per plate*) on the
  Cell Painting Gallery's public S3 bucket, ``cpg0004-lincs/broad/workspace/profiles/<batch>/``
  (anonymous HTTPS; the same files are the DVC outputs of ``broadinstitute/lincs-cell-painting``,
  whose DVC remote lives in the same bucket, content-addressed by md5);
* the plate maps in git, ``broadinstitute/lincs-cell-painting`` ``metadata/platemaps/<batch>/``
  (``barcode_platemap.csv`` and ``platemap/<map>.txt``), fetched at a pinned commit with pinned
  sha256s (:mod:`pheno_bench.sources.lincs_cp_pins`);
* the Drug Repurposing Hub sample table ``repurposing_samples_20200324.txt`` (clue.io), pinned.

The profiles' sha256 is not known here (no network): at the first fetch each profile is checked
against what the Gallery publishes for it (the object's size and its S3 ETag, the MD5 of its bytes
for a single-part, non-KMS upload), and recorded at first use with a visible warning where the
ETag is not an MD5; its sha256 is then checked on every later fetch and build
(:mod:`pheno_bench.fetch`). A maintainer pins the profiles of a real fetch with ``pheno-bench
sources pin lincs-cp`` (:data:`pheno_bench.sources.lincs_cp_pins.RELEASE`). Client: pooch over
plain HTTPS (plus one HEAD for the ETag) — no credentials, no S3 listing needed (the plate list is
pinned), temporary-file-then-move downloads; an S3 client (s3fs) or DVC would add a dependency
stack for no gain here.

Reading: each plate's profile is checked against its plate map (the well's compound and dose
must agree); features selected on every plate are kept (per-plate feature selection leaves each
plate its own set: the ones missing on some plate are reported as one exclusion); compounds get
structures through the Repurposing Hub table as in ``lincs-pilot1`` (unresolved ids reported).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from pheno_bench.errors import PhenoBenchError
from pheno_bench.remote import RemoteFile, fetch_http
from pheno_bench.paths import data_root as default_data_root
from pheno_bench.paths import home
from pheno_bench.schema import Wells, WellsMetadata
from pheno_bench.sources import Ingested, Source, read_csv, register, require_columns, split_features
from pheno_bench.sources import lincs_cp_pins
from pheno_bench.sources.lincs_cp_pins import COMMIT, PLATEMAP_SHA256, PROFILED_PLATES
from pheno_bench.sources.lincs_pilot1 import NOMINAL_DOSES_UM, resolve_structures

NAME = "lincs-cp"
BATCH = "2016_04_01_a549_48hr_batch1"
VARIANT = "normalized_feature_select"
BASE_URLS = {
    "gallery": f"https://cellpainting-gallery.s3.amazonaws.com/cpg0004-lincs/broad/workspace/profiles/{BATCH}/",
    "github": f"https://raw.githubusercontent.com/broadinstitute/lincs-cell-painting/{COMMIT}/metadata/platemaps/{BATCH}/",
    "clue": "https://s3.amazonaws.com/data.clue.io/repurposing/downloads/",
}
#: Serve the three locations from one mirror: ``<mirror>/gallery/…``, ``<mirror>/github/…``, ``<mirror>/clue/…``.
MIRROR_ENV = "PHENO_BENCH_LINCS_MIRROR"
#: Set to 1 to use only files already fetched (as HF_HUB_OFFLINE does for the Hub).
OFFLINE_ENV = "PHENO_BENCH_OFFLINE"
BARCODES_FILE = "platemaps/barcode_platemap.csv"
SAMPLES_FILE = "repurposing_samples_20200324.txt"
#: sha256 of the Repurposing Hub table as served by clue.io (identical to the copy in
#: ``lincs-pilot1-SQ00015054/``, and to the one third-party pipelines pin for that URL).
SAMPLES_SHA256 = "3324dfac93d19ceaeafbe7d9e466127709328777cb2f6c5a465740cd327088e9"
#: name in the folder -> pinned sha256 (plate maps at COMMIT, the samples table); tests that serve
#: fixture plate maps replace it.
PINNED: dict[str, str] = {**{f"platemaps/{k}": v for k, v in PLATEMAP_SHA256.items()}, SAMPLES_FILE: SAMPLES_SHA256}
PROFILE_COLUMNS = {
    "Metadata_Plate": "plate",
    "Metadata_Well": "well",
    "Metadata_broad_sample": "compound_id",
    "Metadata_mmoles_per_liter": "concentration_um",
    "Metadata_Plate_Map_Name": "plate_map",
}
CONTROL = "DMSO"
MIN_FEATURES = 10


def profile_name(plate: str) -> str:
    return f"profiles/{plate}/{plate}_{VARIANT}.csv.gz"


def _url(kind: str, relative: str) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    return f"{mirror.rstrip('/')}/{kind}/{relative}" if mirror else BASE_URLS[kind] + relative


def _remote(name: str) -> RemoteFile:
    if name.startswith("platemaps/"):
        url = _url("github", name.removeprefix("platemaps/"))
    elif name.startswith("profiles/"):
        url = _url("gallery", name.removeprefix("profiles/"))
    else:
        url = _url("clue", name)
    released = lincs_cp_pins.RELEASE.get("files", {}).get(name, {}).get("sha256")  # a maintainer's pinned fetch
    return RemoteFile(name, url, PINNED.get(name) or released)


def read_barcodes(folder: Path) -> pd.DataFrame:
    """``barcode_platemap.csv``: one row per assay plate (``Assay_Plate_Barcode``, ``Plate_Map_Name``, ...)."""
    path = folder / BARCODES_FILE
    frame = read_csv(path, dtype=str)
    require_columns(frame, ["Assay_Plate_Barcode", "Plate_Map_Name"], path)
    return frame


def plates_of(barcodes: pd.DataFrame) -> list[str]:
    """The plates with published profiles, in barcode order (plates listed but never profiled are skipped)."""
    return sorted(set(barcodes["Assay_Plate_Barcode"]) & set(PROFILED_PLATES))


def locate(data_root: str | os.PathLike | None = None, *, offline: bool | None = None, force: bool = False, progress: bool = True) -> Path:
    """The folder holding every raw file, fetched (or checked) first.

    A local copy ``<data root>/lincs-cp/`` in the same layout is used where there is one; otherwise
    the files go to ``$PHENO_BENCH_HOME/sources/lincs-cp/``. The plate map comes first: it names
    the plate maps and plates to fetch next. offline: default ``$PHENO_BENCH_OFFLINE``.
    """
    local = default_data_root(data_root) / NAME
    folder = local if local.is_dir() else home() / "sources" / NAME
    if offline is None:
        offline = os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    fetch_http([_remote(BARCODES_FILE), _remote(SAMPLES_FILE)], folder, source=NAME, offline=offline, force=force, progress=progress)
    barcodes = read_barcodes(folder)
    plates = plates_of(barcodes)
    maps = sorted(set(barcodes.loc[barcodes["Assay_Plate_Barcode"].isin(plates), "Plate_Map_Name"]))
    names = [f"platemaps/platemap/{m}.txt" for m in maps] + [profile_name(p) for p in plates]
    fetch_http([_remote(n) for n in names], folder, source=NAME, offline=offline, force=force, progress=progress)
    return folder


def _check_against_map(meta: pd.DataFrame, platemap: pd.DataFrame, path: Path) -> None:
    """Every profiled well's compound and dose must be the plate map's (DMSO where the map has none)."""
    expected = platemap.set_index("well_position")
    known = meta["well"].isin(expected.index)
    if not known.all():
        raise PhenoBenchError(f"{path}: wells {meta.loc[~known, 'well'].head(3).tolist()} are not in plate map {meta['plate_map'].iloc[0]}")
    row = expected.loc[meta["well"]]
    compound = row["broad_sample"].fillna("").replace("", CONTROL).to_numpy()
    dose = pd.to_numeric(row["mmoles_per_liter"], errors="coerce").fillna(0).to_numpy()
    got = pd.to_numeric(meta["concentration_um"], errors="coerce").fillna(0).to_numpy()
    bad = (compound != meta["compound_id"].to_numpy()) | ~np.isclose(dose, got, rtol=1e-3, atol=1e-6)
    if bad.any():
        w = meta.loc[bad, "well"].iloc[0]
        raise PhenoBenchError(f"{path}: well {w} disagrees with plate map {meta['plate_map'].iloc[0]} (compound or dose; {int(bad.sum())} wells); is this the plate as published?")


def _read(folder: Path, *, name: str = NAME) -> Ingested:
    """Ingest every profiled plate listed in the folder's ``barcode_platemap.csv`` (see the module docstring)."""
    barcodes = read_barcodes(folder)
    plates = plates_of(barcodes)
    if not plates:
        raise PhenoBenchError(f"{folder / BARCODES_FILE}: lists none of the batch's profiled plates; is this {BATCH}?")
    excluded = [
        {"source": name, "id": b, "reason": "listed in barcode_platemap.csv but no profiles were published (plate)"}
        for b in sorted(set(barcodes["Assay_Plate_Barcode"]) - set(plates))
    ]
    map_of = barcodes.set_index("Assay_Plate_Barcode")["Plate_Map_Name"]
    metas, blocks, feature_sets, files = [], [], [], {}
    for plate in plates:
        path = folder / profile_name(plate)
        frame = read_csv(path, low_memory=False)
        require_columns(frame, PROFILE_COLUMNS, path)
        meta = frame[list(PROFILE_COLUMNS)].rename(columns=PROFILE_COLUMNS)
        if set(meta["plate"].astype(str)) != {plate} or set(meta["plate_map"]) != {map_of[plate]}:
            raise PhenoBenchError(f"{path}: Metadata_Plate / Metadata_Plate_Map_Name are not {plate} / {map_of[plate]}; is this the plate as published?")
        map_path = folder / "platemaps" / "platemap" / f"{map_of[plate]}.txt"
        platemap = read_csv(map_path, sep="\t", dtype=str)
        require_columns(platemap, ["well_position", "broad_sample", "mmoles_per_liter"], map_path)
        _check_against_map(meta, platemap, path)
        features = [c for c in frame.columns if not c.startswith("Metadata_")]
        feature_sets.append(features)
        metas.append(meta.assign(plate=plate))
        blocks.append(frame[features])
        files[profile_name(plate)] = path
        files[f"platemaps/platemap/{map_of[plate]}.txt"] = map_path
    common = set.intersection(*(set(f) for f in feature_sets))
    features = [f for f in feature_sets[0] if f in common]
    dropped = sorted(set().union(*feature_sets) - common)
    if dropped:
        excluded.append({"source": name, "id": f"{len(dropped)} features", "reason": f"not selected on every plate (per-plate feature selection); kept {len(features)}: e.g. {', '.join(dropped[:3])}"})
    if len(features) < MIN_FEATURES:
        raise PhenoBenchError(f"{folder}: only {len(features)} features were selected on every one of {len(plates)} plates (fewer than {MIN_FEATURES}); use the plates of one plate map or the normalized_dmso profiles")
    meta = pd.concat(metas, ignore_index=True)
    matrix = np.concatenate([b[features].to_numpy(np.float32) for b in blocks])

    samples_path = folder / SAMPLES_FILE
    samples = read_csv(samples_path, sep="\t", comment="!", dtype=str)
    require_columns(samples, ["broad_id", "smiles", "InChIKey", "deprecated_broad_id"], samples_path)
    meta["well_id"] = NAME + ":" + meta["plate"] + ":" + meta["well"]
    meta["source"] = name
    meta["batch"] = meta["plate"].map(barcodes.set_index("Assay_Plate_Barcode")["Batch_Number"] if "Batch_Number" in barcodes else pd.Series(dtype=str)).fillna(BATCH).astype(str)
    meta["is_control"] = meta["compound_id"].eq(CONTROL)
    structures, unresolved_ids = resolve_structures(meta.loc[~meta["is_control"], "compound_id"], samples)
    key = meta["compound_id"].str[:13]
    meta["smiles"] = key.map(structures["smiles"]).where(~meta["is_control"])
    meta["inchikey"] = key.map(structures["inchikey"]).where(~meta["is_control"])
    meta["concentration_um"] = pd.to_numeric(meta["concentration_um"], errors="coerce").where(~meta["is_control"])
    meta["dose_level"] = None
    unresolved = (~meta["is_control"] & meta["smiles"].isna()).to_numpy()
    excluded += [{**e, "source": name, "wells": int((key[unresolved] == e["id"]).sum())} for e in unresolved_ids]
    meta, matrix = meta[~unresolved].reset_index(drop=True), matrix[~unresolved]
    meta = meta.drop(columns=["plate_map"])
    (meta, matrix), non_finite = split_features(meta, matrix, name, folder)
    files = {BARCODES_FILE: folder / BARCODES_FILE, SAMPLES_FILE: samples_path, **dict(sorted(files.items()))}
    return Ingested(
        wells=Wells(meta, matrix, WellsMetadata(sources=[name], feature_names=features, feature_space="as published (whole-plate mad_robustize, per-plate feature selection); features selected on every plate")),
        files=files,
        excluded=excluded + non_finite,
    )


SOURCE = register(
    Source(
        name=NAME,
        folder=NAME,
        licence="CC0-1.0 (LINCS Cell Painting profiles and plate maps); Drug Repurposing Hub tables: research use only",
        citation="Natoli et al., broadinstitute/lincs-cell-painting v1 (Zenodo 10.5281/zenodo.5008187); Cell Painting Gallery cpg0004-lincs; Corsello et al., Nat. Med. 2017",
        nominal_doses_um=NOMINAL_DOSES_UM,
        reader=_read,
        fetch=locate,
    )
)
