"""Publish a built benchmark to the Hugging Face Hub and download it back, pinned and verified.

A benchmark is one *dataset* repository on the Hub whose files are exactly the benchmark folder
(see :mod:`pheno_bench.manifest`) plus a dataset card (``README.md``, :func:`dataset_card`).
One commit holds one whole benchmark, so a commit sha pins every file at once.

huggingface_hub checks only file sizes when it downloads; :func:`download` therefore checks every
file's sha256 against ``manifest.json`` before it hands the folder out.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import CommitOperationAdd, DatasetCardData, HfApi, constants, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    HTTPError,
    LocalEntryNotFoundError,
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
from pheno_bench.paths import benchmark_home
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


def _card_yaml(manifest: Manifest) -> str:
    configs = [
        {"config_name": name, "data_files": [{"split": s, "path": p} for s, p in files.items()]}
        | ({"default": True} if name == "wells" else {})
        for name, files in CONFIGS.items()
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


def dataset_card(manifest: Manifest, *, repo_id: str | None = None) -> str:
    """The ``README.md`` of the benchmark's dataset repository.

    YAML front matter (licence, tags, ``configs`` for ``datasets.load_dataset``) and a body with
    the split table, the fingerprint, the sources with their licences and citations, and usage.
    ``repo_id`` fills the usage snippets (``ORG/NAME`` when not given).
    """
    repo = repo_id or "ORG/NAME"
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
        f"pheno-bench splits download {repo} --revision <commit sha>   # cached, pinned, sha256-verified",
        f"pheno-bench splits info {manifest.name}",
        "```",
        "",
        "```python",
        "import datasets",
        f'queries = datasets.load_dataset("{repo}", "queries", split="unseen_molecules")',
        f'candidates = datasets.load_dataset("{repo}", "candidates", split="unseen_molecules")',
        f'train = datasets.load_dataset("{repo}", "wells", split="train")',
        "```",
        "",
    ]
    return f"---\n{_card_yaml(manifest)}\n---\n\n" + "\n".join(body)


def _hub_error(repo_id: str, revision: str | None, exc: Exception, endpoint: str | None) -> PhenoBenchError:
    where = f"{repo_id}@{revision or 'main'} on {endpoint or constants.ENDPOINT}"
    first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    if isinstance(exc, RevisionNotFoundError):
        return PhenoBenchError(f"{where}: revision not found; pass a branch, tag or commit sha of the repo to --revision")
    if isinstance(exc, RepositoryNotFoundError):
        return PhenoBenchError(
            f"{where}: dataset repository or revision not found; check ORG/NAME and --revision "
            "(log in with `hf auth login` for a private repo)"
        )
    if isinstance(exc, HfHubHTTPError):
        return PhenoBenchError(f"{where}: the Hub answered {first}; check your token (`hf auth login` or --token)")
    return PhenoBenchError(f"{where}: cannot reach the Hub ({first}); check the network and $HF_ENDPOINT")


def publish(
    root: str | os.PathLike,
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    private: bool = False,
    endpoint: str | None = None,
) -> str:
    """Upload the benchmark folder ``root`` to the dataset repo ``repo_id`` in one commit.

    Every file is checked against the manifest first; the repo (and branch ``revision``) is created
    if needed; the uploaded ``README.md`` is :func:`dataset_card` for ``repo_id``. Returns the
    commit sha, which pins the whole benchmark.
    """
    root = Path(root)
    manifest = verify(root)
    repo_id = repo_id_of(repo_id)
    card = dataset_card(manifest, repo_id=repo_id).encode()
    operations = [CommitOperationAdd(CARD, card), CommitOperationAdd(MANIFEST, str(root / MANIFEST))]
    operations += [CommitOperationAdd(f.path, str(root / f.path)) for f in manifest.files]
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision not in (None, constants.DEFAULT_REVISION):
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        info = api.create_commit(
            repo_id,
            repo_type="dataset",
            revision=revision,
            operations=operations,
            commit_message=f"pheno-bench {manifest.name} v{manifest.version}",
            commit_description=f"fingerprint {manifest.fingerprint}",
        )
    except HTTPError as exc:  # HfHubHTTPError and connection errors
        raise _hub_error(repo_id, revision, exc, endpoint) from None
    return info.oid


def register(root: str | os.PathLike) -> Path:
    """Point ``benchmark_home(name)`` at the benchmark folder ``root`` (a symlink), so ``locate(name)`` finds it.

    A folder already there (a local ``splits build``) is kept if it is the same benchmark (same
    fingerprint) and refused otherwise.
    """
    root = Path(root).resolve()
    manifest = read_manifest(root)
    link = benchmark_home(manifest.name)
    if link.exists() and not link.is_symlink():
        theirs = read_manifest(link).fingerprint
        if theirs != manifest.fingerprint:
            raise PhenoBenchError(
                f"{link}: holds another build of {manifest.name} (fingerprint {theirs[:12]}, "
                f"downloaded {manifest.fingerprint[:12]}); move it away or set $PHENO_BENCH_HOME, then download again"
            )
        return link
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(root, target_is_directory=True)
    os.replace(tmp, link)
    return link


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool = False,
    force: bool = False,
    endpoint: str | None = None,
) -> Path:
    """Fetch a benchmark from the Hub (or the local cache), verify it and register it under its name.

    repo_id: ``ORG/NAME`` (a bare name means ``DEFAULT_ORG/NAME``); revision: branch, tag or
    commit sha (default ``main``); cache_dir: the huggingface_hub cache (default ``$HF_HUB_CACHE``);
    offline: use only the cache (as does ``HF_HUB_OFFLINE=1``); force: fetch again even if cached;
    endpoint: the Hub (default ``$HF_ENDPOINT`` or huggingface.co).
    Returns the snapshot folder, named by its commit sha; ``locate(manifest.name)`` finds it after.
    """
    repo_id = repo_id_of(repo_id)
    try:
        snapshot = Path(
            snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=offline,
                force_download=force,
                endpoint=endpoint,
            )
        )
    except LocalEntryNotFoundError as exc:
        if offline or constants.HF_HUB_OFFLINE:
            reason = "not in the local cache and offline mode is on; download it once online"
        else:
            reason = f"cannot be fetched ({str(exc).splitlines()[0]}) and is not in the local cache"
        where = f"{repo_id}@{revision or 'main'}"
        raise PhenoBenchError(f"{where}: {reason} (cache {cache_dir or constants.HF_HUB_CACHE})") from None
    except HfHubHTTPError as exc:
        raise _hub_error(repo_id, revision, exc, endpoint) from None
    verify(
        snapshot,
        remedy=f"refused (from {repo_id}@{snapshot.name}); a plain download reuses the cached copy: "
        "run `pheno-bench splits download` again with --force",
    )
    register(snapshot)
    return snapshot
