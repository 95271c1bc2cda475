"""Benchmark specs: how each named benchmark is built (sources, splits, activity, primary metric).

A spec is frozen: changing any field makes a different benchmark (a new name or version). The
spec is recorded in the manifest (:meth:`BenchmarkSpec.manifest_dict`); fields added after a
benchmark was published are left out of its manifest while they hold their default, so that the
published fingerprints (for example ``cell-injury-v1``'s) never change.
"""

from __future__ import annotations

import difflib

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pheno_bench.errors import PhenoBenchError

#: Fields added to BenchmarkSpec after cell-injury-v1 was frozen: omitted from a manifest while
#: they hold their default value (None), so older manifests keep their exact bytes.
LATE_FIELDS: tuple[str, ...] = (
    "primary_metric", "folds", "condition", "activity_null_addresses", "layout_correction", "activity_reference_controls",
    "query_ids", "non_cytotoxic_cell_count",
)
#: Benchmarks frozen before the late fields existed: their manifests never record them (the
#: registry below still declares them, e.g. the primary metric, for the scorer to read).
FROZEN_BEFORE_LATE_FIELDS = frozenset({"cell-injury-v1", "synthetic-v1"})


class SourceConfig(BaseModel):
    name: str
    options: dict = Field(default_factory=dict)


class BenchmarkSpec(BaseModel):
    """How a named benchmark is built. Changing anything here makes a different benchmark."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    seed: int = 0
    sources: list[SourceConfig]
    unseen_dataset_source: str = Field(description="value of the `source` column held out whole")
    unseen_molecules_fraction: float = Field(0.2, gt=0, lt=0.5)
    valid_fraction: float = Field(0.1, gt=0, lt=0.5)
    unseen_images_fraction: float = Field(0.15, gt=0, lt=0.5)
    anchor_molecules: tuple[str, ...] = Field((), description="InChIKeys that always stay in train")
    activity_permutations: int = 10_000
    activity_threshold: float = 0.05
    primary_metric: str | None = Field(
        None, description="the one number the benchmark is ranked by, '<split>/<view>/<subset>/<average>/<metric>', e.g. 'unseen_molecules/per_query/active/macro/top_5pct' (see pheno_bench.evaluate.parse_metric_id)"
    )
    folds: int | None = Field(None, ge=2, description="scaffold cross-validation folds (None: one frozen split)")
    condition: tuple[str, ...] | None = Field(
        None, description="well columns beside (molecule, dose) that make the experimental condition, e.g. ('time_h',): "
        "activity is per condition and answers record it (None: (molecule, dose) pairs only, as cell-injury-v1)"
    )
    activity_null_addresses: str | None = Field(
        None, description="activity pseudo-treatment addresses: 'match' (fixed and randomised layouts), 'match-max' (as "
        "'match', a single-address pair's p-value the largest over control addresses; conservative) or None ('shared', v1)"
    )
    layout_correction: str | None = Field(
        None, description="well-position correction applied to the features after curation (see pheno_bench.layout); None: none"
    )
    activity_reference_controls: int | None = Field(
        None, ge=3, description="activity compares every query (real or pseudo-treatment) with this many seeded random "
        "controls of its plate (for plates with hundreds of controls, e.g. RxRx3-core); None: all of them (v1, v2)"
    )

    query_ids: Literal["features"] | None = Field(
        None, description="how test query ids are made: 'features' = a hash of the build (name, version, seed, split) and "
        "the query's own feature bytes, so no hash of public fields (plate, address, dose, molecule) recovers them; "
        "None: the legacy id hashed from the well id (cell-injury-v1, -v2, synthetic-v1; recoverable, see site/splits.md)"
    )
    non_cytotoxic_cell_count: float | None = Field(
        None, gt=0, description="answers carry `non_cytotoxic`: the query's condition has a mean relative cell count "
        "(over all its wells) of at least this value, so the scorer reports the 'active_non_cytotoxic' subset; None: no flag"
    )

    def manifest_dict(self) -> dict:
        """The spec as recorded in the manifest: late fields left out while they hold their default."""
        data = self.model_dump(mode="json")
        for name in LATE_FIELDS:
            if data.get(name) is None or self.name in FROZEN_BEFORE_LATE_FIELDS:
                data.pop(name, None)
        return data


#: The four positive controls of the cell-injury screen: on nearly every plate (918 wells), so they
#: anchor train (held out, they would dominate a test split).
CELL_INJURY_ANCHORS = (
    "IAKHMKGGTNLKSZ-INIZCTEOSA-N",  # colchicine
    "KYRVNWMVYQXFEU-UHFFFAOYSA-N",  # nocodazole
    "QDLHCMPXEPAAMD-QAIWCSMKSA-N",  # wortmannin
    "WYZWZEOGROVVHK-GTMNPGAYSA-N",  # radicicol
)
#: The primary metric of every benchmark so far: macro top-5% over active queries of unseen_molecules.
PRIMARY_METRIC = "unseen_molecules/per_query/active/macro/top_5pct"

#: rxrx3-core-v1's source options, as the publisher's analysis of RxRx3-core (explicit, so that the
#: manifest and `splits info` show them): controls, repeated well_ids, EFAAR centre-scale on the controls.
RXRX3_CHOICES = {"controls": ["EMPTY_control"], "repeated_well_ids": "average", "align": "efaar-centerscale"}

#: cell-injury-v1 and -v2 as published (fingerprints 29c08ffb… and 0e33c5b1…): scored for their
#: entries, superseded by v1.1 / v2.1 (their query ids hash back to plate and address; site/splits.md).
CELL_INJURY_V1 = BenchmarkSpec(
    name="cell-injury-v1",
    version="1.0.0",
    seed=0,
    sources=[SourceConfig(name="cell-injury"), SourceConfig(name="lincs-pilot1")],
    unseen_dataset_source="lincs-pilot1",
    anchor_molecules=CELL_INJURY_ANCHORS,
    primary_metric=PRIMARY_METRIC,  # registry only: not in the frozen manifest
)
CELL_INJURY_V2 = BenchmarkSpec(
    name="cell-injury-v2",
    version="2.0.0",
    seed=0,
    sources=[SourceConfig(name="cell-injury"), SourceConfig(name="lincs-pilot1")],
    unseen_dataset_source="lincs-pilot1",
    # every non-anchor molecule is unseen in exactly one of 5 scaffold folds (unseen_molecules_fraction unused)
    folds=5,
    condition=("time_h",),
    activity_null_addresses="match",
    layout_correction="rowcol-controls",
    anchor_molecules=CELL_INJURY_ANCHORS,
    primary_metric=PRIMARY_METRIC,
)
#: The current releases: the same wells, splits, activity and features as v1 / v2, with opaque query ids
#: (hashed from each query's own feature bytes) and, for v2.1, the non-cytotoxic flag in the answers.
CELL_INJURY_V1_1 = CELL_INJURY_V1.model_copy(update={"name": "cell-injury-v1.1", "version": "1.1.0", "query_ids": "features"})
CELL_INJURY_V2_1 = CELL_INJURY_V2.model_copy(
    update={"name": "cell-injury-v2.1", "version": "2.1.0", "query_ids": "features", "non_cytotoxic_cell_count": 0.8}
)

#: Releases kept only to score old entries, with what replaces them and why (boards say so).
SUPERSEDED: dict[str, tuple[str, str]] = {
    "cell-injury-v1": ("cell-injury-v1.1", "its query ids hash back to each query's plate and address (and so to the dose): a file built from public files alone scored above every model"),
    "cell-injury-v2": ("cell-injury-v2.1", "its query ids hash back to each query's plate and address (and so to the dose)"),
}

BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in (
        CELL_INJURY_V1,
        CELL_INJURY_V2,
        CELL_INJURY_V1_1,
        CELL_INJURY_V2_1,
        BenchmarkSpec(
            name="synthetic-v1",
            version="1.0.0",
            seed=0,
            sources=[
                SourceConfig(name="synthetic", options={"name": "synthetic", "n_molecules": 120, "seed": 0}),
                SourceConfig(name="synthetic", options={"name": "synthetic-b", "n_molecules": 40, "molecule_offset": 100, "seed": 1}),
            ],
            unseen_dataset_source="synthetic-b",
            activity_permutations=2_000,
            primary_metric=PRIMARY_METRIC,  # registry only: not in the frozen manifest
        ),
        # --- field datasets (owner E; data cards in site/data.md) ---
        BenchmarkSpec(
            name="rxrx3-core-v1",
            version="1.0.0",
            seed=0,
            # compound experiments only; compound-002 (the smallest: ~6.7k wells, 92 treatments) is
            # held out whole as the unseen dataset: new plates, imaging runs and a separately fitted
            # EFAAR alignment, the only shift RxRx3-core offers in the OpenPhenom feature space.
            # As the publisher's own analysis (EFAAR_benchmarking, rxrx3_core_benchmarks_openphenom.ipynb):
            # negative controls are EMPTY_control only (CRISPR_control wells left out, counted) and a
            # well_id with several embedding rows is their mean (counted); see site/field-benchmarks.md.
            sources=[
                SourceConfig(name="rxrx3-core", options={"name": "rxrx3-core", "exclude_experiments": ["compound-002"], **RXRX3_CHOICES}),
                SourceConfig(name="rxrx3-core", options={"name": "rxrx3-core-compound-002", "experiments": ["compound-002"], **RXRX3_CHOICES}),
            ],
            unseen_dataset_source="rxrx3-core-compound-002",
            folds=5,
            activity_null_addresses="match",
            # RxRx3-core plates hold 231-648 controls: a fixed reference of 48 per query keeps the
            # pseudo-treatment null small (issue 12, scale) and real and pseudo references equal.
            activity_reference_controls=48,
            query_ids="features",  # never released with the legacy ids: opaque from the start
            primary_metric=PRIMARY_METRIC,
        ),
        BenchmarkSpec(
            name="lincs-cp-v1",
            version="1.0.0",
            seed=0,
            # every profiled plate of LINCS batch 2016_04_01_a549_48hr_batch1 (A549, 48 h); the
            # unseen dataset is cell-injury (U2OS, another lab, its shared CellProfiler features).
            sources=[SourceConfig(name="lincs-cp"), SourceConfig(name="cell-injury")],
            unseen_dataset_source="cell-injury",
            folds=5,
            activity_null_addresses="match",
            query_ids="features",  # never released with the legacy ids: opaque from the start
            primary_metric=PRIMARY_METRIC,
        ),
    )
}


def get_spec(name: str) -> BenchmarkSpec:
    """The spec of benchmark ``name``; an unknown name is one error with the closest known names."""
    if name not in BENCHMARKS:
        close = difflib.get_close_matches(name, list(BENCHMARKS), n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise PhenoBenchError(f"unknown benchmark {name!r}; {hint}known: {', '.join(sorted(BENCHMARKS))}")
    return BENCHMARKS[name]
