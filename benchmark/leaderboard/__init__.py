"""The leaderboard: ``submissions/<entry>/`` folders -> re-scored, ranked, rendered pages.

- :mod:`.entries`: the entry folder (``metadata.yaml`` + ``seed-<n>.parquet`` or
  ``fold-<k>/seed-<n>.parquet``), :class:`EntryMetadata`, :class:`Entry`, :func:`add_entry`,
  :func:`discover`.
- :mod:`.ranking`: re-scoring (:func:`score_entry`), seed aggregation, paired verdicts on the
  benchmark's primary metric and ranks (:func:`board`); probes are reference rows.
- :mod:`.render`: Markdown pages, SVG plots and results JSON for mkdocs (:func:`build`).
"""

from pheno_bench.leaderboard.entries import (
    KINDS,
    METADATA_FILE,
    Entry,
    EntryMetadata,
    add_entry,
    check_entry_name,
    discover,
    fold_folder,
    read_metadata,
    run_file,
    seed_file,
)
from pheno_bench.leaderboard.ranking import (
    DEFAULT_PRIMARY,
    MIN_PROBE_SEEDS,
    MIN_SEEDS,
    NOT_RANKED,
    PROBE,
    RANKED,
    BenchmarkScorer,
    BoardRow,
    PrimaryMetric,
    Scored,
    Verdict,
    aggregate_seeds,
    beats,
    board,
    check_comparable,
    eligibility,
    paired_verdicts,
    primary_metric,
    rank_entries,
    results_frame,
    score_entry,
)
from pheno_bench.leaderboard.render import MIN_DOSE_MOLECULES, BuildReport, build, primary_label, render_benchmark

__all__ = [
    "KINDS", "METADATA_FILE", "Entry", "EntryMetadata", "add_entry", "check_entry_name", "discover", "fold_folder",
    "read_metadata", "run_file", "seed_file",
    "DEFAULT_PRIMARY", "MIN_PROBE_SEEDS", "MIN_SEEDS", "NOT_RANKED", "PROBE", "RANKED", "BenchmarkScorer", "BoardRow",
    "PrimaryMetric", "Scored", "Verdict", "aggregate_seeds", "beats", "board", "check_comparable", "eligibility",
    "paired_verdicts", "primary_metric", "rank_entries", "results_frame", "score_entry",
    "MIN_DOSE_MOLECULES", "BuildReport", "build", "primary_label", "render_benchmark",
]
