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
    positives: Literal["class", "example"] = Field(
        "class", description="class: examples of the same class in a batch are positives of each other (averaged) and "
        "left out of the negatives; example: only an example's own pair is positive, every other pair of the batch a "
        "negative, same class included (ml-jku/cloome, src/training/methods.py: torch.eye)"
    )
    soft_weight: float = Field(0.0, ge=0, le=1, description="weight of the arctan soft targets (s2l, soft_targets=v1); 0 = plain sigmoid")
    soft_targets: Literal["v1", "paper"] = Field(
        "v1", description="v1: BCE on w·(1 − (2/π)arctan(RMS distance/δ)); paper: MolPhenix S2L (see losses.s2l_loss)"
    )
    s2l_c: float = Field(0.3, gt=0, description="paper S2L: s = 1 − (4/π)·arctan(‖u_i − u_j‖² / c)")
    s2l_threshold: float = Field(0.75, ge=0, le=1, description="paper S2L: similarities below it are set to 0")
    s2l_gamma: float = Field(1.7, description="paper S2L: weight of the negative term, γ − δ·s")
    s2l_delta: float = Field(0.75, description="paper S2L: δ in γ − δ·s")

    # data guidelines (MolPhenix)
    explicit_concentration: bool = Field(False, description="one-hot dose level + log10 µM appended to the molecule input")
    implicit_concentration: bool = Field(False, description="each (molecule, dose) its own class in the loss")
    average_replicates: bool = Field(False, description="one training example per condition (molecule, dose, time): mean of its wells")
    averaging: Literal["mean", "subsets"] = Field(
        "mean", description="mean: one fixed mean of all replicates; subsets: each draw averages a random non-empty subset of them"
    )
    undersample_inactive: bool = Field(False, description="keep inactive examples with probability inactive_keep per epoch")
    p_value_cutoff: float = Field(0.05, gt=0, le=1, description="a (molecule, dose) is inactive when p_value > cutoff")
    inactive_keep: float = Field(0.25, ge=0, le=1)

    # molecules
    featuriser: str = Field("morgan", description="see pheno_bench.baselines.featurise.get_featuriser")

    # encoders and optimisation (shared unless a faithful configuration says otherwise)
    embed_dim: int = 128
    hidden_dim: int = 512
    n_layers: int = 2
    dropout: float = 0.1
    batch_size: int = 256
    samples_seen: int = Field(256_000, description="training examples drawn, matched across baselines")
    lr: float = 1e-3
    weight_decay: float = Field(1e-4, description="AdamW decay of weight matrices (norms, biases and temperatures are never decayed)")
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

_MOLPHENIX_V1 = dict(
    loss="s2l",
    inv_tau=10.0,
    learnable_inv_tau=True,
    soft_weight=0.2,
    explicit_concentration=True,
    implicit_concentration=True,
    average_replicates=True,
    undersample_inactive=True,
)
_CLOOME_V1 = dict(loss="cloob")
#: Embedding size of the reference entries: the smallest that keeps submissions/ under 60 MB with
#: every fold and seed (CLOOME's published 512 is an ablation row; see site/baselines.md).
EMBED_DIM = 64

BASELINES: dict[str, BaselineConfig] = {
    "molphenix": BaselineConfig(
        name="molphenix",
        title="MolPhenix (S2L, concentration, replicate subsets, undersampling; MiniMol)",
        paper=MOLPHENIX_PAPER,
        description="Frozen pre-trained molecule encoder (MiniMol, 512-d) and frozen phenomic features; S2L loss "
        "(pairwise sigmoid weighted by arctan phenomic similarity, learnable temperature and bias); explicit and implicit "
        "concentration; each example a mean of a random subset of its condition's replicates; inactive undersampling.",
        **{**_MOLPHENIX_V1, "soft_targets": "paper", "averaging": "subsets", "featuriser": "minimol", "embed_dim": EMBED_DIM},
    ),
    "cloome": BaselineConfig(
        name="cloome",
        title="CLOOME (InfoLOOB + Hopfield, as published; MLP for the image ResNet)",
        paper=CLOOME_PAPER,
        code="https://github.com/ml-jku/cloome",
        description="As ml-jku/cloome: molecule MLP 4 x 1024 (BatchNorm, ReLU) on 1,024-bit radius-3 chiral Morgan bits, 64-d "
        "embedding (published: 512, an ablation row), "
        "AdamW lr 5e-4 and weight decay 0.2 (not on norms and biases), InfoLOOB with Hopfield beta = "
        "inverse temperature = 14.3, fixed; the image ResNet replaced by the same MLP on the benchmark features; one "
        "example per well; no concentration.",
        loss="cloob",
        featuriser="morgan-bits",
        hidden_dim=1024,
        n_layers=4,
        embed_dim=EMBED_DIM,
        dropout=0.0,
        lr=5e-4,
        weight_decay=0.2,
    ),
    "clip": BaselineConfig(
        name="clip",
        title="CLIP / InfoNCE control",
        paper="Radford et al., Learning Transferable Visual Models From Natural Language Supervision, ICML 2021",
        description="Symmetric InfoNCE with a learnable inverse temperature (init 14.3, clamped at 100); "
        "one example per well, no concentration; the shared v1 encoders.",
        loss="clip",
        learnable_inv_tau=True,
        embed_dim=EMBED_DIM,
    ),
}

#: The other featuriser each trained baseline is run with (an ablation row; the entry uses the default).
FEATURISER_VARIANTS: dict[str, list[str]] = {"molphenix": ["morgan"], "cloome": ["minimol"], "clip": ["minimol"]}

#: Ablation rows per baseline: (key, row label, field overrides of the baseline's configuration).
ABLATIONS: dict[str, list[tuple[str, str, dict]]] = {
    "molphenix": [
        ("full", "MolPhenix (all guidelines, MiniMol)", {}),
        ("morgan", "Morgan counts instead of MiniMol", {"featuriser": "morgan"}),
        ("v1", "v1 matched-budget MolPhenix (v1 soft targets, fixed means, Morgan)", {**_MOLPHENIX_V1, "soft_targets": "v1", "averaging": "mean", "featuriser": "morgan", "embed_dim": 128}),
        ("infoloob", "S2L → InfoLOOB (CLOOME loss)", {"loss": "cloob", "inv_tau": 14.3, "learnable_inv_tau": False}),
        ("no-soft-targets", "S2L → plain sigmoid (no soft targets)", {"soft_targets": "v1", "soft_weight": 0.0}),
        ("no-concentration", "no concentration encoding", {"explicit_concentration": False, "implicit_concentration": False}),
        ("fixed-means", "replicate averaging: one fixed mean", {"averaging": "mean"}),
        ("no-averaging", "no replicate averaging", {"average_replicates": False}),
        ("no-undersampling", "no inactive undersampling", {"undersample_inactive": False}),
        ("p0.01", "inactive if p > 0.01", {"p_value_cutoff": 0.01}),
        ("p0.1", "inactive if p > 0.1", {"p_value_cutoff": 0.1}),
    ],
    "cloome": [
        ("full", "CLOOME (as published, Morgan bits)", {}),
        ("minimol", "MiniMol instead of Morgan bits", {"featuriser": "minimol"}),
        ("512d", "512-d embedding (as published)", {"embed_dim": 512}),
        ("eye-positives", "same-molecule wells as negatives (ml-jku/cloome's identity positives)", {"positives": "example"}),
        ("v1", "v1 matched-budget CLOOME (2 x 512 MLPs, 128-d, Morgan counts)", {
            "featuriser": "morgan", "hidden_dim": 512, "n_layers": 2, "embed_dim": 128, "dropout": 0.1, "lr": 1e-3, "weight_decay": 1e-4}),
    ],
    "clip": [("full", "CLIP (Morgan counts)", {}), ("minimol", "MiniMol instead of Morgan counts", {"featuriser": "minimol"})],
}


def get_config(name: str, **overrides) -> BaselineConfig:
    """The configuration of baseline ``name``, with fields replaced by ``overrides``."""
    if name not in BASELINES:
        raise PhenoBenchError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)} (see `pheno-bench baselines list`)")
    return BaselineConfig.model_validate({**BASELINES[name].model_dump(), **overrides})
