"""The whole reference suite on a fold benchmark, in parallel: main entries and ablation rows.

Jobs are (baseline, ablation row, fold); each trains seeds 0 1 2 (``--seeds``), scores every run
and keeps the results JSON; the main row (``full``) of each baseline also keeps its submission
files, laid out as an entry (``<out>/entries/<baseline>/fold-<k>/seed-<n>.parquet``), which
``--merge`` then turns into ``submissions/<baseline>-v2`` with
:func:`pheno_bench.baselines.entries.write_entry`. A GPU is used when visible (one GPU shared by
the worker processes); otherwise each worker uses one CPU thread.

``--offline-features``: molecule features are read only from the featuriser caches under
``$PHENO_BENCH_HOME`` (filled beforehand with ``--fill-cache``), so a machine without RDKit or
MiniMol can train.

Usage::

    python perf/sweep_baselines.py --benchmark cell-injury-v2 --fill-cache
    python perf/sweep_baselines.py --benchmark cell-injury-v2 --out /tmp/sweep --jobs 8 [--offline-features]
    python perf/sweep_baselines.py --benchmark cell-injury-v2 --out /tmp/sweep --merge submissions
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

MAIN = ("molphenix", "cloome", "clip")
#: MolPhenix rows whose paired difference to the full model answers one guideline each.
GUIDELINE_ROWS = ("morgan", "infoloob", "no-concentration", "fixed-means", "no-undersampling")


def jobs(rows: str, folds: list[int]) -> list[tuple[str, str, int]]:
    """(baseline, row key, fold): main rows first, then the ablation rows."""
    from pheno_bench.baselines.config import ABLATIONS

    if rows == "guidelines":
        return [("molphenix", key, f) for key in ("full", *GUIDELINE_ROWS) for f in folds]
    keys = {name: [key for key, _, _ in ABLATIONS[name]] for name in MAIN}
    wanted = {name: (["full"] if rows == "main" else keys[name]) for name in MAIN}
    order = [(name, "full", f) for f in folds for name in MAIN]
    order += [(name, key, f) for name in MAIN for key in wanted[name] if key != "full" for f in folds]
    return order


class CachedOnly:
    """A featuriser that only replays a cache file (offline machines): its key is the original's."""

    def __init__(self, key: str):
        self.key = key

    def __call__(self, smiles):
        raise RuntimeError(f"{len(smiles)} SMILES not in the {self.key} cache (e.g. {list(smiles)[:2]}); run --fill-cache first")


def _offline_featurisers(keys: dict[str, str]) -> None:
    import pheno_bench.baselines.run as run

    run.get_featuriser = lambda spec: CachedOnly(keys[spec])


def run_job(job: tuple[str, str, int], *, root: str, out: str, seeds: list[int], keys: dict[str, str] | None, samples: int | None = None, keep: bool = False) -> dict:
    """Train and score one (baseline, row, fold) for every seed; returns timings."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from pheno_bench.baselines.config import ABLATIONS, get_config
    from pheno_bench.baselines.run import prepare, train_and_submit
    from pheno_bench.evaluate import Evaluator
    from pheno_bench.results import write_results

    if keys:
        _offline_featurisers(keys)
    name, key, fold = job
    changes = dict(next(c for k, _, c in ABLATIONS[name] if k == key))
    config = get_config(name, **changes, **({"samples_seen": samples} if samples else {}))
    t0 = time.perf_counter()
    evaluator = Evaluator(Path(root) / f"fold-{fold}")
    prepared = prepare(evaluator, config)
    timing = {"job": list(job), "prepare_s": round(time.perf_counter() - t0, 2), "runs": []}
    for seed in seeds:
        t1 = time.perf_counter()
        target = Path(out) / ("entries" if key == "full" else "tmp") / name / (key if key != "full" else "") / f"fold-{fold}" / f"seed-{seed}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        path, timing["parameters"] = train_and_submit(prepared, seed=seed, path=target, progress=False)
        t2 = time.perf_counter()
        result = evaluator.evaluate(path)
        write_results(result, Path(out) / "results" / name / key / f"fold-{fold}" / f"seed-{seed}.json")
        if key != "full" and not keep:
            path.unlink()
        timing["runs"].append({"seed": seed, "train_s": round(t2 - t1, 2), "score_s": round(time.perf_counter() - t2, 2)})
    return timing


def fill_cache(root: Path) -> dict[str, str]:
    """Featurise every SMILES of every fold with each featuriser the suite uses; returns name -> key."""
    import pyarrow.parquet as pq

    from pheno_bench.baselines.featurise import featurise, get_featuriser

    smiles: set[str] = set()
    for fold in sorted(root.glob("fold-*")):
        for part in ("wells/train.parquet", "wells/valid.parquet", *(f"candidates/{s}.parquet" for s in ("unseen_images", "unseen_molecules", "unseen_dataset"))):
            column = pq.read_table(fold / part, columns=["smiles"]).column("smiles").to_pylist()
            smiles.update(s for s in column if s)
    keys = {}
    for name in ("morgan", "morgan-bits", "minimol"):
        featuriser = get_featuriser(name)
        t0 = time.perf_counter()
        featurise(sorted(smiles), featuriser)
        keys[name] = featuriser.key
        print(f"{name}: {len(smiles)} SMILES cached in {time.perf_counter() - t0:.1f} s ({featuriser.key})", flush=True)
    return keys


def compare_rows(out: Path, root: Path, name: str, rows: list[str], jobs: int) -> None:
    """Paired comparison (seeds and folds pooled) of each kept ablation row against the full model."""
    import multiprocessing

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_compare, out, root, name, row): row for row in rows}
        for future in as_completed(futures):
            print(future.result(), flush=True)


def _compare(out: Path, root: Path, name: str, row: str) -> str:
    from pheno_bench.compare import compare_entries
    from pheno_bench.results import write_results

    full = sorted(map(str, (out / "entries" / name).glob("fold-*/seed-*.parquet")))
    other = sorted(map(str, (out / "tmp" / name / row).glob("fold-*/seed-*.parquet")))
    comparison = compare_entries(full, other, benchmark=root, n_bootstrap=1000, seed=0)
    write_results(comparison, out / "compare" / f"{name}-full-vs-{row}.json")
    p = comparison.primary
    return f"{name} full vs {row}: {p.model_dump_json() if p else None}"


def merge(out: Path, submissions: Path, root: Path, seeds: list[int], suffix: str) -> None:
    """Write each main baseline's files as the entry ``<submissions>/<baseline><suffix>``."""
    import hashlib

    from pheno_bench.baselines.config import get_config
    from pheno_bench.baselines.entries import write_entry
    from pheno_bench.baselines.run import entry_metadata
    from pheno_bench.folds import read_fold_set

    fold_set = read_fold_set(root)
    fingerprint = hashlib.sha256((root / "manifest.json").read_bytes()).hexdigest()
    folds = [f.fold for f in fold_set.folds]
    timings = json.loads((out / "timings.json").read_text())
    parameters = {t["job"][0]: t["parameters"] for t in timings["jobs"] if t["job"][1] == "full"}
    for name in MAIN:
        config = get_config(name)
        files = {(s, f): out / "entries" / name / f"fold-{f}" / f"seed-{s}.parquet" for s in seeds for f in folds}
        meta = entry_metadata(config, benchmark=fold_set.name, fingerprint=fingerprint, seeds=seeds, parameters=parameters.get(name),
                              featuriser=timings["keys"].get(config.featuriser, config.featuriser), folds=folds)
        meta = meta.model_copy(update={"hardware": timings.get("hardware", meta.hardware)})
        entry = write_entry(submissions / f"{name}{suffix}", files, meta, benchmark=root, replace=True)
        print(f"wrote {entry.path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="cell-injury-v2")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sweep"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", choices=["main", "all", "guidelines"], default="all")
    parser.add_argument("--keep-files", action="store_true", help="keep the ablation rows' submission files (for --compare)")
    parser.add_argument("--compare", action="store_true", help="after the runs, compare each guideline row with the full model")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--offline-features", action="store_true")
    parser.add_argument("--fill-cache", action="store_true")
    parser.add_argument("--merge", type=Path, help="submissions folder: write the main entries there and stop")
    parser.add_argument("--suffix", default="-v2")
    parser.add_argument("--limit", type=int, help="run only the first N jobs (budget measurements)")
    parser.add_argument("--samples", type=int, help="training examples drawn per run (default: each baseline's; smoke tests only)")
    args = parser.parse_args()

    from pheno_bench.folds import read_fold_set
    from pheno_bench.registry import locate

    root = locate(args.benchmark)
    folds = [f.fold for f in read_fold_set(root).folds]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.fill_cache:
        (args.out / "keys.json").write_text(json.dumps(fill_cache(root), indent=1))
        return
    if args.merge:
        merge(args.out, args.merge, root, args.seeds, args.suffix)
        return
    keys = json.loads((args.out / "keys.json").read_text()) if args.offline_features else None
    todo = jobs(args.rows, folds)[: args.limit]
    import torch

    hardware = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else f"{platform.machine()} CPU"
    report = {"hardware": f"{hardware}, {os.cpu_count()} CPU cores, {args.jobs} worker processes, torch {torch.__version__}",
              "load_before": os.getloadavg(), "jobs": [], "keys": keys or {}}
    start = time.perf_counter()
    import multiprocessing

    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:  # CUDA cannot fork
        futures = {pool.submit(run_job, job, root=str(root), out=str(args.out), seeds=args.seeds, keys=keys, samples=args.samples, keep=args.keep_files): job for job in todo}
        for future in as_completed(futures):
            timing = future.result()
            report["jobs"].append(timing)
            print(json.dumps(timing), flush=True)
    report["total_s"] = round(time.perf_counter() - start, 1)
    report["load_after"] = os.getloadavg()
    (args.out / "timings.json").write_text(json.dumps(report, indent=1))
    print(f"{len(todo)} jobs x {len(args.seeds)} seeds in {report['total_s']} s on {report['hardware']}", flush=True)
    if args.compare:
        t0 = time.perf_counter()
        compare_rows(args.out, root, "molphenix", list(GUIDELINE_ROWS), args.jobs)
        print(f"comparisons: {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
