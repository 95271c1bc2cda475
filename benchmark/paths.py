"""Where pheno-bench reads raw data and keeps built or downloaded benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

from pheno_bench.errors import PhenoBenchError

DATA_ROOT_ENV = "PHENO_BENCH_DATA"
HOME_ENV = "PHENO_BENCH_HOME"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder with the raw sources.

    Order: the ``root`` argument, ``$PHENO_BENCH_DATA``, ``../shared/data`` beside the source
    checkout, ``../shared/data`` relative to the working directory.
    """
    if root is not None:
        return Path(root)
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV])
    for candidate in (_REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return _REPO_ROOT.parent / "shared" / "data"


def source_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of one raw source under the data root; a clear error if it is absent."""
    path = data_root(root) / name
    if not path.is_dir():
        raise PhenoBenchError(
            f"{path}: raw data folder not found; set --data-root or ${DATA_ROOT_ENV} "
            "to the folder that holds it"
        )
    return path


def home() -> Path:
    """pheno-bench's own folder: ``$PHENO_BENCH_HOME`` or ``~/.cache/pheno-bench``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "pheno-bench")


def benchmark_home(name: str) -> Path:
    """Where ``splits build`` (by default) and ``splits download`` put benchmark ``name``."""
    return home() / "benchmarks" / name
