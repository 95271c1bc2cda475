"""Rich tables that describe a benchmark (``splits build`` and ``splits info``)."""

from __future__ import annotations

from rich.table import Table

from pheno_bench.manifest import Manifest


def split_table(manifest: Manifest) -> Table:
    """Per split: wells, molecules, scaffolds, dose levels, (molecule, dose) pairs, actives.

    "testable": pairs with two or more wells (an activity p-value); "active": share of testable.
    """
    table = Table(title=f"{manifest.name} v{manifest.version} (seed {manifest.seed})")
    for column in ("split", "wells", "controls", "molecules", "scaffolds", "dose levels", "pairs", "testable", "active", "candidates", "mols in train"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for s in manifest.splits:
        table.add_row(
            s.split, str(s.wells), str(s.controls), str(s.molecules), str(s.scaffolds), str(len(s.dose_levels)),
            str(s.pairs), str(s.testable_pairs), f"{s.active_pairs} ({s.active_pairs / max(s.testable_pairs, 1):.0%})",
            "-" if s.candidates is None else str(s.candidates),
            "-" if s.molecules_in_train is None else str(s.molecules_in_train),
        )
    return table


def dose_table(manifest: Manifest) -> Table:
    """Share of each split's treated wells at each dose level, beside train's."""
    table = Table(title="wells per dose level (% of the split)")
    table.add_column("dose (µM)", justify="right")
    for s in manifest.splits:
        table.add_column(s.split, justify="right")
    for level in manifest.dose_levels:
        cells = []
        for s in manifest.splits:
            n = s.dose_levels.get(level, 0)
            cells.append(f"{n} ({n / s.wells:.0%})" if n else "-")
        table.add_row(level, *cells)
    return table
