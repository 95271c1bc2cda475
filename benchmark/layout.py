"""Well-position corrections: remove plate-address effects estimated from control wells.

In a screen with a fixed layout every molecule sits at the same address on all its plates, so an
address effect (edge evaporation, dispensing order, illumination) travels with the molecule and a
model can learn it. The corrections here are fitted on **control wells only** (never on treated
wells, whose phenotype would be removed with the effect) and applied to every well of the source:

* ``"rowcol-controls"``: per source and feature, a two-way additive model ``row + column`` fitted
  to the control wells of all plates (already standardised per plate) by median polish
  (Tukey; robust to a few odd controls), then subtracted from every well at that row and column.
  Controls cover every row and column that holds treated wells in cell-injury, so every treated
  address gets a correction; an address-specific (non-additive) effect is not removed.
* ``"address-controls"``: ``rowcol-controls``, plus the median residual of the controls at an
  address where at least ``MIN_AT_ADDRESS`` controls sit there (cell-injury: 5 addresses hold
  80+ controls, most others 10 or fewer).

Wells without an address (``well`` missing) are left unchanged.
"""

from __future__ import annotations

import re

import numpy as np

from pheno_bench.errors import PhenoBenchError
from pheno_bench.schema import Wells

METHODS = ("rowcol-controls", "address-controls")
MIN_AT_ADDRESS = 10
POLISH_ITERATIONS = 10
_ADDRESS = re.compile(r"^([A-Z]+)0*(\d+)$")


def split_address(addresses) -> tuple[np.ndarray, np.ndarray]:
    """Row labels and column numbers of well addresses (``"B07"`` -> ``("B", 7)``); ("", -1) where unparsable."""
    rows, cols = [], []
    for a in addresses:
        match = _ADDRESS.match(str(a)) if a is not None else None
        rows.append(match.group(1) if match else "")
        cols.append(int(match.group(2)) if match else -1)
    return np.array(rows, dtype=object), np.array(cols)


def median_polish(x: np.ndarray, row: np.ndarray, col: np.ndarray, iterations: int = POLISH_ITERATIONS) -> tuple[dict, dict]:
    """Additive row and column effects (n_features each) of ``x`` (n, d) by median polish."""
    residual = x.astype(np.float64).copy()
    row_effect = {r: np.zeros(x.shape[1]) for r in np.unique(row)}
    col_effect = {c: np.zeros(x.shape[1]) for c in np.unique(col)}
    rows = {r: np.flatnonzero(row == r) for r in row_effect}
    cols = {c: np.flatnonzero(col == c) for c in col_effect}
    for _ in range(iterations):
        for r, index in rows.items():
            m = np.median(residual[index], axis=0)
            row_effect[r] += m
            residual[index] -= m
        for c, index in cols.items():
            m = np.median(residual[index], axis=0)
            col_effect[c] += m
            residual[index] -= m
    return row_effect, col_effect


def correct(wells: Wells, method: str) -> np.ndarray:
    """Features of ``wells`` with the well-position effect ``method`` removed (float32 (n, d)); see the module docstring."""
    if method not in METHODS:
        raise PhenoBenchError(f"unknown layout correction {method!r}; known: {', '.join(METHODS)}")
    out = wells.features.astype(np.float32).copy()
    if "well" not in wells.meta:
        return out
    meta = wells.meta
    for _, index in meta.groupby("source", sort=True).indices.items():
        row, col = split_address(meta["well"].to_numpy(object)[index])
        control = meta["is_control"].to_numpy(bool)[index] & (col >= 0)
        if control.sum() < 3:
            continue
        x = wells.features[index]
        row_effect, col_effect = median_polish(x[control], row[control], col[control])
        fitted = np.zeros_like(x, dtype=np.float64)
        for i, (r, c) in enumerate(zip(row, col)):
            fitted[i] = row_effect.get(r, 0.0) + col_effect.get(c, 0.0)
        if method == "address-controls":
            residual = x[control] - fitted[control]
            address = meta["well"].to_numpy(object)[index]
            ctrl_address = address[control]
            for a in np.unique(ctrl_address):
                at = ctrl_address == a
                if at.sum() >= MIN_AT_ADDRESS:
                    fitted[address == a] += np.median(residual[at], axis=0)
        out[index] = (x - fitted).astype(np.float32)
    return out
