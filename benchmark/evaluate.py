"""The scorer's public entry point: :class:`Evaluator`, :func:`evaluate`, :func:`evaluate_folds`,
:func:`compare_submissions`.

The pieces, one module each (this module only puts them together):

- :mod:`pheno_bench.ranking`: exact, scale-proof tie-aware counts (float32 screen, float64 decision);
- :mod:`pheno_bench.metrics`: fair per-query values (expected value under random tie-breaking),
  micro and macro averages, the molecule bootstrap;
- :mod:`pheno_bench.metric_ids`: metric ids and the primary metric;
- :mod:`pheno_bench.scoring`: answer keys (``keys``), ranked views (``views``), per-split summaries
  and the "too few" rule (``summaries``), one file against one benchmark (``scorer``), fold pooling
  (``pooling``);
- :mod:`pheno_bench.compare`: verdicts (paired bootstrap, Holm) and pooling of seeds and folds.

The names of those modules that this module exported before they moved are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pheno_bench.compare import compare_entries, compare_runs
from pheno_bench.metric_ids import AVERAGES, VIEWS, metric_label, parse_metric_id, primary_metric_of  # noqa: F401 (re-exported)
from pheno_bench.averages import bootstrap_weights  # noqa: F401 (re-exported)
from pheno_bench.metrics import CI_LEVEL, LOWER_IS_BETTER, METRICS, TOP_PERCENTS, top_k_count  # noqa: F401 (re-exported)
from pheno_bench.ranking import TIE_RTOL  # noqa: F401 (re-exported)
from pheno_bench.results import Comparison, Results
from pheno_bench.scoring import (  # noqa: F401 (re-exported)
    HEADLINE_SUBSETS,
    MIN_MOLECULES,
    SCORER_VERSION,
    UNSEEN_MOLECULE_SPLITS,
    Scorer,
    SplitKey,
    SplitRanks,
    View,
    cell_estimates,
    effective_rank,
    evaluate_folds,
    fold_files,
    load_split_key,
    locate_submission_benchmark,
    pool_views,
    primary_result,
    rank_split,
    split_rng,
    submission_benchmark,
    submission_ref,
    summarise,
    summarise_split,
)
from pheno_bench.submission import Limits

__all__ = [
    "SCORER_VERSION", "METRICS", "LOWER_IS_BETTER", "TOP_PERCENTS", "CI_LEVEL", "TIE_RTOL", "MIN_MOLECULES",
    "Evaluator", "SplitKey", "View", "evaluate", "evaluate_folds", "compare_submissions", "primary_metric_of", "locate_submission_benchmark",
    "top_k_count", "bootstrap_weights", "rank_split", "load_split_key",
]


class Evaluator(Scorer):
    """Scores submissions for one benchmark; reads its answer key itself (never from the user).

    >>> evaluator = Evaluator("cell-injury-v1")      # a name (pheno-bench home) or a folder
    >>> print(evaluator.expected_input_format)
    >>> results = evaluator.evaluate("submission.parquet")
    >>> pooled = Evaluator("cell-injury-v2").evaluate_folds(["fold-0.parquet", ..., "fold-4.parquet"])

    Validation and scoring of one file are :class:`pheno_bench.scoring.Scorer`'s; this class adds
    the folds of a fold-set benchmark and comparisons.
    """

    def __init__(
        self, benchmark: str | os.PathLike, *, verify_files: bool = True, memory_mb: float = 64, limits: Limits | None = None,
        fold: int | None = None, answers: str | os.PathLike | None = None,
    ):
        super().__init__(benchmark, verify_files=verify_files, memory_mb=memory_mb, limits=limits, fold=fold, answers=answers)
        self._fold_evaluators: dict[int, Evaluator] = {}

    def fold_evaluator(self, fold: int) -> "Evaluator":
        """The Evaluator of one fold of this fold-set benchmark."""
        if fold not in self._fold_evaluators:
            self._fold_evaluators[fold] = Evaluator(self.root_of_set, fold=fold, memory_mb=self.memory_mb, limits=self.limits)
        return self._fold_evaluators[fold]

    @property
    def root_of_set(self) -> Path:
        return self.root.parent if self.manifest.fold is not None else self.root

    def evaluate_folds(self, submissions: Sequence[str | os.PathLike] | Mapping[int, str | os.PathLike], *, n_bootstrap: int = 1000, seed: int = 0) -> Results:
        """Pooled results of one model's fold files (one file per fold; every fold needed). See :func:`evaluate_folds`."""
        return evaluate_folds(submissions, benchmark=self.root_of_set, n_bootstrap=n_bootstrap, seed=seed, memory_mb=self.memory_mb, limits=self.limits)

    def compare(self, a, b, *, n_bootstrap: int = 1000, seed: int = 0) -> Comparison:
        """Paired comparison of two submissions of this benchmark (see :func:`pheno_bench.compare.compare_entries`)."""
        return compare_runs(self, [a], [b], n_bootstrap=n_bootstrap, seed=seed)


def evaluate(submission: str | os.PathLike, *, benchmark: str | os.PathLike | None = None, n_bootstrap: int = 1000, seed: int = 0) -> Results:
    """Score ``submission`` against ``benchmark`` (default: the one named in its metadata)."""
    return Evaluator(benchmark or locate_submission_benchmark(submission)).evaluate(submission, n_bootstrap=n_bootstrap, seed=seed)


def compare_submissions(a: str | os.PathLike, b: str | os.PathLike, *, benchmark: str | os.PathLike | None = None, n_bootstrap: int = 1000, seed: int = 0) -> Comparison:
    """Paired comparison of two submissions for the same benchmark."""
    return compare_entries([a], [b], benchmark=benchmark, n_bootstrap=n_bootstrap, seed=seed)
