"""The ``pheno-bench`` command line: a thin layer over the Python API.

One module per command group: :mod:`.splits` (``splits``), :mod:`.scoring` (``evaluate``,
``compare``, ``submission template``), :mod:`.baselines` (``baselines``), :mod:`.leaderboard`
(``leaderboard``), :mod:`.sources` (``sources``); :mod:`.common` holds the console they print to.
This module puts them together as one Typer app (:data:`app`) and is the console script's entry
point (:func:`main`). Every command catches :class:`PhenoBenchError` and prints its one-line
message with exit code 2.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer
from typer.core import TyperCommand
from rich.console import Console

from pheno_bench.cli import baselines, leaderboard, scoring, sources, splits
from pheno_bench.cli.common import ListOptions, console, fit_width
from pheno_bench.errors import PhenoBenchError
from pheno_bench.text import literal
from pheno_bench.version import __version__

app = typer.Typer(
    help="pheno-bench: the benchmark for contrastive phenomolecular retrieval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"pheno-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """pheno-bench: frozen splits, one scorer, reference baselines, a leaderboard."""


app.add_typer(splits.app, name="splits")
app.add_typer(scoring.submission_app, name="submission")
app.command("evaluate")(scoring.evaluate_command)
app.command("compare")(scoring.compare_command)
app.add_typer(baselines.app, name="baselines")
app.add_typer(leaderboard.app, name="leaderboard")
app.add_typer(sources.app, name="sources")


def _one_flag_style(typer_app: typer.Typer) -> None:
    """Every command of every group parses its list options the same way (:class:`ListOptions`):
    ``--seeds 0 1 2``, ``--seeds 0 --seeds 1``, ``--seeds 0,1,2`` alike."""
    for info in typer_app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = ListOptions
    for group in typer_app.registered_groups:
        _one_flag_style(group.typer_instance)


_one_flag_style(app)


def main() -> None:
    """Console-script entry point."""
    fit_width()
    try:
        app()
    except PhenoBenchError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {literal(exc)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)

