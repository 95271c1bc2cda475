"""Building a benchmark: raw sources -> a frozen benchmark folder (see :mod:`pheno_bench.manifest`).

:func:`build_benchmark` is the build's one entry point: a benchmark without folds is loaded,
curated, labelled with activity (:mod:`pheno_bench.activity`), split (:mod:`pheno_bench.holdout`,
whose docstring gives the split rules), written (:mod:`pheno_bench.split_files`) with its data
card (:mod:`pheno_bench.cards`) and registered (:mod:`pheno_bench.registry`); a benchmark with
folds is built by :func:`pheno_bench.crossval.build_fold_set`. The names of the hold-out and
writing modules are re-exported here (their earlier home).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from pheno_bench.activity import activity_table
from pheno_bench.cards import write_card
from pheno_bench.crossval import build_fold_set
from pheno_bench.curate import curate
from pheno_bench.errors import PhenoBenchError
from pheno_bench.holdout import (  # noqa: F401 (re-exported)
    MOLECULE_TOLERANCE,
    SplitAssignment,
    assign_splits,
    check_holdout_room,
    hash_layout,
    hold_out_groups,
    hold_out_images,
    scaffold_groups,
)
from pheno_bench.io import staged_folder
from pheno_bench.manifest import MANIFEST
from pheno_bench.paths import benchmark_home
from pheno_bench.registry import register
from pheno_bench.sources import get_source
from pheno_bench.specs import BENCHMARKS, BenchmarkSpec, SourceConfig, get_spec  # noqa: F401 (re-exported)
from pheno_bench.split_files import ANSWER_COLUMNS, WELL_FILE_COLUMNS, label_wells, query_id, write_benchmark, write_splits  # noqa: F401 (re-exported)


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that a build would destroy: a file, or a folder that is not empty and is not an
    earlier pheno-bench build (a benchmark or fold-set ``manifest.json``). Checked before any work."""
    if out.is_symlink():
        return  # an older registration link: the build replaces the link, never its target
    if out.exists() and not out.is_dir():
        raise PhenoBenchError(f"{out}: --out is a file, not a folder; give a new or empty folder (e.g. out/<benchmark>)")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise PhenoBenchError(
            f"{out}: --out exists and is not a pheno-bench benchmark (no {MANIFEST}); a build replaces its folder whole, "
            "so choose a new or empty folder (e.g. out/<benchmark>)"
        )


def build_benchmark(
    name: str,
    *,
    out: str | os.PathLike | None = None,
    data_root: str | os.PathLike | None = None,
    seed: int | None = None,
    progress=None,
) -> Path:
    """Build benchmark ``name`` from the raw sources; return its folder.

    out: target folder (default :func:`pheno_bench.paths.benchmark_home`); replaced only once the
    new build is complete. seed: overrides the spec's frozen seed (a different benchmark).
    """
    spec = get_spec(name)
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    out = Path(out) if out is not None else benchmark_home(name)
    check_out(out)
    if spec.folds:  # scaffold cross-validation: K fold benchmarks under one fold-set manifest
        return build_fold_set(spec, out=out, data_root=data_root, progress=progress, seeded=seed is not None)
    log = progress.print if progress is not None else (lambda *a, **k: None)
    parts = []
    for cfg in spec.sources:
        parts.append(get_source(cfg.name).load(data_root, **cfg.options))
        log(parts[-1].summary())
    curated = curate(parts, {p.wells.metadata.sources[0]: get_source(c.name).nominal_doses_um for c, p in zip(spec.sources, parts)})
    log(f"curated: {len(curated.wells)} wells, {len(curated.wells.metadata.feature_names)} shared features, {len(curated.excluded)} exclusions")
    check_holdout_room(curated.wells.meta, spec)  # issue 15: the real cause, before the activity step
    activity = activity_table(curated.wells, n_permutations=spec.activity_permutations, seed=spec.seed, threshold=spec.activity_threshold)
    log(f"activity: {int(activity['active'].sum())} of {len(activity)} (molecule, dose) pairs active")
    try:
        assignment = assign_splits(curated.wells, spec)
    except ValidationError as exc:  # a violated invariant is a bug or an impossible spec: say which
        raise PhenoBenchError(f"benchmark {name}: split invariant violated: {exc}") from None
    with staged_folder(out) as staging:  # an older registration link at out is replaced, not its target
        manifest = write_benchmark(curated, activity, assignment, spec, staging)
        write_card(manifest, staging)
    register(out, origin="build", current=seed is None)  # found by name afterwards, wherever --out was
    return out
