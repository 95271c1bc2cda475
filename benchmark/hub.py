"""Publish a built benchmark to the Hugging Face Hub and download it back, pinned and verified.

A benchmark is one *dataset* repository on the Hub whose files are exactly the benchmark folder
(see :mod:`pheno_bench.manifest`) plus a dataset card (``README.md``, :func:`pheno_bench.cards.dataset_card`). A fold
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

from huggingface_hub import CommitOperationAdd, HfApi, constants, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from pheno_bench.cards import CARD, CONFIGS, HUB_LICENCES, TAGS, dataset_card, fold_configs, fold_set_card  # noqa: F401 (the cards are re-exported)
from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import fold_root, is_fold_set, read_fold_set, verify_fold_set
from pheno_bench.manifest import MANIFEST, read_manifest, verify
from pheno_bench.registry import register as record

#: Organisation used when a repo id is given without one (``cell-injury-v1`` -> ``pheno-bench/cell-injury-v1``).
DEFAULT_ORG = "pheno-bench"
SHA_PATTERN = re.compile(r"^[0-9a-f]{40}$")
#: Seconds to wait for the Hub to answer the first request (resolving the revision).
CONNECT_TIMEOUT_S = 10.0


def repo_id_of(name: str) -> str:
    """``ORG/NAME`` as given, or ``DEFAULT_ORG/NAME`` for a bare benchmark name."""
    return name if "/" in name else f"{DEFAULT_ORG}/{name}"


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
