"""The activity statistic and its null: copairs mAP per group of wells, control pseudo-treatments.

:mod:`pheno_bench.activity` calls a (molecule, dose) condition active by comparing its mAP
(:func:`score_groups`, copairs) with the mAPs of **control pseudo-treatments**: control wells
shaped like real conditions (:func:`pseudo_treatments`, drawn from :func:`address_shapes`),
scored the same way (:func:`source_null`, or :func:`scored_source_null` in batches with fixed-size
control references), and turned into p-values (:func:`null_p_values`, :func:`max_over_addresses`).
Real plates lose one control each (:func:`drop_one_control`) so real and pseudo queries face
references of the same size. See ``site/activity.md``.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from copairs import map as copairs_map
from copairs.matching import UnpairedException, assign_reference_index

from pheno_bench.curate import MIN_CONTROLS, robust_standardise

ADDRESS_COLUMN = "well"
CONTROL = "control"
NullAddresses = Literal["shared", "match", "match-max"]
#: null_addresses values whose pseudo-treatments copy the real pair's address pattern
MATCHING = ("match", "match-max")
#: "match-max": an address enters the maximum only with at least this many null pseudo-treatments
MIN_PSEUDO_PER_ADDRESS = 50
#: pseudo-treatments built and scored together when ``reference_controls`` is set (bounds memory)
PSEUDO_BATCH = 250


def max_over_addresses(observed: pd.DataFrame, scored: pd.DataFrame, groups: pd.DataFrame, *, minimum: int = MIN_PSEUDO_PER_ADDRESS) -> np.ndarray:
    """Per observed row, the largest of its :func:`null_p_values` against the null pseudo-treatments
    at each address of ``groups`` that holds at least ``minimum`` of them (``null_addresses="match-max"``).

    observed: frame with ``copairs_p`` and ``mnap``; scored: the same columns for every null
    pseudo-treatment (index = group); groups: the null pseudo-treatments to use (``address`` column).
    Without such an address, the p-value against all of ``groups`` (as ``"match"``).
    """
    counts = groups["address"].value_counts()
    kept = sorted(counts.index[counts >= minimum], key=str)
    if not kept:
        return null_p_values(observed, scored.reindex(groups.index))
    return np.max([null_p_values(observed, scored.reindex(groups.index[groups["address"] == a])) for a in kept], axis=0)


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
    meta: pd.DataFrame, features: np.ndarray, *, n: int, rng: np.random.Generator, prefix: str = "null",
    keys: list[str] | None = None, null_addresses: NullAddresses = "shared", pattern: str | None = None,
    reference: int | None = None, shapes: list | None = None,
) -> PseudoTreatments:
    """``n`` control pseudo-treatments shaped like the real pairs of one source (none if no shape fits).

    Each takes the plates of a real pair drawn at random, as many wells per plate, and on each
    plate the control well at one address shared by all of them (when ``meta`` has a ``well``
    column; other wells at random). Its plates are copied (virtual plates, one set per
    pseudo-treatment) and re-standardised against their remaining controls, of which at least
    ``MIN_CONTROLS`` must be left.

    null_addresses ``"match"``: a real pair whose wells sit at more than one address (a randomised
    layout) gives a pseudo-treatment of controls at random addresses instead (its wells then have
    ``address`` None); a pair at one address still needs a control address shared by its plates.
    pattern: only shapes of real pairs at one address (``"shared"``) or at several (``"scattered"``).
    reference: keep only this many of each plate's remaining controls (a random subset) on the
    virtual plate, the size of a real query's reference with the same option. shapes: the
    result of :func:`address_shapes` for these arguments (computed when None; pass it when drawing in batches).
    """
    by_plate, address, found = address_shapes(meta, keys=keys, null_addresses=null_addresses, pattern=pattern) if shapes is None else shapes
    shapes = found
    index, virtual, labels, groups = [], [], [], []
    for k in range(n if shapes else 0):
        counts, shared = shapes[rng.integers(len(shapes))]
        chosen = shared[rng.integers(len(shared))]
        group = f"{prefix}:{k}"
        for plate, count in counts.items():
            wells = rng.permutation(by_plate[plate])
            if chosen is not None:  # the well at the shared address first
                wells = wells[np.argsort(address[wells] != chosen, kind="stable")]
            if reference is not None:  # a random subset of the remaining controls as the reference
                wells = wells[: count + reference]
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


def address_shapes(meta: pd.DataFrame, *, keys, null_addresses: NullAddresses, pattern: str | None):
    """(controls by plate, well addresses, shapes) from which :func:`pseudo_treatments` draws.

    shapes: list of (Counter plate -> wells, candidate shared addresses or ``[None]``), one per
    real pair whose plates keep enough controls and whose address pattern fits.
    """
    controls = np.flatnonzero(meta["is_control"].to_numpy(bool))
    by_plate = {plate: controls[rows] for plate, rows in meta.iloc[controls].groupby("plate").indices.items()}
    address = meta[ADDRESS_COLUMN].to_numpy(object) if ADDRESS_COLUMN in meta else np.full(len(meta), None)
    shapes = []
    pairs = condition_pairs(meta, keys or ["inchikey", "dose_level"])[0]
    for counts, n_addresses in zip(pairs["shape"], pairs["n_addresses"]):
        if sum(counts.values()) < 2 or any(len(by_plate.get(p, ())) - c < MIN_CONTROLS for p, c in counts.items()):
            continue
        scattered = n_addresses > 1 or ADDRESS_COLUMN not in meta
        if pattern is not None and scattered != (pattern == "scattered"):
            continue
        if null_addresses in MATCHING and scattered:
            shapes.append((counts, [None]))
            continue
        shared = set.intersection(*(set(address[by_plate[p]]) for p in counts))
        if shared:
            shapes.append((counts, sorted(shared, key=str)))
    return by_plate, address, shapes


def source_null(meta, features, *, n: int, seed: int, keys, null_addresses, prefix: str = "null", stream: int = 0) -> PseudoTreatments:
    """The pseudo-treatment null of one source: one set (``shared``), or with ``match`` ``n`` per
    address pattern present among the real pairs (one shared address; scattered addresses)."""
    if null_addresses not in MATCHING:
        return pseudo_treatments(meta, features, n=n, rng=np.random.default_rng([seed, stream]), prefix=prefix, keys=keys)
    parts = [
        pseudo_treatments(meta, features, n=n, rng=np.random.default_rng([seed, stream, k]), prefix=f"{prefix}-{pattern}", keys=keys,
                          null_addresses="match", pattern=pattern)
        for k, pattern in enumerate(("shared", "scattered"))
    ]
    frames = [p.problem[0] for p in parts if len(p.groups)]
    if not frames:
        return parts[0]
    problem = (pd.concat(frames, ignore_index=True), np.concatenate([p.problem[1] for p in parts if len(p.groups)]))
    return PseudoTreatments(problem, pd.concat([p.groups for p in parts]))


def scored_source_null(
    meta, features, *, n: int, seed: int, keys, null_addresses, reference: int, n_permutations: int, cache: str,
    prefix: str = "null", stream: int = 0,
) -> tuple[PseudoTreatments, pd.DataFrame]:
    """:func:`source_null` with fixed-size references, built and scored ``PSEUDO_BATCH`` pseudo-treatments at a time.

    Same random streams as :func:`source_null` (one per address pattern); copairs' null distributions
    are shared through ``cache``. Returns (pseudo-treatments with ``groups`` only: ``problem`` is
    empty, their scores (index = group, columns map, mnap, copairs_p)).
    """
    patterns = [(None, [seed, stream])] if null_addresses not in MATCHING else [
        (pattern, [seed, stream, k]) for k, pattern in enumerate(("shared", "scattered"))
    ]
    groups, scores = [], []
    for pattern, stream_key in patterns:
        name = prefix if pattern is None else f"{prefix}-{pattern}"
        options = {"keys": keys, "null_addresses": null_addresses, "pattern": pattern}
        shapes = address_shapes(meta, **options)
        rng = np.random.default_rng(stream_key)
        for start in range(0, n if shapes[2] else 0, PSEUDO_BATCH):
            batch = pseudo_treatments(
                meta, features, n=min(PSEUDO_BATCH, n - start), rng=rng, prefix=f"{name}.{start // PSEUDO_BATCH}",
                reference=reference, shapes=shapes, **options,
            )
            groups.append(batch.groups)
            scores.append(score_groups([batch.problem], n_permutations, seed, cache_dir=cache))
    empty = pd.DataFrame(columns=["n_wells", "address"]).rename_axis("group")
    problem = (pd.DataFrame(columns=["plate", "is_control", "group"]), features[:0])
    scored = pd.concat(scores) if scores else pd.DataFrame(columns=["map", "mnap", "copairs_p"], dtype=float)
    return PseudoTreatments(problem, pd.concat(groups) if groups else empty), scored


def address_stratum(groups: pd.DataFrame, scattered: bool) -> pd.Index:
    """The null pseudo-treatments of one address pattern (all of them if that pattern has none)."""
    index = groups.index[groups["address"].isna() == scattered]
    return index if len(index) else groups.index


def drop_one_control(
    meta: pd.DataFrame, features: np.ndarray, rng: np.random.Generator, *, reference: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The wells less one random control per plate, re-standardised against the remaining controls.

    A pseudo-treatment's plates lose the control it takes; real plates lose one too, so that real
    and pseudo queries face references of the same size. Plates with ``MIN_CONTROLS`` controls or
    fewer lose none; wells on plates that cannot be standardised are left out.
    reference: plates with more controls than this keep a random subset of this many (the
    reference every query of the plate is compared with, as on a pseudo-treatment's plates).
    """
    controls = np.flatnonzero(meta["is_control"].to_numpy(bool))
    by_plate = meta.iloc[controls].groupby("plate").indices.values()
    if reference is None:
        dropped = [controls[rng.choice(rows)] for rows in by_plate if len(rows) > MIN_CONTROLS]
    else:
        dropped = [controls[np.setdiff1d(rows, rng.choice(rows, reference, replace=False))] if len(rows) > reference
                   else controls[[rng.choice(rows)]] for rows in by_plate if len(rows) > MIN_CONTROLS]
        dropped = np.concatenate(dropped) if dropped else np.array([], dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(meta)), dropped)
    kept = meta.iloc[keep].reset_index(drop=True)
    standardised, unusable = robust_standardise(kept, features[keep])
    return kept[~unusable].reset_index(drop=True), standardised[~unusable]


def condition_pairs(meta: pd.DataFrame, keys: list[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The treated pairs (conditions) of one source and each well's pair.

    keys: the columns defining a pair (default inchikey, dose_level).
    Returns (frame indexed by group id with the keys, n_wells, shape (Counter
    plate -> wells), n_addresses (distinct ``well`` addresses, 1 without the column); object
    array (n_wells,) of group ids, None for controls).
    """
    treated = np.flatnonzero(~meta["is_control"].to_numpy(bool))
    grouped = meta.iloc[treated].groupby(keys or ["inchikey", "dose_level"], sort=True)
    pairs = grouped.size().rename("n_wells").reset_index()
    pairs["shape"] = [Counter(plates) for _, plates in grouped["plate"]]
    pairs["n_addresses"] = grouped[ADDRESS_COLUMN].nunique().to_numpy() if ADDRESS_COLUMN in meta else 1
    pairs.index = [f"pair:{i}" for i in range(len(pairs))]
    group_of_well = np.full(len(meta), None, dtype=object)
    number = grouped.ngroup().to_numpy()  # -1 where the molecule or dose is missing: no pair
    group_of_well[treated[number >= 0]] = pairs.index.to_numpy()[number[number >= 0]]
    return pairs, group_of_well


def score_groups(problems: list[tuple[pd.DataFrame, np.ndarray]], n_permutations: int, seed: int, *, cache_dir: str | None = None) -> pd.DataFrame:
    """copairs mAP per group of wells: index = group, columns map, mnap, copairs_p.

    problems: (meta with ``plate`` and ``group`` (None for controls), features); their plates and
    groups must be distinct. Queries without a same-plate control are dropped; groups left
    without a query are absent. cache_dir: copairs' null cache to share between calls (default:
    a fresh one per call).
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
    with tempfile.TemporaryDirectory() as fresh:  # copairs caches nulls on disk; keep runs independent
        maps = copairs_map.mean_average_precision(
            ap.reset_index(drop=True), ["group"], null_size=n_permutations, threshold=0.05, seed=seed,
            progress_bar=False, cache_dir=cache_dir or fresh,
        )
    return maps.set_index("group").rename(
        columns={"mean_average_precision": "map", "mean_normalized_average_precision": "mnap", "p_value": "copairs_p"}
    )[["map", "mnap", "copairs_p"]]
