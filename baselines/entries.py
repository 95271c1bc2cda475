"""Writing reference entries safely: benchmarks with or without folds, merge never delete.

``baselines run --out submissions/<entry>`` goes through :func:`write_entry`:

* an existing entry is refused unless ``replace`` is given;
* with ``replace``, the files this run wrote (its seeds × folds) replace theirs, and every other
  seed or fold already in the entry is kept (today's ``--seeds 0`` no longer deletes seeds 1
  and 2); the merged seeds × folds grid must be complete, else nothing is written;
* an entry of another model or benchmark is never merged into;
* the entry appears whole or not at all (:func:`pheno_bench.leaderboard.add_entry`, which
  validates and scores every file first).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

from pheno_bench.errors import PhenoBenchError

Run = tuple[int, "int | None"]  # (seed, fold); fold None for a benchmark without folds


def run_path(seed: int, fold: int | None) -> str:
    """An entry's file of (seed, fold): ``seed-<n>.parquet`` or ``fold-<k>/seed-<n>.parquet``."""
    return f"seed-{seed}.parquet" if fold is None else f"fold-{fold}/seed-{seed}.parquet"


def benchmark_folds(benchmark: str | os.PathLike, folds: list[int] | None = None) -> tuple[Path, dict[int | None, Path]]:
    """(benchmark root, fold -> folder): ``{None: root}`` without folds, else the asked folds (default all)."""
    from pheno_bench.folds import fold_root, is_fold_set, read_fold_set
    from pheno_bench.registry import locate

    root = locate(benchmark)
    if not is_fold_set(root):
        if folds:
            raise PhenoBenchError(f"{root}: not a fold benchmark; drop --folds")
        return root, {None: root}
    known = [entry.fold for entry in read_fold_set(root).folds]
    if unknown := sorted(set(folds or []) - set(known)):
        raise PhenoBenchError(f"{root}: no fold {unknown[0]}; folds are {known}")
    return root, {k: fold_root(root, k) for k in (sorted(set(folds)) if folds else known)}


def write_entry(out: str | os.PathLike, runs: Mapping[Run, str | os.PathLike], metadata, *, benchmark: str | os.PathLike, replace: bool = False):
    """Write (or merge into) the entry folder ``out``; returns the leaderboard's ``Entry``.

    runs: (seed, fold) -> submission file written by this run. metadata: an ``EntryMetadata``
    whose seeds/folds are this run's; they become the union with the entry's existing ones.
    """
    from pheno_bench.leaderboard import add_entry, check_entry_name, read_metadata

    out = Path(out)
    check_entry_name(out.name)
    files = {run: Path(path) for run, path in runs.items()}
    if out.exists():
        if not replace:
            raise PhenoBenchError(
                f"{out}: entry already exists; pass --replace to overwrite the seeds/folds this run writes "
                "(the entry's other seeds and folds are kept), or choose another --out"
            )
        old = read_metadata(out / "metadata.yaml")
        if (old.model, old.benchmark, old.kind) != (metadata.model, metadata.benchmark, metadata.kind):
            raise PhenoBenchError(
                f"{out}: holds {old.kind} {old.model!r} on {old.benchmark}, not {metadata.kind} {metadata.model!r} on "
                f"{metadata.benchmark}; write to another --out (entries are never merged across models)"
            )
        if (old.folds is None) != (metadata.folds is None):
            raise PhenoBenchError(f"{out}: the existing entry {'has' if old.folds is not None else 'has no'} folds; this run does not match it")
        for seed in old.seeds:
            for fold in old.folds or [None]:
                files.setdefault((seed, fold), out / run_path(seed, fold))
    seeds = sorted({seed for seed, _ in files})
    folds = sorted({fold for _, fold in files}) if metadata.folds is not None else None
    missing = [run_path(s, f) for s in seeds for f in (folds or [None]) if (s, f) not in files]
    if missing:
        raise PhenoBenchError(
            f"{out}: merging this run would leave the entry without {missing[:3]} (seeds {seeds} x folds {folds}); "
            "run those seeds/folds too, or write to another --out; nothing was written"
        )
    for (seed, fold), path in files.items():
        if not path.is_file():
            raise PhenoBenchError(f"{path}: listed in entry {out} but missing; the entry is damaged, rebuild it with every seed")
    metadata = metadata.model_copy(update={"seeds": seeds, "folds": folds})
    with tempfile.TemporaryDirectory() as keep:
        # copy the kept files out first: add_entry replaces the folder they live in
        staged = {}
        for (seed, fold), path in files.items():
            if out in path.parents:
                copy = Path(keep) / run_path(seed, fold)
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(path.read_bytes())
                path = copy
            staged[(seed, fold)] = path
        if folds is None:
            listing = [staged[(seed, None)] for seed in seeds]
        else:
            listing = {seed: {fold: staged[(seed, fold)] for fold in folds} for seed in seeds}
        return add_entry(listing, entry=out.name, metadata=metadata, submissions=out.parent, benchmark=benchmark, replace=True)
