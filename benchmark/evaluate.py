"""The scorer: answer keys, the Evaluator, per-split summaries and pooled fold scoring.

The pieces, one module each:

- :mod:`pheno_bench.ranking`: exact, scale-proof tie-aware counts (float32 screen, float64 decision);
- :mod:`pheno_bench.metrics`: fair per-query values (expected value under random tie-breaking),
  micro and macro averages, the molecule bootstrap;
- this module: what a split's queries are (answer key, anchors, subsets, the "too few" rule),
  :class:`Evaluator` (validate + score one file, or every fold file of one model), the primary metric;
- :mod:`pheno_bench.compare`: verdicts (paired bootstrap, Holm) and pooling of seeds and folds.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from pheno_bench import __version__
from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import is_fold_set
from pheno_bench.io import read_parquet
from pheno_bench.manifest import Manifest, answers_path, candidates_path, locate, queries_path, read_manifest, verify
from pheno_bench.metrics import (
    CI_LEVEL,
    LOWER_IS_BETTER,
    METRICS,
    TOP_K_METRICS,
    TOP_PERCENTS,
    bootstrap_weights,
    chance_values,
    grouped_estimates,
    intervals,
    macro_estimates,
    pessimistic_values,
    query_values,
    top_k_count,
)
from pheno_bench.ranking import TIE_RTOL, RankCounts, retrieval_counts
from pheno_bench.results import (
    BenchmarkRef,
    BootstrapInfo,
    Comparison,
    Estimate,
    Primary,
    Results,
    SplitResult,
    SubmissionRef,
    SubsetResult,
    ViewResult,
    dose_sort_key,
)
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.submission import Limits, Submission, expected_input_format, peek_metadata, read_submission, template

__all__ = [
    "SCORER_VERSION", "METRICS", "LOWER_IS_BETTER", "TOP_PERCENTS", "CI_LEVEL", "TIE_RTOL", "MIN_MOLECULES",
    "Evaluator", "SplitKey", "View", "evaluate", "evaluate_folds", "compare_submissions", "primary_metric_of", "locate_submission_benchmark",
    "top_k_count", "bootstrap_weights", "rank_split", "load_split_key",
]

#: Version of the scoring rules. Major: a number changes meaning (results of different majors
#: are never compared or mixed). Minor: something is added, old numbers unchanged. Patch: a fix
#: that changes no number. 3.0.0: fair ties, float64 near-ties, macro averages, anchors apart,
#: the "too few" rule, primary metric.
SCORER_VERSION = "3.0.0"
#: A subset with fewer molecules is "too few to score" (or, for breakdowns, shown without interval).
MIN_MOLECULES = 10
VIEWS = ("per_query", "averaged")
AVERAGES = ("micro", "macro")
#: splits whose point is molecules a model never trained on: a subset all in train is too few there
UNSEEN_MOLECULE_SPLITS = ("unseen_molecules", "unseen_dataset")
HEADLINE_SUBSETS = ("all", "active")


def primary_metric_of(manifest: Manifest) -> str | None:
    """The primary metric id of a benchmark: from its manifest's spec, else from the registry."""
    declared = manifest.spec.get("primary_metric")
    if declared:
        return declared
    from pheno_bench.specs import BENCHMARKS

    spec = BENCHMARKS.get(manifest.name)
    return spec.primary_metric if spec is not None and spec.version == manifest.version else None


def parse_metric_id(metric_id: str) -> tuple[str, str, str, str, str]:
    """'<split>/<view>/<subset>/<average>/<metric>' -> its five parts, checked."""
    parts = metric_id.split("/")
    if len(parts) != 5 or parts[0] not in TEST_SPLITS or parts[1] not in VIEWS or parts[3] not in AVERAGES or parts[4] not in METRICS:
        raise PhenoBenchError(
            f"primary metric {metric_id!r} is not '<split>/<view>/<subset>/<average>/<metric>' "
            f"(split in {TEST_SPLITS}, view in {VIEWS}, average in {AVERAGES}, metric in {METRICS})"
        )
    return tuple(parts)  # type: ignore[return-value]


def metric_label(metric_id: str, k: int | None = None, n_candidates: int | None = None) -> str:
    """Human words for a metric id: 'unseen_molecules, active queries, macro top-5% (k = 9 of 174)'."""
    from pheno_bench.results import HEADERS

    split, view, subset, average, metric = parse_metric_id(metric_id)
    text = f"{split}, {subset} queries{' (averaged)' if view == 'averaged' else ''}, {average} {HEADERS[metric]}"
    return text + (f" (k = {k} of {n_candidates})" if k is not None else "")


@dataclass
class SplitKey:
    """The answer key of one test split, row-aligned with its queries and candidates files."""

    split: str
    query_ids: np.ndarray  # (n_queries,)
    candidate_ids: np.ndarray  # (n_candidates,)
    true_index: np.ndarray  # (n_queries,) row of the true candidate
    candidate_molecule: np.ndarray  # (n_candidates,) molecule code
    labels: pd.DataFrame  # per query: molecule, inchikey, dose_level, scaffold_group, active, in_train, anchor

    @property
    def n_molecules(self) -> int:
        return int(self.candidate_molecule.max()) + 1


@dataclass
class View:
    """Fair per-query values of one way of querying a split (or of several folds / seeds pooled).

    values, pessimistic, chance: (n, 6) in METRICS order (last column the mid-rank);
    labels: per row inchikey, dose_level, scaffold_group, active, in_train, anchor (and fold when pooled);
    n_candidates: the candidate count of every row's split (one int, or {fold: n} when pooled).
    """

    values: np.ndarray
    pessimistic: np.ndarray
    chance: np.ndarray
    labels: pd.DataFrame
    n_candidates: int | dict[int, int]
    counts: RankCounts | None = None

    @property
    def ranks(self) -> np.ndarray:
        """Mid-ranks (n,)."""
        return self.values[:, 5]

    def molecule_codes(self) -> tuple[np.ndarray, int]:
        """Molecule code per row (by InChIKey, sorted: stable across seeds, folds and files) and their number."""
        names, codes = np.unique(self.labels["inchikey"].to_numpy(dtype=str), return_inverse=True)
        return codes, len(names)


def _partitions(view: View, split: str) -> list[tuple[str, np.ndarray, list[str]]]:
    """(result field, group code per row or -1 to leave it out, subset name per code); anchors only in 'anchors'."""
    labels, n = view.labels, len(view.labels)
    anchor = labels["anchor"].to_numpy(dtype=bool)
    keep = lambda mask: np.where(mask & ~anchor, 0, -1)
    parts = [("subsets", keep(np.ones(n, bool)), ["all"]), ("subsets", keep(labels["active"].to_numpy(dtype=bool)), ["active"])]
    if anchor.any():
        parts.append(("subsets", np.where(anchor, 0, -1), ["anchors"]))
    if split == "unseen_dataset":
        in_train = labels["in_train"].to_numpy(dtype=bool)
        parts.append(("subsets", np.where(anchor, -1, np.where(in_train, 0, 1)), ["molecule_in_train", "molecule_not_in_train"]))
    for name, column, order in (("by_dose", "dose_level", dose_sort_key), ("by_scaffold", "scaffold_group", str)):
        names = sorted(labels[column].unique(), key=order)
        codes = pd.Index(names).get_indexer(labels[column])
        parts.append((name, np.where(anchor, -1, codes), [str(x) for x in names]))
    return parts


def _status(field_name: str, subset: str, split: str, n_molecules: int, all_in_train: bool) -> tuple[str, str]:
    if split in UNSEEN_MOLECULE_SPLITS and all_in_train:
        return "too_few", f"too few to score: all {n_molecules} molecules in train"
    if n_molecules < MIN_MOLECULES:
        if field_name == "by_scaffold" or subset == "anchors":
            return "descriptive", f"{n_molecules} molecule(s), no interval"
        return "too_few", f"too few to score ({n_molecules} molecule{'s' if n_molecules != 1 else ''} < {MIN_MOLECULES})"
    return "scored", ""


def _k_fields(metric: str, n_candidates: int | dict[int, int]) -> dict:
    if metric not in TOP_K_METRICS or not isinstance(n_candidates, int):
        return {}
    return {"k": top_k_count(TOP_K_METRICS[metric], n_candidates), "n_candidates": n_candidates}


def cell_estimates(view: View, codes: np.ndarray, weights: np.ndarray, molecule: np.ndarray, which: str = "values") -> tuple[np.ndarray, np.ndarray]:
    """Group codes present in ``codes`` and their (2, rows, groups, 6) micro and macro estimates."""
    keep = np.flatnonzero(codes >= 0)
    present, group = np.unique(codes[keep], return_inverse=True)
    values = getattr(view, which)[keep]
    micro = grouped_estimates(values, molecule[keep], group, weights)
    macro = macro_estimates(values, molecule[keep], group, weights)
    return present, np.stack([micro, macro])


def summarise(view: View, split: str, weights: np.ndarray) -> tuple[ViewResult, dict[str, dict[str, float]]]:
    """Every metric (micro and macro, chance level, interval or status) for every subset; and the pessimistic view."""
    molecule, n_molecules = view.molecule_codes()
    in_train = view.labels["in_train"].to_numpy(dtype=bool)
    fields = {"subsets": {}, "by_dose": {}, "by_scaffold": {}}
    pessimistic = {}
    for field_name, codes, names in _partitions(view, split):
        keep = codes >= 0
        if not keep.any():
            continue
        n_queries = np.bincount(codes[keep], minlength=len(names))
        mol_sets = pd.DataFrame({"g": codes[keep], "m": molecule[keep], "t": in_train[keep]}).drop_duplicates(["g", "m"])
        n_mol = np.bincount(mol_sets["g"], minlength=len(names))
        all_train = mol_sets.groupby("g")["t"].all().reindex(range(len(names)), fill_value=False).to_numpy()
        statuses = [_status(field_name, names[g], split, int(n_mol[g]), bool(all_train[g])) for g in range(len(names))]
        scored_codes = np.where(keep & np.isin(codes, [g for g, (s, _) in enumerate(statuses) if s == "scored"]), codes, -1)
        described = np.where(keep & np.isin(codes, [g for g, (s, _) in enumerate(statuses) if s == "descriptive"]), codes, -1)
        estimates = {}
        for part, rows in ((scored_codes, weights), (described, weights[:1])):
            if (part >= 0).any():
                present, est = cell_estimates(view, part, rows, molecule)  # (2 averages, rows, groups, 6)
                # point estimates and chance levels by the same single-row computation, so that a
                # submission whose per-query values equal chance's scores chance bit for bit
                _, point = cell_estimates(view, part, weights[:1], molecule) if len(rows) > 1 else (present, est)
                _, chance = cell_estimates(view, part, weights[:1], molecule, "chance")
                if len(rows) > 1:
                    low, high = intervals(np.moveaxis(est[:, 1:], 1, 0))  # each (2, groups, 6)
                else:
                    low = high = np.full((2, *est.shape[2:]), np.nan)
                for i, g in enumerate(present):
                    estimates[g] = (point[:, 0, i], low[:, i], high[:, i], chance[:, 0, i])
                if field_name == "subsets":
                    present_p, pess = cell_estimates(view, part, weights[:1], molecule, "pessimistic")
                    for i, g in enumerate(present_p):
                        pessimistic[names[g]] = {m: _finite(pess[0, 0, i, j]) for j, m in enumerate(METRICS)}
        for g, name in enumerate(names):
            if n_queries[g] == 0:
                continue
            status, reason = statuses[g]
            result = {"n_queries": int(n_queries[g]), "n_molecules": int(n_mol[g]), "status": status, "reason": reason}
            if g in estimates:
                value, low, high, chance = estimates[g]
                for a, average in enumerate(("metrics", "macro")):
                    result[average] = {
                        metric: Estimate(
                            value=_finite(value[a, j]), low=_optional(low[a, j]) if status == "scored" else None,
                            high=_optional(high[a, j]) if status == "scored" else None, chance=_finite(chance[a, j]), **_k_fields(metric, view.n_candidates),
                        )
                        for j, metric in enumerate(METRICS)
                    }
            fields[field_name][name] = SubsetResult(**result)
    return ViewResult(**fields), pessimistic


def _finite(x: float) -> float:
    x = float(x)
    if not np.isfinite(x):
        raise PhenoBenchError(f"internal error: a metric is {x}; please report this submission to the maintainers")
    return x


def _optional(x: float) -> float | None:
    return None if np.isnan(x) else _finite(x)


@dataclass
class SplitRanks:
    """A scored split: the per-query and averaged views, plus degeneracy diagnostics."""

    key: SplitKey
    per_query: View
    averaged: View
    effective_rank: dict[str, float]
    flags: list[str]


def effective_rank(x: np.ndarray, *, max_rows: int = 4096) -> float:
    """Entropy-based effective rank (RankMe) of the rows of ``x`` (n, dim): 1 for collapsed embeddings.

    Computed on at most ``max_rows`` evenly spaced rows, scaled by the largest entry and centred
    (a component shared by every row carries no ranking information, so it must not hide the spread:
    uncentred, a useful probe whose embeddings share a large offset looked "collapsed").
    """
    x = x[:: -(-len(x) // max_rows)].astype(np.float64)
    x = x / np.maximum(np.abs(x).max(), np.finfo(np.float64).tiny)
    x = x - x.mean(axis=0)
    gram = x.T @ x if x.shape[0] >= x.shape[1] else x @ x.T
    singular = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0, None))
    if singular.sum() <= 0:
        return 0.0
    p = singular / singular.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def _diagnose(queries: np.ndarray, candidates: np.ndarray) -> tuple[dict[str, float], list[str]]:
    # rounded: a diagnostic, and the same for embeddings that differ only by float rounding of a scale factor
    ranks = {"queries": round(effective_rank(queries), 3), "candidates": round(effective_rank(candidates), 3)}
    flags = []
    for kind, x in (("queries", queries), ("candidates", candidates)):
        scale = np.abs(x).max(axis=1, keepdims=True).astype(np.float64)
        unit = x / np.where(scale > 0, scale, 1)
        if np.ptp(unit, axis=0).max() <= 1e-6:
            flags.append(f"all {kind} have the same embedding")
        elif ranks[kind] < 2:
            flags.append(f"rank collapse: {kind} embeddings have effective rank {ranks[kind]:.2f}")
    return ranks, flags


def _averaged(queries: np.ndarray, key: SplitKey, cosine: bool) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Query embeddings averaged per true (molecule, dose) in float64 (after the similarity's own
    rescaling, so a 1e30 factor changes nothing); their true candidates and labels."""
    from pheno_bench.ranking import scale_factors

    groups, inverse = np.unique(key.true_index, return_inverse=True)
    counts = np.bincount(inverse)
    factors = scale_factors(queries, similarity="cosine" if cosine else "dot", rows=True)
    if not cosine:  # dot: one common factor keeps relative query lengths
        factors = np.full(len(queries), factors.min())
    membership = sparse.csr_matrix((factors / counts[inverse], (inverse, np.arange(inverse.size))), shape=(groups.size, inverse.size))
    means = np.asarray(membership @ queries.astype(np.float64))
    first = np.unique(inverse, return_index=True)[1]
    return means, groups, key.labels.iloc[first].reset_index(drop=True)


def _view(counts: RankCounts, labels: pd.DataFrame, n_doses: np.ndarray, n_candidates: int) -> View:
    return View(
        values=query_values(counts, n_candidates=n_candidates),
        pessimistic=pessimistic_values(counts, n_candidates=n_candidates),
        chance=chance_values(n_doses, n_candidates=n_candidates),
        labels=labels.reset_index(drop=True),
        n_candidates=n_candidates,
        counts=counts,
    )


def rank_split(key: SplitKey, queries: np.ndarray, candidates: np.ndarray, *, similarity: str = "cosine", memory_mb: float = 64) -> SplitRanks:
    """Score one split's embeddings against its answer key.

    queries: (n_queries, dim), candidates: (n_candidates, dim) in the key's order, raw (any scale).
    """
    n_doses = np.bincount(key.candidate_molecule)
    views = {}
    for name, (q, true, labels) in {
        "per_query": (queries, key.true_index, key.labels),
        "averaged": _averaged(queries, key, similarity == "cosine"),
    }.items():
        counts = retrieval_counts(q, candidates, true_index=true, candidate_molecule=key.candidate_molecule, similarity=similarity, memory_mb=memory_mb)
        views[name] = _view(counts, labels, n_doses[labels["molecule"].to_numpy()], len(candidates))
    return SplitRanks(key, views["per_query"], views["averaged"], *_diagnose(queries, candidates))


def load_split_key(root: str | os.PathLike, split: str, *, anchors: Sequence[str] = ()) -> SplitKey:
    """Read the answer key of ``split`` from the benchmark folder ``root``; ``anchors``: positive-control InChIKeys."""
    root = Path(root)
    queries = read_parquet(root / queries_path(split), what="benchmark queries file").column("query_id").to_numpy()
    candidates = read_parquet(root / candidates_path(split), what="benchmark candidates file").select(["candidate_id", "inchikey"]).to_pandas()
    answers = read_parquet(root / answers_path(split), what="benchmark answers file").to_pandas().set_index("query_id")
    missing = pd.Index(queries).difference(answers.index)
    unknown = pd.Index(answers["candidate_id"]).difference(candidates["candidate_id"])
    if missing.size or unknown.size or answers.index.has_duplicates:
        raise PhenoBenchError(
            f"{root / answers_path(split)}: answer key does not match queries/candidates of {split}; "
            "the benchmark folder is damaged: build or download it again"
        )
    answers = answers.loc[queries]
    molecules, candidate_molecule = np.unique(candidates["inchikey"].to_numpy(), return_inverse=True)
    true_index = pd.Index(candidates["candidate_id"]).get_indexer(answers["candidate_id"])
    inchikey = molecules[candidate_molecule[true_index]]
    labels = pd.DataFrame(
        {
            "molecule": candidate_molecule[true_index],
            "inchikey": inchikey,
            "dose_level": answers["dose_level"].astype(str).to_numpy(),
            "scaffold_group": answers["scaffold"].fillna("").replace("", "(acyclic)").to_numpy(),
            "active": answers["active"].fillna(False).to_numpy(dtype=bool),
            "in_train": answers["in_train"].fillna(False).to_numpy(dtype=bool),
            "anchor": pd.Index(inchikey).isin(list(anchors)),
        }
    )
    return SplitKey(split, queries, candidates["candidate_id"].to_numpy(), true_index, candidate_molecule, labels)


def split_rng(seed: int, split: str) -> np.random.Generator:
    """The bootstrap generator of one split: the same molecules are drawn for every file scored with this seed."""
    return np.random.default_rng([seed, zlib.crc32(split.encode())])


def summarise_split(per_query: View, averaged: View, split: str, *, n_bootstrap: int, seed: int, base: dict, **extra) -> SplitResult:
    """The SplitResult of (possibly pooled) views: bootstrap over the molecules of the pooled set."""
    _, n_molecules = per_query.molecule_codes()
    weights = bootstrap_weights(n_molecules, n_resamples=n_bootstrap, rng=split_rng(seed, split))
    pq_result, pessimistic = summarise(per_query, split, weights)
    avg_result, _ = summarise(averaged, split, weights)
    n_cand = per_query.n_candidates
    k = {f"top_{p}pct": top_k_count(p, n_cand) for p in TOP_PERCENTS} if isinstance(n_cand, int) else {}
    return SplitResult(evaluated=True, **base, k=k, per_query=pq_result, averaged=avg_result, pessimistic=pessimistic, **extra)


def primary_result(metric_id: str | None, splits: Mapping[str, SplitResult], *, not_evaluated: Mapping[str, str] | None = None) -> Primary | None:
    """The primary metric's Estimate from a results' splits (value None when too few / not evaluated).

    not_evaluated: split -> why it was not evaluated (e.g. "fold(s) [2] have no unseen_molecules"),
    kept as ``Primary.reason`` when the primary metric's split is one of them.
    """
    if not metric_id:
        return None
    split, view, subset, average, metric = parse_metric_id(metric_id)
    result = splits.get(split)
    if result is None or not result.evaluated:
        why = (not_evaluated or {}).get(split) or f"the submission does not cover {split}"
        return Primary(id=metric_id, label=metric_label(metric_id), value=None, reason=f"not evaluated: {why}")
    sub = getattr(result, view).subsets.get(subset)
    est = (sub.metrics if average == "micro" else sub.macro).get(metric) if sub is not None else None
    if est is None:
        return Primary(id=metric_id, label=metric_label(metric_id), value=None, n_molecules=sub.n_molecules if sub else None)
    label = metric_label(metric_id, est.k, est.n_candidates)
    if est.k is None and metric in TOP_K_METRICS and result.n_candidates_by_fold:
        from pheno_bench.results import k_of_folds

        label += f" ({k_of_folds(TOP_K_METRICS[metric], result.n_candidates_by_fold)})"
    return Primary(
        id=metric_id, label=label, value=est.value, low=est.low, high=est.high,
        chance=est.chance, k=est.k, n_candidates=est.n_candidates, n_molecules=sub.n_molecules,
    )


class Evaluator:
    """Scores submissions for one benchmark; reads its answer key itself (never from the user).

    >>> evaluator = Evaluator("cell-injury-v1")      # a name (pheno-bench home) or a folder
    >>> print(evaluator.expected_input_format)
    >>> results = evaluator.evaluate("submission.parquet")
    >>> pooled = Evaluator("cell-injury-v2").evaluate_folds(["fold-0.parquet", ..., "fold-4.parquet"])
    """

    def __init__(self, benchmark: str | os.PathLike, *, verify_files: bool = True, memory_mb: float = 64, limits: Limits | None = None, fold: int | None = None):
        self.root = locate(benchmark, fold=fold)
        self.manifest = verify(self.root) if verify_files else read_manifest(self.root)
        self.memory_mb = memory_mb
        self.limits = limits or Limits()
        self.anchors = tuple(self.manifest.spec.get("anchor_molecules", ()))
        self.primary_metric = primary_metric_of(self.manifest)
        if self.primary_metric:
            parse_metric_id(self.primary_metric)
        self.keys = {split: load_split_key(self.root, split, anchors=self.anchors) for split in TEST_SPLITS}
        self._ranked: dict[str, dict[str, SplitRanks]] = {}
        self._fold_evaluators: dict[int, Evaluator] = {}

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

    def evaluate(self, submission: str | os.PathLike | Submission, *, n_bootstrap: int = 1000, seed: int = 0) -> Results:
        """Validate and score a submission; every covered split gets every metric with its interval."""
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
                effective_rank=scored.effective_rank, flags=scored.flags,
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

    # --- folds ---------------------------------------------------------------------------

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
        from pheno_bench.compare import compare_runs

        return compare_runs(self, [a], [b], n_bootstrap=n_bootstrap, seed=seed)




def submission_ref(submission: Submission) -> SubmissionRef:
    meta = submission.metadata
    return SubmissionRef(
        file=submission.path.name, sha256=submission.sha256, model=meta.model, similarity=meta.similarity, dim=submission.dim, description=meta.description
    )


def pool_views(views: Sequence[View], folds: Sequence[int]) -> View:
    """Concatenate one view per fold (labels gain a 'fold' column); molecules are matched by InChIKey."""
    labels = pd.concat([v.labels.assign(fold=f) for v, f in zip(views, folds)], ignore_index=True)
    stack = lambda name: np.concatenate([getattr(v, name) for v in views])
    return View(stack("values"), stack("pessimistic"), stack("chance"), labels, {f: v.n_candidates for v, f in zip(views, folds)})


def fold_files(paths: Sequence[str | os.PathLike] | Mapping[int, str | os.PathLike]) -> dict[int, Path]:
    """fold -> file, from a mapping or from each file's metadata (``fold``); one file per fold."""
    if isinstance(paths, Mapping):
        return {int(k): Path(v) for k, v in paths.items()}
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
    submissions: Sequence[str | os.PathLike] | Mapping[int, str | os.PathLike],
    *,
    benchmark: str | os.PathLike | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    memory_mb: float = 64,
    limits: Limits | None = None,
) -> Results:
    """Score one model's files, one per fold, and pool them (see site/scoring.md, pooled scoring).

    Every fold of the benchmark must be present (a missing fold is an error, never a partial average).
    Each split pools the folds' queries: unseen_molecules holds every molecule exactly once (scored by
    the fold whose model never saw it); unseen_images and unseen_dataset pool all folds' queries,
    a molecule present in several folds counting with all its queries. Intervals: bootstrap over the
    molecules of the pooled set. Per-fold results are kept in ``results.folds``.
    """
    files = fold_files(submissions)
    first = next(iter(files.values()), None)
    if first is None:
        raise PhenoBenchError("no submission files given; pass one file per fold")
    root = locate(benchmark) if benchmark is not None else locate_submission_benchmark(first)
    expected = _fold_numbers(root)
    if missing := sorted(set(expected) - set(files)):
        raise PhenoBenchError(
            f"fold(s) {missing} of {root.name} missing (got {sorted(files)}); pooled scores need every fold: "
            "score all fold files of the model together"
        )
    if extra := sorted(set(files) - set(expected)):
        raise PhenoBenchError(f"fold(s) {extra} are not folds of {root.name} (folds: {sorted(expected)})")
    for k, path in files.items():
        if (said := peek_metadata(path).fold) is not None and said != k:
            raise PhenoBenchError(f"{path}: its metadata says fold {said}, but it was given as fold {k}")
    evaluators = {k: Evaluator(root, fold=k, memory_mb=memory_mb, limits=limits) for k in sorted(files)}
    subs = {k: evaluators[k].read(files[k]) for k in sorted(files)}
    per_fold = {str(k): _headline_only(evaluators[k].evaluate(subs[k], n_bootstrap=n_bootstrap, seed=seed)) for k in subs}
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
        benchmark=_set_reference(root, ev0),
        submission=refs[0],
        bootstrap=BootstrapInfo(n_resamples=n_bootstrap, seed=seed, level=CI_LEVEL),
        primary=primary_result(ev0.primary_metric, splits, not_evaluated=not_evaluated),
        anchors=list(ev0.anchors),
        splits=splits,
        folds=per_fold,
        submissions=refs,
    )


def _headline_only(results: Results) -> Results:
    """A fold's results without the by_dose / by_scaffold breakdowns (pooled results keep them)."""
    splits = {}
    for split, result in results.splits.items():
        views = {v: getattr(result, v).model_copy(update={"by_dose": {}, "by_scaffold": {}}) for v in VIEWS if getattr(result, v) is not None}
        splits[split] = result.model_copy(update=views)
    return results.model_copy(update={"splits": splits})


def _fold_numbers(root: Path) -> list[int]:
    """The folds of a fold-set benchmark; a plain benchmark is an error here."""
    if not is_fold_set(root):
        raise PhenoBenchError(f"{root}: not a benchmark with folds; score its submission with `pheno-bench evaluate FILE`")
    from pheno_bench.folds import check_fold_set

    return sorted(int(f.fold) for f in check_fold_set(root).folds)


def _set_reference(root: Path, fold_evaluator: Evaluator) -> BenchmarkRef:
    from pheno_bench.folds import read_fold_set

    fold_set = read_fold_set(root)
    return BenchmarkRef(name=fold_set.name, version=fold_set.version, fingerprint=fold_set.fingerprint)


def evaluate(submission: str | os.PathLike, *, benchmark: str | os.PathLike | None = None, n_bootstrap: int = 1000, seed: int = 0) -> Results:
    """Score ``submission`` against ``benchmark`` (default: the one named in its metadata)."""
    return Evaluator(benchmark or locate_submission_benchmark(submission)).evaluate(submission, n_bootstrap=n_bootstrap, seed=seed)


def submission_benchmark(path: str | os.PathLike) -> str:
    """The benchmark name a submission file declares in its metadata."""
    return peek_metadata(path).benchmark


def locate_submission_benchmark(path: str | os.PathLike) -> Path:
    """The folder of the benchmark a submission's metadata names; an unknown or unbuilt one is an error naming the file."""
    meta = peek_metadata(path)
    name = meta.benchmark
    try:
        from pheno_bench import registry

        # the registered build this file was made for (a fold file carries its fold's fingerprint)
        made_for = registry.find(name, fingerprint=meta.fingerprint, fold=meta.fold) if "/" not in name else None
        return made_for if made_for is not None else locate(name)
    except PhenoBenchError as exc:
        raise PhenoBenchError(f"{path}: the benchmark named in its metadata: {exc}") from None


def compare_submissions(a: str | os.PathLike, b: str | os.PathLike, *, benchmark: str | os.PathLike | None = None, n_bootstrap: int = 1000, seed: int = 0) -> Comparison:
    """Paired comparison of two submissions for the same benchmark."""
    from pheno_bench.compare import compare_entries

    return compare_entries([a], [b], benchmark=benchmark, n_bootstrap=n_bootstrap, seed=seed)
