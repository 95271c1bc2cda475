"""pheno-bench: the benchmark for contrastive phenomolecular retrieval.

The import name is ``pheno_bench``; its sources live in ``benchmark/`` (library and CLI) and
``baselines/`` (reference models, imported as ``pheno_bench.baselines``).

>>> import pheno_bench
>>> bench = pheno_bench.load_benchmark("cell-injury-v1")   # train/valid wells, test queries and candidates
"""

from pheno_bench.errors import PhenoBenchError
from pheno_bench.version import __version__

__all__ = ["PhenoBenchError", "__version__", "load_benchmark"]


def load_benchmark(name, fold=None, *, verify_files=True):
    """Load a built or downloaded benchmark into memory; see :func:`pheno_bench.loader.load_benchmark`."""
    from pheno_bench.loader import load_benchmark as _load

    return _load(name, fold, verify_files=verify_files)
