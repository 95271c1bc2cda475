"""Tables that describe a benchmark (``splits build`` and ``splits info``):  grids (:class:`pheno_bench.grid.Grid`,
stacked to fit the terminal, never cut) and the rich sources table."""

from __future__ import annotations

from rich.table import Table

from pheno_bench.grid import Column, Grid
from pheno_bench.manifest import Manifest


#: what the count columns mean, under every split table
SPLIT_CAPTION = (
    "treated wells: wells given a molecule (a test split's queries); controls are counted apart, not in it. "
    "pairs: (molecule, dose), a test split's candidates; testable: pairs with an activity p-value "
    "(two or more wells); active: share of testable"
)
FOLD_CAPTION = (
    "treated wells: wells given a molecule (a test split's queries); controls are counted apart, not in it. "
    "pairs: (molecule, dose), a test split's candidates; conditions: (molecule, dose, time), what activity is "
    "called on; testable / active: conditions with an activity p-value / called active (share of testable)"
)


def _label(text: str) -> Column:
    return Column(text, text, "left")


def _share(part: int, whole: int) -> str:
    return f"{part} ({part / max(whole, 1):.0%})"


def split_table(manifest: Manifest, *, title: str | None = None) -> Grid:
    """Per split: treated wells, controls, molecules, scaffolds, dose levels, (molecule, dose) pairs, actives.

    "testable": pairs with two or more wells (an activity p-value); "active": share of testable.
    """
    columns = [Column(k, h) for k, h in (("wells", "treated wells"), ("controls", "controls"), ("molecules", "molecules"), ("scaffolds", "scaffolds"),
                                          ("doses", "dose levels"), ("pairs", "pairs"), ("testable", "testable"), ("active", "active"),
                                          ("in_train", "mols in train"))]
    grid = Grid(title or f"{manifest.name} v{manifest.version} (seed {manifest.seed})", [_label("split")], columns, caption=SPLIT_CAPTION)
    for s in manifest.splits:
        grid.add_row({
            "split": s.split, "wells": str(s.wells), "controls": str(s.controls), "molecules": str(s.molecules), "scaffolds": str(s.scaffolds),
            "doses": str(len(s.dose_levels)), "pairs": str(s.pairs), "testable": str(s.testable_pairs), "active": _share(s.active_pairs, s.testable_pairs),
            "in_train": "-" if s.molecules_in_train is None else str(s.molecules_in_train),
        })
    return grid


def dose_table(manifest: Manifest) -> Grid:
    """Share of each split's treated wells at each dose level, beside train's."""
    grid = Grid("treated wells per dose level (% of the split)", [Column("dose", "dose (µM)")], [Column(s.split, s.split) for s in manifest.splits])
    for level in manifest.dose_levels:
        grid.add_row({"dose": level, **{s.split: (f"{n} ({n / s.wells:.0%})" if (n := s.dose_levels.get(level, 0)) else "-") for s in manifest.splits}})
    return grid


COMPOSITION_KEYS = ("wells", "molecules", "scaffolds", "dose_levels", "conditions", "testable_conditions", "active_conditions", "anchor_wells", "molecules_in_train")


def fold_table(fold_set, k: int, manifest: Manifest) -> Grid:
    """One fold in one table: per split (in the manifest's order, the same in every fold) the fold
    benchmark's counts (``manifest``: fold ``k``'s) and the fold set's composition of that fold."""
    entry = next(e for e in fold_set.folds if e.fold == k)
    composition = fold_set.composition["folds"][k]
    columns = [Column(key, header) for key, header in (
        ("wells", "treated wells"), ("controls", "controls"), ("molecules", "molecules"), ("scaffolds", "scaffolds"), ("doses", "dose levels"),
        ("pairs", "pairs"), ("conditions", "conditions"), ("testable", "testable"), ("active", "active"), ("anchors", "anchor wells"),
        ("in_train", "mols in train"))]
    grid = Grid(f"{fold_set.name} v{fold_set.version} fold {k} of {fold_set.k} (seed {manifest.seed}, fingerprint {entry.fingerprint[:12]})",
                [_label("split")], columns, caption=FOLD_CAPTION)
    for s in manifest.splits:
        c = composition.get(s.split, {})
        row = {"split": s.split, "wells": str(s.wells), "controls": str(s.controls), "molecules": str(s.molecules), "scaffolds": str(s.scaffolds),
               "doses": str(len(s.dose_levels)), "pairs": str(s.pairs),
               "in_train": "-" if s.molecules_in_train is None else str(s.molecules_in_train)}
        if c:
            row |= {"conditions": str(c["conditions"]), "testable": str(c["testable_conditions"]),
                    "active": _share(c["active_conditions"], c["testable_conditions"]), "anchors": str(c["anchor_wells"])}
        grid.add_row(row)
    return grid


POOLED_KEYS = (("wells", "treated wells"), ("molecules", "molecules"), ("conditions", "conditions"), ("active_conditions", "active conditions"),
               ("anchor_wells", "anchor wells"))


def pooled_table(fold_set, splits: list[str]) -> Grid:
    """Every fold side by side, one column per fold (no count is ever cut), per split in ``splits``'
    order; unseen_molecules also pooled (each molecule in exactly one fold's)."""
    pooled = fold_set.composition["pooled"]
    folds = [e.fold for e in fold_set.folds]
    grid = Grid(f"{fold_set.name} v{fold_set.version}: {fold_set.k} scaffold folds side by side (fingerprint {fold_set.fingerprint[:12]})",
                [_label("split"), _label("count")], [*(Column(f"fold-{k}", f"fold {k}") for k in folds), Column("pooled", "pooled")])
    for split in splits:
        for index, (key, header) in enumerate(POOLED_KEYS):
            row = {"split": split, "count": header}  # the split on every row: each line reads alone
            row |= {f"fold-{k}": str(fold_set.composition["folds"][k].get(split, {}).get(key, "-")) for k in folds}
            if split == "unseen_molecules":
                row["pooled"] = str(pooled["unseen_molecules"][key])
            else:
                row["pooled"] = "-"
            grid.add_row(row, end_section=index == len(POOLED_KEYS) - 1)
    grid.caption = (f"pooled: unseen_molecules over the folds (each molecule in one fold's); molecules per fold {pooled['molecules_per_fold']}; "
                    f"active fraction per fold {pooled['active_fraction_per_fold']} (pooled {pooled['active_fraction_pooled']}); "
                    f"{pooled['anchors']} anchors in train of every fold")
    return grid


def composition_markdown(fold_set) -> str:
    """The fold set's data card: what the folds hold, pooled and per fold (markdown)."""
    pooled = fold_set.composition["pooled"]
    lines = [
        f"# {fold_set.name} v{fold_set.version}", "",
        f"Fingerprint `{fold_set.fingerprint}` (sha256 of `manifest.json`). {fold_set.k} scaffold cross-validation folds; "
        "each `fold-<k>/` is a complete frozen benchmark with its own fingerprint. Every non-anchor molecule is in "
        "`unseen_molecules` of exactly one fold.", "",
        f"Primary metric: `{fold_set.primary_metric}`.", "",
        "| fold | fingerprint | unseen molecules | active fraction |", "|---|---|---|---|",
    ]
    for entry, n, frac in zip(fold_set.folds, pooled["molecules_per_fold"], pooled["active_fraction_per_fold"]):
        lines.append(f"| {entry.fold} | `{entry.fingerprint[:16]}…` | {n} | {frac:.3f} |")
    lines += ["", "## Composition per fold", ""]
    for k, fold in enumerate(fold_set.composition["folds"]):
        lines += [f"### fold {k}", "", "| split | " + " | ".join(COMPOSITION_KEYS) + " |", "|---" * (len(COMPOSITION_KEYS) + 1) + "|"]
        for split, row in fold.items():
            lines.append(f"| {split} | " + " | ".join("-" if row.get(key) is None else str(row[key]) for key in COMPOSITION_KEYS) + " |")
        lines.append("")
    for title, text in fold_set.extra.get("card_sections", {}).items():
        lines += [f"## {title}", "", text, ""]
    return "\n".join(lines) + "\n"


def sources_table(manifest: Manifest, *, limit: int = 20) -> Table:
    """Each source's build options (from the spec) and what it left out or merged, with counts (the manifest's ``excluded``).

    Exclusions with the same source and reason are one row (their wells summed); at most ``limit`` rows.
    """
    import re

    from rich.text import Text

    table = Table(title=Text(f"{manifest.name}: sources, their options, and what each left out or merged (manifest.json `excluded`)"))
    for column in ("source", "wells", "what and why"):
        table.add_column(column, justify="right" if column == "wells" else "left", overflow="fold")
    options = {cfg.get("options", {}).get("name", cfg["name"]): cfg.get("options", {}) for cfg in manifest.spec.get("sources", [])}
    for source in manifest.sources:
        shown = {k: v for k, v in options.get(source.name, {}).items() if k != "name"}
        table.add_row(Text(source.name), "", Text("options: " + (", ".join(f"{k}={v}" for k, v in shown.items()) or "defaults")))
    rows: dict[tuple[str, str], int | None] = {}
    for entry in manifest.excluded:
        reason = re.sub(r" \(\d+ wells\)$", "", str(entry.get("reason", "")))
        key = (str(entry.get("source", "")), reason)
        wells = entry.get("wells")
        rows[key] = (rows.get(key) or 0) + wells if isinstance(wells, int) else rows.get(key)
    for (source, reason), wells in list(rows.items())[:limit]:
        table.add_row(Text(source), "-" if wells is None else str(wells), Text(reason))  # Text: never read as markup
    if len(rows) > limit:
        table.caption = f"... and {len(rows) - limit} more reasons in manifest.json (`excluded`)"
    return table
