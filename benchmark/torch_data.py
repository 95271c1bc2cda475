"""A ``torch.utils.data.Dataset`` over a benchmark's labelled wells (needs PyTorch: the baselines extra).

>>> bench = pheno_bench.load_benchmark("cell-injury-v1")
>>> loader = torch.utils.data.DataLoader(bench.torch_dataset("train"), batch_size=256, shuffle=True)
>>> batch = next(iter(loader))   # {"features": (256, d) float32, "molecule": [...], "smiles": [...], "dose": [...], ...}

torch is imported when the dataset is first made (or ``pheno_bench.torch_data.WellsDataset`` is
first named), never when pheno_bench is imported.
"""

from __future__ import annotations

import numpy as np

from pheno_bench.errors import PhenoBenchError

_CLASS = None


def _dataset_class():
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    try:
        import torch
    except ImportError:
        raise PhenoBenchError("the torch dataset needs PyTorch: pip install 'pheno-bench[baselines]'") from None

    class WellsDataset(torch.utils.data.Dataset):
        """Wells of one split; item ``i`` is a dict with ``features`` (float32 tensor of shape (d,)),
        ``molecule`` (InChIKey), ``smiles``, ``dose`` (dose level), ``concentration_um``, ``active``
        and ``condition``. Control wells are left out unless ``include_controls`` (their molecule is "")."""

        def __init__(self, wells, *, include_controls: bool = False) -> None:
            keep = np.ones(len(wells), bool) if include_controls else ~wells.is_control
            arrays = wells.to_numpy()
            self.split = wells.name
            self.features = torch.from_numpy(np.ascontiguousarray(arrays["features"][keep]))
            self.columns = {k: arrays[k][keep] for k in ("molecule", "smiles", "dose", "concentration_um", "active", "condition")}

        def __len__(self) -> int:
            return len(self.features)

        def __getitem__(self, i: int) -> dict:
            item = {"features": self.features[i]}
            for key, values in self.columns.items():
                value = values[i]
                if isinstance(value, np.generic):
                    value = value.item()
                item[key] = "" if value is None or value != value else value  # a control has no molecule (None/NaN)
            return item

        def __repr__(self) -> str:
            return f"WellsDataset({self.split}, {len(self)} wells, {self.features.shape[1]} features)"

    _CLASS = WellsDataset
    return _CLASS


def wells_dataset(wells, *, include_controls: bool = False):
    """A ``WellsDataset`` (a ``torch.utils.data.Dataset``) over a :class:`pheno_bench.loader.WellSplit`."""
    return _dataset_class()(wells, include_controls=include_controls)


def __getattr__(name: str):
    if name == "WellsDataset":
        return _dataset_class()
    raise AttributeError(name)
