"""The leaderboard: ``submissions/<entry>/`` folders -> re-scored, ranked, rendered pages.

Modules, lowest first (each may import only those before it):

- :mod:`.entries`: the entry folder (``metadata.yaml`` + ``seed-<n>.parquet`` or
  ``fold-<k>/seed-<n>.parquet``), :class:`EntryMetadata`, :class:`Entry`, :func:`discover`.
- :mod:`.rescore`: re-scoring (:func:`score_entry`) with the installed scorer, eligibility, seed
  aggregation.
- :mod:`.tables`: every estimate as one tidy row, seeds aggregated (re-exported by :mod:`.rescore`).
- :mod:`.primary_views`: the per-query values a verdict resamples, cached per run (a verdict never
  reads an unchanged entry's files).
- :mod:`.ranking`: paired verdicts on the benchmark's primary metric and ranks (:func:`board`);
  probes are reference rows.
- :mod:`.pages`: what the pages say (table rows and cells, an entry's page, verdicts).
- :mod:`.render`: Markdown pages, SVG plots and results JSON for mkdocs (:func:`build`);
  :mod:`.submit`: ``leaderboard init`` / ``add`` (:func:`add_entry`) / ``check``.
"""

from pheno_bench.leaderboard.entries import (
    KINDS,
    METADATA_FILE,
    Entry,
    EntryMetadata,
    check_entry_name,
    discover,
    fold_folder,
    read_metadata,
    run_file,
    seed_file,
)
from pheno_bench.leaderboard.rescore import (
    DEFAULT_PRIMARY,
    MIN_PROBE_SEEDS,
    MIN_SEEDS,
    NOT_RANKED,
    PROBE,
    RANKED,
    BenchmarkScorer,
    PrimaryMetric,
    Scored,
    aggregate_seeds,
    check_comparable,
    eligibility,
    primary_metric,
    results_frame,
    score_entry,
)
from pheno_bench.leaderboard.ranking import BoardRow, Verdict, beats, board, paired_verdicts, rank_entries
from pheno_bench.leaderboard.render import MIN_DOSE_MOLECULES, BuildReport, build, primary_label, render_benchmark
from pheno_bench.leaderboard.submit import add_entry

__all__ = [
    "KINDS", "METADATA_FILE", "Entry", "EntryMetadata", "add_entry", "check_entry_name", "discover", "fold_folder",
    "read_metadata", "run_file", "seed_file",
    "DEFAULT_PRIMARY", "MIN_PROBE_SEEDS", "MIN_SEEDS", "NOT_RANKED", "PROBE", "RANKED", "BenchmarkScorer", "BoardRow",
    "PrimaryMetric", "Scored", "Verdict", "aggregate_seeds", "beats", "board", "check_comparable", "eligibility",
    "paired_verdicts", "primary_metric", "rank_entries", "results_frame", "score_entry",
    "MIN_DOSE_MOLECULES", "BuildReport", "build", "primary_label", "render_benchmark",
]
