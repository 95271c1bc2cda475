"""Reading an untrusted parquet file safely: only a regular file, and its footer before its rows.

:func:`open_regular` refuses a named pipe, device, directory or socket from ``os.stat`` before
opening it (a pipe would block ``open`` forever), checks it again with ``fstat`` on the opened
descriptor, applies a size cap and refuses a parquet footer above :data:`MAX_FOOTER_BYTES` from the
file's last 8 bytes. :func:`parquet_file` parses the footer only; :func:`sha256_of` hashes the bytes
that were read. Every refusal is one :class:`PhenoBenchError` naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from pheno_bench.errors import PhenoBenchError

#: A parquet footer (schema, row groups, metadata) larger than this is refused before it is parsed:
#: a submission's footer is a few KB (the pheno_bench metadata is capped at a few thousand characters).
MAX_FOOTER_BYTES = 16 * 2**20

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def refuse_irregular(path: Path, mode: int, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
    raise PhenoBenchError(
        f"{path}: {kind}, not a regular file; the {what} is read only from a parquet file on disk: "
        "write it to a file (write_submission) and give that file's path"
    )


@contextmanager
def open_regular(path: Path, *, max_bytes: int | None, what: str = "submission", cap_hint: str = "lower the embedding dimension or cover fewer splits (maintainers: --max-file-mb)") -> Iterator[BinaryIO]:
    """The file opened for reading, once it is known to be a regular file (within ``max_bytes``).

    The kind of file is checked with ``os.stat`` before opening, and again with ``fstat`` on the
    opened descriptor (opened non-blocking, so a pipe swapped in meanwhile cannot block the open).
    """
    try:
        refuse_irregular(path, os.stat(path).st_mode, what)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise PhenoBenchError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise PhenoBenchError(f"{path}: cannot open the {what} ({exc.strerror}); check the path and its permissions") from None
    try:
        info = os.fstat(fd)
        refuse_irregular(path, info.st_mode, what)
        if max_bytes is not None and info.st_size > max_bytes:
            raise PhenoBenchError(f"{path}: file is {info.st_size / 2**20:.0f} MB, above the {max_bytes / 2**20:.0f} MB cap; {cap_hint}")
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        check_footer_length(path, handle, info.st_size, what)
        yield handle


def check_footer_length(path: Path, handle: BinaryIO, size: int, what: str) -> None:
    """Refuse a parquet footer above MAX_FOOTER_BYTES from the file's last 8 bytes, before parsing it."""
    if size < 12:
        return  # too short to be parquet: pyarrow's own message follows
    handle.seek(size - 8)
    tail = handle.read(8)
    handle.seek(0)
    length = int.from_bytes(tail[:4], "little")
    if tail[4:] == b"PAR1" and length > MAX_FOOTER_BYTES:
        raise PhenoBenchError(
            f"{path}: its parquet footer is {length / 2**20:.0f} MB (cap {MAX_FOOTER_BYTES // 2**20} MB): far too many "
            f"row groups or columns for a {what}; write it with write_submission (one row group, four columns)"
        )


def parquet_file(path: Path, handle: BinaryIO, what: str = "submission") -> pq.ParquetFile:
    """The parquet file over an open handle: its footer is parsed, no data is read."""
    try:
        return pq.ParquetFile(handle)
    except (pa.ArrowInvalid, OSError) as exc:
        raise PhenoBenchError(
            f"{path}: not a readable parquet file ({str(exc).splitlines()[0]}); "
            f"write the {what} with pyarrow or pandas.to_parquet"
        ) from None


def sha256_of(handle: BinaryIO, chunk: int = 1 << 20) -> str:
    """Hex sha256 of the whole open file (the bytes that were validated, not a file swapped in since)."""
    handle.seek(0)
    digest = hashlib.sha256()
    while block := handle.read(chunk):
        digest.update(block)
    return digest.hexdigest()
