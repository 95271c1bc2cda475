"""Training-free probes: reference rows that any trained model must beat (no PyTorch).

Every probe embeds queries and candidates so that the scorer's cosine retrieval means what the
probe says:

* ``random``: Gaussian embeddings (seeded): the chance line, with the scorer's tie rule.
* ``centroid``: candidate = the mean standardised profile of its own train wells; query = its
  own standardised features; retrieval = the nearest centroid (Euclidean, via
  :func:`~pheno_bench.baselines.profiles.euclidean_lift`). A candidate with no train wells (every
  candidate of unseen_molecules) gets the mean train profile: it ties with the others, so the
  probe scores chance there, by construction.
* ``chem-neighbours``: candidate = Tanimoto-weighted mean profile of its k nearest training
  molecules, each at its nearest train dose; k chosen by scaffold-grouped CV inside train.
* ``ridge``: candidate = ridge regression from Morgan bits (radius 2, 1,024) + log10 dose to the
  standardised profile (all features), retrieval by cosine (the worked example's model, fitted
  on condition means); the penalty chosen by scaffold-grouped CV inside train.

Settings (k, the ridge penalty) are chosen by :mod:`pheno_bench.baselines.tuning`: the
benchmark's primary metric on held-out scaffold groups of train, never valid or test; the curves
are kept in the probe's ``choices.json`` and on site/baselines.md.
* ``query-blind``: the query-blind floor. Every query is the same vector (1, 0); each candidate
  is a unit vector whose angle grows with its block under
  :func:`pheno_bench.floor.query_blind_scores` (block 1 = each molecule's most likely dose by the
  train dose-rank prior, tied across molecules; block 2 = each molecule's next; ...). The best any
  ranking that ignores the query can do on molecule-level metrics; a model must beat it.
* ``layout`` (confound): query = the mean profile of the train wells of **other** molecules at
  the query's well address (all plates; nothing of the query's own molecule); candidate = its
  reference profile (own train mean, else chem-neighbours). High scores mean well position alone
  carries the retrieval signal.
* ``cytotoxicity`` (confound): query and candidate profile restricted to cell count / cell area
  (the ``cell_count`` column when the benchmark carries it, and features named ``*Count*`` or
  ``*AreaShape_Area``). High scores mean toxicity alone explains retrieval.

The two confound probes read the query's well address or cell count from the answer key, so
they are diagnostics of the benchmark, not models a user could submit; their metadata says so.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pheno_bench.baselines.data import Standardiser, candidate_frame, load_wells, query_inputs
from pheno_bench.baselines.profiles import (
    Conditions,
    RidgeProfiles,
    centroid_profiles,
    condition_profiles,
    dose_um,
    euclidean_lift,
    morgan_bit_matrix,
    neighbour_profiles,
)
from pheno_bench.baselines.tuning import Curve, HeldOut, cross_validate, extend_counts, extend_geometric, held_out_tasks
from pheno_bench.errors import PhenoBenchError
from pheno_bench.floor import query_blind_scores
from pheno_bench.io import read_parquet
from pheno_bench.manifest import answers_path
from pheno_bench.schema import TEST_SPLITS

K_GRID = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0)
ALPHA_GRID = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7)
RANDOM_DIM = 8
#: Profile probes work in the top principal components of the standardised train wells: the
#: nearest-profile ranking barely changes (see site/baselines.md) and each fold's file stays small.
N_COMPONENTS = 32
CYTOTOX_FEATURE = re.compile(r"(?i)(count|AreaShape_Area$)")
CELL_COUNT_COLUMNS = ("cell_count", "relative_cell_count")


@dataclass(frozen=True)
class ProbeInfo:
    """What ``baselines list`` shows about a probe."""

    name: str
    title: str
    description: str
    confound: bool = False
    tuned: str = ""


PROBES: dict[str, ProbeInfo] = {
    p.name: p
    for p in (
        ProbeInfo("random", "Random embeddings (chance)", "Seeded Gaussian embeddings, 8-d: the chance line under the scorer's tie rule."),
        ProbeInfo("centroid", "Nearest train centroid", "Candidate = mean standardised profile of its own train wells; query = its features; nearest centroid (Euclidean). Candidates without train wells tie (chance)."),
        ProbeInfo("chem-neighbours", "Chemical neighbours (Tanimoto)", "Candidate = Tanimoto-weighted mean profile of its k nearest training molecules (Morgan r2 2048 bits), each at its nearest train dose.", tuned="k"),
        ProbeInfo("ridge", "Ridge: Morgan + log dose -> profile", "Candidate = ridge regression from Morgan bits (r2, 1024) + log10 µM to the standardised profile, fitted on train (molecule, dose) means; query = its standardised features; cosine.", tuned="alpha"),
        ProbeInfo("query-blind", "Query-blind floor (train dose prior, one dose per molecule first)", "Every query embedded identically; candidates in tied blocks from train alone (pheno_bench.floor.query_blind_scores): block 1 = each molecule's most likely dose under the train dose-rank prior, block 2 = its next, ... The best a ranking that ignores the query can do on molecule-level metrics; any model must beat it."),
        ProbeInfo("layout", "Layout confound (well address only)", "Query = mean profile of train wells of OTHER molecules at the query's well address (read from the answer key); candidate = own train mean, else chem-neighbours.", confound=True, tuned="k"),
        ProbeInfo("cytotoxicity", "Cytotoxicity confound (cell count / area only)", "Query and candidate profiles restricted to cell count / cell-area columns (cell count read from the answer key); nearest profile.", confound=True, tuned="k"),
    )
}


@dataclass
class ProbeData:
    """A benchmark read once for the probes: standardised train wells and their condition means."""

    root: Path
    feature_names: list[str]
    standardiser: Standardiser
    train_meta: pd.DataFrame
    train_x: np.ndarray
    conditions: Conditions
    center: np.ndarray
    components: np.ndarray
    train_full: np.ndarray
    choices: dict[str, float] = field(default_factory=dict)
    curves: dict[str, dict] = field(default_factory=dict)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw features (n, d) -> standardised, centred, projected on the components (n, p)."""
        return (self.standardiser(raw).astype(np.float64) - self.center) @ self.components


def read_probe_data(root: Path, feature_names: list[str], *, n_components: int = N_COMPONENTS) -> ProbeData:
    """Train wells (controls excluded), standardised with their own mean and sd, then projected on
    their top ``n_components`` principal components (train_x: (n, p); train_full: (n, d))."""
    wells = load_wells(root, "train")
    standardiser = Standardiser.fit(wells.features)
    full = standardiser(wells.features).astype(np.float64)
    center = full.mean(axis=0)
    _, _, vt = np.linalg.svd(full - center, full_matrices=False)
    components = vt[: min(n_components, vt.shape[0])].T
    components *= np.where(components[np.abs(components).argmax(axis=0), np.arange(components.shape[1])] < 0, -1.0, 1.0)  # sign-fixed
    x = (full - center) @ components
    return ProbeData(root, list(feature_names), standardiser, wells.meta, x, condition_profiles(wells.meta, x), center, components, full)


def reference_profiles(candidates: pd.DataFrame, conditions: Conditions, *, k: int) -> np.ndarray:
    """A candidate's own train mean where it has train wells, else its chem-neighbour profile."""
    own, known = centroid_profiles(candidates, conditions)
    if (~known).any():
        own[~known] = neighbour_profiles(candidates[~known].reset_index(drop=True), conditions, k=k)
    return own


def _tuning_tasks(data: ProbeData, x: np.ndarray | None = None) -> list[HeldOut]:
    """The scaffold-grouped held-out tasks of train in space ``x`` (default: the probe's components)."""
    return held_out_tasks(data.train_meta, data.train_x if x is None else x)


def choose_k(data: ProbeData, x: np.ndarray | None = None) -> Curve:
    """k of chem-neighbours by scaffold-grouped CV inside train (nearest profile in space ``x``;
    equal scores: the smaller k; the grid grows while the best k is its largest)."""
    tasks = _tuning_tasks(data, x)
    limit = int(data.train_meta["inchikey"].nunique())
    return cross_validate(
        "k", tasks, lambda task, k: neighbour_profiles(task.candidates, task.fit, k=int(k)), K_GRID,
        simpler=lambda k: -k, extend=lambda best, grid: extend_counts(best, grid, limit=limit), retrieval="euclidean",
    )


def _ridge(meta: pd.DataFrame, x: np.ndarray) -> RidgeProfiles:
    """The ridge of wells ``meta`` (n,) with standardised features ``x`` (n, d), on their condition means."""
    conditions = condition_profiles(meta, x)
    frame = conditions.frame
    return RidgeProfiles(scale_inputs=False).fit(morgan_bit_matrix(frame["smiles"].tolist()), frame["log_dose"].to_numpy(), conditions.profiles)


def _ridge_predict(model: RidgeProfiles, candidates: pd.DataFrame, alpha: float) -> np.ndarray:
    return model.predict(morgan_bit_matrix(candidates["smiles"].astype(str).tolist()), np.log10(dose_um(candidates["dose_level"])), alpha=alpha)


def choose_alpha(data: ProbeData) -> Curve:
    """Ridge penalty by scaffold-grouped CV inside train (cosine in the standardised feature space;
    equal scores: the larger penalty; the grid grows by 10x while the best is at either end)."""
    tasks = _tuning_tasks(data, data.train_full)
    fits: dict[int, RidgeProfiles] = {}

    def profiles(task: HeldOut, alpha: float) -> np.ndarray:
        if id(task) not in fits:  # one SVD per held-out fold serves every penalty
            fits[id(task)] = _ridge(task.fit_meta, task.fit_x)
        return _ridge_predict(fits[id(task)], task.candidates, alpha)

    return cross_validate("alpha", tasks, profiles, ALPHA_GRID, simpler=lambda a: a, extend=extend_geometric, retrieval="cosine")


def block_embedding(scores: np.ndarray) -> np.ndarray:
    """(n, 2) unit vectors realising ``scores`` against the query (1, 0): the b-th highest distinct
    score at angle (b - 1) / n_distinct * pi / 2, so cosine falls strictly with the block and equal
    scores give identical vectors (exact ties)."""
    distinct, block = np.unique(-np.asarray(scores, dtype=np.float64), return_inverse=True)
    angle = block.reshape(-1) / max(len(distinct), 1) * (np.pi / 2)
    return np.column_stack([np.cos(angle), np.sin(angle)])


def _answers(root: Path, split: str) -> pd.DataFrame:
    return read_parquet(root / answers_path(split), what=f"{split} answers").to_pandas().set_index("query_id")


def well_address(well_ids: pd.Series) -> pd.Series:
    """The well address (row letters + column number, e.g. ``B12``; ``A01`` -> ``A1``) from ``source:plate:well`` ids."""
    raw = well_ids.astype(str).str.rsplit(":", n=1).str[-1].str.upper()
    parts = raw.str.extract(r"^([A-Z]+)0*(\d+)$")
    return (parts[0] + parts[1]).where(parts[0].notna(), raw)


def layout_queries(data: ProbeData, answers: pd.DataFrame, query_ids: list[str]) -> np.ndarray:
    """(n, d): per query, the mean profile of train wells at its address holding other molecules.

    A query whose address holds no other train molecule gets the mean train profile (it then
    ties with every other such query's view of the candidates)."""
    meta = data.train_meta
    address = well_address(meta["well_id"]).to_numpy()
    inchikey = meta["inchikey"].astype(str).to_numpy()
    fallback = data.train_x.mean(axis=0)
    frame = pd.DataFrame({"address": address, "inchikey": inchikey, "row": np.arange(len(meta))})
    addr_sum = {a: data.train_x[g["row"].to_numpy()].sum(0) for a, g in frame.groupby("address")}
    addr_n = frame.groupby("address").size().to_dict()
    pair_rows = {key: g["row"].to_numpy() for key, g in frame.groupby(["address", "inchikey"])}
    rows = answers.loc[query_ids]
    q_address = well_address(rows["well_id"]).to_numpy()
    q_molecule = rows["inchikey"].astype(str).to_numpy()
    out = np.empty((len(query_ids), data.train_x.shape[1]))
    for i, (a, m) in enumerate(zip(q_address, q_molecule)):
        own = pair_rows.get((a, m), np.zeros(0, dtype=np.int64))
        n = addr_n.get(a, 0) - len(own)
        out[i] = (addr_sum[a] - data.train_x[own].sum(0)) / n if n > 0 else fallback
    return out


def cytotoxicity_columns(data: ProbeData) -> tuple[list[int], str | None]:
    """Feature indices and the cell-count column the cytotoxicity probe sees; an error if none."""
    features = [i for i, name in enumerate(data.feature_names) if CYTOTOX_FEATURE.search(name)]
    count = next((c for c in CELL_COUNT_COLUMNS if c in data.train_meta.columns), None)
    if not features and count is None:
        raise PhenoBenchError(
            f"{data.root}: no cell count column ({' or '.join(CELL_COUNT_COLUMNS)}) in the wells and no feature named "
            "*Count* or *AreaShape_Area*; the cytotoxicity probe needs one (benchmarks from cell-injury-v2 on carry cell_count)"
        )
    return features, count


def _cytotox_space(data: ProbeData, features: list[int], count: str | None) -> tuple[np.ndarray, float, float]:
    """Train wells in the cytotoxicity space (standardised features + standardised count)."""
    parts = [data.train_full[:, features]]
    mean = sd = 0.0
    if count:
        values = pd.to_numeric(data.train_meta[count], errors="coerce").to_numpy(dtype=np.float64)
        mean, sd = float(np.nanmean(values)), float(np.nanstd(values)) or 1.0
        parts.append(np.nan_to_num((values - mean) / sd)[:, None])
    return np.concatenate(parts, axis=1), mean, sd


def content_normal(raw: np.ndarray, *, seed: int, split: str, dim: int = RANDOM_DIM) -> np.ndarray:
    """(n, dim) Gaussian embeddings, one per row of ``raw`` (n, d), each drawn from a generator seeded
    by (seed, split, sha256 of the row's float32 bytes): the same query gets the same embedding
    whatever its id or row (so a re-run on a re-keyed, reordered blind copy reproduces the file)."""
    rows = np.ascontiguousarray(raw, dtype=np.float32)
    out = np.empty((len(rows), dim))
    where = TEST_SPLITS.index(split)
    for i, row in enumerate(rows):  # one small generator per query: ~10 µs each
        words = np.frombuffer(hashlib.sha256(row.tobytes()).digest()[:16], dtype=np.uint32)
        out[i] = np.random.default_rng([seed, where, *words.tolist()]).standard_normal(dim)
    return out


def probe_split(name: str, data: ProbeData, split: str, *, seed: int = 0) -> tuple[tuple[list[str], np.ndarray], tuple[list[str], np.ndarray]]:
    """((query ids, embeddings), (candidate ids, embeddings)) of probe ``name`` on a test split."""
    query_ids, raw = query_inputs(data.root, split, len(data.feature_names))
    candidates = candidate_frame(data.root, split)
    cand_ids = candidates["candidate_id"].tolist()
    if name == "random":
        rng = np.random.default_rng([seed, TEST_SPLITS.index(split)])
        return (query_ids, content_normal(raw, seed=seed, split=split)), (cand_ids, rng.standard_normal((len(cand_ids), RANDOM_DIM)))
    if name == "query-blind":
        return (query_ids, np.tile([1.0, 0.0], (len(query_ids), 1))), (cand_ids, block_embedding(query_blind_scores(data.train_meta, candidates)))
    queries = data.transform(raw)
    k = int(data.choices.get("k", 5))
    if name == "centroid":
        profiles, known = centroid_profiles(candidates, data.conditions)
        profiles[~known] = data.train_x.mean(axis=0)
    elif name == "chem-neighbours":
        profiles = neighbour_profiles(candidates, data.conditions, k=k)
    elif name == "ridge":  # cosine in the standardised feature space: no Euclidean lift
        queries = data.standardiser(raw).astype(np.float64)
        alpha = data.choices["alpha"]
        return (query_ids, queries), (cand_ids, _ridge_predict(_ridge(data.train_meta, data.train_full), candidates, alpha))
    elif name == "layout":
        queries = layout_queries(data, _answers(data.root, split), query_ids)
        profiles = reference_profiles(candidates, data.conditions, k=k)
    elif name == "cytotoxicity":
        features, count = cytotoxicity_columns(data)
        space, mean, sd = _cytotox_space(data, features, count)
        conditions = condition_profiles(data.train_meta, space)
        profiles = reference_profiles(candidates, conditions, k=int(data.choices.get("k_cytotoxicity", k)))
        queries = data.standardiser(raw).astype(np.float64)[:, features]
        if count:
            values = pd.to_numeric(_answers(data.root, split).loc[query_ids][count], errors="coerce").to_numpy(dtype=np.float64)
            queries = np.column_stack([queries, np.nan_to_num((values - mean) / sd)])
    else:
        raise PhenoBenchError(f"unknown probe {name!r}; choose from {sorted(PROBES)}")
    q, c = euclidean_lift(queries, profiles)
    return (query_ids, q), (cand_ids, c)


def prepare_probe(name: str, root: Path, feature_names: list[str]) -> ProbeData:
    """Read the benchmark and choose the probe's setting (k, alpha) by scaffold-grouped CV inside train."""
    if name not in PROBES:
        raise PhenoBenchError(f"unknown probe {name!r}; choose from {sorted(PROBES)} (see `pheno-bench baselines list`)")
    data = read_probe_data(root, feature_names)
    if name == "random":
        return data
    if name in ("chem-neighbours", "layout"):
        curve = choose_k(data)
        data.choices["k"], data.curves["k"] = curve.chosen, curve.as_dict()
    if name == "cytotoxicity":
        features, count = cytotoxicity_columns(data)
        curve = choose_k(data, _cytotox_space(data, features, count)[0])
        data.choices["k_cytotoxicity"], data.curves["k_cytotoxicity"] = curve.chosen, curve.as_dict()
    if name == "ridge":
        curve = choose_alpha(data)
        data.choices["alpha"], data.curves["alpha"] = curve.chosen, curve.as_dict()
    return data


def probe_embeddings(name: str, root: str | Path, *, seed: int = 0) -> dict[str, tuple[tuple[list[str], np.ndarray], tuple[list[str], np.ndarray]]]:
    """Probe ``name`` on one benchmark folder (a single benchmark or one fold):
    split -> ((query ids, (n, e) embeddings), (candidate ids, (m, e) embeddings)), ready for
    :func:`pheno_bench.submission.write_submission` (cosine). The plain API for data cards."""
    from pheno_bench.manifest import read_manifest

    root = Path(root)
    data = prepare_probe(name, root, read_manifest(root).feature_names)
    return {split: probe_split(name, data, split, seed=seed) for split in TEST_SPLITS}


def probe_results(name: str, root: str | Path, *, seed: int = 0, path: str | Path | None = None, n_bootstrap: int = 1000):
    """Write probe ``name``'s submission for one benchmark folder (to ``path``, else a temporary
    file) and score it; returns the scorer's Results. E.g. ``probe_results("layout", fold_root)``."""
    import tempfile

    from pheno_bench.evaluate import Evaluator

    evaluator = Evaluator(root)
    with tempfile.TemporaryDirectory() as tmp:
        file = write_probe_submission(name, evaluator, seed=seed, path=Path(path) if path else Path(tmp) / "probe.parquet")
        return evaluator.evaluate(file, n_bootstrap=n_bootstrap)


def write_probe_submission(name: str, evaluator, *, seed: int, path: Path, data: ProbeData | None = None) -> Path:
    """One submission file of probe ``name`` for the evaluator's benchmark (a fold keeps its number)."""
    from pheno_bench.submission import write_submission

    manifest = evaluator.manifest
    data = data or prepare_probe(name, evaluator.root, manifest.feature_names)
    splits = {split: probe_split(name, data, split, seed=seed) for split in TEST_SPLITS}
    choices = ", ".join(f"{k} = {v:g}" for k, v in data.choices.items() if isinstance(v, (int, float)))
    return write_submission(
        path,
        benchmark=manifest.name,
        fingerprint=manifest.fingerprint,
        model=PROBES[name].title,
        queries={s: q for s, (q, _) in splits.items()},
        candidates={s: c for s, (_, c) in splits.items()},
        description=f"pheno-bench probe {name}, seed {seed}" + (f" ({choices}, chosen by scaffold-grouped CV inside train)" if choices else ""),
        fold=manifest.fold,
    )


def probe_metadata(name: str, *, benchmark: str, fingerprint: str, seeds, folds, data: ProbeData | None):
    """The leaderboard metadata of a probe entry (``kind: probe``)."""
    import datetime as dt
    import platform

    from pheno_bench.leaderboard import EntryMetadata
    from pheno_bench.leaderboard.entries import VerifySpec

    info = PROBES[name]
    tuned = f" Setting chosen by scaffold-grouped cross-validation inside train: {info.tuned}." if info.tuned else ""
    diagnostic = " Reads the answer key (well address / cell count): a diagnostic of the benchmark, not a model a user could submit." if info.confound else ""
    return EntryMetadata(
        model=f"probe: {info.title}",
        kind="probe",
        description=f"{info.description}{tuned}{diagnostic} Training-free; deterministic.",
        authors=["pheno-bench reference probes"],
        benchmark=benchmark,
        training_data=f"the train split of {benchmark} only (fingerprint {fingerprint[:12]}); no pre-training",
        test_molecules_seen=False,
        seeds=list(seeds),
        folds=list(folds) if folds is not None else None,
        parameters=0,
        hardware=f"{platform.machine()} CPU, numpy/scikit-learn",
        date=dt.date.today(),
        licence="CC-BY-4.0",
        verify=VerifySpec(
            command=f"pheno-bench baselines run {name} --benchmark {{benchmark}} --out {{out}}" + (" --seeds {seeds}" if name == "random" else ""),
            tolerance=1e-9, reads_answers=info.confound,
        ),
    )


def run_probe(
    name: str,
    *,
    benchmark: str | Path,
    out: str | Path,
    seeds=(0,),
    folds: list[int] | None = None,
    replace: bool = False,
    results_dir: str | Path | None = None,
    log=print,
) -> dict:
    """Probe ``name`` on every fold (or the benchmark) and seed: write the entry ``out``
    (:func:`pheno_bench.baselines.entries.write_entry`: refuses an existing entry unless
    ``replace``; never deletes seeds/folds it did not write) and per-run results JSON under
    ``results_dir`` (default ``<home>/results/<benchmark>/<entry folder name>``; existing results
    are replaced only with ``replace``). Returns seed -> Results
    (benchmark without folds) or (seed, fold) -> Results."""
    import json
    import tempfile
    import time

    from pheno_bench.baselines.entries import benchmark_folds, run_path, write_entry
    from pheno_bench.evaluate import Evaluator
    from pheno_bench.folds import read_fold_set
    from pheno_bench.io import write_json
    from pheno_bench.leaderboard import check_entry_name
    from pheno_bench.paths import home
    from pheno_bench.manifest import read_manifest
    from pheno_bench.results import refuse_existing_results, write_results

    if name not in PROBES:
        raise PhenoBenchError(f"unknown probe {name!r}; choose from {sorted(PROBES)} (see `pheno-bench baselines list`)")
    check_entry_name(Path(out).name)
    if name != "random" and list(seeds) != [0]:
        raise PhenoBenchError(
            f"probe {name!r} is deterministic: it has one run (seed 0), other seeds would be byte copies of it that "
            "fake replication; drop --seeds (only the random probe takes seeds)"
        )
    if Path(out).exists() and not replace:
        raise PhenoBenchError(f"{out}: entry already exists; pass --replace to overwrite the seeds/folds this run writes (others are kept)")
    root, roots = benchmark_folds(benchmark, folds)
    rdirs = {fold: Path(results_dir) if results_dir else home() / "results" / read_manifest(fold_root).name / Path(out).name for fold, fold_root in roots.items()}
    refuse_existing_results([rdirs[fold] / run_path(seed, fold).replace(".parquet", ".json") for fold in roots for seed in seeds], replace=replace)
    results, files, choices, fingerprint, bench_name = {}, {}, {}, "", ""
    with tempfile.TemporaryDirectory() as staging:
        for fold, fold_root in roots.items():
            start = time.perf_counter()
            evaluator = Evaluator(fold_root)
            bench_name, fingerprint = evaluator.manifest.name, evaluator.manifest.fingerprint
            data = prepare_probe(name, fold_root, evaluator.manifest.feature_names)
            choices[str(fold)] = {**data.choices, "cv": data.curves}
            rdir = rdirs[fold]
            for seed in seeds:
                path = write_probe_submission(name, evaluator, seed=seed, path=Path(staging) / run_path(seed, fold), data=data)
                files[(seed, fold)] = path
                if not evaluator.blind:  # a blind copy (leaderboard verify): written, scored by the verifier
                    results[(seed, fold)] = evaluator.evaluate(path)
                    write_results(results[(seed, fold)], rdir / run_path(seed, fold).replace(".parquet", ".json"))
            primary = results[(seeds[-1], fold)].primary if not evaluator.blind else None
            score = "written unscored (blind copy)" if evaluator.blind else (
                f"{primary.label}: {100 * primary.value:.1f} %" if primary is not None and primary.value is not None else "primary metric not scored")
            log(f"probe {name}" + (f" fold {fold}" if fold is not None else "") + f": {time.perf_counter() - start:.1f} s, {score}; results in {rdir}")
        write_json(json.loads(json.dumps(choices, default=float)), rdir / "choices.json")
        if None not in roots:  # the entry names the fold set, not one fold
            fingerprint = read_fold_set(root).fingerprint
        metadata = probe_metadata(name, benchmark=bench_name, fingerprint=fingerprint, seeds=seeds, folds=None if None in roots else sorted(roots), data=None)
        write_entry(out, files, metadata, benchmark=root, replace=replace)
    return {seed: r for (seed, _), r in results.items()} if None in roots else results
