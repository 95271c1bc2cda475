"""``cell-injury``: Dahlin et al. 2023, U2OS Cell Painting atlas of cellular injury (idr0133)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pheno_bench.schema import Wells, WellsMetadata
from pheno_bench.sources import Ingested, Source, read_csv, register, require_columns, split_features

WELLS_FILE = "cell_injury_union_wells_340feat.csv.gz"
FEATURE_PREFIXES = ("Cells_", "Cytoplasm_", "Nuclei_")
COLUMNS = {
    "Plate": "plate",
    "Well": "well",
    "Compound Name": "compound_id",
    "Compound SMILES": "smiles",
    "Compound InChIKey": "inchikey",
    "Compound Concentration (microMolar)": "concentration_um",
    "Control Type": "control_type",
    "Experimental Condition [Experimental Batch]": "batch",
    "Experimental Condition [Treatment time (h)]": "time_h",
}
#: Cytotoxicity read-outs: the publishers' relative cell count (a metadata column, not a feature).
CELL_COUNT_COLUMN = "Relative well cellcount"
#: The plate maps' concentrations as the publishers round them; 0.62 and 0.63 are both 0.625.
NOMINAL_DOSES_UM = (0.02, 0.08, 0.21, 0.31, 0.41, 0.625, 0.82, 1.25, 1.65, 2.5, 3.3, 5.0, 6.6, 10.0, 20.0)


def _read(folder: Path) -> Ingested:
    path = folder / WELLS_FILE
    frame = read_csv(path, low_memory=False)
    require_columns(frame, COLUMNS, path)
    features = [c for c in frame.columns if c.startswith(FEATURE_PREFIXES)]
    meta = frame[list(COLUMNS)].rename(columns=COLUMNS)
    meta["well_id"] = "cell-injury:" + meta["plate"] + ":" + meta["well"]
    meta["source"] = "cell-injury"
    meta["batch"] = meta["batch"].astype(str)
    meta["is_control"] = meta["control_type"].eq("Negative")
    meta.loc[meta["is_control"], ["smiles", "inchikey", "concentration_um"]] = None
    meta["concentration_um"] = meta["concentration_um"].astype(float)
    meta["time_h"] = meta["time_h"].astype(float)  # 24 or 48: part of the condition (cell-injury-v2)
    if CELL_COUNT_COLUMN in frame.columns:
        meta["cell_count"] = frame[CELL_COUNT_COLUMN].astype(float)
    meta["dose_level"] = None
    matrix = frame[features].to_numpy(np.float32)
    wells, excluded = split_features(meta, matrix, "cell-injury", path)
    return Ingested(
        wells=Wells(wells[0], wells[1], WellsMetadata(sources=["cell-injury"], feature_names=features, feature_space="as published (normalised, feature-selected by the authors)")),
        files={WELLS_FILE: path},
        excluded=excluded,
    )


SOURCE = register(
    Source(
        name="cell-injury",
        folder="cell-injury-dahlin2023",
        licence="CC-BY-4.0",
        citation="Dahlin et al., A cell painting-based atlas of cellular injury, Nat. Commun. 2023 (IDR idr0133)",
        nominal_doses_um=NOMINAL_DOSES_UM,
        reader=_read,
    )
)
