"""Publish a built benchmark to the Hugging Face Hub and download it back, pinned and verified.

A benchmark is one *dataset* repository on the Hub whose files are exactly the benchmark folder
(see :mod:`pheno_bench.manifest`) plus a dataset card (``README.md``, :func:`dataset_card`). A fold
set (``cell-injury-v2``, :mod:`pheno_bench.folds`) is one repository too: its ``manifest.json``
and one ``fold-<k>/`` folder per fold. :func:`publish` makes two commits: the data (whose sha pins
every file at once: the *revision to cite*), then the card updated so that its ``load_dataset``
snippets pin that sha.

huggingface_hub checks only file sizes when it downloads; :func:`download` therefore checks every
file's sha256 against ``manifest.json`` before it hands the folder out, and says whether a
mismatch is the published copy's (tell the publisher) or the local cache's (``--force``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from huggingface_hub import CommitOperationAdd, DatasetCardData, HfApi, constants, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from pheno_bench.errors import PhenoBenchError
from pheno_bench.manifest import (
    MANIFEST,
    Manifest,
    answers_path,
    candidates_path,
    queries_path,
    read_manifest,
    verify,
    wells_path,
)
from pheno_bench.schema import TEST_SPLITS

CARD = "README.md"
#: Organisation used when a repo id is given without one (``cell-injury-v1`` -> ``pheno-bench/cell-injury-v1``).
DEFAULT_ORG = "pheno-bench"
TAGS = ["biology", "chemistry", "cell-painting", "phenomics", "drug-discovery", "retrieval", "pheno-bench"]
#: Licence texts that are already Hub licence identifiers; anything else is published as ``other``.
HUB_LICENCES = {"apache-2.0", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc0-1.0", "mit"}
#: ``datasets`` config name -> (split -> file). One config per kind of file: all files of a config share a schema.
CONFIGS: dict[str, dict[str, str]] = {
    "wells": {split: wells_path(split) for split in ("train", "valid")},
    "queries": {split: queries_path(split) for split in TEST_SPLITS},
    "candidates": {split: candidates_path(split) for split in TEST_SPLITS},
    "answers": {split: answers_path(split) for split in TEST_SPLITS},
}
SHA_PATTERN = re.compile(r"^[0-9a-f]{40}$")
#: Seconds to wait for the Hub to answer the first request (resolving the revision).
CONNECT_TIMEOUT_S = 10.0


def fold_configs(k: int) -> dict[str, dict[str, str]]:
    """The ``datasets`` configs of a fold set with ``k`` folds: ``fold-<i>-<kind>`` for each fold and kind."""
    return {f"fold-{i}-{name}": {split: f"fold-{i}/{path}" for split, path in files.items()}
            for i in range(k) for name, files in CONFIGS.items()}


def repo_id_of(name: str) -> str:
    """``ORG/NAME`` as given, or ``DEFAULT_ORG/NAME`` for a bare benchmark name."""
    return name if "/" in name else f"{DEFAULT_ORG}/{name}"


def _hub_licence(manifest: Manifest) -> str | list[str]:
    ids = sorted({s.licence.strip().lower() for s in manifest.sources})
    if not ids or not set(ids) <= HUB_LICENCES:
        return "other"
    return ids[0] if len(ids) == 1 else ids


def _size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    return next((label for bound, label in bounds if n < bound), "1M<n<10M" if n < 10_000_000 else "n>10M")


def _card_yaml(manifest: Manifest, configs_map: dict[str, dict[str, str]] | None = None) -> str:
    configs_map = CONFIGS if configs_map is None else configs_map
    default = next(iter(configs_map))
    configs = [
        {"config_name": name, "data_files": [{"split": s, "path": p} for s, p in files.items()]}
        | ({"default": True} if name == default else {})
        for name, files in configs_map.items()
    ]
    data = DatasetCardData(
        license=_hub_licence(manifest),
        pretty_name=f"pheno-bench {manifest.name}",
        tags=TAGS,
        size_categories=[_size_category(sum(s.wells + s.controls for s in manifest.splits))],
        configs=configs,
    )
    return data.to_yaml()


def _split_rows(manifest: Manifest) -> list[str]:
    def cell(value) -> str:
        return "–" if value is None else f"{value:,}"

    rows = [
        "| split | wells | controls | molecules | scaffolds | (molecule, dose) pairs | active pairs | candidates "
        "| molecules in train |",
        "|---|" + "---:|" * 8,
    ]
    for s in manifest.splits:
        values = [s.wells, s.controls, s.molecules, s.scaffolds, s.pairs, s.active_pairs, s.candidates, s.molecules_in_train]
        rows.append(f"| `{s.split}` | " + " | ".join(cell(v) for v in values) + " |")
    rows += ["", "Wells per dose level (µM):", "", "| split | " + " | ".join(manifest.dose_levels) + " |",
             "|---|" + "---:|" * len(manifest.dose_levels)]
    for s in manifest.splits:
        rows.append(f"| `{s.split}` | " + " | ".join(cell(s.dose_levels.get(d, 0)) for d in manifest.dose_levels) + " |")
    return rows


def _primary_lines(manifest: Manifest, declared: str | None = None, *, with_k: bool = True) -> list[str]:
    """The card's line naming the primary metric (the leaderboard's ranking number), with its k."""
    import math

    from pheno_bench.evaluate import metric_label, parse_metric_id, primary_metric_of

    metric_id = declared or primary_metric_of(manifest)
    if not metric_id:
        return []
    split, *_, metric = parse_metric_id(metric_id)
    stats = next((st for st in manifest.splits if st.split == split), None)
    k = n = None
    if with_k and stats is not None and stats.candidates and metric.endswith("pct"):
        n = stats.candidates
        k = math.ceil(int(metric.split("_")[-1].removesuffix("pct")) * n / 100)
    return [f"- **primary metric** (the leaderboard ranks by this one number): {metric_label(metric_id, k, n)} "
            f"(`{metric_id}`); every top-K% states its k, the number of candidates counted as a hit"]


def dataset_card(manifest: Manifest, *, repo_id: str | None = None, revision: str | None = None) -> str:
    """The ``README.md`` of the benchmark's dataset repository.

    YAML front matter (licence, tags, ``configs`` for ``datasets.load_dataset``) and a body with
    the split table, the fingerprint, the sources with their licences and citations, and usage.
    ``repo_id`` and ``revision`` (the commit sha to cite) fill the usage snippets (``ORG/NAME`` and
    ``<commit sha>`` when not given).
    """
    repo = repo_id or "ORG/NAME"
    pin = revision or "<commit sha>"
    files = [
        f"| `{name}` | `{split}` | `{path}` |" for name, config in CONFIGS.items() for split, path in config.items()
    ]
    sources = [f"| `{s.name}` | {s.licence} | {s.citation} |" for s in manifest.sources]
    body = [
        f"# pheno-bench {manifest.name}",
        "",
        "Frozen splits of phenomic wells and molecules for contrastive phenomolecular retrieval: "
        "embed a test well (a *query*) and every (molecule, dose) *candidate* of its split, and retrieve "
        "the molecule and dose that caused the phenotype. Built, published and scored by "
        "pheno-bench (`pip install pheno-bench`).",
        "",
        f"- **version** {manifest.version} (format {manifest.format_version}), seed {manifest.seed}",
        f"- **fingerprint** `{manifest.fingerprint}` (sha256 of `manifest.json`; "
        "`manifest.json` lists the sha256 of every file)",
        f"- **features** {len(manifest.feature_names)}: {manifest.feature_space}",
        *_primary_lines(manifest),
        "",
        "## Splits",
        "",
        *_split_rows(manifest),
        "",
        "`unseen_images`: new wells of training molecules; `unseen_molecules`: held-out Bemis–Murcko "
        "scaffolds; `unseen_dataset`: a source never used for training.",
        "",
        "## Files and `datasets` configs",
        "",
        "| config | split | file |",
        "|---|---|---|",
        *files,
        "",
        "Queries carry only `query_id` and `features`; the answer key (`answers`) is read by the scorer.",
        "",
        "## Sources",
        "",
        "| source | licence | citation |",
        "|---|---|---|",
        *sources,
        "",
        "## Use",
        "",
        "```bash",
        f"pheno-bench splits download {repo} --revision {pin}   # cached, pinned, sha256-verified",
        f"pheno-bench splits info {manifest.name}",
        "```",
        "",
        "```python",
        "import datasets",
        f'queries = datasets.load_dataset("{repo}", "queries", split="unseen_molecules", revision="{pin}")',
        f'candidates = datasets.load_dataset("{repo}", "candidates", split="unseen_molecules", revision="{pin}")',
        f'train = datasets.load_dataset("{repo}", "wells", split="train", revision="{pin}")',
        "```",
        "",
        "Or in Python with pheno-bench, train and test arrays in one call:",
        "",
        "```python",
        "import pheno_bench",
        f'bench = pheno_bench.load_benchmark("{manifest.name}")   # after `splits download` (or build)',
        "X, y = bench.train.features, bench.train.molecule",
        "```",
        "",
    ]
    return f"---\n{_card_yaml(manifest)}\n---\n\n" + "\n".join(body)


def fold_set_card(root: str | os.PathLike, *, repo_id: str | None = None, revision: str | None = None) -> str:
    """The ``README.md`` of a fold set's dataset repository: one ``datasets`` config per fold and kind
    of file (``fold-<k>-wells`` ...), the fold fingerprints, pinned usage, then the fold set's own card."""
    from pheno_bench.folds import read_fold_set

    root = Path(root)
    fold_set = read_fold_set(root)
    first = read_manifest(root / fold_set.folds[0].path)
    configs = fold_configs(fold_set.k)
    repo, pin = repo_id or "ORG/NAME", revision or "<commit sha>"
    own = (root / CARD).read_text(encoding="utf-8") if (root / CARD).is_file() else ""
    if own.startswith("---\n") and "\n---\n" in own[4:]:
        own = own[4:].split("\n---\n", 1)[1]  # drop the folder card's own YAML front matter
    body = [
        f"# pheno-bench {fold_set.name}",
        "",
        f"- **version** {fold_set.version}, {fold_set.k} scaffold cross-validation folds (`fold-0/` .. `fold-{fold_set.k - 1}/`, "
        "each a complete frozen benchmark)",
        f"- **fingerprint** `{fold_set.fingerprint}` (sha256 of `manifest.json`)",
        *_primary_lines(first, fold_set.primary_metric, with_k=False),  # k differs per fold
        "",
        "| fold | fingerprint |",
        "|---:|---|",
        *(f"| {f.fold} | `{f.fingerprint}` |" for f in fold_set.folds),
        "",
        "## Use",
        "",
        "```bash",
        f"pheno-bench splits download {repo} --revision {pin}   # cached, pinned, sha256-verified",
        "```",
        "",
        "```python",
        "import datasets",
        f'train = datasets.load_dataset("{repo}", "fold-0-wells", split="train", revision="{pin}")',
        f'queries = datasets.load_dataset("{repo}", "fold-0-queries", split="unseen_molecules", revision="{pin}")',
        "",
        "import pheno_bench",
        f'bench = pheno_bench.load_benchmark("{fold_set.name}", fold=0)',
        "```",
        "",
        "Configs: " + ", ".join(f"`{name}`" for name in configs) + ".",
        "",
    ]
    return f"---\n{_card_yaml(first, configs)}\n---\n\n" + "\n".join(body) + own.lstrip("\n")


def _hub_error(repo_id: str, revision: str | None, exc: Exception, endpoint: str | None) -> PhenoBenchError:
    """One line for a failed Hub request: not found, refused, or unreachable (never an exception name alone)."""
    where = f"{repo_id}@{revision or 'main'} on {endpoint or constants.ENDPOINT}"
    first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    status = getattr(getattr(exc, "response", None), "status_code", None)
    not_found = (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError, EntryNotFoundError)
    if isinstance(exc, not_found) or status == 404 or (
        status is not None and status >= 500 and revision is not None and SHA_PATTERN.match(revision)
    ):
        return PhenoBenchError(
            f"{where}: dataset repository or revision not found; check ORG/NAME and --revision (a branch, tag or "
            "commit sha of the repo; log in with `hf auth login` for a private repo)"
        )
    if isinstance(exc, HfHubHTTPError):
        return PhenoBenchError(f"{where}: the Hub answered {first}; check your token (`hf auth login` or --token)")
    return PhenoBenchError(f"{where}: cannot reach the Hub ({type(exc).__name__}: {first}); check the network and $HF_ENDPOINT")


def _operations(root: Path, card: bytes) -> tuple[list[CommitOperationAdd], str, str]:
    """The files of a benchmark or fold set as commit operations, its name + version and fingerprint (verified first)."""
    from pheno_bench.folds import is_fold_set, verify_fold_set

    operations = [CommitOperationAdd(CARD, card), CommitOperationAdd(MANIFEST, str(root / MANIFEST))]
    if is_fold_set(root):
        fold_set = verify_fold_set(root)
        for entry in fold_set.folds:
            fold = root / entry.path
            operations.append(CommitOperationAdd(f"{entry.path}/{MANIFEST}", str(fold / MANIFEST)))
            operations += [CommitOperationAdd(f"{entry.path}/{f.path}", str(fold / f.path)) for f in read_manifest(fold).files]
        return operations, f"{fold_set.name} v{fold_set.version}", fold_set.fingerprint
    manifest = verify(root)
    operations += [CommitOperationAdd(f.path, str(root / f.path)) for f in manifest.files]
    return operations, f"{manifest.name} v{manifest.version}", manifest.fingerprint


def _card(root: Path, repo_id: str, revision: str | None) -> bytes:
    from pheno_bench.folds import is_fold_set

    if is_fold_set(root):
        return fold_set_card(root, repo_id=repo_id, revision=revision).encode()
    return dataset_card(read_manifest(root), repo_id=repo_id, revision=revision).encode()


def publish(
    root: str | os.PathLike,
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    private: bool = False,
    endpoint: str | None = None,
) -> str:
    """Upload the benchmark (or fold set) folder ``root`` to the dataset repo ``repo_id``.

    Every file is checked against its manifest first; the repo (and branch ``revision``) is created
    if needed. Two commits: the data with the card, then the card whose ``load_dataset`` and
    ``splits download`` snippets pin the first commit. Returns the first commit's sha, the revision
    to cite (it pins every data file at once).
    """
    root = Path(root)
    repo_id = repo_id_of(repo_id)
    refuse_restricted(root)
    operations, title, fingerprint = _operations(root, _card(root, repo_id, None))
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision not in (None, constants.DEFAULT_REVISION):
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        info = api.create_commit(
            repo_id, repo_type="dataset", revision=revision, operations=operations,
            commit_message=f"pheno-bench {title}", commit_description=f"fingerprint {fingerprint}",
        )
        api.create_commit(
            repo_id, repo_type="dataset", revision=revision,
            operations=[CommitOperationAdd(CARD, _card(root, repo_id, info.oid))],
            commit_message=f"Dataset card: pin revision {info.oid}",
        )
    except HTTPError as exc:  # HfHubHTTPError and connection errors
        raise _hub_error(repo_id, revision, exc, endpoint) from None
    return info.oid


#: Text in a source's licence (see the source adapters) that forbids re-hosting its features.
NO_REDISTRIBUTION = "never redistributed"


def refuse_restricted(root: str | os.PathLike) -> None:
    """Refuse to publish a benchmark built from a source whose licence forbids re-hosting its features.

    RxRx3-core (Recursion Non-Commercial EULA) is such a source: only its split definition may be
    shared, and users build the feature files from their own download (site/field-benchmarks.md).
    """
    from pheno_bench.folds import fold_root, is_fold_set, read_fold_set

    root = Path(root)
    manifests = [read_manifest(fold_root(root, e.fold)) for e in read_fold_set(root).folds] if is_fold_set(root) else [read_manifest(root)]
    for manifest in manifests:
        for source in manifest.sources:
            if NO_REDISTRIBUTION in source.licence:
                raise PhenoBenchError(
                    f"{root}: {manifest.name} holds features of source {source.name!r}, whose licence forbids re-hosting them "
                    f"({source.licence.split(';')[0]}); publish nothing: users build it locally with "
                    f"`pheno-bench splits build {manifest.name}` (see the Field benchmarks page)"
                )


def register(root: str | os.PathLike) -> Path:
    """Record the downloaded benchmark folder ``root`` in the registry, so ``locate(name)`` finds it.

    See :mod:`pheno_bench.registry`: the last download or build of a name is the one its name
    resolves to; other builds stay reachable by their fingerprint. Returns ``root``.
    """
    from pheno_bench.registry import register as record

    record(root, origin="download")
    return Path(root)


def _resolve(repo_id: str, revision: str | None, endpoint: str | None) -> str:
    """The commit sha of ``revision`` on the Hub: one request, no retries (an unreachable Hub fails fast)."""
    api = HfApi(endpoint=endpoint)
    info = api.dataset_info(repo_id, revision=revision or constants.DEFAULT_REVISION, timeout=CONNECT_TIMEOUT_S)
    return info.sha or revision


def _snapshot(repo_id: str, revision: str | None, cache_dir, **kwargs) -> Path:
    return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, cache_dir=cache_dir, **kwargs))


def _cached(repo_id: str, revision: str | None, cache_dir) -> Path | None:
    """The cached snapshot of ``revision`` (a branch via its cached ref, or a sha), or None."""
    try:
        return _snapshot(repo_id, revision, cache_dir, local_files_only=True)
    except Exception:  # not cached (or only partly): the caller fetches or reports
        return None


def _verify_download(snapshot: Path, repo_id: str, fresh: bool, offline: bool) -> None:
    """Check the snapshot against its manifest; say whose copy is wrong (the publisher's or the cache's)."""
    from pheno_bench.folds import is_fold_set, verify_fold_set

    where = f"{repo_id}@{snapshot.name}"
    if not (snapshot / MANIFEST).is_file():
        raise PhenoBenchError(f"{where}: not a pheno-bench benchmark (the repository has no {MANIFEST})")
    if fresh:
        remedy = (f"the published copy at {where} fails its own manifest, so the dataset on the Hub is broken "
                  "(not your download); tell its publisher and do not use it")
    else:
        fix = "run `pheno-bench splits download` again online with --force" if offline else "run `pheno-bench splits download` again with --force"
        remedy = f"the cached copy of {where} was altered after download; {fix} to fetch it again"
    try:
        verify_fold_set(snapshot, remedy=remedy) if is_fold_set(snapshot) else verify(snapshot, remedy=remedy)
    except PhenoBenchError as exc:
        raise PhenoBenchError(f"refused: {exc}") from None


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool = False,
    force: bool = False,
    endpoint: str | None = None,
) -> Path:
    """Fetch a benchmark (or fold set) from the Hub or the local cache, verify it and register it under its name.

    repo_id: ``ORG/NAME`` (a bare name means ``DEFAULT_ORG/NAME``); revision: branch, tag or
    commit sha (default ``main``); cache_dir: the huggingface_hub cache (default ``$HF_HUB_CACHE``);
    offline: use only the cache (as does ``HF_HUB_OFFLINE=1``); force: fetch again even if cached;
    endpoint: the Hub (default ``$HF_ENDPOINT`` or huggingface.co).

    The revision is resolved with one request (no retries): an unreachable Hub falls back to the
    cached copy of that revision, or fails at once with one line. Returns the snapshot folder, named
    by its commit sha; ``locate(name)`` finds it afterwards.
    """
    repo_id = repo_id_of(repo_id)
    where = f"{repo_id}@{revision or 'main'}"
    cache_text = cache_dir or constants.HF_HUB_CACHE
    offline = offline or constants.HF_HUB_OFFLINE
    if offline:
        snapshot = _cached(repo_id, revision, cache_dir)
        if snapshot is None:
            raise PhenoBenchError(f"{where}: not in the local cache and offline mode is on; download it once online (cache {cache_text})")
        fresh = False
    else:
        try:
            sha = _resolve(repo_id, revision, endpoint)
        except HfHubHTTPError as exc:
            raise _hub_error(repo_id, revision, exc, endpoint) from None
        except Exception as exc:  # connection refused, DNS, timeout: the Hub is unreachable
            snapshot = None if force else _cached(repo_id, revision, cache_dir)
            if snapshot is None:
                error = _hub_error(repo_id, revision, exc, endpoint)
                raise PhenoBenchError(f"{error}; {where} is not in the local cache either ({cache_text})") from None
            fresh = False
        else:
            fresh = force or _cached(repo_id, sha, cache_dir) is None
            try:  # by the revision as given, so that the cache records the branch for offline use
                snapshot = _snapshot(repo_id, revision, cache_dir, force_download=force, endpoint=endpoint)
            except (HfHubHTTPError, LocalEntryNotFoundError) as exc:
                raise _hub_error(repo_id, revision, getattr(exc, "__cause__", None) or exc, endpoint) from None
    _verify_download(snapshot, repo_id, fresh, offline)
    register(snapshot)
    return snapshot
