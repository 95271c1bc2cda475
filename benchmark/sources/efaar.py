"""The publisher's EFAAR alignment of embeddings against control wells (``recursionpharma/EFAAR_benchmarking``, ``efaar.py``).

Used by the ``rxrx3-core`` adapter (``align=``); see its module docstring for which step
``rxrx3-core-v1`` uses and why. Only control wells enter any fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pheno_bench.errors import PhenoBenchError

CORAL_RIDGE = 0.5


def centerscale_by_plate(features: np.ndarray, plate: np.ndarray, control: np.ndarray) -> np.ndarray:
    """EFAAR's ``centerscale_on_controls`` with the plate as batch: (x - mean) / std of the plate's controls.

    features: (n, d); plate: labels (n,); control: bool (n,). Returns float32 (n, d).
    """
    out = np.empty(features.shape, dtype=np.float32)
    for index in pd.Series(np.arange(len(features))).groupby(plate, sort=True).indices.values():
        out[index] = _centre_scale(features[index].astype(np.float64), control[index])
    return out


def efaar_align(features: np.ndarray, plate: np.ndarray, experiment: np.ndarray, control: np.ndarray) -> np.ndarray:
    """The EFAAR alignment of ``recursionpharma/EFAAR_benchmarking`` (``centerscale_on_controls`` + ``tvn_on_controls``).

    features: (n, d); plate, experiment: labels (n,); control: bool (n,).
    Steps: per plate centre-scale on its controls; PCA fitted on all controls (TVN); centre-scale
    on all controls; per experiment CORAL: multiply by (cov(controls) + 0.5·I)^(-1/2).
    Returns float32 (n, d). Only control wells are fitted on.
    """
    x = features.astype(np.float64)
    for index in pd.Series(np.arange(len(x))).groupby(plate, sort=True).indices.values():
        x[index] = _centre_scale(x[index], control[index])
    ctrl = x[control]
    mean = ctrl.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(ctrl - mean, rowvar=False))
    vectors = vectors[:, ::-1]  # components by decreasing variance, as sklearn's PCA
    vectors *= np.where(vectors[np.abs(vectors).argmax(axis=0), range(vectors.shape[1])] < 0, -1.0, 1.0)  # sign fixed
    x = (x - mean) @ vectors
    x = _centre_scale(x, control)
    for index in pd.Series(np.arange(len(x))).groupby(experiment, sort=True).indices.values():
        ctrl = x[index[control[index]]]
        cov = np.cov(ctrl, rowvar=False, ddof=1) + CORAL_RIDGE * np.eye(x.shape[1])
        values, vectors = np.linalg.eigh(cov)
        x[index] = x[index] @ (vectors * values ** -0.5) @ vectors.T
    return x.astype(np.float32)


def _centre_scale(x: np.ndarray, control: np.ndarray) -> np.ndarray:
    ctrl = x[control]
    if len(ctrl) < 2:
        raise PhenoBenchError("EFAAR alignment: a plate has fewer than 2 control wells; use align='none'")
    scale = ctrl.std(axis=0)
    # a direction (nearly) constant on the controls, e.g. past the controls' rank when there are
    # fewer control wells than features, is centred but not scaled
    usable = scale > 1e-6 * max(float(np.median(scale)), 1e-12)
    return (x - ctrl.mean(axis=0)) / np.where(usable, scale, 1.0)
