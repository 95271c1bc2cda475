"""Activity: is a (molecule, dose) pair's phenotype distinguishable from its plates' controls?

Statistic (copairs; Kalinin et al., Nat. Commun. 2025): for every treated well (the *query*),
rank by cosine similarity its *positives*, the other wells of the same (source, molecule, dose),
and its *negatives*, the control wells on the query's own plate; the pair's statistic is the mean
average precision (mAP) over its wells with copairs' rank-permutation p-value for it.

Null: copairs' permutation null assumes positives and negatives are exchangeable, which the
real layout breaks (curation centres each plate on its few controls; replicates share a well
address across plates, and addresses carry their own effects). So a pair's p-value is taken
against *control pseudo-treatments*: control wells shaped like real pairs (the plates of a real
pair, one well address shared across them), scored by the same statistic after their plates
are re-standardised against the remaining controls. Real plates are scored the same way, one
random control per plate left out, so that real and pseudo queries face references of the same
size. BH q-values are computed within each source. See ``site/activity.md``.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from copairs import map as copairs_map
from copairs.matching import UnpairedException, assign_reference_index
from pydantic import BaseModel, Field
from scipy.stats import false_discovery_control

from pheno_bench.curate import MIN_CONTROLS, robust_standardise
from pheno_bench.schema import Wells

PAIR_KEY = ["source", "inchikey", "dose_level"]
ADDRESS_COLUMN = "well"
CONTROL = "control"
COLUMNS = [*PAIR_KEY, "n_wells", "map", "p_value", "q_value", "active"]


class ActivityProcedure(BaseModel):
    """What the manifest records about how ``active`` was decided."""

    method: str = "copairs mAP of replicates against same-plate controls, p-value against control pseudo-treatments"
    version: str = "1"
    n_permutations: int = Field(description="copairs rank-permutation null size per configuration")
    n_pseudo: int = Field(description="control pseudo-treatments forming each source's null")
    seed: int
    threshold: float = Field(description="a pair is active when its BH q-value (within source) is below this")
    untestable: str = "pairs with one well, or no well with a same-plate control: map, p_value, q_value NaN; active False"
    sources: dict[str, dict] = Field(default_factory=dict, description="per source: pairs, testable, active, pseudo")


def activity_table(
    wells: Wells, *, n_permutations: int = 10_000, n_pseudo: int = 2_000, seed: int = 0, threshold: float = 0.05
) -> pd.DataFrame:
    """One row per treated (source, inchikey, dose_level) pair of ``wells``.

    n_permutations: copairs' rank-permutation null size; n_pseudo: control pseudo-treatments per
    source forming the null (smallest p-value 1 / (n_pseudo + 1)); seed: fixes both and the
    control left out per plate. Columns: source, inchikey, dose_level, n_wells, map (mean average precision), p_value,
    q_value (Benjamini–Hochberg within source), active (q_value < threshold). Untestable pairs
    (one well, or no well sharing a plate with a control) have NaN map/p/q and active False.
    ``attrs["procedure"]`` holds the :class:`ActivityProcedure` as a dict.
    """
    procedure = ActivityProcedure(n_permutations=n_permutations, n_pseudo=n_pseudo, seed=seed, threshold=threshold)
    parts = []
    for source, meta, features in _by_source(wells):
        pairs, group_of_well = _pairs(meta)
        null = pseudo_treatments(meta, features, n=n_pseudo, rng=np.random.default_rng([seed, 0]))
        real_problem = _drop_one_control(meta.assign(group=group_of_well), features, np.random.default_rng([seed, 2]))
        scored = _score([real_problem, null.problem], n_permutations, seed)
        real = scored.reindex(pairs.index)
        pairs["map"] = real["map"].to_numpy()
        pairs["p_value"] = null_p_values(real, scored.reindex(null.groups.index))
        pairs["q_value"] = _bh(pairs["p_value"].to_numpy())
        pairs["active"] = pairs["q_value"].to_numpy() < threshold
        procedure.sources[source] = {
            "pairs": len(pairs),
            "testable": int(pairs["p_value"].notna().sum()),
            "active": int(pairs["active"].sum()),
            "pseudo": len(null.groups),
        }
        parts.append(pairs.assign(source=source))
    table = pd.concat(parts, ignore_index=True)[COLUMNS] if parts else pd.DataFrame(columns=COLUMNS)
    table.attrs["procedure"] = procedure.model_dump()
    return table


def calibrate(
    wells: Wells, *, n_pseudo: int = 1_000, n_null: int = 2_000, n_permutations: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """p-values of held-out control pseudo-treatments under the procedure of :func:`activity_table`.

    ``n_pseudo`` pseudo-treatments per source are drawn independently of the ``n_null`` that form
    the null (as in ``activity_table`` with the same seed); where wells have a ``well`` address,
    each is compared only with null pseudo-treatments at other addresses, as real pairs are.
    Under a calibrated procedure the p-values are uniform. Columns: source, n_wells, address,
    map, copairs_p (copairs' own permutation p-value, for comparison), p_value.
    """
    parts = []
    for source, meta, features in _by_source(wells):
        null = pseudo_treatments(meta, features, n=n_null, rng=np.random.default_rng([seed, 0]))
        held = pseudo_treatments(meta, features, n=n_pseudo, rng=np.random.default_rng([seed, 1]), prefix="held")
        scored = _score([null.problem, held.problem], n_permutations, seed)
        null_stats, held_stats = scored.reindex(null.groups.index), scored.reindex(held.groups.index)
        p = pd.Series(np.nan, index=held.groups.index)
        for address, group in held.groups.groupby("address", dropna=False).groups.items():
            other = null.groups.index if pd.isna(address) else null.groups.index[null.groups["address"] != address]
            p[group] = null_p_values(held_stats.loc[group], null_stats.loc[other])
        parts.append(held.groups.assign(source=source, map=held_stats["map"], copairs_p=held_stats["copairs_p"], p_value=p))
    return pd.concat(parts, ignore_index=True)[["source", "n_wells", "address", "map", "copairs_p", "p_value"]]


def null_p_values(observed: pd.DataFrame, null: pd.DataFrame) -> np.ndarray:
    """``(1 + #null at least as extreme) / (1 + #null)`` per observed row; NaN where untested.

    observed, null: frames with ``copairs_p`` (smaller is more extreme) and ``mnap`` (mean
    normalised AP, breaks ties in ``copairs_p``: larger is more extreme).
    """
    null = null.dropna(subset=["copairs_p"])
    if null.empty:
        return np.full(len(observed), np.nan)
    p = np.concatenate([observed["copairs_p"].to_numpy(float), null["copairs_p"].to_numpy(float)])
    s = np.concatenate([observed["mnap"].to_numpy(float), null["mnap"].to_numpy(float)])
    order = np.lexsort((-s, p))
    distinct = np.r_[True, (np.diff(p[order]) != 0) | (np.diff(s[order]) != 0)]
    rank = np.empty(len(p), dtype=np.int64)
    rank[order] = np.cumsum(distinct)
    null_rank = np.sort(rank[len(observed) :])
    exceed = np.searchsorted(null_rank, rank[: len(observed)], side="right")
    out = (1 + exceed) / (1 + len(null_rank))
    return np.where(np.isnan(p[: len(observed)]), np.nan, out)


@dataclass
class PseudoTreatments:
    """Control wells relabelled as fake treatments, ready to score.

    problem: (meta with ``plate``, ``is_control`` and ``group``, float32 features (n, d)) on
    virtual plates, one set per pseudo-treatment, re-standardised against their remaining controls.
    groups: one row per pseudo-treatment (index = its group id): ``n_wells``, ``address``
    (the shared well address, None where wells have none).
    """

    problem: tuple[pd.DataFrame, np.ndarray]
    groups: pd.DataFrame


def pseudo_treatments(
    meta: pd.DataFrame, features: np.ndarray, *, n: int, rng: np.random.Generator, prefix: str = "null"
) -> PseudoTreatments:
    """``n`` control pseudo-treatments shaped like the real pairs of one source (none if no shape fits).

    Each takes the plates of a real pair drawn at random, as many wells per plate, and on each
    plate the control well at one address shared by all of them (when ``meta`` has a ``well``
    column; other wells at random). Its plates are copied (virtual plates, one set per
    pseudo-treatment) and re-standardised against their remaining controls, of which at least
    ``MIN_CONTROLS`` must be left.
    """
    controls = np.flatnonzero(meta["is_control"].to_numpy(bool))
    by_plate = {plate: controls[rows] for plate, rows in meta.iloc[controls].groupby("plate").indices.items()}
    address = meta[ADDRESS_COLUMN].to_numpy(object) if ADDRESS_COLUMN in meta else np.full(len(meta), None)
    shapes = []
    for counts in _pairs(meta)[0]["shape"]:
        if sum(counts.values()) < 2 or any(len(by_plate.get(p, ())) - c < MIN_CONTROLS for p, c in counts.items()):
            continue
        shared = set.intersection(*(set(address[by_plate[p]]) for p in counts))
        if shared:
            shapes.append((counts, sorted(shared, key=str)))
    index, virtual, labels, groups = [], [], [], []
    for k in range(n if shapes else 0):
        counts, shared = shapes[rng.integers(len(shapes))]
        chosen = shared[rng.integers(len(shared))]
        group = f"{prefix}:{k}"
        for plate, count in counts.items():
            wells = rng.permutation(by_plate[plate])
            if chosen is not None:  # the well at the shared address first
                wells = wells[np.argsort(address[wells] != chosen, kind="stable")]
            index.append(wells)
            labels += [group] * count + [None] * (len(wells) - count)
            virtual += [f"{plate}#{group}"] * len(wells)
        groups.append((group, sum(counts.values()), chosen))
    table = pd.DataFrame(groups, columns=["group", "n_wells", "address"]).set_index("group")
    if not groups:
        return PseudoTreatments((pd.DataFrame(columns=["plate", "is_control", "group"]), features[:0]), table)
    frame = pd.DataFrame({"plate": virtual, "group": labels})
    frame["is_control"] = frame["group"].isna()
    standardised, _ = robust_standardise(frame, features[np.concatenate(index)])
    return PseudoTreatments((frame, standardised), table)


def _by_source(wells: Wells):
    """(source, meta with a fresh index, features) for each source of ``wells``, sorted by name."""
    for source, index in wells.meta.groupby("source", sort=True).indices.items():
        yield source, wells.meta.iloc[index].reset_index(drop=True), wells.features[index]


def _drop_one_control(meta: pd.DataFrame, features: np.ndarray, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """The wells less one random control per plate, re-standardised against the remaining controls.

    A pseudo-treatment's plates lose the control it takes; real plates lose one too, so that real
    and pseudo queries face references of the same size. Plates with ``MIN_CONTROLS`` controls or
    fewer lose none; wells on plates that cannot be standardised are left out.
    """
    controls = np.flatnonzero(meta["is_control"].to_numpy(bool))
    by_plate = meta.iloc[controls].groupby("plate").indices.values()
    dropped = [controls[rng.choice(rows)] for rows in by_plate if len(rows) > MIN_CONTROLS]
    keep = np.setdiff1d(np.arange(len(meta)), dropped)
    kept = meta.iloc[keep].reset_index(drop=True)
    standardised, unusable = robust_standardise(kept, features[keep])
    return kept[~unusable].reset_index(drop=True), standardised[~unusable]


def _pairs(meta: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The treated pairs of one source and each well's pair.

    Returns (frame indexed by group id with inchikey, dose_level, n_wells, shape (Counter
    plate -> wells); object array (n_wells,) of group ids, None for controls).
    """
    treated = np.flatnonzero(~meta["is_control"].to_numpy(bool))
    grouped = meta.iloc[treated].groupby(["inchikey", "dose_level"], sort=True)
    pairs = grouped.size().rename("n_wells").reset_index()
    pairs["shape"] = [Counter(plates) for _, plates in grouped["plate"]]
    pairs.index = [f"pair:{i}" for i in range(len(pairs))]
    group_of_well = np.full(len(meta), None, dtype=object)
    number = grouped.ngroup().to_numpy()  # -1 where the molecule or dose is missing: no pair
    group_of_well[treated[number >= 0]] = pairs.index.to_numpy()[number[number >= 0]]
    return pairs, group_of_well


def _score(problems: list[tuple[pd.DataFrame, np.ndarray]], n_permutations: int, seed: int) -> pd.DataFrame:
    """copairs mAP per group of wells: index = group, columns map, mnap, copairs_p.

    problems: (meta with ``plate`` and ``group`` (None for controls), features); their plates and
    groups must be distinct. Queries without a same-plate control are dropped; groups left
    without a query are absent.
    """
    meta = pd.concat([m[["plate", "group"]] for m, _ in problems], ignore_index=True)
    features = np.concatenate([f for _, f in problems]).astype(np.float32, copy=False)
    control = meta["group"].isna().to_numpy()
    meta = meta.assign(group=meta["group"].fillna(CONTROL))
    meta = assign_reference_index(meta, meta.index[control], reference_col="reference")
    empty = pd.DataFrame(columns=["map", "mnap", "copairs_p"], dtype=float)
    if not meta.loc[~control, "group"].duplicated().any():
        return empty
    try:
        ap = copairs_map.average_precision(
            meta, features, pos_sameby=["group", "reference"], pos_diffby=[], neg_sameby=["plate"],
            neg_diffby=["group", "reference"], progress_bar=False,
        )
    except UnpairedException:  # no treated well shares a plate with a control
        return empty
    ap = ap[~control & (ap["n_pos_pairs"] > 0) & (ap["n_total_pairs"] > ap["n_pos_pairs"])]
    if ap.empty:
        return empty
    with tempfile.TemporaryDirectory() as cache:  # copairs caches nulls on disk; keep runs independent
        maps = copairs_map.mean_average_precision(
            ap.reset_index(drop=True), ["group"], null_size=n_permutations, threshold=0.05, seed=seed,
            progress_bar=False, cache_dir=cache,
        )
    return maps.set_index("group").rename(
        columns={"mean_average_precision": "map", "mean_normalized_average_precision": "mnap", "p_value": "copairs_p"}
    )[["map", "mnap", "copairs_p"]]


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values over the finite entries of ``p`` (NaN stays NaN)."""
    q = np.full(len(p), np.nan)
    tested = np.isfinite(p)
    if tested.any():
        q[tested] = false_discovery_control(p[tested], method="bh")
    return q
