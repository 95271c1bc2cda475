"""Reference baselines (CLOOME, MolPhenix, CLIP), trained on a benchmark's train split."""
