"""Pin a field dataset's release: record a real, verified fetch into the adapter's pins module.

A maintainer with network runs (see the Field benchmarks page)::

    pheno-bench sources pin rxrx3-core     # fetch, verified against the Hub; build rxrx3-core-v1; write the pins
    git diff benchmark/sources/rxrx3_core_pins.py

:func:`pin_source` fetches the source (every file checked against the publisher's checksum, as
any fetch), builds each benchmark made from it (or reads the fingerprint of builds given with
``benchmarks=``, after checking they were built from exactly the fetched files), and rewrites the
``RELEASE`` block of the adapter's pins module (:data:`PIN_MODULES`) with the revision, every
file's sha256, size and publisher checksum, and the fingerprints. The next release of
pheno-bench then defaults to that revision and refuses any file or Hub checksum that differs.
"""

from __future__ import annotations

import importlib
import os
import pprint
from pathlib import Path

from pheno_bench.errors import PhenoBenchError
from pheno_bench.fetch import FIRST_USE, HUB_BLOB, HUB_LFS, Lock, fetch_source

PIN_MODULES = {"rxrx3-core": "pheno_bench.sources.rxrx3_core_pins", "lincs-cp": "pheno_bench.sources.lincs_cp_pins"}
BEGIN = "# >>> recorded by `pheno-bench sources pin` (pheno_bench.pins): do not edit by hand"
END = "# <<< end of the recorded release"


def benchmarks_of(source: str) -> list[str]:
    """The benchmarks (spec names) built from ``source``."""
    from pheno_bench.specs import BENCHMARKS

    return sorted(name for name, spec in BENCHMARKS.items() if any(cfg.name == source for cfg in spec.sources))


def fingerprint_of(root: str | os.PathLike, files: dict[str, str], *, source: str) -> tuple[str, str]:
    """(benchmark name, fingerprint) of the build at ``root``, after checking that its ``source`` files are ``files`` (name -> sha256)."""
    from pheno_bench.folds import fold_root, is_fold_set, read_fold_set
    from pheno_bench.manifest import read_manifest

    root = Path(root)
    if is_fold_set(root):
        fold_set = read_fold_set(root)
        name, fingerprint, manifest = fold_set.name, fold_set.fingerprint, read_manifest(fold_root(root, fold_set.folds[0].fold))
    else:
        manifest = read_manifest(root)
        name, fingerprint = manifest.name, manifest.fingerprint
    for info in manifest.sources:
        used = {n: s for n, s in info.files.items() if n in files}
        if any(files[n] != s for n, s in used.items()):
            raise PhenoBenchError(f"{root}: {name} was built from other {source} files than the ones fetched now ({info.name}); "
                                  "build it again from this fetch, or leave out --benchmark")
    if not any(set(info.files) & set(files) for info in manifest.sources):
        raise PhenoBenchError(f"{root}: {name} is not built from source {source}")
    return name, fingerprint


def render(release: dict) -> str:
    """The ``RELEASE`` block as Python source, between :data:`BEGIN` and :data:`END`."""
    return f"{BEGIN}\nRELEASE: dict = {pprint.pformat(release, width=110, sort_dicts=True)}\n{END}\n"


def write_release(module_path: str | os.PathLike, release: dict) -> Path:
    """Replace the ``RELEASE`` block of the pins module at ``module_path`` (atomically); the path."""
    from pheno_bench.io import atomic_path

    path = Path(module_path)
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise PhenoBenchError(f"{path}: no RELEASE block to replace (the lines {BEGIN!r} … {END!r}); is this a pins module?")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1].lstrip("\n")
    with atomic_path(path) as tmp:
        tmp.write_text(head + render(release) + tail, encoding="utf-8")
    return path


def pin_source(
    name: str,
    *,
    revision: str | None = None,
    data_root: str | os.PathLike | None = None,
    build: bool = True,
    benchmarks: list[str | os.PathLike] | None = None,
    out: str | os.PathLike | None = None,
    module_path: str | os.PathLike | None = None,
    log=print,
) -> dict:
    """Fetch source ``name`` (verified), record its release and the fingerprints of the benchmarks built from it.

    revision: the Hub revision to pin (rxrx3-core; switches from the recorded one). build: build
    every benchmark of :func:`benchmarks_of` into ``out`` (default: the pheno-bench home) to read
    its fingerprint; benchmarks: folders of builds to read instead (checked to hold exactly the
    fetched files). module_path: the pins module to rewrite (default: the installed adapter's).
    Returns the recorded ``RELEASE`` dict.
    """
    from pheno_bench.split import build_benchmark

    if name not in PIN_MODULES:
        raise PhenoBenchError(f"source {name!r} has no pins module; pinnable: {', '.join(sorted(PIN_MODULES))}")
    fetched = fetch_source(name, data_root=data_root, revision=revision, update=revision is not None, progress=False)
    lock = Lock.load(name)
    if name == "rxrx3-core":
        if unverified := [n for n in fetched.files if lock.checks.get(n, {}).get("publisher") not in (HUB_LFS, HUB_BLOB)]:
            raise PhenoBenchError(f"{name}: {unverified[0]} was not verified against the Hub (a local copy under the data root?); "
                                  "pin from a fetch from the Hub: move the local copy away and run the pin again")
    elif first := lock.first_use():
        log(f"note: {len(first)} file(s) had no publisher checksum at this fetch; their sha256s are pinned as fetched: {', '.join(first[:3])}")
    release = {
        "source": name,
        "revision": fetched.revision if name == "rxrx3-core" else importlib.import_module(PIN_MODULES[name]).COMMIT,
        "files": {n: {"sha256": sha, "size": lock.checks.get(n, {}).get("size"), "publisher": lock.checks.get(n, {}).get("publisher", FIRST_USE),
                      "checksum": lock.checks.get(n, {}).get("checksum")} for n, sha in sorted(fetched.files.items())},
        "fingerprints": {},
        "recorded_with": _version(),
    }
    roots = [Path(b) for b in benchmarks or []]
    if build and not roots:
        from pheno_bench.paths import benchmark_home

        for bench in benchmarks_of(name):
            log(f"building {bench} from the fetched files ...")
            roots.append(build_benchmark(bench, out=Path(out) / bench if out else benchmark_home(bench), data_root=data_root))
    for root in roots:
        bench, fingerprint = fingerprint_of(root, fetched.files, source=name)
        release["fingerprints"][bench] = fingerprint
    target = Path(module_path) if module_path else Path(importlib.import_module(PIN_MODULES[name]).__file__)
    write_release(target, release)
    log(f"pinned {name}: {len(release['files'])} files" + (f" at revision {release['revision']}" if release["revision"] else "")
        + "".join(f"; {b} {fp}" for b, fp in release["fingerprints"].items()) + f" -> {target}")
    return release


def _version() -> str:
    from pheno_bench import __version__

    return f"pheno-bench {__version__}"
