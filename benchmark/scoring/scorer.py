"""The scorer of one benchmark (or one fold): validate a submission, rank it, summarise every split.

:class:`Scorer` reads a benchmark's answer keys (:mod:`pheno_bench.scoring.keys`), validates a
submission against them (:mod:`pheno_bench.submission`), ranks each split
(:mod:`pheno_bench.scoring.views`) and summarises it (:mod:`pheno_bench.scoring.summaries`) into
versioned :class:`~pheno_bench.results.Results`. :func:`locate_submission_benchmark` finds the
benchmark a submission file names.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import sha256_file
from pheno_bench.manifest import answers_path, read_manifest, verify
from pheno_bench.metric_ids import parse_metric_id, primary_metric_of
from pheno_bench.metrics import CI_LEVEL
from pheno_bench.registry import find, locate
from pheno_bench.results import BenchmarkRef, BootstrapInfo, Results, SplitResult, SubmissionRef
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.scoring.keys import load_split_key, public_split_key, read_train_meta
from pheno_bench.scoring.summaries import primary_result, summarise_split
from pheno_bench.scoring.views import SplitRanks, rank_split
from pheno_bench.submission import Limits, Submission, expected_input_format, peek_metadata, read_submission, template
from pheno_bench.version import __version__

#: Version of the scoring rules. Major: a number changes meaning or value beyond floating-point
#: rounding (results of different majors are never compared or mixed). Minor: something is
#: added, old numbers unchanged. Patch: a fix or a faster computation that changes no number
#: beyond rounding (a relative 1e-12 at most: a sum taken in another order). 3.0.0: fair ties,
#: float64 near-ties, macro averages, anchors apart, the "too few" rule, primary metric. 4.0.0:
#: median rank = the median of the pooled rank distribution (each query's rank uniform over its
#: tied block); the dose part and identity part metrics; the query-blind floor beside chance; the
#: non-cytotoxic active subset where flagged. 4.0.1: the bootstrap medians' checkpoints placed
#: where resampled medians fall, the means' sums in a product of their own (last bits only).
SCORER_VERSION = "4.0.1"


class Scorer:
    """Validates and scores submissions for one benchmark (or one fold); reads its answer keys itself
    (never from the user). The public entry point is :class:`pheno_bench.evaluate.Evaluator`, which
    adds pooled fold scoring and comparisons; fold pooling and :mod:`pheno_bench.compare` build on
    this class (``read``, ``rank``, ``keys``, ``reference``, ``primary_metric``).
    """

    def __init__(
        self, benchmark: str | os.PathLike, *, verify_files: bool = True, memory_mb: float = 64, limits: Limits | None = None,
        fold: int | None = None, answers: str | os.PathLike | None = None,
    ):
        """answers: the folder holding a blind copy's withheld ``answers/`` for this benchmark or fold (the answer key kept apart,
        :mod:`pheno_bench.blind`); without it a blind copy validates files and writes templates
        but scores nothing (:attr:`blind`)."""
        self.root = locate(benchmark, fold=fold)
        self.manifest = verify(self.root) if verify_files else read_manifest(self.root)
        self.memory_mb = memory_mb
        self.limits = limits or Limits()
        self.anchors = tuple(self.manifest.spec.get("anchor_molecules", ()))
        self.primary_metric = primary_metric_of(self.manifest)
        if self.primary_metric:
            parse_metric_id(self.primary_metric)
        #: a blind copy with its answer key withheld: files are validated, nothing is scored
        self.blind = bool(self.manifest.blind) and answers is None
        if self.blind:
            self.keys = {split: public_split_key(self.root, split) for split in TEST_SPLITS}
        else:
            if answers is not None:
                answers = Path(answers)
                _check_answers(self.manifest, answers)
            train_meta = read_train_meta(self.root)  # the query-blind floor's prior (train labels only)
            self.keys = {
                split: load_split_key(self.root, split, anchors=self.anchors, train_meta=train_meta, answers=answers) for split in TEST_SPLITS
            }
        self._ranked: dict[str, dict[str, SplitRanks]] = {}

    @property
    def expected(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """split -> (query ids, candidate ids) a submission must embed."""
        return {split: (key.query_ids, key.candidate_ids) for split, key in self.keys.items()}

    @property
    def expected_input_format(self) -> str:
        """The submission format, with this benchmark's split sizes."""
        return expected_input_format(self.expected)

    @property
    def reference(self) -> BenchmarkRef:
        return BenchmarkRef(name=self.manifest.name, version=self.manifest.version, fingerprint=self.manifest.fingerprint)

    def write_template(self, path: str | os.PathLike, *, dim: int = 64, seed: int = 0) -> Path:
        """Write a valid submission of random embeddings for every test split (scores at chance)."""
        return template(path, benchmark=self.manifest.name, fingerprint=self.manifest.fingerprint, expected=self.expected, dim=dim, seed=seed, fold=self.manifest.fold)

    def read(self, submission: str | os.PathLike | Submission) -> Submission:
        """The validated submission (a path is read and checked against this benchmark)."""
        if isinstance(submission, Submission):
            return submission
        return read_submission(
            submission, benchmark=self.manifest.name, fingerprint=self.manifest.fingerprint, expected=self.expected,
            limits=self.limits, fold=self.manifest.fold,
        )

    def rank(self, submission: str | os.PathLike | Submission) -> dict[str, SplitRanks]:
        """Per-split views for every split the submission covers."""
        submission = self.read(submission)
        if submission.sha256 not in self._ranked:  # compare() and the leaderboard rank a file many times
            self._ranked[submission.sha256] = {
                split: rank_split(self.keys[split], emb.queries, emb.candidates, similarity=submission.metadata.similarity, memory_mb=self.memory_mb)
                for split, emb in submission.splits.items()
            }
        return self._ranked[submission.sha256]

    def _base(self, split: str) -> dict:
        key = self.keys[split]
        return dict(n_queries=len(key.query_ids), n_candidates=len(key.candidate_ids), n_molecules=key.n_molecules)

    def evaluate(self, submission: str | os.PathLike | Submission, *, n_bootstrap: int = 1000, seed: int = 0, breakdowns: bool = True) -> Results:
        """Validate and score a submission; every covered split gets every metric with its interval.
        breakdowns=False: no by_dose / by_scaffold cells (the other numbers are the same)."""
        if self.blind:
            raise PhenoBenchError(
                f"{self.root}: a blind copy (answers withheld for re-running an entry); it validates files but scores "
                "nothing: `pheno-bench leaderboard verify` scores them with the withheld answer key"
            )
        submission = self.read(submission)
        ranked = self.rank(submission)
        splits = {}
        for split in self.keys:
            if split not in ranked:
                splits[split] = SplitResult(evaluated=False, **self._base(split))
                continue
            scored = ranked[split]
            splits[split] = summarise_split(
                scored.per_query, scored.averaged, split, n_bootstrap=n_bootstrap, seed=seed, base=self._base(split),
                effective_rank=scored.effective_rank, flags=scored.flags, breakdowns=breakdowns,
            )
        return Results(
            scorer_version=SCORER_VERSION,
            pheno_bench_version=__version__,
            benchmark=self.reference,
            submission=submission_ref(submission),
            bootstrap=BootstrapInfo(n_resamples=n_bootstrap, seed=seed, level=CI_LEVEL),
            primary=primary_result(
                self.primary_metric, splits,
                not_evaluated={s: f"the submission does not cover {s}" for s in self.keys if s not in ranked},
            ),
            anchors=list(self.anchors),
            splits=splits,
        )


def _check_answers(manifest, answers: Path) -> None:
    """The withheld answer files must be the ones the manifest names (sha256)."""
    listed = {f.path: f.sha256 for f in manifest.files}
    for split in TEST_SPLITS:
        path = answers / answers_path(split)
        if not path.is_file() or sha256_file(path) != listed.get(answers_path(split)):
            raise PhenoBenchError(f"{path}: not the answer key this benchmark's manifest names (missing or altered); make the blind copy again")


def submission_ref(submission: Submission) -> SubmissionRef:
    meta = submission.metadata
    return SubmissionRef(
        file=submission.path.name, sha256=submission.sha256, model=meta.model, similarity=meta.similarity, dim=submission.dim, description=meta.description
    )


def submission_benchmark(path: str | os.PathLike) -> str:
    """The benchmark name a submission file declares in its metadata."""
    return peek_metadata(path).benchmark


def locate_submission_benchmark(path: str | os.PathLike) -> Path:
    """The folder of the benchmark a submission's metadata names; an unknown or unbuilt one is an error naming the file."""
    meta = peek_metadata(path)
    name = meta.benchmark
    try:
        # the registered build this file was made for (a fold file carries its fold's fingerprint)
        made_for = find(name, fingerprint=meta.fingerprint, fold=meta.fold) if "/" not in name else None
        return made_for if made_for is not None else locate(name)
    except PhenoBenchError as exc:
        raise PhenoBenchError(f"{path}: the benchmark named in its metadata: {exc}") from None
