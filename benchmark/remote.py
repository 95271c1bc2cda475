"""Remote raw files, checked: digests, the per-source lock of verified checksums, one file's check,
and plain HTTPS downloads (:func:`fetch_http`). The machinery under the source adapters that fetch
from their publishers (see :mod:`pheno_bench.fetch` for the design, :mod:`pheno_bench.fetch_hub`
for Hub datasets); :func:`pheno_bench.fetch.fetch_source` is the one entry point per source.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pheno_bench.errors import PhenoBenchError
from pheno_bench.paths import home

LOCK_SUFFIX = ".lock.json"
#: Seconds to wait for a server to answer (HTTP HEAD of a file, the Hub's API).
TIMEOUT_S = 10.0
#: How each file was verified (the ``publisher`` field of a lock's ``checks``).
PINNED = "pinned sha256"
HUB_LFS = "Hub LFS sha256"
HUB_BLOB = "Hub git blob id"
S3_ETAG = "S3 ETag (MD5)"
FIRST_USE = "first use (no publisher checksum)"
LOCKED = "sha256 recorded in the lock"
log = logging.getLogger("pheno_bench.fetch")
PLAIN_MD5 = re.compile(r'^(W/)?"?([0-9a-fA-F]{32})"?$')


class FetchError(PhenoBenchError):
    """A raw file could not be fetched or failed its check (one line: what, where, how to fix)."""


def warn(message: str) -> None:
    """A visible warning on stderr (the ``pheno_bench.fetch`` logger; shown even when logging is not configured)."""
    log.warning(f"warning: {message}")


@dataclass(frozen=True)
class RemoteFile:
    """One raw file of a source.

    name: its path inside the source's folder (``profiles/SQ00015054/SQ00015054_normalized_feature_select.csv.gz``).
    url: where it is published (HTTP fetches only; Hub files are addressed by ``name``).
    sha256: the publisher's bytes, where known (pinned); ``None``: checked against what the
    publisher exposes at fetch time, or recorded at first use.
    """

    name: str
    url: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Digests:
    """A file's size and checksums, computed in one pass (:func:`digests`)."""

    size: int
    sha256: str
    git_sha1: str | None = None
    md5: str | None = None


def digests(path: str | os.PathLike, *, git_blob: bool = False, md5: bool = False) -> Digests:
    """Size and sha256 of ``path``; also its git blob id (sha1 of ``b"blob <size>\\0" + bytes``) and MD5 if asked."""
    path = Path(path)
    size = path.stat().st_size
    sha = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % size) if git_blob else None
    plain = hashlib.md5() if md5 else None
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
            if blob is not None:
                blob.update(chunk)
            if plain is not None:
                plain.update(chunk)
    return Digests(size, sha.hexdigest(), blob.hexdigest() if blob else None, plain.hexdigest() if plain else None)


@dataclass
class Lock:
    """What was fetched for one source: the Hub commit (if any), each file's sha256, and how it was verified.

    Stored as JSON at :func:`lock_path`; written atomically. ``files``: name -> sha256;
    ``checks``: name -> ``{"publisher": how it was verified (PINNED, HUB_LFS, ...), "checksum": the
    publisher's value, "size": bytes}``.
    """

    source: str
    path: Path
    revision: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    checks: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, source: str) -> "Lock":
        path = lock_path(source)
        if not path.is_file():
            return cls(source, path)
        try:
            data = json.loads(path.read_text())
            return cls(source, path, data.get("revision"), dict(data.get("files", {})), dict(data.get("checks", {})))
        except (ValueError, OSError, AttributeError, TypeError) as exc:
            raise FetchError(f"{path}: unreadable lock file ({exc}); delete it and fetch again (`pheno-bench sources fetch {source}`)") from None

    def record(self, name: str, sha256: str, publisher: str, checksum: str | None = None, size: int | None = None) -> None:
        self.files[name] = sha256
        self.checks[name] = {"publisher": publisher, "checksum": checksum, "size": size}

    def reset(self) -> None:
        self.revision, self.files, self.checks = None, {}, {}

    def first_use(self) -> list[str]:
        """Files recorded without any publisher checksum."""
        return sorted(n for n, c in self.checks.items() if c.get("publisher") == FIRST_USE)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"source": self.source, "revision": self.revision, "files": dict(sorted(self.files.items())),
                "checks": dict(sorted(self.checks.items()))}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        os.replace(tmp, self.path)


def lock_path(source: str) -> Path:
    """Where what was fetched for ``source`` is recorded (revision, sha256s, how each file was verified)."""
    return home() / "sources" / f"{source}{LOCK_SUFFIX}"


def check_file(path: Path, remote: RemoteFile, lock: Lock, *, fix: str, first_use: str = "") -> str:
    """The file's sha256 after checking it against the pinned or recorded one.

    A mismatch is one :class:`FetchError` line naming the file, both hashes and ``fix``. A file
    with neither (a local copy never fetched) is recorded at first use with a visible warning
    (``first_use`` says how to verify it instead).
    """
    actual = digests(path).sha256
    expected = remote.sha256 or lock.files.get(remote.name)
    if expected is None:
        lock.record(remote.name, actual, FIRST_USE, size=path.stat().st_size)
        warn(f"{path}: no publisher checksum to verify it against; its sha256 {actual[:16]}… is recorded at first use in {lock.path}{first_use}")
        return actual
    if actual != expected:
        kind = "the pinned sha256" if remote.sha256 else f"the sha256 recorded in {lock.path} when it was first fetched"
        raise FetchError(
            f"{path}: sha256 {actual[:16]}… does not match {kind}, {expected[:16]}… (altered, truncated or a different release); {fix}"
        )
    if remote.name not in lock.files:
        lock.record(remote.name, actual, PINNED if remote.sha256 else LOCKED, remote.sha256, path.stat().st_size)
    return actual


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


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

    A file already in ``folder`` is checked, not fetched again. ``force`` fetches it again: the new
    copy goes to ``folder/<dir>/.incoming/`` and replaces the kept one only once it is complete and
    checked, so a failed or tampered download never destroys a good copy. A file without a pinned
    or recorded sha256 is checked against the server's size and MD5 ETag (S3) before it is kept;
    where the server publishes no MD5 (a multipart ETag, an encrypted object, no ETag) it is
    recorded at first use with one warning line. offline: never touch the network; a missing file
    is one error. progress: one progress bar over the files (tqdm).
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
            check_file(folder / remote.name, remote, lock, fix=f"delete it or run `{hint} --force` to download it again",
                       first_use=f"; to verify it, move it away and run `{hint}`")
    if todo and offline:
        lock.save()
        raise FetchError(f"{folder / todo[0].name}: not fetched yet ({len(todo)} of {len(files)} files missing) and offline; run once with network: {hint}")
    bar = _bar(len(todo), f"{source}: downloading", progress)
    unverified: list[str] = []
    try:
        for remote in todo:
            target = folder / remote.name
            incoming = target.parent / ".incoming"
            incoming.mkdir(parents=True, exist_ok=True)
            expected = remote.sha256 or lock.files.get(remote.name)
            published = None if expected else _published_md5(remote.url, requests, hint)
            (incoming / target.name).unlink(missing_ok=True)  # a leftover of a failed check is never reused
            try:
                pooch.retrieve(
                    remote.url, known_hash=f"sha256:{expected}" if expected else None, fname=target.name,
                    path=incoming, progressbar=False,
                )
            except ValueError as exc:  # pooch: the downloaded bytes do not have the expected hash
                if "hash" not in str(exc).lower():
                    raise
                kind = "pinned sha256" if remote.sha256 else f"sha256 recorded in {lock.path} when it was first fetched,"
                raise FetchError(
                    f"{remote.url}: the file as received does not match the {kind} {expected[:16]}…; "
                    f"nothing was kept{_kept(target)} (a different release, or altered on the way? report it before trusting it)"
                ) from None
            except (requests.RequestException, OSError) as exc:
                raise FetchError(f"{remote.url}: download failed ({first_line(exc)}); nothing was kept{_kept(target)}, run `{hint}` again") from None
            received = incoming / target.name
            if expected:
                got = digests(received)
                lock.record(remote.name, got.sha256, PINNED if remote.sha256 else LOCKED, remote.sha256, got.size)
            else:
                _check_published(received, remote, published, lock, unverified, target=target)
            os.replace(received, target)
            bar.update(1)
    finally:
        bar.close()
        lock.save()
    if unverified:
        shown = ", ".join(unverified[:3]) + (f" and {len(unverified) - 3} more" if len(unverified) > 3 else "")
        warn(f"{source}: {len(unverified)} file(s) recorded at first use, not verified against the publisher "
             f"(the server gave no MD5 ETag): {shown}; their sha256s are in {lock.path}")
    return folder


def _kept(target: Path) -> str:
    return f" and the copy at {target} is unchanged" if target.is_file() else ""


def _published_md5(url: str, requests, hint: str) -> dict:
    """What the server publishes for ``url`` (one HEAD request): size, ETag, and the ETag's MD5 when it is one.

    An S3 ETag is the MD5 of the object's bytes for single-part uploads that are not KMS- or
    customer-key-encrypted; a multipart ETag (``"<hex>-<parts>"``) or an encrypted object's is not.
    """
    try:
        response = requests.head(url, timeout=TIMEOUT_S, allow_redirects=True)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise FetchError(f"{url}: the server's file information could not be read ({first_line(exc)}); nothing was downloaded, run `{hint}` again") from None
    etag = response.headers.get("ETag", "")
    size = response.headers.get("Content-Length")
    encryption = response.headers.get("x-amz-server-side-encryption", "")
    match = PLAIN_MD5.match(etag.strip())
    md5 = match.group(2).lower() if match and not encryption.startswith("aws:kms") and not response.headers.get("x-amz-server-side-encryption-customer-algorithm") else None
    why = "" if md5 else ("no ETag" if not etag else f"ETag {etag} is not an MD5" + (" (multipart upload)" if re.search(r"-\d+\"?$", etag) else "")
                          + (f" (encrypted with {encryption})" if encryption.startswith("aws:kms") else ""))
    return {"etag": etag, "md5": md5, "size": int(size) if size and size.isdigit() else None, "why": why}


def _check_published(path: Path, remote: RemoteFile, published: dict, lock: Lock, unverified: list[str], *, target: Path) -> None:
    got = digests(path, md5=True)
    if published["size"] is not None and got.size != published["size"]:
        path.unlink()
        raise FetchError(f"{remote.url}: received {got.size} bytes, the server publishes {published['size']} (cut or altered on the way); "
                         f"nothing was kept{_kept(target)}, run the fetch again")
    if published["md5"]:
        if got.md5 != published["md5"]:
            path.unlink()
            raise FetchError(f"{remote.url}: the file as received has MD5 {got.md5[:16]}…, the server's ETag says {published['md5'][:16]}… "
                             f"(corrupted or altered on the way); nothing was kept{_kept(target)}, run the fetch again and report it if it persists")
        lock.record(remote.name, got.sha256, S3_ETAG, published["md5"], got.size)
    else:
        lock.record(remote.name, got.sha256, FIRST_USE, published["etag"] or None, got.size)
        lock.checks[remote.name]["why"] = published["why"]
        unverified.append(remote.name)


def _bar(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="file", disable=not enabled or total == 0)
