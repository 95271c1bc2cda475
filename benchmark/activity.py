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
from collections import OrderedDict

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy.stats import false_discovery_control

from pheno_bench.activity_null import (  # noqa: F401 (ADDRESS_COLUMN, MIN_PSEUDO_PER_ADDRESS, NullAddresses, PseudoTreatments, pseudo_treatments: re-exported)
    ADDRESS_COLUMN,
    MATCHING,
    MIN_PSEUDO_PER_ADDRESS,
    NullAddresses,
    PseudoTreatments,
    address_stratum,
    condition_pairs,
    drop_one_control,
    max_over_addresses,
    null_p_values,
    pseudo_treatments,
    score_groups,
    scored_source_null,
    source_null,
)
from pheno_bench.curate import MIN_CONTROLS
from pheno_bench.errors import PhenoBenchError
from pheno_bench.schema import Wells

PAIR_KEY = ["source", "inchikey", "dose_level"]
COLUMNS = [*PAIR_KEY, "n_wells", "map", "p_value", "q_value", "active"]
#: Most pairs with replicates untestable means the procedure cannot work on this layout: stop.
MAX_UNTESTABLE_REPLICATED = 0.5


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
        pairs, group_of_well = condition_pairs(meta, keys)
        rng_real = np.random.default_rng([seed, 2])
        if reference_controls is None:
            null = source_null(meta, features, n=n_pseudo, seed=seed, keys=keys, null_addresses=null_addresses)
            real_problem = drop_one_control(meta.assign(group=group_of_well), features, rng_real)
            scored = score_groups([real_problem, null.problem], n_permutations, seed)
        else:
            with tempfile.TemporaryDirectory() as cache:  # one copairs null per configuration for real and pseudo queries
                null, null_scored = scored_source_null(
                    meta, features, n=n_pseudo, seed=seed, keys=keys, null_addresses=null_addresses,
                    reference=reference_controls, n_permutations=n_permutations, cache=cache,
                )
                real_problem = drop_one_control(meta.assign(group=group_of_well), features, rng_real, reference=reference_controls)
                scored = pd.concat([score_groups([real_problem], n_permutations, seed, cache_dir=cache), null_scored])
            del real_problem
        real = scored.reindex(pairs.index)
        pairs["map"] = real["map"].to_numpy()
        if null_addresses in MATCHING:  # each pair against the pseudo-treatments of its own address pattern
            pairs["p_value"] = np.nan
            for scattered, index in pairs.groupby(pairs["n_addresses"] > 1).groups.items():
                rows = address_stratum(null.groups, scattered)
                pairs.loc[index, "p_value"] = (
                    max_over_addresses(real.loc[index], scored, null.groups.loc[rows]) if null_addresses == "match-max" and not scattered
                    else null_p_values(real.loc[index], scored.reindex(rows))
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
            null = source_null(meta, features, n=n_null, seed=seed, **options)
            held = source_null(meta, features, n=n_pseudo, seed=seed, prefix="held", stream=1, **options)
            scored = score_groups([null.problem, held.problem], n_permutations, seed)
        else:
            batched = {"reference": reference_controls, "n_permutations": n_permutations, **options}
            with tempfile.TemporaryDirectory() as cache:
                null, null_scored = scored_source_null(meta, features, n=n_null, seed=seed, cache=cache, **batched)
                held, held_scored = scored_source_null(meta, features, n=n_pseudo, seed=seed, prefix="held", stream=1, cache=cache, **batched)
            scored = pd.concat([null_scored, held_scored])
        null_stats, held_stats = scored.reindex(null.groups.index), scored.reindex(held.groups.index)
        p = pd.Series(np.nan, index=held.groups.index)
        for address, group in held.groups.groupby("address", dropna=False).groups.items():
            if null_addresses in MATCHING:  # as real pairs: against the null of their own address pattern
                rows = address_stratum(null.groups, pd.isna(address))
                other = rows if pd.isna(address) else rows[null.groups.loc[rows, "address"] != address]
            else:
                other = null.groups.index if pd.isna(address) else null.groups.index[null.groups["address"] != address]
            if null_addresses == "match-max" and not pd.isna(address):
                p[group] = max_over_addresses(held_stats.loc[group], null_stats, null.groups.loc[other])
            else:
                p[group] = null_p_values(held_stats.loc[group], null_stats.loc[other])
        parts.append(held.groups.assign(source=source, map=held_stats["map"], copairs_p=held_stats["copairs_p"], p_value=p))
    return pd.concat(parts, ignore_index=True)[["source", "n_wells", "address", "map", "copairs_p", "p_value"]]


def _by_source(wells: Wells):
    """(source, meta with a fresh index, features) for each source of ``wells``, sorted by name."""
    for source, index in wells.meta.groupby("source", sort=True).indices.items():
        yield source, wells.meta.iloc[index].reset_index(drop=True), wells.features[index]


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
