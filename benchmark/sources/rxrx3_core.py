"""``rxrx3-core``: RxRx3-core (Recursion, HUVEC) with its OpenPhenom well embeddings, as published on the Hub.

Reads the files of the dataset repository ``recursionpharma/rxrx3-core`` unchanged, fetched at one
commit and each verified against the Hub's own checksum for it (:func:`locate`,
:mod:`pheno_bench.fetch_hub`; the pinned release is :mod:`pheno_bench.sources.rxrx3_core_pins`; a
local copy under ``<data root>/rxrx3-core/`` is used instead where there is one):

* ``metadata_rxrx3_core.csv``: one row per well (``well_id, experiment_name, plate, address, gene,
  treatment, SMILES, concentration, perturbation_type, cell_type, well_type_label``);
  ``well_id`` is ``<experiment>_<plate>_<address>``;
* ``OpenPhenom_rxrx3_core_embeddings.parquet``: ``well_id`` and ``feature_0`` … ``feature_383``.

What is kept, on purpose (each left-out group is one summary with a count and example ids):

* Compound experiments only: an experiment is one when it holds a ``COMPOUND`` well with a SMILES
  (``compound-001`` … ``compound-004``). Every well of the other (CRISPR gene-knockout)
  experiments is left out and counted.
* Controls: ``EMPTY_control`` wells of the compound experiments (blank SMILES, blank
  concentration), as the publisher's own analysis of RxRx3-core does (``EFAAR_benchmarking``,
  ``RxRx3-core_benchmarks/rxrx3_core_benchmarks_openphenom.ipynb``: ``control_key =
  "EMPTY_control"`` for ``pca_centerscale_on_controls``, whose ``centerscale_on_controls`` fits
  on ``metadata[pert_col] == control_key``). The compound plates' ``CRISPR_control`` wells (about
  twice as many as the EMPTY ones in public counts of the metadata) are not negative controls
  there: they are left out and counted. ``controls=`` changes the list (a different benchmark).
* Treated wells: a SMILES and a positive concentration (µM, as the RxRx3 metadata schema says).
  A compound well with a blank concentration is left out and counted.
* SMILES are kept as published. Some carry CXSMILES extensions (``… |c:1,13,21,t:16,19|``, the
  cis/trans flags of ring double bonds); RDKit reads them (curation's rule: the extension is
  part of the molecule; a SMILES RDKit cannot read, extension included, is reported).
* A ``well_id`` with several rows in the embeddings file: its rows are averaged into the well's
  one embedding, as the publisher's notebook does (``openphenom_embeddings.groupby(
  "external_well_id").mean()`` before the merge on ``well_id``), and counted
  (``repeated_well_ids="average"``; ``"refuse"`` makes it an error naming the ids).
* Embedding rows that are byte-identical between wells (reported by users) are detected: within
  a group of identical rows, if every well has the same treatment and concentration the first
  well (by ``well_id``) is kept and the others are left out as duplicates; if they disagree, all
  are left out (which label is right cannot be known). Identical rows across splits would
  otherwise let a model match a test well to its training copy.
* The two files are joined on ``well_id``, never by position; wells without an embedding and
  embeddings without a metadata row are reported.

Features (``align=``): the publishers' EFAAR alignment against control wells
(``recursionpharma/EFAAR_benchmarking``, ``efaar.py``). ``"efaar-centerscale"`` (rxrx3-core-v1):
``centerscale_on_controls`` per plate, (x − mean) / std of the plate's control wells.
``"efaar-tvn"``: that, then TVN (PCA fitted on all control wells, centre-scale on controls) and
per-experiment CORAL (control covariance + 0.5·I, to the power −1/2). TVN/CORAL estimate a full
384 × 384 covariance from the controls, so controls are in-sample for the whitening while treated
wells are not; on a fixture with about one control per feature this made 60 % of no-effect
(molecule, dose) pairs "active" under the control-based activity null, and at RxRx3-core's size
(≈ 2 k controls in compound-002) a smaller bias of the same sign remains. rxrx3-core-v1 therefore
uses the centre-scale step only. ``"none"`` keeps the embeddings as published. Only control
wells enter any fit, so no test well shapes the transform.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pheno_bench.errors import PhenoBenchError
from pheno_bench.remote import Lock, RemoteFile, check_file
from pheno_bench.fetch_hub import fetch_hub
from pheno_bench.paths import data_root as default_data_root
from pheno_bench.schema import Wells, WellsMetadata
from pheno_bench.sources.efaar import centerscale_by_plate, efaar_align  # noqa: F401 (re-exported)
from pheno_bench.sources import Ingested, Source, read_csv, register, require_columns, split_features

NAME = "rxrx3-core"
REPO_ID = "recursionpharma/rxrx3-core"
#: ``$PHENO_BENCH_RXRX3_REVISION``: a revision to fetch instead of the pinned (or recorded) one, as --revision.
REVISION_ENV = "PHENO_BENCH_RXRX3_REVISION"
METADATA_FILE = "metadata_rxrx3_core.csv"
EMBEDDINGS_FILE = "OpenPhenom_rxrx3_core_embeddings.parquet"
COLUMNS = ("well_id", "experiment_name", "plate", "address", "treatment", "SMILES", "concentration", "perturbation_type")
PERTURBATION_TYPES = ("COMPOUND", "CRISPR")
#: The negative controls of the compound experiments, as the publisher's EFAAR analysis (``control_key``).
CONTROLS = ("EMPTY_control",)
CONTROL = "EMPTY_control"
#: The control labels of the compound plates (blank SMILES); those not in ``controls`` are left out and counted.
CONTROL_LABELS = ("EMPTY_control", "CRISPR_control")
REPEATED = ("average", "refuse")
FEATURE_PREFIX = "feature_"
ALIGNMENTS = ("efaar-centerscale", "efaar-tvn", "none")
#: The eight concentrations of the compound experiments (µM); a handful of wells report 0.026,
#: 0.26 or 2.6 (snapped by curation's tolerance) or 0.002 (reported and left out by curation).
NOMINAL_DOSES_UM = (0.0025, 0.01, 0.025, 0.1, 0.25, 1.0, 2.5, 10.0)
EXAMPLES = 5


def summarise(ids: pd.Series, reason: str, *, source: str = NAME) -> list[dict]:
    """One excluded-dict for many wells: their count and the first few well ids (none if ``ids`` is empty).

    ids: published ``well_id`` values; reported as the wells table names them (``rxrx3-core:<well_id>``).
    """
    if ids.empty:
        return []
    shown = ", ".join(NAME + ":" + ids.iloc[:EXAMPLES]) + (", ..." if len(ids) > EXAMPLES else "")
    return [{"source": source, "id": shown, "reason": f"{reason} ({len(ids)} wells)", "wells": len(ids)}]


def _ids_error(path: Path, ids: pd.Series, problem: str, fix: str) -> PhenoBenchError:
    shown = ", ".join(map(str, ids.iloc[:EXAMPLES])) + (f" and {len(ids) - EXAMPLES} more" if len(ids) > EXAMPLES else "")
    return PhenoBenchError(f"{path}: {problem}: {shown}; {fix}")


# --- fetching -----------------------------------------------------------------------------


def release() -> dict:
    """The pinned release (:data:`pheno_bench.sources.rxrx3_core_pins.RELEASE`; empty until a maintainer records one)."""
    from pheno_bench.sources import rxrx3_core_pins

    return rxrx3_core_pins.RELEASE


def remote_files() -> list[RemoteFile]:
    """Both raw files, with the pinned sha256 of each where a release is pinned."""
    pinned = release().get("files", {})
    return [RemoteFile(name, sha256=pinned.get(name, {}).get("sha256")) for name in (METADATA_FILE, EMBEDDINGS_FILE)]


def locate(data_root: str | os.PathLike | None = None, *, revision: str | None = None, offline: bool | None = None,
           force: bool = False, update: bool = False) -> Path:
    """The folder holding both raw files, each checked against the publisher's checksum (or the pinned sha256).

    A local copy ``<data root>/rxrx3-core/`` (both files) is checked against the pinned or
    recorded sha256s (recorded at first use, with a warning, when there are none); otherwise the
    files are fetched from the Hub (:func:`pheno_bench.fetch_hub.fetch_hub`) at ``revision``
    (default ``$PHENO_BENCH_RXRX3_REVISION``, then the commit recorded at the last fetch, then the
    pinned release, then ``main``), each verified against the Hub's checksum for that commit.
    offline: default ``$HF_HUB_OFFLINE``. ``$HF_ENDPOINT`` is read at call time.
    """
    files = remote_files()
    local = default_data_root(data_root) / NAME
    if local.is_dir() and not force:
        lock = Lock.load(NAME)
        for remote in files:
            path = local / remote.name
            if not path.is_file():
                raise PhenoBenchError(f"{path}: missing from the local copy {local}; add it or remove the folder to fetch from the Hub")
            check_file(path, remote, lock, fix="replace the local copy with the published file",
                       first_use=f" (to verify it against the Hub instead, move {local} away and run `pheno-bench sources fetch {NAME}`)")
        lock.save()
        return local
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return fetch_hub(
        REPO_ID, files, source=NAME, revision=revision or os.environ.get(REVISION_ENV) or None,
        pinned_revision=release().get("revision"), endpoint=os.environ.get("HF_ENDPOINT"),
        offline=offline, force=force, update=update,
    )


# --- reading ------------------------------------------------------------------------------


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


def read_embeddings(path: Path, well_ids: pd.Series, *, repeated: str = "average") -> tuple[list[str], np.ndarray, np.ndarray, pd.Index, pd.Series]:
    """OpenPhenom rows for ``well_ids``, joined on ``well_id``.

    repeated: what a ``well_id`` with several rows becomes: ``"average"`` (the mean of its rows,
    computed in float64, as the publisher's ``groupby("well_id").mean()``) or ``"refuse"`` (an error).
    Returns (feature names, float32 matrix (n, d) with NaN rows where a well has no embedding,
    boolean mask (n,) of wells that have one, every distinct ``well_id`` of the file, rows per
    repeated ``well_id`` (a Series indexed by well_id, empty when none repeats)).
    """
    table = _read_parquet(path)
    if "well_id" not in table.column_names:
        raise PhenoBenchError(f"{path}: missing column 'well_id'; is this the file as published?")
    features = [n for n in table.column_names if n.startswith(FEATURE_PREFIX)]
    if not features:
        raise PhenoBenchError(f"{path}: no '{FEATURE_PREFIX}*' columns; is this the file as published?")
    non_float = [n for n in features if not pa.types.is_floating(table.schema.field(n).type)]
    if non_float:
        raise PhenoBenchError(f"{path}: feature columns {non_float[:EXAMPLES]} are not floats; is this the file as published?")
    ids = pd.Index(table.column("well_id").to_pandas())
    codes, embedded = pd.factorize(ids, sort=False)
    embedded = pd.Index(embedded)
    counts = np.bincount(codes, minlength=len(embedded))
    repeats = pd.Series(counts[counts > 1], index=embedded[counts > 1], name="rows")
    if len(repeats) and repeated != "average":
        raise _ids_error(path, pd.Series(repeats.index), "well_id appears more than once", "each well must have one embedding (or use repeated_well_ids='average')")
    _, first = np.unique(codes, return_index=True)  # each well_id's first row (codes are 0 .. len(embedded) - 1)
    position = embedded.get_indexer(well_ids)
    found = position >= 0
    matrix = np.full((len(well_ids), len(features)), np.nan, dtype=np.float32)
    if found.any():
        picked = table.select(features).take(pa.array(first[position[found]]))
        matrix[found] = np.column_stack([picked.column(name).to_numpy(zero_copy_only=False).astype(np.float32, copy=False) for name in features])
    if len(repeats):
        rows = np.flatnonzero(counts[codes] > 1)
        block = table.select(features).take(pa.array(rows)).to_pandas().astype(np.float64)
        means = block.groupby(np.asarray(ids[rows]), sort=False).mean()  # NaN skipped, as pandas' mean in the publisher's notebook
        wanted = found & np.isin(position, embedded.get_indexer(repeats.index))
        matrix[wanted] = means.loc[np.asarray(well_ids)[wanted]].to_numpy(np.float32)
    return features, matrix, found, embedded, repeats


def _read_parquet(path: Path) -> pa.Table:
    """The embeddings file as an arrow table; a truncated or corrupt file is one error saying to fetch it again."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise PhenoBenchError(f"{path}: OpenPhenom embeddings file not found; fetch it (pheno-bench sources fetch {NAME})")
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise PhenoBenchError(
            f"{path}: truncated or corrupt parquet file ({reason}); fetch it again: `pheno-bench sources fetch {NAME} --force` "
            "(or, for a local copy under the data root, replace it with the published file)"
        ) from None


def duplicate_rows(matrix: np.ndarray) -> np.ndarray:
    """Group id (n,) of byte-identical rows of ``matrix``; -1 for rows that are unique."""
    if len(matrix) == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.ascontiguousarray(matrix).view(np.dtype((np.void, matrix.dtype.itemsize * matrix.shape[1]))).ravel()
    _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    return np.where(counts[inverse] > 1, inverse, -1)


@lru_cache(maxsize=1)
def _published(meta_path: Path, emb_path: Path, signature: tuple, repeated: str) -> tuple:
    """Both files read once per process (two sources of one spec read the same files)."""
    frame = read_metadata(meta_path)
    return (frame, *read_embeddings(emb_path, frame["well_id"], repeated=repeated))


def _signature(*paths: Path) -> tuple:
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (str(p),) for p in paths)


def _read(
    folder: Path,
    *,
    name: str = NAME,
    experiments: list[str] | None = None,
    exclude_experiments: list[str] | tuple[str, ...] = (),
    controls: list[str] | tuple[str, ...] = CONTROLS,
    repeated_well_ids: str = "average",
    align: str = "none",
) -> Ingested:
    """Ingest RxRx3-core (see the module docstring).

    name: the ``source`` value of the wells (two sources can split the experiments, e.g. one held
    out as the unseen dataset). experiments / exclude_experiments: compound experiments to keep /
    leave out (reported). controls: treatment labels that are negative controls (default
    ``EMPTY_control`` only, as the publisher's analysis). repeated_well_ids: one of :data:`REPEATED`
    (a well_id with several embedding rows: average them, or refuse). align: one of :data:`ALIGNMENTS`.
    """
    if align not in ALIGNMENTS:
        raise PhenoBenchError(f"rxrx3-core: align={align!r} is not one of {list(ALIGNMENTS)}")
    if repeated_well_ids not in REPEATED:
        raise PhenoBenchError(f"rxrx3-core: repeated_well_ids={repeated_well_ids!r} is not one of {list(REPEATED)}")
    meta_path, emb_path = folder / METADATA_FILE, folder / EMBEDDINGS_FILE
    if not meta_path.is_file():
        raise PhenoBenchError(f"{meta_path}: raw file not found; check --data-root or fetch it (pheno-bench sources fetch rxrx3-core)")
    if not emb_path.is_file():
        raise PhenoBenchError(f"{emb_path}: OpenPhenom embeddings file not found; fetch it (pheno-bench sources fetch rxrx3-core)")
    frame, features, full_matrix, full_found, embedded, repeats = _published(
        meta_path, emb_path, _signature(meta_path, emb_path), repeated_well_ids)
    published = frame["well_id"]
    has_smiles = frame["SMILES"].str.strip().ne("")
    compound_type = frame["perturbation_type"].eq("COMPOUND")
    compound_experiments = set(frame.loc[compound_type & has_smiles, "experiment_name"])
    in_compound_expt = frame["experiment_name"].isin(compound_experiments)
    excluded = summarise(published[~in_compound_expt], "CRISPR gene-knockout experiment well (no molecule on those plates)", source=name)
    if experiments is not None:
        if unknown := sorted(set(experiments) - compound_experiments):
            raise PhenoBenchError(f"{meta_path}: experiments {unknown} are not compound experiments; known: {sorted(compound_experiments)}")
    chosen = in_compound_expt & (frame["experiment_name"].isin(experiments) if experiments is not None else True)
    chosen &= ~frame["experiment_name"].isin(list(exclude_experiments))
    for expt, ids in published[in_compound_expt & ~chosen].groupby(frame["experiment_name"], sort=True):
        excluded += summarise(ids, f"compound experiment {expt} not in source {name}", source=name)

    control = chosen & frame["treatment"].isin(list(controls)) & ~has_smiles
    treated = chosen & has_smiles & compound_type
    dosed = treated & (frame["concentration"] > 0)
    other = chosen & ~control & ~treated
    not_controls = other & frame["treatment"].isin(CONTROL_LABELS) & ~has_smiles
    for treatment, ids in published[not_controls].groupby(frame["treatment"], sort=True):
        excluded += summarise(ids, f"{treatment} well of a compound experiment: not a negative control here (negative controls: "
                                   f"{', '.join(controls)} only, as the publisher's EFAAR analysis of RxRx3-core)", source=name)
    for treatment, ids in published[other & ~not_controls].groupby(frame["treatment"].where(frame["treatment"] != "", "(blank)"), sort=True):
        excluded += summarise(ids, f"compound-experiment well that is neither a molecule nor a control (treatment {treatment!r})", source=name)
    excluded += summarise(published[treated & ~dosed], "compound well without a positive concentration", source=name)

    keep = np.flatnonzero((control | dosed).to_numpy())
    kept = frame.iloc[keep].reset_index(drop=True)
    matrix, found = full_matrix[keep], full_found[keep]
    orphans = pd.Series(embedded[~embedded.isin(published)])
    excluded += summarise(kept.loc[~found, "well_id"], f"no row in {EMBEDDINGS_FILE}", source=name)
    if name == NAME or experiments is None:
        excluded += summarise(orphans, f"embedding in {EMBEDDINGS_FILE} without a row in {METADATA_FILE}", source=name)
    kept, matrix = kept[found].reset_index(drop=True), matrix[found]
    averaged = kept["well_id"][kept["well_id"].isin(repeats.index)]
    merged_rows = int(repeats.reindex(averaged).sum())
    if len(averaged):
        excluded += [{**entry, "merged_rows": merged_rows} for entry in summarise(
            averaged, f"well_id with more than one row in {EMBEDDINGS_FILE}: its {merged_rows} rows averaged into one embedding per "
                      "well, as the publisher's notebook (groupby('well_id').mean())", source=name)]

    order = np.argsort(kept["well_id"].to_numpy(), kind="stable")
    kept, matrix = kept.iloc[order].reset_index(drop=True), matrix[order]
    group = duplicate_rows(np.nan_to_num(matrix, nan=np.inf))
    is_dup = group >= 0
    if is_dup.any():
        label = kept["treatment"] + "@" + kept["concentration"].astype(str)
        dup = pd.DataFrame({"group": group[is_dup], "label": label[is_dup].to_numpy()}, index=np.flatnonzero(is_dup))
        agree = dup.groupby("group")["label"].transform("nunique").eq(1)
        first = ~dup.duplicated("group")
        drop_copy = dup.index[agree & ~first]
        drop_conflict = dup.index[~agree]
        excluded += summarise(kept.loc[drop_copy, "well_id"], f"embedding row byte-identical to another well's of the same treatment and concentration (first by well_id kept; {int((agree & first).sum())} groups)", source=name)
        excluded += summarise(kept.loc[drop_conflict, "well_id"], "embedding row byte-identical to a well of another treatment or concentration (all left out)", source=name)
        drop = np.zeros(len(kept), dtype=bool)
        drop[np.concatenate([drop_copy, drop_conflict]).astype(int)] = True
        kept, matrix = kept[~drop].reset_index(drop=True), matrix[~drop]

    is_control = kept["treatment"].isin(list(controls)) & kept["SMILES"].str.strip().eq("")
    meta = pd.DataFrame(
        {
            "well_id": NAME + ":" + kept["well_id"],
            "source": name,
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
    (meta, matrix), non_finite = split_features(meta, matrix, name, emb_path)
    space = "OpenPhenom embeddings as published"
    if align == "efaar-centerscale":
        matrix = centerscale_by_plate(matrix, meta["plate"].to_numpy(), meta["is_control"].to_numpy(bool))
        space = f"OpenPhenom embeddings, EFAAR centre-scale on each plate's {'/'.join(controls)} wells"
    elif align == "efaar-tvn":
        matrix = efaar_align(matrix, meta["plate"].to_numpy(), meta["batch"].to_numpy(), meta["is_control"].to_numpy(bool))
        space = "OpenPhenom embeddings, EFAAR-aligned on controls (plate centre-scale, TVN, per-experiment CORAL)"
    metadata = WellsMetadata(sources=[name], feature_names=features, feature_space=space)
    dropped_controls = int(not_controls.sum())
    notes = [
        f"negative controls {', '.join(controls)}: {int(meta['is_control'].sum())} wells"
        + (f" ({dropped_controls} {'/'.join(sorted(set(frame.loc[not_controls, 'treatment'])))} wells left out)" if dropped_controls else ""),
        f"repeated well_ids averaged: {len(averaged)} wells ({merged_rows} rows)",
    ]
    return Ingested(
        wells=Wells(meta, matrix, metadata),
        files={METADATA_FILE: meta_path, EMBEDDINGS_FILE: emb_path},
        excluded=excluded + non_finite,
        notes=notes,
    )


SOURCE = register(
    Source(
        name=NAME,
        folder="rxrx3-core",
        licence="Recursion Non-Commercial End User License Agreement (the dataset card's licence); features never redistributed by pheno-bench",
        citation="Kraus et al., RxRx3-core: Benchmarking drug-target interactions in High-Content Microscopy, LMRL workshop at ICLR 2025 (arXiv:2503.20158)",
        nominal_doses_um=NOMINAL_DOSES_UM,
        reader=_read,
        fetch=locate,
    )
)
