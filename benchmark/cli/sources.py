"""``pheno-bench sources``: fetch raw field datasets from their publishers, and pin them (maintainers)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pheno_bench.cli.common import console

app = typer.Typer(help="Raw field datasets fetched from their publishers (pinned, verified against the publisher's checksums).", no_args_is_help=True)


@app.command("fetch")
def sources_fetch(
    name: str = typer.Argument(..., help="Source to fetch: rxrx3-core or lincs-cp."),
    data_root: Optional[Path] = typer.Option(None, help="Raw data folder; a local copy <data-root>/<source>/ is checked and used instead."),
    revision: Optional[str] = typer.Option(None, help="Hub commit, branch or tag (rxrx3-core; default: the commit recorded at the last fetch, else the pinned release)."),
    offline: bool = typer.Option(False, help="Use only what is already downloaded."),
    force: bool = typer.Option(False, help="Download again; a kept copy is replaced only once the new download is complete and checked."),
    update: bool = typer.Option(False, help="Accept another Hub revision than the recorded one; its files are verified and recorded again (rxrx3-core)."),
) -> None:
    """Fetch a source's raw files and check each against the publisher's checksum (the Hub's LFS sha256 or git blob id; S3's MD5 ETag)."""
    from collections import Counter

    from pheno_bench.fetch import fetch_source

    fetched = fetch_source(name, data_root=data_root, revision=revision, offline=offline, force=force, update=update)
    how = Counter(fetched.verified.get(n, "sha256 recorded in the lock") for n in fetched.files)
    console.print(f"{fetched.source}: {len(fetched.files)} files checked in {fetched.folder}", soft_wrap=True, highlight=False)
    if fetched.revision:
        console.print(f"revision {fetched.revision}", soft_wrap=True, highlight=False)
    console.print("verified against: " + ", ".join(f"{kind} ({n})" for kind, n in sorted(how.items())), soft_wrap=True, highlight=False)
    console.print(f"recorded in {fetched.lock}", soft_wrap=True, highlight=False)


@app.command("pin")
def sources_pin(
    name: str = typer.Argument(..., help="Source to pin: rxrx3-core or lincs-cp."),
    revision: Optional[str] = typer.Option(None, help="Hub revision to pin (rxrx3-core; default: the recorded one, else main)."),
    data_root: Optional[Path] = typer.Option(None, help="Raw data folder (the other sources of the benchmarks built)."),
    build: bool = typer.Option(True, help="Build every benchmark of the source to record its fingerprint."),
    benchmark: list[Path] = typer.Option([], help="A build of a benchmark of this source to read the fingerprint of, instead of building (repeatable)."),
    out: Optional[Path] = typer.Option(None, help="Where --build writes the benchmarks (default: the pheno-bench home)."),
    module: Optional[Path] = typer.Option(None, help="Pins module to rewrite (default: the installed adapter's, e.g. benchmark/sources/rxrx3_core_pins.py)."),
) -> None:
    """Maintainers: record a real, verified fetch (revision, checksums) and the benchmarks' fingerprints into the source's pins module."""
    from pheno_bench.pins import pin_source

    pin_source(name, revision=revision, data_root=data_root, build=build, benchmarks=benchmark, out=out, module_path=module,
               log=lambda line: console.print(line, soft_wrap=True, highlight=False))
