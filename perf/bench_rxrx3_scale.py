"""rxrx3-core-v1 at the full size of RxRx3-core, on a synthetic fixture in the published layout.

Writes ``metadata_rxrx3_core.csv`` and ``OpenPhenom_rxrx3_core_embeddings.parquet`` with
222,601 wells × 384 features: 4 compound experiments of the published sizes (compound-001
28,231 wells, -002 6,681, -003 39,664, -004 21,125; 1,536-well plates of at most 1,380 used wells;
EMPTY_control and CRISPR_control wells at randomised addresses), 1,674 real molecules
(molecules-moshkov2023) × 8 concentrations × 5 replicates, the rest CRISPR gene-knockout wells.
Then, each in a fresh subprocess (peak RSS of that process alone):

1. ``ingest``: both rxrx3-core sources of the spec (read, join, duplicates, EFAAR centre-scale);
2. ``build``: ``pheno-bench splits build rxrx3-core-v1`` end to end (all folds, activity included),
   with each stage's time from the build's progress lines;
3. ``score``: one fold's random submission (``submission template``) scored by ``evaluate``.

Targets (issue 12): build ≤ 120 s and ≤ 4 GB peak; scoring one fold ≤ 10 s. Run it when the
machine is quiet; the machine load (``uptime``) is printed with the figures.

    python perf/bench_rxrx3_scale.py [--work /tmp/rxrx3-scale] [--timeout 1800] [--skip-build] [--stub-activity]

``--stub-activity`` replaces only the activity statistic (seeded uniform p-values) to time the rest
of the pipeline and the scorer at full size; its report is written to report-stub.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

#: name -> (plates, molecules, (EMPTY_control, CRISPR_control) per plate); 5 replicates per (molecule, dose)
EXPERIMENTS = {
    "compound-001": (21, 491, (307, 102)),
    "compound-002": (5, 86, (486, 162)),
    "compound-003": (29, 824, (174, 57)),
    "compound-004": (16, 273, (478, 159)),
}
TOTAL_WELLS = 222_601
#: --stub-activity: the activity table with seeded uniform p-values (no statistic), same columns and procedure record.
STUB = """
import numpy as np, pandas as pd, pheno_bench.activity as _activity
from scipy.stats import false_discovery_control
def _stub(wells, *, seed=0, threshold=0.05, condition=(), **_):
    meta = wells.meta[~wells.meta["is_control"]]
    keys = ["source", "inchikey", "dose_level", *condition]
    table = meta.groupby(keys, dropna=False).size().rename("n_wells").reset_index()
    rng = np.random.default_rng(seed)
    table["map"] = np.nan
    table["p_value"] = rng.uniform(size=len(table))
    table["q_value"] = table.groupby("source")["p_value"].transform(lambda p: false_discovery_control(p, method="bh"))
    table["active"] = table["q_value"] < threshold
    table.attrs["procedure"] = {"method": "STUB for perf/bench_rxrx3_scale.py only: uniform p-values", "sources": {}}
    return table
_activity.activity_table = _stub
"""


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


#: address-space cap of each measured child (GiB): past it the child fails with MemoryError instead of
#: pushing a shared 24 GB machine into the OOM killer.
MEMORY_CAP_GIB = 6


def _cap() -> None:
    limit = MEMORY_CAP_GIB * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _child(code: str, timeout: float) -> tuple[float, float, str, int]:
    """Run ``code`` in a fresh python (address space capped); (wall s, peak RSS GiB of that child, its output, return code)."""
    script = (
        "import resource, sys, time\n"
        "t0 = time.perf_counter()\n"
        f"{code}\n"
        "print(f'__wall {time.perf_counter() - t0:.2f}')\n"
        "print(f'__rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.3f}')\n"
    )
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, env=os.environ, preexec_fn=_cap)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return time.perf_counter() - start, float("nan"), out + f"\n(timed out after {timeout:.0f} s)", 124
    out = done.stdout + done.stderr
    wall = next((float(l.split()[1]) for l in out.splitlines() if l.startswith("__wall")), time.perf_counter() - start)
    rss = next((float(l.split()[1]) for l in out.splitlines() if l.startswith("__rss")), float("nan"))
    return wall, rss, out, done.returncode


def write_fixture(folder: Path) -> dict:
    from rxrx3_fixture import load_smiles, write_rxrx3

    from pheno_bench.paths import data_root

    n_mol = sum(v[1] for v in EXPERIMENTS.values())
    compound_wells = sum(p * sum(c) + m * 8 * 5 for p, m, c in EXPERIMENTS.values()) + 2
    start = time.perf_counter()
    fixture = write_rxrx3(
        folder, load_smiles(data_root(), n_mol), experiments=EXPERIMENTS, replicates=5,
        crispr_wells=TOTAL_WELLS - compound_wells, seed=0,
    )
    return {"wells": fixture.n_wells, "compound_experiment_wells": fixture.n_compound_wells, "crispr_wells": fixture.n_crispr_wells,
            "molecules": n_mol, "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/rxrx3-scale"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--skip-build", action="store_true", help="only write the fixture and time the ingest")
    parser.add_argument(
        "--stub-activity", action="store_true",
        help="replace the activity step by a stub (seeded uniform p-values, BH as usual) to time everything else and the "
        "scorer at full size; the figures are then labelled 'activity stubbed'",
    )
    args = parser.parse_args()
    data = args.work / "data"
    os.environ["PHENO_BENCH_HOME"] = str(args.work / "home")
    os.environ["HF_HUB_OFFLINE"] = "1"
    report: dict = {"load_before": _uptime()}
    if not (data / "rxrx3-core" / "OpenPhenom_rxrx3_core_embeddings.parquet").is_file():
        report["fixture"] = write_fixture(data / "rxrx3-core")
        print("fixture:", report["fixture"], flush=True)

    wall, rss, out, rc = _child(
        "from pheno_bench.specs import get_spec\nfrom pheno_bench.sources import get_source\n"
        f"for cfg in get_spec('rxrx3-core-v1').sources:\n"
        f"    part = get_source(cfg.name).load({str(data)!r}, **cfg.options)\n"
        "    print(cfg.options['name'], len(part.wells), 'wells', len(part.excluded), 'exclusions')",
        args.timeout,
    )
    report["ingest"] = {"seconds": round(wall, 1), "peak_rss_gib": round(rss, 2), "rc": rc, "log": [l for l in out.splitlines() if not l.startswith("__")][-6:]}
    print("ingest:", report["ingest"], flush=True)

    if not args.skip_build:
        out_dir = args.work / "rxrx3-core-v1"
        code = (
            (STUB if args.stub_activity else "")
            + "from pheno_bench.split import build_benchmark\n"
            "class P:\n"
            "    def print(self, *a, **k):\n"
            "        print(f'[{time.perf_counter() - t0:7.1f} s]', *a, flush=True)\n"
            f"build_benchmark('rxrx3-core-v1', out={str(out_dir)!r}, data_root={str(data)!r}, progress=P())"
        )
        wall, rss, out, rc = _child(code, args.timeout)
        report["build"] = {"seconds": round(wall, 1), "peak_rss_gib": round(rss, 2), "rc": rc,
                           "stages": [l for l in out.splitlines() if l.startswith("[")], "tail": out.splitlines()[-3:] if rc else []}
        print("build:", json.dumps(report["build"], indent=1), flush=True)
        if rc == 0:
            wall, rss, out, rc = _child(
                "from pheno_bench.evaluate import Evaluator\n"
                f"root = {str(out_dir / 'fold-0')!r}\n"
                "ev = Evaluator(root)\n"
                f"path = ev.write_template({str(args.work / 'fold0.parquet')!r}, dim=128, seed=0)\n"
                "t1 = time.perf_counter()\n"
                "ev.evaluate(path)\n"
                "print(f'score_only {time.perf_counter() - t1:.2f}')",
                args.timeout,
            )
            score = next((float(l.split()[1]) for l in out.splitlines() if l.startswith("score_only")), float("nan"))
            report["score_one_fold"] = {"seconds_evaluate": round(score, 2), "seconds_with_template": round(wall, 1), "peak_rss_gib": round(rss, 2), "rc": rc,
                                        "tail": out.splitlines()[-3:] if rc else []}
            print("score:", report["score_one_fold"], flush=True)
    report["load_after"] = _uptime()
    report["targets"] = {"build_seconds": 120, "build_peak_gib": 4, "score_seconds": 10}
    report["activity"] = "STUBBED (uniform p-values): build figures exclude the activity statistic" if args.stub_activity else "real"
    print(json.dumps(report, indent=1))
    (args.work / ("report-stub.json" if args.stub_activity else "report.json")).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
