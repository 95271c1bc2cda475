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
    out: Optional[Path] = typer.Option(None, help="Output folder: new, empty, or an earlier build (replaced whole); default: the pheno-bench home."),
    data_root: Optional[Path] = typer.Option(None, help="Raw data folder (default: $PHENO_BENCH_DATA or ../shared/data)."),
    seed: Optional[int] = typer.Option(None, help="Override the benchmark's frozen seed (makes a different benchmark)."),
) -> None:
    """Build a frozen benchmark from the raw sources and print its split table."""
    from pheno_bench.split import build_benchmark
    from pheno_bench.report import split_table

    root = build_benchmark(name, out=out, data_root=data_root, seed=seed, progress=console)
    from pheno_bench.folds import is_fold_set
    from pheno_bench.manifest import read_manifest

    if is_fold_set(root):
        _print_fold_set(root)
        return
    manifest = read_manifest(root)
    console.print(split_table(manifest))
    console.print(f"wrote {root}  fingerprint {manifest.fingerprint}")


def _print_fold_set(root: Path, *, verify: bool = False, verb: str = "wrote") -> None:
    """Per fold its split table and composition, then the pooled composition and the fingerprint."""
    from pheno_bench.folds import fold_root, read_fold_set, verify_fold_set
    from pheno_bench.manifest import read_manifest
    from pheno_bench.report import fold_table, pooled_table, split_table

    fold_set = verify_fold_set(root) if verify else read_fold_set(root)
    for entry in fold_set.folds:
        console.print(split_table(read_manifest(fold_root(root, entry.fold))))
        console.print(fold_table(fold_set, entry.fold))
    console.print(pooled_table(fold_set))
    from pheno_bench.report import sources_table  # issue 15: the sources' choices and exclusions (the same in every fold)

    console.print(sources_table(read_manifest(fold_root(root, fold_set.folds[0].fold))))
    console.print(f"{verb} {root}  {fold_set.name} v{fold_set.version}  {fold_set.k} folds  fingerprint {fold_set.fingerprint}", soft_wrap=True)


@splits_app.command("list")
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


@splits_app.command("info")
def splits_info(
    benchmark: str = typer.Argument(..., help="Benchmark folder or name."),
    verify: bool = typer.Option(True, help="Check every file's sha256 against the manifest."),
) -> None:
    """Print the split table of a built or downloaded benchmark."""
    from pheno_bench.manifest import locate, read_manifest, verify as verify_files
    from pheno_bench.report import dose_table, split_table

    from pheno_bench.folds import is_fold_set

    root = locate(benchmark)
    if is_fold_set(root):
        _print_fold_set(root, verify=verify, verb="verified" if verify else "read")
        return
    manifest = verify_files(root) if verify else read_manifest(root)
    console.print(split_table(manifest))
    console.print(dose_table(manifest))
    from pheno_bench.report import sources_table  # issue 15

    console.print(sources_table(manifest))
    from pheno_bench.results import literal

    console.print(f"{literal(root)}  {literal(manifest.name)} v{literal(manifest.version)}  fingerprint {manifest.fingerprint}", highlight=False)


@splits_app.command("publish")
def splits_publish(
    root: str = typer.Argument(..., help="Built benchmark (or fold set) folder, or its name."),
    repo: str = typer.Option(..., "--repo", help="Dataset repo on the Hub, ORG/NAME."),
    revision: Optional[str] = typer.Option(None, help="Branch to commit to (created if needed; default main)."),
    private: bool = typer.Option(False, help="Create the repo private."),
    token: Optional[str] = typer.Option(None, help="Hub token (default: the `hf auth login` one or $HF_TOKEN)."),
) -> None:
    """Verify a built benchmark and upload it to the Hugging Face Hub; print the revision to cite."""
    from pheno_bench.hub import publish, repo_id_of
    from pheno_bench.manifest import locate

    folder = locate(root)
    repo_id = repo_id_of(repo)
    sha = publish(folder, repo_id, revision=revision, token=token, private=private)
    console.print(f"published {folder} to {repo_id}", soft_wrap=True)
    console.print(f"revision to cite: {repo_id}@{sha}", soft_wrap=True)
    console.print(f"users get exactly this copy with: pheno-bench splits download {repo_id} --revision {sha}", soft_wrap=True)


@splits_app.command("download")
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
    from pheno_bench.results import literal

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


# --- scoring ------------------------------------------------------------------------------

submission_app = typer.Typer(help="Submission files: a valid template to copy the format from.", no_args_is_help=True)
app.add_typer(submission_app, name="submission")
_BENCHMARK = typer.Option(None, "--benchmark", help="Benchmark folder or name (default: the one named in the submission).")
_JSON = typer.Option(False, "--json", help="Print the JSON to stdout instead of tables.")
_BOOTSTRAP = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples over molecules.")
_SEED = typer.Option(0, "--seed", help="Bootstrap seed.")


@submission_app.command("template")
def submission_template(
    benchmark: str = typer.Argument(..., help="Benchmark name or folder (a fold: NAME/fold-K or --fold K)."),
    out: Path = typer.Option(Path("example.parquet"), help="Where to write the template (with --all-folds: a folder)."),
    dim: int = typer.Option(64, min=1, max=4096, help="Embedding dimension (at most 4096, the scorer's cap)."),
    seed: int = typer.Option(0, help="Seed of the random embeddings."),
    fold: Optional[int] = typer.Option(None, "--fold", min=0, help="For a benchmark with folds: the fold to write a template for."),
    all_folds: bool = typer.Option(False, "--all-folds", help="For a benchmark with folds: one template per fold, <out>/fold-<k>.parquet."),
) -> None:
    """Write a valid submission of random embeddings (it scores at chance)."""
    from pheno_bench.evaluate import Evaluator, _fold_numbers
    from pheno_bench.manifest import locate
    from pheno_bench.results import literal

    root = locate(benchmark)
    _refuse_overwriting_inputs(out / "fold-0.parquet" if all_folds else out, [], _benchmark_folder(root))
    if all_folds:
        paths = [Evaluator(root, fold=k).write_template(out / f"fold-{k}.parquet", dim=dim, seed=seed) for k in _fold_numbers(root)]
        console.print(f"wrote {len(paths)} fold templates in {literal(out)}, dim {dim}; score them together with "
                      f"`pheno-bench evaluate {literal(out)}/fold-*.parquet`", highlight=False, soft_wrap=True)
        return
    path = Evaluator(benchmark, fold=fold).write_template(out, dim=dim, seed=seed)
    console.print(f"wrote {literal(path)}: every query and candidate of every test split, dim {dim}; score it with `pheno-bench evaluate {literal(path)}`",
                  highlight=False, soft_wrap=True)


def _benchmark_folder(root: Path) -> Path:
    """The whole benchmark folder a root belongs to: a fold's fold set, else the root itself."""
    from pheno_bench.folds import is_fold_set

    return root.parent if root.name.startswith("fold-") and is_fold_set(root.parent) else root


def _refuse_overwriting_inputs(out: Optional[Path], inputs: list[Path], benchmark_root: Optional[Path] = None) -> None:
    """--out may not be a submission or any file of the benchmark (one clear error before any work)."""
    if out is None:
        return
    target = out.resolve()
    for path in inputs:
        if path.resolve() == target:
            raise PhenoBenchError(f"{out}: --out is the input file {path}; write the results elsewhere (e.g. --out results.json)")
    if benchmark_root is not None and target.is_relative_to(benchmark_root.resolve()):
        raise PhenoBenchError(f"{out}: --out is inside the benchmark folder {benchmark_root}; write the results elsewhere")
    if target.is_dir():
        raise PhenoBenchError(f"{out}: --out is a folder; give a file name, e.g. {out / 'results.json'}")


def _emit(model, as_json: bool, out: Optional[Path], *printables) -> None:
    """Render everything first, then write ``model`` (Results or Comparison) to ``out``, then print:
    nothing is written unless scoring and rendering succeeded."""
    from pheno_bench.results import literal, write_results

    if as_json:
        text = json.dumps(model.model_dump(mode="json"), indent=2, sort_keys=True, allow_nan=False) + "\n"
    else:
        with console.capture() as capture:
            for item in printables:
                console.print(item, highlight=False)
            if out is not None:
                console.print(f"wrote {literal(out)}", highlight=False, soft_wrap=True)
        text = capture.get()
    if out is not None:
        write_results(model, out)
    sys.stdout.write(text)


def _limits(max_dim: Optional[int], max_file_mb: Optional[int]):
    from pheno_bench.submission import Limits

    default = Limits()
    return Limits(max_dim=max_dim or default.max_dim, max_bytes=max_file_mb * 2**20 if max_file_mb else default.max_bytes)


_MAX_DIM = typer.Option(None, "--max-dim", min=1, help="Maintainers: raise the embedding dimension cap (default 4096).")
_MAX_MB = typer.Option(None, "--max-file-mb", min=1, help="Maintainers: raise the submission file size cap (default 2048 MB).")


@app.command("evaluate")
def evaluate_command(
    submissions: Optional[list[Path]] = typer.Argument(None, help="Submission parquet file; for a benchmark with folds, one file per fold (all folds)."),
    benchmark: Optional[str] = _BENCHMARK,
    out: Optional[Path] = typer.Option(None, help="Results JSON (default: results.json beside the (first) submission)."),
    as_json: bool = _JSON,
    show_format: bool = typer.Option(False, "--format", help="Print the submission format (for --benchmark or the submission's) and exit."),
    bootstrap: int = _BOOTSTRAP,
    seed: int = _SEED,
    max_dim: Optional[int] = _MAX_DIM,
    max_file_mb: Optional[int] = _MAX_MB,
) -> None:
    """Validate and score a submission (or one model's fold files, pooled): primary metric first, tables, results JSON on disk."""
    from pheno_bench.evaluate import Evaluator, evaluate_folds, locate_submission_benchmark
    from pheno_bench.folds import is_fold_set
    from pheno_bench.manifest import locate
    from pheno_bench.results import dose_table, literal, primary_line, results_table
    from pheno_bench.submission import FORMAT, peek_metadata

    submissions = submissions or []
    if show_format and not submissions and benchmark is None:
        console.print(FORMAT, markup=False, highlight=False)
        return
    if not submissions and not show_format:
        raise PhenoBenchError("no submission given; usage: pheno-bench evaluate SUBMISSION.parquet (see --format)")
    limits = _limits(max_dim, max_file_mb)
    out = out if out is not None or show_format else submissions[0].parent / "results.json"
    if show_format:
        root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(submissions[0])
        if is_fold_set(root):  # evaluate has no --fold: the file's fold, else name the fold in --benchmark
            from pheno_bench.folds import fold_root, read_fold_set

            fold = peek_metadata(submissions[0]).fold if benchmark is None else None
            if fold is None:
                fold_set = read_fold_set(root)
                named = str(benchmark).rstrip("/") if benchmark is not None else fold_set.name
                raise PhenoBenchError(
                    f"{fold_set.name} is a set of {fold_set.k} folds, each with its own ids: address a fold, e.g. "
                    f"`pheno-bench evaluate --format --benchmark {named}/fold-{fold_set.folds[0].fold}`"
                )
            root = fold_root(root, fold)
        evaluator = Evaluator(root)
        console.print(evaluator.expected_input_format, markup=False, highlight=False)
        return
    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(submissions[0])
    _refuse_overwriting_inputs(out, submissions, root)
    if is_fold_set(root):  # every fold file of one model, pooled
        if any(peek_metadata(p).fold is None for p in submissions):
            raise PhenoBenchError(f"{root.name} has folds: give one file per fold, each naming its fold (write_submission(..., fold=k))")
        results = evaluate_folds(submissions, benchmark=root, n_bootstrap=bootstrap, seed=seed, limits=limits)
    elif len(submissions) > 1:
        raise PhenoBenchError(f"{len(submissions)} files given, but {root} is one benchmark (or one fold): score one file at a time, or all fold files of a fold benchmark")
    else:
        results = Evaluator(root, limits=limits).evaluate(submissions[0], n_bootstrap=bootstrap, seed=seed)
    _emit(results, as_json, out, primary_line(results), results_table(results), dose_table(results))
    warn = Console(stderr=True)
    for split, result in results.splits.items():
        for flag in result.flags:
            note = " (scores at chance under the fair tie rule)" if "same embedding" in flag else ""
            warn.print(f"[yellow]warning:[/] {split}: {literal(flag)}{note}", highlight=False, soft_wrap=True)


@app.command("compare")
def compare_command(
    a: Optional[Path] = typer.Argument(None, help="First submission."),
    b: Optional[Path] = typer.Argument(None, help="Second submission (same benchmark)."),
    a_files: list[Path] = typer.Option([], "--a", help="Entry a's files (repeat: every seed, and every fold of a fold benchmark); pooled."),
    b_files: list[Path] = typer.Option([], "--b", help="Entry b's files (repeat); pooled."),
    benchmark: Optional[str] = _BENCHMARK,
    out: Optional[Path] = typer.Option(None, help="Also write the comparison JSON here."),
    as_json: bool = _JSON,
    bootstrap: int = _BOOTSTRAP,
    seed: int = _SEED,
) -> None:
    """Is a better than, worse than, or tied with b? Primary metric: paired bootstrap over molecules; other cells Holm-adjusted."""
    from pheno_bench.compare import compare_entries
    from pheno_bench.results import comparison_table, primary_comparison_line

    side_a = [*([a] if a else []), *a_files]
    side_b = [*([b] if b else []), *b_files]
    if not side_a or not side_b:
        raise PhenoBenchError("compare needs two submissions: pheno-bench compare A.parquet B.parquet (or --a FILE ... --b FILE ...)")
    from pheno_bench.evaluate import locate_submission_benchmark
    from pheno_bench.manifest import locate

    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(side_a[0])
    _refuse_overwriting_inputs(out, [*side_a, *side_b], _benchmark_folder(root))
    resolved_a, resolved_b = [p.resolve() for p in side_a], [p.resolve() for p in side_b]
    for name, side in (("a", resolved_a), ("b", resolved_b)):
        if len(set(side)) < len(side):
            twice = next(p for p in side if side.count(p) > 1)
            raise PhenoBenchError(f"{twice}: given twice for {name}; each file is one run (a seed, or a fold of a seed) of the entry")
    if both := sorted(set(resolved_a) & set(resolved_b)):
        raise PhenoBenchError(f"{both[0]}: given for both a and b; compare two different entries")
    comparison = compare_entries(side_a, side_b, benchmark=benchmark, n_bootstrap=bootstrap, seed=seed)
    _emit(comparison, as_json, out, primary_comparison_line(comparison), comparison_table(comparison))


# --- baselines ----------------------------------------------------------------------------

baselines_app = typer.Typer(help="Reference baselines (MolPhenix, CLOOME, CLIP): train, submit, score (needs PyTorch: the baselines extra).", no_args_is_help=True)
app.add_typer(baselines_app, name="baselines")
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


@baselines_app.command("list")
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


@baselines_app.command("run", context_settings=_EXTRA)
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


@baselines_app.command("ablate", context_settings=_EXTRA)
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


# --- leaderboard --------------------------------------------------------------------------

leaderboard_app = typer.Typer(help="Leaderboard entries (submissions/<entry>/) and the static site pages.", no_args_is_help=True)
app.add_typer(leaderboard_app, name="leaderboard")
_SUBMISSIONS = typer.Option(Path("submissions"), "--submissions", help="Folder of leaderboard entries.")


@leaderboard_app.command("add")
def leaderboard_add(
    files: list[Path] = typer.Argument(..., help="Submission files, one per seed listed in the metadata, in that order (fold benchmarks: every fold's files, the fold read from each file)."),
    entry: str = typer.Option(..., "--entry", help="Entry name: lower-case letters, digits, '-', '_', '.' (e.g. my-model)."),
    metadata: Path = typer.Option(..., "--metadata", help="The entry's metadata YAML (see the docs: How to submit)."),
    submissions: Path = _SUBMISSIONS,
    benchmark: Optional[Path] = typer.Option(None, "--benchmark", help="Benchmark folder (default: the one named in the metadata)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing entry of that name."),
) -> None:
    """Validate and score submission files, then write them as the entry submissions/<entry>/."""
    from pheno_bench.leaderboard import add_entry, read_metadata
    from pheno_bench.leaderboard.entries import files_by_fold
    from pheno_bench.results import literal

    meta = read_metadata(metadata)
    runs = files_by_fold(files, meta) if meta.folds is not None else files
    added = add_entry(runs, entry=entry, metadata=meta, submissions=submissions, benchmark=benchmark, replace=replace)
    folds = f", folds {added.metadata.folds}" if added.metadata.folds is not None else ""
    console.print(
        f"wrote entry {literal(added.path)} ({literal(added.metadata.model)}, seeds {added.metadata.seeds}{folds}); "
        "now run `pheno-bench leaderboard build`", highlight=False, soft_wrap=True,
    )


@leaderboard_app.command("build")
def leaderboard_build(
    submissions: Path = _SUBMISSIONS,
    site: Path = typer.Option(Path("site"), "--site", help="mkdocs docs folder; pages go to <site>/leaderboard/."),
    benchmark: list[Path] = typer.Option([], "--benchmark", help="Benchmark folder to use for its name (repeatable); default: where splits build/download put it."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Report invalid entries and build the rest instead of failing."),
) -> None:
    """Re-score every entry with the installed scorer and render the leaderboard pages and plots."""
    from pheno_bench.leaderboard import build
    from pheno_bench.results import literal

    report = build(submissions=submissions, site=site, benchmarks=benchmark, skip_invalid=skip_invalid)
    for name, entries in report.benchmarks.items():
        console.print(f"{literal(name)}: re-scored {literal(', '.join(entries))}", highlight=False, soft_wrap=True)
    for name, why in report.skipped.items():
        Console(stderr=True).print(f"[yellow]skipped[/] {literal(name)}: {literal(why)}", highlight=False, soft_wrap=True)
    console.print(f"wrote {literal(report.out)}; now `mkdocs build --strict` or `mkdocs serve`", highlight=False, soft_wrap=True)


@leaderboard_app.command("init")
def leaderboard_init(
    entry: str = typer.Argument(..., help="Entry name: lower-case letters, digits, '-', '_', '.' (e.g. my-model)."),
    benchmark: str = typer.Option("cell-injury-v1", "--benchmark", help="Benchmark the entry is for (a fold benchmark lists every fold)."),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="Training seeds (repeat: --seeds 0 --seeds 1; default 0 1 2, as ranking needs)."),
    submissions: Path = _SUBMISSIONS,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing metadata.yaml with the template."),
) -> None:
    """Write submissions/<entry>/metadata.yaml to fill in (the required fields are left empty until you fill them)."""
    from pheno_bench.leaderboard.submit import TO_FILL, init_entry

    path = init_entry(entry, submissions=submissions, benchmark=benchmark, seeds=seeds, force=force)
    console.print(f"wrote {path}: fill in {', '.join(TO_FILL)}; put the submission files beside it; "
                  f"then `pheno-bench leaderboard check {path.parent}`", soft_wrap=True, highlight=False)


@leaderboard_app.command("check")
def leaderboard_check(
    entries: Optional[list[Path]] = typer.Argument(None, help="Entry folders, e.g. submissions/my-model."),
    changed_since: Optional[str] = typer.Option(None, "--changed-since", help="Also check every entry changed since this git ref (what the pull-request workflow runs), e.g. origin/main."),
    submissions: Path = _SUBMISSIONS,
    benchmark: Optional[str] = typer.Option(None, "--benchmark", help="Benchmark folder or name (default: the metadata's, at the files' fingerprint)."),
    download: bool = typer.Option(False, "--download", help="Fetch the benchmark from the Hub if it is not here."),
    repo: Optional[str] = typer.Option(None, "--repo", help="Hub repo to fetch it from (default pheno-bench/<benchmark>)."),
) -> None:
    """Validate and re-score entries exactly as the leaderboard build and the pull-request check do."""
    from pheno_bench.leaderboard.submit import changed_entries, check_entry
    from pheno_bench.results import literal

    folders = list(entries or [])
    if changed_since is not None:
        folders += [p for p in changed_entries(changed_since, submissions=submissions) if p not in folders]
        if not folders:
            console.print(f"no entry under {submissions} changed since {changed_since}; nothing to check", highlight=False)
            return
    if not folders:
        raise PhenoBenchError("no entry given; usage: pheno-bench leaderboard check submissions/ENTRY (or --changed-since REF)")
    failed = []
    for folder in folders:
        try:
            report = check_entry(folder, benchmark=benchmark, download=download, repo=repo)
        except PhenoBenchError as exc:
            Console(stderr=True).print(f"[bold red]invalid:[/] {literal(exc)}", highlight=False, soft_wrap=True)
            failed.append(str(folder))
            continue
        for line in report.lines():
            console.print(literal(line), highlight=False, soft_wrap=True)
    if failed:
        raise PhenoBenchError(f"{len(failed)} of {len(folders)} entr{'y' if len(folders) == 1 else 'ies'} invalid: {', '.join(failed)}")


# --- sources (owner E) ----------------------------------------------------------------------

sources_app = typer.Typer(help="Raw field datasets fetched from their publishers (pinned, verified against the publisher's checksums).", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("fetch")
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


@sources_app.command("pin")
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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except PhenoBenchError as exc:
        from pheno_bench.results import literal

        Console(stderr=True).print(f"[bold red]error:[/] {literal(exc)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
