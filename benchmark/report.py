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


COMPOSITION_KEYS = ("wells", "molecules", "scaffolds", "dose_levels", "conditions", "testable_conditions", "active_conditions", "anchor_wells", "molecules_in_train")


def fold_table(fold_set, k: int) -> Table:
    """One fold's composition per split: queries, molecules, scaffolds, dose levels, conditions, actives, anchors."""
    table = Table(title=f"{fold_set.name} fold {k} (fingerprint {fold_set.folds[k].fingerprint[:12]})")
    table.add_column("split")
    for key in COMPOSITION_KEYS:
        table.add_column(key.replace("_", " "), justify="right")
    for split, row in fold_set.composition["folds"][k].items():
        table.add_row(split, *("-" if row.get(key) is None else str(row[key]) for key in COMPOSITION_KEYS))
    return table


def pooled_table(fold_set) -> Table:
    """unseen_molecules pooled over the folds (each molecule once) and the balance of the folds."""
    pooled = fold_set.composition["pooled"]
    table = Table(title=f"{fold_set.name} v{fold_set.version}: {fold_set.k} scaffold folds, pooled (fingerprint {fold_set.fingerprint[:12]})")
    table.add_column("split")
    for key in ("wells", "molecules", "scaffolds", "conditions", "testable", "active conditions", "anchor wells"):
        table.add_column(key, justify="right")
    u = pooled["unseen_molecules"]
    table.add_row("unseen_molecules (pooled)", str(u["wells"]), str(u["molecules"]), str(u["scaffolds"]), str(u["conditions"]),
                  str(u["testable_conditions"]), f"{u['active_conditions']} ({u['active_conditions'] / max(u['testable_conditions'], 1):.0%})", str(u["anchor_wells"]))
    for split in ("unseen_images", "unseen_dataset", "valid", "train"):
        row = pooled[split]
        table.add_row(f"{split} (per fold)", "/".join(map(str, row["wells"])), "/".join(map(str, row["molecules"])), "", "/".join(map(str, row["conditions"])),
                      "", "/".join(map(str, row["active_conditions"])), "/".join(map(str, row["anchor_wells"])))
    table.caption = (f"molecules per fold {pooled['molecules_per_fold']}; active fraction per fold {pooled['active_fraction_per_fold']} "
                     f"(pooled {pooled['active_fraction_pooled']}); {pooled['anchors']} anchors in train of every fold")
    return table


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
        table.add_column(column, justify="right" if column == "wells" else "left")
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
