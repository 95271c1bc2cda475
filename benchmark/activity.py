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

Large plates (``reference_controls=R``, opt-in per spec, e.g. RxRx3-core's hundreds of controls
per plate): every query, real or pseudo, is compared with the same number R of its plate's
controls, a seeded random subset (the rest of the controls are left out of that plate's
problem); the plate is re-standardised against those R. Virtual plates then hold R + a few
wells instead of every control, and pseudo-treatments are built and scored in batches of
``PSEUDO_BATCH`` with one copairs null cache, so memory no longer grows with controls x n_pseudo.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from copairs import map as copairs_map
from copairs.matching import UnpairedException, assign_reference_index
from pydantic import BaseModel, Field
from scipy.stats import false_discovery_control

from pheno_bench.curate import MIN_CONTROLS, robust_standardise
from pheno_bench.errors import PhenoBenchError
from pheno_bench.schema import Wells

PAIR_KEY = ["source", "inchikey", "dose_level"]
ADDRESS_COLUMN = "well"
CONTROL = "control"
COLUMNS = [*PAIR_KEY, "n_wells", "map", "p_value", "q_value", "active"]
#: Most pairs with replicates untestable means the procedure cannot work on this layout: stop.
MAX_UNTESTABLE_REPLICATED = 0.5
NullAddresses = Literal["shared", "match", "match-max"]
#: null_addresses values whose pseudo-treatments copy the real pair's address pattern
MATCHING = ("match", "match-max")
#: "match-max": an address enters the maximum only with at least this many null pseudo-treatments
MIN_PSEUDO_PER_ADDRESS = 50
#: pseudo-treatments built and scored together when ``reference_controls`` is set (bounds memory)
PSEUDO_BATCH = 250


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
    condition: list[str] | None = Field(
        None, exclude_if=lambda v: v is None,
        description="columns beside (molecule, dose) that define a condition (e.g. treatment time); None: pairs only",
    )
    null_addresses: str | None = Field(
        None, exclude_if=lambda v: v is None,
        description="how pseudo-treatments pick control addresses: 'shared' (one address on all plates) or 'match' "
        "(as the real pair: one shared address where its wells share one, else controls at random addresses); 'match-max' "
        "(as 'match', and a single-address pair's p-value is the largest of its p-values against the pseudo-treatments "
        "at each control address)",
    )
    reference_controls: int | None = Field(
        None, exclude_if=lambda v: v is None,
        description="every query (real or pseudo) is compared with this many random controls of its plate (plates with "
        "fewer: all but the wells taken); None: all of the plate's remaining controls",
    )


#: activity tables computed in this process, by a digest of their wells and arguments (a few kB each):
#: building cell-injury-v1 and then v1.1 (same wells, new query ids) computes the activity once
_MEMO: "OrderedDict[str, pd.DataFrame]" = OrderedDict()
_MEMO_SIZE = 32


def _digest(wells: Wells, arguments: dict) -> str:
    digest = hashlib.sha256(repr(sorted(arguments.items())).encode())
    digest.update(np.ascontiguousarray(wells.features).tobytes())
    digest.update(repr(list(wells.meta.columns)).encode())
    digest.update(pd.util.hash_pandas_object(wells.meta.astype(str), index=False).to_numpy().tobytes())
    return digest.hexdigest()


def activity_table(wells: Wells, **arguments) -> pd.DataFrame:
    """:func:`compute_activity_table` (see there), remembered in this process: the same wells and
    arguments give a copy of the same table without recomputing it (the result is deterministic)."""
    key = _digest(wells, arguments)
    if key not in _MEMO:
        _MEMO[key] = compute_activity_table(wells, **arguments)
        if len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    table = _MEMO[key].copy(deep=True)
    table.attrs = copy.deepcopy(_MEMO[key].attrs)
    return table


def compute_activity_table(
    wells: Wells, *, n_permutations: int = 10_000, n_pseudo: int = 2_000, seed: int = 0, threshold: float = 0.05,
    condition: tuple[str, ...] = (), null_addresses: NullAddresses = "shared", check_testable: bool = False,
    reference_controls: int | None = None,
) -> pd.DataFrame:
    """One row per treated (source, inchikey, dose_level, *condition) condition of ``wells``.

    condition: extra well columns that define the experimental condition (``("time_h",)`` in
    cell-injury-v2: 24 h and 48 h wells are scored apart, each against its own plates' controls).
    null_addresses: ``"shared"`` (cell-injury-v1): every pseudo-treatment takes one control address
    shared by its plates; ``"match"``: it copies the real pair's address pattern (one shared address
    where the pair's wells share one, else controls at random addresses), so randomised layouts
    (RxRx3-core) have a null too; ``"match-max"``: as ``"match"``, but a pair at one address takes the
    largest of its p-values against the pseudo-treatments at each control address holding at least
    ``MIN_PSEUDO_PER_ADDRESS`` of them (a conservative option against address effects stronger than
    the average control address, site/activity.md). check_testable: raise :class:`PhenoBenchError` when more than half
    of a source's pairs with two or more wells get no p-value (the null cannot be built).
    reference_controls: compare every query, real or pseudo, with this many seeded random controls
    of its plate (its plate re-standardised against them) instead of all of them; pseudo-treatments
    are then built and scored in batches (for plates with hundreds of controls, e.g. RxRx3-core).

    n_permutations: copairs' rank-permutation null size; n_pseudo: control pseudo-treatments per
    source forming the null (smallest p-value 1 / (n_pseudo + 1)); seed: fixes both and the
    control left out per plate. Columns: source, inchikey, dose_level, n_wells, map (mean average precision), p_value,
    q_value (Benjamini–Hochberg within source), active (q_value < threshold). Untestable pairs
    (one well, or no well sharing a plate with a control) have NaN map/p/q and active False.
    ``attrs["procedure"]`` holds the :class:`ActivityProcedure` as a dict.
    """
    procedure = ActivityProcedure(n_permutations=n_permutations, n_pseudo=n_pseudo, seed=seed, threshold=threshold)
    keys = ["inchikey", "dose_level", *condition]
    if condition or null_addresses != "shared":
        procedure.version = "2"
        procedure.condition = list(condition)
        procedure.null_addresses = null_addresses
    if reference_controls is not None:
        if reference_controls < MIN_CONTROLS:
            raise PhenoBenchError(f"activity: reference_controls must be at least {MIN_CONTROLS}, got {reference_controls}")
        procedure.version = "3"
        procedure.condition = list(condition)
        procedure.null_addresses = null_addresses
        procedure.reference_controls = reference_controls
    parts = []
    for source, meta, features in _by_source(wells):
        pairs, group_of_well = _pairs(meta, keys)
        rng_real = np.random.default_rng([seed, 2])
        if reference_controls is None:
            null = _null(meta, features, n=n_pseudo, seed=seed, keys=keys, null_addresses=null_addresses)
            real_problem = _drop_one_control(meta.assign(group=group_of_well), features, rng_real)
            scored = _score([real_problem, null.problem], n_permutations, seed)
        else:
            with tempfile.TemporaryDirectory() as cache:  # one copairs null per configuration for real and pseudo queries
                null, null_scored = _scored_null(
                    meta, features, n=n_pseudo, seed=seed, keys=keys, null_addresses=null_addresses,
                    reference=reference_controls, n_permutations=n_permutations, cache=cache,
                )
                real_problem = _drop_one_control(meta.assign(group=group_of_well), features, rng_real, reference=reference_controls)
                scored = pd.concat([_score([real_problem], n_permutations, seed, cache_dir=cache), null_scored])
            del real_problem
        real = scored.reindex(pairs.index)
        pairs["map"] = real["map"].to_numpy()
        if null_addresses in MATCHING:  # each pair against the pseudo-treatments of its own address pattern
            pairs["p_value"] = np.nan
            for scattered, index in pairs.groupby(pairs["n_addresses"] > 1).groups.items():
                stratum = _stratum(null.groups, scattered)
                pairs.loc[index, "p_value"] = (
                    max_over_addresses(real.loc[index], scored, null.groups.loc[stratum]) if null_addresses == "match-max" and not scattered
                    else null_p_values(real.loc[index], scored.reindex(stratum))
                )
        else:
            pairs["p_value"] = null_p_values(real, scored.reindex(null.groups.index))
        pairs["q_value"] = _bh(pairs["p_value"].to_numpy())
        pairs["active"] = pairs["q_value"].to_numpy() < threshold
        procedure.sources[source] = {
            "pairs": len(pairs),
            "testable": int(pairs["p_value"].notna().sum()),
            "active": int(pairs["active"].sum()),
            "pseudo": len(null.groups),
        }
        replicated = pairs["n_wells"] >= 2
        untestable = int((replicated & pairs["p_value"].isna()).sum())
        if check_testable and replicated.any() and untestable > MAX_UNTESTABLE_REPLICATED * replicated.sum():
            why = "no control pseudo-treatment could be built (no plate set keeps enough controls at a usable address)" if null.groups.empty else "their wells share no plate with enough controls"
            fix = ("the null already matches addresses (null_addresses='match'), so the plates lack usable controls: check which "
                   "wells are controls (is_control) and that each plate holds more than a few of them" if null_addresses == "match" else
                   "for layouts where compounds and controls move between plates use null_addresses='match'; check the plate and control columns")
            raise PhenoBenchError(
                f"activity: {untestable} of {int(replicated.sum())} replicated (molecule, dose) conditions of source {source} "
                f"are untestable (p-value NaN): {why}; refusing to write an all-inactive benchmark. {fix[0].upper()}{fix[1:]}"
            )
        parts.append(pairs.assign(source=source))
    columns = [*PAIR_KEY, *condition, *COLUMNS[len(PAIR_KEY):]]
    table = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    table.attrs["procedure"] = procedure.model_dump()
    return table


def calibrate(
    wells: Wells, *, n_pseudo: int = 1_000, n_null: int = 2_000, n_permutations: int = 10_000, seed: int = 0,
    condition: tuple[str, ...] = (), null_addresses: NullAddresses = "shared", reference_controls: int | None = None,
) -> pd.DataFrame:
    """p-values of held-out control pseudo-treatments under the procedure of :func:`activity_table`.

    ``n_pseudo`` pseudo-treatments per source are drawn independently of the ``n_null`` that form
    the null (as in ``activity_table`` with the same seed); where wells have a ``well`` address,
    each is compared only with null pseudo-treatments at other addresses, as real pairs are.
    Under a calibrated procedure the p-values are uniform. Columns: source, n_wells, address,
    map, copairs_p (copairs' own permutation p-value, for comparison), p_value.
    reference_controls: as in :func:`activity_table` (fixed-size control references, batched).
    """
    keys = ["inchikey", "dose_level", *condition]
    parts = []
    for source, meta, features in _by_source(wells):
        options = {"keys": keys, "null_addresses": null_addresses}
        if reference_controls is None:
            null = _null(meta, features, n=n_null, seed=seed, **options)
            held = _null(meta, features, n=n_pseudo, seed=seed, prefix="held", stream=1, **options)
            scored = _score([null.problem, held.problem], n_permutations, seed)
        else:
            batched = {"reference": reference_controls, "n_permutations": n_permutations, **options}
            with tempfile.TemporaryDirectory() as cache:
                null, null_scored = _scored_null(meta, features, n=n_null, seed=seed, cache=cache, **batched)
                held, held_scored = _scored_null(meta, features, n=n_pseudo, seed=seed, prefix="held", stream=1, cache=cache, **batched)
            scored = pd.concat([null_scored, held_scored])
        null_stats, held_stats = scored.reindex(null.groups.index), scored.reindex(held.groups.index)
        p = pd.Series(np.nan, index=held.groups.index)
        for address, group in held.groups.groupby("address", dropna=False).groups.items():
            if null_addresses in MATCHING:  # as real pairs: against the null of their own address pattern
                stratum = _stratum(null.groups, pd.isna(address))
                other = stratum if pd.isna(address) else stratum[null.groups.loc[stratum, "address"] != address]
            else:
                other = null.groups.index if pd.isna(address) else null.groups.index[null.groups["address"] != address]
            if null_addresses == "match-max" and not pd.isna(address):
                p[group] = max_over_addresses(held_stats.loc[group], null_stats, null.groups.loc[other])
            else:
                p[group] = null_p_values(held_stats.loc[group], null_stats.loc[other])
        parts.append(held.groups.assign(source=source, map=held_stats["map"], copairs_p=held_stats["copairs_p"], p_value=p))
    return pd.concat(parts, ignore_index=True)[["source", "n_wells", "address", "map", "copairs_p", "p_value"]]


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
    result of :func:`_shapes` for these arguments (computed when None; pass it when drawing in batches).
    """
    by_plate, address, found = _shapes(meta, keys=keys, null_addresses=null_addresses, pattern=pattern) if shapes is None else shapes
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


def _shapes(meta: pd.DataFrame, *, keys, null_addresses: NullAddresses, pattern: str | None):
    """(controls by plate, well addresses, shapes) from which :func:`pseudo_treatments` draws.

    shapes: list of (Counter plate -> wells, candidate shared addresses or ``[None]``), one per
    real pair whose plates keep enough controls and whose address pattern fits.
    """
    controls = np.flatnonzero(meta["is_control"].to_numpy(bool))
    by_plate = {plate: controls[rows] for plate, rows in meta.iloc[controls].groupby("plate").indices.items()}
    address = meta[ADDRESS_COLUMN].to_numpy(object) if ADDRESS_COLUMN in meta else np.full(len(meta), None)
    shapes = []
    pairs = _pairs(meta, keys or ["inchikey", "dose_level"])[0]
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


def _null(meta, features, *, n: int, seed: int, keys, null_addresses, prefix: str = "null", stream: int = 0) -> PseudoTreatments:
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


def _scored_null(
    meta, features, *, n: int, seed: int, keys, null_addresses, reference: int, n_permutations: int, cache: str,
    prefix: str = "null", stream: int = 0,
) -> tuple[PseudoTreatments, pd.DataFrame]:
    """:func:`_null` with fixed-size references, built and scored ``PSEUDO_BATCH`` pseudo-treatments at a time.

    Same random streams as :func:`_null` (one per address pattern); copairs' null distributions
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
        shapes = _shapes(meta, **options)
        rng = np.random.default_rng(stream_key)
        for start in range(0, n if shapes[2] else 0, PSEUDO_BATCH):
            batch = pseudo_treatments(
                meta, features, n=min(PSEUDO_BATCH, n - start), rng=rng, prefix=f"{name}.{start // PSEUDO_BATCH}",
                reference=reference, shapes=shapes, **options,
            )
            groups.append(batch.groups)
            scores.append(_score([batch.problem], n_permutations, seed, cache_dir=cache))
    empty = pd.DataFrame(columns=["n_wells", "address"]).rename_axis("group")
    problem = (pd.DataFrame(columns=["plate", "is_control", "group"]), features[:0])
    scored = pd.concat(scores) if scores else pd.DataFrame(columns=["map", "mnap", "copairs_p"], dtype=float)
    return PseudoTreatments(problem, pd.concat(groups) if groups else empty), scored


def _stratum(groups: pd.DataFrame, scattered: bool) -> pd.Index:
    """The null pseudo-treatments of one address pattern (all of them if that pattern has none)."""
    index = groups.index[groups["address"].isna() == scattered]
    return index if len(index) else groups.index


def _by_source(wells: Wells):
    """(source, meta with a fresh index, features) for each source of ``wells``, sorted by name."""
    for source, index in wells.meta.groupby("source", sort=True).indices.items():
        yield source, wells.meta.iloc[index].reset_index(drop=True), wells.features[index]


def _drop_one_control(
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


def _pairs(meta: pd.DataFrame, keys: list[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
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


def _score(problems: list[tuple[pd.DataFrame, np.ndarray]], n_permutations: int, seed: int, *, cache_dir: str | None = None) -> pd.DataFrame:
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


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values over the finite entries of ``p`` (NaN stays NaN)."""
    q = np.full(len(p), np.nan)
    tested = np.isfinite(p)
    if tested.any():
        q[tested] = false_discovery_control(p[tested], method="bh")
    return q


def calibration_summary(cal: pd.DataFrame, wells: Wells | None = None, *, alpha: float = 0.05) -> dict:
    """Summary of :func:`calibrate`'s p-values: all pseudo-treatments, and those at addresses that hold treated wells.

    cal: calibrate's frame; wells: the wells it was run on (to know which addresses hold treated
    wells on some plate). Returns n, fraction below ``alpha``, KS p-value against uniform, overall
    and ``treated_addresses`` (plus the fraction per such address), and ``randomised`` (the
    pseudo-treatments with no shared address, as on randomised layouts).
    """
    from scipy import stats

    def summary(p) -> dict:
        p = np.asarray(p, float)
        p = p[np.isfinite(p)]
        if not len(p):
            return {"n": 0}
        return {"n": int(len(p)), f"below_{alpha}": round(float((p < alpha).mean()), 4), "ks_pvalue": round(float(stats.kstest(p, "uniform").pvalue), 4)}

    out = {"all": summary(cal["p_value"])}
    out["randomised"] = summary(cal.loc[cal["address"].isna(), "p_value"])
    if wells is not None and ADDRESS_COLUMN in wells.meta:
        treated = set(wells.meta.loc[~wells.meta["is_control"], ADDRESS_COLUMN].dropna())
        at = cal[cal["address"].isin(treated)]
        out["treated_addresses"] = summary(at["p_value"])
        out["treated_addresses"]["addresses"] = int(at["address"].nunique())
        out["per_address"] = {str(a): {"n": len(g), f"below_{alpha}": round(float((g < alpha).mean()), 3)} for a, g in at.groupby("address")["p_value"]}
    return out
