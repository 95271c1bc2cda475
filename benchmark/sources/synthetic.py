"""``synthetic``: seeded phenotypes planted on real molecules (the 16,978 SMILES of Moshkov et al. 2023).

One call generates one *lab*: a plate layout, batch effects and noise (from ``seed`` and ``name``)
around a planted biology that depends only on the molecule and ``biology_seed``, so two labs that
share molecules share their phenotypes. For molecule ``m`` at dose ``c`` (µM), with ``d`` features:

* direction ``w_m = normalise(sqrt(s) * u_scaffold + sqrt(1 - s) * v_m)``: ``u`` a random unit
  direction per Bemis–Murcko scaffold (acyclic molecules get their own), ``v_m`` a random unit
  direction per molecule, ``s = scaffold_share``;
* response ``f(m, c) = 1 / (1 + (EC50_m / c) ** hill)`` (a Hill curve on log concentration),
  ``log10 EC50_m`` uniform over the dose range widened by half a decade on each side;
* the ``inactive_fraction`` of all (molecule, dose) pairs of the file with the weakest response
  get no effect at all (they look like controls); because ``f`` grows with dose, a molecule is
  inactive at its lowest doses first;
* well = ``effect_size * sqrt(d) * f * w_m`` (zero for inactive pairs and controls)
  ``+ plate offset ~ N(0, plate_effect²)`` ``+ noise ~ N(0, noise²)`` per feature, float32.

One plate map holds every (molecule, dose) pair once, in a random order and at random addresses,
with ``controls_per_plate`` DMSO wells on every plate; each replicate is a copy of the map on its
own plates (as replicate plates in a screen), so replicates share an address (column ``well``,
e.g. ``B07``), which activity's control pseudo-treatments use. Each page of the map puts its
controls at other addresses, so an address holds controls on some plates and treated wells on
others. Options for the layout confounds of real screens: ``address_effect`` adds a per-address
offset ``~ N(0, address_effect²)`` per feature, the same on every plate (controls included);
``layout="randomised"`` shuffles the addresses of every plate independently (compounds and
controls move between plates, as in RxRx3-core). The column ``planted_response``
(``f`` for active pairs, 0 for inactive pairs and controls) is the truth the generator planted,
for validating activity calls; it is not a model input.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pheno_bench.errors import PhenoBenchError
from pheno_bench.schema import Wells, WellsMetadata
from pheno_bench.sources import Ingested, Source, read_csv, register, require_columns

SMILES_FILE = "smiles.txt"
PLATE_ROWS = {96: 8, 384: 16, 1536: 32}
CONTROL_ID = "DMSO"
CHUNK_ROWS = 1 << 16


class SyntheticOptions(BaseModel):
    """Options of the synthetic source (one lab); every one is validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("synthetic", pattern=r"^[a-z0-9][a-z0-9_-]*$", description="value of the source column (one per lab)")
    n_molecules: int | None = Field(None, ge=1, description="molecules from molecule_offset on (None: to the end of the file)")
    molecule_offset: int = Field(0, ge=0, description="first data row of smiles.txt used")
    molecules: tuple[int, ...] | None = Field(None, description="explicit data rows (0-based), instead of offset/n_molecules")
    doses: tuple[float, ...] = Field((0.1, 0.3, 1.0, 3.0, 10.0, 30.0), min_length=1, description="nominal doses (µM)")
    replicates: int = Field(3, ge=1, description="wells per (molecule, dose), each in its own plate series")
    wells_per_plate: Literal[96, 384, 1536] = 384
    controls_per_plate: int = Field(32, ge=1, description="DMSO wells on every plate")
    plates_per_batch: int = Field(20, ge=1)
    n_features: int = Field(64, ge=2)
    inactive_fraction: float = Field(0.3, ge=0.0, le=1.0, description="fraction of (molecule, dose) pairs with no effect")
    effect_size: float = Field(1.0, ge=0.0, description="RMS per-feature effect at full response, in noise units")
    scaffold_share: float = Field(0.7, ge=0.0, le=1.0, description="share of the effect direction common to a scaffold")
    hill: float = Field(1.0, gt=0.0, description="Hill slope of the dose response")
    noise: float = Field(1.0, gt=0.0, description="per-feature noise standard deviation")
    plate_effect: float = Field(0.5, ge=0.0, description="per-feature standard deviation of plate offsets")
    address_effect: float = Field(0.0, ge=0.0, description="per-feature standard deviation of well-address offsets (the same on every plate)")
    layout: Literal["fixed", "randomised"] = Field(
        "fixed", description="fixed: each pair at one address on all its plates (cell-injury); randomised: every plate shuffles its addresses (RxRx3-core)"
    )
    seed: int = Field(0, ge=0, description="the lab's layout, plate effects and noise")
    biology_seed: int = Field(0, ge=0, description="the planted phenotypes; shared by labs that should agree")

    @model_validator(mode="after")
    def _consistent(self) -> "SyntheticOptions":
        if self.controls_per_plate >= self.wells_per_plate:
            raise ValueError(f"controls_per_plate={self.controls_per_plate} leaves no treated well on a {self.wells_per_plate}-well plate")
        if any(not (math.isfinite(d) and d > 0) for d in self.doses):
            raise ValueError(f"doses must be positive µM values, got {list(self.doses)}")
        labels = [f"{d:.3g}" for d in self.doses]
        if len(set(labels)) != len(labels):
            raise ValueError(f"doses {list(self.doses)} are not distinct to 3 significant figures (their dose-level labels)")
        if self.molecules is not None:
            if self.n_molecules is not None or self.molecule_offset:
                raise ValueError("give either molecules or molecule_offset/n_molecules, not both")
            if not self.molecules or len(set(self.molecules)) != len(self.molecules) or min(self.molecules) < 0:
                raise ValueError("molecules must be distinct, non-negative data row numbers")
        return self


def synthetic_options(**options) -> SyntheticOptions:
    """Validate options; a bad value raises one :class:`PhenoBenchError` naming the option."""
    try:
        return SyntheticOptions(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" + (f" (got {e['input']!r})" if e["loc"] else "")
            for e in exc.errors()
        )
        raise PhenoBenchError(f"synthetic source: bad option {problems}; see SyntheticOptions for the allowed values") from None


def _stable_int(text: str) -> int:
    """A 64-bit integer from text, identical across runs and platforms (unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _selected_rows(opts: SyntheticOptions, n_file: int, path: Path) -> np.ndarray:
    if opts.molecules is not None:
        rows = np.asarray(opts.molecules, dtype=np.int64)
    else:
        stop = n_file if opts.n_molecules is None else opts.molecule_offset + opts.n_molecules
        rows = np.arange(opts.molecule_offset, stop, dtype=np.int64)
    if not len(rows) or rows.max() >= n_file:
        raise PhenoBenchError(
            f"{path}: has {n_file} molecules (data rows 0..{n_file - 1}); the synthetic options select rows "
            f"up to {rows.max() if len(rows) else opts.molecule_offset}; lower molecule_offset/n_molecules or molecules"
        )
    return rows


def planted_biology(smiles: np.ndarray, rows: np.ndarray, opts: SyntheticOptions) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The phenotype each selected molecule causes at each dose.

    smiles: all SMILES of the file (n_file,); rows: selected data rows (n,).
    Returns (effects float32 (n, n_doses, n_features), response float (n, n_doses), 0 where
    inactive, molecules frame (n rows) with ``inchikey`` and ``scaffold`` from curation's RDKit rules).
    Depends only on the molecule, the doses, ``biology_seed`` and the response options, never on the
    selection, so labs that share molecules share phenotypes.
    """
    from pheno_bench.molecules import standardise_molecules

    rng = np.random.default_rng(opts.biology_seed)
    d, doses = opts.n_features, np.asarray(opts.doses, dtype=float)
    own = rng.standard_normal((len(smiles), d), dtype=np.float32)[rows]
    lo, hi = np.log10(doses.min()) - 0.5, np.log10(doses.max()) + 0.5
    log_ec50 = rng.uniform(lo, hi, len(smiles))
    response_all = 1.0 / (1.0 + (10.0 ** log_ec50[:, None] / doses[None, :]) ** opts.hill)
    inactive = np.zeros(response_all.size, dtype=bool)
    inactive[np.argsort(response_all, axis=None, kind="stable")[: round(opts.inactive_fraction * response_all.size)]] = True
    response = np.where(inactive.reshape(response_all.shape), 0.0, response_all)[rows]

    molecules = standardise_molecules(pd.Series(smiles[rows])).reindex(smiles[rows])
    keys = [s if s else f"acyclic:{r}" for s, r in zip(molecules["scaffold"].fillna(""), rows)]
    distinct = sorted(set(keys))
    directions = np.stack([np.random.default_rng([opts.biology_seed, _stable_int(k)]).standard_normal(d, dtype=np.float32) for k in distinct])
    shared = _unit(directions)[np.searchsorted(distinct, keys)]
    direction = _unit(np.sqrt(opts.scaffold_share) * shared + np.sqrt(1.0 - opts.scaffold_share) * _unit(own))
    scale = (opts.effect_size * np.sqrt(d) * response).astype(np.float32)
    effects = scale[:, :, None] * direction[:, None, :].astype(np.float32)
    return effects, response, molecules.reset_index(drop=True)


def plate_layout(n_pairs: int, opts: SyntheticOptions, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign wells to plates and addresses.

    One plate map puts every (molecule, dose) pair once, in a random order, at random addresses,
    the last ``controls_per_plate`` addresses of each plate being controls; each replicate is a
    copy of that map on its own plates, so a pair's replicates share an address.
    Returns (pair (n_wells,) int64, -1 for controls; plate (n_wells,) int64; address index
    (n_wells,) int64 into the plate's row-major addresses), sorted by plate then address.
    """
    capacity, controls = opts.wells_per_plate - opts.controls_per_plate, opts.controls_per_plate
    per_map = -(-n_pairs // capacity)
    positions = rng.permuted(np.tile(np.arange(opts.wells_per_plate), (per_map, 1)), axis=1)
    map_pair = np.concatenate([rng.permutation(n_pairs), np.full(per_map * controls, -1)])
    map_plate = np.concatenate([np.arange(n_pairs) // capacity, np.repeat(np.arange(per_map), controls)])
    map_slot = np.concatenate([np.arange(n_pairs) % capacity, np.tile(capacity + np.arange(controls), per_map)])
    map_address = positions[map_plate, map_slot]
    plate = np.concatenate([r * per_map + map_plate for r in range(opts.replicates)])
    pair, address = np.tile(map_pair, opts.replicates), np.tile(map_address, opts.replicates)
    order = np.lexsort((address, plate))
    return pair[order], plate[order], address[order]


def _addresses(wells_per_plate: int) -> np.ndarray:
    """Row-major well addresses: A01 ... P24 on 384 wells, AA01 ... AF48 on 1536."""
    n_rows = PLATE_ROWS[wells_per_plate]
    n_cols = wells_per_plate // n_rows
    letters = [chr(65 + i) for i in range(26)]
    rows = (letters + ["A" + x for x in letters])[:n_rows]
    return np.array([f"{r}{c:02d}" for r in rows for c in range(1, n_cols + 1)], dtype=object)


def _add_rows(target: np.ndarray, table: np.ndarray, index: np.ndarray) -> None:
    """``target[i] += table[index[i]]`` where ``index[i] >= 0``, in chunks to bound memory."""
    for start in range(0, len(target), CHUNK_ROWS):
        block = index[start : start + CHUNK_ROWS]
        hit = np.flatnonzero(block >= 0)
        target[start + hit] += table[block[hit]]


def read_synthetic(folder: Path, **options) -> Ingested:
    """Generate one synthetic lab from ``folder/smiles.txt`` (see the module docstring and :class:`SyntheticOptions`)."""
    opts = synthetic_options(**options)
    path = folder / SMILES_FILE
    table = read_csv(path, dtype=str, keep_default_na=False)
    require_columns(table, ["smiles"], path)
    smiles = table["smiles"].to_numpy(dtype=object)
    rows = _selected_rows(opts, len(smiles), path)
    effects, response, molecules = planted_biology(smiles, rows, opts)

    n_doses, d = len(opts.doses), opts.n_features
    rng = np.random.default_rng([opts.seed, _stable_int(opts.name)])
    pair, plate, address = plate_layout(len(rows) * n_doses, opts, rng)
    n_plates = int(plate.max()) + 1
    plate_offsets = rng.standard_normal((n_plates, d), dtype=np.float32) * np.float32(opts.plate_effect)
    features = rng.standard_normal((len(pair), d), dtype=np.float32)
    features *= np.float32(opts.noise)
    _add_rows(features, plate_offsets, plate)
    _add_rows(features, effects.reshape(-1, d), pair)
    # layout options draw from their own streams, so the defaults leave every earlier draw unchanged
    if opts.layout == "randomised":
        shuffle = np.random.default_rng([opts.seed, _stable_int(opts.name), 2])
        permutations = np.stack([shuffle.permutation(opts.wells_per_plate) for _ in range(n_plates)])
        address = permutations[plate, address]
    if opts.address_effect > 0:
        offsets = np.random.default_rng([opts.seed, _stable_int(opts.name), 1]).standard_normal((opts.wells_per_plate, d), dtype=np.float32)
        _add_rows(features, offsets * np.float32(opts.address_effect), address)

    treated = pair >= 0
    molecule = np.where(treated, pair // n_doses, 0)
    dose = np.where(treated, pair % n_doses, 0)
    plate_names = np.array([f"{opts.name}:P{k:05d}" for k in range(n_plates)], dtype=object)
    wells = _addresses(opts.wells_per_plate)[address]
    batch_names = np.array([f"{opts.name}:B{k:03d}" for k in range(n_plates // opts.plates_per_batch + 1)], dtype=object)
    compound_ids = np.array([f"moshkov-{r}" for r in rows], dtype=object)
    meta = pd.DataFrame(
        {
            "well_id": plate_names[plate] + ":" + wells,
            "source": opts.name,
            "plate": plate_names[plate],
            "batch": batch_names[plate // opts.plates_per_batch],
            "is_control": ~treated,
            "compound_id": np.where(treated, compound_ids[molecule], CONTROL_ID),
            "smiles": np.where(treated, smiles[rows][molecule], None),
            "inchikey": np.where(treated, molecules["inchikey"].to_numpy(dtype=object)[molecule], None),
            "concentration_um": np.where(treated, np.asarray(opts.doses)[dose], np.nan),
            "dose_level": None,
            "well": wells,
            "planted_response": np.where(treated, response[molecule, dose], 0.0),
        }
    )
    metadata = WellsMetadata(
        sources=[opts.name],
        feature_names=[f"feature_{i:03d}" for i in range(d)],
        feature_space=f"synthetic (planted phenotype + plate offsets + noise); options {opts.model_dump_json()}",
    )
    return Ingested(wells=Wells(meta, features, metadata), files={SMILES_FILE: path})


SOURCE = register(
    Source(
        name="synthetic",
        folder="molecules-moshkov2023",
        licence="MIT (molecules, Moshkov et al. 2023); generated phenotypes",
        citation="Moshkov et al., Predicting compound activity from phenotypic profiles and chemical structures, Nat. Commun. 2023 (molecules only)",
        nominal_doses_um=None,
        reader=read_synthetic,
    )
)
