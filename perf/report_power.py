"""How big a difference the cell-injury-v2 board can see, and what the training seeds add (issue 20).

    python perf/report_power.py --benchmark BUILD_V2 [--submissions submissions] [--bootstrap 1000] [--json out.json]

For the board entries of the benchmark in ``--submissions`` (their files, every fold and seed):

* each entry's primary metric with the interval over molecules only (runs fixed), over molecules
  and seed runs (:func:`pheno_bench.compare.entry_interval`), and the variance sum from its per-seed
  results (:func:`pheno_bench.power.seed_interval`);
* every pair of the top entries (and each against the best probe): a - b with the runs averaged
  (the scorer 4.0 reading) and resampled, the bounded verdict and the MDE (:func:`pheno_bench.compare.compare_entries`);
* the board's MDE from those pairs (:func:`pheno_bench.power.board_power`).

Markdown to stdout. About 10 s per comparison on a 2-core machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import yaml

from pheno_bench.compare import compare_entries, entry_interval
from pheno_bench.folds import is_fold_set, read_fold_set
from pheno_bench.manifest import read_manifest
from pheno_bench.power import board_power, seed_interval
from pheno_bench.registry import locate
from pheno_bench.scoring import evaluate_folds


def entry_files(path: Path) -> dict[int, list[str]]:
    """seed -> files (every fold) of an entry folder."""
    files = sorted(path.glob("fold-*/seed-*.parquet")) or sorted(path.glob("seed-*.parquet"))
    out: dict[int, list[str]] = {}
    for f in files:
        out.setdefault(int(f.stem.split("-")[1]), []).append(str(f))
    return out


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--submissions", type=Path, default=Path("submissions"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--top", nargs="+", default=["molphenix-v2", "clip-v2", "probe-ridge-v2", "probe-chem-neighbours-v2", "cloome-v2"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = locate(args.benchmark)
    name = read_fold_set(root).name if is_fold_set(root) else read_manifest(root).name
    entries = {p.name: entry_files(p) for p in sorted(args.submissions.iterdir())
               if (p / "metadata.yaml").is_file() and yaml.safe_load((p / "metadata.yaml").read_text())["benchmark"] == name}
    report: dict = {"load_average": os.getloadavg(), "benchmark": name, "entries": {}, "pairs": {}}
    print(f"## Entries ({name}, {args.bootstrap} resamples)\n")
    print("| entry | per seed | value | molecules only | molecules and seeds | variance sum |")
    print("|---|---|---|---|---|---|")
    for entry in args.top:
        seeds = entries[entry]
        files = [f for fs in seeds.values() for f in fs]
        t = time.perf_counter()
        boot = entry_interval(files, benchmark=root, n_bootstrap=args.bootstrap)
        results = [evaluate_folds(fs, benchmark=root, n_bootstrap=args.bootstrap) if is_fold_set(root) else None for fs in seeds.values()]
        summed = seed_interval(results)
        half_mol = 1.959964 * boot.se_molecules
        report["entries"][entry] = {"bootstrap": boot.__dict__, "variance_sum": summed.__dict__, "seconds": round(time.perf_counter() - t, 1)}
        print(f"| {entry.removesuffix('-v2')} | {' / '.join(pct(v) for v in boot.values)} | {pct(boot.value)} | ± {pct(half_mol)} "
              f"| [{pct(boot.low)}, {pct(boot.high)}] | [{pct(summed.low)}, {pct(summed.high)}] |")
    print("\n## Pairs\n")
    print("| a vs b | a − b | runs averaged | runs resampled | MDE (80 %) | verdict |")
    print("|---|---|---|---|---|---|")
    resampled = []
    for a, b in itertools.combinations(args.top, 2):
        fa = [f for fs in entries[a].values() for f in fs]
        fb = [f for fs in entries[b].values() for f in fs]
        avg = compare_entries(fa, fb, benchmark=root, n_bootstrap=args.bootstrap, seeds="average").primary
        res = compare_entries(fa, fb, benchmark=root, n_bootstrap=args.bootstrap).primary
        resampled.append(res)
        report["pairs"][f"{a} vs {b}"] = {"average": avg.model_dump(mode="json"), "resample": res.model_dump(mode="json")}
        print(f"| {a.removesuffix('-v2')} vs {b.removesuffix('-v2')} | {pct(res.difference)} | [{pct(avg.low)}, {pct(avg.high)}] "
              f"| [{pct(res.low)}, {pct(res.high)}] | {pct(res.mde)} | {res.verdict} |")
    power = board_power(resampled)
    report["board_power"] = power.__dict__
    print(f"\nBoard MDE (median over {power.pairs} pairs, runs resampled): {pct(power.mde)} points "
          f"(range {pct(power.mde_min)}–{pct(power.mde_max)}; median SE {pct(power.se)}).")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
