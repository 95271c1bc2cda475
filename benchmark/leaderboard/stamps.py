"""Reuse of an unchanged board's pages: a stamp of what a board was rendered from.

A board's folder (its pages, plots and results files) depends only on its inputs: the benchmark
(name, version, fingerprint), the boards built beside it (the pages link to them), each entry's
run files (names and sha256) and every other file of its folder (``metadata.yaml``,
``verification.json``: by their bytes), the package's code and templates, and matplotlib's
version. ``leaderboard build`` writes a stamp, :data:`STAMP`, into each board's folder: the sha256
of those inputs and of every file it wrote. A later build with a results cache whose board has the
same inputs copies the previous folder instead of rendering it again, after checking every file
against the stamp (an edited, missing or added file, or another stamp: the board is rendered
again). ``--rescore`` always renders.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from pheno_bench.io import write_text

#: the stamp's file name in a board's folder (a dotfile: mkdocs does not publish it)
STAMP = ".board.json"


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over the package's files (code and templates, by relative path and bytes) and matplotlib's version."""
    import matplotlib

    import pheno_bench

    code = _files(Path(pheno_bench.__file__).parent, lambda path: "__pycache__" not in path.parts and path.suffix not in (".pyc", ".nbi", ".nbc"))
    return hashlib.sha256(_canonical({"matplotlib": matplotlib.__version__, "files": code})).hexdigest()


def inputs_digest(benchmark: dict, scored: Iterable, boards: Iterable[str]) -> str:
    """sha256 of everything a board is rendered from: ``benchmark`` (the scorer's key), the
    ``boards`` of the build and each scored entry's files (see the module docstring)."""
    digest = hashlib.sha256(_canonical({"benchmark": benchmark, "boards": sorted(boards), "code": code_digest()}))
    for s in sorted(scored, key=lambda s: s.entry.name):
        runs = sorted(
            [str(seed), "" if fold is None else str(fold), Path(getattr(f, "path", f)).name, f.sha256]
            for seed, per_fold in s.submissions.items() for fold, f in per_fold.items()
        )
        digest.update(_canonical({"entry": s.entry.name, "runs": runs, "files": _files(s.entry.path, lambda path: path.suffix != ".parquet")}))
    return digest.hexdigest()


def _files(folder: Path, keep: Callable[[Path], bool]) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``folder`` that ``keep`` keeps."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file() and keep(path)
    }


def _board_files(folder: Path) -> dict[str, str]:
    """A board folder's files but its stamp."""
    return _files(folder, lambda path: path.name != STAMP)


def write_stamp(folder: Path, inputs: str) -> None:
    """Stamp a rendered board's ``folder``: its inputs' sha256 and every file's."""
    write_text(json.dumps({"files": _board_files(folder), "inputs": inputs}, sort_keys=True) + "\n", folder / STAMP)


def reuse_board(previous: Path, out: Path, inputs: str) -> bool:
    """Copy the board folder ``previous`` to ``out`` when its stamp says it was rendered from
    ``inputs`` and every file in it is the one stamped; otherwise copy nothing and return False."""
    try:
        record = json.loads((previous / STAMP).read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("inputs") != inputs or not isinstance(record.get("files"), dict):
            return False
        if any(path.is_symlink() for path in previous.rglob("*")) or _board_files(previous) != record["files"]:
            return False
    except (OSError, ValueError):
        return False
    shutil.copytree(previous, out)
    return True
