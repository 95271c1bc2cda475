"""Data cards: the ``README.md`` of a benchmark folder and of its Hugging Face dataset repository.

A build writes each benchmark folder's card (:func:`write_card`, by :mod:`pheno_bench.split` and
for every fold by :mod:`pheno_bench.crossval`); :mod:`pheno_bench.hub` writes the published
repository's card with the revision to cite (:func:`dataset_card`, :func:`fold_set_card`). YAML
front matter (licence, tags, ``configs`` for ``datasets.load_dataset``), split table, fingerprint,
sources and usage.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from pheno_bench.io import write_text
from pheno_bench.manifest import Manifest, answers_path, candidates_path, queries_path, read_fold_set, read_manifest, wells_path
from pheno_bench.metric_ids import metric_label, parse_metric_id, primary_metric_of
from pheno_bench.schema import TEST_SPLITS

CARD = "README.md"
TAGS = ["biology", "chemistry", "cell-painting", "phenomics", "drug-discovery", "retrieval", "pheno-bench"]
#: Licence texts that are already Hub licence identifiers; anything else is published as ``other``.
HUB_LICENCES = {"apache-2.0", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc0-1.0", "mit"}
#: ``datasets`` config name -> (split -> file). One config per kind of file: all files of a config share a schema.
CONFIGS: dict[str, dict[str, str]] = {
    "wells": {split: wells_path(split) for split in ("train", "valid")},
    "queries": {split: queries_path(split) for split in TEST_SPLITS},
    "candidates": {split: candidates_path(split) for split in TEST_SPLITS},
    "answers": {split: answers_path(split) for split in TEST_SPLITS},
}

def fold_configs(k: int) -> dict[str, dict[str, str]]:
    """The ``datasets`` configs of a fold set with ``k`` folds: ``fold-<i>-<kind>`` for each fold and kind."""
    return {f"fold-{i}-{name}": {split: f"fold-{i}/{path}" for split, path in files.items()}
            for i in range(k) for name, files in CONFIGS.items()}


def _hub_licence(manifest: Manifest) -> str | list[str]:
    ids = sorted({s.licence.strip().lower() for s in manifest.sources})
    if not ids or not set(ids) <= HUB_LICENCES:
        return "other"
    return ids[0] if len(ids) == 1 else ids


def _size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    return next((label for bound, label in bounds if n < bound), "1M<n<10M" if n < 10_000_000 else "n>10M")


def _card_yaml(manifest: Manifest, configs_map: dict[str, dict[str, str]] | None = None) -> str:
    from huggingface_hub import DatasetCardData  # third-party, imported when a card is written

    configs_map = CONFIGS if configs_map is None else configs_map
    default = next(iter(configs_map))
    configs = [
        {"config_name": name, "data_files": [{"split": s, "path": p} for s, p in files.items()]}
        | ({"default": True} if name == default else {})
        for name, files in configs_map.items()
    ]
    data = DatasetCardData(
        license=_hub_licence(manifest),
        pretty_name=f"pheno-bench {manifest.name}",
        tags=TAGS,
        size_categories=[_size_category(sum(s.wells + s.controls for s in manifest.splits))],
        configs=configs,
    )
    return data.to_yaml()


def _split_rows(manifest: Manifest) -> list[str]:
    def cell(value) -> str:
        return "–" if value is None else f"{value:,}"

    rows = [
        "| split | wells | controls | molecules | scaffolds | (molecule, dose) pairs | active pairs | candidates "
        "| molecules in train |",
        "|---|" + "---:|" * 8,
    ]
    for s in manifest.splits:
        values = [s.wells, s.controls, s.molecules, s.scaffolds, s.pairs, s.active_pairs, s.candidates, s.molecules_in_train]
        rows.append(f"| `{s.split}` | " + " | ".join(cell(v) for v in values) + " |")
    rows += ["", "Wells per dose level (µM):", "", "| split | " + " | ".join(manifest.dose_levels) + " |",
             "|---|" + "---:|" * len(manifest.dose_levels)]
    for s in manifest.splits:
        rows.append(f"| `{s.split}` | " + " | ".join(cell(s.dose_levels.get(d, 0)) for d in manifest.dose_levels) + " |")
    return rows


def _primary_lines(manifest: Manifest, declared: str | None = None, *, with_k: bool = True) -> list[str]:
    """The card's line naming the primary metric (the leaderboard's ranking number), with its k."""
    metric_id = declared or primary_metric_of(manifest)
    if not metric_id:
        return []
    split, *_, metric = parse_metric_id(metric_id)
    stats = next((st for st in manifest.splits if st.split == split), None)
    k = n = None
    if with_k and stats is not None and stats.candidates and metric.endswith("pct"):
        n = stats.candidates
        k = math.ceil(int(metric.split("_")[-1].removesuffix("pct")) * n / 100)
    return [f"- **primary metric** (the leaderboard ranks by this one number): {metric_label(metric_id, k, n)} "
            f"(`{metric_id}`); every top-K% states its k, the number of candidates counted as a hit"]


def dataset_card(manifest: Manifest, *, repo_id: str | None = None, revision: str | None = None) -> str:
    """The ``README.md`` of the benchmark's dataset repository.

    YAML front matter (licence, tags, ``configs`` for ``datasets.load_dataset``) and a body with
    the split table, the fingerprint, the sources with their licences and citations, and usage.
    ``repo_id`` and ``revision`` (the commit sha to cite) fill the usage snippets (``ORG/NAME`` and
    ``<commit sha>`` when not given).
    """
    repo = repo_id or "ORG/NAME"
    pin = revision or "<commit sha>"
    files = [
        f"| `{name}` | `{split}` | `{path}` |" for name, config in CONFIGS.items() for split, path in config.items()
    ]
    sources = [f"| `{s.name}` | {s.licence} | {s.citation} |" for s in manifest.sources]
    body = [
        f"# pheno-bench {manifest.name}",
        "",
        "Frozen splits of phenomic wells and molecules for contrastive phenomolecular retrieval: "
        "embed a test well (a *query*) and every (molecule, dose) *candidate* of its split, and retrieve "
        "the molecule and dose that caused the phenotype. Built, published and scored by "
        "pheno-bench (`pip install pheno-bench`).",
        "",
        f"- **version** {manifest.version} (format {manifest.format_version}), seed {manifest.seed}",
        f"- **fingerprint** `{manifest.fingerprint}` (sha256 of `manifest.json`; "
        "`manifest.json` lists the sha256 of every file)",
        f"- **features** {len(manifest.feature_names)}: {manifest.feature_space}",
        *_primary_lines(manifest),
        "",
        "## Splits",
        "",
        *_split_rows(manifest),
        "",
        "`unseen_images`: new wells of training molecules; `unseen_molecules`: held-out Bemis–Murcko "
        "scaffolds; `unseen_dataset`: a source never used for training.",
        "",
        "## Files and `datasets` configs",
        "",
        "| config | split | file |",
        "|---|---|---|",
        *files,
        "",
        "Queries carry only `query_id` and `features`; the answer key (`answers`) is read by the scorer.",
        "",
        "## Sources",
        "",
        "| source | licence | citation |",
        "|---|---|---|",
        *sources,
        "",
        "## Use",
        "",
        "```bash",
        f"pheno-bench splits download {repo} --revision {pin}   # cached, pinned, sha256-verified",
        f"pheno-bench splits info {manifest.name}",
        "```",
        "",
        "```python",
        "import datasets",
        f'queries = datasets.load_dataset("{repo}", "queries", split="unseen_molecules", revision="{pin}")',
        f'candidates = datasets.load_dataset("{repo}", "candidates", split="unseen_molecules", revision="{pin}")',
        f'train = datasets.load_dataset("{repo}", "wells", split="train", revision="{pin}")',
        "```",
        "",
        "Or in Python with pheno-bench, train and test arrays in one call:",
        "",
        "```python",
        "import pheno_bench",
        f'bench = pheno_bench.load_benchmark("{manifest.name}")   # after `splits download` (or build)',
        "X, y = bench.train.features, bench.train.molecule",
        "```",
        "",
    ]
    return f"---\n{_card_yaml(manifest)}\n---\n\n" + "\n".join(body)


def fold_set_card(root: str | os.PathLike, *, repo_id: str | None = None, revision: str | None = None) -> str:
    """The ``README.md`` of a fold set's dataset repository: one ``datasets`` config per fold and kind
    of file (``fold-<k>-wells`` ...), the fold fingerprints, pinned usage, then the fold set's own card."""
    root = Path(root)
    fold_set = read_fold_set(root)
    first = read_manifest(root / fold_set.folds[0].path)
    configs = fold_configs(fold_set.k)
    repo, pin = repo_id or "ORG/NAME", revision or "<commit sha>"
    own = (root / CARD).read_text(encoding="utf-8") if (root / CARD).is_file() else ""
    if own.startswith("---\n") and "\n---\n" in own[4:]:
        own = own[4:].split("\n---\n", 1)[1]  # drop the folder card's own YAML front matter
    body = [
        f"# pheno-bench {fold_set.name}",
        "",
        f"- **version** {fold_set.version}, {fold_set.k} scaffold cross-validation folds (`fold-0/` .. `fold-{fold_set.k - 1}/`, "
        "each a complete frozen benchmark)",
        f"- **fingerprint** `{fold_set.fingerprint}` (sha256 of `manifest.json`)",
        *_primary_lines(first, fold_set.primary_metric, with_k=False),  # k differs per fold
        "",
        "| fold | fingerprint |",
        "|---:|---|",
        *(f"| {f.fold} | `{f.fingerprint}` |" for f in fold_set.folds),
        "",
        "## Use",
        "",
        "```bash",
        f"pheno-bench splits download {repo} --revision {pin}   # cached, pinned, sha256-verified",
        "```",
        "",
        "```python",
        "import datasets",
        f'train = datasets.load_dataset("{repo}", "fold-0-wells", split="train", revision="{pin}")',
        f'queries = datasets.load_dataset("{repo}", "fold-0-queries", split="unseen_molecules", revision="{pin}")',
        "",
        "import pheno_bench",
        f'bench = pheno_bench.load_benchmark("{fold_set.name}", fold=0)',
        "```",
        "",
        "Configs: " + ", ".join(f"`{name}`" for name in configs) + ".",
        "",
    ]
    return f"---\n{_card_yaml(first, configs)}\n---\n\n" + "\n".join(body) + own.lstrip("\n")


def write_card(manifest: Manifest, root: str | os.PathLike) -> Path:
    """Write the data card of the benchmark folder ``root`` (its ``README.md``, no revision pinned yet)."""
    path = Path(root) / CARD
    write_text(dataset_card(manifest), path)
    return path
