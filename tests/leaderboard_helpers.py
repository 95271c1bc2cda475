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
from pheno_bench.leaderboard import METADATA_FILE, EntryMetadata, seed_file
from pheno_bench.submission import write_submission

REPO = Path(__file__).resolve().parent.parent


def write_seed_file(evaluator: Evaluator, path: Path, *, noise: float, seed: int, model: str = "test", splits=None) -> Path:
    """One submission file: one-hot candidates, queries = their true candidate + noise."""
    rng = np.random.default_rng(seed)
    dim = 1 + max(len(key.candidate_ids) for key in evaluator.keys.values())
    queries, candidates = {}, {}
    for split, key in evaluator.keys.items():
        if splits is not None and split not in splits:
            continue
        cand = np.eye(len(key.candidate_ids), dim, dtype=np.float32) + 0.01
        queries[split] = (key.query_ids, cand[key.true_index] + noise * rng.standard_normal((len(key.query_ids), dim)).astype(np.float32))
        candidates[split] = (key.candidate_ids, cand)
    manifest = evaluator.manifest
    return write_submission(path, benchmark=manifest.name, fingerprint=manifest.fingerprint, model=model, queries=queries, candidates=candidates)


def metadata(benchmark: str, seeds, **fields) -> EntryMetadata:
    base = dict(
        model="test model", authors=["A. Tester"], benchmark=benchmark, training_data="the train split",
        test_molecules_seen=False, seeds=list(seeds), date=dt.date(2025, 1, 31), licence="CC-BY-4.0",
    )
    return EntryMetadata(**(base | fields))


def make_entry(evaluator: Evaluator, submissions: Path, name: str, *, noise: float, seeds=(0,), **fields) -> Path:
    """Write ``submissions/<name>/`` directly (no scoring), the layout ``leaderboard add`` writes."""
    folder = submissions / name
    folder.mkdir(parents=True)
    for seed in seeds:
        write_seed_file(evaluator, folder / seed_file(seed), noise=noise, seed=seed)
    meta = metadata(evaluator.manifest.name, seeds, **fields)
    (folder / METADATA_FILE).write_text(meta.to_yaml(), encoding="utf-8")
    return folder


def site_config(root: Path) -> Path:
    """The repository's mkdocs.yml and docs (site/) copied to ``root``, nav cut to the leaderboard.

    The theme, Markdown extensions and hand-written pages stay the repository's, so pages render
    as on the real site; a leaderboard built earlier into ``root/site`` is kept.
    """
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    config |= {"docs_dir": "site", "site_dir": "build", "nav": [{"Leaderboard": "leaderboard/index.md"}, {"How to submit": "submit.md"}]}
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
