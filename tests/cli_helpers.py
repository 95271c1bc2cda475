"""Running the console script in-process from tests (shared by the CLI, screen and hardening tests)."""

from __future__ import annotations

import sys

from pheno_bench.cli import main


def run_cli(monkeypatch, capsys, *args, columns: int | None = None):
    """Run ``pheno-bench *args`` in-process: (exit code, stdout, stderr). columns: the terminal
    width rich sees (None: COLUMNS unset, so the caller's terminal does not change the output)."""
    monkeypatch.setattr(sys, "argv", ["pheno-bench", *map(str, args)])
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", str(columns))
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err
