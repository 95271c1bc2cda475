"""``pheno-bench evaluate``, ``compare`` and ``submission template``: scoring from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pheno_bench.cli.common import console
from pheno_bench.errors import PhenoBenchError
from pheno_bench.text import literal

submission_app = typer.Typer(help="Submission files: a valid template to copy the format from; migrate a file to a successor version.", no_args_is_help=True)
_BENCHMARK = typer.Option(None, "--benchmark", help="Benchmark folder or name (default: the one named in the submission).")
_JSON = typer.Option(False, "--json", help="Print the JSON to stdout instead of tables.")
_FORCE = typer.Option(False, "--force", help="Replace an existing results file that holds other submissions' results.")
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
    from pheno_bench.evaluate import Evaluator
    from pheno_bench.registry import locate
    from pheno_bench.scoring import fold_numbers

    root = locate(benchmark)
    _refuse_overwriting_inputs(out / "fold-0.parquet" if all_folds else out, [], _benchmark_folder(root))
    if all_folds:
        paths = [Evaluator(root, fold=k).write_template(out / f"fold-{k}.parquet", dim=dim, seed=seed) for k in fold_numbers(root)]
        console.print(f"wrote {len(paths)} fold templates in {literal(out)}, dim {dim}; score them together with "
                      f"`pheno-bench evaluate {literal(out)}/fold-*.parquet`", highlight=False, soft_wrap=True)
        return
    path = Evaluator(benchmark, fold=fold).write_template(out, dim=dim, seed=seed)
    console.print(f"wrote {literal(path)}: every query and candidate of every test split, dim {dim}; score it with `pheno-bench evaluate {literal(path)}`",
                  highlight=False, soft_wrap=True)


@submission_app.command("migrate")
def submission_migrate(
    submission: Path = typer.Argument(..., help="A submission for a superseded version, e.g. a cell-injury-v1 file."),
    to: str = typer.Option(..., "--to", help="The successor benchmark (name or folder), e.g. cell-injury-v1.1; a fold file goes to the same fold."),
    out: Path = typer.Option(..., "--out", help="Where to write the migrated file (never the input)."),
) -> None:
    """Re-key a submission for a successor that holds the same wells, candidates and features (v1 -> v1.1, v2 -> v2.1)."""
    from pheno_bench.migrate import migrate_submission

    path = migrate_submission(submission, to=to, out=out)
    console.print(f"wrote {literal(path)}: the same embeddings, keyed for {literal(to)}; score it with `pheno-bench evaluate {literal(path)}`",
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


def _emit(model, as_json: bool, out: Optional[Path], *printables, replacing: bool = False) -> None:
    """Render everything first, then write ``model`` (Results or Comparison) to ``out``, then print:
    nothing is written unless scoring and rendering succeeded. Grids are stacked to the console's width."""
    from pheno_bench.grid import Grid
    from pheno_bench.results import write_results

    if as_json:
        text = json.dumps(model.model_dump(mode="json"), indent=2, sort_keys=True, allow_nan=False) + "\n"
    else:
        with console.capture() as capture:
            for item in printables:
                for renderable in (item.tables(console.width) if isinstance(item, Grid) else [item]):
                    console.print(renderable, highlight=False)
            if out is not None:
                note = " (replaced the earlier results of the same submission files)" if replacing else ""
                console.print(f"wrote {literal(out)}{note}", highlight=False, soft_wrap=True)
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


def evaluate_command(
    submissions: Optional[list[Path]] = typer.Argument(None, help="Submission parquet file; for a benchmark with folds, one file per fold (all folds)."),
    benchmark: Optional[str] = _BENCHMARK,
    out: Optional[Path] = typer.Option(None, help="Results JSON (default: <submission>.results.json beside the file; pooled fold files: <name>.pooled.results.json in their folder)."),
    as_json: bool = _JSON,
    force: bool = _FORCE,
    show_format: bool = typer.Option(False, "--format", help="Print the submission format (for --benchmark or the submission's) and exit."),
    bootstrap: int = _BOOTSTRAP,
    seed: int = _SEED,
    max_dim: Optional[int] = _MAX_DIM,
    max_file_mb: Optional[int] = _MAX_MB,
) -> None:
    """Validate and score a submission (or one model's fold files, pooled): primary metric first, tables, results JSON on disk."""
    from pheno_bench.evaluate import Evaluator, evaluate_folds
    from pheno_bench.folds import is_fold_set
    from pheno_bench.registry import locate
    from pheno_bench.results import check_replace, file_identity, results_path
    from pheno_bench.results_tables import dose_table, primary_line, results_table
    from pheno_bench.scoring import locate_submission_benchmark
    from pheno_bench.submission import FORMAT, peek_metadata

    submissions = submissions or []
    if show_format and not submissions and benchmark is None:
        console.print(FORMAT, markup=False, highlight=False)
        return
    if not submissions and not show_format:
        raise PhenoBenchError("no submission given; usage: pheno-bench evaluate SUBMISSION.parquet (see --format)")
    limits = _limits(max_dim, max_file_mb)
    out = out if out is not None or show_format else results_path(submissions)
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
    replacing = check_replace(out, lambda: (file_identity(submissions),), force=force)
    if is_fold_set(root):  # every fold file of one model, pooled
        _check_fold_files(root, submissions)
        results = evaluate_folds(submissions, benchmark=root, n_bootstrap=bootstrap, seed=seed, limits=limits)
    elif len(submissions) > 1:
        raise PhenoBenchError(f"{len(submissions)} files given, but {root} is one benchmark (or one fold): score one file at a time, or all fold files of a fold benchmark")
    else:
        results = Evaluator(root, limits=limits).evaluate(submissions[0], n_bootstrap=bootstrap, seed=seed)
    _emit(results, as_json, out, primary_line(results), results_table(results), dose_table(results), replacing=replacing)
    warn = Console(stderr=True)
    for split, result in results.splits.items():
        for flag in result.flags:
            note = " (scores at chance under the fair tie rule)" if "same embedding" in flag else ""
            warn.print(f"[yellow]warning:[/] {split}: {literal(flag)}{note}", highlight=False, soft_wrap=True)


def _check_fold_files(root: Path, submissions: list[Path]) -> None:
    """Fold files of this fold set only: a file for another benchmark is told which one it is for."""
    from pheno_bench.folds import read_fold_set
    from pheno_bench.submission import peek_metadata

    name = read_fold_set(root).name
    for path in submissions:
        meta = peek_metadata(path)
        if meta.benchmark != name:
            raise PhenoBenchError(f"{path}: this file is for {meta.benchmark} (its metadata), not {name}; evaluate it against "
                                  f"{meta.benchmark}: `pheno-bench evaluate {path} --benchmark {meta.benchmark}`")
        if meta.fold is None:
            raise PhenoBenchError(f"{path}: names no fold, but {name} has folds: give one file per fold, each naming its fold (write_submission(..., fold=k))")


def compare_command(
    a: Optional[Path] = typer.Argument(None, help="First submission."),
    b: Optional[Path] = typer.Argument(None, help="Second submission (same benchmark)."),
    a_files: list[Path] = typer.Option([], "--a", help="Entry a's files, pooled: every seed (and every fold of a fold benchmark), e.g. --a submissions/x/seed-*.parquet."),
    b_files: list[Path] = typer.Option([], "--b", help="Entry b's files, pooled (as --a)."),
    benchmark: Optional[str] = _BENCHMARK,
    out: Optional[Path] = typer.Option(None, help="Also write the comparison JSON here."),
    as_json: bool = _JSON,
    force: bool = _FORCE,
    bootstrap: Optional[int] = typer.Option(
        None, "--bootstrap", min=0, help="Bootstrap resamples over molecules (and seeds); default: enough for the Holm family "
        "of secondary cells to reach a verdict (p-values are floored at 1/(resamples+1)).",
    ),
    seed: int = _SEED,
) -> None:
    """Is a better than, worse than, or tied with b? Primary metric: paired bootstrap over molecules; other cells Holm-adjusted."""
    from pheno_bench.compare import compare_entries
    from pheno_bench.results import check_replace, file_identity
    from pheno_bench.results_tables import comparison_table, primary_comparison_line, side_label

    side_a = [*([a] if a else []), *a_files]
    side_b = [*([b] if b else []), *b_files]
    if not side_a or not side_b:
        raise PhenoBenchError("compare needs two submissions: pheno-bench compare A.parquet B.parquet (or --a FILE ... --b FILE ...)")
    from pheno_bench.registry import locate
    from pheno_bench.scoring import locate_submission_benchmark

    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(side_a[0])
    _refuse_overwriting_inputs(out, [*side_a, *side_b], _benchmark_folder(root))
    resolved_a, resolved_b = [p.resolve() for p in side_a], [p.resolve() for p in side_b]
    for name, side in (("a", resolved_a), ("b", resolved_b)):
        if len(set(side)) < len(side):
            twice = next(p for p in side if side.count(p) > 1)
            raise PhenoBenchError(f"{twice}: given twice for {name}; each file is one run (a seed, or a fold of a seed) of the entry")
    if both := sorted(set(resolved_a) & set(resolved_b)):
        raise PhenoBenchError(f"{both[0]}: given for both a and b; compare two different entries")
    replacing = out is not None and check_replace(out, lambda: (file_identity(side_a), file_identity(side_b)), force=force)
    comparison = compare_entries(side_a, side_b, benchmark=benchmark, n_bootstrap=bootstrap, seed=seed)
    _emit(comparison, as_json, out, primary_comparison_line(comparison), comparison_table(comparison, side_label(side_a), side_label(side_b)), replacing=replacing)
