"""``pheno-bench leaderboard verify``: re-run an entry's command and compare with its committed files.

:func:`verify_entry` does, for one entry whose metadata declares ``verify.command``:

1. a **blind copy** of the benchmark (:func:`pheno_bench.blind.make_blind_copy`: fresh random
   query ids, rows in a random order, ``answers/`` withheld) in a temporary folder; an entry whose
   command reads the answers by design (``verify.reads_answers``, the diagnostic probes) runs on
   the benchmark itself instead, and the record says so;
2. the command, with ``{benchmark}``, ``{out}`` and ``{seeds}`` filled in, run without a shell in
   a fresh ``PHENO_BENCH_HOME`` (so nothing cached from earlier runs is read), with a timeout;
3. the re-run's files (``{out}/seed-<n>.parquet`` or ``{out}/fold-<k>/seed-<n>.parquet``) scored
   with the withheld answer key, the committed files with the benchmark's own, and for every run
   the compared cells (:func:`compared_cells`: the primary metric and every split's headline
   metrics) checked within ``verify.tolerance``;
4. ``verification.json`` written into the entry (:mod:`.verification`), passed or not.

The command comes from a metadata file: read it before you run it (it runs with your rights).
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pheno_bench.blind import make_blind_copy
from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard.entries import Entry, run_file
from pheno_bench.leaderboard.verification import RunCheck, VerificationRecord, entry_file_digests, write_record
from pheno_bench.manifest import read_fold_set
from pheno_bench.paths import HOME_ENV
from pheno_bench.registry import locate
from pheno_bench.results import Results
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.scoring import SCORER_VERSION
from pheno_bench.version import __version__

#: the headline cells compared besides the primary metric: every split, per-query view, all queries, micro
HEADLINE = ("top_1pct", "top_5pct", "mrr", "median_rank")


def compared_cells(results: Results) -> dict[str, float | None]:
    """Metric id -> value of the cells a re-run must reproduce: the primary metric and, for every
    evaluated split, ``<split>/per_query/all/micro/<metric>`` for :data:`HEADLINE`. Every value is a
    fraction, so that one tolerance fits all: the median rank enters divided by the split's
    candidate count (key ``.../median_rank/n_candidates``)."""
    cells: dict[str, float | None] = {}
    if results.primary is not None:
        value = results.primary.value
        if value is not None and results.primary.id.endswith("median_rank"):
            n = results.splits[results.primary.id.split("/")[0]].n_candidates
            cells[f"{results.primary.id}/n_candidates"] = value / n
        else:
            cells[results.primary.id] = value
    for split in TEST_SPLITS:
        result = results.splits.get(split)
        if result is None or not result.evaluated or result.per_query is None:
            continue
        subset = result.per_query.subsets.get("all")
        for metric in HEADLINE:
            estimate = subset.metrics.get(metric) if subset is not None else None
            value = None if estimate is None else estimate.value
            if metric == "median_rank":
                cells[f"{split}/per_query/all/micro/median_rank/n_candidates"] = None if value is None else value / result.n_candidates
            else:
                cells[f"{split}/per_query/all/micro/{metric}"] = value
    return cells


def _difference(a: dict[str, float | None], b: dict[str, float | None]) -> float | None:
    if set(a) != set(b) or any((a[k] is None) != (b[k] is None) for k in a):
        return None
    return max((abs(a[k] - b[k]) for k in a if a[k] is not None), default=0.0)


def _command(template: str, *, benchmark: Path, out: Path, seeds: list[int]) -> list[str]:
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise PhenoBenchError(f"verify.command cannot be split into words ({exc}); fix the entry's metadata") from None
    values = {"benchmark": str(benchmark), "out": str(out), "seeds": " ".join(map(str, seeds))}
    argv: list[str] = []
    for word in words:
        if word == "{seeds}":  # one argument per seed
            argv.extend(map(str, seeds))
            continue
        try:
            argv.append(word.format(**values))
        except (KeyError, IndexError, ValueError):
            raise PhenoBenchError(f"verify.command: {word!r} has an unknown placeholder; use {{benchmark}}, {{out}} and {{seeds}} only") from None
    return argv


def verify_entry(
    path: str | os.PathLike, *, benchmark: str | os.PathLike | None = None, workdir: str | os.PathLike | None = None,
    n_bootstrap: int = 0, log: Callable[[str], None] = print,
) -> VerificationRecord:
    """Re-run the entry at ``path`` (see the module docstring) and write its ``verification.json``.

    benchmark: the benchmark folder or name (default: the entry's); workdir: where the blind copy
    and the re-run go (default: a temporary folder, removed after). Returns the record; raises
    PhenoBenchError (one line) when the entry declares no command or the command fails.
    """
    entry = Entry.load(path)
    spec = entry.metadata.verify
    if spec is None:
        raise PhenoBenchError(
            f"{entry.path}: the metadata declares no verify.command; add one (see the docs: Re-run verification) to make the entry re-runnable"
        )
    root = locate(benchmark or entry.metadata.benchmark)
    seeds = spec.seeds or entry.metadata.seeds
    if unknown := sorted(set(seeds) - set(entry.metadata.seeds)):
        raise PhenoBenchError(f"{entry.path}: verify.seeds {unknown} are not seeds of the entry {entry.metadata.seeds}")
    runs = [(seed, fold) for seed in seeds for fold in (entry.metadata.folds or [None])]
    evaluators: dict[tuple[Path, Path | None], Evaluator] = {}

    def _evaluator(where: Path, answers: Path | None) -> Evaluator:
        if (where, answers) not in evaluators:
            evaluators[(where, answers)] = Evaluator(where, answers=answers)
        return evaluators[(where, answers)]

    with tempfile.TemporaryDirectory(dir=workdir, prefix="verify-") as tmp:
        tmp = Path(tmp)
        if spec.reads_answers:
            target, answers = root, None
            log(f"{entry.name}: the command reads the answer key by design; it runs on the benchmark itself")
        else:
            copy = make_blind_copy(root, tmp / "blind")
            target, answers = copy.public, copy.answers
            log(f"{entry.name}: blind copy written (fresh query ids, rows reordered, answers withheld)")
        out = tmp / "rerun" / entry.name
        out.parent.mkdir()
        argv = _command(spec.command, benchmark=target, out=out, seeds=seeds)
        env = {**os.environ, HOME_ENV: str(tmp / "home")}
        log(f"{entry.name}: running {shlex.join(argv)}")
        start = time.perf_counter()
        try:
            done = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True, timeout=spec.timeout_minutes * 60, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise PhenoBenchError(f"{entry.path}: verify.command {argv[0]!r} is not an installed program; install what the entry needs") from None
        except subprocess.TimeoutExpired:
            raise PhenoBenchError(f"{entry.path}: the re-run took longer than verify.timeout_minutes = {spec.timeout_minutes:g}; nothing was written") from None
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PhenoBenchError(f"{entry.path}: the re-run exited with {done.returncode} ({last[0][:300]}); nothing was written")
        checks = []
        for seed, fold in runs:
            rerun_file = out / run_file(seed, fold)
            if not rerun_file.is_file():
                raise PhenoBenchError(f"{entry.path}: the re-run wrote no {run_file(seed, fold)} under {{out}}; the command must write the entry's layout")
            fold_root = root if fold is None else root / f"fold-{fold}"
            committed = compared_cells(_evaluator(fold_root, None).evaluate(entry.path / run_file(seed, fold), n_bootstrap=n_bootstrap))
            rerun_root = target if fold is None else target / f"fold-{fold}"
            rerun_answers = None if answers is None else (answers if fold is None else answers / f"fold-{fold}")
            rerun = compared_cells(_evaluator(rerun_root, rerun_answers).evaluate(rerun_file, n_bootstrap=n_bootstrap))
            worst = _difference(committed, rerun)
            checks.append(RunCheck(seed=seed, fold=fold, committed=committed, rerun=rerun, max_abs_difference=worst, passed=worst is not None and worst <= spec.tolerance))
            where = f" fold {fold}" if fold is not None else ""
            log(f"{entry.name} seed {seed}{where}: largest difference {worst if worst is None else f'{worst:.3g}'} (tolerance {spec.tolerance:g})")
    fingerprint = read_fold_set(root).fingerprint if entry.metadata.folds is not None else _evaluator(root, None).manifest.fingerprint
    record = VerificationRecord(
        date=dt.date.today(), scorer_version=SCORER_VERSION, pheno_bench_version=__version__,
        benchmark=entry.metadata.benchmark, fingerprint=fingerprint, command=spec.command, blind=not spec.reads_answers,
        tolerance=spec.tolerance, runs=checks, passed=all(c.passed for c in checks), files=entry_file_digests(entry.path),
        seconds=round(seconds, 1),
    )
    write_record(record, entry.path)
    return record
