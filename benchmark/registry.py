"""The registry of built and downloaded benchmarks, and :func:`locate`: the one place where a
benchmark name or folder becomes a folder, for the build, the scorer, the loader and the CLI alike.

``splits build NAME --out ANY/FOLDER`` and ``splits download ORG/NAME`` both record the folder
they leave in ``<pheno-bench home>/registry.json`` (:func:`register`); :func:`find` (and so
:func:`locate`, which ``splits info``, ``evaluate`` and ``submission template`` use) looks a name
up there. One registry entry::

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

import difflib
import hashlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

from pheno_bench.errors import PhenoBenchError
from pheno_bench.folds import fold_root
from pheno_bench.io import write_json
from pheno_bench.manifest import MANIFEST, is_fold_set, read_fold_set, read_manifest
from pheno_bench.paths import benchmark_home, home
from pheno_bench.specs import BENCHMARKS

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


# --- locating a benchmark ----------------------------------------------------------------------


def locate(benchmark: str | os.PathLike, fold: int | None = None, *, fingerprint: str | None = None) -> Path:
    """A benchmark folder from a path or a benchmark name.

    A name is looked up in the registry of built and downloaded benchmarks
    (:func:`find`: the last build or download of that name, wherever its ``--out`` was, else
    ``<home>/benchmarks/<name>``). fingerprint: prefer the registered build with
    this fingerprint (a submission's), falling back to the current one (whose mismatch the caller
    reports). fold: for a fold set (``cell-injury-v2``), the folder of fold ``fold``
    (:func:`pheno_bench.folds.fold_root`); without it a fold set's root is returned (check it with
    :func:`pheno_bench.folds.is_fold_set`). ``"cell-injury-v2/fold-2"`` addresses a fold as a path or a name.
    An unknown name is one error with the closest known names.
    """
    path = Path(benchmark)
    text = str(benchmark)
    found = path if (path / MANIFEST).is_file() else None
    if found is None and (m := re.fullmatch(r"([A-Za-z0-9][\w.-]*)/fold-(\d+)", text)) and fold is None:
        found = find(m[1], fingerprint=fingerprint, fold=int(m[2]))
        fold = int(m[2]) if found is not None else None
    if found is None and re.fullmatch(r"[A-Za-z0-9][\w.-]*", text):
        found = find(text, fingerprint=fingerprint, fold=fold)
    if found is not None:
        return found if fold is None else fold_root(found, fold)
    raise PhenoBenchError(_not_found(text, path))


def _not_found(text: str, path: Path) -> str:
    """The one-line error for a benchmark that is neither a folder nor a known build."""
    if any(sep in text for sep in ("/", os.sep)) or text.startswith("."):
        if path.is_dir():
            return (f"{path}: no benchmark manifest in this folder; pass the folder that `pheno-bench splits build --out` "
                    "wrote (it holds manifest.json)")
        base = text.split("/fold-")[0]
        if "/" in base or base.startswith("."):
            return f"{path}: no such benchmark folder; build one with `pheno-bench splits build NAME --out {text}`"
        text = base
    gone = stale(text)
    if text in BENCHMARKS:
        was = f" (it was registered at {gone[-1]}, which is gone or changed)" if gone else ""
        return (f"benchmark {text!r} is not built or downloaded yet{was}; run `pheno-bench splits build {text}` "
                f"or `pheno-bench splits download ORG/{text}`, or pass the benchmark folder")
    known = sorted(set(BENCHMARKS) | set(known_names()))
    close = difflib.get_close_matches(text, known, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"unknown benchmark {text!r}; {hint}known: {', '.join(known)} (or pass a benchmark folder)"
