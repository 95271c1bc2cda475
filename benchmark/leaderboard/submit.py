"""Submitting an entry: ``leaderboard init`` (a metadata.yaml to fill in), ``leaderboard add``
(:func:`add_entry`: validate and score files, then write the entry folder whole) and ``leaderboard
check`` (the pull-request check, runnable locally as one command).

``check`` does exactly what the leaderboard build and the GitHub Actions workflow
(``.github/workflows/leaderboard-entry.yml``) do to an entry: validate its name, metadata and files,
find the benchmark each file was made for (by name and fingerprint; ``download=True`` fetches it
from the Hub when it is not here), re-score every file with the installed scorer and say whether
the entry will be ranked.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import replace_folder, write_text
from pheno_bench.leaderboard.entries import (
    METADATA_FILE,
    VERIFICATION_FILE,
    Entry,
    EntryMetadata,
    check_entry_name,
    discover,
    read_metadata,
    run_file,
    staging_folder,
)
from pheno_bench.leaderboard.rescore import BenchmarkScorer, score_entry
from pheno_bench.metric_ids import metric_label
from pheno_bench.registry import locate
from pheno_bench.specs import get_spec
from pheno_bench.submission import peek_metadata
from pheno_bench.text import format_value

#: Fields a submitter must fill in: left empty (invalid) by ``init`` so that ``check`` reminds them.
TO_FILL = ("model", "authors", "training_data", "test_molecules_seen", "licence")


def _comment(text: str) -> str:
    return "\n".join(f"# {line}" for line in text.splitlines())


def metadata_template(*, benchmark: str, seeds: list[int], folds: list[int] | None, kind: str = "submission") -> str:
    """The text of a ``metadata.yaml`` to fill in: every field with its description as a comment;
    the fields in :data:`TO_FILL` are left empty, so the file is invalid until they are filled."""
    values = {
        "model": "", "kind": kind, "description": "", "authors": [], "code_url": None, "paper_url": None,
        "benchmark": benchmark, "training_data": "", "test_molecules_seen": None, "seeds": list(seeds),
        "folds": list(folds) if folds is not None else None, "parameters": None, "hardware": "",
        "date": dt.date.today().isoformat(), "licence": "",
        "verify": None,  # optional: {command: "... {benchmark} ... {out} ...", tolerance: 0.01}; see Re-run verification
    }
    lines = [
        "# Leaderboard entry metadata: fill in every field marked REQUIRED, then run",
        "#   pheno-bench leaderboard check submissions/<entry>",
        "# Files beside this one: " + ("fold-<k>/seed-<N>.parquet for every listed fold and seed"
                                       if folds is not None else "seed-<N>.parquet for every listed seed") + ".",
        "",
    ]
    for name, info in EntryMetadata.model_fields.items():
        if name == "folds" and folds is None:
            continue
        required = "REQUIRED" if name in TO_FILL else ("required" if info.is_required() else "optional")
        lines.append(_comment(f"{info.description or name} ({required})"))
        text = yaml.safe_dump({name: values[name]}, sort_keys=False, allow_unicode=True, default_flow_style=True, width=10_000)
        lines.append(text.strip().removeprefix("{").removesuffix("}"))
        lines.append("")
    return "\n".join(lines)


def init_entry(
    entry: str,
    *,
    submissions: str | os.PathLike = "submissions",
    benchmark: str = "cell-injury-v1.1",
    seeds: list[int] | None = None,
    kind: str = "submission",
    force: bool = False,
) -> Path:
    """Write ``submissions/<entry>/metadata.yaml`` to fill in; return its path.

    benchmark: a benchmark name (fold benchmarks get every fold listed); seeds: default 0 1 2 (the
    ranking rules ask for three). Refuses to overwrite an existing file unless ``force``.
    """
    name = check_entry_name(entry)
    spec = get_spec(benchmark)
    folds = list(range(spec.folds)) if spec.folds else None
    path = Path(submissions) / name / METADATA_FILE
    if path.exists() and not force:
        raise PhenoBenchError(f"{path}: already exists; edit it, or pass --force to start again from the template")
    write_text(metadata_template(benchmark=benchmark, seeds=seeds or [0, 1, 2], folds=folds, kind=kind), path)
    return path


@dataclass
class CheckReport:
    """What ``leaderboard check`` found for one entry: status ranked | probe | not ranked (with why),
    the primary metric per seed (pooled over folds) and warnings."""
    entry: str
    benchmark: str
    fingerprint: str
    status: str
    reason: str
    primary: str
    values: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    label: str = ""  # the primary metric in words (metric_ids.metric_label); the id when empty
    at_chance: list[int] = field(default_factory=list)  # seeds whose primary interval holds the chance level
    below_chance: list[int] = field(default_factory=list)  # seeds whose primary interval lies below it

    def lines(self) -> list[str]:
        status = self.status + (f" ({self.reason})" if self.reason else "")
        out = [f"{self.entry}: valid for {self.benchmark} (fingerprint {self.fingerprint[:12]}); {status}"]
        out += [f"  seed {seed}: {self.label or self.primary} = {value}" for seed, value in sorted(self.values.items())]
        if self.at_chance:
            every = len(self.at_chance) == len(self.values)
            out.append(f"  at chance: {'every seed' if every else 'seed(s) ' + ', '.join(map(str, self.at_chance))} "
                       "(the primary metric's interval holds the chance level: no better than a random ranking)")
        if self.below_chance:
            every = len(self.below_chance) == len(self.values)
            out.append(f"  below chance: {'every seed' if every else 'seed(s) ' + ', '.join(map(str, self.below_chance))} "
                       "(the primary metric's interval lies below the chance level: worse than a random ranking)")
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def _fetch(name: str, repo: str | None) -> None:
    from pheno_bench.hub import download, repo_id_of  # huggingface_hub is imported only when a download is asked for

    download(repo_id_of(repo or name))


def _benchmark_root(entry: Entry, benchmark: str | os.PathLike | None, *, download: bool, repo: str | None) -> Path:
    """The benchmark the entry's files were made for: ``benchmark``, else the metadata's name at the
    fingerprint the first file names (fetched from the Hub with ``download``)."""
    if benchmark is not None:
        return locate(benchmark)
    name = entry.metadata.benchmark
    seed, fold = entry.metadata.runs()[0]
    declared = peek_metadata(entry.path / run_file(seed, fold))
    try:
        return locate(name, fingerprint=declared.fingerprint)
    except PhenoBenchError:
        if not download:
            raise
    _fetch(name, repo)
    return locate(name, fingerprint=declared.fingerprint)


def check_entry(
    path: str | os.PathLike,
    *,
    benchmark: str | os.PathLike | None = None,
    download: bool = False,
    repo: str | None = None,
) -> CheckReport:
    """Validate and re-score the entry folder ``path`` as the leaderboard build will; raise on anything invalid.

    benchmark: a folder or name (default: the metadata's, at the files' fingerprint); download:
    fetch it from the Hub (``repo``, default ``pheno-bench/<name>``) when it is not found locally.
    """
    path = Path(path)
    if not path.is_dir():
        raise PhenoBenchError(f"{path}: entry folder not found; create it with `pheno-bench leaderboard init NAME`")
    entry = Entry.load(path)
    scorer = BenchmarkScorer(_benchmark_root(entry, benchmark, download=download, repo=repo))
    scored = score_entry(entry, scorer)
    values, at_chance, below_chance = {}, [], []
    for seed, results in scored.results.items():
        estimate = scorer.primary.estimate(results)
        values[seed] = "too few to score" if estimate is None else _format(estimate, scorer.primary.metric)
        if estimate is not None and _at_chance(estimate):
            at_chance.append(seed)
        elif estimate is not None and estimate.high is not None and estimate.high < estimate.chance and scorer.primary.higher_is_better:
            below_chance.append(seed)
    return CheckReport(entry.name, scorer.name, scorer.fingerprint, scored.status, scored.reason, scorer.primary.id, values, list(scored.flags),
                       label=metric_label(scorer.primary.id), at_chance=sorted(at_chance), below_chance=sorted(below_chance))


def _at_chance(estimate) -> bool:
    """The interval holds the chance level (no interval: the value is chance)."""
    if estimate.low is not None and estimate.high is not None:
        return estimate.low <= estimate.chance <= estimate.high
    return abs(estimate.value - estimate.chance) <= 1e-12


def _format(estimate, metric: str) -> str:
    text = format_value(estimate.value, metric)
    if estimate.low is not None and estimate.high is not None:
        text += f" ({format_value(estimate.low, metric)}–{format_value(estimate.high, metric)})"
    return text + f"; chance {format_value(estimate.chance, metric)}"


def changed_entries(ref: str, *, submissions: str | os.PathLike = "submissions") -> list[Path]:
    """Entry folders under ``submissions`` with a file changed between ``ref`` and HEAD (git), that still exist.

    What the pull-request workflow checks: ``git diff --name-only REF...HEAD -- submissions``. A
    changed ``verification.json`` is refused: only a maintainer's ``leaderboard verify`` writes one.
    """
    root = Path(submissions)
    try:
        out = subprocess.run(["git", "diff", "--relative", "--name-only", f"{ref}...HEAD", "--", str(root)],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        why = (getattr(exc, "stderr", "") or str(exc)).strip()
        raise PhenoBenchError(f"cannot list the entries changed since {ref!r} ({why.splitlines()[0] if why else 'git failed'}); "
                              "run inside the git checkout, with that ref fetched") from None
    base = root.resolve()
    names = set()
    for line in out.splitlines():
        changed = (Path.cwd() / line).resolve()
        if changed.is_relative_to(base) and len(changed.relative_to(base).parts) > 1:
            parts = changed.relative_to(base).parts
            if parts[-1] == VERIFICATION_FILE:
                raise PhenoBenchError(
                    f"{root / Path(*parts)}: changed in this pull request; {VERIFICATION_FILE} is written only by a maintainer's "
                    "`pheno-bench leaderboard verify`: remove it from the pull request (declare verify.command in the metadata instead)"
                )
            names.add(parts[0])
    existing = {p.name for p in discover(root)} if root.is_dir() else set()
    return [root / n for n in sorted(names) if n in existing]


# --- adding an entry -------------------------------------------------------------------------


def _normalise_files(files, meta: EntryMetadata, name: str) -> dict[tuple[int, int | None], Path]:
    """(seed, fold) -> file from a list (one per seed, in order; no folds) or seed -> {fold: file}."""
    if isinstance(files, Mapping):
        out = {(int(seed), None if fold is None else int(fold)): Path(path) for seed, per_fold in files.items() for fold, path in per_fold.items()}
    else:
        if meta.folds is not None:
            raise PhenoBenchError(f"entry {name!r}: the metadata lists folds {meta.folds}; pass the files as seed -> fold -> file")
        if len(files) != len(meta.seeds):
            raise PhenoBenchError(
                f"entry {name!r}: {len(files)} submission file(s) for seeds {meta.seeds}; "
                "pass one file per seed listed in the metadata, in the same order"
            )
        out = {(seed, None): Path(path) for seed, path in zip(meta.seeds, files)}
    if set(out) != set(meta.runs()):
        got = sorted((run_file(*r) for r in out), key=str)
        want = [run_file(*r) for r in meta.runs()]
        raise PhenoBenchError(f"entry {name!r}: files {got} do not match the metadata's seeds and folds ({want}); pass one file for each")
    return out


def add_entry(
    files: Sequence[str | os.PathLike] | Mapping[int, Mapping[int | None, str | os.PathLike]],
    *,
    entry: str,
    metadata: str | os.PathLike | EntryMetadata,
    submissions: str | os.PathLike = "submissions",
    benchmark: str | os.PathLike | None = None,
    replace: bool = False,
) -> Entry:
    """Create ``submissions/<entry>/`` from submission files.

    files: one per metadata seed, in order (benchmarks without folds), or seed -> fold -> file
    (fold benchmarks; every listed seed and fold). Each file is validated and scored against
    ``benchmark`` (a folder or name; default the metadata's; for a fold benchmark the fold-set
    root, each file against its own fold) before anything is written; the folder appears whole
    or not at all. ``replace`` replaces an existing entry whole.
    """
    name = check_entry_name(entry)
    meta = metadata if isinstance(metadata, EntryMetadata) else read_metadata(metadata)
    runs = _normalise_files(files, meta, name)
    root = Path(submissions)
    target = root / name
    if target.exists() and not replace:
        raise PhenoBenchError(f"{target}: entry already exists; pass --replace to overwrite it")
    scorer = BenchmarkScorer(benchmark or meta.benchmark)
    scorer.check_metadata(meta, where=f"entry {name!r}")
    for (seed, fold), file in sorted(runs.items(), key=str):
        evaluator = scorer.evaluator(fold)
        evaluator.read(file) if evaluator.blind else evaluator.evaluate(file)  # a blind copy validates, scores nothing
    root.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(root, name)
    try:
        for (seed, fold), file in runs.items():
            dest = staging / run_file(seed, fold)
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(file, dest)
        write_text(meta.to_yaml(), staging / METADATA_FILE)
        for folder in staging.rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Entry.load(target)
