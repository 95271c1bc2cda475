"""The baselines' encoders: two MLPs (phenomic features, molecule features) into one space."""

from __future__ import annotations

import math

from pheno_bench.baselines._torch import torch
from pheno_bench.baselines.config import BaselineConfig
from pheno_bench.baselines.losses import clip_loss, cloob_loss, s2l_loss, s2l_similarity, sigmoid_loss, soft_targets

nn = torch.nn


def mlp(in_dim: int, hidden_dim: int, out_dim: int, n_layers: int, dropout: float) -> nn.Sequential:
    """n_layers × (Linear → BatchNorm → ReLU → Dropout), then Linear to ``out_dim`` (as CLOOME's MLP)."""
    layers: list[nn.Module] = []
    for layer in range(n_layers):
        layers += [nn.Linear(in_dim if layer == 0 else hidden_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden_dim, out_dim))
    return nn.Sequential(*layers)


class DualEncoder(nn.Module):
    """Phenomic and molecule encoders with the loss's temperature (and bias for the sigmoid loss).

    encode_*: (n, in_dim) → (n, embed_dim), L2-normalised. ``loss`` computes the config's loss.
    """

    def __init__(self, phenomic_dim: int, molecule_dim: int, config: BaselineConfig):
        super().__init__()
        self.config = config
        self.phenomic = mlp(phenomic_dim, config.hidden_dim, config.embed_dim, config.n_layers, config.dropout)
        self.molecule = mlp(molecule_dim, config.hidden_dim, config.embed_dim, config.n_layers, config.dropout)
        self.log_inv_tau = nn.Parameter(torch.tensor(math.log(config.inv_tau)), requires_grad=config.learnable_inv_tau)
        self.bias = nn.Parameter(torch.tensor(config.sigmoid_bias), requires_grad=config.loss == "s2l")

    def encode_phenomic(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.phenomic(x), dim=1)

    def encode_molecule(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.molecule(x), dim=1)

    def clamp(self) -> None:
        """Keep a learnable inverse temperature in [1, max_inv_tau] (CLIP's clamp)."""
        with torch.no_grad():
            self.log_inv_tau.clamp_(0.0, math.log(self.config.max_inv_tau))

    def loss(
        self, phenomic: torch.Tensor, molecule: torch.Tensor, classes: torch.Tensor, *, soft_scale: float
    ) -> torch.Tensor:
        """The configured loss on one batch: inputs (n, d), (n, m) and class ids (n,)."""
        x, y = self.encode_phenomic(phenomic), self.encode_molecule(molecule)
        positives = classes[:, None] == classes[None, :]
        if self.config.positives == "example":  # ml-jku/cloome: only the diagonal; same-class pairs are negatives
            positives = torch.eye(len(classes), dtype=torch.bool, device=classes.device)
        inv_tau = self.log_inv_tau.exp()
        if self.config.loss == "clip":
            return clip_loss(x, y, positives, inv_tau)
        if self.config.loss == "cloob":
            return cloob_loss(x, y, positives, inv_tau, self.config.hopfield_beta)
        config = self.config
        if config.soft_targets == "paper":
            with torch.no_grad():
                similarity = s2l_similarity(phenomic, positives, c=config.s2l_c, threshold=config.s2l_threshold)
            return s2l_loss(x, y, similarity, inv_tau, self.bias, gamma=config.s2l_gamma, delta=config.s2l_delta)
        with torch.no_grad():
            targets = soft_targets(phenomic, positives, scale=soft_scale, weight=config.soft_weight)
        return sigmoid_loss(x, y, targets, inv_tau, self.bias)
