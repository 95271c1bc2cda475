"""A dataset repository of the Hugging Face Hub, every file checked against the Hub's own checksum.

The Hub publishes a checksum for every file of every commit, in its file metadata
(``POST /api/datasets/<repo>/paths-info/<commit>``, what ``HfApi.get_paths_info`` reads): the
LFS sha256 of a large file's bytes, and for the others the git blob id (sha1 of
``b"blob <size>\\0" + bytes``). :func:`fetch_hub`:

1. resolves the revision (a branch, tag or commit) to its commit sha with one request, no
   retries (an unreachable Hub is one line within seconds); the sha is what is recorded;
2. reads the publisher checksums of the files at that commit (one request) and, where the
   adapter pins a release, checks that the Hub still publishes the pinned checksums;
3. checks a copy kept from an earlier fetch against them, or downloads the file with
   ``huggingface_hub.hf_hub_download`` into a **temporary** cache beside the kept copies, checks
   it, and only then moves it into place. huggingface_hub's own cache writes a forced download
   over its blob before anything can check it; a download that fails, is cut, or arrives with
   a flipped byte therefore never touches the kept copy here.

Kept copies: ``$PHENO_BENCH_HOME/sources/<source>/<commit sha>/<file>``; the lock
(:class:`pheno_bench.remote.Lock`) records the commit, each file's sha256 and the Hub checksum it
was verified against, so offline fetches and builds check the kept copies against it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pheno_bench.remote import HUB_BLOB, HUB_LFS, TIMEOUT_S, Digests, FetchError, Lock, RemoteFile, digests, first_line, warn
from pheno_bench.paths import home

SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class HubChecksum:
    """What the Hub publishes for one file at one commit: ``kind`` HUB_LFS (sha256) or HUB_BLOB (git blob sha1), ``value``, ``size``."""

    kind: str
    value: str
    size: int

    def digests(self, path: Path) -> Digests:
        return digests(path, git_blob=self.kind == HUB_BLOB)

    def matches(self, got: Digests) -> bool:
        return got.size == self.size and (got.sha256 if self.kind == HUB_LFS else got.git_sha1) == self.value

    @property
    def label(self) -> str:
        return "sha256" if self.kind == HUB_LFS else "git blob id"

    def describe(self) -> str:
        return f"{'LFS sha256' if self.kind == HUB_LFS else 'git blob id'} {self.value[:16]}… ({self.size} bytes)"


def store(source: str) -> Path:
    """Where the verified copies of a Hub source's files are kept, one folder per commit sha."""
    return home() / "sources" / source


def resolve_commit(repo_id: str, revision: str, endpoint: str | None) -> str:
    """The commit sha of ``revision`` (branch, tag or sha) of dataset ``repo_id``: one request, no retries."""
    from huggingface_hub import HfApi

    info = HfApi(endpoint=endpoint).dataset_info(repo_id, revision=revision, timeout=TIMEOUT_S)
    if not info.sha:
        raise FetchError(f"{repo_id}@{revision}: the Hub named no commit for this revision; pass a commit sha as --revision")
    return info.sha


def hub_checksums(repo_id: str, commit: str, names: list[str], endpoint: str | None) -> dict[str, HubChecksum]:
    """The Hub's checksum of each of ``names`` at ``commit`` (paths missing at that commit are absent).

    The same request as ``HfApi.get_paths_info`` (``POST .../paths-info/<commit>``), with a
    timeout: the Hub client's own call has none.
    """
    from huggingface_hub import constants
    from huggingface_hub.hf_api import RepoFile
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    response = get_session().post(
        f"{endpoint}/api/datasets/{repo_id}/paths-info/{commit}", data={"paths": names, "expand": False},
        headers=build_hf_headers(), timeout=TIMEOUT_S,
    )
    hf_raise_for_status(response)
    out = {}
    for item in response.json():
        if item.get("type") != "file":
            continue
        entry = RepoFile(**item)
        if entry.lfs is not None:
            out[entry.path] = HubChecksum(HUB_LFS, entry.lfs.sha256, int(entry.lfs.size))
        else:
            out[entry.path] = HubChecksum(HUB_BLOB, entry.blob_id, int(entry.size))
    return out


def failure(exc: BaseException) -> str:
    """What kind of failure a Hub request raised: ``revision``, ``repository``, ``missing``, ``timeout``,
    ``http`` (an error status), ``cut`` (a transfer ended early), ``unreachable`` (refused, DNS) or ``other``."""
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, RevisionNotFoundError):
        return "revision"
    if isinstance(exc, RepositoryNotFoundError) or status == 401:
        return "repository"
    if isinstance(exc, EntryNotFoundError) or status == 404:
        return "missing"
    if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower():
        return "timeout"
    if isinstance(exc, HfHubHTTPError) and status is not None:
        return "http"
    text = str(exc).lower()
    if "protocolerror" in type(exc).__name__.lower() or "incomplete" in text or "consistency check failed" in text or "peer closed" in text:
        return "cut"
    if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "requests", "urllib3") or isinstance(exc, ConnectionError):
        return "unreachable"
    return "other"


def network_error(what: str, exc: BaseException, endpoint: str | None, *, fix: str) -> FetchError:
    """One line for a failed Hub request: what failed (``what``), why, and ``fix``."""
    from huggingface_hub import constants

    where = endpoint or constants.ENDPOINT
    kind = failure(exc)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    text = {
        "revision": f"revision not found on the Hub ({where}); check --revision (a branch, tag or commit sha)",
        "repository": f"revision not found on the Hub, or the dataset repository is not accessible ({where}); "
                      "check --revision and your Hub login (`hf auth login`)",
        "missing": f"not found on the Hub ({where}, HTTP 404); {fix}",
        "timeout": f"the Hub ({where}) did not answer within {TIMEOUT_S:g} s ({first_line(exc)}); {fix}",
        "http": f"the Hub ({where}) answered HTTP {status}; {fix}",
        "cut": f"the transfer from the Hub ({where}) was cut ({first_line(exc)}); {fix}",
        "unreachable": f"cannot reach the Hub ({where}; {first_line(exc)}); check the network and $HF_ENDPOINT; {fix}",
        "other": f"transfer failed ({first_line(exc)}); {fix}",
    }[kind]
    return FetchError(f"{what}: {text}")


@contextmanager
def _quiet_hub():
    """The Hub client's retry and resume chatter off: a failure is reported once, by us."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download(repo_id: str, name: str, commit: str, endpoint: str | None, staging: Path) -> Path:
    """``name`` at ``commit`` into a fresh temporary Hub cache under ``staging``; the downloaded file."""
    from huggingface_hub import hf_hub_download

    with _quiet_hub():
        path = hf_hub_download(repo_id, name, repo_type="dataset", revision=commit, cache_dir=staging / "hub",
                               endpoint=endpoint, etag_timeout=TIMEOUT_S)
    return Path(path).resolve()


def fetch_hub(
    repo_id: str,
    files: list[RemoteFile],
    *,
    source: str,
    revision: str | None = None,
    pinned_revision: str | None = None,
    endpoint: str | None = None,
    offline: bool = False,
    force: bool = False,
    update: bool = False,
) -> Path:
    """Fetch ``files`` of dataset repo ``repo_id`` at one commit, each checked against the Hub's checksum; their folder.

    revision: branch, tag or commit. Default: the commit recorded in the lock at the last fetch
    (later fetches get exactly the same files), else ``pinned_revision`` (the adapter's pinned
    release), else ``main``. A commit other than the recorded (or pinned) one is refused unless
    ``update``. A ``RemoteFile.sha256`` pins the file's sha256 at ``pinned_revision``.
    offline: only the kept copies, checked against the lock. force: download every file again;
    a kept copy is replaced only by a download that checks.
    """
    lock = Lock.load(source)
    if update:
        lock.reset()
    hint = f"pheno-bench sources fetch {source}"
    anchor = lock.revision or pinned_revision
    wanted = revision or anchor or "main"
    where = f"{repo_id}@{wanted}"
    if offline:
        commit = wanted if SHA.match(wanted) else None
        if not lock.revision and not (commit and commit == pinned_revision):
            raise FetchError(f"{where}: offline, and nothing of {repo_id} was fetched before (no commit in {lock.path}); run once with network: {hint}")
        if commit is None or (lock.revision and commit != lock.revision):
            raise FetchError(f"{where}: offline, and this is not the commit fetched before ({lock.revision}, {lock.path}); "
                             f"run once with network: {hint} --revision {wanted} --update")
        return _kept(repo_id, files, commit, lock, source=source, hint=hint, pinned_revision=pinned_revision)

    kept = store(source) / lock.revision if lock.revision else None
    try:
        commit = resolve_commit(repo_id, wanted, endpoint)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        down = failure(exc) in ("timeout", "unreachable", "cut") or (failure(exc) == "http" and exc.response.status_code >= 500)
        if down and not force and lock.revision and revision in (None, lock.revision):
            warn(f"{where}: the Hub cannot be reached ({first_line(exc)}); using the copies of commit {lock.revision} verified when they were fetched")
            return _kept(repo_id, files, lock.revision, lock, source=source, hint=hint, pinned_revision=pinned_revision)
        if not down:
            fix = "nothing was downloaded"
        elif kept is not None and kept.is_dir():
            fix = f"nothing was downloaded and the copy at {kept} is unchanged; run again once the Hub answers"
        else:
            fix = f"nothing of {repo_id} was fetched before, so there is no kept copy to use; run again once the Hub answers"
        raise network_error(where, exc, endpoint, fix=fix) from None
    if anchor and commit != anchor and not update:
        kind = f"the commit recorded in {lock.path}" if lock.revision else "the pinned release commit"
        raise FetchError(f"{repo_id}: revision {wanted!r} is commit {commit}, not {kind} {anchor}; pass --update to switch "
                         "(its files are verified and recorded again; a different commit makes a different benchmark), or drop --revision")

    names = [f.name for f in files]
    try:
        published = hub_checksums(repo_id, commit, names, endpoint)
    except Exception as exc:  # noqa: BLE001
        raise network_error(f"{repo_id}@{commit}: file checksums", exc, endpoint, fix="nothing was downloaded; run again") from None
    if missing := [n for n in names if n not in published]:
        raise FetchError(f"{repo_id}@{commit}: no file {missing[0]!r} at this commit; is the revision a release of the dataset?")
    if commit == pinned_revision:
        for remote in files:
            expected = published[remote.name]
            if remote.sha256 and expected.kind == HUB_LFS and expected.value != remote.sha256:
                raise FetchError(f"{repo_id}@{commit}: the Hub now publishes {expected.describe()} for {remote.name}, not the pinned "
                                 f"sha256 {remote.sha256[:16]}…; the release changed under its commit: report it, do not use it")

    folder = store(source) / commit
    staging_root = store(source).parent / ".incoming"
    staging_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{source}-", dir=staging_root))
    try:
        # every file is checked (kept copy) or downloaded and checked (staging) before any kept copy is replaced
        verified, moves = {}, []
        for remote in files:
            expected = published[remote.name]
            pinned = remote.sha256 if commit == pinned_revision else None
            target = folder / remote.name
            if target.is_file() and not force:
                got = expected.digests(target)
                if problem := _mismatch(got, expected, pinned):
                    raise FetchError(f"{target}: {problem} for commit {commit} (altered or truncated on disk); run `{hint} --force` "
                                     "to download it again (the copy is replaced only once the new one checks)")
            else:
                note = "the download was discarded" + (f" and the copy at {target} is unchanged" if target.is_file() else "")
                try:
                    received = _download(repo_id, remote.name, commit, endpoint, staging / str(len(moves)))
                except Exception as exc:  # noqa: BLE001
                    raise network_error(f"{repo_id}@{commit}: {remote.name}", exc, endpoint, fix=f"{note}; run `{hint}` again") from None
                got = expected.digests(received)
                if problem := _mismatch(got, expected, pinned):
                    raise FetchError(f"{repo_id}@{commit}: {remote.name} as received {problem} (corrupted or altered on the way); "
                                     f"{note}; run `{hint}` again and report it if it persists")
                moves.append((received, target))
            verified[remote.name] = (got, expected)
        for received, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(received, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for name, (got, expected) in verified.items():
        lock.record(name, got.sha256, expected.kind, expected.value, got.size)
    lock.revision = commit
    lock.save()
    return folder


def _mismatch(got: Digests, expected: HubChecksum, pinned: str | None) -> str | None:
    """Why ``got`` is not the published file (None when it is): the Hub's checksum first, then the pinned sha256."""
    if not expected.matches(got):
        shown = got.sha256 if expected.kind == HUB_LFS else got.git_sha1
        return f"has {expected.label} {shown[:16]}… ({got.size} bytes), not the Hub's {expected.describe()}"
    if pinned and got.sha256 != pinned:
        return f"has sha256 {got.sha256[:16]}…, the Hub's checksum but not the pinned sha256 {pinned[:16]}… (the release changed under its commit: report it)"
    return None


def _kept(repo_id: str, files: list[RemoteFile], commit: str, lock: Lock, *, source: str, hint: str,
          pinned_revision: str | None = None) -> Path:
    """The kept copies of ``commit``, each checked against its pinned sha256 or the one recorded when it was verified."""
    folder = store(source) / commit
    for remote in files:
        path = folder / remote.name
        if not path.is_file():
            raise FetchError(f"{repo_id}@{commit}: {remote.name} is not among the verified copies ({folder}); run once with network: {hint}")
        pinned = remote.sha256 if commit == pinned_revision else None
        expected = pinned or (lock.files.get(remote.name) if lock.revision == commit else None)
        if expected is None:
            raise FetchError(f"{path}: no sha256 recorded for it in {lock.path}; run once with network to verify it: {hint}")
        actual = digests(path).sha256
        if actual != expected:
            kind = "the pinned sha256" if pinned else f"the sha256 recorded in {lock.path} when it was verified"
            raise FetchError(f"{path}: sha256 {actual[:16]}… does not match {kind}, {expected[:16]}… (altered or truncated on disk); "
                             f"run `{hint} --force` with network to download it again (the copy is replaced only once the new one checks)")
    return folder
