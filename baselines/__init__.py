"""Reference baselines (MolPhenix, CLOOME, CLIP) and training-free probes.

Modules: ``config`` (the baselines as :class:`~pheno_bench.baselines.config.BaselineConfig`
instances, their featuriser variants and ablation rows), ``featurise`` (cached, pluggable molecule
featurisers: Morgan counts and bits, MiniMol, RDKit 2D), ``data`` (benchmark files → training
examples, condition-aware replicate averaging), ``losses`` and ``models`` (PyTorch), ``train``
(deterministic training, embedding), ``run`` (train → submission → scorer, per seed and fold; the
ablation), ``profiles`` and ``probes`` (training-free probes, numpy/scikit-learn only) and
``entries`` (writing leaderboard entries safely: merge, never delete). Only ``losses``,
``models``, ``train`` and ``run`` need PyTorch (``pip install 'pheno-bench[baselines]'``);
importing this package, the probes and ``baselines list`` do not.
"""
