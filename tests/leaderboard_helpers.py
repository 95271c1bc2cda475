"""Leaderboard test helpers: entries of known quality for a benchmark, and a small mkdocs site.

Generated embeddings only: a query embeds its true candidate's one-hot vector plus Gaussian
noise of scale ``noise``, so a smaller noise gives a better entry (noise 0 is an oracle).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard import METADATA_FILE, EntryMetadata, run_file
from pheno_bench.submission import write_submission

REPO = Path(__file__).resolve().parent.parent


def write_seed_file(
    evaluator: Evaluator, path: Path, *, noise: float, seed: int, model: str = "test", splits=None, constant: bool = False,
    fold: int | None = None,
) -> Path:
    """One submission file: one-hot candidates, queries = their true candidate + noise.

    constant: every query and every candidate the same vector (degenerate embeddings).
    """
    rng = np.random.default_rng(seed)
    dim = 1 + max(len(key.candidate_ids) for key in evaluator.keys.values())
    queries, candidates = {}, {}
    for split, key in evaluator.keys.items():
        if splits is not None and split not in splits:
            continue
        cand = np.eye(len(key.candidate_ids), dim, dtype=np.float32) + 0.01
        query = cand[key.true_index] + noise * rng.standard_normal((len(key.query_ids), dim)).astype(np.float32)
        if constant:
            cand, query = np.ones_like(cand), np.ones_like(query)
        queries[split] = (key.query_ids, query)
        candidates[split] = (key.candidate_ids, cand)
    manifest = evaluator.manifest
    return write_submission(
        path, benchmark=manifest.name, fingerprint=manifest.fingerprint, model=model, queries=queries, candidates=candidates,
        **({"fold": fold} if fold is not None else {}),
    )


def metadata(benchmark: str, seeds, **fields) -> EntryMetadata:
    base = dict(
        model="test model", authors=["A. Tester"], benchmark=benchmark, training_data="the train split",
        test_molecules_seen=False, seeds=list(seeds), date=dt.date(2025, 1, 31), licence="CC-BY-4.0",
    )
    return EntryMetadata(**(base | fields))


def make_entry(evaluator, submissions: Path, name: str, *, noise: float, seeds=(0,), constant: bool = False, **fields) -> Path:
    """Write ``submissions/<name>/`` directly (no scoring), the layout ``leaderboard add`` writes.

    evaluator: an Evaluator (no folds), or fold -> Evaluator for a fold benchmark (files
    ``fold-<k>/seed-<n>.parquet``; the metadata lists the folds given).
    """
    folder = submissions / name
    folder.mkdir(parents=True)
    per_fold = evaluator if isinstance(evaluator, dict) else {None: evaluator}
    for seed in seeds:
        for fold, fold_evaluator in per_fold.items():
            path = folder / run_file(seed, fold)
            path.parent.mkdir(exist_ok=True)
            write_seed_file(fold_evaluator, path, noise=noise, seed=seed + 1000 * (fold or 0), constant=constant, fold=fold)
    folds = None if None in per_fold else sorted(per_fold)
    bench = next(iter(per_fold.values())).manifest.name
    meta = metadata(bench, seeds, **({"folds": folds} if folds is not None else {}), **fields)
    (folder / METADATA_FILE).write_text(meta.to_yaml(), encoding="utf-8")
    return folder


def site_config(root: Path) -> Path:
    """The repository's mkdocs.yml and docs (site/) copied to ``root``, nav cut to the leaderboard.

    The theme, Markdown extensions and hand-written pages stay the repository's, so pages render
    as on the real site; a leaderboard built earlier into ``root/site`` is kept.
    """
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    nav = [{"Home": "index.md"}, {"Leaderboard": "leaderboard/index.md"}, {"How to submit": "submit.md"}]
    config |= {"docs_dir": "site", "site_dir": "build", "nav": nav}
    if "hooks" in config:  # paths relative to the repository
        config["hooks"] = [str(REPO / hook) for hook in config["hooks"]]
    shutil.copytree(REPO / "site", root / "site", ignore=shutil.ignore_patterns("leaderboard", ".leaderboard.*"), dirs_exist_ok=True)
    path = root / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def mkdocs_build(config: Path) -> list[str]:
    """Run ``mkdocs build`` for ``config``; return the warnings about leaderboard or submit pages.

    The other pages of the copied docs belong to other parts of the project (and their own
    checks), so only warnings naming our pages count here; the repository test runs ``--strict``.
    """
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-f", str(config)],
        capture_output=True, text=True, env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
    )
    if done.returncode:
        raise RuntimeError(f"mkdocs build failed:\n{done.stderr}")
    return [line for line in done.stderr.splitlines() if line.startswith(("WARNING", "ERROR")) and ("leaderboard" in line or "submit" in line)]


XSS = "<script>alert(1)</script>"
MARKDOWN_LINK = "A paragraph.\n\n[click](javascript:alert(2)) **bold** | pipe"
#: The shared test board: name -> (noise, seeds, metadata fields). Three ranked entries (two of
#: them twins of equal quality), one with too few seeds, a degenerate example and two probes.
BOARD = {
    "good": (0.2, (0, 1, 2), {"model": XSS, "description": MARKDOWN_LINK}),
    "fair": (0.6, (0, 1, 2), {"test_molecules_seen": True}),
    "fair-twin": (0.6, (3, 4, 5), {}),
    "one-seed": (0.3, (0,), {}),
    "constant": (0.0, (0,), {"kind": "example", "model": "constant embeddings"}),
    "centroid-probe": (0.45, (0,), {"kind": "probe", "model": "nearest centroid (generated)"}),
    "random-probe": (100.0, (0,), {"kind": "probe", "model": "random embeddings"}),
}
_BOARDS: dict[Path, Path] = {}


def shared_board(benchmark: Path, base: Path) -> Path:
    """The BOARD entries for ``benchmark``, built into ``base/shared-board`` once per session.

    Returns the folder holding ``submissions/`` and ``site/leaderboard/`` (tests that change
    anything copy it first).
    """
    from pheno_bench.leaderboard import build

    if benchmark not in _BOARDS:
        root = base / "shared-board"
        shutil.rmtree(root, ignore_errors=True)
        evaluator = Evaluator(benchmark)
        for name, (noise, seeds, fields) in BOARD.items():
            make_entry(evaluator, root / "submissions", name, noise=noise, seeds=seeds, constant=name == "constant", **fields)
        build(submissions=root / "submissions", site=root / "site", benchmarks=[evaluator.root])
        _BOARDS[benchmark] = root
    return _BOARDS[benchmark]


_FOLD_SETS: dict[Path, Path] = {}


def fold_benchmark(base: Path, *, folds: int = 2) -> Path:
    """A small fold benchmark (synthetic-v1's sources as ``folds`` scaffold folds), built once per session."""
    from pheno_bench.crossval import build_fold_set
    from pheno_bench.specs import BENCHMARKS

    if base not in _FOLD_SETS:
        spec = BENCHMARKS["synthetic-v1"].model_copy(
            update={"name": "synthetic-cv", "folds": folds, "primary_metric": "unseen_molecules/per_query/active/macro/top_5pct"}
        )
        _FOLD_SETS[base] = build_fold_set(spec, out=base / "synthetic-cv")
    return _FOLD_SETS[base]
