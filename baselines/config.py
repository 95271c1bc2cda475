"""The reference baselines as configurations: one pydantic model, three named instances, ablations.

Everything a baseline does differently is a field here; the training code has no per-baseline
branches beyond reading these fields. Importing this module does not need PyTorch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pheno_bench.errors import PhenoBenchError


class BaselineConfig(BaseModel):
    """How one baseline is trained. Defaults are shared by all baselines (matched comparison)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str
    paper: str = ""
    code: str = ""
    description: str = ""

    # loss
    loss: Literal["clip", "cloob", "s2l"] = Field(description="InfoNCE, InfoLOOB + Hopfield, or sigmoid (S2L)")
    inv_tau: float = Field(14.3, gt=0, description="initial inverse temperature of the loss")
    learnable_inv_tau: bool = False
    max_inv_tau: float = Field(100.0, description="clamp of a learnable inverse temperature (CLIP: ln 100)")
    hopfield_beta: float = Field(14.3, gt=0, description="Hopfield retrieval inverse temperature (cloob)")
    sigmoid_bias: float = Field(-10.0, description="initial bias of the sigmoid loss (SigLIP init)")
    soft_weight: float = Field(0.0, ge=0, le=1, description="weight of the arctan soft targets (s2l); 0 = plain sigmoid")

    # data guidelines (MolPhenix)
    explicit_concentration: bool = Field(False, description="one-hot dose level + log10 µM appended to the molecule input")
    implicit_concentration: bool = Field(False, description="each (molecule, dose) its own class in the loss")
    average_replicates: bool = Field(False, description="one training example per (molecule, dose): mean of its wells")
    undersample_inactive: bool = Field(False, description="keep inactive examples with probability inactive_keep per epoch")
    p_value_cutoff: float = Field(0.05, gt=0, le=1, description="a (molecule, dose) is inactive when p_value > cutoff")
    inactive_keep: float = Field(0.25, ge=0, le=1)

    # molecules
    featuriser: str = Field("morgan", description="see pheno_bench.baselines.featurise.get_featuriser")

    # encoders and optimisation (identical for every baseline)
    embed_dim: int = 128
    hidden_dim: int = 512
    n_layers: int = 2
    dropout: float = 0.1
    batch_size: int = 256
    samples_seen: int = Field(256_000, description="training examples drawn, matched across baselines")
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    threads: int = Field(1, ge=1, description="torch CPU threads, fixed for byte-identical results")
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @property
    def steps(self) -> int:
        return -(-self.samples_seen // self.batch_size)


MOLPHENIX_PAPER = (
    "Fradkin et al., How Molecules Impact Cells: Unlocking Contrastive PhenoMolecular Retrieval, "
    "NeurIPS 2024 (arXiv:2409.08302)"
)
CLOOME_PAPER = (
    "Sanchez-Fernandez et al., CLOOME: contrastive learning unlocks bioimaging databases for "
    "queries with chemical structures, Nat. Commun. 14, 7339 (2023)"
)

BASELINES: dict[str, BaselineConfig] = {
    "molphenix": BaselineConfig(
        name="molphenix",
        title="MolPhenix (S2L, concentration, averaging, undersampling)",
        paper=MOLPHENIX_PAPER,
        description="Sigmoid loss with arctan soft targets, learnable temperature and bias; explicit "
        "and implicit concentration; replicate averaging; inactive undersampling.",
        loss="s2l",
        inv_tau=10.0,
        learnable_inv_tau=True,
        soft_weight=0.2,
        explicit_concentration=True,
        implicit_concentration=True,
        average_replicates=True,
        undersample_inactive=True,
    ),
    "cloome": BaselineConfig(
        name="cloome",
        title="CLOOME (InfoLOOB + Hopfield)",
        paper=CLOOME_PAPER,
        code="https://github.com/ml-jku/cloome",
        description="InfoLOOB on Hopfield-retrieved embeddings of both modalities, inverse temperature "
        "and Hopfield β fixed at 14.3; one example per well; no concentration.",
        loss="cloob",
    ),
    "clip": BaselineConfig(
        name="clip",
        title="CLIP / InfoNCE control",
        paper="Radford et al., Learning Transferable Visual Models From Natural Language Supervision, ICML 2021",
        description="Symmetric InfoNCE with a learnable inverse temperature (init 14.3, clamped at 100); "
        "CLOOME's data and encoders.",
        loss="clip",
        learnable_inv_tau=True,
    ),
}

#: MolPhenix with each guideline switched off in turn: (key, row label, field overrides).
ABLATIONS: dict[str, list[tuple[str, str, dict]]] = {
    "molphenix": [
        ("full", "MolPhenix (all guidelines)", {}),
        ("infoloob", "S2L → InfoLOOB (CLOOME loss)", {"loss": "cloob", "inv_tau": 14.3, "learnable_inv_tau": False}),
        ("no-soft-targets", "S2L → plain sigmoid (no soft targets)", {"soft_weight": 0.0}),
        ("no-concentration", "no concentration encoding", {"explicit_concentration": False, "implicit_concentration": False}),
        ("no-averaging", "no replicate averaging", {"average_replicates": False}),
        ("no-undersampling", "no inactive undersampling", {"undersample_inactive": False}),
    ]
}


def get_config(name: str, **overrides) -> BaselineConfig:
    """The configuration of baseline ``name``, with fields replaced by ``overrides``."""
    if name not in BASELINES:
        raise PhenoBenchError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)} (see `pheno-bench baselines list`)")
    return BaselineConfig.model_validate({**BASELINES[name].model_dump(), **overrides})
