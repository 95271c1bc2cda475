"""Build-time benchmarks: how long building a benchmark takes, stage by stage, and its peak memory.

Cases (each runs in a fresh child process, which reports its own timings and peak RSS):

* ``cell-injury-v1``: ``pheno_bench.split.build_benchmark("cell-injury-v1")`` on the real data
  (ingest, curate, activity, split, write), end to end.
* ``cell-injury-v2``: all 5 scaffold folds of ``cell-injury-v2`` on the real data (target ≤ 90 s).
* ``synthetic-17k``: a synthetic source with all 16,978 Moshkov molecules × 6 doses × 3 replicates
  plus a second lab of 2,000 of them: generation, curation (RDKit canonical SMILES, InChIKey and
  scaffolds, per-plate standardisation), scaffold/plate splitting (the ≤ 60 s target is for
  curation + splitting), then activity and writing when ``pheno_bench.activity`` exists.
* ``synthetic-1m``: generation alone at 16,978 molecules × 6 doses × 10 replicates (> 1.1M wells).

Usage: ``python perf/bench_build.py [--case NAME ...] [--json PATH]``. Figures depend on the
machine and on what else runs on it: the script prints the CPU count and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

CASES = ("cell-injury-v1", "cell-injury-v2", "synthetic-17k", "synthetic-1m")
SECOND_LAB = {"name": "synthetic-b", "n_molecules": 2_000, "molecule_offset": 14_978, "replicates": 3, "seed": 1}


@contextmanager
def timed(phases: dict, name: str):
    start = time.perf_counter()
    yield
    phases[name] = round(time.perf_counter() - start, 2)


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def case_cell_injury(out: Path) -> dict:
    from pheno_bench.manifest import read_manifest
    from pheno_bench.split import build_benchmark

    phases: dict = {}
    with timed(phases, "build (ingest+curate+activity+split+write)"):
        root = build_benchmark("cell-injury-v1", out=out / "cell-injury-v1")
    manifest = read_manifest(root)
    return {"phases": phases, "treated_wells": sum(s.wells for s in manifest.splits)}


def case_synthetic_17k(out: Path) -> dict:
    from pheno_bench.curate import curate
    from pheno_bench.sources.synthetic import SOURCE as source
    from pheno_bench.split import BenchmarkSpec, SourceConfig, assign_splits, write_benchmark

    spec = BenchmarkSpec(
        name="synthetic-17k",
        version="0",
        sources=[SourceConfig(name="synthetic", options={"replicates": 3}), SourceConfig(name="synthetic", options=SECOND_LAB)],
        unseen_dataset_source=SECOND_LAB["name"],
    )
    phases: dict = {}
    with timed(phases, "generate (2 labs)"):
        parts = [source.load(None, **cfg.options) for cfg in spec.sources]
    with timed(phases, "curate (RDKit + standardise)"):
        curated = curate(parts, {p.wells.metadata.sources[0]: source.nominal_doses_um for p in parts})
    with timed(phases, "split (assign_splits)"):
        assignment = assign_splits(curated.wells, spec)
    phases["curate + split (target <= 60 s)"] = round(phases["curate (RDKit + standardise)"] + phases["split (assign_splits)"], 2)
    try:
        from pheno_bench.activity import compute_activity_table
    except ImportError:
        phases["activity + write"] = "n/a: pheno_bench.activity not present yet"  # TODO: re-run when it lands
    else:
        with timed(phases, "activity"):
            activity = compute_activity_table(curated.wells, n_permutations=spec.activity_permutations, seed=spec.seed, threshold=spec.activity_threshold)
        with timed(phases, "write"):
            write_benchmark(curated, activity, assignment, spec, out)
    treated = curated.wells.meta[~curated.wells.meta["is_control"]]
    return {
        "phases": phases,
        "wells": len(curated.wells),
        "molecules": int(treated["inchikey"].nunique()),
        "candidates": int(treated.drop_duplicates(["inchikey", "dose_level"]).shape[0]),
    }


def case_synthetic_1m(out: Path) -> dict:
    from pheno_bench.sources.synthetic import SOURCE

    phases: dict = {}
    with timed(phases, "generate"):
        wells = SOURCE.load(None, replicates=10).wells
    return {"phases": phases, "wells": len(wells), "feature_bytes": int(wells.features.nbytes)}


def case_cell_injury_v2(out: Path) -> dict:
    """All 5 scaffold folds of cell-injury-v2 (one ingest + curation, activity on all wells and per fold on its
    train+valid wells, 5 fold benchmarks written); target <= 90 s on a 2-core machine."""
    from pheno_bench.folds import read_fold_set
    from pheno_bench.split import build_benchmark

    phases: dict = {}
    with timed(phases, "build 5 folds (ingest+curate+activity x6+split+write)"):
        root = build_benchmark("cell-injury-v2", out=out / "cell-injury-v2")
    fold_set = read_fold_set(root)
    return {"phases": phases, "folds": fold_set.k, "unseen_molecules_pooled": fold_set.composition["pooled"]["unseen_molecules"]["molecules"]}


RUNNERS = {"cell-injury-v1": case_cell_injury, "cell-injury-v2": case_cell_injury_v2, "synthetic-17k": case_synthetic_17k, "synthetic-1m": case_synthetic_1m}


def run_child(case: str) -> dict:
    """Run one case in a fresh interpreter (so its peak RSS is its own) and return its report."""
    proc = subprocess.run([sys.executable, __file__, "--child", case], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"case": case, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2), "python": platform.python_version()}


def print_table(reports: list[dict], info: dict) -> None:
    print(f"machine: {info['cpu']}, {info['cores']} cores, load average {info['load_average_1m']} at start (shared machine)")
    print(f"{'case':<16} {'phase':<44} {'seconds':>10}")
    for report in reports:
        if "error" in report:
            print(f"{report['case']:<16} {'FAILED: ' + report['error']:<44}")
            continue
        for phase, seconds in report["phases"].items():
            print(f"{report['case']:<16} {phase:<44} {seconds:>10}")
        sizes = ", ".join(f"{k} {v:,}" for k, v in report.items() if k not in ("case", "phases", "peak_rss_mib"))
        print(f"{report['case']:<16} {'peak RSS ' + str(report['peak_rss_mib']) + ' MiB; ' + sizes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, action="append", help="case to run (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            report = RUNNERS[args.child](Path(tmp))
        print(json.dumps({"case": args.child, **report, "peak_rss_mib": _peak_rss_mib()}))
        return
    info = machine()
    reports = [run_child(case) for case in args.case or CASES]
    print_table(reports, info)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "cases": reports}, indent=2) + "\n")


if __name__ == "__main__":
    main()
