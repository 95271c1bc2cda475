"""Contrastive losses of the baselines (written from the papers' definitions).

Shapes: ``x`` (n, e) phenomic embeddings and ``y`` (n, e) molecule embeddings, both L2-normalised,
row i of each from the same training example; ``positives`` (n, n) bool, true where examples i and
j share a class (the diagonal at least). With an identity ``positives`` every loss reduces to its
paper's one-positive-per-row form; with repeated classes in a batch the positives are averaged.
"""

from __future__ import annotations

import math

from pheno_bench.baselines._torch import torch

F = torch.nn.functional
_MASKED = -1e9  # a logit that contributes nothing to a logsumexp, yet keeps gradients finite


def info_loob(a: torch.Tensor, b: torch.Tensor, positives: torch.Tensor, inv_tau: torch.Tensor | float) -> torch.Tensor:
    """InfoLOOB (leave-one-out bound): the positive is left out of the denominator.

    loss = τ · mean_i [ −mean_{j ∈ P(i)} k_ij + log Σ_{j ∉ P(i)} exp k_ij ],  k = a bᵀ / τ.
    Rows without a negative are skipped.
    """
    logits = inv_tau * a @ b.T
    positive = (logits * positives).sum(1) / positives.sum(1)
    negative = torch.logsumexp(logits.masked_fill(positives, _MASKED), dim=1)
    has_negative = (~positives).any(1)
    per_row = torch.where(has_negative, negative - positive, torch.zeros_like(positive))
    return per_row.sum() / has_negative.sum().clamp(min=1) / inv_tau


def hopfield_retrieval(state: torch.Tensor, stored: torch.Tensor, beta: float) -> torch.Tensor:
    """One modern-Hopfield update: softmax(β · state storedᵀ) stored, L2-normalised. Shape of ``state``."""
    return F.normalize(torch.softmax(beta * state @ stored.T, dim=1) @ stored, dim=1)


def cloob_loss(
    x: torch.Tensor, y: torch.Tensor, positives: torch.Tensor, inv_tau: torch.Tensor | float, beta: float
) -> torch.Tensor:
    """CLOOB/CLOOME: InfoLOOB between Hopfield-retrieved embeddings, in both modalities.

    U_x = H(x; x), V_x = H(y; x) (molecules retrieve phenotypes); U_y = H(y; y), V_y = H(x; y).
    loss = InfoLOOB(U_x, V_x) + InfoLOOB(U_y, V_y).
    """
    u_x, v_x = hopfield_retrieval(x, x, beta), hopfield_retrieval(y, x, beta)
    u_y, v_y = hopfield_retrieval(y, y, beta), hopfield_retrieval(x, y, beta)
    return info_loob(u_x, v_x, positives, inv_tau) + info_loob(u_y, v_y, positives, inv_tau)


def clip_loss(x: torch.Tensor, y: torch.Tensor, positives: torch.Tensor, inv_tau: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): mean of the two cross-entropies over inv_tau · x yᵀ."""
    logits = inv_tau * x @ y.T
    targets = positives.float()
    rows = F.cross_entropy(logits, targets / targets.sum(1, keepdim=True))
    columns = F.cross_entropy(logits.T, targets.T / targets.T.sum(1, keepdim=True))
    return (rows + columns) / 2


def soft_targets(phenomic: torch.Tensor, positives: torch.Tensor, *, scale: float, weight: float) -> torch.Tensor:
    """S2L targets (n, n): 1 for positives, else weight · (1 − (2/π) arctan(d_ij / scale)).

    d_ij is the RMS per-feature Euclidean distance between the frozen phenomic inputs (n, d) of
    examples i and j: similar phenotypes (e.g. two inactive molecules) get a partial positive.
    """
    distance = torch.cdist(phenomic, phenomic, compute_mode="donot_use_mm_for_euclid_dist") / math.sqrt(phenomic.shape[1])
    similarity = 1 - (2 / math.pi) * torch.atan(distance / scale)
    return torch.where(positives, torch.ones_like(similarity), weight * similarity)


def sigmoid_loss(
    x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor, inv_tau: torch.Tensor | float, bias: torch.Tensor | float
) -> torch.Tensor:
    """Pairwise sigmoid loss (SigLIP; S2L with soft ``targets``):

    loss = −(1/n) Σ_ij [ t_ij log σ(z_ij) + (1 − t_ij) log(1 − σ(z_ij)) ],  z = inv_tau · x yᵀ + bias.
    """
    logits = inv_tau * x @ y.T + bias
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / len(x)


def s2l_similarity(phenomic: torch.Tensor, positives: torch.Tensor, *, c: float, threshold: float) -> torch.Tensor:
    """MolPhenix S2L inter-sample similarity (n, n) of frozen phenomic inputs (n, d).

    u = inputs L2-normalised; s_ij = 1 − (4/π)·arctan(‖u_i − u_j‖² / c), set to 0 below
    ``threshold``, and 1 where i and j share a class.
    """
    u = F.normalize(phenomic, dim=1)
    distance2 = torch.cdist(u, u, compute_mode="donot_use_mm_for_euclid_dist") ** 2
    similarity = 1 - (4 / math.pi) * torch.atan(distance2 / c)
    similarity = torch.where(similarity < threshold, torch.zeros_like(similarity), similarity)
    return torch.where(positives, torch.ones_like(similarity), similarity)


def s2l_loss(
    x: torch.Tensor, y: torch.Tensor, similarity: torch.Tensor, inv_tau: torch.Tensor | float, bias: torch.Tensor | float,
    *, gamma: float, delta: float,
) -> torch.Tensor:
    """MolPhenix S2L: loss = −(1/n) Σ_ij [ s_ij log σ(z_ij) + (γ − δ·s_ij) log σ(−z_ij) ],
    z = inv_tau · x yᵀ + bias (a phenotype i against molecule j)."""
    logits = inv_tau * x @ y.T + bias
    return -(similarity * F.logsigmoid(logits) + (gamma - delta * similarity) * F.logsigmoid(-logits)).sum() / len(x)
