"""The registry of built and downloaded benchmarks, so that a benchmark is found by name afterwards.

``splits build NAME --out ANY/FOLDER`` and ``splits download ORG/NAME`` both record the folder
they leave in ``<pheno-bench home>/registry.json``; :func:`find` (and so
:func:`pheno_bench.manifest.locate`, which ``splits info``, ``evaluate`` and ``submission
template`` use) looks a name up there. One registry entry::

    {"name": "cell-injury-v1", "version": "1.0.0", "fingerprint": "29c08f…", "path": "/abs/folder",
     "origin": "build" | "download", "current": true, "folds": {"0": "<fingerprint of fold 0>", …}}

For each name the *current* build is the last one registered with ``current=True`` whose folder
still holds a manifest of the recorded fingerprint (a build with an overridden ``--seed`` is a
different benchmark: recorded, found by its fingerprint, never current). A submission names the
fingerprint it was made for, so :func:`find` with ``fingerprint=`` finds the matching build even
when another build of that name is current. The registry is a cache of pointers: a missing or
unreadable file is an empty registry, and entries whose folder is gone are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

from pheno_bench.errors import PhenoBenchError
from pheno_bench.paths import benchmark_home, home

REGISTRY = "registry.json"
REGISTRY_VERSION = 1


def registry_path() -> Path:
    """``<pheno-bench home>/registry.json``."""
    return home() / REGISTRY


def _manifest_bytes(root: Path) -> bytes | None:
    try:
        return (root / "manifest.json").read_bytes()
    except OSError:
        return None


def _describe(root: Path) -> dict:
    """name, version, fingerprint (and per-fold fingerprints for a fold set) of the benchmark at ``root``."""
    from pheno_bench.folds import is_fold_set, read_fold_set
    from pheno_bench.manifest import read_manifest

    raw = _manifest_bytes(root)
    if raw is None:
        raise PhenoBenchError(f"{root / 'manifest.json'}: no benchmark manifest to register")
    if is_fold_set(root):
        fold_set = read_fold_set(root)
        return {"name": fold_set.name, "version": fold_set.version, "fingerprint": fold_set.fingerprint,
                "folds": {str(f.fold): f.fingerprint for f in fold_set.folds}}
    manifest = read_manifest(root)
    return {"name": manifest.name, "version": manifest.version, "fingerprint": manifest.fingerprint}


def entries() -> list[dict]:
    """Every registry entry, oldest first (an unreadable registry is empty)."""
    try:
        data = json.loads(registry_path().read_text(encoding="utf-8"))
        items = data["benchmarks"]
        return [e for e in items if isinstance(e, dict) and {"name", "fingerprint", "path"} <= set(e)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write(items: list[dict]) -> None:
    from pheno_bench.io import write_json

    write_json({"format_version": REGISTRY_VERSION, "benchmarks": items}, registry_path())


def register(root: str | os.PathLike, *, origin: str = "build", current: bool = True) -> dict:
    """Record the benchmark folder ``root`` (a benchmark or a fold set) in the registry; return its entry.

    current: make it the build that its name resolves to (False for a build with an overridden
    seed, found only by its path or fingerprint). Registering the same folder again moves it last.
    """
    root = Path(root).resolve()
    entry = {**_describe(root), "path": str(root), "origin": origin, "current": bool(current)}
    with _locked():
        items = [e for e in entries() if Path(e["path"]) != root]
        items.append(entry)
        _write(items)
    return entry


@contextmanager
def _locked():
    """An exclusive lock on the registry while it is read and rewritten (POSIX; elsewhere no lock)."""
    path = registry_path().with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: concurrent registrations may lose one entry (the folder is still found by path)
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(entry: dict) -> bool:
    """The entry's folder still holds a manifest with the recorded fingerprint."""
    raw = _manifest_bytes(Path(entry["path"]))
    return raw is not None and hashlib.sha256(raw).hexdigest() == entry["fingerprint"]


def _fold_matches(entry: dict, fold: int | None, fingerprint: str) -> bool:
    if fold is not None:
        return entry.get("folds", {}).get(str(fold)) == fingerprint
    return entry["fingerprint"] == fingerprint or fingerprint in entry.get("folds", {}).values()


def find(name: str, *, fingerprint: str | None = None, fold: int | None = None) -> Path | None:
    """The folder of benchmark ``name``: the registered build with ``fingerprint`` if given and known
    (the fingerprint of the benchmark, or of fold ``fold`` of a fold set), else the current build
    (last registered), else ``<home>/benchmarks/<name>`` if it holds a manifest; None if none.
    """
    live = [e for e in reversed(entries()) if e["name"] == name and _alive(e)]
    if fingerprint is not None:
        matches = [e for e in live if _fold_matches(e, fold, fingerprint)]
        matches.sort(key=lambda e: not e.get("current", True))  # stable: current builds first, then the latest
        if matches:
            return Path(matches[0]["path"])
    for entry in live:
        if entry.get("current", True):
            return Path(entry["path"])
    default = benchmark_home(name)
    if (default / "manifest.json").is_file():
        return default
    return None


def known_names() -> list[str]:
    """Names with a live registered build or a folder in ``<home>/benchmarks``, sorted."""
    names = {e["name"] for e in entries() if _alive(e)}
    folder = home() / "benchmarks"
    if folder.is_dir():
        names |= {p.name for p in folder.iterdir() if (p / "manifest.json").is_file()}
    return sorted(names)


def stale(name: str) -> list[str]:
    """Registered folders of ``name`` that are gone or changed (for the not-found message)."""
    return [e["path"] for e in entries() if e["name"] == name and not _alive(e)]


def listing() -> list[dict]:
    """Every registered build, newest first, with ``alive`` (its folder still holds the registered
    manifest) and ``resolves`` (it is the build its name means now)."""
    rows = []
    for entry in reversed(entries()):
        rows.append({**entry, "alive": _alive(entry)})
    for name in {r["name"] for r in rows}:
        current = find(name)
        for row in rows:
            if row["name"] == name:
                row["resolves"] = current is not None and Path(row["path"]) == current
    return rows
