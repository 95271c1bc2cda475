"""Scorer speed and memory on synthetic data (issue 16 targets: ranking within 1.2x of the bare
matrix product with the float64 near-tie pass included; bootstrap <= 10% of scoring; peak memory
of scoring not above scorer 3.0's).

    python perf/bench_scorer.py                      # 100k queries x 20k candidates x 256 dims
    python perf/bench_scorer.py --queries 20000      # a quicker run

Each phase runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own:

- score:  the scorer's exact counts (float32 screen + float64 near-tie rescoring, per query and
          averaged views, diagnostics), interleaved with the floor: the bare chunked products
          queries @ candidates.T it must do (output discarded); then the summaries (micro and
          macro, every subset, the scorer's tie-aware median rank) with and without the molecule
          bootstrap: the scorer exactly as ``evaluate`` runs it, nothing patched.
- compile: the first call of the compiled kernels in a fresh process, with numba's cache empty
          (a first install) and with it filled (every later process).
- read:   reading and validating a submission parquet of the same size.
- naive:  full similarity matrix + full argsort of every row, at --naive x --naive, against the
          scorer's ranks on the same data.

Timings are the best of --repeats runs, wall and CPU (process) seconds: on a shared machine the
CPU time and the ratios of interleaved runs are steadier than wall time. The load average and
``uptime`` are printed before and after: quote them with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info

from pheno_bench.averages import bootstrap_weights
from pheno_bench.scoring import SplitKey, rank_split
from pheno_bench.scoring.summaries import forget_reference_cells
from pheno_bench.scoring import summarise as summarise_view
from pheno_bench.ranking import retrieval_counts
from pheno_bench.submission import read_submission, write_submission

DOSES = ("0.1", "0.3", "1", "3", "10")


def synthetic(n_queries: int, n_candidates: int, dim: int, seed: int = 0) -> tuple[SplitKey, np.ndarray, np.ndarray]:
    """An answer key (molecules x 5 doses, 10 molecules per scaffold) and random float32 embeddings."""
    rng = np.random.default_rng(seed)
    candidate_molecule = np.arange(n_candidates) // len(DOSES)
    true_index = rng.integers(0, n_candidates, n_queries)
    molecule = candidate_molecule[true_index]
    labels = pd.DataFrame(
        {
            "molecule": molecule,
            "dose_level": np.asarray(DOSES)[true_index % len(DOSES)],
            "scaffold_group": (molecule // 10).astype(str),
            "active": rng.random(n_queries) < 0.5,
            "in_train": molecule % 3 == 0,
            "anchor": np.zeros(n_queries, dtype=bool),
        }
    )
    labels.insert(1, "inchikey", np.char.add("M", molecule.astype(str)))
    key = SplitKey(
        "unseen_dataset",
        np.array([f"q-{i:08x}" for i in range(n_queries)], dtype=object),
        np.array([f"M{m:010d}@{DOSES[i % len(DOSES)]}" for i, m in enumerate(candidate_molecule)], dtype=object),
        true_index,
        candidate_molecule,
        labels,
    )
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    candidates = rng.standard_normal((n_candidates, dim), dtype=np.float32)
    return key, queries, candidates


def timed(fn, repeats: int = 1) -> tuple[float, float, object]:
    """Best wall and CPU seconds of ``repeats`` runs of fn, and fn's output."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        best_wall, best_cpu = min(best_wall, time.perf_counter() - wall), min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, out


def phase_score(args) -> dict:
    key, queries, candidates = synthetic(args.queries, args.candidates, args.dim)
    rows = max(1, int(args.memory_mb * 2**20) // (6 * args.candidates))  # the scorer's block size
    candidates_t = np.ascontiguousarray(candidates.T)
    averaged = queries[: np.unique(key.true_index).size]

    def floor():
        for x in (queries, averaged):
            for start in range(0, len(x), rows):
                x[start : start + rows] @ candidates_t

    import pheno_bench.scoring.views as evaluate  # where rank_split looks up retrieval_counts

    counting = [0.0]
    original = evaluate.retrieval_counts

    def counted(*a, **k):  # the exact counts alone, inside rank_split
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            counting[0] += time.perf_counter() - start

    evaluate.retrieval_counts = counted
    out = {"chunk_rows": rows, "matmul": [], "rank": [], "counts": []}
    for _ in range(args.repeats):  # interleaved, so both see the same load
        out["matmul"].append(timed(floor)[:2])
        counting[0] = 0.0
        *seconds, ranked = timed(lambda: rank_split(key, queries, candidates, memory_mb=args.memory_mb))
        out["rank"].append(seconds)
        out["counts"].append(counting[0])
    evaluate.retrieval_counts = original
    for label, n in (("summary", 0), ("summary_bootstrap", args.bootstrap)):
        def summarise():
            forget_reference_cells()  # as for a first file: the chance and floor cells computed too
            weights = bootstrap_weights(key.n_molecules, n_resamples=n, rng=np.random.default_rng(0))
            return [summarise_view(view, key.split, weights) for view in (ranked.per_query, ranked.averaged)]

        out[label] = timed(summarise, args.repeats)[:2]
    from pheno_bench.scoring import partitions

    out["n_subsets"] = sum(len(names) for _, _, names in partitions(ranked.per_query, key.split))
    return out


def phase_read(args) -> dict:
    key, queries, candidates = synthetic(args.queries, args.candidates, args.dim)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "submission.parquet"
        write_submission(
            path, benchmark="perf", fingerprint="0" * 64, model="random",
            queries={key.split: (key.query_ids, queries)}, candidates={key.split: (key.candidate_ids, candidates)},
        )
        del queries, candidates
        expected = {key.split: (key.query_ids, key.candidate_ids)}
        seconds = timed(lambda: read_submission(path, benchmark="perf", fingerprint="0" * 64, expected=expected))[:2]
        return {"read": seconds, "file_mb": path.stat().st_size / 2**20}


def phase_naive(args) -> dict:
    key, queries, candidates = synthetic(args.naive, args.naive, args.dim)
    true = key.true_index

    def naive():
        sims = queries @ candidates.T
        order = np.argsort(-sims, axis=1, kind="stable")
        return 1 + np.argmax(order == true[:, None], axis=1)

    naive_s, _, naive_ranks = timed(naive)
    ours_s, _, counts = timed(lambda: retrieval_counts(queries, candidates, true_index=true, candidate_molecule=key.candidate_molecule, similarity="dot", memory_mb=args.memory_mb))
    ranks = counts.above + 1  # Gaussian data: no exact ties, the fair rank is 1 + candidates above
    # the naive float32 sort may misorder near-ties that the scorer decides in float64
    return {"naive_s": naive_s, "scorer_s": ours_s, "same_rank_fraction": float((naive_ranks == ranks).mean()), "max_rank_difference": int(np.abs(naive_ranks - ranks).max()),
            "ties": int((counts.tied > 1).sum())}


COMPILE_SCRIPT = """
import time
t = time.perf_counter()
import numpy as np
from pheno_bench.ranking import retrieval_counts
rng = np.random.default_rng(0)
q, c = rng.standard_normal((50, 16), dtype=np.float32), rng.standard_normal((40, 16), dtype=np.float32)
retrieval_counts(q, c, true_index=np.arange(50) % 40, candidate_molecule=np.arange(40) // 4)
ranking = time.perf_counter() - t
t = time.perf_counter()
from pheno_bench.averages import grouped_estimates, grouped_tied_median
values = np.column_stack([rng.random((50, 5)), np.arange(50) % 40 + 1.0])
grouped_estimates(values, np.arange(50) % 7, np.arange(50) % 3, np.ones((2, 7)))
grouped_tied_median(np.arange(50) % 40 + 1.0, np.ones(50), np.arange(50) % 3, np.arange(50) % 7, np.ones((2, 7)))
print(ranking, time.perf_counter() - t)
"""


def phase_compile(args) -> dict:
    """First calls in fresh processes: numba's cache empty (compile), then filled (load)."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("cold", "warm"):
            run = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT], capture_output=True, text=True, check=True, env=env)
            out[label] = [float(x) for x in run.stdout.split()]
    return out


PHASES = {"score": phase_score, "read": phase_read, "naive": phase_naive, "compile": phase_compile}


def report(args, results: dict) -> None:
    s, r, n, c = results["score"], results["read"], results["naive"], results.get("compile")
    matmul, rank = (np.min(s[k], axis=0) for k in ("matmul", "rank"))
    ratios = [rk[0] / mm[0] for mm, rk in zip(s["matmul"], s["rank"])]
    row = lambda label, pair, note="": print(f"{label:<52}{pair[0]:7.2f} /{pair[1]:7.2f}   {note}")
    print(f"\n{args.queries} queries x {args.candidates} candidates x {args.dim} dims; best of {args.repeats}; wall s / CPU s")
    row("bare chunked matmul (queries + averaged)", matmul)
    row("ranks: both views, diagnostics", rank, f"{rank[0] / matmul[0]:.2f}x the matmul (interleaved runs: {', '.join(f'{x:.2f}' for x in ratios)}; CPU {rank[1] / matmul[1]:.2f}x)")
    counts = [c / mm[0] for mm, c in zip(s["matmul"], s["counts"])]
    print(f"{'  of which the exact counts (retrieval_counts)':<52}{min(s['counts']):7.2f}            {', '.join(f'{x:.2f}' for x in counts)}x the matmul; "
          f"the rest is evaluate's averaging, diagnostics and values")
    summary = np.asarray(s["summary"])
    bootstrap = np.subtract(s["summary_bootstrap"], summary)
    scoring = rank + summary
    row(f"summaries, no bootstrap ({s['n_subsets']} subsets per view)", summary)
    row(f"bootstrap ({args.bootstrap} resamples) adds", bootstrap, f"{100 * bootstrap[0] / scoring[0]:.1f}% of scoring (CPU {100 * bootstrap[1] / scoring[1]:.1f}%)")
    total = r["read"][0] + rank[0] + s["summary_bootstrap"][0]
    row(f"read + validate the submission ({r['file_mb']:.0f} MB)", r["read"])
    print(f"{'total: read, rank, summarise':<52}{total:7.2f}")
    print(f"peak memory (RSS): scoring {s['peak_rss_mb']:.0f} MB, reading {r['peak_rss_mb']:.0f} MB")
    print(
        f"naive full sort at {args.naive}x{args.naive}: {n['naive_s']:.2f} s vs scorer {n['scorer_s']:.2f} s = "
        f"{n['naive_s'] / n['scorer_s']:.1f}x faster; naive peak {n['peak_rss_mb']:.0f} MB; same rank for "
        f"{100 * n['same_rank_fraction']:.2f}% of queries, the others within {n['max_rank_difference']} (float32 near-ties the naive sort misorders)"
    )
    if c:
        print(
            f"first call in a fresh process (imports included): ranking {c['cold'][0]:.1f} s, summaries {c['cold'][1]:.1f} s "
            f"with numba's cache empty (compiling); {c['warm'][0]:.2f} s, {c['warm'][1]:.2f} s with it filled"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--naive", type=int, default=20_000, help="size of the naive full-sort comparison")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--memory-mb", type=float, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="runs per timing; the best is kept")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        out = PHASES[args.phase](args)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"cpus {os.cpu_count()}, BLAS {blas}, numpy {np.__version__}")
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    results = {}
    for phase in PHASES:
        proc = subprocess.run([sys.executable, __file__, "--phase", phase, *sys.argv[1:]], capture_output=True, text=True, check=True)
        results[phase] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(phase, results[phase], flush=True)
    print("uptime after: ", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    report(args, results)


if __name__ == "__main__":
    main()
