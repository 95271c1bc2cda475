"""Curation: molecules (RDKit), nominal dose levels, and the benchmark feature space.

* Molecules: the largest fragment of the reported SMILES (salts and solvents dropped) gives the
  canonical SMILES, the InChIKey (the molecule's identity) and the Bemis–Murcko scaffold
  (``""`` for acyclic molecules; :func:`pheno_bench.molecules.standardise_molecules`, re-exported
  here). A SMILES that RDKit cannot parse is reported with its compound id and its wells
  excluded; nothing is guessed.
* Dose levels: a reported concentration maps to the nearest value of the source's nominal series
  on a log scale if it lies within ``DOSE_TOLERANCE_LOG10`` (a factor of 1.047); otherwise the
  well is reported and excluded. The level's label is the nominal value in µM (``f"{x:g}"``).
* Feature space: the features all sources share (in the first source's order), then per-plate
  robust standardisation against the plate's control wells:
  ``(x - median_controls) / max(1.4826 * MAD_controls, floor)``, where ``floor`` is 10 % of the
  feature's median per-plate scale. Plates with fewer than ``MIN_CONTROLS`` control
  wells cannot be standardised: their wells are reported and excluded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pheno_bench.errors import PhenoBenchError
from pheno_bench.molecules import standardise_molecules
from pheno_bench.schema import Wells, WellsMetadata
from pheno_bench.sources import Ingested

DOSE_TOLERANCE_LOG10 = 0.02
MIN_CONTROLS = 3
MAD_TO_SD = 1.4826
FEATURE_SPACE = (
    "features shared by all sources; per plate (x - median of the plate's control wells) / "
    "max(1.4826 * MAD of the plate's control wells, 0.1 * the feature's median per-plate scale)"
)


@dataclass
class Curated:
    """The curated wells table (with ``scaffold``) and every well or molecule left out, with why."""

    wells: Wells
    excluded: list[dict]
    sources: list[Ingested]


def dose_label(nominal_um: float) -> str:
    """The label of a nominal dose in µM: ``0.625 -> "0.625"``, ``10.0 -> "10"``."""
    return f"{nominal_um:g}"


def dose_levels(concentration_um: np.ndarray, nominal_um: tuple[float, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """Snap reported concentrations to a nominal series.

    concentration_um: float array (n,), NaN for controls.
    nominal_um: the source's nominal series; ``None`` keeps each reported value (3 significant figures).
    Returns (labels (n,) object array, None where unmatched or NaN; nominal values (n,) float, NaN there).
    """
    conc = np.asarray(concentration_um, dtype=float)
    nominal = np.full(conc.shape, np.nan)
    ok = np.isfinite(conc) & (conc > 0)
    if nominal_um is None:
        nominal[ok] = [float(f"{c:.3g}") for c in conc[ok]]
    else:
        series = np.asarray(sorted(nominal_um))
        distance = np.abs(np.log10(conc[ok, None]) - np.log10(series[None, :]))
        nearest = distance.argmin(axis=1)
        close = distance[np.arange(len(nearest)), nearest] <= DOSE_TOLERANCE_LOG10
        values = np.where(close, series[nearest], np.nan)
        nominal[ok] = values
    labels = np.array([dose_label(v) if np.isfinite(v) else None for v in nominal], dtype=object)
    return labels, nominal


def robust_standardise(meta: pd.DataFrame, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-plate robust z-scores against the plate's controls.

    meta: frame with ``plate`` and ``is_control``, row-aligned with features (n, d).
    Returns (standardised float32 (n, d), boolean (n,) mask of wells on plates with too few controls).
    """
    controls = meta["is_control"].to_numpy(bool)
    plates = meta.groupby("plate", sort=True).indices
    usable = {p: i for p, i in plates.items() if controls[i].sum() >= MIN_CONTROLS}
    if not usable:
        raise PhenoBenchError(f"no plate has {MIN_CONTROLS} control wells: cannot standardise features")
    centre, scale = {}, {}
    for plate, index in usable.items():
        ctrl = features[index[controls[index]]]
        centre[plate] = np.median(ctrl, axis=0)
        scale[plate] = MAD_TO_SD * np.median(np.abs(ctrl - centre[plate]), axis=0)
    floor = 0.1 * np.median(np.stack(list(scale.values())), axis=0)
    floor = np.where(floor > 0, floor, 1e-6)
    out = np.zeros_like(features, dtype=np.float32)
    unusable = np.ones(len(meta), dtype=bool)
    for plate, index in usable.items():
        out[index] = (features[index] - centre[plate]) / np.maximum(scale[plate], floor)
        unusable[index] = False
    return out, unusable


def shared_features(parts: list[Ingested]) -> list[str]:
    """Feature names present in every source, in the first source's order."""
    common = set.intersection(*(set(p.wells.metadata.feature_names) for p in parts))
    names = [n for n in parts[0].wells.metadata.feature_names if n in common]
    if not names:
        raise PhenoBenchError(f"sources {[p.wells.metadata.sources for p in parts]} share no feature names")
    return names


def curate(parts: list[Ingested], nominal: dict[str, tuple[float, ...] | None]) -> Curated:
    """Curate ingested sources into one wells table in the benchmark feature space.

    parts: ingested sources; nominal: source name -> nominal dose series.
    """
    names = shared_features(parts)
    excluded = [e for p in parts for e in p.excluded]
    metas, blocks = [], []
    for part in parts:
        meta = part.wells.meta.copy()
        source = part.wells.metadata.sources[0]
        columns = [part.wells.metadata.feature_names.index(n) for n in names]
        features = part.wells.features[:, columns]
        molecules = standardise_molecules(meta.loc[~meta["is_control"], "smiles"])
        treated = ~meta["is_control"]
        for raw, error in molecules["error"].dropna().items():
            ids = sorted(set(meta.loc[treated & meta["smiles"].eq(raw), "compound_id"].astype(str)))
            excluded.append({"source": source, "id": ", ".join(ids), "reason": f"{error}: {raw}"})
        looked_up = molecules.reindex(meta["smiles"].where(treated))
        meta["reported_inchikey"] = meta["inchikey"]
        for column in ("smiles", "inchikey", "scaffold"):
            meta[column] = looked_up[column].to_numpy()
        labels, nominal_um = dose_levels(meta["concentration_um"].to_numpy(), nominal[source])
        meta["dose_level"], meta["nominal_um"] = labels, nominal_um
        bad_dose = treated & meta["inchikey"].notna() & meta["dose_level"].isna()
        excluded += [
            {"source": source, "id": w, "reason": f"concentration {c!r} µM matches no nominal dose level"}
            for w, c in meta.loc[bad_dose, ["well_id", "concentration_um"]].itertuples(index=False)
        ]
        features, unusable = robust_standardise(meta, features)
        excluded += [
            {"source": source, "id": p, "reason": f"plate has fewer than {MIN_CONTROLS} control wells"}
            for p in sorted(meta.loc[unusable, "plate"].unique())
        ]
        keep = (meta["is_control"] | (meta["inchikey"].notna() & ~bad_dose)) & ~unusable
        metas.append(meta[keep.to_numpy()])
        blocks.append(features[keep.to_numpy()])
    meta = pd.concat(metas, ignore_index=True)
    metadata = WellsMetadata(sources=[p.wells.metadata.sources[0] for p in parts], feature_names=names, feature_space=FEATURE_SPACE)
    return Curated(Wells(meta, np.concatenate(blocks), metadata), excluded, parts)
