"""Time budget of the reference baselines: every baseline × seeds on a benchmark, stage by stage.

Stages per baseline: ``prepare`` (read the benchmark, featurise molecules, once per baseline);
per seed ``train + embed + write`` and ``score`` (the scorer with its default 1,000 bootstrap
resamples). The issue's budget: all baselines × 3 seeds on cell-injury-v1 within 20 minutes on
the 2-core CPU machine. Figures depend on what else runs: the script prints the CPU count and the
load average before and after.

Usage: ``python perf/bench_baselines.py --benchmark cell-injury-v1 [--seeds 0 1 2] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from pheno_bench.baselines.config import BASELINES, get_config
from pheno_bench.baselines.run import prepare, train_and_submit
from pheno_bench.evaluate import Evaluator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="cell-injury-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--baselines", nargs="+", default=list(BASELINES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "load_before": os.getloadavg(), "runs": []}
    evaluator = Evaluator(args.benchmark)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.baselines:
            config = get_config(name)
            t0 = time.perf_counter()
            prepared = prepare(evaluator, config)
            prepare_s = time.perf_counter() - t0
            for seed in args.seeds:
                t1 = time.perf_counter()
                path, _ = train_and_submit(prepared, seed=seed, path=Path(tmp) / f"{name}-{seed}.parquet", progress=False)
                t2 = time.perf_counter()
                evaluator.evaluate(path)
                t3 = time.perf_counter()
                run = {"baseline": name, "seed": seed, "steps": config.steps, "prepare_s": round(prepare_s, 1),
                       "train_embed_write_s": round(t2 - t1, 1), "score_s": round(t3 - t2, 1)}
                report["runs"].append(run)
                print(json.dumps(run))
                prepare_s = 0.0
    report["total_s"] = round(time.perf_counter() - start, 1)
    report["load_after"] = os.getloadavg()
    print(f"total {report['total_s']} s for {len(args.baselines)} baselines × {len(args.seeds)} seeds on {report['machine']}; "
          f"load average before {report['load_before']}, after {report['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
