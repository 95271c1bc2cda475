"""The numbers of site/baselines.md for a fold benchmark: pooled primary metric per entry, the
paired verdicts (MolPhenix vs the best probe, vs CLOOME; the 8.1x ratio) and the guideline table.

Every pooled number comes from :func:`pheno_bench.compare.compare_entries` (seeds and folds
pooled, paired bootstrap over molecules, the scorer's tie rule). The guideline comparisons are
read from ``--guidelines`` (JSON written by ``perf/sweep_baselines.py --compare``); their
multiplicity is handled by Holm's step-down over the guideline family, with each p-value taken
from the normal approximation to the percentile bootstrap interval (two-sided), as stated, and
floored at 1 / (resamples + 1): 1,000 resamples never give "p < 1e-7" (printed as "≤ 0.001").

Usage: ``python perf/report_baselines.py --benchmark cell-injury-v2 --submissions submissions --guidelines DIR --json out.json``
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import yaml


def entry_files(path: Path) -> list[str]:
    return sorted(map(str, path.glob("fold-*/seed-*.parquet"))) or sorted(map(str, path.glob("seed-*.parquet")))


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (monotone step-down)."""
    order = sorted(pvalues, key=pvalues.get)
    adjusted, running = {}, 0.0
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[key]))
        adjusted[key] = running
    return adjusted


def p_from_interval(difference: float, low: float, high: float, level: float = 0.95, *, n_resamples: int) -> float:
    """Two-sided normal-approximation p-value of a difference with interval [low, high], never below
    1 / (n_resamples + 1): the bootstrap that made the interval cannot resolve a smaller one."""
    z_level = {0.95: 1.959964}[round(level, 2)]
    se = (high - low) / (2 * z_level)
    floor = 1 / (n_resamples + 1)
    if se <= 0:
        return floor if difference else 1.0
    return max(floor, math.erfc(abs(difference) / se / math.sqrt(2)))


def format_p(p: float, n_resamples: int) -> str:
    """A p-value as printed: '≤ 1/(B+1)' at the floor, else two significant digits."""
    floor = 1 / (n_resamples + 1)
    return f"≤ {floor:.2g}" if p <= floor else f"{p:.2g}"


def main() -> None:
    from pheno_bench.compare import compare_entries

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--submissions", type=Path, default=Path("submissions"))
    parser.add_argument("--guidelines", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from pheno_bench.folds import is_fold_set, read_fold_set
    from pheno_bench.manifest import read_manifest
    from pheno_bench.registry import locate

    root = locate(args.benchmark)
    name_of = read_fold_set(root).name if is_fold_set(root) else read_manifest(root).name
    entries = {}
    for path in sorted(p for p in args.submissions.iterdir() if (p / "metadata.yaml").is_file()):
        meta = yaml.safe_load((path / "metadata.yaml").read_text())
        if meta["benchmark"] == name_of:
            entries[path.name] = {"kind": meta["kind"], "model": meta["model"], "files": entry_files(path)}
    random = next(name for name in entries if name.startswith("probe-random"))

    def compare(a, b):
        return compare_entries(entries[a]["files"], entries[b]["files"], benchmark=root, n_bootstrap=1000, seed=0)

    report = {"primary": {}, "verdicts": {}, "guidelines": {}}
    for name in entries:
        if name == random:
            continue
        c = compare(name, random)
        report["primary"][name] = {"value": c.primary.a, "kind": entries[name]["kind"], "vs_random": c.primary.model_dump(mode="json")}
        report["primary"][random] = {"value": c.primary.b, "kind": "probe"}
        report["id"], report["label"] = c.primary.id, c.primary.label
        print(f"{name}: {c.primary.a:.4f} (random {c.primary.b:.4f}, {c.primary.verdict})", flush=True)
    probes = {n: v["value"] for n, v in report["primary"].items() if v["kind"] == "probe"}
    best = max(probes, key=probes.get)
    report["best_probe"] = best
    models = [n for n, v in report["primary"].items() if v["kind"] == "baseline"]
    for model in models:
        c = compare(model, best)
        report["verdicts"][f"{model} vs {best}"] = c.primary.model_dump(mode="json")
    molphenix = next(m for m in models if m.startswith("molphenix"))
    for other in models:
        if other == molphenix:
            continue
        c = compare(molphenix, other)
        cells = c.splits["unseen_molecules"]
        report["verdicts"][f"{molphenix} vs {other}"] = {
            "primary": c.primary.model_dump(mode="json"),
            "top_1pct_active_micro": cells["per_query/active"]["top_1pct"].model_dump(mode="json"),
            "top_1pct_active_macro": cells["per_query/active/macro"]["top_1pct"].model_dump(mode="json"),
        }
    if args.guidelines:
        raw = {}
        for path in sorted(args.guidelines.glob("*.json")):
            c = json.loads(path.read_text())
            p = c["primary"]
            resamples = c["bootstrap"]["n_resamples"]
            raw[path.stem] = p_from_interval(p["difference"], p["low"], p["high"], p["level"], n_resamples=resamples)
            report["guidelines"][path.stem] = p | {"n_resamples": resamples}
        for key, adjusted in holm(raw).items():
            resamples = report["guidelines"][key]["n_resamples"]
            report["guidelines"][key].update(p_approx=raw[key], p_holm_approx=adjusted, p_holm_printed=format_p(adjusted, resamples))
    text = json.dumps(report, indent=1, default=str)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
