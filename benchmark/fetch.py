"""Fetching raw sources from their publishers: pinned, sha256-verified, restartable, with progress.

Two well-kept clients do the transfers; this module adds what a frozen benchmark needs on top:

* :func:`fetch_hub` — a dataset repository on the Hugging Face Hub (RxRx3-core) through
  ``huggingface_hub.hf_hub_download``: its cache (offline reuse with ``offline=True``), its
  ``.incomplete`` files that a later call resumes with HTTP range requests, its progress bars.
* :func:`fetch_http` — plain HTTPS files (the LINCS Cell Painting profiles on the Cell Painting
  Gallery's public S3 bucket, plate maps at a pinned GitHub commit, the Drug Repurposing Hub
  table) through ``pooch.retrieve``: pooch streams into a temporary file beside the target and
  moves it into place only once the transfer is complete and its hash checks, so an interrupted
  download leaves nothing behind and the next call restarts it cleanly.

Every raw file is checked against a sha256: the one pinned in the adapter where the publisher's
bytes are known, otherwise the one recorded at the first fetch in a lock file
(``$PHENO_BENCH_HOME/sources/<source>.lock.json``, with the Hub commit the files came from) and
checked on every later fetch or build. A mismatch is refused with one line; nothing that fails a
check is ever handed to an adapter.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import sha256_file
from pheno_bench.paths import home

LOCK_SUFFIX = ".lock.json"


class FetchError(PhenoBenchError):
    """A raw file could not be fetched or failed its check (one line: what, where, how to fix)."""


@dataclass(frozen=True)
class RemoteFile:
    """One raw file of a source.

    name: its path inside the source's folder (``SQ00015054/SQ00015054_normalized_feature_select.csv.gz``).
    url: where it is published (HTTP fetches only; Hub files are addressed by ``name``).
    sha256: the publisher's bytes, where known (pinned); ``None``: recorded at the first fetch.
    """

    name: str
    url: str | None = None
    sha256: str | None = None


@dataclass
class Lock:
    """The sha256 of every raw file of one source as first fetched, and the Hub commit (if any).

    Stored as JSON at :func:`lock_path`; written atomically. ``files``: name -> sha256.
    """

    source: str
    path: Path
    revision: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, source: str) -> "Lock":
        path = lock_path(source)
        if not path.is_file():
            return cls(source, path)
        try:
            data = json.loads(path.read_text())
            return cls(source, path, data.get("revision"), dict(data.get("files", {})))
        except (ValueError, OSError, AttributeError) as exc:
            raise FetchError(f"{path}: unreadable lock file ({exc}); delete it to record the sha256s again at the next fetch") from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"source": self.source, "revision": self.revision, "files": dict(sorted(self.files.items()))}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        os.replace(tmp, self.path)


def lock_path(source: str) -> Path:
    """Where the sha256s of ``source``'s raw files are recorded at the first fetch."""
    return home() / "sources" / f"{source}{LOCK_SUFFIX}"


def check_file(path: Path, remote: RemoteFile, lock: Lock, *, fix: str) -> str:
    """The file's sha256 after checking it against the pinned or recorded one (recorded if neither).

    A mismatch is one :class:`FetchError` line naming the file, both hashes and ``fix``.
    """
    actual = sha256_file(path)
    expected = remote.sha256 or lock.files.get(remote.name)
    if expected is None:
        lock.files[remote.name] = actual
        return actual
    if actual != expected:
        kind = "pinned" if remote.sha256 else f"recorded at the first fetch in {lock.path}"
        raise FetchError(
            f"{path}: sha256 {actual[:16]}… does not match the {kind} {expected[:16]}… "
            f"(altered, truncated or a different release); {fix}"
        )
    lock.files.setdefault(remote.name, actual)
    return actual


# --- Hugging Face Hub ----------------------------------------------------------------------


def fetch_hub(
    repo_id: str,
    files: list[RemoteFile],
    *,
    source: str,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    endpoint: str | None = None,
    offline: bool = False,
    force: bool = False,
    update: bool = False,
) -> Path:
    """Fetch ``files`` of dataset repo ``repo_id`` at one commit; return the snapshot folder holding them.

    revision: branch, tag or commit. Default: the commit recorded in the lock at the first fetch
    (so later fetches get exactly the same files), else ``main``. A revision other than the recorded
    one is refused unless ``update`` (which records the new commit and its files' sha256s).
    offline: only the local Hub cache (``HF_HUB_OFFLINE`` semantics). force: download again.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    lock = Lock.load(source)
    if update:
        lock.revision, lock.files = None, {}
    if revision and lock.revision and revision != lock.revision:
        raise FetchError(
            f"{source}: revision {revision!r} differs from the commit {lock.revision} recorded in {lock.path}; "
            f"pass --update to switch (the files' sha256s are recorded again), or drop --revision"
        )
    wanted = revision or lock.revision or "main"
    hint = f"pheno-bench sources fetch {source}"
    if not offline and not force:
        offline = _resolve_once(repo_id, wanted, endpoint, lock=lock)
    folders = set()
    for remote in files:
        try:
            path = Path(
                hf_hub_download(
                    repo_id, remote.name, repo_type="dataset", revision=wanted, cache_dir=cache_dir,
                    endpoint=endpoint, local_files_only=offline, force_download=force,
                )
            )
        except RevisionNotFoundError:
            raise FetchError(f"{repo_id}: revision {wanted!r} not found on the Hub; check --revision") from None
        except RepositoryNotFoundError:  # some Hub servers answer an unknown revision so too
            raise FetchError(
                f"{repo_id}: revision {wanted!r} not found on the Hub, or the dataset repository is not accessible; "
                "check --revision and your Hub login"
            ) from None
        except LocalEntryNotFoundError:
            where = "the local Hub cache" if offline else "the Hub (no connection?)"
            raise FetchError(
                f"{repo_id}@{wanted}: {remote.name} is not in {where}; "
                + ("run once with network: " + hint if offline else "check the network and run again (partial downloads resume)")
            ) from None
        except EntryNotFoundError:
            raise FetchError(f"{repo_id}@{wanted}: no file {remote.name!r}; is the revision a release of the dataset?") from None
        except (HfHubHTTPError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FetchError(f"{repo_id}@{wanted}: {remote.name} could not be downloaded ({first}); run again: partial downloads resume") from None
        check_file(path, remote, lock, fix=f"run `{hint} --force` to download it again")
        folders.add(path.parent)
    if len(folders) != 1:
        raise FetchError(f"{repo_id}@{wanted}: files came from different commits {sorted(f.name for f in folders)}; pass a commit sha as --revision")
    folder = folders.pop()
    commit = folder.name
    if lock.revision not in (None, commit):
        raise FetchError(f"{repo_id}: got commit {commit}, but {lock.path} records {lock.revision}; pass --update to switch")
    lock.revision = commit
    lock.save()
    return folder


def _resolve_once(repo_id: str, wanted: str, endpoint: str | None, *, lock: "Lock") -> bool:
    """Ask the Hub once (no retries) whether ``wanted`` exists, before any download.

    Returns True when the Hub cannot be reached but the lock records a commit, so the cached files of
    that commit are used (offline reuse); raises one FetchError line when the repository or revision is
    unknown, or when the Hub is unreachable and nothing was fetched before. Without this, the Hub client
    retries a dead connection for about 25 seconds, printing a line per retry.
    """
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    from pheno_bench.errors import PhenoBenchError
    from pheno_bench.hub import _hub_error, _resolve

    not_found = FetchError(
        f"{repo_id}: revision {wanted!r} not found on the Hub, or the dataset repository is not accessible; "
        "check --revision and your Hub login"
    )
    try:
        _resolve(repo_id, wanted, endpoint)
        return False
    except RevisionNotFoundError:
        raise FetchError(f"{repo_id}: revision {wanted!r} not found on the Hub; check --revision") from None
    except RepositoryNotFoundError:  # some Hub servers answer an unknown revision so too
        raise not_found from None
    except Exception as exc:  # connection refused, DNS failure, timeout, HTTP error
        error: PhenoBenchError = _hub_error(repo_id, wanted, exc, endpoint)
        if "not found" in str(error):
            raise not_found from None
        if lock.revision and lock.revision == wanted:
            return True  # the recorded commit's files may be cached: hf_hub_download(local_files_only=True) says if not
        raise FetchError(f"{error}; nothing of {repo_id} was fetched before, so there is no cached copy to use") from None


# --- plain HTTP(S) -------------------------------------------------------------------------


def fetch_http(
    files: list[RemoteFile],
    folder: str | os.PathLike,
    *,
    source: str,
    offline: bool = False,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Fetch ``files`` into ``folder`` (kept there between calls); return the folder.

    A file already in ``folder`` is checked, not fetched again (``force`` fetches it again, replacing
    it only once the new copy is complete and checked). offline: never touch the network; a missing
    file is one error. progress: one progress bar over the files (tqdm).
    """
    import pooch
    import requests

    pooch.get_logger().setLevel(logging.WARNING)  # its own logger: "Downloading data from ..." lines off
    folder = Path(folder)
    lock = Lock.load(source)
    hint = f"pheno-bench sources fetch {source}"
    todo = [f for f in files if force or not (folder / f.name).is_file()]
    for remote in files:
        if remote not in todo:
            check_file(folder / remote.name, remote, lock, fix=f"delete it or run `{hint} --force` to download it again")
    if todo and offline:
        raise FetchError(f"{folder / todo[0].name}: not fetched yet ({len(todo)} of {len(files)} files missing) and offline; run once with network: {hint}")
    bar = _bar(len(todo), f"{source}: downloading", progress)
    try:
        for remote in todo:
            target = folder / remote.name
            incoming = target.parent / ".incoming"
            incoming.mkdir(parents=True, exist_ok=True)
            expected = remote.sha256 or lock.files.get(remote.name)
            (incoming / target.name).unlink(missing_ok=True)  # a leftover of a failed check is never reused
            try:
                pooch.retrieve(
                    remote.url, known_hash=f"sha256:{expected}" if expected else None, fname=target.name,
                    path=incoming, progressbar=False,
                )
            except ValueError as exc:  # pooch: the downloaded bytes do not have the expected hash
                if "hash" not in str(exc).lower():
                    raise
                kind = "pinned" if remote.sha256 else f"recorded in {lock.path}"
                raise FetchError(
                    f"{remote.url}: the server's file does not match the {kind} sha256 {expected[:16]}…; "
                    "nothing was kept (a different release? report it before trusting it)"
                ) from None
            except (requests.RequestException, OSError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise FetchError(f"{remote.url}: download failed ({first[:200]}); nothing was kept, run `{hint}` again") from None
            check_file(incoming / target.name, remote, lock, fix="nothing was kept; report it")
            os.replace(incoming / target.name, target)
            bar.update(1)
    finally:
        bar.close()
        lock.save()
    return folder


def _bar(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="file", disable=not enabled or total == 0)


# --- one entry point per source ------------------------------------------------------------


@dataclass
class Fetched:
    """What :func:`fetch_source` reports: the folder, each raw file's sha256, the Hub commit (if any)."""

    source: str
    folder: Path
    files: dict[str, str]
    revision: str | None
    lock: Path


def fetch_source(
    name: str,
    *,
    data_root: str | os.PathLike | None = None,
    revision: str | None = None,
    offline: bool = False,
    force: bool = False,
    update: bool = False,
    progress: bool = True,
) -> Fetched:
    """Fetch (or check the local copy of) the raw files of source ``name`` (``rxrx3-core``, ``lincs-cp``).

    revision and update apply to Hub sources only. Returns what was fetched and where.
    """
    from pheno_bench.sources import SOURCES, get_source

    source = get_source(name)
    if source.fetch is None:
        fetchable = sorted(n for n, s in SOURCES.items() if s.fetch is not None)
        raise FetchError(f"source {name!r} is read from the data root, not fetched; fetchable sources: {', '.join(fetchable)}")
    options = {"offline": offline or None, "force": force}  # None: the source's default ($HF_HUB_OFFLINE for the Hub)
    if name == "rxrx3-core":
        options |= {"revision": revision, "update": update}
    elif revision or update:
        raise FetchError(f"--revision/--update apply to Hub sources only, not {name}")
    else:
        options["progress"] = progress
    folder = source.fetch(data_root, **options)
    lock = Lock.load(name)
    return Fetched(name, folder, dict(sorted(lock.files.items())), lock.revision, lock.path)
