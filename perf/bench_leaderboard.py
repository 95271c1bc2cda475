"""``leaderboard build`` with the results cache (issue 16 target: a second build with one new entry
in <= 15 s on the cell-injury-v1 + v2 boards).

    python perf/bench_leaderboard.py --benchmark /path/cell-injury-v1 --benchmark /path/cell-injury-v2
    python perf/bench_leaderboard.py ... --cold     # also time a build with an empty cache first

Works on a copy of ``submissions/`` (the entries of the benchmarks given) and its own cache folder (``PHENO_BENCH_HOME`` in a temporary
folder), each build in a fresh ``pheno-bench`` process (imports included, as a user runs it):

1. fill the cache (timed with ``--cold``: every entry scored, every verdict computed);
2. build again, nothing changed (everything from the cache);
3. add one new entry to cell-injury-v1 (a copy of ``--v1-source`` with every embedding perturbed, so
   its files are new bytes) and build: that entry scored, its verdicts computed;
4. the same with a new cell-injury-v2 entry (``--v2-source``, 3 seeds x 5 folds).

Prints wall seconds per build, the steps the build reported, and ``uptime`` before and after:
quote the load with the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent


def perturbed_entry(submissions: Path, source: str, new: str, benchmark: Path) -> Path:
    """submissions/<new>/: <source>'s metadata and files, every embedding + 1% Gaussian noise (new bytes)."""
    from pheno_bench.leaderboard import Entry
    from pheno_bench.leaderboard.rescore import BenchmarkScorer
    from pheno_bench.submission import write_submission

    entry, scorer = Entry.load(submissions / source), BenchmarkScorer(benchmark)
    out = submissions / new
    out.mkdir()
    meta = yaml.safe_load((submissions / source / "metadata.yaml").read_text())
    (out / "metadata.yaml").write_text(yaml.safe_dump(meta | {"model": f"{meta['model']} (perturbed copy)"}, sort_keys=False))
    rng = np.random.default_rng(7)
    noisy = lambda x: (x + 0.01 * np.std(x) * rng.standard_normal(x.shape)).astype(np.float32)
    for per_fold in entry.runs().values():
        for fold, path in per_fold.items():
            ev = scorer.evaluator(fold)
            sub = ev.read(path)
            target = out / path.relative_to(submissions / source)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_submission(
                target, benchmark=ev.manifest.name, fingerprint=ev.manifest.fingerprint, model=f"{sub.metadata.model} perturbed",
                queries={s: (ev.keys[s].query_ids, noisy(e.queries)) for s, e in sub.splits.items()},
                candidates={s: (ev.keys[s].candidate_ids, noisy(e.candidates)) for s, e in sub.splits.items()},
                similarity=sub.metadata.similarity, **({"fold": fold} if fold is not None else {}),
            )
    return out


def timed_build(label: str, submissions: Path, site: Path, benchmarks: list[Path], env: dict) -> float:
    cmd = [sys.executable, "-m", "pheno_bench.cli", "leaderboard", "build", "--submissions", str(submissions), "--site", str(site)]
    for b in benchmarks:
        cmd += ["--benchmark", str(b)]
    start = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if run.returncode:
        sys.exit(f"{label}: the build failed:\n{run.stderr}")
    steps = [line for line in run.stdout.splitlines() if line.startswith("[") and "every run from the cache" not in line]
    print(f"{label:<44}{seconds:7.1f} s", *(f"\n    {line}" for line in steps), flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", type=Path, action="append", default=[], help="benchmark folder (repeat: v1 and v2)")
    parser.add_argument("--submissions", type=Path, default=REPO / "submissions")
    parser.add_argument("--v1-source", default="molphenix")
    parser.add_argument("--v2-source", default="molphenix-v2")
    parser.add_argument("--cold", action="store_true", help="report the build with an empty cache as a figure (it is always run, to fill the cache)")
    args = parser.parse_args()
    uptime = lambda: subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print("uptime before:", uptime())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subs = tmp / "submissions"
        env = {**os.environ, "PHENO_BENCH_HOME": str(tmp / "home")}
        from pheno_bench.leaderboard import read_metadata
        from pheno_bench.leaderboard.rescore import BenchmarkScorer

        by_name = {BenchmarkScorer(b).name: b for b in args.benchmark}
        # the boards of the benchmarks given: entries for other benchmarks (e.g. v1.1, v2.1) are not copied
        subs.mkdir()
        for entry in sorted(p for p in args.submissions.iterdir() if (p / "metadata.yaml").is_file()):
            if read_metadata(entry / "metadata.yaml").benchmark in by_name:
                shutil.copytree(entry, subs / entry.name)
        print(f"entries: {sum(1 for _ in subs.iterdir())} on {', '.join(sorted(by_name))}")
        timed_build("1. empty cache (every entry scored)" + ("" if args.cold else " [fill only]"), subs, tmp / "site", args.benchmark, env)
        timed_build("2. again, nothing changed", subs, tmp / "site", args.benchmark, env)
        for step, name, source in (("3.", "cell-injury-v1", args.v1_source), ("4.", "cell-injury-v2", args.v2_source)):
            if name not in by_name:
                continue
            perturbed_entry(subs, source, f"new-{source}", by_name[name])
            timed_build(f"{step} one new {name} entry (new-{source})", subs, tmp / "site", args.benchmark, env)
    print("uptime after: ", uptime())


if __name__ == "__main__":
    main()
