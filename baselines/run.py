"""``baselines run`` and ``baselines ablate``: train per seed, embed the test splits, submit, score.

A run writes a leaderboard entry (``<out>/metadata.yaml`` + ``<out>/seed-<N>.parquet``, the
layout of :mod:`pheno_bench.leaderboard`) and the scorer's results per seed
(``<results>/seed-<N>.json``, by default under the pheno-bench home, since an entry folder holds
submissions only).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pheno_bench.baselines.config import ABLATIONS, BASELINES, BaselineConfig, get_config
from pheno_bench.baselines.data import (
    Standardiser,
    TrainingSet,
    candidate_frame,
    load_wells,
    molecule_inputs,
    query_inputs,
    training_set,
)
from pheno_bench.baselines.featurise import Featuriser, get_featuriser
from pheno_bench.baselines.train import device_for, embed, train
from pheno_bench.errors import PhenoBenchError
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard import EntryMetadata, check_entry_name
from pheno_bench.leaderboard.entries import VerifySpec
from pheno_bench.paths import home
from pheno_bench.io import write_json
from pheno_bench.manifest import read_manifest
from pheno_bench.results import Results, refuse_existing_results, write_results
from pheno_bench.results_tables import seeds_table  # noqa: F401 (moved there: one table renderer)
from pheno_bench.schema import TEST_SPLITS
from pheno_bench.submission import write_submission

PAPER_URLS = {
    "molphenix": "https://arxiv.org/abs/2409.08302",
    "cloome": "https://doi.org/10.1038/s41467-023-42328-w",
    "clip": "https://arxiv.org/abs/2103.00020",
}


def default_results_dir(benchmark: str, name: str) -> Path:
    """Where a run keeps its per-seed results: ``<home>/results/<benchmark>/<name>``, ``name`` being
    the entry folder's name (so two entries never share results files)."""
    return home() / "results" / benchmark / name


@dataclass
class Prepared:
    """A benchmark read once for one configuration: training set and every test split's inputs."""

    evaluator: Evaluator
    config: BaselineConfig
    featuriser: Featuriser
    training: TrainingSet
    queries: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)
    candidates: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)


def prepare(evaluator: Evaluator, config: BaselineConfig, featuriser: Featuriser | None = None) -> Prepared:
    """Featurise and standardise the train wells and the test splits' queries and candidates."""
    root, manifest = evaluator.root, evaluator.manifest
    featuriser = featuriser or get_featuriser(config.featuriser)
    wells = load_wells(root, "train")
    standardiser = Standardiser.fit(wells.features)
    levels = sorted(set(wells.meta["dose_level"].astype(str)), key=float)  # one-hot over the doses trained on
    prepared = Prepared(
        evaluator,
        config,
        featuriser,
        training_set(wells, config, featuriser=featuriser, levels=levels, standardiser=standardiser, origin=str(root / "wells/train.parquet")),
    )
    for split in TEST_SPLITS:
        ids, features = query_inputs(root, split, len(manifest.feature_names))
        prepared.queries[split] = (ids, standardiser(features))
        frame = candidate_frame(root, split)
        origin = str(root / f"candidates/{split}.parquet")
        prepared.candidates[split] = (
            frame["candidate_id"].tolist(),
            molecule_inputs(frame, config, featuriser=featuriser, levels=levels, origin=origin),
        )
    return prepared


def train_and_submit(prepared: Prepared, *, seed: int, path: Path, progress: bool = True) -> tuple[Path, int]:
    """Train one seed, embed every test split, write the submission; returns (path, parameters)."""
    config, manifest = prepared.config, prepared.evaluator.manifest
    model = train(prepared.training, config, seed=seed, progress=progress)
    queries = {split: (ids, embed(model, x, kind="phenomic")) for split, (ids, x) in prepared.queries.items()}
    candidates = {split: (ids, embed(model, x, kind="molecule")) for split, (ids, x) in prepared.candidates.items()}
    write_submission(
        path,
        benchmark=manifest.name,
        fingerprint=manifest.fingerprint,
        model=config.title,
        queries=queries,
        candidates=candidates,
        description=f"pheno-bench reference baseline {config.name}, seed {seed}, featuriser {prepared.featuriser.key}",
        fold=manifest.fold,
    )
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return path, parameters


def entry_metadata(config: BaselineConfig, *, benchmark: str, fingerprint: str, seeds: Sequence[int], parameters: int, featuriser: str, folds: Sequence[int] | None = None) -> EntryMetadata:
    """The leaderboard metadata of a baseline entry."""
    return EntryMetadata(
        model=config.title,
        kind="baseline",
        description=f"{config.description} Paper: {config.paper}. Molecules: {featuriser}.",
        authors=["pheno-bench reference baselines"],
        code_url=config.code or None,
        paper_url=PAPER_URLS.get(config.name),
        benchmark=benchmark,
        training_data=f"the train split of {benchmark} only (fingerprint {fingerprint[:12]})"
        + ("; molecule encoder MiniMol, pre-trained by its authors on public molecule property sets that likely include "
           "some test molecules (never their Cell Painting phenotypes), frozen" if "minimol" in featuriser else "; no pre-training"),
        test_molecules_seen="minimol" in featuriser,
        seeds=list(seeds),
        folds=list(folds) if folds is not None else None,
        parameters=parameters,
        hardware=hardware(config),
        date=dt.date.today(),
        licence="CC-BY-4.0",
        verify=None if (command := rerun_command(config)) is None else VerifySpec(command=command, tolerance=RERUN_TOLERANCE),
    )


#: a trained baseline's re-run tolerance: the same code on another machine (CPU vs GPU kernels,
#: thread counts) trains to slightly different weights; 0.01 = 1 point on any compared cell
RERUN_TOLERANCE = 0.01


def rerun_command(config: BaselineConfig) -> str | None:
    """The command that re-runs this baseline's entry (``verify.command``): the same name, featuriser
    and sample count, on the benchmark and seeds the verifier gives. None when the configuration
    has other changes the command line cannot express (then the entry declares no re-run)."""
    default = BASELINES[config.name]
    if config.model_copy(update={"samples_seen": default.samples_seen, "featuriser": default.featuriser}) != default:
        return None
    command = f"pheno-bench baselines run {config.name} --benchmark {{benchmark}} --out {{out}} --seeds {{seeds}} --featuriser {config.featuriser}"
    if config.samples_seen != BASELINES[config.name].samples_seen:
        command += f" --samples {config.samples_seen}"
    return command


def hardware(config: BaselineConfig) -> str:
    """What training ran on, in words."""
    from pheno_bench.baselines._torch import torch

    if device_for(config).type == "cuda":
        return f"GPU {torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"{platform.machine()} CPU ({os.cpu_count()} cores), {config.threads} torch thread(s), torch {torch.__version__}"


def run_baseline(
    name: str,
    *,
    benchmark: str | os.PathLike,
    seeds: Sequence[int] = (0, 1, 2),
    out: str | os.PathLike,
    results_dir: str | os.PathLike | None = None,
    featuriser: Featuriser | None = None,
    folds: Sequence[int] | None = None,
    replace: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **overrides,
) -> dict:
    """Train baseline ``name`` once per seed (and fold) on ``benchmark``; write the entry at ``out`` and results.

    The entry is written once every run is done, by :func:`pheno_bench.baselines.entries.write_entry`:
    an existing entry is refused unless ``replace``, and its seeds/folds that this run does not
    write are kept. Returns seed -> Results (benchmark without folds) or (seed, fold) -> Results
    (empty on a blind copy, whose files are written unscored). ``overrides`` replace fields of the configuration.
    """
    from pheno_bench.baselines.entries import benchmark_folds, run_path, write_entry
    from pheno_bench.folds import read_fold_set

    if isinstance(featuriser, str):  # a featuriser name is a configuration field
        overrides, featuriser = {**overrides, "featuriser": featuriser}, None
    config = get_config(name, **overrides)
    out = Path(out)
    check_entry_name(out.name)
    if out.exists() and not replace:
        raise PhenoBenchError(f"{out}: entry already exists; pass --replace to overwrite the seeds/folds this run writes (others are kept)")
    root, roots = benchmark_folds(benchmark, list(folds) if folds else None)
    rdirs = {fold: Path(results_dir) if results_dir is not None else default_results_dir(read_manifest(fold_root).name, out.name) for fold, fold_root in roots.items()}
    refuse_existing_results([rdirs[fold] / run_path(seed, fold).replace(".parquet", ".json") for fold in roots for seed in seeds], replace=replace)
    results, files, parameters, used = {}, {}, 0, None
    with tempfile.TemporaryDirectory() as staging:
        for fold, fold_root in roots.items():
            evaluator = Evaluator(fold_root)
            manifest = evaluator.manifest
            rdir = rdirs[fold]
            prepared = prepare(evaluator, config, featuriser)
            used = prepared.featuriser.key
            for seed in seeds:
                start = time.perf_counter()
                path, parameters = train_and_submit(prepared, seed=seed, path=Path(staging) / run_path(seed, fold), progress=progress)
                files[(seed, fold)] = path
                where = f" fold {fold}" if fold is not None else ""
                if evaluator.blind:  # a blind copy (leaderboard verify): written, scored by the verifier
                    log(f"{name}{where} seed {seed}: {time.perf_counter() - start:.1f} s, written unscored (blind copy)")
                    continue
                results[(seed, fold)] = evaluator.evaluate(path)
                write_results(results[(seed, fold)], rdir / run_path(seed, fold).replace(".parquet", ".json"))
                log(f"{name}{where} seed {seed}: {time.perf_counter() - start:.1f} s, {summary_line(results[(seed, fold)])}")
        fingerprint = manifest.fingerprint if None in roots else read_fold_set(root).fingerprint
        metadata = entry_metadata(config, benchmark=manifest.name, fingerprint=fingerprint, seeds=seeds, parameters=parameters, featuriser=used,
                                  folds=None if None in roots else sorted(roots))
        write_entry(out, files, metadata, benchmark=root, replace=replace)
    return {seed: r for (seed, _), r in results.items()} if None in roots else results


def headline(results: Results, split: str, subset: str, metric: str) -> float | None:
    """One per-query number from results (None if the split or subset is absent)."""
    result = results.splits.get(split)
    if result is None or not result.evaluated or subset not in result.per_query.subsets:
        return None
    estimate = result.per_query.subsets[subset].metrics.get(metric)  # none when the subset is too few to score
    return None if estimate is None else estimate.value


def summary_line(results: Results) -> str:
    """Top-1% accuracy, all and active queries, per split (in percent)."""
    parts = []
    for split in TEST_SPLITS:
        values = [headline(results, split, subset, "top_1pct") for subset in ("all", "active")]
        parts.append(f"{split} top-1% " + "/".join("–" if v is None else f"{100 * v:.1f}" for v in values))
    return "; ".join(parts)


def ablate(
    name: str,
    *,
    benchmark: str | os.PathLike,
    seeds: Sequence[int] = (0, 1, 2),
    out: str | os.PathLike | None = None,
    rows: Sequence[str] | None = None,
    folds: Sequence[int] | None = None,
    replace: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **overrides,
) -> dict[str, dict]:
    """Baseline ``name`` with each ablation row of ``ABLATIONS[name]`` (or the keys in ``rows``).

    Per row, fold and seed the submission is scored and only its results JSON is kept
    (``out/<row>/[fold-<k>/]seed-<n>.json``; default out ``<home>/results/<benchmark>/ablate-<name>``),
    plus ``summary.json``; results of an earlier ablation there are replaced only with ``replace``.
    Returns row label -> seed -> Results (or (seed, fold) -> Results).
    """
    from pheno_bench.baselines.entries import benchmark_folds, run_path

    if name not in ABLATIONS:
        raise PhenoBenchError(f"no ablation defined for {name!r}; ablations exist for {sorted(ABLATIONS)}")
    table = [row for row in ABLATIONS[name] if rows is None or row[0] in rows]
    if rows is not None and (unknown := sorted(set(rows) - {key for key, _, _ in table})):
        raise PhenoBenchError(f"no ablation row {unknown[0]!r} for {name}; rows are {[key for key, _, _ in ABLATIONS[name]]}")
    root, roots = benchmark_folds(benchmark, list(folds) if folds else None)
    first = Evaluator(next(iter(roots.values())))
    out = Path(out) if out is not None else default_results_dir(first.manifest.name, f"ablate-{name}")
    refuse_existing_results([out / "summary.json", *(out / key / run_path(seed, fold).replace(".parquet", ".json") for key, _, _ in table for fold in roots for seed in seeds)],
                            replace=replace)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as staging:
        for key, label, changes in table:
            config = get_config(name, **{**overrides, **changes})
            results[label] = {}
            for fold, fold_root in roots.items():
                evaluator = Evaluator(fold_root)
                prepared = prepare(evaluator, config)
                for seed in seeds:
                    path, _ = train_and_submit(prepared, seed=seed, path=Path(staging) / key / run_path(seed, fold), progress=progress)
                    result = evaluator.evaluate(path)
                    path.unlink()
                    write_results(result, out / key / run_path(seed, fold).replace(".parquet", ".json"))
                    results[label][seed if fold is None else (seed, fold)] = result
                    log(f"{label}" + (f" fold {fold}" if fold is not None else "") + f" seed {seed}: {summary_line(result)}")
    summary = {label: {str(k): r.model_dump(mode="json") for k, r in by_run.items()} for label, by_run in results.items()}
    write_json(summary, out / "summary.json")
    return results


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0

