"""Atomic, deterministic file writing and hashing shared by every stage."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from pheno_bench.errors import PhenoBenchError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files owner-only; give them the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def replace_folder(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the finished folder ``new`` to ``target``, replacing whatever is there with one rename each.

    A symbolic link at ``target`` is replaced as a link: its own target is never touched.
    """
    new, target = Path(new), Path(target)
    if target.is_symlink():
        target.unlink()
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``target`` to build in; it replaces ``target`` whole
    (:func:`replace_folder`) only if the block succeeds, and is removed either way."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    """Write ``table`` atomically; same table and pyarrow version give the same bytes."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=3)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def json_text(obj) -> str:
    """``obj`` as the text :func:`write_json` writes: sorted, indented, strict JSON, one final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(obj, path: str | os.PathLike) -> None:
    """Write ``obj`` as sorted, indented, strict JSON (NaN or infinity is an error), atomically."""
    write_text(json_text(obj), path)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_parquet(path: str | os.PathLike, *, what: str = "parquet file") -> pa.Table:
    """Read a parquet file, turning a missing or malformed file into one clear error."""
    path = Path(path)
    if not path.is_file():
        raise PhenoBenchError(f"{path}: {what} not found")
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise PhenoBenchError(
            f"{path}: not a readable parquet file ({str(exc).splitlines()[0]}); "
            f"write the {what} with pyarrow or pandas.to_parquet"
        ) from None
