"""Re-run verification records: ``submissions/<entry>/verification.json`` and what a board shows.

A maintainer runs ``pheno-bench leaderboard verify submissions/<entry>``
(:func:`pheno_bench.leaderboard.verify.verify_entry`): the entry's declared command is run on a
blind copy of the benchmark and its files are scored with the withheld answer key, then compared
with the committed files' scores. The record written here says what was run and what came out;
the board shows a badge from it (:func:`verification_status`):

* ``re-run ✓ <date>``: the re-run matched the committed scores within the declared tolerance,
  and the entry's files are still the ones re-run against (their sha256 is in the record);
* ``re-run ✗ differs``: the re-run did not match (the record says by how much);
* ``re-run stale``: the entry's files or benchmark changed since (verify again);
* ``not re-run``: no record.

The pull-request check refuses a ``verification.json`` added or edited in a pull request: only a
maintainer's run writes one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pheno_bench.errors import PhenoBenchError
from pheno_bench.io import sha256_file, write_text
from pheno_bench.leaderboard.entries import VERIFICATION_FILE
from pheno_bench.scoring import SCORER_VERSION

VERIFICATION_FORMAT = 1


class RunCheck(BaseModel):
    """One (seed, fold) run: the committed file's scores and the re-run's, cell by cell."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    fold: int | None = None
    committed: dict[str, float | None] = Field(description="metric id -> value of the committed file")
    rerun: dict[str, float | None] = Field(description="metric id -> value of the re-run's file")
    max_abs_difference: float | None = Field(description="largest |committed - rerun| over the cells (None: a cell missing on one side)")
    passed: bool


class VerificationRecord(BaseModel):
    """``verification.json``: one maintainer re-run of an entry."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = VERIFICATION_FORMAT
    date: dt.date
    scorer_version: str
    pheno_bench_version: str
    benchmark: str
    fingerprint: str = Field(description="the benchmark's fingerprint (the committed files were made for it)")
    command: str = Field(description="the entry's verify.command, placeholders as written")
    blind: bool = Field(description="True: run on a blind copy (re-keyed queries, answers withheld)")
    tolerance: float
    runs: list[RunCheck]
    passed: bool
    files: dict[str, str] = Field(description="entry file (relative) -> sha256 at the time of the re-run")
    seconds: float = Field(description="wall time of the command")


def entry_file_digests(path: str | os.PathLike) -> dict[str, str]:
    """Relative path -> sha256 of an entry's submission files and metadata (what a record vouches for)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and (p.suffix == ".parquet" or p.name == "metadata.yaml"))
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in files}


def write_record(record: VerificationRecord, path: str | os.PathLike) -> Path:
    target = Path(path) / VERIFICATION_FILE
    write_text(json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n", target)
    return target


def read_record(path: str | os.PathLike) -> VerificationRecord | None:
    """The entry folder's verification record, None when it has none; a malformed one is an error."""
    target = Path(path) / VERIFICATION_FILE
    if not target.is_file():
        return None
    try:
        return VerificationRecord.model_validate_json(target.read_bytes())
    except (ValidationError, ValueError) as exc:
        raise PhenoBenchError(f"{target}: not a valid verification record ({str(exc).splitlines()[0]}); run `pheno-bench leaderboard verify` again") from None


@dataclass(frozen=True)
class VerificationStatus:
    """What a board shows for one entry: ``state`` in verified / differs / stale / none, a short label
    and a longer title (tooltip)."""

    state: str
    label: str
    title: str


def verification_status(path: str | os.PathLike, *, fingerprint: str | None = None) -> VerificationStatus:
    """The badge of the entry folder ``path``; ``fingerprint``: the benchmark's current fingerprint
    (a record made against another build is stale)."""
    try:
        record = read_record(path)
    except PhenoBenchError as exc:
        return VerificationStatus("stale", "re-run ?", str(exc))
    if record is None:
        return VerificationStatus("none", "not re-run", "no maintainer re-run of this entry's command yet")
    if record.files != entry_file_digests(path) or (fingerprint is not None and record.fingerprint != fingerprint):
        return VerificationStatus("stale", "re-run stale", f"re-run {record.date}, but the entry's files or benchmark changed since; verify again")
    if record.scorer_version.split(".")[0] != SCORER_VERSION.split(".")[0]:
        return VerificationStatus("stale", "re-run stale", f"re-run {record.date} under scorer {record.scorer_version}, whose numbers differ from {SCORER_VERSION}'s; verify again")
    worst = max((r.max_abs_difference or 0.0 for r in record.runs), default=0.0)
    where = "blind copy" if record.blind else "benchmark with its answers (the entry reads them by design)"
    seeds = sorted({r.seed for r in record.runs})
    runs = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} ({len(record.runs)} run{'s' if len(record.runs) > 1 else ''})"
    if record.passed:
        return VerificationStatus(
            "verified", f"re-run ✓ {record.date}",
            f"{record.date}: the entry's command, run on a {where}, reproduced {runs} within {record.tolerance:g} "
            f"(largest difference {worst:.2g}); scorer {record.scorer_version}",
        )
    return VerificationStatus("differs", "re-run ✗ differs", f"{record.date}: the re-run of {runs} differs from the committed files by up to {worst:.3g} (tolerance {record.tolerance:g})")
