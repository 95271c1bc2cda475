"""PyTorch, or one clear error saying how to install it: every torch user imports it from here."""

from pheno_bench.errors import PhenoBenchError

try:
    import torch
except ModuleNotFoundError:
    raise PhenoBenchError(
        "the baselines need PyTorch, which is not installed: pip install 'pheno-bench[baselines]'"
    ) from None

__all__ = ["torch"]
