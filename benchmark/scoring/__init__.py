"""The scorer, by concept (the public entry point is :mod:`pheno_bench.evaluate`).

- :mod:`.keys`: answer keys (what a split's queries are, read from the benchmark folder);
- :mod:`.views`: one split's embeddings ranked into fair per-query values (:class:`View`);
- :mod:`.summaries`: a split's subsets, the "too few" rule, micro/macro estimates with intervals,
  the primary metric;
- :mod:`.scorer`: :class:`Scorer`, validation and scoring of one file against one benchmark (or fold);
- :mod:`.pooling`: one model's fold files pooled (:func:`evaluate_folds`).

The names below are the small public API that :mod:`pheno_bench.compare` (verdicts) and
:mod:`pheno_bench.evaluate` build on. Below this package: :mod:`pheno_bench.ranking` (exact,
tie-aware counts) and :mod:`pheno_bench.metrics` (fair values, averages, the molecule bootstrap).
"""

from pheno_bench.scoring.keys import SplitKey, load_split_key
from pheno_bench.scoring.views import SplitRanks, View, effective_rank, pool_views, rank_split
from pheno_bench.scoring.summaries import (
    HEADLINE_SUBSETS,
    MIN_MOLECULES,
    UNSEEN_MOLECULE_SPLITS,
    cell_estimates,
    partitions,
    primary_result,
    split_rng,
    subset_status,
    summarise,
    summarise_split,
)
from pheno_bench.scoring.scorer import SCORER_VERSION, Scorer, locate_submission_benchmark, submission_benchmark, submission_ref
from pheno_bench.scoring.pooling import evaluate_folds, fold_files, fold_numbers, fold_set_reference, headline_only

__all__ = [
    "SplitKey", "load_split_key",
    "SplitRanks", "View", "effective_rank", "pool_views", "rank_split",
    "HEADLINE_SUBSETS", "MIN_MOLECULES", "UNSEEN_MOLECULE_SPLITS", "cell_estimates", "partitions", "primary_result",
    "split_rng", "subset_status", "summarise", "summarise_split",
    "SCORER_VERSION", "Scorer", "locate_submission_benchmark", "submission_benchmark", "submission_ref",
    "evaluate_folds", "fold_files", "fold_numbers", "fold_set_reference", "headline_only",
]
