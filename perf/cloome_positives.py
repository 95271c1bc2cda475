"""CLOOME with ml-jku's positives (only a well's own molecule pair) against ours (every same-molecule
well of the batch a positive): train both on a fold benchmark and compare them paired.

    python perf/cloome_positives.py --benchmark BUILD_V2 --out DIR [--seeds 0] [--folds 0,1,2,3,4] [--device cpu]

Writes two entries, DIR/cloome-class (the `cloome` entry's configuration) and DIR/cloome-eye
(ablation row `eye-positives`: ``positives="example"``, as ml-jku/cloome src/training/methods.py,
``torch.eye``), then prints ``compare_entries`` of the two (seeds and folds pooled, paired bootstrap
over molecules, 1,000 resamples): the primary metric and top-1 % per query on active
unseen_molecules queries. An entry already in DIR is reused (delete it to retrain). On the 2-core
CPU one CLOOME run (fold, seed) took 140–290 s; 5 folds x 1 seed x 2 rows about 30 minutes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    from pheno_bench.baselines.run import run_baseline
    from pheno_bench.compare import compare_entries

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--folds", default=None, help="comma-separated; default all (a pooled comparison needs every fold)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folds = [int(k) for k in args.folds.split(",")] if args.folds else None
    entries = {}
    for row, overrides in (("class", {}), ("eye", {"positives": "example"})):
        out = args.out / f"cloome-{row}"
        if not out.exists():
            start = time.perf_counter()
            run_baseline("cloome", benchmark=args.benchmark, seeds=args.seeds, folds=folds, out=out, results_dir=args.out / f"results-{row}",
                         progress=False, device=args.device, **overrides)
            print(f"{row}: trained in {time.perf_counter() - start:.0f} s", flush=True)
        entries[row] = sorted(map(str, out.glob("fold-*/seed-*.parquet"))) or sorted(map(str, out.glob("seed-*.parquet")))
    comparison = compare_entries(entries["class"], entries["eye"], benchmark=args.benchmark, n_bootstrap=1000, seed=0)
    top1 = comparison.splits["unseen_molecules"]["per_query/active"]["top_1pct"]
    report = {"primary": comparison.primary.model_dump(mode="json"), "top_1pct_active_unseen_molecules": top1.model_dump(mode="json"),
              "files": {k: len(v) for k, v in entries.items()}}
    p = comparison.primary
    print(f"primary ({p.label}): same-molecule positives {100 * p.a:.1f} %, ml-jku eye positives {100 * p.b:.1f} %, "
          f"difference {100 * p.difference:+.1f} [{100 * p.low:.1f}, {100 * p.high:.1f}] {p.verdict}")
    print(f"top-1% active unseen_molecules (per query): {100 * top1.a:.1f} % vs {100 * top1.b:.1f} %, "
          f"difference {100 * top1.difference:+.1f} [{100 * top1.low:.1f}, {100 * top1.high:.1f}] {top1.verdict}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
