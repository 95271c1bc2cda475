"""``pheno-bench baselines``: list, run and ablate the probes and the reference baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pheno_bench.cli.common import console
from pheno_bench.errors import PhenoBenchError

app = typer.Typer(help="Reference baselines (MolPhenix, CLOOME, CLIP): train, submit, score (needs PyTorch: the baselines extra).", no_args_is_help=True)
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
_DEVICE = typer.Option("auto", "--device", help="auto (a GPU when present), cpu or cuda.")
_FOLDS = typer.Option(None, "--folds", help="Fold benchmarks: only these folds, e.g. --folds 0 1; default all.")


def _show(results: dict, title: str, name: str) -> None:
    """The primary metric per row over its seeds, then the seeds table (stacked to the width)."""
    from pheno_bench.results_tables import primary_seed_lines, seeds_table

    rows = _by_seed(name, results)
    for line in primary_seed_lines(rows):
        console.print(line, highlight=False, soft_wrap=True)
    for table in seeds_table(rows, title=title).tables(console.width):
        console.print(table, highlight=False)


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


@app.command("run")
def baselines_run(
    name: str = typer.Argument(..., help="A probe (random, centroid, chem-neighbours, ridge, layout, cytotoxicity) or a trained baseline (molphenix, cloome, clip); see `baselines list`."),
    benchmark: str = typer.Option(..., "--benchmark", help="Benchmark folder or name (a fold benchmark runs every fold, or --folds)."),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="Seeds, e.g. --seeds 0 1 2 (default 0 1 2 for trained baselines, 0 for probes)."),
    out: Path = typer.Option(..., "--out", help="Entry folder to write, e.g. submissions/molphenix (metadata.yaml + [fold-<k>/]seed-<N>.parquet)."),
    replace: bool = typer.Option(False, "--replace", help="Write into an existing entry: replace the seeds/folds this run writes (and their results), keep the others."),
    folds: Optional[list[int]] = _FOLDS,
    results: Optional[Path] = typer.Option(None, "--results", help="Folder for the per-run results JSON (default: <pheno-bench home>/results/<benchmark>/<entry folder name>)."),
    featuriser: Optional[str] = typer.Option(None, "--featuriser", help="morgan, morgan-bits, minimol, morgan+rdkit2d, or a module:attribute of yours (default: the baseline's)."),
    samples: Optional[int] = typer.Option(None, "--samples", min=1, help="Training examples drawn (default: the baseline's)."),
    device: str = _DEVICE,
    progress: bool = _PROGRESS,
) -> None:
    """Run a probe, or train a baseline per seed (and fold); write the entry and score every run."""
    from pheno_bench.baselines.probes import PROBES

    seed_list = list(seeds) if seeds else ([0] if name in PROBES else [0, 1, 2])
    if name in PROBES:
        if featuriser or samples:
            raise PhenoBenchError(f"{name} is a probe: --featuriser and --samples do not apply")
        from pheno_bench.baselines.probes import run_probe

        runs = run_probe(name, benchmark=benchmark, out=out, seeds=seed_list, folds=folds or None, replace=replace, results_dir=results, log=console.print)
        _show(runs, name, name)
        console.print(f"wrote entry {out} ({len(runs)} run(s): seeds {seed_list})")
        return
    from pheno_bench.baselines.featurise import get_featuriser
    from pheno_bench.baselines.run import run_baseline

    overrides = {k: v for k, v in (("samples_seen", samples), ("device", device)) if v is not None}
    runs = run_baseline(name, benchmark=benchmark, seeds=seed_list, out=out, results_dir=results, featuriser=get_featuriser(featuriser) if featuriser else None,
                        folds=folds or None, replace=replace, progress=progress, log=console.print, **overrides)
    _show(runs, name, name)
    console.print(f"wrote entry {out} ({len(runs)} run(s))")


def _by_seed(label: str, runs: dict) -> dict:
    """label -> seed -> Results for the seeds table; a fold benchmark shows one row per fold."""
    if all(isinstance(k, int) for k in runs):
        return {label: runs}
    rows: dict = {}
    for (seed, fold), result in sorted(runs.items()):
        rows.setdefault(f"{label} fold {fold}", {})[seed] = result
    return rows


@app.command("ablate")
def baselines_ablate(
    name: str = typer.Argument("molphenix", help="Baseline to ablate (molphenix)."),
    benchmark: str = typer.Option(..., "--benchmark", help="Benchmark folder or name."),
    seeds: list[int] = typer.Option([0, 1, 2], "--seeds", help="Training seeds, e.g. --seeds 0 1 2."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the results JSON and summary.json (default: <pheno-bench home>/results/<benchmark>/ablate-<name>); no embeddings are kept."),
    rows: Optional[list[str]] = typer.Option(None, "--rows", help="Only these ablation rows, e.g. --rows no-averaging morgan (see `baselines list`); default all."),
    folds: Optional[list[int]] = _FOLDS,
    samples: Optional[int] = typer.Option(None, "--samples", min=1, help="Training examples drawn per run."),
    replace: bool = typer.Option(False, "--replace", help="Replace the results of an earlier ablation in --out."),
    device: str = _DEVICE,
    progress: bool = _PROGRESS,
) -> None:
    """The baseline with each ablation row (a guideline off, another featuriser, a p-value cutoff...), one table per split."""
    from pheno_bench.baselines.run import ablate
    from pheno_bench.results_tables import seeds_table

    overrides = {k: v for k, v in (("samples_seen", samples), ("device", device)) if v is not None}
    results = ablate(name, benchmark=benchmark, seeds=list(seeds), out=out, rows=list(rows) if rows else None, folds=folds or None, replace=replace, progress=progress, log=console.print, **overrides)
    table_rows: dict = {}
    for label, by_run in results.items():
        table_rows.update(_by_seed(label, by_run))
    for table in seeds_table(table_rows, title=f"ablation of {name}").tables(console.width):
        console.print(table, highlight=False)
