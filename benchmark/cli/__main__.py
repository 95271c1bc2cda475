"""``python -m pheno_bench.cli``: the same as the ``pheno-bench`` console script."""

from pheno_bench.cli import main

main()
