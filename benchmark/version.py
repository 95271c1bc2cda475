"""The installed pheno-bench version (``pheno_bench.__version__``), in a module of its own so that
every layer can read it without importing the package root (which imports the loader)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pheno-bench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
