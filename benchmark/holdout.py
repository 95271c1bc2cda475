"""Hold-outs: which curated well goes to which split (:func:`assign_splits`), seeded and deterministic.

Writing the split files is :mod:`pheno_bench.split_files`; building a benchmark by name is
:func:`pheno_bench.split.build_benchmark`. Splits (``SPLITS``):

* ``unseen_dataset``: every treated well of one source that is never used for training.
* ``unseen_molecules``: whole Bemis–Murcko scaffold groups held out (an acyclic molecule is a
  group of its own), chosen in seeded random order and added only while they fit, so that the
  realised fraction of molecules is the requested one (checked within ±2 points). Groups larger
  than half the target and the spec's anchor molecules always stay in train. Every dose of a
  held-out molecule is held out.
* ``valid``: a second scaffold-grouped hold-out of the same kind, for model selection.
* ``unseen_images``: new wells of training molecules. Whole plates are held out (in seeded random
  order, a plate only if every (molecule, dose) on it keeps a well in train) until the requested
  fraction of training wells is reached; where plates cannot supply it (one plate, say) single
  replicate wells are held out instead. Dose levels missing from it are then filled with replicate
  wells. Control wells are never queries: they all stay in train.
* ``train``: the rest, controls included.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from pheno_bench.errors import PhenoBenchError
from pheno_bench.schema import SPLITS, Wells
from pheno_bench.specs import BenchmarkSpec

MOLECULE_TOLERANCE = 0.02


# --- assignment ---------------------------------------------------------------------------


def scaffold_groups(meta: pd.DataFrame) -> pd.Series:
    """The split group of each well: its scaffold, or ``acyclic:<InChIKey>`` for acyclic molecules."""
    scaffold = meta["scaffold"].fillna("")
    return scaffold.where(scaffold != "", "acyclic:" + meta["inchikey"].astype(str))


def hold_out_groups(molecules: pd.DataFrame, target: int, rng: np.random.Generator, eligible: np.ndarray) -> set[str]:
    """Pick whole groups whose molecule count adds up to ``target``.

    molecules: one row per molecule with a ``group`` column; eligible: bool per row.
    Groups are visited in random order; a group is taken if it fits in what is left of the target.
    Groups larger than half the target, or holding an ineligible molecule, are never taken.
    """
    sizes = molecules.groupby("group").size()
    blocked = set(molecules.loc[~eligible, "group"])
    order = rng.permutation(sizes.index.to_numpy())
    taken, count = set(), 0
    for group in order:
        size = sizes[group]
        if group in blocked or size > max(1, target // 2) or count + size > target:
            continue
        taken.add(group)
        count += size
        if count == target:
            break
    return taken


def hold_out_images(meta: pd.DataFrame, fraction: float, rng: np.random.Generator, *, balance_layouts: bool = False) -> np.ndarray:
    """Boolean mask of treated training wells held out as unseen images (see module docstring).

    balance_layouts: plates are visited round robin over plate layouts (:func:`hash_layout`): the
    first plate of every layout, then the second of every layout, ... (seeded order within a
    layout), so the held-out plates spread over the layouts. (A rule proportional to layout size
    was tried on cell-injury-v2 and left the layout probe above chance on unseen_images.)
    """
    pair, _ = pd.factorize(meta["inchikey"] + "@" + meta["dose_level"])
    level = meta["dose_level"].to_numpy()
    target = math.ceil(fraction * len(meta))
    remaining = np.bincount(pair)
    held = np.zeros(len(meta), dtype=bool)

    def take(index: np.ndarray) -> int:
        held[index] = True
        np.subtract.at(remaining, pair[index], 1)
        return len(index)

    n_held = 0
    plates = meta.groupby("plate", sort=True).indices
    order = rng.permutation(np.array(sorted(plates), dtype=object))
    if balance_layouts:  # round robin over plate layouts, so held-out plates spread over every layout
        layout = {p: hash_layout(meta.iloc[plates[p]]) for p in plates}
        rank = {p: sum(layout[q] == layout[p] for q in order[:i]) for i, p in enumerate(order)}
        order = np.array(sorted(order, key=lambda p: (rank[p], layout[p])), dtype=object)
    for plate in order:
        index = plates[plate]
        codes, counts = np.unique(pair[index], return_counts=True)
        if n_held + len(index) > target * 1.1 or (remaining[codes] <= counts).any():
            continue
        n_held += take(index)
        if n_held >= target:
            break
    order = rng.permutation(len(meta))
    for i in order:
        if n_held >= target:
            break
        if not held[i] and remaining[pair[i]] > 1:
            n_held += take(np.array([i]))
    for missing in sorted(set(level) - set(level[held]), key=float):
        spare = [i for i in order if not held[i] and level[i] == missing and remaining[pair[i]] > 1]
        if spare:
            take(np.array(spare[:1]))
    return held


def hash_layout(plate_meta: pd.DataFrame) -> str:
    """A plate's layout: a digest of its sorted (address, molecule, dose) triples (the plate map)."""
    address = plate_meta["well"] if "well" in plate_meta else pd.Series("", index=plate_meta.index)
    triples = sorted(zip(address.astype(str), plate_meta["inchikey"].astype(str), plate_meta["dose_level"].astype(str)))
    return hashlib.sha256(repr(triples).encode()).hexdigest()[:12]


class SplitAssignment(BaseModel):
    """Which split each well belongs to; the split invariants are validators.

    wells: frame with ``well_id``, ``split``, ``source``, ``inchikey``, ``group``, ``is_control``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    wells: pd.DataFrame
    unseen_dataset_source: str

    @model_validator(mode="after")
    def _invariants(self) -> "SplitAssignment":
        w = self.wells
        if w["well_id"].duplicated().any():
            raise ValueError(f"wells in two splits: {w.loc[w['well_id'].duplicated(), 'well_id'].head(3).tolist()}")
        if unknown := set(w["split"]) - set(SPLITS):
            raise ValueError(f"unknown splits {sorted(unknown)}")
        treated = w[~w["is_control"]]
        for split in SPLITS:
            if not (treated["split"] == split).any():
                raise ValueError(f"split {split} is empty")
        if (w["is_control"] & (w["split"] != "train")).any():
            raise ValueError("control wells outside train")
        by = {s: treated[treated["split"] == s] for s in SPLITS}
        seen_groups = set(by["train"]["group"]) | set(by["valid"]["group"])
        if leaked := set(by["unseen_molecules"]["group"]) & seen_groups:
            raise ValueError(f"unseen_molecules scaffolds also in train/valid: {sorted(leaked)[:3]}")
        if leaked := set(by["valid"]["group"]) & set(by["train"]["group"]):
            raise ValueError(f"valid scaffolds also in train: {sorted(leaked)[:3]}")
        if self.unseen_dataset_source in set(w.loc[w["split"] != "unseen_dataset", "source"]):
            raise ValueError(f"unseen_dataset source {self.unseen_dataset_source} used outside unseen_dataset")
        if set(by["unseen_dataset"]["source"]) != {self.unseen_dataset_source}:
            raise ValueError("unseen_dataset holds wells of other sources")
        if missing := set(by["unseen_images"]["inchikey"]) - set(by["train"]["inchikey"]):
            raise ValueError(f"unseen_images molecules not in train: {sorted(missing)[:3]}")
        return self


def check_holdout_room(meta: pd.DataFrame, spec: BenchmarkSpec) -> None:
    """Stop early (before activity) when molecules shared with the unseen dataset leave too few to hold out.

    A molecule of the unseen-dataset source is never held out as ``valid`` (nor drawn as
    ``unseen_molecules`` without folds): it is already seen in ``unseen_dataset``. When most molecules
    of the other sources are also in the unseen dataset, the hold-outs cannot reach their frozen
    fractions; this says so, naming the cause, instead of a fraction error after the activity step.
    meta: the curated wells' metadata (``source``, ``is_control``, ``inchikey``).
    """
    treated = ~meta["is_control"].astype(bool)
    dataset = meta["source"] == spec.unseen_dataset_source
    main = set(meta.loc[treated & ~dataset, "inchikey"].dropna())
    if not main or not dataset.any():
        return
    shared = sorted(main & set(meta.loc[treated & dataset, "inchikey"].dropna()))
    free = len(main - set(shared) - set(spec.anchor_molecules))
    if spec.folds:
        needed, available, what = spec.valid_fraction - MOLECULE_TOLERANCE, free * (1 - 1 / spec.folds), f"valid ({spec.valid_fraction:.0%} of molecules, once each fold's unseen molecules are out)"
    else:
        needed = spec.unseen_molecules_fraction + spec.valid_fraction - 2 * MOLECULE_TOLERANCE
        available, what = free, f"unseen_molecules and valid ({spec.unseen_molecules_fraction:.0%} + {spec.valid_fraction:.0%} of molecules)"
    if shared and available < needed * len(main):
        raise PhenoBenchError(
            f"benchmark {spec.name}: {len(shared)} of the {len(main)} molecules of its other sources are also in the unseen-dataset "
            f"source {spec.unseen_dataset_source} (e.g. {shared[0]}), and such a molecule is never held out (it is seen in "
            f"unseen_dataset); the {free} others cannot fill {what}. The fractions are not the problem: the unseen dataset must "
            "share few molecules with the other sources (hold out another source or experiment, or report it if the spec is frozen)"
        )


def assign_splits(
    wells: Wells, spec: BenchmarkSpec, *, unseen_groups: set[str] | None = None, rng: np.random.Generator | None = None,
    balance_layouts: bool = False,
) -> SplitAssignment:
    """Assign every curated well to a split, following the module docstring's rules.

    unseen_groups: the scaffold groups of ``unseen_molecules``, fixed by the caller (a
    cross-validation fold, :mod:`pheno_bench.crossval`) instead of drawn; rng: the generator
    (default ``default_rng(spec.seed)``); balance_layouts: hold out unseen_images plates so that
    every plate layout keeps plates in train (see :func:`hold_out_images`).
    """
    rng = np.random.default_rng(spec.seed) if rng is None else rng
    meta = wells.meta.assign(group=scaffold_groups(wells.meta))
    split = pd.Series("train", index=meta.index, dtype=object)
    treated = ~meta["is_control"]
    dataset = meta["source"] == spec.unseen_dataset_source
    if not dataset.any():
        raise PhenoBenchError(f"benchmark {spec.name}: source {spec.unseen_dataset_source} has no wells")
    split[dataset] = "unseen_dataset"
    split[dataset & meta["is_control"]] = "excluded"

    main = treated & ~dataset
    molecules = meta.loc[main, ["inchikey", "group"]].drop_duplicates("inchikey").sort_values("inchikey", ignore_index=True)
    if absent := sorted(set(spec.anchor_molecules) - set(molecules["inchikey"])):
        raise PhenoBenchError(f"benchmark {spec.name}: anchor molecules {absent} are not among its curated molecules")
    eligible = ~molecules["inchikey"].isin(spec.anchor_molecules).to_numpy()
    for name, fraction in (("unseen_molecules", spec.unseen_molecules_fraction), ("valid", spec.valid_fraction)):
        free = eligible & ~molecules["inchikey"].isin(meta.loc[split != "train", "inchikey"]).to_numpy()
        if name == "unseen_molecules" and unseen_groups is not None:
            split[main & meta["group"].isin(unseen_groups)] = name
            continue
        target = round(fraction * len(molecules))
        groups = hold_out_groups(molecules, target, rng, free)
        realised = molecules["group"].isin(groups).sum() / len(molecules)
        if abs(realised - fraction) > MOLECULE_TOLERANCE:
            withheld = int((eligible & molecules["inchikey"].isin(meta.loc[dataset, "inchikey"]).to_numpy()).sum())
            cause = (f"{withheld} of its {len(molecules)} molecules are also in the unseen-dataset source {spec.unseen_dataset_source} "
                     "and are never held out; the unseen dataset must share few molecules with the other sources"
                     if withheld and realised < fraction else "the scaffold groups cannot be balanced to the frozen fraction (report it)")
            raise PhenoBenchError(f"benchmark {spec.name}: {name} holds {realised:.1%} of molecules, requested {fraction:.0%} "
                                  f"(±{MOLECULE_TOLERANCE:.0%}): {cause}")
        split[main & meta["group"].isin(groups)] = name

    in_train = main & (split == "train")
    held = hold_out_images(meta[in_train].reset_index(drop=True), spec.unseen_images_fraction, rng, balance_layouts=balance_layouts)
    split[np.flatnonzero(in_train)[held]] = "unseen_images"
    meta["split"] = split
    # controls of the unseen source have no role: they are only used to standardise its features
    meta = meta[meta["split"] != "excluded"]
    return SplitAssignment(wells=meta[["well_id", "split", "source", "inchikey", "group", "is_control"]].reset_index(drop=True), unseen_dataset_source=spec.unseen_dataset_source)
