"""Train a :class:`DualEncoder` on a :class:`TrainingSet`, deterministically per seed, and embed."""

from __future__ import annotations

import math
import os
from typing import Iterator

import numpy as np
from rich.progress import track

from pheno_bench.baselines._torch import torch
from pheno_bench.baselines.config import BaselineConfig
from pheno_bench.baselines.data import TrainingSet
from pheno_bench.baselines.models import DualEncoder
from pheno_bench.errors import PhenoBenchError


def device_for(config: BaselineConfig) -> torch.device:
    """``cuda`` when asked, or when ``auto`` and a GPU is present; else ``cpu``."""
    if config.device == "cuda" and not torch.cuda.is_available():
        raise PhenoBenchError("device cuda requested but no GPU is visible to PyTorch; use --device cpu")
    use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def make_deterministic(seed: int, threads: int) -> None:
    """Seed torch, fix the CPU thread count and ask for deterministic kernels."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def batch_indices(data: TrainingSet, config: BaselineConfig, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless batches of example indices: epochs of shuffled examples, cut into ``batch_size``.

    With undersampling, each epoch keeps every active example and each inactive one with
    probability ``inactive_keep``. Batches run across epoch boundaries, so all have full size.
    """
    n = len(data.classes)
    undersample = config.undersample_inactive and data.inactive.any()
    if undersample and data.inactive.all() and config.inactive_keep == 0:
        raise PhenoBenchError("every training example is inactive and inactive_keep is 0: nothing to train on")
    buffer = np.zeros(0, dtype=np.int64)
    while True:
        while len(buffer) < config.batch_size:
            keep = ~data.inactive | (rng.random(n) < config.inactive_keep) if undersample else np.ones(n, bool)
            buffer = np.concatenate([buffer, rng.permutation(np.flatnonzero(keep))])
        yield buffer[: config.batch_size]
        buffer = buffer[config.batch_size :]


def _schedule(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(data: TrainingSet, config: BaselineConfig, *, seed: int, progress: bool = True) -> DualEncoder:
    """Train for ``config.steps`` batches (``samples_seen`` examples); returns the model in eval mode."""
    make_deterministic(seed, config.threads)
    device = device_for(config)
    model = DualEncoder(data.phenomic.shape[1], data.molecule.shape[1], config).to(device)
    phenomic = torch.from_numpy(data.phenomic).to(device)
    subsets = np.random.default_rng([seed, 1]) if data.members is not None else None
    molecule = torch.from_numpy(data.molecule).to(device)
    classes = torch.from_numpy(data.classes).to(device)
    decay = [p for p in model.parameters() if p.ndim > 1]
    other = [p for p in model.parameters() if p.ndim <= 1 and p.requires_grad]
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": other, "weight_decay": 0.0}], lr=config.lr
    )
    warmup = max(1, int(config.warmup_fraction * config.steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: _schedule(step, config.steps, warmup))
    batches = batch_indices(data, config, np.random.default_rng(seed))
    model.train()
    for _ in track(range(config.steps), description=f"training {config.name} seed {seed}", disable=not progress):
        rows = next(batches)
        index = torch.from_numpy(rows).to(device)
        inputs = phenomic[index] if subsets is None else torch.from_numpy(data.batch_phenomic(rows, subsets)).to(device)
        loss = model.loss(inputs, molecule[index], classes[index], soft_scale=data.soft_scale)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        scheduler.step()
        model.clamp()
    return model.eval()


@torch.no_grad()
def embed(model: DualEncoder, inputs: np.ndarray, *, kind: str, batch_size: int = 4096) -> np.ndarray:
    """Embeddings (n, embed_dim) float32 of phenomic (``kind="phenomic"``) or molecule inputs (n, in_dim)."""
    encode = model.encode_phenomic if kind == "phenomic" else model.encode_molecule
    device = next(model.parameters()).device
    chunks = [
        encode(torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size])).to(device)).cpu().numpy()
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, model.config.embed_dim), np.float32)
