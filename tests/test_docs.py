"""The README path has no trap: a fresh clone's docs build, the README speaks to an outside reader,
its examples write into a git-ignored folder, and it cites pheno-bench and every data source."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def _fresh_copy(dest: Path) -> Path:
    """What a fresh clone has for the docs: mkdocs.yml, its hook, site/ without generated pages."""
    dest.mkdir()
    shutil.copy(REPO / "mkdocs.yml", dest)
    (dest / "benchmark").mkdir()
    shutil.copy(REPO / "benchmark" / "mkdocs_hooks.py", dest / "benchmark")
    shutil.copytree(REPO / "site", dest / "site", ignore=shutil.ignore_patterns("leaderboard", ".*"))
    return dest


def test_fresh_clone_mkdocs_build_strict_succeeds_with_a_placeholder(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    root = _fresh_copy(tmp_path / "clone")
    assert not (root / "site" / "leaderboard").exists()
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "built")],
                            cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "built" / "leaderboard" / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)  # code is split into highlighted spans
    assert "Leaderboard (not built yet)" in text and "leaderboard build && mkdocs build --strict" in text.replace("&amp;", "&")


def test_placeholder_pages_only_for_missing_leaderboard_pages():
    from pheno_bench.mkdocs_hooks import missing_leaderboard_pages

    nav = [{"Home": "index.md"}, {"Leaderboard": [{"Results": "leaderboard/index.md"}, {"x": "leaderboard/cell-injury-v1.md"},
                                                  {"How": "submit.md"}, {"ext": "https://example.org/leaderboard/"}]}]
    assert missing_leaderboard_pages(nav, {"index.md", "submit.md"}) == ["leaderboard/index.md", "leaderboard/cell-injury-v1.md"]
    assert missing_leaderboard_pages(nav, {"leaderboard/index.md", "leaderboard/cell-injury-v1.md"}) == []


def test_readme_speaks_to_an_outside_reader():
    lowered = README.lower()
    for phrase in ("this machine", "lies on disk", "on disk here", "the wheel"):
        assert phrase not in lowered, phrase


def test_readme_examples_write_into_a_gitignored_folder():
    ignored = (REPO / ".gitignore").read_text().split()
    assert "/out/" in ignored
    outs = re.findall(r"--out[ =](\S+)", README)
    assert outs, "the README has no --out example"
    assert all(o.startswith("out/") for o in outs), outs
    writes = re.findall(r"write_submission\(\"([^\"]+)\"", README)
    assert all(w.startswith("out/") for w in writes), writes
    if shutil.which("git") and (REPO / ".git").exists():
        check = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "out/x.parquet"])
        assert check.returncode == 0


def test_readme_site_command_is_one_line():
    lines = [line for line in README.splitlines() if "mkdocs build --strict" in line and not line.startswith(("`", "publishes"))]
    assert any(line.startswith("pheno-bench leaderboard build && mkdocs build --strict") for line in lines), lines


def test_readme_citation_block_cites_pheno_bench_and_every_source():
    block = README[README.index("## Citation"):]
    assert "```bibtex" in block and "@software{pheno_bench" in block
    for needle in ("10.1038/s41467-023-36829-x",  # Dahlin et al. 2023, the cell-injury source
                   "lincs", "Drug Repurposing Hub",  # LINCS Cell Painting + its compound annotations
                   "RxRx3-core", "MolPhenix" if "MolPhenix" in block else "Contrastive PhenoMolecular Retrieval",
                   "CLOOME", "Moshkov"):
        assert needle.lower() in block.lower(), needle


def test_every_source_adapter_citation_is_in_the_readme():
    """A new source adapter must add its citation to the README's block."""
    from pheno_bench.sources import SOURCES, load_adapters

    load_adapters()
    block = README[README.index("## Citation"):].lower()
    keys = {"cell-injury": "dahlin", "lincs-pilot1": "lincs", "lincs-cp": "lincs", "rxrx3-core": "rxrx3-core", "synthetic": "moshkov"}
    for name in SOURCES:
        assert keys.get(name, name).lower() in block, f"source {name} is not cited in the README"


def _readme_commands() -> list[list[str]]:
    """Every `pheno-bench ...` command line in the README's code blocks, as words (comments dropped)."""
    commands, fence = [], None
    for line in README.splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if fence not in ("bash", ""):
            continue
        line = line.split("  #")[0].strip().removeprefix("$ ")
        for part in line.split("&&"):
            part = part.strip()
            if part.startswith("pheno-bench "):
                commands.append(part.split())
    return commands


def test_every_readme_command_and_option_exists():
    from typer.testing import CliRunner

    from pheno_bench.cli import app

    commands = _readme_commands()
    assert len(commands) >= 12, commands
    runner = CliRunner()
    for words in commands:
        path = [w for w in words[1:3] if not w.startswith("-") and re.fullmatch(r"[a-z]+", w)]
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (words, result.output)
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, f"README uses {option} of `pheno-bench {' '.join(path)}`, which has no such option"


def test_readme_python_example_runs(request, tmp_path):
    """The README's loader block, verbatim (on cell-injury-v1.1, or synthetic-v1 without the real data)."""
    from conftest import HAS_DATA

    code = re.search(r"```python\n(import numpy as np\nimport pheno_bench\n.*?)```", README, re.S).group(1)
    if HAS_DATA:
        request.getfixturevalue("cell_injury_v1_1")
    else:
        request.getfixturevalue("synthetic_v1")
        code = code.replace('"cell-injury-v1.1"', '"synthetic-v1"')
    (tmp_path / "readme_example.py").write_text(code)
    result = subprocess.run([sys.executable, "readme_example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    from pheno_bench.submission import peek_metadata

    written = tmp_path / "out" / "my-model-seed-0.parquet"
    assert peek_metadata(written).benchmark == ("cell-injury-v1.1" if HAS_DATA else "synthetic-v1")
