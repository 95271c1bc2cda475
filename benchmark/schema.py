"""The wells table: one row per well, the same columns for every source.

In memory a wells table is a :class:`Wells` (a pandas frame of metadata plus a float32 feature
matrix); on disk it is parquet with a ``features`` fixed-size list column and a
:class:`WellsMetadata` JSON document in the schema metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, Field

from pheno_bench.errors import PhenoBenchError

SPLITS = ("train", "valid", "unseen_images", "unseen_molecules", "unseen_dataset")
TEST_SPLITS = SPLITS[2:]
METADATA_KEY = b"pheno_bench"

#: Metadata columns of a wells table, in order, with their arrow types.
WELL_COLUMNS: dict[str, pa.DataType] = {
    "well_id": pa.string(),
    "source": pa.string(),
    "plate": pa.string(),
    "batch": pa.string(),
    "is_control": pa.bool_(),
    "compound_id": pa.string(),
    "smiles": pa.string(),
    "inchikey": pa.string(),
    "concentration_um": pa.float64(),
    "dose_level": pa.string(),
}


class WellsMetadata(BaseModel):
    """What a wells table carries besides its rows."""

    sources: list[str] = Field(min_length=1)
    feature_names: list[str] = Field(min_length=1)
    feature_space: str = Field(description="how the features were made comparable")


def wells_schema(n_features: int, extra: dict[str, pa.DataType] | None = None) -> pa.Schema:
    """The arrow schema of a wells table with ``n_features`` features and optional extra columns."""
    fields = [pa.field(name, dtype) for name, dtype in {**WELL_COLUMNS, **(extra or {})}.items()]
    fields.append(pa.field("features", pa.list_(pa.float32(), n_features)))
    return pa.schema(fields)


@dataclass
class Wells:
    """A wells table in memory.

    meta: one row per well, at least the columns of ``WELL_COLUMNS``.
    features: float32 array of shape (n_wells, n_features), row-aligned with ``meta``.
    """

    meta: pd.DataFrame
    features: np.ndarray
    metadata: WellsMetadata

    def __post_init__(self) -> None:
        missing = [c for c in WELL_COLUMNS if c not in self.meta.columns]
        if missing:
            raise ValueError(f"wells table lacks columns {missing}")
        if self.features.shape != (len(self.meta), len(self.metadata.feature_names)):
            raise ValueError(
                f"features of shape {self.features.shape} do not match {len(self.meta)} wells × "
                f"{len(self.metadata.feature_names)} feature names"
            )
        self.meta = self.meta.reset_index(drop=True)
        self.features = np.ascontiguousarray(self.features, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.meta)

    def take(self, mask_or_index) -> "Wells":
        """The wells selected by a boolean mask or integer index, in that order."""
        index = np.flatnonzero(mask_or_index) if np.asarray(mask_or_index).dtype == bool else np.asarray(mask_or_index)
        return Wells(self.meta.iloc[index].reset_index(drop=True), self.features[index], self.metadata)

    def to_arrow(self) -> pa.Table:
        """The wells as an arrow table with the wells schema and metadata."""
        extra = {
            c: pa.Schema.from_pandas(self.meta[[c]], preserve_index=False).field(c).type
            for c in self.meta.columns
            if c not in WELL_COLUMNS
        }
        schema = wells_schema(self.features.shape[1], extra)
        columns = [pa.array(self.meta[f.name], type=f.type, from_pandas=True) for f in schema if f.name != "features"]
        columns.append(matrix_column(self.features))
        meta = {METADATA_KEY: self.metadata.model_dump_json().encode()}
        return pa.Table.from_arrays(columns, schema=schema.with_metadata(meta))

    @classmethod
    def from_arrow(cls, table: pa.Table, *, origin: str = "table") -> "Wells":
        """Read back a table written by :meth:`to_arrow`."""
        raw = (table.schema.metadata or {}).get(METADATA_KEY)
        if raw is None or "features" not in table.column_names:
            raise PhenoBenchError(f"{origin}: not a pheno-bench wells table (no features or metadata)")
        metadata = WellsMetadata.model_validate(json.loads(raw))
        features = features_matrix(table.column("features"), len(metadata.feature_names))
        meta = table.drop_columns(["features"]).to_pandas()
        return cls(meta, features, metadata)


def matrix_column(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """A fixed-size float32 list column from a (rows, width) matrix; the inverse of :func:`features_matrix`."""
    matrix = np.asarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1), type=pa.float32()), matrix.shape[1])


def features_matrix(column: pa.ChunkedArray | pa.Array, n_features: int) -> np.ndarray:
    """A (rows, n_features) float32 matrix from a fixed-size or plain list column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.astype(np.float32, copy=False).reshape(len(column), n_features)
