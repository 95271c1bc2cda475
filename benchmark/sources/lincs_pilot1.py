"""``lincs-pilot1``: one A549 plate (SQ00015054) of the LINCS Cell Painting Pilot 1 (Broad Institute).

Compounds are Broad sample ids; their structures come from the Drug Repurposing Hub sample table,
joined on the first 13 characters (``BRD-K12345678``), falling back to its ``deprecated_broad_id``
column. A compound that resolves to no structure, or to more than one, is reported and excluded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pheno_bench.schema import Wells, WellsMetadata
from pheno_bench.sources import Ingested, Source, read_csv, register, require_columns, split_features

WELLS_FILE = "SQ00015054_normalized_feature_select.csv.gz"
SAMPLES_FILE = "repurposing_samples_20200324.txt"
COLUMNS = {
    "Metadata_Plate": "plate",
    "Metadata_Well": "well",
    "Metadata_broad_sample": "compound_id",
    "Metadata_mmoles_per_liter": "concentration_um",
    "Metadata_Batch_Number": "batch",
}
#: Two three-fold series (from 10 µM and from 1 µM) plus 20 µM; reported values such as
#: 0.0041152 or 19.999 snap to them.
#: Treatment time: the plate belongs to batch 2016_04_01_a549_48hr_batch1 (48 h), not a column of the file.
TIME_H = 48.0
NOMINAL_DOSES_UM = (0.00412, 0.0123, 0.037, 0.0412, 0.111, 0.123, 0.333, 0.37, 1.0, 1.11, 3.33, 10.0, 20.0)


def resolve_structures(broad_ids: pd.Series, samples: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Map Broad ids to one (smiles, inchikey) each through the Repurposing Hub sample table.

    Returns a frame indexed by the 13-character id with ``smiles`` and ``inchikey``, and one
    excluded-dict per id that resolves to nothing or to several structures.
    """
    keys = pd.Series(broad_ids.unique()).str[:13]
    direct = samples.assign(key=samples["broad_id"].str[:13])
    deprecated = samples.assign(key=samples["deprecated_broad_id"].fillna("").str.split("|")).explode("key")
    deprecated["key"] = deprecated["key"].str[:13]
    resolved, excluded = {}, []
    for key in sorted(set(keys)):
        rows = direct[direct["key"] == key]
        how = "broad_id"
        if rows.empty:
            rows, how = deprecated[deprecated["key"] == key], "deprecated_broad_id"
        structures = rows.drop_duplicates("InChIKey")
        if len(structures) == 1:
            resolved[key] = (structures["smiles"].iloc[0], structures["InChIKey"].iloc[0])
            continue
        reason = (
            f"not in {SAMPLES_FILE} (neither broad_id nor deprecated_broad_id)"
            if structures.empty
            else f"{len(structures)} different structures in {SAMPLES_FILE} via {how}"
        )
        excluded.append({"source": "lincs-pilot1", "id": key, "reason": reason})
    frame = pd.DataFrame.from_dict(resolved, orient="index", columns=["smiles", "inchikey"])
    return frame, excluded


def _read(folder: Path) -> Ingested:
    path = folder / WELLS_FILE
    frame = read_csv(path, low_memory=False)
    require_columns(frame, COLUMNS, path)
    samples_path = folder / SAMPLES_FILE
    samples = read_csv(samples_path, sep="\t", comment="!", dtype=str)
    require_columns(samples, ["broad_id", "smiles", "InChIKey", "deprecated_broad_id"], samples_path)

    features = [c for c in frame.columns if not c.startswith("Metadata_")]
    meta = frame[list(COLUMNS)].rename(columns=COLUMNS)
    meta["well_id"] = "lincs-pilot1:" + meta["plate"] + ":" + meta["well"]
    meta["source"] = "lincs-pilot1"
    meta["batch"] = meta["batch"].astype(str)
    meta["is_control"] = meta["compound_id"].eq("DMSO")
    structures, excluded = resolve_structures(meta.loc[~meta["is_control"], "compound_id"], samples)
    key = meta["compound_id"].str[:13]
    meta["smiles"] = key.map(structures["smiles"]).where(~meta["is_control"])
    meta["inchikey"] = key.map(structures["inchikey"]).where(~meta["is_control"])
    meta["concentration_um"] = meta["concentration_um"].astype(float).where(~meta["is_control"])
    meta["dose_level"] = None
    meta["time_h"] = TIME_H
    unresolved = ~meta["is_control"] & meta["smiles"].isna()
    excluded = [{**e, "wells": int((key[unresolved] == e["id"]).sum())} for e in excluded]
    meta, matrix = meta[~unresolved].reset_index(drop=True), frame.loc[~unresolved.to_numpy(), features].to_numpy(np.float32)
    (meta, matrix), dropped = split_features(meta, matrix, "lincs-pilot1", path)
    return Ingested(
        wells=Wells(meta, matrix, WellsMetadata(sources=["lincs-pilot1"], feature_names=features, feature_space="as published (normalised, feature-selected)")),
        files={WELLS_FILE: path, SAMPLES_FILE: samples_path},
        excluded=excluded + dropped,
    )


SOURCE = register(
    Source(
        name="lincs-pilot1",
        folder="lincs-pilot1-SQ00015054",
        licence="BSD-3-Clause (profiles); Drug Repurposing Hub tables: research use only",
        citation="LINCS Cell Painting Pilot 1, plate SQ00015054 (Broad Institute), via cytominer-eval; Corsello et al., Nat. Med. 2017",
        nominal_doses_um=NOMINAL_DOSES_UM,
        reader=_read,
    )
)
