"""What a well's address says about its dose: the address→dose table and the address probe.

In a fixed-layout screen (cell-injury) every plate map puts each dose of a molecule in its own
column, so the address of a well tells much about its dose whatever the molecule. Three numbers
measure it (``site/data.md``, "What the well address gives away"):

* :func:`address_dose_table`: for each plate column (or each address), how often one
  (plate, column) cell holds a single dose, and the share of wells at the commonest dose of their
  cell (*purity*);
* :func:`address_dose_prior`: for each test query, whether the commonest dose among the **train**
  wells of **other** molecules at the query's address is the query's own dose (ties at their
  expected value), against the chance of guessing among the molecule's own doses;
* :func:`address_probe`: how well the address of a **control** well can be predicted from its
  features (plate-grouped cross-validated multinomial logistic regression), against the majority
  rate: what is left of the position effect after a layout correction.

Inputs are frames of well metadata with ``plate``, ``inchikey``, ``dose_level`` and an address
(``address``, else ``well``, else the last ``:`` field of ``well_id``); :func:`benchmark_wells`
reads them from a built benchmark (one fold root).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet
from pheno_bench.layout import split_address
from pheno_bench.manifest import answers_path, wells_path
from pheno_bench.schema import TEST_SPLITS

#: Controls per address needed for an address to enter :func:`address_probe` (cell-injury: the five
#: addresses that hold controls on nearly every plate have 80-84 each; the next has 19).
MIN_CONTROLS_PER_ADDRESS = 50


def addresses(meta: pd.DataFrame) -> pd.Series:
    """The well address of each row: ``address``, else ``well``, else the last ``:`` field of ``well_id``."""
    for column in ("address", "well"):
        if column in meta and meta[column].notna().any():
            return meta[column].astype(object)
    if "well_id" in meta:
        return meta["well_id"].astype(str).str.rsplit(":", n=1).str[-1].astype(object)
    raise PhenoBenchError("address diagnostics: the wells carry no address (columns address, well or well_id)")


def benchmark_wells(root: str | Path) -> pd.DataFrame:
    """Metadata of every well of one built benchmark (a plain benchmark or one fold): train and
    valid wells (controls included) and the test answers, with ``split``, ``source`` (answers: the
    ``well_id`` prefix) and ``address`` columns; no features."""
    root = Path(root)
    parts = []
    for split in ("train", "valid"):
        table = read_parquet(root / wells_path(split), what=f"{split} wells")
        parts.append(table.drop_columns(["features"]).to_pandas().assign(split=split))
    for split in TEST_SPLITS:
        path = root / answers_path(split)
        if path.is_file():
            parts.append(read_parquet(path, what=f"{split} answers").to_pandas().assign(split=split, is_control=False))
    frame = pd.concat(parts, ignore_index=True)
    prefix = frame["well_id"].astype(str).str.split(":", n=1).str[0]  # answers carry no source: well ids start with it
    frame["source"] = frame["source"].fillna(prefix) if "source" in frame else prefix
    frame["address"] = addresses(frame)
    frame["is_control"] = frame["is_control"].astype(bool)
    return frame


def _treated(meta: pd.DataFrame, source: str | None) -> pd.DataFrame:
    frame = meta[~meta["is_control"].astype(bool)]
    if source is not None and "source" in frame:
        frame = frame[frame["source"] == source]
    frame = frame.assign(address=addresses(frame), dose_level=frame["dose_level"].astype(str))
    row, col = split_address(frame["address"].to_numpy(object))
    return frame.assign(row=row, column=col)[col >= 0]


def address_dose_table(meta: pd.DataFrame, *, by: str = "column", source: str | None = None) -> pd.DataFrame:
    """Per plate column (``by="column"``) or per address (``by="address"``): how much it fixes the dose.

    meta: treated and control wells (controls are ignored) with ``plate``, ``dose_level`` and an
    address. Returns one row per column / address, sorted: ``wells``, ``cells`` ((plate, column) or
    (plate, address) cells holding treated wells), ``one_dose`` (share of those cells whose wells
    all have one dose), ``purity`` (share of wells at the commonest dose of their cell),
    ``commonest_dose`` over all plates and ``commonest_share`` (its share of the wells there).
    """
    if by not in ("column", "address"):
        raise PhenoBenchError(f"address_dose_table: by must be 'column' or 'address', got {by!r}")
    frame = _treated(meta, source)
    cell = frame.groupby([by, "plate", "dose_level"]).size().rename("n").reset_index()
    per_cell = cell.groupby([by, "plate"])["n"].agg(["sum", "max", "size"])
    per_key = per_cell.groupby(level=0).agg(wells=("sum", "sum"), top=("max", "sum"), cells=("size", "size"),
                                            one_dose=("size", lambda s: float((s == 1).mean())))
    overall = frame.groupby([by, "dose_level"]).size().rename("n").reset_index().sort_values([by, "n", "dose_level"], ascending=[True, False, True])
    first = overall.drop_duplicates(by).set_index(by)
    out = pd.DataFrame({
        "wells": per_key["wells"].astype(int), "cells": per_key["cells"].astype(int), "one_dose": per_key["one_dose"],
        "purity": per_key["top"] / per_key["wells"],
        "commonest_dose": first["dose_level"].reindex(per_key.index), "commonest_share": first["n"].reindex(per_key.index) / per_key["wells"],
    })
    return out.rename_axis(by).reset_index()


class AddressDoseSummary(BaseModel):
    """The address→dose table in a few numbers (one source)."""

    wells: int = Field(description="treated wells with a parsable address")
    plate_columns: int = Field(description="(plate, column) cells holding treated wells")
    plate_column_one_dose: float = Field(description="share of (plate, column) cells whose treated wells share one dose")
    plate_column_purity: float = Field(description="share of treated wells at the commonest dose of their (plate, column) cell")
    plate_column_purity_without_anchors: float | None = Field(None, description="the same, anchor molecules left out")
    address_purity: float = Field(description="share of treated wells at the commonest dose of their address over all plates")


def address_dose_summary(meta: pd.DataFrame, *, source: str | None = None, anchors: tuple[str, ...] = ()) -> AddressDoseSummary:
    """:func:`address_dose_table` summarised (well-weighted), with and without the anchor molecules."""
    columns = address_dose_table(meta, by="column", source=source)
    by_address = address_dose_table(meta, by="address", source=source)
    cells = (columns["cells"] * columns["one_dose"]).sum() / columns["cells"].sum()
    out = AddressDoseSummary(
        wells=int(columns["wells"].sum()), plate_columns=int(columns["cells"].sum()), plate_column_one_dose=float(cells),
        plate_column_purity=float((columns["purity"] * columns["wells"]).sum() / columns["wells"].sum()),
        address_purity=float((by_address["commonest_share"] * by_address["wells"]).sum() / by_address["wells"].sum()),
    )
    if anchors:
        rest = address_dose_table(meta[~meta["inchikey"].isin(anchors)], by="column", source=source)
        out.plate_column_purity_without_anchors = float((rest["purity"] * rest["wells"]).sum() / rest["wells"].sum())
    return out


def address_dose_prior(reference: pd.DataFrame, queries: pd.DataFrame) -> pd.DataFrame:
    """Per query: is the commonest dose of **other** molecules' reference wells at its address its own dose?

    reference: the wells a model could learn from (a fold's train wells; controls ignored), with
    ``inchikey``, ``dose_level`` and an address. queries: test wells (answers) with ``inchikey``,
    ``dose_level`` and an address. Returns ``queries`` with ``reference_wells`` (other molecules'
    reference wells at the address), ``hit`` (1/t when the query's dose is one of the t doses tied
    for commonest there, else 0; NaN without reference wells) and ``chance`` (1 / the number of
    dose levels of the query's molecule among ``queries``: guessing among the molecule's own doses).
    """
    ref = reference[~reference["is_control"].astype(bool)] if "is_control" in reference else reference
    ref = ref.assign(address=addresses(ref), dose_level=ref["dose_level"].astype(str))
    q = queries.assign(address=addresses(queries), dose_level=queries["dose_level"].astype(str)).reset_index(drop=True)
    q["_row"] = np.arange(len(q))
    total = ref.groupby(["address", "dose_level"]).size().rename("total").reset_index()
    own = ref.groupby(["address", "inchikey", "dose_level"]).size().rename("own").reset_index()
    grid = q[["_row", "address", "inchikey"]].merge(total, on="address")  # every dose present at the query's address
    grid = grid.merge(own, on=["address", "inchikey", "dose_level"], how="left").fillna({"own": 0})
    grid["other"] = grid["total"] - grid["own"]
    grid = grid[grid["other"] > 0]
    best = grid.groupby("_row")["other"].transform("max")
    top = grid[grid["other"] == best]
    ties = top.groupby("_row").size()
    own_top = top.merge(q[["_row", "dose_level"]], on=["_row", "dose_level"])["_row"]
    hit = pd.Series(0.0, index=ties.index)
    hit.loc[own_top.to_numpy()] = 1.0 / ties.loc[own_top.to_numpy()].to_numpy()
    out = q.drop(columns="_row")
    out["reference_wells"] = grid.groupby("_row")["other"].sum().reindex(q["_row"]).fillna(0).astype(int).to_numpy()
    out["hit"] = hit.reindex(q["_row"]).to_numpy()
    doses = q.groupby("inchikey")["dose_level"].nunique()
    out["chance"] = 1.0 / q["inchikey"].map(doses).to_numpy()
    return out


class AddressProbe(BaseModel):
    """How predictable a control well's address is from its features (plate-grouped cross-validation)."""

    controls: int = Field(description="control wells at the addresses used")
    addresses: list[str] = Field(description="addresses with at least min_controls control wells")
    plates: int
    accuracy: float = Field(description="cross-validated accuracy of a multinomial logistic regression on the features")
    majority: float = Field(description="share of the commonest address among those wells (the rate of always guessing it)")
    folds: int
    correction: str | None = Field(None, description="the well-position correction applied to the features first, if any")


def address_probe(
    features: np.ndarray, meta: pd.DataFrame, *, min_controls: int = MIN_CONTROLS_PER_ADDRESS, folds: int = 5,
    correction: str | None = None,
) -> AddressProbe:
    """Predict the address of control wells from their features, plates held out together.

    features: (n_wells, n_features) float, row-aligned with ``meta`` (``is_control``, ``plate`` and an
    address). Control wells at addresses holding at least ``min_controls`` of them are the examples;
    a standardise + multinomial logistic regression (scikit-learn defaults, C = 1) is scored by
    ``GroupKFold(folds)`` over plates, so a plate's controls are never in train and test at once.
    correction: only recorded (apply it to ``features`` before, e.g. with :func:`pheno_bench.layout.correct`).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    control = meta["is_control"].to_numpy(bool)
    address = addresses(meta).to_numpy(object)
    counts = pd.Series(address[control]).value_counts()
    kept = sorted(counts.index[counts >= min_controls], key=str)
    if len(kept) < 2:
        raise PhenoBenchError(f"address probe: fewer than 2 addresses hold {min_controls} or more control wells")
    rows = np.flatnonzero(control & pd.Series(address).isin(kept).to_numpy())
    y, groups = address[rows].astype(str), meta["plate"].to_numpy(object)[rows].astype(str)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5_000))
    predicted = cross_val_predict(model, np.asarray(features, dtype=np.float64)[rows], y, groups=groups, cv=GroupKFold(folds))
    return AddressProbe(
        controls=len(rows), addresses=[str(a) for a in kept], plates=int(len(set(groups))), accuracy=float((predicted == y).mean()),
        majority=float(pd.Series(y).value_counts(normalize=True).iloc[0]), folds=folds, correction=correction,
    )
