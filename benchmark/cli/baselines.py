"""``pheno-bench baselines``: list, run and ablate the probes and the reference baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pheno_bench.cli.common import console
from pheno_bench.errors import PhenoBenchError

app = typer.Typer(help="Reference baselines (MolPhenix, CLOOME, CLIP): train, submit, score (needs PyTorch: the baselines extra).", no_args_is_help=True)
_SEEDS = typer.Option([0, 1, 2], "--seeds", help="Training seeds: --seeds 0 1 2.")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
_DEVICE = typer.Option("auto", "--device", help="auto (a GPU when present), cpu or cuda.")


def _fold_list(folds: Optional[str]) -> Optional[list[int]]:
    """Folds from ``--folds 0,2,4`` (None: every fold)."""
    if folds is None:
        return None
    parts = [p.strip() for p in folds.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise PhenoBenchError(f"--folds {folds!r}: give fold numbers separated by commas, e.g. --folds 0,1")
    return [int(p) for p in parts]


def _seed_list(ctx: typer.Context, seeds: list[int]) -> list[int]:
    """Seeds from ``--seeds 0 1 2``: typer binds the first value and leaves the others as extra arguments."""
    if bad := [arg for arg in ctx.args if not arg.isdigit()]:
        raise PhenoBenchError(f"unexpected argument(s) {bad}; seeds are non-negative integers, e.g. --seeds 0 1 2")
    return [*seeds, *map(int, ctx.args)]


@app.command("list")
def baselines_list() -> None:
    """The training-free probes and the trained reference baselines, with their featurisers (no PyTorch needed)."""
    from rich.table import Table

    from pheno_bench.baselines.config import ABLATIONS, BASELINES, FEATURISER_VARIANTS
    from pheno_bench.baselines.probes import PROBES

    probes = Table(title="probes (training-free reference rows; `baselines run <name>`, no PyTorch)")
    for header in ("name", "probe", "kind", "setting (CV in train)"):
        probes.add_column(header)
    for name, info in PROBES.items():
        probes.add_row(name, info.title, "confound" if info.confound else "reference", info.tuned or "-")
    console.print(probes)
    table = Table(title="trained baselines (PyTorch: the baselines extra)")
    for header in ("name", "model", "loss", "featurisers", "concentration", "averaging", "undersampling"):
        table.add_column(header)
    for name, config in BASELINES.items():
        concentration = " + ".join(k for k, on in (("explicit", config.explicit_concentration), ("implicit", config.implicit_concentration)) if on) or "none"
        featurisers = ", ".join([config.featuriser, *FEATURISER_VARIANTS.get(name, [])])
        table.add_row(name, config.title, config.loss, featurisers, concentration, config.averaging if config.average_replicates else "no",
                      f"p > {config.p_value_cutoff} kept at {config.inactive_keep}" if config.undersample_inactive else "no")
    console.print(table)
    rows = Table(title="ablation rows (`baselines ablate <name> --rows a,b`; results JSON only)")
    for header in ("baseline", "row", "what changes"):
        rows.add_column(header)
    for name, table_rows in ABLATIONS.items():
        for key, label, _ in table_rows:
            rows.add_row(name, key, label)
    console.print(rows)


_EXTRA = {"allow_extra_args": True}


@app.command("run", context_settings=_EXTRA)
def baselines_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A probe (random, centroid, chem-neighbours, ridge, layout, cytotoxicity) or a trained baseline (molphenix, cloome, clip); see `baselines list`."),
    benchmark: str = typer.Option(..., "--benchmark", help="Benchmark folder or name (a fold benchmark runs every fold, or --folds)."),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="Seeds: --seeds 0 1 2 (default 0 1 2 for trained baselines, 0 for probes)."),
    out: Path = typer.Option(..., "--out", help="Entry folder to write, e.g. submissions/molphenix (metadata.yaml + [fold-<k>/]seed-<N>.parquet)."),
    replace: bool = typer.Option(False, "--replace", help="Write into an existing entry: replace the seeds/folds this run writes, keep the others."),
    folds: Optional[str] = typer.Option(None, "--folds", help="Fold benchmarks: only these folds, comma-separated (e.g. 0,1); default all."),
    results: Optional[Path] = typer.Option(None, "--results", help="Folder for the per-run results JSON (default: <pheno-bench home>/results/<benchmark>/<name>)."),
    featuriser: Optional[str] = typer.Option(None, "--featuriser", help="morgan, morgan-bits, minimol, morgan+rdkit2d, or package.module:attribute (default: the baseline's)."),
    samples: Optional[int] = typer.Option(None, "--samples", min=1, help="Training examples drawn (default: the baseline's)."),
    device: str = _DEVICE,
    progress: bool = _PROGRESS,
) -> None:
    """Run a probe, or train a baseline per seed (and fold); write the entry and score every run."""
    from pheno_bench.baselines.probes import PROBES

    seed_list = _seed_list(ctx, seeds) if seeds else ([0] if name in PROBES else [0, 1, 2])
    if name in PROBES:
        if featuriser or samples:
            raise PhenoBenchError(f"{name} is a probe: --featuriser and --samples do not apply")
        from pheno_bench.baselines.probes import run_probe

        runs = run_probe(name, benchmark=benchmark, out=out, seeds=seed_list, folds=_fold_list(folds), replace=replace, results_dir=results, log=console.print)
        console.print(f"wrote entry {out} ({len(runs)} run(s): seeds {seed_list})")
        return
    from pheno_bench.baselines.featurise import get_featuriser
    from pheno_bench.baselines.run import run_baseline, seeds_table

    overrides = {k: v for k, v in (("samples_seen", samples), ("device", device)) if v is not None}
    runs = run_baseline(name, benchmark=benchmark, seeds=seed_list, out=out, results_dir=results, featuriser=get_featuriser(featuriser) if featuriser else None,
                        folds=_fold_list(folds), replace=replace, progress=progress, log=console.print, **overrides)
    console.print(seeds_table(_by_seed(name, runs), title=name))
    console.print(f"wrote entry {out} ({len(runs)} run(s))")


def _by_seed(label: str, runs: dict) -> dict:
    """label -> seed -> Results for the seeds table; a fold benchmark shows one row per fold."""
    if all(isinstance(k, int) for k in runs):
        return {label: runs}
    rows: dict = {}
    for (seed, fold), result in sorted(runs.items()):
        rows.setdefault(f"{label} fold {fold}", {})[seed] = result
    return rows


@app.command("ablate", context_settings=_EXTRA)
def baselines_ablate(
    ctx: typer.Context,
    name: str = typer.Argument("molphenix", help="Baseline to ablate (molphenix)."),
    benchmark: str = typer.Option(..., "--benchmark", help="Benchmark folder or name."),
    seeds: list[int] = _SEEDS,
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the results JSON and summary.json (default: <pheno-bench home>/results/<benchmark>/ablate-<name>); no embeddings are kept."),
    rows: Optional[str] = typer.Option(None, "--rows", help="Only these ablation rows, comma-separated (see `baselines list`); default all."),
    folds: Optional[str] = typer.Option(None, "--folds", help="Fold benchmarks: only these folds, comma-separated; default all."),
    samples: Optional[int] = typer.Option(None, "--samples", min=1, help="Training examples drawn per run."),
    device: str = _DEVICE,
    progress: bool = _PROGRESS,
) -> None:
    """The baseline with each ablation row (a guideline off, another featuriser, a p-value cutoff...), one table per split."""
    from pheno_bench.baselines.run import ablate, seeds_table

    overrides = {k: v for k, v in (("samples_seen", samples), ("device", device)) if v is not None}
    row_keys = [r.strip() for r in rows.split(",") if r.strip()] if rows else None
    results = ablate(name, benchmark=benchmark, seeds=_seed_list(ctx, seeds), out=out, rows=row_keys, folds=_fold_list(folds), progress=progress, log=console.print, **overrides)
    table_rows: dict = {}
    for label, by_run in results.items():
        table_rows.update(_by_seed(label, by_run))
    console.print(seeds_table(table_rows, title=f"ablation of {name}"))
