"""Source adapters: each turns one raw dataset into a wells table (the *ingest* stage).

An adapter reports the wells exactly as published (raw SMILES, reported concentration);
:mod:`pheno_bench.curate` then canonicalises molecules, maps doses to nominal levels and puts the
features into the benchmark feature space.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pheno_bench.errors import PhenoBenchError
from pheno_bench.paths import source_dir
from pheno_bench.schema import Wells


@dataclass
class Ingested:
    """What an adapter returns.

    wells: the wells table; ``dose_level`` is left empty (curation fills it).
    files: raw file name -> path, recorded with their sha256 in the benchmark manifest.
    excluded: one dict per left-out well or compound: ``{"source", "id", "reason"}``.
    notes: short facts about choices the adapter made (printed in the build log), e.g. which wells are controls.
    """

    wells: Wells
    files: dict[str, Path]
    excluded: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The build log's line for this source: its wells, then its notes."""
        return f"ingested {self.wells.metadata.sources[0]}: {len(self.wells)} wells" + "".join(f"; {n}" for n in self.notes)


@dataclass(frozen=True)
class Source:
    """A registered raw dataset.

    nominal_doses_um: the source's nominal concentration series (µM); reported concentrations are
    snapped to it by :func:`pheno_bench.curate.dose_levels`. ``None`` keeps each reported value.
    """

    name: str
    folder: str | None
    licence: str
    citation: str
    nominal_doses_um: tuple[float, ...] | None
    reader: Callable[..., Ingested]
    #: For sources fetched from their publishers (see :mod:`pheno_bench.fetch`): ``fetch(data_root)``
    #: returns the folder holding the raw files (a local copy under ``data_root`` if there is one).
    fetch: Callable[..., Path] | None = None

    def load(self, data_root: str | os.PathLike | None = None, **options) -> Ingested:
        """Ingest the source from ``data_root`` (see :func:`pheno_bench.paths.data_root`), fetching it if it has a fetcher."""
        if self.fetch is not None:
            return self.reader(self.fetch(data_root), **options)
        folder = source_dir(self.folder, data_root) if self.folder else None
        return self.reader(folder, **options)


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    SOURCES[source.name] = source
    return source


def get_source(name: str) -> Source:
    load_adapters()
    if name not in SOURCES:
        raise PhenoBenchError(f"unknown source {name!r}; known sources: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


def load_source(name: str, data_root: str | os.PathLike | None = None, **options) -> Ingested:
    """Ingest source ``name`` (``cell-injury``, ``lincs-pilot1``, ``rxrx3-core``, ``synthetic``)."""
    return get_source(name).load(data_root, **options)


ADAPTERS = ("cell_injury", "lincs_pilot1", "rxrx3_core", "lincs_cp", "synthetic")


def load_adapters() -> None:
    """Import every adapter module of :data:`ADAPTERS`, so that each registers its source."""
    import importlib

    for module in ADAPTERS:
        importlib.import_module(f"pheno_bench.sources.{module}")


def read_csv(path: Path, **kwargs):
    """pandas.read_csv with a clear error naming the file."""
    import zlib

    import pandas as pd

    try:
        return pd.read_csv(path, **kwargs)
    except FileNotFoundError:
        raise PhenoBenchError(f"{path}: raw file not found; check --data-root") from None
    # a truncated or corrupt .gz raises EOFError / zlib.error (gzip.BadGzipFile is an OSError):
    # never let them escape as click's bare "Aborted."
    except (ValueError, OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
        raise PhenoBenchError(f"{path}: cannot be read as CSV ({reason}); download it again") from None


def require_columns(frame, columns, path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PhenoBenchError(f"{path}: missing columns {missing}; is this the file as published?")


def split_features(meta, matrix, source: str, path: Path):
    """Drop wells whose features are not all finite, reporting each by well id.

    Returns ``((meta, matrix), excluded)`` with the kept wells and one dict per dropped well.
    """
    import numpy as np

    finite = np.isfinite(matrix).all(axis=1)
    excluded = [
        {"source": source, "id": well_id, "reason": f"non-finite feature values in {path.name}"}
        for well_id in meta.loc[~finite, "well_id"]
    ]
    return (meta[finite].reset_index(drop=True), matrix[finite]), excluded
