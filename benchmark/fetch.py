"""Fetching raw sources from their publishers: every file checked against the publisher's checksum.

Two well-kept clients do the transfers; this module adds what a frozen benchmark needs on top:

* :func:`pheno_bench.fetch_hub.fetch_hub` — a dataset repository on the Hugging Face Hub
  (RxRx3-core) through ``huggingface_hub``: the revision is resolved to its commit sha, every file
  is checked against the Hub's own checksum for that commit (the LFS sha256 of large files, the
  git blob id of the others) before it is used or recorded, and downloads go to a temporary
  folder and replace the kept copy only once they check.
* :func:`fetch_http` — plain HTTPS files (the LINCS Cell Painting profiles on the Cell Painting
  Gallery's public S3 bucket, plate maps at a pinned GitHub commit, the Drug Repurposing Hub
  table) through ``pooch.retrieve``, which streams into a temporary file and moves it into place
  only once it is complete. A file with a pinned sha256 is checked against it; otherwise against
  what the server publishes for it (S3: size and ``ETag`` where the ETag is a plain MD5, i.e. not
  a multipart ``<md5>-<parts>`` ETag and not a KMS-encrypted object's); a file the publisher
  gives no checksum for is recorded at first use with a visible warning.

What was checked, and how, is recorded per source in a lock file
(``$PHENO_BENCH_HOME/sources/<source>.lock.json``: the Hub commit, each file's sha256 and the
publisher checksum it was verified against), and every later fetch or build checks the files
against it. A mismatch, and every network failure, is one :class:`FetchError` line naming what
failed and the fix; nothing that fails a check is ever kept, handed to an adapter or recorded.
Maintainers pin a real fetch's checksums into the adapters with :mod:`pheno_bench.pins`.

The machinery (digests, the lock, :func:`fetch_http`) lives in :mod:`pheno_bench.remote`, below the
source adapters that use it; this module is the one entry point per source (:func:`fetch_source`,
above the adapters) and re-exports the machinery's names (their earlier home).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pheno_bench.remote import (  # noqa: F401 (re-exported)
    FIRST_USE,
    HUB_BLOB,
    HUB_LFS,
    LOCK_SUFFIX,
    LOCKED,
    PINNED,
    PLAIN_MD5,
    S3_ETAG,
    TIMEOUT_S,
    Digests,
    FetchError,
    Lock,
    RemoteFile,
    check_file,
    digests,
    fetch_http,
    first_line,
    lock_path,
    log,
    warn,
)
from pheno_bench.sources import SOURCES, get_source


@dataclass
class Fetched:
    """What :func:`fetch_source` reports: the folder, each raw file's sha256 and how it was verified, the Hub commit (if any)."""

    source: str
    folder: Path
    files: dict[str, str]
    revision: str | None
    lock: Path
    verified: dict[str, str] = field(default_factory=dict)


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

    revision and update apply to Hub sources only. Returns what was fetched, where, and how each
    file was verified (``verified``: name -> one of this module's PINNED, HUB_LFS, HUB_BLOB,
    S3_ETAG, LOCKED, FIRST_USE).
    """
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
    verified = {n: c.get("publisher", LOCKED) for n, c in sorted(lock.checks.items()) if n in lock.files}
    return Fetched(name, folder, dict(sorted(lock.files.items())), lock.revision, lock.path, verified)
