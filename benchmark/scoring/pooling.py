"""Pooled scoring of a fold-set benchmark: one model's files, one per fold -> one set of results.

Every fold must be present (a missing fold is an error, never a partial average). Each split pools
the folds' per-query values (:func:`pheno_bench.scoring.views.pool_views`) and is summarised over
the molecules of the pooled set; each fold's own headline results are kept in ``results.folds``.
See site/scoring.md, pooled scoring.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import check_fold_set, is_fold_set, read_fold_set
from pheno_bench.metric_ids import VIEWS
from pheno_bench.metrics import CI_LEVEL
from pheno_bench.registry import locate
from pheno_bench.results import BenchmarkRef, BootstrapInfo, Results, SplitResult
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.scoring.scorer import SCORER_VERSION, Scorer, locate_submission_benchmark, submission_ref
from pheno_bench.scoring.summaries import primary_result, summarise_split
from pheno_bench.scoring.views import pool_views
from pheno_bench.submission import Limits, Submission, peek_metadata
from pheno_bench.version import __version__


def fold_files(paths: Sequence[str | os.PathLike] | Mapping[int, str | os.PathLike | Submission]) -> dict[int, Path | Submission]:
    """fold -> file, from a mapping (a read :class:`Submission` kept as it is) or from each file's metadata
    (``fold``); one file per fold."""
    if isinstance(paths, Mapping):
        return {int(k): v if isinstance(v, Submission) else Path(v) for k, v in paths.items()}
    out: dict[int, Path] = {}
    for path in map(Path, paths):
        fold = peek_metadata(path).fold
        if fold is None:
            raise PhenoBenchError(f"{path}: its metadata names no fold; write fold submissions with write_submission(..., fold=k)")
        if fold in out:
            raise PhenoBenchError(f"{path} and {out[fold]} are both for fold {fold}; give one file per fold (one model, one seed)")
        out[fold] = path
    return out


def evaluate_folds(
    submissions: Sequence[str | os.PathLike] | Mapping[int, str | os.PathLike | Submission],
    *,
    benchmark: str | os.PathLike | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    memory_mb: float = 64,
    limits: Limits | None = None,
    scorers: Mapping[int, Scorer] | None = None,
) -> Results:
    """Score one model's files, one per fold, and pool them (see site/scoring.md, pooled scoring).

    Every fold of the benchmark must be present (a missing fold is an error, never a partial average).
    Each split pools the folds' queries: unseen_molecules holds every molecule exactly once (scored by
    the fold whose model never saw it); unseen_images and unseen_dataset pool all folds' queries,
    a molecule present in several folds counting with all its queries. Intervals: bootstrap over the
    molecules of the pooled set. Per-fold results are kept in ``results.folds``.

    scorers: fold -> the :class:`Scorer` of that fold of ``benchmark`` to use (made here when None; a
    caller scoring many models passes its own, whose answer keys are then read once); a mapping of
    ``submissions`` may hold files already read by them.
    """
    files = fold_files(submissions)
    first = next(iter(files.values()), None)
    if first is None:
        raise PhenoBenchError("no submission files given; pass one file per fold")
    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(getattr(first, "path", first))
    expected = fold_numbers(root)
    if missing := sorted(set(expected) - set(files)):
        raise PhenoBenchError(
            f"fold(s) {missing} of {root.name} missing (got {sorted(files)}); pooled scores need every fold: "
            "score all fold files of the model together"
        )
    if extra := sorted(set(files) - set(expected)):
        raise PhenoBenchError(f"fold(s) {extra} are not folds of {root.name} (folds: {sorted(expected)})")
    for k, path in files.items():
        said = path.metadata.fold if isinstance(path, Submission) else peek_metadata(path).fold
        if said is not None and said != k:
            raise PhenoBenchError(f"{getattr(path, 'path', path)}: its metadata says fold {said}, but it was given as fold {k}")
    given = scorers or {}
    evaluators = {k: given[k] if k in given else Scorer(root, fold=k, memory_mb=memory_mb, limits=limits) for k in sorted(files)}
    subs = {k: evaluators[k].read(files[k]) for k in sorted(files)}
    # each fold's headline results (its breakdowns are not kept: only the pooled results have them)
    per_fold = {str(k): headline_only(evaluators[k].evaluate(subs[k], n_bootstrap=n_bootstrap, seed=seed, breakdowns=False)) for k in subs}
    ranked = {k: evaluators[k].rank(subs[k]) for k in subs}
    ev0 = evaluators[min(evaluators)]
    fold_set_name = ev0.manifest.name
    splits, not_evaluated = {}, {}
    for split in TEST_SPLITS:
        covered = [k for k in ranked if split in ranked[k]]
        base = dict(
            n_queries=sum(len(evaluators[k].keys[split].query_ids) for k in evaluators),
            n_candidates=max(len(evaluators[k].keys[split].candidate_ids) for k in evaluators),
            n_molecules=len(set().union(*(set(evaluators[k].keys[split].labels["inchikey"]) for k in evaluators))),
        )
        if len(covered) < len(ranked):
            lacking = sorted(set(ranked) - set(covered))
            not_evaluated[split] = (
                f"fold(s) {lacking} of {fold_set_name} have no {split}"
                if covered else f"no fold file covers {split}"
            )
            splits[split] = SplitResult(evaluated=False, **base)
            continue
        folds = sorted(covered)
        pq = pool_views([ranked[k][split].per_query for k in folds], folds)
        avg = pool_views([ranked[k][split].averaged for k in folds], folds)
        flags = [f"fold {k}: {flag}" for k in folds for flag in ranked[k][split].flags]
        splits[split] = summarise_split(
            pq, avg, split, n_bootstrap=n_bootstrap, seed=seed, base=base, flags=flags,
            n_candidates_by_fold={str(k): len(evaluators[k].keys[split].candidate_ids) for k in folds},
        )
    refs = [submission_ref(subs[k]) for k in sorted(subs)]
    return Results(
        scorer_version=SCORER_VERSION,
        pheno_bench_version=__version__,
        benchmark=fold_set_reference(root),
        submission=refs[0],
        bootstrap=BootstrapInfo(n_resamples=n_bootstrap, seed=seed, level=CI_LEVEL),
        primary=primary_result(ev0.primary_metric, splits, not_evaluated=not_evaluated),
        anchors=list(ev0.anchors),
        splits=splits,
        folds=per_fold,
        submissions=refs,
    )


def headline_only(results: Results) -> Results:
    """A fold's results without the by_dose / by_scaffold breakdowns (pooled results keep them)."""
    splits = {}
    for split, result in results.splits.items():
        views = {v: getattr(result, v).model_copy(update={"by_dose": {}, "by_scaffold": {}}) for v in VIEWS if getattr(result, v) is not None}
        splits[split] = result.model_copy(update=views)
    return results.model_copy(update={"splits": splits})


def fold_numbers(root: Path) -> list[int]:
    """The folds of a fold-set benchmark; a plain benchmark is an error here."""
    if not is_fold_set(root):
        raise PhenoBenchError(f"{root}: not a benchmark with folds; score its submission with `pheno-bench evaluate FILE`")
    return sorted(int(f.fold) for f in check_fold_set(root).folds)


def fold_set_reference(root: Path) -> BenchmarkRef:
    """The benchmark reference (name, version, fingerprint) of the fold set at ``root``."""
    fold_set = read_fold_set(root)
    return BenchmarkRef(name=fold_set.name, version=fold_set.version, fingerprint=fold_set.fingerprint)
