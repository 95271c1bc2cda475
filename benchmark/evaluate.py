"""The scorer: tie-safe retrieval ranks, metrics with molecule-bootstrap intervals, paired comparison.

For each query of a test split, its **rank** is the number of the split's candidates whose
similarity is at least that of the true (molecule, dose) candidate: ties count against the
submission, so a constant embedding gets rank ``n_candidates``. Similarities within
``TIE_RTOL * |q| * max|c|`` of each other count as ties (float32 rounding makes equal vectors
score unequal by about 1e-8 of that scale). The **molecule rank** is 1 + the number of candidates
of *other* molecules scoring at least the best-scoring dose of the true molecule (the true
molecule's own doses never count against it, so a dose-blind model is not penalised at the
molecule level; ties with other molecules still are). Ranks are computed in chunks of queries (one chunked
matrix product), so memory is bounded by ``memory_mb`` whatever the number of queries.

Metrics (per split, per subset of queries): top-K% accuracy (rank <= ceil(K * n_candidates / 100),
K = 1, 5), molecule-level top-K% (molecule rank <= the same bound), mean reciprocal rank, median
rank (smallest r with at least half the queries at rank <= r). 95% intervals: percentile bootstrap
over molecules (the whole split is resampled, every number recomputed on each resample).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from pheno_bench import __version__
from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet
from pheno_bench.manifest import answers_path, candidates_path, locate, queries_path, read_manifest, verify
from pheno_bench.results import (
    BenchmarkRef,
    BootstrapInfo,
    Comparison,
    Difference,
    Estimate,
    Results,
    SplitResult,
    SubmissionRef,
    SubsetResult,
    ViewResult,
    dose_sort_key,
)
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.submission import Submission, expected_input_format, peek_metadata, read_submission, template

#: Version of the scoring rules. Major: a number changes meaning (results of different majors
#: are never compared or mixed). Minor: something is added, old numbers unchanged. Patch: a fix
#: that changes no number.
SCORER_VERSION = "2.0.0"
TOP_PERCENTS = (1, 5)
METRICS = ("top_1pct", "top_5pct", "molecule_top_1pct", "molecule_top_5pct", "mrr", "median_rank")
LOWER_IS_BETTER = frozenset({"median_rank"})
TIE_RTOL = 1e-6
CI_LEVEL = 0.95


def top_k_count(percent: int, n_candidates: int) -> int:
    """How many top candidates count as a top-``percent``% hit: ceil(percent * n_candidates / 100)."""
    return -(-percent * n_candidates // 100)


def _molecule_members(candidate_molecule: np.ndarray) -> np.ndarray:
    """(n_molecules, max_doses) candidate indices of each molecule, padded with -1."""
    order = np.argsort(candidate_molecule, kind="stable")
    codes = candidate_molecule[order]
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    members = np.full((counts.size, counts.max()), -1, dtype=np.int64)
    members[codes, np.arange(codes.size) - starts[codes]] = order
    return members


def retrieval_ranks(
    queries: np.ndarray,
    candidates: np.ndarray,
    *,
    true_index: np.ndarray,
    candidate_molecule: np.ndarray,
    memory_mb: float = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Tie-safe ranks of the true candidate and of the true molecule, by chunked similarity.

    queries: float32 (n_queries, dim); candidates: float32 (n_candidates, dim); similarity is
    their dot product (normalise both first for cosine).
    true_index: (n_queries,) row of each query's true candidate.
    candidate_molecule: (n_candidates,) integer molecule code of each candidate.
    Returns ranks and molecule_ranks, int64 (n_queries,), each in 1..n_candidates.
    """
    n_queries, n_candidates = len(queries), candidates.shape[0]
    query_members = _molecule_members(candidate_molecule)[candidate_molecule[true_index]]
    scale = TIE_RTOL * np.linalg.norm(queries, axis=1) * np.linalg.norm(candidates, axis=1).max()
    rows = max(1, int(memory_mb * 2**20) // (5 * n_candidates))
    candidates_t = np.ascontiguousarray(candidates.T)
    sims_buffer = np.empty((rows, n_candidates), dtype=np.float32)
    above = np.zeros((rows, -(-n_candidates // 8) * 8), dtype=bool)  # padded to whole uint64 words
    ranks = np.empty(n_queries, dtype=np.int64)
    molecule_ranks = np.empty(n_queries, dtype=np.int64)
    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        local = np.arange(stop - start)
        sims = np.matmul(queries[start:stop], candidates_t, out=sims_buffer[: stop - start])
        true = sims[local, true_index[start:stop]]
        cols = query_members[start:stop]
        own = np.where(cols >= 0, sims[local[:, None], cols], -np.inf)
        best = own.max(axis=1)
        tol = scale[start:stop]
        ranks[start:stop] = _count_at_least(sims, true - tol, above)
        at_best = ranks[start:stop].copy()
        if (better := best > true).any():  # another dose of the true molecule scores higher
            counts = _count_at_least(sims, np.where(better, best - tol, np.inf), above)
            at_best[better] = counts[better]
        own_at_best = (own >= (best - tol)[:, None]).sum(axis=1)
        molecule_ranks[start:stop] = at_best - own_at_best + 1
    return ranks, molecule_ranks


def _count_at_least(sims: np.ndarray, threshold: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """Per row of sims (rows, n), how many entries are >= threshold (rows,); buffer: bool (>= rows, n padded to 8)."""
    rows, n = sims.shape
    np.greater_equal(sims, threshold[:, None], out=buffer[:rows, :n])
    return np.bitwise_count(buffer[:rows].view(np.uint64)).sum(axis=1, dtype=np.int64)


def query_values(ranks: np.ndarray, molecule_ranks: np.ndarray, *, n_candidates: int) -> np.ndarray:
    """(n_queries, 5) float64 per-query values of the mean metrics (METRICS[:5]): hits and 1/rank."""
    k = [top_k_count(p, n_candidates) for p in TOP_PERCENTS]
    return np.column_stack([ranks <= k[0], ranks <= k[1], molecule_ranks <= k[0], molecule_ranks <= k[1], 1.0 / ranks]).astype(np.float64)


def chance_levels(n_candidates: int, n_doses: np.ndarray) -> np.ndarray:
    """(n_queries, 6) expected value of each metric under a uniformly random ranking without ties.

    n_doses: (n_queries,) number of candidates of each query's true molecule. Molecule-level
    chance is 1 - C(n - m, k) / C(n, k) for m doses and top-k.
    """
    n = n_candidates
    columns = [np.full(n_doses.shape, top_k_count(p, n) / n) for p in TOP_PERCENTS]
    for p in TOP_PERCENTS:
        k = top_k_count(p, n)
        miss = {m: np.prod([max(n - k - i, 0) / (n - i) for i in range(m)]) for m in np.unique(n_doses).tolist()}
        columns.append(1.0 - np.vectorize(miss.get, otypes=[float])(n_doses))
    columns.append(np.full(n_doses.shape, np.sum(1.0 / np.arange(1, n + 1)) / n))
    columns.append(np.full(n_doses.shape, float(-(-n // 2))))
    return np.column_stack(columns)


def bootstrap_weights(n_molecules: int, *, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n_resamples, n_molecules) float64: row 0 all ones (the point estimate), then the
    multiplicity of each molecule in each resample of n_molecules drawn with replacement."""
    draws = rng.integers(0, n_molecules, size=(n_resamples, n_molecules))
    draws += np.arange(n_resamples)[:, None] * n_molecules
    counts = np.bincount(draws.ravel(), minlength=n_resamples * n_molecules).reshape(n_resamples, n_molecules)
    return np.vstack([np.ones((1, n_molecules)), counts]).astype(np.float64)


def _times(weights: np.ndarray, matrix: sparse.csr_matrix) -> np.ndarray:
    """weights (rows, n) @ matrix (n, m) as a dense array: BLAS when the matrix is small enough to densify."""
    if matrix.shape[0] * matrix.shape[1] <= 1 << 22:
        return weights @ matrix.toarray()
    return np.ascontiguousarray(weights @ matrix)  # scipy returns it column-major


def grouped_lower_median(values: np.ndarray, group: np.ndarray, molecule: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Lower median of ``values`` in each group, under each row of molecule weights.

    values, group, molecule: (n,); group codes 0..n_groups-1, each present; molecule codes index the
    columns of weights (rows, n_molecules); a value counts with its molecule's weight.
    Returns (rows, n_groups): the smallest v with weight(values <= v) >= half the group's weight
    (NaN where that weight is zero). Sorted values are cut into blocks whose weights come from one
    matrix product; only the block holding each median is expanded, so no (rows, n) array is made.
    Weights are integer counts: their sums are exact in float32 below 2**24, which halves the memory traffic.
    """
    dtype = np.float32 if len(values) * weights.max(initial=0) < 2**24 else np.float64
    weights = weights.astype(dtype, copy=False)
    order = np.lexsort((values, group))
    values, group, molecule = values[order], group[order], molecule[order]
    n, n_rows = values.size, weights.shape[0]
    sizes = np.bincount(group)
    block = max(8, int(np.sqrt(sizes.max())))
    group_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group_blocks = -(-sizes // block)
    block_offset = np.concatenate([[0], np.cumsum(group_blocks)[:-1]])
    block_group = np.repeat(np.arange(sizes.size), group_blocks)
    in_group = np.arange(block_group.size) - block_offset[block_group]
    block_of = block_offset[group] + (np.arange(n) - group_start[group]) // block
    counts = sparse.csr_matrix((np.ones(n, dtype), (molecule, block_of)), shape=(weights.shape[1], block_group.size))
    through = np.cumsum(_times(weights, counts), axis=1)
    through -= np.where(block_offset > 0, through[:, block_offset - 1], 0)[:, block_group]  # restart at each group
    half = through[:, block_offset + group_blocks - 1] / 2
    short = (through < half[:, block_group]).astype(np.int32)
    first = block_offset + np.add.reduceat(short, block_offset, axis=1)  # (rows, groups): block holding the median
    before = np.where(first > block_offset, np.take_along_axis(through, np.maximum(first - 1, 0), axis=1), 0).astype(dtype)
    position = (group_start[block_group] + in_group * block)[first][..., None] + np.arange(block)
    inside = position < (group_start + sizes)[None, :, None]
    position = np.minimum(position, n - 1)
    step = np.where(inside, weights[np.arange(n_rows)[:, None, None], molecule[position]], dtype(0))
    offset = np.argmax(before[..., None] + np.cumsum(step, axis=2) >= half[..., None], axis=2)
    out = values[np.take_along_axis(position, offset[..., None], axis=2)[..., 0]].astype(np.float64)
    out[half <= 0] = np.nan
    return out


def grouped_estimates(values: np.ndarray, ranks: np.ndarray, molecule: np.ndarray, group: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(rows, n_groups, 6) every metric of every group under each row of molecule weights.

    values: (n, 5) from :func:`query_values`; ranks, molecule, group: (n,), group codes
    0..n_groups-1 all present; weights: (rows, n_molecules), row 0 all ones for the plain estimate.
    Means are ratio estimates: weighted sums over weighted query counts.
    """
    n_groups = int(group.max()) + 1
    cells = np.column_stack([values, np.ones(len(values))])
    sums = sparse.csr_matrix(
        (cells.ravel(), (np.repeat(molecule, 6), (group[:, None] * 6 + np.arange(6)).ravel())), shape=(weights.shape[1], n_groups * 6)
    )
    totals = _times(weights, sums).reshape(len(weights), n_groups, 6)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = totals[..., :5] / totals[..., 5:]
    return np.concatenate([means, grouped_lower_median(ranks.astype(np.float64), group, molecule, weights)[..., None]], axis=2)


def _intervals(samples: np.ndarray) -> np.ndarray:
    """(2, ...) percentile interval at CI_LEVEL over axis 0 of bootstrap samples (numpy's linear
    quantile); resamples where a subset drew no molecule (NaN) are dropped; none left: NaN."""
    if len(samples) == 0:
        return np.full((2, *samples.shape[1:]), np.nan)
    ordered = np.sort(samples, axis=0)  # NaN last
    valid = (~np.isnan(samples)).sum(axis=0)
    last = np.maximum(valid - 1, 0)
    bounds = []
    for q in ((1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2):
        position = last * q
        below = np.floor(position).astype(np.int64)
        lower = np.take_along_axis(ordered, below[None], axis=0)[0]
        upper = np.take_along_axis(ordered, np.minimum(below + 1, last)[None], axis=0)[0]
        bounds.append(np.where(valid > 0, lower + (position - below) * (upper - lower), np.nan))
    return np.stack(bounds)


def _optional(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


@dataclass
class SplitKey:
    """The answer key of one test split, row-aligned with its queries and candidates files."""

    split: str
    query_ids: np.ndarray  # (n_queries,)
    candidate_ids: np.ndarray  # (n_candidates,)
    true_index: np.ndarray  # (n_queries,) row of the true candidate
    candidate_molecule: np.ndarray  # (n_candidates,) molecule code
    labels: pd.DataFrame  # per query: molecule, dose_level, scaffold_group, active, in_train

    @property
    def n_molecules(self) -> int:
        return int(self.candidate_molecule.max()) + 1


@dataclass
class View:
    """Ranks of one way of querying a split: per query, or per (molecule, dose) averaged queries."""

    ranks: np.ndarray
    molecule_ranks: np.ndarray
    labels: pd.DataFrame  # per row: molecule, dose_level, scaffold_group, active, in_train, n_doses
    n_candidates: int

    def partitions(self, split: str, *, headline_only: bool = False) -> list[tuple[str, np.ndarray, list[str]]]:
        """(result field, group code per row or -1 to leave it out, subset name per code)."""
        labels, n = self.labels, len(self.labels)
        parts = [("subsets", np.zeros(n, dtype=np.int64), ["all"]), ("subsets", np.where(labels["active"], 0, -1), ["active"])]
        if headline_only:
            return parts
        if split == "unseen_dataset":
            parts.append(("subsets", np.where(labels["in_train"], 0, 1), ["molecule_in_train", "molecule_not_in_train"]))
        for field, column, order in (("by_dose", "dose_level", dose_sort_key), ("by_scaffold", "scaffold_group", str)):
            names = sorted(labels[column].unique(), key=order)
            parts.append((field, pd.Index(names).get_indexer(labels[column]), [str(name) for name in names]))
        return parts

    def estimates(self, codes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The group codes present in ``codes`` and their (rows, groups, 6) estimates (see :func:`grouped_estimates`)."""
        keep = np.flatnonzero(codes >= 0)
        present, group = np.unique(codes[keep], return_inverse=True)
        values = query_values(self.ranks[keep], self.molecule_ranks[keep], n_candidates=self.n_candidates)
        return present, grouped_estimates(values, self.ranks[keep], self.labels["molecule"].to_numpy()[keep], group, weights)

    def summarise(self, split: str, weights: np.ndarray) -> ViewResult:
        """Every metric, with chance level and interval, for every subset."""
        chance = chance_levels(self.n_candidates, self.labels["n_doses"].to_numpy())
        molecules = self.labels["molecule"].to_numpy()
        fields = {"subsets": {}, "by_dose": {}, "by_scaffold": {}}
        for field, codes, names in self.partitions(split):
            present, rows = self.estimates(codes, weights)
            low, high = _intervals(rows[1:])
            keep = codes >= 0
            n_queries = np.bincount(codes[keep], minlength=len(names))
            pairs = np.unique(codes[keep] * (molecules.max() + 1) + molecules[keep])
            n_molecules = np.bincount(pairs // (molecules.max() + 1), minlength=len(names))
            chances = np.column_stack([np.bincount(codes[keep], weights=col[keep], minlength=len(names)) for col in chance.T]) / np.maximum(n_queries, 1)[:, None]
            for g, code in enumerate(present):
                metrics = {
                    metric: Estimate(value=float(rows[0, g, i]), low=_optional(low[g, i]), high=_optional(high[g, i]), chance=float(chances[code, i]))
                    for i, metric in enumerate(METRICS)
                }
                fields[field][names[code]] = SubsetResult(n_queries=int(n_queries[code]), n_molecules=int(n_molecules[code]), metrics=metrics)
        return ViewResult(**fields)


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

    Computed on at most ``max_rows`` evenly spaced rows.
    """
    x = x[:: -(-len(x) // max_rows)].astype(np.float64)
    gram = x.T @ x if x.shape[0] >= x.shape[1] else x @ x.T
    singular = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0, None))
    p = singular / singular.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def _diagnose(queries: np.ndarray, candidates: np.ndarray) -> tuple[dict[str, float], list[str]]:
    ranks = {"queries": effective_rank(queries), "candidates": effective_rank(candidates)}
    flags = []
    for kind, x in (("queries", queries), ("candidates", candidates)):
        if np.ptp(x, axis=0).max() <= TIE_RTOL * np.abs(x).max():
            flags.append(f"all {kind} have the same embedding")
        elif ranks[kind] < 2:
            flags.append(f"rank collapse: {kind} embeddings have effective rank {ranks[kind]:.2f}")
    return ranks, flags


def _averaged(queries: np.ndarray, key: SplitKey, cosine: bool) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Query embeddings averaged per true (molecule, dose); their true candidates and labels."""
    groups, inverse = np.unique(key.true_index, return_inverse=True)
    counts = np.bincount(inverse)
    membership = sparse.csr_matrix((1.0 / counts[inverse], (inverse, np.arange(inverse.size))), shape=(groups.size, inverse.size))
    means = np.asarray(membership @ queries, dtype=np.float32)
    if cosine:  # a mean of opposite queries is zero: it stays zero, and ties with every candidate
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), np.finfo(np.float32).tiny)
    first = np.unique(inverse, return_index=True)[1]
    return means, groups, key.labels.iloc[first].reset_index(drop=True)


def rank_split(key: SplitKey, queries: np.ndarray, candidates: np.ndarray, *, similarity: str = "cosine", memory_mb: float = 64) -> SplitRanks:
    """Score one split's embeddings against its answer key.

    queries: (n_queries, dim), candidates: (n_candidates, dim) in the key's order.
    """
    cosine = similarity == "cosine"
    if cosine:
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        candidates = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    n_doses = np.bincount(key.candidate_molecule)
    views = {}
    for name, (q, true, labels) in {
        "per_query": (queries, key.true_index, key.labels),
        "averaged": _averaged(queries, key, cosine),
    }.items():
        ranks, molecule_ranks = retrieval_ranks(q, candidates, true_index=true, candidate_molecule=key.candidate_molecule, memory_mb=memory_mb)
        labels = labels.assign(n_doses=n_doses[labels["molecule"].to_numpy()])
        views[name] = View(ranks, molecule_ranks, labels, len(candidates))
    return SplitRanks(key, views["per_query"], views["averaged"], *_diagnose(queries, candidates))


def load_split_key(root: str | os.PathLike, split: str) -> SplitKey:
    """Read the answer key of ``split`` from the benchmark folder ``root``."""
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
    labels = pd.DataFrame(
        {
            "molecule": candidate_molecule[true_index],
            "dose_level": answers["dose_level"].astype(str).to_numpy(),
            "scaffold_group": answers["scaffold"].fillna("").replace("", "(acyclic)").to_numpy(),
            "active": answers["active"].fillna(False).to_numpy(dtype=bool),
            "in_train": answers["in_train"].fillna(False).to_numpy(dtype=bool),
        }
    )
    return SplitKey(split, queries, candidates["candidate_id"].to_numpy(), true_index, candidate_molecule, labels)


def _rng(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(split.encode())])


class Evaluator:
    """Scores submissions for one benchmark; reads its answer key itself (never from the user).

    >>> evaluator = Evaluator("cell-injury-v1")      # a name (pheno-bench home) or a folder
    >>> print(evaluator.expected_input_format)
    >>> results = evaluator.evaluate("submission.parquet")
    """

    def __init__(self, benchmark: str | os.PathLike, *, verify_files: bool = True, memory_mb: float = 64):
        self.root = locate(benchmark)
        self.manifest = verify(self.root) if verify_files else read_manifest(self.root)
        self.memory_mb = memory_mb
        self.keys = {split: load_split_key(self.root, split) for split in TEST_SPLITS}
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
        return template(path, benchmark=self.manifest.name, fingerprint=self.manifest.fingerprint, expected=self.expected, dim=dim, seed=seed)

    def read(self, submission: str | os.PathLike | Submission) -> Submission:
        """The validated submission (a path is read and checked against this benchmark)."""
        if isinstance(submission, Submission):
            return submission
        return read_submission(submission, benchmark=self.manifest.name, fingerprint=self.manifest.fingerprint, expected=self.expected)

    def rank(self, submission: str | os.PathLike | Submission) -> dict[str, SplitRanks]:
        """Per-split ranks for every split the submission covers."""
        submission = self.read(submission)
        if submission.sha256 not in self._ranked:  # compare() and the leaderboard rank a file many times
            self._ranked[submission.sha256] = {
                split: rank_split(self.keys[split], emb.queries, emb.candidates, similarity=submission.metadata.similarity, memory_mb=self.memory_mb)
                for split, emb in submission.splits.items()
            }
        return self._ranked[submission.sha256]

    def evaluate(self, submission: str | os.PathLike | Submission, *, n_bootstrap: int = 1000, seed: int = 0) -> Results:
        """Validate and score a submission; every covered split gets every metric with its interval."""
        submission = self.read(submission)
        ranked = self.rank(submission)
        splits = {}
        for split, key in self.keys.items():
            base = dict(n_queries=len(key.query_ids), n_candidates=len(key.candidate_ids), n_molecules=key.n_molecules)
            if split not in ranked:
                splits[split] = SplitResult(evaluated=False, **base)
                continue
            scored = ranked[split]
            weights = bootstrap_weights(base["n_molecules"], n_resamples=n_bootstrap, rng=_rng(seed, split))
            splits[split] = SplitResult(
                evaluated=True,
                **base,
                k={f"top_{p}pct": top_k_count(p, base["n_candidates"]) for p in TOP_PERCENTS},
                per_query=scored.per_query.summarise(split, weights),
                averaged=scored.averaged.summarise(split, weights),
                effective_rank=scored.effective_rank,
                flags=scored.flags,
            )
        return Results(
            scorer_version=SCORER_VERSION,
            pheno_bench_version=__version__,
            benchmark=self.reference,
            submission=_submission_ref(submission),
            bootstrap=BootstrapInfo(n_resamples=n_bootstrap, seed=seed, level=CI_LEVEL),
            splits=splits,
        )

    def compare(self, a: str | os.PathLike | Submission, b: str | os.PathLike | Submission, *, n_bootstrap: int = 1000, seed: int = 0) -> Comparison:
        """Paired bootstrap of a - b over molecules, per split covered by both, for the headline subsets."""
        a, b = self.read(a), self.read(b)
        ranked_a, ranked_b = self.rank(a), self.rank(b)
        splits, skipped = {}, {}
        for split in TEST_SPLITS:
            if split not in ranked_a or split not in ranked_b:
                skipped[split] = "not covered by " + " and ".join(n for n, r in (("a", ranked_a), ("b", ranked_b)) if split not in r)
                continue
            weights = bootstrap_weights(self.keys[split].n_molecules, n_resamples=n_bootstrap, rng=_rng(seed, split))
            splits[split] = {}
            for view in ("per_query", "averaged"):
                view_a, view_b = getattr(ranked_a[split], view), getattr(ranked_b[split], view)
                for _, codes, (name,) in view_a.partitions(split, headline_only=True):
                    if (codes >= 0).any():
                        rows_a, rows_b = view_a.estimates(codes, weights)[1][:, 0], view_b.estimates(codes, weights)[1][:, 0]
                        splits[split][f"{view}/{name}"] = {metric: _difference(metric, rows_a[:, i], rows_b[:, i]) for i, metric in enumerate(METRICS)}
        return Comparison(
            scorer_version=SCORER_VERSION,
            benchmark=self.reference,
            a=_submission_ref(a),
            b=_submission_ref(b),
            bootstrap=BootstrapInfo(n_resamples=n_bootstrap, seed=seed, level=CI_LEVEL),
            splits=splits,
            not_compared=skipped,
        )


def _difference(metric: str, a: np.ndarray, b: np.ndarray) -> Difference:
    """a - b with its paired interval; the verdict says whether a is better, worse or tied."""
    diff = a - b
    low, high = _intervals(diff[1:])
    sign = -1 if metric in LOWER_IS_BETTER else 1
    verdict = "tied"
    if sign * low > 0 and sign * high > 0:
        verdict = "better"
    elif sign * low < 0 and sign * high < 0:
        verdict = "worse"
    return Difference(a=float(a[0]), b=float(b[0]), difference=float(diff[0]), low=_optional(low), high=_optional(high), verdict=verdict)


def _submission_ref(submission: Submission) -> SubmissionRef:
    meta = submission.metadata
    return SubmissionRef(
        file=submission.path.name, sha256=submission.sha256, model=meta.model, similarity=meta.similarity, dim=submission.dim, description=meta.description
    )


def evaluate(submission: str | os.PathLike, *, benchmark: str | os.PathLike | None = None, n_bootstrap: int = 1000, seed: int = 0) -> Results:
    """Score ``submission`` against ``benchmark`` (default: the one named in its metadata)."""
    return Evaluator(benchmark or submission_benchmark(submission)).evaluate(submission, n_bootstrap=n_bootstrap, seed=seed)


def submission_benchmark(path: str | os.PathLike) -> str:
    """The benchmark name a submission file declares in its metadata."""
    return peek_metadata(path).benchmark


def compare_submissions(a: str | os.PathLike, b: str | os.PathLike, *, benchmark: str | os.PathLike | None = None, n_bootstrap: int = 1000, seed: int = 0) -> Comparison:
    """Paired comparison of two submissions for the same benchmark."""
    names = {submission_benchmark(p) for p in (a, b)} if benchmark is None else set()
    if len(names) > 1:
        raise PhenoBenchError(f"{a} and {b} are for different benchmarks ({', '.join(sorted(names))}); compare submissions for one benchmark")
    return Evaluator(benchmark or names.pop()).compare(a, b, n_bootstrap=n_bootstrap, seed=seed)
