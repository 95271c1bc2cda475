"""RxRx3-core files written in exactly the published layout (fixtures for tests and perf/bench_rxrx3_scale.py).

``metadata_rxrx3_core.csv``: ``well_id, experiment_name, plate, address, gene, treatment, SMILES,
concentration, perturbation_type, cell_type, well_type_label``; ``well_id`` =
``<experiment>_<plate>_<address>``, plates 1..48, addresses A01..AF48 (32 rows × 48 columns);
compound experiments ``compound-NNN`` with ``EMPTY_control`` and ``CRISPR_control`` wells (blank
SMILES, concentration and gene) at randomised addresses on every plate; gene experiments
``gene-NNN`` are all ``CRISPR``. ``OpenPhenom_rxrx3_core_embeddings.parquet``: ``well_id`` then
``feature_0 … feature_383`` (float32), rows shuffled. Phenotypes: plate and experiment offsets,
noise, and a planted effect for a share of the molecules at their four highest concentrations.

Controls: ``CRISPR_control`` wells outnumber ``EMPTY_control`` wells 2:1 on every compound plate by
default, as in public counts of the published metadata (22,062 vs 10,234 wells on the compound
plates): the publisher's analysis uses EMPTY_control only, so a fixture must tell the two apart.

Quirks planted on purpose (``quirks=True``) and listed in the returned :class:`Rxrx3Fixture`: a
CXSMILES molecule (Dequalinium as published), a compound well with a blank concentration, one at
0.026 µM, a well without an embedding, an embedding without a metadata row, a byte-identical
embedding copy within a replicate group and one across two different molecules, and repeated
``well_id`` rows in the embeddings file (a treated well with three rows, an EMPTY_control well with
two; ``quirks["repeated_well_ids"]``: well_id -> rows), which the publisher's notebook averages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_FILE = "metadata_rxrx3_core.csv"
EMBEDDINGS_FILE = "OpenPhenom_rxrx3_core_embeddings.parquet"
COLUMNS = ["well_id", "experiment_name", "plate", "address", "gene", "treatment", "SMILES", "concentration", "perturbation_type", "cell_type", "well_type_label"]
DOSES = (0.0025, 0.01, 0.025, 0.1, 0.25, 1.0, 2.5, 10.0)
ROWS = [chr(65 + i) for i in range(26)] + ["AA", "AB", "AC", "AD", "AE", "AF"]
ADDRESSES = np.array([f"{r}{c:02d}" for r in ROWS for c in range(1, 49)])
N_FEATURES = 384
#: Dequalinium as the published metadata writes it (a CXSMILES extension after the SMILES).
CXSMILES = "CC1=[N+](CCCCCCCCCC[N+]2=C(C)C=C(N)C3=CC=CC=C23)C2=CC=CC=C2C(N)=C1 |c:1,13,21,29,31,35,t:16,19,23,27|"


@dataclass
class Rxrx3Fixture:
    folder: Path
    n_wells: int
    n_compound_wells: int
    n_crispr_wells: int
    quirks: dict = field(default_factory=dict)


def load_smiles(data_root: Path, n: int, *, offset: int = 0) -> list[str]:
    """``n`` real screening SMILES from molecules-moshkov2023 (distinct, ring-bearing first)."""
    smiles = pd.read_csv(data_root / "molecules-moshkov2023" / "smiles.txt")["smiles"]
    return smiles.iloc[offset : offset + n].tolist()


def write_rxrx3(
    folder: Path,
    smiles: list[str],
    *,
    experiments: dict[str, tuple] | None = None,
    replicates: int = 3,
    controls_per_plate: tuple[int, int] = (40, 80),
    crispr_wells: int = 40,
    active_share: float = 0.4,
    effect: float = 1.5,
    seed: int = 0,
    quirks: bool = True,
    n_features: int = N_FEATURES,
) -> Rxrx3Fixture:
    """Write both files into ``folder``.

    smiles: one per molecule (the last is replaced by Dequalinium's CXSMILES when ``quirks``).
    experiments: ``name -> (plates, molecules[, (empty, crispr) controls per plate])``; the molecules of each experiment are taken in
    order from ``smiles`` (experiments share none); each (molecule, dose) gets ``replicates`` wells
    on distinct plates where it can. controls_per_plate: (EMPTY_control, CRISPR_control) wells.
    """
    rng = np.random.default_rng(seed)
    experiments = experiments or {"compound-001": (4, len(smiles) - 10), "compound-002": (2, 10)}
    smiles = list(smiles)
    if quirks:
        smiles[0] = CXSMILES
    names = [f"Compound-{i:04d}" if not (quirks and i == 0) else "Dequalinium" for i in range(len(smiles))]
    parts, start = [], 0
    for expt, spec in experiments.items():
        n_plates, n_mol = spec[:2]
        empty, crispr = spec[2] if len(spec) > 2 else controls_per_plate
        mol = np.arange(start, start + n_mol)
        start += n_mol
        pair_mol = np.repeat(mol, len(DOSES) * replicates)
        pair_dose = np.tile(np.repeat(np.arange(len(DOSES)), replicates), n_mol)
        rep = np.tile(np.arange(replicates), n_mol * len(DOSES))
        offset = rng.integers(n_plates, size=n_mol * len(DOSES)).repeat(replicates)
        plate = (offset + rep) % n_plates + 1
        treated = pd.DataFrame({"experiment_name": expt, "plate": plate, "mol": pair_mol, "dose": pair_dose})
        ctrl = pd.DataFrame({
            "experiment_name": expt,
            "plate": np.repeat(np.arange(1, n_plates + 1), empty + crispr),
            "mol": -1,
            "dose": -1,
            "control": np.tile(["EMPTY_control"] * empty + ["CRISPR_control"] * crispr, n_plates),
        })
        frame = pd.concat([treated, ctrl], ignore_index=True)
        frame["address"] = ""
        for p, index in frame.groupby("plate").indices.items():
            if len(index) > len(ADDRESSES):
                raise ValueError(f"{expt} plate {p}: {len(index)} wells do not fit a 1,536-well plate")
            frame.loc[frame.index[index], "address"] = rng.choice(ADDRESSES, size=len(index), replace=False)
        parts.append(frame)
    wells = pd.concat(parts, ignore_index=True)
    is_ctrl = wells["mol"].to_numpy() < 0
    mol = wells["mol"].to_numpy()
    meta = pd.DataFrame({
        "well_id": wells["experiment_name"] + "_" + wells["plate"].astype(str) + "_" + wells["address"],
        "experiment_name": wells["experiment_name"],
        "plate": wells["plate"].astype(int),
        "address": wells["address"],
        "gene": "",
        "treatment": np.where(is_ctrl, wells.get("control", pd.Series("", index=wells.index)).fillna(""), np.array(names, dtype=object)[np.maximum(mol, 0)]),
        "SMILES": np.where(is_ctrl, "", np.array(smiles, dtype=object)[np.maximum(mol, 0)]),
        "concentration": np.where(is_ctrl, "", np.array([f"{d:g}" for d in DOSES], dtype=object)[np.maximum(wells["dose"].to_numpy(), 0)]),
        "perturbation_type": "COMPOUND",
        "cell_type": "HUVEC",
        "well_type_label": np.where(is_ctrl, "negative_control", "treatment"),
    })
    gene_plates = max(1, -(-crispr_wells // 1380))
    genes = pd.DataFrame({
        "experiment_name": [f"gene-{1 + i // 1380:03d}" for i in range(crispr_wells)],
        "plate": 1,
        "address": ADDRESSES[np.arange(crispr_wells) % len(ADDRESSES)],
    })
    guide = rng.integers(8, size=crispr_wells)
    crispr_meta = pd.DataFrame({
        "well_id": genes["experiment_name"] + "_1_" + genes["address"],
        "experiment_name": genes["experiment_name"], "plate": 1, "address": genes["address"],
        "gene": np.where(guide == 0, "EMPTY_control", [f"GENE{g}" for g in guide]),
        "treatment": np.where(guide == 0, "EMPTY_control", [f"GENE{g}_guide_{g % 3}" for g in guide]),
        "SMILES": "", "concentration": "", "perturbation_type": "CRISPR", "cell_type": "HUVEC",
        "well_type_label": np.where(guide == 0, "negative_control", "treatment"),
    })
    del gene_plates
    n_compound = len(meta)

    # phenotypes: experiment + plate offsets, noise, planted effects at the four highest doses
    x = rng.standard_normal((n_compound, n_features), dtype=np.float32)
    plate_key = (meta["experiment_name"] + "_" + meta["plate"].astype(str)).to_numpy()
    codes, uniques = pd.factorize(plate_key)
    x += (0.5 * rng.standard_normal((len(uniques), n_features), dtype=np.float32))[codes]
    n_mol = len(smiles)
    active = rng.random(n_mol) < active_share
    direction = rng.standard_normal((n_mol, n_features), dtype=np.float32)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True) / np.sqrt(n_features)
    dose = wells["dose"].to_numpy()
    hit = ~is_ctrl & active[np.maximum(mol, 0)] & (dose >= 4)
    x[hit] += effect * (dose[hit, None] - 3) / 4 * direction[mol[hit]]
    xg = rng.standard_normal((len(crispr_meta), n_features), dtype=np.float32)

    facts: dict = {}
    if quirks:
        treated_rows = np.flatnonzero(~is_ctrl)
        # a byte-identical copy within a replicate group (same treatment and dose): one well dropped
        first = treated_rows[0]
        same = np.flatnonzero((mol == mol[first]) & (dose == dose[first]))
        x[same[1]] = x[first]
        facts["duplicate_same"] = (meta.loc[first, "well_id"], meta.loc[same[1], "well_id"])
        # a byte-identical copy across molecules: both dropped
        other = treated_rows[(mol[treated_rows] != mol[first])][5]
        donor = treated_rows[(mol[treated_rows] != mol[first]) & (mol[treated_rows] != mol[other])][7]
        x[other] = x[donor]
        facts["duplicate_conflict"] = (meta.loc[donor, "well_id"], meta.loc[other, "well_id"])
        extra = []
        base = meta.iloc[treated_rows[1]].copy()
        free = np.setdiff1d(ADDRESSES, meta.loc[(meta["experiment_name"] == base["experiment_name"]) & (meta["plate"] == base["plate"]), "address"])
        for label, concentration in (("blank_concentration", ""), ("odd_concentration", "0.026")):
            row = base.copy()
            row["address"] = free[len(extra)]
            row["well_id"] = f"{row['experiment_name']}_{row['plate']}_{row['address']}"
            row["concentration"] = concentration
            extra.append(row)
            facts[label] = row["well_id"]
        meta = pd.concat([meta, pd.DataFrame(extra)], ignore_index=True)
        x = np.concatenate([x, rng.standard_normal((len(extra), n_features), dtype=np.float32)])
        facts["dequalinium_wells"] = int((meta["treatment"] == "Dequalinium").sum())
    metadata = pd.concat([meta, crispr_meta], ignore_index=True)[COLUMNS]
    features = np.concatenate([x, xg])
    ids = metadata["well_id"].to_numpy()
    keep = np.ones(len(ids), dtype=bool)
    if quirks:
        missing = np.flatnonzero(~is_ctrl)[2]
        keep[missing] = False
        facts["no_embedding"] = ids[missing]
        facts["orphan_embedding"] = "compound-009_1_Z99"
    emb_ids = list(ids[keep]) + (["compound-009_1_Z99"] if quirks else [])
    emb = features[keep]
    if quirks:
        emb = np.concatenate([emb, rng.standard_normal((1, n_features), dtype=np.float32)])
        # repeated well_id rows: the well's own row plus noisy re-measurements (3 rows for a treated well, 2 for a control)
        treated_well = ids[np.flatnonzero(~is_ctrl)[3]]
        control_well = ids[np.flatnonzero(is_ctrl & (metadata["treatment"].to_numpy()[: len(is_ctrl)] == "EMPTY_control"))[0]]
        facts["repeated_well_ids"] = {treated_well: 3, control_well: 2}
        for well, rows in facts["repeated_well_ids"].items():
            own = emb[emb_ids.index(well)]
            extra = own + 0.5 * rng.standard_normal((rows - 1, n_features), dtype=np.float32)
            emb = np.concatenate([emb, extra.astype(np.float32)])
            emb_ids += [well] * (rows - 1)
    order = rng.permutation(len(emb_ids))
    folder.mkdir(parents=True, exist_ok=True)
    metadata.to_csv(folder / METADATA_FILE, index=False)
    columns = {"well_id": pa.array(np.asarray(emb_ids, dtype=object)[order])}
    emb = emb[order]
    for j in range(n_features):
        columns[f"feature_{j}"] = pa.array(emb[:, j])
    pq.write_table(pa.table(columns), folder / EMBEDDINGS_FILE)
    facts["active_molecules"] = int(active.sum())
    return Rxrx3Fixture(folder, len(metadata), n_compound + (2 if quirks else 0), len(crispr_meta), facts)
