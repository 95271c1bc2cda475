"""``pheno-bench leaderboard``: add, build, init and check leaderboard entries."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pheno_bench.cli.common import console
from pheno_bench.errors import PhenoBenchError
from pheno_bench.text import literal

app = typer.Typer(help="Leaderboard entries (submissions/<entry>/) and the static site pages.", no_args_is_help=True)
_SUBMISSIONS = typer.Option(Path("submissions"), "--submissions", help="Folder of leaderboard entries.")


@app.command("add")
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
    meta = read_metadata(metadata)
    runs = files_by_fold(files, meta) if meta.folds is not None else files
    added = add_entry(runs, entry=entry, metadata=meta, submissions=submissions, benchmark=benchmark, replace=replace)
    folds = f", folds {added.metadata.folds}" if added.metadata.folds is not None else ""
    console.print(
        f"wrote entry {literal(added.path)} ({literal(added.metadata.model)}, seeds {added.metadata.seeds}{folds}); "
        "now run `pheno-bench leaderboard build`", highlight=False, soft_wrap=True,
    )


@app.command("build")
def leaderboard_build(
    submissions: Path = _SUBMISSIONS,
    site: Path = typer.Option(Path("site"), "--site", help="mkdocs docs folder; pages go to <site>/leaderboard/."),
    benchmark: list[Path] = typer.Option([], "--benchmark", help="Benchmark folder to use for its name (repeatable); default: where splits build/download put it."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Report invalid entries and build the rest instead of failing."),
    rescore: bool = typer.Option(False, "--rescore", help="Score every entry, draw every plot and render every board again, ignoring the results cache (and rewrite it)."),
) -> None:
    """Re-score every entry with the installed scorer and render the leaderboard pages and plots.

    Results are cached under $PHENO_BENCH_HOME/cache/results per submission file sha256, benchmark
    fingerprint, scorer version and bootstrap options: an unchanged entry is not scored again, an
    unchanged plot not drawn again, and a board whose inputs did not change is copied from the last
    build after each of its files is checked against the board's stamp (.board.json).
    """
    from pheno_bench.leaderboard import build
    from pheno_bench.leaderboard.cache import ResultsCache

    errors = Console(stderr=True)
    with _progress() as (step, note):
        cache = ResultsCache(rescore=rescore, on_note=note)
        report = build(submissions=submissions, site=site, benchmarks=benchmark, skip_invalid=skip_invalid, cache=cache, progress=step)
    for name, entries in report.benchmarks.items():
        reused = report.cached.get(name, [])
        scored = [e for e in entries if e not in reused]
        summary = f"re-scored {', '.join(scored)}" if scored else "re-scored none"
        console.print(f"{literal(name)}: {literal(summary)}" + (f"; {len(reused)} unchanged from the cache" if reused else ""), highlight=False, soft_wrap=True)
    for name, why in report.skipped.items():
        errors.print(f"[yellow]skipped[/] {literal(name)}: {literal(why)}", highlight=False, soft_wrap=True)
    console.print(f"wrote {literal(report.out)}; now `mkdocs build --strict` or `mkdocs serve`", highlight=False, soft_wrap=True)


@contextmanager
def _progress():
    """(step, note) callbacks: a progress bar on a terminal, one plain line per step otherwise (CI)."""
    if not console.is_terminal:
        step = lambda done, total, line: console.print(literal(f"[{done}/{total}] {line}"), highlight=False, soft_wrap=True)
        note = lambda line: Console(stderr=True).print(f"[yellow]{literal(line)}[/]", highlight=False, soft_wrap=True)
        yield step, note
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("scoring entries", total=None)

        def step(done: int, total: int, line: str) -> None:
            bar.console.print(literal(line), highlight=False, soft_wrap=True)
            bar.update(task, completed=done, total=total, description=literal(line.split(":")[0]))

        yield step, lambda line: bar.console.print(f"[yellow]{literal(line)}[/]", highlight=False, soft_wrap=True)


@app.command("init")
def leaderboard_init(
    entry: str = typer.Argument(..., help="Entry name: lower-case letters, digits, '-', '_', '.' (e.g. my-model)."),
    benchmark: str = typer.Option("cell-injury-v1.1", "--benchmark", help="Benchmark the entry is for (a fold benchmark lists every fold)."),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="Training seeds, e.g. --seeds 0 1 2 (the default, as ranking needs three)."),
    submissions: Path = _SUBMISSIONS,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing metadata.yaml with the template."),
) -> None:
    """Write submissions/<entry>/metadata.yaml to fill in (the required fields are left empty until you fill them)."""
    from pheno_bench.leaderboard.submit import TO_FILL, init_entry

    path = init_entry(entry, submissions=submissions, benchmark=benchmark, seeds=seeds, force=force)
    console.print(f"wrote {path}: fill in {', '.join(TO_FILL)}; put the submission files beside it; "
                  f"then `pheno-bench leaderboard check {path.parent}`", soft_wrap=True, highlight=False)


@app.command("check")
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


@app.command("verify")
def leaderboard_verify(
    entries: list[Path] = typer.Argument(..., help="Entry folders whose metadata declares verify.command, e.g. submissions/probe-ridge-v1.1."),
    benchmark: Optional[str] = typer.Option(None, "--benchmark", help="Benchmark folder or name (default: the metadata's)."),
) -> None:
    """Maintainers: re-run each entry's declared command on a blind copy of the benchmark and write its verification.json.

    The command comes from the entry's metadata and runs with your rights: read it first.
    """
    from pheno_bench.leaderboard.verify import verify_entry

    failed = []
    for folder in entries:
        record = verify_entry(folder, benchmark=benchmark, log=lambda line: console.print(literal(line), highlight=False, soft_wrap=True))
        verdict = "reproduced" if record.passed else "DIFFERS"
        console.print(f"{literal(folder)}: {verdict} ({len(record.runs)} run(s), {record.seconds:.0f} s); wrote {literal(Path(folder) / 'verification.json')}", highlight=False, soft_wrap=True)
        if not record.passed:
            failed.append(str(folder))
    if failed:
        raise PhenoBenchError(f"re-run differs from the committed files: {', '.join(failed)} (see their verification.json)")
