"""``pheno-bench splits``: build, list, inspect, publish and download frozen benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pheno_bench.cli.common import console, show
from pheno_bench.text import literal

app = typer.Typer(help="Build, inspect, publish and download frozen benchmark splits.", no_args_is_help=True)


@app.command("build")
def splits_build(
    name: str = typer.Argument(..., help="Benchmark to build, e.g. cell-injury-v1."),
    out: Optional[Path] = typer.Option(None, help="Output folder: new, empty, or an earlier build (replaced whole); default: the pheno-bench home."),
    data_root: Optional[Path] = typer.Option(None, help="Raw data folder (default: $PHENO_BENCH_DATA or ../shared/data)."),
    seed: Optional[int] = typer.Option(None, help="Override the benchmark's frozen seed (makes a different benchmark)."),
) -> None:
    """Build a frozen benchmark from the raw sources and print its split table."""
    from pheno_bench.folds import is_fold_set
    from pheno_bench.manifest import read_manifest
    from pheno_bench.report import split_table
    from pheno_bench.split import build_benchmark

    root = build_benchmark(name, out=out, data_root=data_root, seed=seed, progress=console)
    if is_fold_set(root):
        _print_fold_set(root)
        return
    manifest = read_manifest(root)
    show(split_table(manifest))
    console.print(f"wrote {literal(root)}  {literal(manifest.name)} v{literal(manifest.version)}  fingerprint {manifest.fingerprint}", highlight=False, soft_wrap=True)


def _print_fold_set(root: Path, *, verify: bool = False, verb: str = "wrote") -> None:
    """One table per fold (the fold in its title, the splits in the same order in each), every fold
    side by side, the sources, then the fingerprint."""
    from pheno_bench.folds import fold_root, read_fold_set, verify_fold_set
    from pheno_bench.manifest import read_manifest
    from pheno_bench.report import fold_table, pooled_table, sources_table

    fold_set = verify_fold_set(root) if verify else read_fold_set(root)
    manifests = {entry.fold: read_manifest(fold_root(root, entry.fold)) for entry in fold_set.folds}
    for k, manifest in manifests.items():
        show(fold_table(fold_set, k, manifest))
    first = next(iter(manifests.values()))
    show(pooled_table(fold_set, [s.split for s in first.splits]))
    # issue 15: the sources' choices and exclusions (the same in every fold)
    show(sources_table(first))
    console.print(f"{verb} {literal(root)}  {literal(fold_set.name)} v{literal(fold_set.version)}  {fold_set.k} folds  fingerprint {fold_set.fingerprint}",
                  highlight=False, soft_wrap=True)


@app.command("list")
def splits_list() -> None:
    """The built and downloaded benchmarks this pheno-bench home knows, and which one each name means."""
    from pheno_bench.registry import listing, registry_path

    rows = listing()
    if not rows:
        console.print(f"no benchmark built or downloaded yet ({registry_path()}); run `pheno-bench splits build NAME` or `splits download ORG/NAME`")
        return
    width = max(len(row["name"]) for row in rows)
    console.print(f"{'name':{width}}  version  fingerprint   origin    by name         path  ({registry_path()})", highlight=False)
    for row in rows:
        mark = "yes" if row.get("resolves") else ("gone" if not row["alive"] else "by fingerprint")
        console.print(f"{row['name']:{width}}  {row.get('version', '?'):7}  {row['fingerprint'][:12]}  {row.get('origin', '?'):8}  "
                      f"{mark:14}  {row['path']}", highlight=False, soft_wrap=True)


@app.command("info")
def splits_info(
    benchmark: str = typer.Argument(..., help="Benchmark folder or name."),
    verify: bool = typer.Option(True, help="Check every file's sha256 against the manifest (the last line then says 'verified')."),
) -> None:
    """Print the split table of a built or downloaded benchmark."""
    from pheno_bench.folds import is_fold_set
    from pheno_bench.manifest import read_manifest, verify as verify_files
    from pheno_bench.registry import locate
    from pheno_bench.report import dose_table, sources_table, split_table

    root = locate(benchmark)
    if is_fold_set(root):
        _print_fold_set(root, verify=verify, verb="verified" if verify else "read")
        return
    manifest = verify_files(root) if verify else read_manifest(root)
    show(split_table(manifest), dose_table(manifest), sources_table(manifest))  # sources: issue 15
    console.print(f"{'verified' if verify else 'read'} {literal(root)}  {literal(manifest.name)} v{literal(manifest.version)}  fingerprint {manifest.fingerprint}",
                  highlight=False, soft_wrap=True)


@app.command("publish")
def splits_publish(
    root: str = typer.Argument(..., help="Built benchmark (or fold set) folder, or its name."),
    repo: str = typer.Option(..., "--repo", help="Dataset repo on the Hub, ORG/NAME."),
    revision: Optional[str] = typer.Option(None, help="Branch to commit to (created if needed; default main)."),
    private: bool = typer.Option(False, help="Create the repo private."),
    token: Optional[str] = typer.Option(None, help="Hub token (default: the `hf auth login` one or $HF_TOKEN)."),
) -> None:
    """Verify a built benchmark and upload it to the Hugging Face Hub; print the revision to cite."""
    from pheno_bench.hub import publish, repo_id_of
    from pheno_bench.registry import locate

    folder = locate(root)
    repo_id = repo_id_of(repo)
    sha = publish(folder, repo_id, revision=revision, token=token, private=private)
    console.print(f"published {folder} to {repo_id}", soft_wrap=True)
    console.print(f"revision to cite: {repo_id}@{sha}", soft_wrap=True)
    console.print(f"users get exactly this copy with: pheno-bench splits download {repo_id} --revision {sha}", soft_wrap=True)


@app.command("download")
def splits_download(
    repo: str = typer.Argument(..., help="Dataset repo on the Hub, ORG/NAME (a bare NAME means pheno-bench/NAME)."),
    revision: Optional[str] = typer.Option(None, help="Branch, tag or commit sha to pin (default main)."),
    cache_dir: Optional[Path] = typer.Option(None, help="huggingface_hub cache (default $HF_HUB_CACHE)."),
    offline: bool = typer.Option(False, help="Use only the local cache (as HF_HUB_OFFLINE=1 does)."),
    force: bool = typer.Option(False, help="Fetch every file again even if cached."),
) -> None:
    """Download a benchmark (cached, pinned, sha256-verified) and register it under its name."""
    from pheno_bench.folds import is_fold_set, read_fold_set
    from pheno_bench.hub import download
    from pheno_bench.manifest import read_manifest
    root = download(repo, revision=revision, cache_dir=cache_dir, offline=offline, force=force)
    if is_fold_set(root):
        folds = read_fold_set(root)
        n_files = sum(len(read_manifest(root / f.path).files) for f in folds.folds)
        console.print(f"{literal(folds.name)} v{literal(folds.version)} ({folds.k} folds)  revision {literal(root.name)}  fingerprint {folds.fingerprint}", soft_wrap=True)
    else:
        manifest = read_manifest(root)
        n_files = len(manifest.files)
        console.print(f"{literal(manifest.name)} v{literal(manifest.version)}  revision {literal(root.name)}  fingerprint {manifest.fingerprint}", soft_wrap=True)
    console.print(f"verified {n_files} files in {root}", soft_wrap=True)
