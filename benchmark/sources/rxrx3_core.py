"""``rxrx3-core``: RxRx3-core (Recursion, HUVEC) with its OpenPhenom well embeddings, as published on the Hub.

Reads the files of the dataset repository ``recursionpharma/rxrx3-core`` unchanged:

* ``metadata_rxrx3_core.csv``: one row per well (``well_id, experiment_name, plate, address, gene,
  treatment, SMILES, concentration, perturbation_type, cell_type, well_type_label``);
* ``OpenPhenom_rxrx3_core_embeddings.parquet``: ``well_id`` and 384 ``feature_*`` float columns.

Kept: compound wells (``perturbation_type == "COMPOUND"`` with a SMILES) and the untreated
controls of the compound experiments (``treatment == "EMPTY_control"``). Left out, one summary per
reason with a count and example ids: CRISPR wells (gene-knockout experiments, their controls
included: no molecule is on those plates), compound-experiment wells without a SMILES (such as
``CRISPR_control``), compounds without a concentration, wells without an embedding and
embeddings without a metadata row. The two files are joined on ``well_id``, never by position.

``concentration`` is in µM (the RxRx3 metadata schema says so); the eight nominal levels are
0.0025-10 µM. SMILES are kept as published (some carry CXSMILES extensions such as ``|c:1,13|``,
which RDKit reads); the InChIKey is left to curation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet
from pheno_bench.schema import Wells, WellsMetadata
from pheno_bench.sources import Ingested, Source, read_csv, register, require_columns, split_features

NAME = "rxrx3-core"
METADATA_FILE = "metadata_rxrx3_core.csv"
EMBEDDINGS_FILE = "OpenPhenom_rxrx3_core_embeddings.parquet"
COLUMNS = ("well_id", "experiment_name", "plate", "address", "treatment", "SMILES", "concentration", "perturbation_type")
PERTURBATION_TYPES = ("COMPOUND", "CRISPR")
CONTROL = "EMPTY_control"
FEATURE_PREFIX = "feature_"
#: The eight concentrations of the compound experiments (µM); a handful of wells report 0.026,
#: 0.26 or 2.6 (snapped by curation's tolerance) or 0.002 (reported and left out by curation).
NOMINAL_DOSES_UM = (0.0025, 0.01, 0.025, 0.1, 0.25, 1.0, 2.5, 10.0)
EXAMPLES = 5


def summarise(ids: pd.Series, reason: str) -> list[dict]:
    """One excluded-dict for many wells: their count and the first few well ids (none if ``ids`` is empty).

    ids: published ``well_id`` values; reported as the wells table names them (``rxrx3-core:<well_id>``).
    """
    if ids.empty:
        return []
    shown = ", ".join(NAME + ":" + ids.iloc[:EXAMPLES]) + (", ..." if len(ids) > EXAMPLES else "")
    return [{"source": NAME, "id": shown, "reason": f"{reason} ({len(ids)} wells)", "wells": len(ids)}]


def _ids_error(path: Path, ids: pd.Series, problem: str, fix: str) -> PhenoBenchError:
    shown = ", ".join(map(str, ids.iloc[:EXAMPLES])) + (f" and {len(ids) - EXAMPLES} more" if len(ids) > EXAMPLES else "")
    return PhenoBenchError(f"{path}: {problem}: {shown}; {fix}")


def read_metadata(path: Path) -> pd.DataFrame:
    """The metadata CSV with ``concentration`` as float (NaN where blank); clear errors for a malformed file."""
    frame = read_csv(path, dtype=str, keep_default_na=False)
    require_columns(frame, COLUMNS, path)
    duplicated = frame["well_id"][frame["well_id"].duplicated()]
    if not duplicated.empty:
        raise _ids_error(path, duplicated, "well_id appears more than once", "each well must have one row")
    unknown = ~frame["perturbation_type"].isin(PERTURBATION_TYPES)
    if unknown.any():
        values = sorted(frame.loc[unknown, "perturbation_type"].unique())
        raise _ids_error(path, frame.loc[unknown, "well_id"], f"perturbation_type {values} is not one of {list(PERTURBATION_TYPES)}", "is this the file as published?")
    concentration = pd.to_numeric(frame["concentration"].str.strip().replace("", np.nan), errors="coerce")
    garbled = concentration.isna() & frame["concentration"].str.strip().ne("")
    if garbled.any():
        raise _ids_error(path, frame.loc[garbled, "well_id"], "concentration is not a number", "concentrations are µM values")
    return frame.assign(concentration=concentration)


def read_embeddings(path: Path, well_ids: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray, pd.Index]:
    """OpenPhenom rows for ``well_ids``, joined on ``well_id``.

    Returns (feature names, float32 matrix (n, d) with NaN rows where a well has no embedding,
    boolean mask (n,) of wells that have one, every ``well_id`` of the file).
    """
    table = read_parquet(path, what="OpenPhenom embeddings file")
    if "well_id" not in table.column_names:
        raise PhenoBenchError(f"{path}: missing column 'well_id'; is this the file as published?")
    features = [n for n in table.column_names if n.startswith(FEATURE_PREFIX)]
    if not features:
        raise PhenoBenchError(f"{path}: no '{FEATURE_PREFIX}*' columns; is this the file as published?")
    non_float = [n for n in features if not pa.types.is_floating(table.schema.field(n).type)]
    if non_float:
        raise PhenoBenchError(f"{path}: feature columns {non_float[:EXAMPLES]} are not floats; is this the file as published?")
    embedded = pd.Index(table.column("well_id").to_pandas())
    if embedded.has_duplicates:
        raise _ids_error(path, pd.Series(embedded[embedded.duplicated()]), "well_id appears more than once", "each well must have one embedding")
    row = embedded.get_indexer(well_ids)
    found = row >= 0
    matrix = np.full((len(well_ids), len(features)), np.nan, dtype=np.float32)
    picked = table.select(features).take(row[found])
    for j, name in enumerate(features):
        matrix[found, j] = picked.column(name).to_numpy()
    return features, matrix, found, embedded


def _read(folder: Path) -> Ingested:
    meta_path, emb_path = folder / METADATA_FILE, folder / EMBEDDINGS_FILE
    frame = read_metadata(meta_path)
    published = frame["well_id"]
    compound_expt = frame["perturbation_type"].eq("COMPOUND")
    control = compound_expt & frame["treatment"].eq(CONTROL)
    has_smiles = frame["SMILES"].str.strip().ne("")
    compound = compound_expt & ~control & has_smiles
    dosed = compound & (frame["concentration"] > 0)
    excluded = summarise(published[~compound_expt], "CRISPR gene-knockout well (perturbation_type CRISPR), not a molecule")
    for treatment, ids in published[compound_expt & ~control & ~has_smiles].groupby(frame["treatment"], sort=True):
        excluded += summarise(ids, f"compound-experiment well without a SMILES (treatment {treatment!r})")
    excluded += summarise(published[compound & ~dosed], "compound well without a positive concentration")

    keep = control | dosed
    kept = frame[keep].reset_index(drop=True)
    features, matrix, found, embedded = read_embeddings(emb_path, kept["well_id"])
    orphans = pd.Series(embedded[~embedded.isin(published)])
    excluded += summarise(kept.loc[~found, "well_id"], f"no row in {EMBEDDINGS_FILE}")
    excluded += summarise(orphans, f"embedding in {EMBEDDINGS_FILE} without a row in {METADATA_FILE}")
    kept, matrix = kept[found].reset_index(drop=True), matrix[found]

    is_control = kept["treatment"].eq(CONTROL)
    meta = pd.DataFrame(
        {
            "well_id": NAME + ":" + kept["well_id"],
            "source": NAME,
            "plate": kept["experiment_name"] + "_" + kept["plate"],
            "batch": kept["experiment_name"],
            "is_control": is_control,
            "compound_id": kept["treatment"],
            "smiles": kept["SMILES"].where(~is_control),
            "inchikey": None,
            "concentration_um": kept["concentration"].where(~is_control),
            "dose_level": None,
            "well": kept["address"],
        }
    )
    (meta, matrix), non_finite = split_features(meta, matrix, NAME, emb_path)
    metadata = WellsMetadata(sources=[NAME], feature_names=features, feature_space="OpenPhenom embeddings as published")
    return Ingested(
        wells=Wells(meta, matrix, metadata),
        files={METADATA_FILE: meta_path, EMBEDDINGS_FILE: emb_path},
        excluded=excluded + non_finite,
    )


SOURCE = register(
    Source(
        name=NAME,
        folder="rxrx3-core",
        licence="Recursion's licence in the dataset's LICENSE file (non-commercial use); not redistributed by pheno-bench",
        citation="Kraus et al., RxRx3-core: Benchmarking drug-target interactions in High-Content Microscopy, LMRL workshop at ICLR 2025 (arXiv:2503.20158)",
        nominal_doses_um=NOMINAL_DOSES_UM,
        reader=_read,
    )
)
