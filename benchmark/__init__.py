"""pheno-bench: the benchmark for contrastive phenomolecular retrieval.

The import name is ``pheno_bench``; its sources live in ``benchmark/`` (library and CLI) and
``baselines/`` (reference models, imported as ``pheno_bench.baselines``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pheno-bench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from pheno_bench.errors import PhenoBenchError

__all__ = ["PhenoBenchError", "__version__"]
