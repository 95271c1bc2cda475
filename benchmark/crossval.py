"""Scaffold cross-validation: a curated wells table -> K frozen fold benchmarks and a fold set.

Rules (``cell-injury-v2``; the spec's ``folds`` = K):

* **Folds.** Every non-anchor molecule of the primary sources (all but ``unseen_dataset_source``)
  is in ``unseen_molecules`` of exactly one fold. Whole Bemis–Murcko groups move together (an
  acyclic molecule is a group of its own, never lumped with other acyclic molecules). Groups are
  dealt largest first, in seeded random order within a size, to the fold with the fewest
  molecules; a seeded local search then moves and swaps groups between folds to balance the
  share of active conditions, never letting the molecule counts of two folds differ by more
  than ``MOLECULE_SPREAD``. :class:`FoldAssignment` validates every invariant.
* **Each fold** is a complete benchmark (:func:`pheno_bench.holdout.assign_splits` with its
  unseen_molecules fixed): valid is a scaffold-grouped hold-out of the remaining molecules,
  unseen_images whole plates of training molecules (round robin over plate layouts), unseen_dataset
  the held-out source, the same in every fold.
* **Layout correction** (spec ``layout_correction``): applied to the features written to the
  files only; activity is computed on the curated features, where its null is calibrated.
* **Labels.** Activity is per condition (molecule, dose, *spec.condition, e.g. time). The labels
  in ``wells/train`` and ``wells/valid`` are computed from the fold's train and valid wells (and the
  controls) only; the labels of test queries from all wells of the source (their own condition's
  label), documented in the fold manifest under ``activity``. :func:`check_no_test_wells_in_labels`
  verifies that no test well entered a training label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from pheno_bench.activity import activity_table
from pheno_bench.cards import write_card
from pheno_bench.curate import Curated, curate
from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import FoldEntry, FoldSet, fold_dir, write_fold_set
from pheno_bench.holdout import assign_splits, check_holdout_room, scaffold_groups
from pheno_bench.io import staged_folder, write_text
from pheno_bench.layout import correct
from pheno_bench.registry import register
from pheno_bench.report import composition_markdown
from pheno_bench.schema import TEST_SPLITS, Wells
from pheno_bench.sources import get_source
from pheno_bench.specs import BenchmarkSpec
from pheno_bench.split_files import ANSWER_COLUMNS, WELL_FILE_COLUMNS, label_wells, write_splits

MOLECULE_SPREAD = 2
#: Each fold's share of active conditions among its unseen molecules' testable conditions stays
#: within this distance of the pooled share.
ACTIVE_TOLERANCE = 0.05
SEARCH_STEPS = 4_000
EXTRA_WELL_COLUMNS = ["time_h", "condition_id", "address", "cell_count"]
EXTRA_ANSWER_COLUMNS = ["time_h", "condition_id", "address", "cell_count", "is_anchor"]


# --- fold assignment ----------------------------------------------------------------------


class FoldAssignment(BaseModel):
    """Which fold holds each molecule out; the fold invariants are validators.

    molecules: one row per molecule of the primary sources: ``inchikey``, ``group``, ``anchor``
    (bool), ``fold`` (int, -1 for anchors), ``active`` and ``testable`` (condition counts).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    molecules: pd.DataFrame
    k: int

    @model_validator(mode="after")
    def _invariants(self) -> "FoldAssignment":
        m = self.molecules
        if m["inchikey"].duplicated().any():
            raise ValueError(f"molecules listed twice: {m.loc[m['inchikey'].duplicated(), 'inchikey'].head(3).tolist()}")
        free = m[~m["anchor"]]
        if (m.loc[m["anchor"], "fold"] != -1).any():
            raise ValueError("an anchor molecule is unseen in a fold")
        if bad := free.loc[~free["fold"].between(0, self.k - 1), "inchikey"].tolist():
            raise ValueError(f"molecules unseen in no fold: {bad[:3]}")
        folds_of_group = free.groupby("group")["fold"].nunique()
        if split_groups := folds_of_group[folds_of_group > 1].index.tolist():
            raise ValueError(f"scaffold groups in two folds' unseen_molecules: {split_groups[:3]}")
        if blocked := set(free["group"]) & set(m.loc[m["anchor"], "group"]):
            raise ValueError(f"scaffold groups of anchors also unseen: {sorted(blocked)[:3]}")
        counts = free["fold"].value_counts().reindex(range(self.k), fill_value=0)
        if counts.max() - counts.min() > MOLECULE_SPREAD:
            raise ValueError(f"folds unbalanced in molecules: {counts.tolist()} (allowed spread {MOLECULE_SPREAD})")
        fractions = active_fractions(free, self.k)
        pooled = free["active"].sum() / max(free["testable"].sum(), 1)
        if (np.abs(fractions - pooled) > ACTIVE_TOLERANCE).any():
            raise ValueError(f"folds unbalanced in active fraction: {np.round(fractions, 3).tolist()} vs pooled {pooled:.3f} (±{ACTIVE_TOLERANCE})")
        return self

    def unseen(self, k: int) -> set[str]:
        """The scaffold groups unseen in fold ``k``."""
        return set(self.molecules.loc[self.molecules["fold"] == k, "group"])


def active_fractions(molecules: pd.DataFrame, k: int) -> np.ndarray:
    """Per fold: active conditions / testable conditions of its unseen molecules, shape (k,)."""
    sums = molecules[molecules["fold"] >= 0].groupby("fold")[["active", "testable"]].sum().reindex(range(k), fill_value=0)
    return (sums["active"] / sums["testable"].clip(lower=1)).to_numpy(float)


def assign_folds(molecules: pd.DataFrame, k: int, rng: np.random.Generator) -> FoldAssignment:
    """Deal scaffold groups to ``k`` folds (module docstring), then validate.

    molecules: one row per molecule: ``inchikey``, ``group``, ``anchor``, ``active``, ``testable``.
    """
    molecules = molecules.sort_values("inchikey", ignore_index=True).copy()
    molecules["fold"] = -1
    free = molecules[~molecules["anchor"] & ~molecules["group"].isin(molecules.loc[molecules["anchor"], "group"])]
    groups = free.groupby("group", sort=True).agg(size=("inchikey", "size"), active=("active", "sum"), testable=("testable", "sum"))
    order = groups.index.to_numpy()[rng.permutation(len(groups))]
    order = sorted(order, key=lambda g: -groups.at[g, "size"])  # stable: random within a size
    size, active, testable = (groups[c].reindex(order).to_numpy(float) for c in ("size", "active", "testable"))
    fold = np.full(len(order), -1)
    count, act, test = np.zeros(k), np.zeros(k), np.zeros(k)
    for i in range(len(order)):
        f = int(np.argmin(count + 1e-3 * rng.random(k)))
        fold[i] = f
        count[f] += size[i]
        act[f] += active[i]
        test[f] += testable[i]
    pooled = active.sum() / max(testable.sum(), 1)

    def cost(a, t, c):
        if c.max() - c.min() > MOLECULE_SPREAD:
            return np.inf
        return float(np.sum((a / np.maximum(t, 1) - pooled) ** 2))

    best = cost(act, test, count)
    for _ in range(SEARCH_STEPS):
        i, j = rng.integers(len(order), size=2)
        a, t, c = act.copy(), test.copy(), count.copy()
        fi = fold[i]
        if rng.random() < 0.5 or fold[j] == fi:  # move i to another fold
            target = int(rng.integers(k - 1))
            target += target >= fi
            moves = [(i, fi, target)]
        else:  # swap i and j
            moves = [(i, fi, fold[j]), (j, fold[j], fi)]
        for g, src, dst in moves:
            a[src] -= active[g]; t[src] -= testable[g]; c[src] -= size[g]  # noqa: E702
            a[dst] += active[g]; t[dst] += testable[g]; c[dst] += size[g]  # noqa: E702
        new = cost(a, t, c)
        if new < best:
            best, act, test, count = new, a, t, c
            for g, _, dst in moves:
                fold[g] = dst
    molecules.loc[molecules["group"].isin(order), "fold"] = molecules["group"].map(dict(zip(order, fold)))
    try:
        return FoldAssignment(molecules=molecules, k=k)
    except ValidationError as exc:
        raise PhenoBenchError(f"cannot deal the molecules into {k} balanced scaffold folds: {exc.errors()[0]['msg']}") from None


# --- labels -------------------------------------------------------------------------------


def condition_id(meta: pd.DataFrame, condition: tuple[str, ...]) -> pd.Series:
    """``<InChIKey>@<dose>@<value>h`` for time (``@<column>=<value>`` for other condition columns); None for controls."""
    out = meta["inchikey"] + "@" + meta["dose_level"]
    for column in condition:
        values = meta[column]
        text = values.map(lambda v: "na" if pd.isna(v) else f"{v:g}") if column == "time_h" else values.astype(str)
        out = out + ("@" + text + "h" if column == "time_h" else "@" + column + "=" + text)
    return out.where(~meta["is_control"])


def check_no_test_wells_in_labels(label_wells: set[str], split_of: pd.Series) -> None:
    """Raise PhenoBenchError if a well of a test split entered the activity labels of train/valid.

    label_wells: well ids the training activity table was computed from; split_of: well id -> split.
    """
    leaked = sorted(w for w in label_wells if split_of.get(w) in TEST_SPLITS)
    if leaked:
        raise PhenoBenchError(f"training activity labels computed with {len(leaked)} test wells, e.g. {leaked[:3]}")


def _activity(wells, spec: BenchmarkSpec, *, check: bool = True) -> pd.DataFrame:
    return activity_table(
        wells, n_permutations=spec.activity_permutations, seed=spec.seed, threshold=spec.activity_threshold,
        condition=tuple(spec.condition or ()), null_addresses=spec.activity_null_addresses or "shared", check_testable=check,
        reference_controls=spec.activity_reference_controls,
    )


def molecule_table(curated: Curated, activity: pd.DataFrame, spec: BenchmarkSpec) -> pd.DataFrame:
    """One row per treated molecule of the primary sources: inchikey, group, anchor, active, testable (condition counts)."""
    meta = curated.wells.meta
    main = meta[~meta["is_control"] & (meta["source"] != spec.unseen_dataset_source)]
    molecules = main.assign(group=scaffold_groups(main))[["inchikey", "group"]].drop_duplicates("inchikey")
    if absent := sorted(set(spec.anchor_molecules) - set(molecules["inchikey"])):
        raise PhenoBenchError(f"benchmark {spec.name}: anchor molecules {absent} are not among its curated molecules")
    per = activity[activity["source"] != spec.unseen_dataset_source].groupby("inchikey").agg(
        active=("active", "sum"), testable=("p_value", lambda p: int(p.notna().sum()))
    )
    molecules = molecules.join(per, on="inchikey").fillna({"active": 0, "testable": 0})
    molecules["anchor"] = molecules["inchikey"].isin(spec.anchor_molecules)
    return molecules.astype({"active": int, "testable": int}).sort_values("inchikey", ignore_index=True)


# --- composition --------------------------------------------------------------------------


def composition(meta: pd.DataFrame, anchors: set[str]) -> dict:
    """Per split of one fold: queries, molecules, scaffolds, dose levels, conditions, active conditions, anchors."""
    out = {}
    for split, part in meta[~meta["is_control"]].groupby("split", sort=False):
        conditions = part.drop_duplicates("condition_id")
        out[split] = {
            "wells": len(part),
            "molecules": int(part["inchikey"].nunique()),
            "scaffolds": int(part["group"].nunique()),
            "dose_levels": int(part["dose_level"].nunique()),
            "conditions": len(conditions),
            "testable_conditions": int(conditions["p_value"].notna().sum()),
            "active_conditions": int(conditions["active"].astype(bool).sum()),
            "active_wells": int(part["active"].astype(bool).sum()),
            "anchor_molecules": int(part.loc[part["inchikey"].isin(anchors), "inchikey"].nunique()),
            "anchor_wells": int(part["inchikey"].isin(anchors).sum()),
            "molecules_in_train": int(part.loc[part["in_train"], "inchikey"].nunique()) if split in TEST_SPLITS else None,
            "times_h": sorted({float(t) for t in part["time_h"].dropna()}) if "time_h" in part else [],
        }
    return out


def pooled_composition(per_fold: list[dict], assignment: FoldAssignment) -> dict:
    """unseen_molecules pooled over folds (each molecule once) and the other splits summed / per fold."""
    m = assignment.molecules
    free = m[~m["anchor"]]
    fractions = active_fractions(free, assignment.k)
    pooled = {
        "unseen_molecules": {
            key: sum(f["unseen_molecules"][key] for f in per_fold)
            for key in ("wells", "molecules", "scaffolds", "conditions", "testable_conditions", "active_conditions", "active_wells", "anchor_wells")
        },
        "molecules_per_fold": free["fold"].value_counts().sort_index().tolist(),
        "active_fraction_per_fold": [round(float(x), 4) for x in fractions],
        "active_fraction_pooled": round(float(free["active"].sum() / max(free["testable"].sum(), 1)), 4),
        "anchors": int(m["anchor"].sum()),
        "molecules": len(m),
        "scaffold_groups": int(m["group"].nunique()),
    }
    for split in ("unseen_images", "unseen_dataset", "valid", "train"):
        pooled[split] = {key: [f[split][key] for f in per_fold] for key in ("wells", "molecules", "conditions", "active_conditions", "anchor_wells")}
    return pooled


def non_cytotoxic(labelled: pd.DataFrame, threshold: float) -> np.ndarray:
    """(n_wells,) bool: the well's condition has a mean relative cell count of at least ``threshold``
    over every treated well of the build with that condition in the same source (all splits, as the test activity
    labels use all wells; :func:`pheno_bench.cytotoxicity.non_cytotoxic_queries` reads the same from
    a built benchmark). A condition without cell counts (the LINCS wells) is False: not known to be
    non-cytotoxic. Controls: False."""
    treated = ~labelled["is_control"].to_numpy(bool)
    keys = ["source", "condition_id"]
    mean = labelled.loc[treated].groupby(keys)["cell_count"].mean().rename("mean_cell_count")
    count = labelled[keys].merge(mean, left_on=keys, right_index=True, how="left")["mean_cell_count"].to_numpy(dtype=float)
    return treated & (np.nan_to_num(count, nan=-np.inf) >= threshold - 1e-9)  # a mean of 0.8 summed in any order counts


# --- build --------------------------------------------------------------------------------


def build_fold_set(spec: BenchmarkSpec, *, out: Path, data_root=None, progress=None, seeded: bool = False) -> Path:
    """Build the K folds of ``spec`` and their fold-set manifest in ``out`` (replaced only when complete)."""
    log = progress.print if progress is not None else (lambda *a, **k: None)
    parts = []
    for cfg in spec.sources:
        parts.append(get_source(cfg.name).load(data_root, **cfg.options))
        log(parts[-1].summary())
    curated = curate(parts, {p.wells.metadata.sources[0]: get_source(c.name).nominal_doses_um for c, p in zip(spec.sources, parts)})
    meta = curated.wells.meta
    condition = tuple(spec.condition or ())
    for column in (*condition, "time_h", "well", "cell_count"):
        if column not in meta:
            meta[column] = np.nan if column != "well" else None
    log(f"curated: {len(curated.wells)} wells, {len(curated.wells.metadata.feature_names)} shared features, {len(curated.excluded)} exclusions")
    check_holdout_room(meta, spec)  # issue 15: the real cause, before the activity step
    all_activity = _activity(curated.wells, spec)
    log(f"activity (all wells, test labels): {int(all_activity['active'].sum())} of {len(all_activity)} conditions active")
    molecules = molecule_table(curated, all_activity, spec)
    assignment = assign_folds(molecules, spec.folds, np.random.default_rng([spec.seed, 1]))
    anchors = set(spec.anchor_molecules)
    keys = ("time_h",) if "time_h" in condition else condition
    # activity (above and per fold) is computed on the curated features, where its control
    # pseudo-treatment null is calibrated; the well-position correction changes only the features
    # that models see (the written files), see pheno_bench.layout and site/activity.md
    uncorrected = curated.wells
    if spec.layout_correction:
        corrected = Wells(meta, correct(curated.wells, spec.layout_correction), curated.wells.metadata)
        curated = Curated(corrected, curated.excluded, curated.sources)

    entries, per_fold, checks = [], [], {}
    with staged_folder(out) as staging:
        for k in range(spec.folds):
            try:
                split = assign_splits(curated.wells, spec, unseen_groups=assignment.unseen(k), rng=np.random.default_rng([spec.seed, 2, k]), balance_layouts=True)
            except ValidationError as exc:
                raise PhenoBenchError(f"benchmark {spec.name} fold {k}: split invariant violated: {exc}") from None
            split_of = split.wells.set_index("well_id")["split"]
            main = (meta["source"] != spec.unseen_dataset_source).to_numpy()
            seen = meta["well_id"].map(split_of).isin(["train", "valid"]).to_numpy()
            used = uncorrected.take(main & (meta["is_control"].to_numpy(bool) | seen))
            check_no_test_wells_in_labels(set(used.meta["well_id"]), split_of)
            train_activity = _activity(used, spec)
            labelled = label_wells(curated, all_activity, split, keys=keys)
            fit = label_wells(curated, train_activity, split, keys=keys)
            own = labelled["split"].isin(["train", "valid"]).to_numpy()
            for column in ("map", "p_value", "q_value", "active", "n_wells"):
                labelled.loc[own, column] = fit.loc[own, column].to_numpy()
            labelled["condition_id"] = condition_id(labelled, condition)
            labelled["address"] = labelled["well"]
            labelled["is_anchor"] = labelled["inchikey"].isin(anchors)
            answer_columns = ANSWER_COLUMNS + EXTRA_ANSWER_COLUMNS
            if spec.non_cytotoxic_cell_count is not None:
                labelled["non_cytotoxic"] = non_cytotoxic(labelled, spec.non_cytotoxic_cell_count)
                answer_columns = answer_columns + ["non_cytotoxic"]
            unseen = set(labelled.loc[(labelled["split"] == "unseen_molecules") & ~labelled["is_control"], "inchikey"])
            expected = set(assignment.molecules.loc[assignment.molecules["fold"] == k, "inchikey"])
            if unseen != expected:
                raise PhenoBenchError(f"fold {k}: unseen_molecules differ from the fold assignment ({len(unseen ^ expected)} molecules)")
            folder = staging / fold_dir(k)
            folder.mkdir()
            procedure = {"train_valid": train_activity.attrs["procedure"], "test": all_activity.attrs["procedure"],
                         "labels": "train/valid wells: activity from the fold's train+valid wells and controls only; test queries: activity from all wells of their source (their own condition)"}
            manifest = write_splits(
                labelled, curated, spec, folder, activity=procedure, fold=k,
                well_columns=WELL_FILE_COLUMNS + EXTRA_WELL_COLUMNS, answer_columns=answer_columns,
            )
            write_card(manifest, folder)
            per_fold.append(composition(labelled, anchors))
            entries.append(FoldEntry(fold=k, path=fold_dir(k), fingerprint=manifest.fingerprint))
            checks[fold_dir(k)] = {"label_wells": len(used), "test_wells_in_labels": 0}
            log(f"fold {k}: {manifest.stats('unseen_molecules').molecules} unseen molecules, fingerprint {manifest.fingerprint[:12]}")
        checks.update({
            "every_molecule_unseen_once": True, "scaffold_disjoint": True,
            "molecule_spread": int(np.ptp(assignment.molecules.loc[~assignment.molecules["anchor"], "fold"].value_counts().to_numpy())),
            "active_tolerance": ACTIVE_TOLERANCE,
        })
        fold_set = FoldSet(
            name=spec.name, version=spec.version, seed=spec.seed, spec=spec.manifest_dict(), primary_metric=spec.primary_metric,
            folds=entries, anchors=sorted(anchors),
            composition={"pooled": pooled_composition(per_fold, assignment), "folds": per_fold,
                         "molecules": assignment.molecules[["inchikey", "group", "fold", "active", "testable"]].to_dict(orient="list")},
            checks=checks,
        )
        write_fold_set(fold_set, staging)
        write_text(fold_set_card(fold_set), staging / "README.md")
    register(out, origin="build", current=not seeded)
    return out


CARD_NOTES = {
    "cell-injury-v2": {
        "Shortcuts measured (confound probes)": (
            "Each compound of this screen sits at a fixed well address on all its plates (92.6 % of v1's train "
            "pairs at one address). Features are corrected for well position by a row + column model fitted on "
            "control wells only (`layout_correction: rowcol-controls`). Layout and cytotoxicity probe numbers, "
            "before and after the correction, with bootstrap intervals, are on the documentation's data page "
            "(site/data.md, 'cell-injury-v2 data card'): the layout probe is within its interval of chance on "
            "unseen_images after the correction but stays above chance on unseen_molecules, and the cytotoxicity "
            "probe stays far above chance on unseen_images: this data cannot remove either.\n\n"
            "Measured on the build with fingerprint 0e33c5b17c81… (5 folds pooled by the scorer, all non-anchor queries, "
            "micro top-1% / top-5% in %, 95% interval over molecules, 500 resamples; before = no position correction):\n\n"
            "| probe | split | top-1% before | top-1% after | top-5% before | top-5% after | chance |\n"
            "|---|---|---|---|---|---|---|\n"
            "| layout | unseen_images | 1.1 [0.6, 1.8] | 0.9 [0.4, 1.3] | 7.5 [5.8, 9.8] | 6.5 [4.9, 8.5] | 1.1 / 5.1 |\n"
            "| layout | unseen_molecules | 3.1 [1.3, 4.8] | 2.7 [1.2, 4.3] | 10.7 [7.5, 13.9] | 11.4 [8.3, 14.5] | 1.2 / 5.4 |\n"
            "| cytotoxicity | unseen_images | 7.1 [5.5, 8.9] | 7.1 [5.5, 8.9] | 25.9 [21.3, 30.7] | 25.8 [21.2, 30.6] | 1.1 / 5.1 |\n"
            "| cytotoxicity | unseen_molecules | 2.0 [1.3, 2.9] | 2.0 [1.2, 2.9] | 10.5 [8.8, 12.5] | 9.4 [7.5, 11.5] | 1.2 / 5.4 |\n"
            "| centroid (compound signal) | unseen_images | 47.0 [42.2, 52.1] | 46.3 [41.6, 51.6] | 71.4 [67.5, 75.7] | 69.1 [65.0, 73.8] | 1.1 / 5.1 |"
        ),
        "unseen_dataset (LINCS plate)": (
            "One well per (molecule, dose) and 24 DMSO wells on one plate: 276 of 278 conditions are single wells, "
            "untestable by the replicate statistic; a single-well call against 24 leave-one-out controls has a "
            "smallest attainable p-value of 1/25 = 0.04, so Benjamini-Hochberg at 0.05 over 278 conditions calls none "
            "active unless more than 222 of them reach that minimum: too coarse to define an active subset. The active subset of unseen_dataset is therefore too few to score (2 conditions); "
            "its molecules also in train are flagged `in_train` and counted in the split table."
        ),
        "Anchors": "The four positive controls are in train in every fold; their unseen_images wells are flagged `is_anchor` and reported apart.",
    }
}


def fold_set_card(fold_set: FoldSet) -> str:
    """The data card of a fold set (markdown): composition pooled over folds and per fold, then the notes."""
    text = composition_markdown(fold_set)
    for title, body in CARD_NOTES.get(fold_set.name, {}).items():
        text += f"\n## {title}\n\n{body}\n"
    return text
