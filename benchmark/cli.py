"""The ``pheno-bench`` command line: a thin layer over the Python API.

Every command catches :class:`PhenoBenchError` and prints its one-line message with exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pheno_bench import __version__
from pheno_bench.errors import PhenoBenchError

app = typer.Typer(
    help="pheno-bench: the benchmark for contrastive phenomolecular retrieval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
splits_app = typer.Typer(help="Build, inspect, publish and download frozen benchmark splits.", no_args_is_help=True)
app.add_typer(splits_app, name="splits")
console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"pheno-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """pheno-bench: frozen splits, one scorer, reference baselines, a leaderboard."""


# --- splits -------------------------------------------------------------------------------


@splits_app.command("build")
def splits_build(
    name: str = typer.Argument(..., help="Benchmark to build, e.g. cell-injury-v1."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: the pheno-bench home, where evaluate looks)."),
    data_root: Optional[Path] = typer.Option(None, help="Raw data folder (default: $PHENO_BENCH_DATA or ../shared/data)."),
    seed: Optional[int] = typer.Option(None, help="Override the benchmark's frozen seed (makes a different benchmark)."),
) -> None:
    """Build a frozen benchmark from the raw sources and print its split table."""
    from pheno_bench.split import build_benchmark
    from pheno_bench.report import split_table

    root = build_benchmark(name, out=out, data_root=data_root, seed=seed, progress=console)
    from pheno_bench.manifest import read_manifest

    manifest = read_manifest(root)
    console.print(split_table(manifest))
    console.print(f"wrote {root}  fingerprint {manifest.fingerprint}")


@splits_app.command("info")
def splits_info(
    benchmark: str = typer.Argument(..., help="Benchmark folder or name."),
    verify: bool = typer.Option(True, help="Check every file's sha256 against the manifest."),
) -> None:
    """Print the split table of a built or downloaded benchmark."""
    from pheno_bench.manifest import locate, read_manifest, verify as verify_files
    from pheno_bench.report import dose_table, split_table

    root = locate(benchmark)
    manifest = verify_files(root) if verify else read_manifest(root)
    console.print(split_table(manifest))
    console.print(dose_table(manifest))
    console.print(f"{root}  {manifest.name} v{manifest.version}  fingerprint {manifest.fingerprint}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except PhenoBenchError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
