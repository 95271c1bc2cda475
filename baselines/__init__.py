"""Reference baselines (MolPhenix, CLOOME, CLIP), trained on a benchmark's train split.

Modules: ``config`` (the baselines as :class:`~pheno_bench.baselines.config.BaselineConfig`
instances, and the MolPhenix ablations), ``featurise`` (cached, pluggable molecule featurisers),
``data`` (benchmark files → training examples and model inputs), ``losses`` and ``models``
(PyTorch), ``train`` (deterministic training, embedding) and ``run`` (train → submission →
scorer, per seed; the ablation). Only ``losses``, ``models``, ``train`` and ``run`` need PyTorch
(``pip install 'pheno-bench[baselines]'``); importing this package does not.
"""
