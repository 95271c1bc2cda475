"""The ``pheno-bench`` command line: a thin layer over the Python API.

Every command catches :class:`PhenoBenchError` and prints its one-line message with exit code 2.
"""

from __future__ import annotations

import json
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
# wide enough for the split tables when piped (rich falls back to 80 columns off a terminal)
console = Console(width=None if sys.stdout.isatty() else 160)


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


@splits_app.command("publish")
def splits_publish(
    root: Path = typer.Argument(..., help="Built benchmark folder."),
    repo: str = typer.Option(..., "--repo", help="Dataset repo on the Hub, ORG/NAME."),
    revision: Optional[str] = typer.Option(None, help="Branch to commit to (created if needed; default main)."),
    private: bool = typer.Option(False, help="Create the repo private."),
    token: Optional[str] = typer.Option(None, help="Hub token (default: the `hf auth login` one or $HF_TOKEN)."),
) -> None:
    """Verify a built benchmark and upload it to the Hugging Face Hub in one commit."""
    from pheno_bench.hub import publish, repo_id_of

    sha = publish(root, repo, revision=revision, token=token, private=private)
    console.print(f"published {root} to {repo_id_of(repo)}  revision {sha}", soft_wrap=True)


@splits_app.command("download")
def splits_download(
    repo: str = typer.Argument(..., help="Dataset repo on the Hub, ORG/NAME (a bare NAME means pheno-bench/NAME)."),
    revision: Optional[str] = typer.Option(None, help="Branch, tag or commit sha to pin (default main)."),
    cache_dir: Optional[Path] = typer.Option(None, help="huggingface_hub cache (default $HF_HUB_CACHE)."),
    offline: bool = typer.Option(False, help="Use only the local cache (as HF_HUB_OFFLINE=1 does)."),
    force: bool = typer.Option(False, help="Fetch every file again even if cached."),
) -> None:
    """Download a benchmark (cached, pinned, sha256-verified) and register it under its name."""
    from pheno_bench.hub import download
    from pheno_bench.manifest import read_manifest

    root = download(repo, revision=revision, cache_dir=cache_dir, offline=offline, force=force)
    manifest = read_manifest(root)
    console.print(f"{manifest.name} v{manifest.version}  revision {root.name}  fingerprint {manifest.fingerprint}", soft_wrap=True)
    console.print(f"verified {len(manifest.files)} files in {root}", soft_wrap=True)


# --- scoring ------------------------------------------------------------------------------

submission_app = typer.Typer(help="Submission files: a valid template to copy the format from.", no_args_is_help=True)
app.add_typer(submission_app, name="submission")
_BENCHMARK = typer.Option(None, "--benchmark", help="Benchmark folder or name (default: the one named in the submission).")
_JSON = typer.Option(False, "--json", help="Print the JSON to stdout instead of tables.")
_BOOTSTRAP = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples over molecules.")
_SEED = typer.Option(0, "--seed", help="Bootstrap seed.")


@submission_app.command("template")
def submission_template(
    benchmark: str = typer.Argument(..., help="Benchmark name or folder."),
    out: Path = typer.Option(Path("example.parquet"), help="Where to write the template."),
    dim: int = typer.Option(64, min=1, help="Embedding dimension."),
    seed: int = typer.Option(0, help="Seed of the random embeddings."),
) -> None:
    """Write a valid submission of random embeddings (it scores at chance)."""
    from pheno_bench.evaluate import Evaluator

    path = Evaluator(benchmark).write_template(out, dim=dim, seed=seed)
    console.print(f"wrote {path}: every query and candidate of every test split, dim {dim}; score it with `pheno-bench evaluate {path}`")


def _emit(model, as_json: bool, out: Optional[Path], *tables) -> None:
    """Write ``model`` (Results or Comparison) to ``out`` if given, then print JSON or tables."""
    from pheno_bench.results import write_results

    if out is not None:
        write_results(model, out)
    if as_json:
        sys.stdout.write(json.dumps(model.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
        return
    for table in tables:
        console.print(table)
    if out is not None:
        console.print(f"wrote {out}")


@app.command("evaluate")
def evaluate_command(
    submission: Optional[Path] = typer.Argument(None, help="Submission parquet file."),
    benchmark: Optional[str] = _BENCHMARK,
    out: Optional[Path] = typer.Option(None, help="Results JSON (default: results.json beside the submission)."),
    as_json: bool = _JSON,
    show_format: bool = typer.Option(False, "--format", help="Print the submission format (for --benchmark or the submission's) and exit."),
    bootstrap: int = _BOOTSTRAP,
    seed: int = _SEED,
) -> None:
    """Validate and score a submission: tables on the terminal, results JSON on disk."""
    from pheno_bench.evaluate import Evaluator, submission_benchmark
    from pheno_bench.results import dose_table, results_table
    from pheno_bench.submission import FORMAT

    if show_format and submission is None and benchmark is None:
        console.print(FORMAT, markup=False, highlight=False)
        return
    if submission is None and not show_format:
        raise PhenoBenchError("no submission given; usage: pheno-bench evaluate SUBMISSION.parquet (see --format)")
    evaluator = Evaluator(benchmark or submission_benchmark(submission))
    if show_format:
        console.print(evaluator.expected_input_format, markup=False, highlight=False)
        return
    results = evaluator.evaluate(submission, n_bootstrap=bootstrap, seed=seed)
    _emit(results, as_json, out or submission.parent / "results.json", results_table(results), dose_table(results))
    for split, result in results.splits.items():
        for flag in result.flags:
            Console(stderr=True).print(f"[yellow]warning:[/] {split}: {flag}", highlight=False)


@app.command("compare")
def compare_command(
    a: Path = typer.Argument(..., help="First submission."),
    b: Path = typer.Argument(..., help="Second submission (same benchmark)."),
    benchmark: Optional[str] = _BENCHMARK,
    out: Optional[Path] = typer.Option(None, help="Also write the comparison JSON here."),
    as_json: bool = _JSON,
    bootstrap: int = _BOOTSTRAP,
    seed: int = _SEED,
) -> None:
    """Paired bootstrap over molecules: is a better than, worse than, or tied with b?"""
    from pheno_bench.evaluate import compare_submissions
    from pheno_bench.results import comparison_table

    comparison = compare_submissions(a, b, benchmark=benchmark, n_bootstrap=bootstrap, seed=seed)
    _emit(comparison, as_json, out, comparison_table(comparison))


# --- baselines ----------------------------------------------------------------------------

baselines_app = typer.Typer(help="Reference baselines (MolPhenix, CLOOME, CLIP): train, submit, score (needs PyTorch: the baselines extra).", no_args_is_help=True)
app.add_typer(baselines_app, name="baselines")
_SEEDS = typer.Option([0, 1, 2], "--seeds", help="Training seeds: --seeds 0 1 2.")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
_DEVICE = typer.Option("auto", "--device", help="auto (a GPU when present), cpu or cuda.")


def _seed_list(ctx: typer.Context, seeds: list[int]) -> list[int]:
    """Seeds from ``--seeds 0 1 2``: typer binds the first value and leaves the others as extra arguments."""
    if bad := [arg for arg in ctx.args if not arg.isdigit()]:
        raise PhenoBenchError(f"unexpected argument(s) {bad}; seeds are non-negative integers, e.g. --seeds 0 1 2")
    return [*seeds, *map(int, ctx.args)]


@baselines_app.command("list")
def baselines_list() -> None:
    """The reference baselines and what each does (no PyTorch needed)."""
    from rich.table import Table

    from pheno_bench.baselines.config import BASELINES

    table = Table(title="reference baselines")
    for header in ("name", "model", "loss", "concentration", "averaging", "undersampling"):
        table.add_column(header)
    for name, config in BASELINES.items():
        concentration = " + ".join(k for k, on in (("explicit", config.explicit_concentration), ("implicit", config.implicit_concentration)) if on) or "none"
        table.add_row(name, config.title, config.loss, concentration, "yes" if config.average_replicates else "no",
                      f"p > {config.p_value_cutoff} kept at {config.inactive_keep}" if config.undersample_inactive else "no")
    console.print(table)


_EXTRA = {"allow_extra_args": True}


@baselines_app.command("run", context_settings=_EXTRA)
def baselines_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Baseline: molphenix, cloome or clip (see `baselines list`)."),
    benchmark: str = typer.Option(..., "--benchmark", help="Benchmark folder or name."),
    seeds: list[int] = _SEEDS,
    out: Path = typer.Option(..., "--out", help="Entry folder to write (metadata.yaml + seed-<N>.parquet), e.g. submissions/molphenix."),
    results: Optional[Path] = typer.Option(None, "--results", help="Folder for the per-seed results JSON (default: <pheno-bench home>/results/<benchmark>/<name>)."),
    featuriser: Optional[str] = typer.Option(None, "--featuriser", help="morgan, morgan+rdkit2d, or package.module:attribute (default: the baseline's)."),
    samples: Optional[int] = typer.Option(None, "--samples", min=1, help="Training examples drawn (default: the baseline's, matched across baselines)."),
    device: str = _DEVICE,
    progress: bool = _PROGRESS,
) -> None:
    """Train a baseline per seed, embed the test splits, write a submission per seed and score it."""
    from pheno_bench.baselines.featurise import get_featuriser
    from pheno_bench.baselines.run import run_baseline, seeds_table

    overrides = {k: v for k, v in (("samples_seen", samples), ("device", device)) if v is not None}
    runs = run_baseline(name, benchmark=benchmark, seeds=_seed_list(ctx, seeds), out=out, results_dir=results, featuriser=get_featuriser(featuriser) if featuriser else None,
                        progress=progress, log=console.print, **overrides)
    console.print(seeds_table({name: runs}, title=name))
    console.print(f"wrote entry {out} ({len(runs)} seeds)")


@baselines_app.command("ablate", context_settings=_EXTRA)
def baselines_ablate(
    ctx: typer.Context,
    name: str = typer.Argument("molphenix", help="Baseline to ablate (molphenix)."),
    benchmark: str = typer.Option(..., "--benchmark", help="Benchmark folder or name."),
    seeds: list[int] = _SEEDS,
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for submissions, results and summary.json (default: <pheno-bench home>/results/<benchmark>/ablate-<name>)."),
    samples: Optional[int] = typer.Option(None, "--samples", min=1, help="Training examples drawn per run."),
    device: str = _DEVICE,
    progress: bool = _PROGRESS,
) -> None:
    """The baseline with each guideline switched off in turn, one table per split."""
    from pheno_bench.baselines.run import ablate, seeds_table

    overrides = {k: v for k, v in (("samples_seen", samples), ("device", device)) if v is not None}
    rows = ablate(name, benchmark=benchmark, seeds=_seed_list(ctx, seeds), out=out, progress=progress, log=console.print, **overrides)
    console.print(seeds_table(rows, title=f"ablation of {name}"))


# --- leaderboard --------------------------------------------------------------------------

leaderboard_app = typer.Typer(help="Leaderboard entries (submissions/<entry>/) and the static site pages.", no_args_is_help=True)
app.add_typer(leaderboard_app, name="leaderboard")
_SUBMISSIONS = typer.Option(Path("submissions"), "--submissions", help="Folder of leaderboard entries.")


@leaderboard_app.command("add")
def leaderboard_add(
    files: list[Path] = typer.Argument(..., help="Submission files, one per seed listed in the metadata, in that order."),
    entry: str = typer.Option(..., "--entry", help="Entry name: lower-case letters, digits, '-', '_', '.' (e.g. my-model)."),
    metadata: Path = typer.Option(..., "--metadata", help="The entry's metadata YAML (see the docs: How to submit)."),
    submissions: Path = _SUBMISSIONS,
    benchmark: Optional[Path] = typer.Option(None, "--benchmark", help="Benchmark folder (default: the one named in the metadata)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing entry of that name."),
) -> None:
    """Validate and score submission files, then write them as the entry submissions/<entry>/."""
    from pheno_bench.leaderboard import add_entry

    added = add_entry(files, entry=entry, metadata=metadata, submissions=submissions, benchmark=benchmark, replace=replace)
    console.print(f"wrote entry {added.path} ({added.metadata.model}, seeds {added.metadata.seeds}); now run `pheno-bench leaderboard build`")


@leaderboard_app.command("build")
def leaderboard_build(
    submissions: Path = _SUBMISSIONS,
    site: Path = typer.Option(Path("site"), "--site", help="mkdocs docs folder; pages go to <site>/leaderboard/."),
    benchmark: list[Path] = typer.Option([], "--benchmark", help="Benchmark folder to use for its name (repeatable); default: where splits build/download put it."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Report invalid entries and build the rest instead of failing."),
) -> None:
    """Re-score every entry with the installed scorer and render the leaderboard pages and plots."""
    from rich.markup import escape

    from pheno_bench.leaderboard import build

    report = build(submissions=submissions, site=site, benchmarks=benchmark, skip_invalid=skip_invalid)
    for name, entries in report.benchmarks.items():
        console.print(f"{name}: re-scored {', '.join(entries)}", highlight=False)
    for name, why in report.skipped.items():
        Console(stderr=True).print(f"[yellow]skipped[/] {escape(name)}: {escape(why)}", highlight=False, soft_wrap=True)
    console.print(f"wrote {report.out}; now `mkdocs build --strict` or `mkdocs serve`")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except PhenoBenchError as exc:
        from rich.markup import escape

        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
