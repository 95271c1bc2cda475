"""The screen tells the truth (issue 17): what the commands print is checked against what they compute.

- ``compare``: every text cell, read back from the printed tables (stacked at 80 columns or one
  table at 200), equals its ``--json`` value under the right header, the primary cell included;
  the titles name the files.
- results files: two ``evaluate`` runs keep both results; nothing replaces another submission's
  results without ``--force`` (evaluate and compare alike).
- fold-set build/info output: one table per fold, the fold in its title, no "…" at 80 columns.
- one flag style: list options, bare flags in ``--help``, piped help not cut, hints that are true
  (an unlisted seed file, a file for another benchmark, an entry at chance, one seed's summary).
- the board: the primary's parts and the query-blind floor as the results JSON give them; the
  headline plot in the table's order. Pages at 1280 px: tests/test_site_browser.py.
"""

from __future__ import annotations

import json
import re

import pytest

from cli_helpers import run_cli
from pheno_bench.metric_ids import HEADERS
from pheno_bench.text import format_value


def parse_tables(text: str) -> list[dict]:
    """Rich box tables read back from text: [{title, headers, rows}], each row a list of cells
    (a cell's lines joined by newlines); a row starts where its first column is not empty. The
    title is the text printed since the table before (a caption of that one included)."""
    tables, between, current = [], [], None
    for line in text.splitlines():
        if line.startswith("┏"):
            current = {"title": " ".join(" ".join(between).split()), "headers": None, "rows": []}
            tables.append(current)
        elif line.startswith("┃"):
            parts = [p.strip() for p in line[1:-1].split("┃")]
            current["headers"] = parts if current["headers"] is None else [f"{a} {b}".strip() for a, b in zip(current["headers"], parts)]
        elif line.startswith("│"):
            parts = [p.strip() for p in line[1:-1].split("│")]
            if parts[0] or not current["rows"]:
                current["rows"].append(parts)
            else:
                current["rows"][-1] = [f"{a}\n{b}" if b else a for a, b in zip(current["rows"][-1], parts)]
        elif line.startswith("└"):
            between = []
        elif not line.startswith(("┡", "├")):
            between.append(line)
    return tables


def cells_by_row(tables: list[dict], labels: int) -> dict[tuple[str, ...], dict[str, str]]:
    """(label cells...) -> header -> cell, merged over stacked tables (the same rows in each)."""
    out: dict[tuple[str, ...], dict[str, str]] = {}
    for table in tables:
        for row in table["rows"]:
            key = tuple(" ".join(c.split()) for c in row[:labels])
            out.setdefault(key, {}).update(dict(zip(table["headers"][labels:], row[labels:])))
    return out


@pytest.fixture(scope="module")
def two_templates(cell_injury_v1, tmp_path_factory):
    from pheno_bench.evaluate import Evaluator

    folder = tmp_path_factory.mktemp("compare")
    evaluator = Evaluator(cell_injury_v1)
    return evaluator.write_template(folder / "example.parquet", seed=0), evaluator.write_template(folder / "other.parquet", seed=1)


@pytest.mark.parametrize("columns", [80, 200])
def test_compare_prints_every_json_value_under_its_own_header(two_templates, cell_injury_v1, monkeypatch, capsys, columns):
    """Regression: in `unseen_molecules │ active, macro` the primary's top-5% cell was dropped and every
    later value slid one column left; both sides were titled 'random (1 file(s))'."""
    a, b = two_templates
    args = ("compare", a, b, "--benchmark", cell_injury_v1, "--bootstrap", 200)
    code, text, err = run_cli(monkeypatch, capsys, *args, columns=columns)
    assert code == 0, err
    code, raw, err = run_cli(monkeypatch, capsys, *args, "--json")
    assert code == 0, err
    data = json.loads(raw)
    tables = parse_tables(text)
    assert tables and all(t["headers"][:2] == ["split", "queries"] for t in tables)
    assert len(tables) > 1 if columns == 80 else len(tables) == 1
    assert all(len(line) <= columns for line in text.splitlines()) and "…" not in text
    assert all("a = " + str(a) in " ".join(t["title"].split()) and "b = " + str(b) in " ".join(t["title"].split()) for t in tables)
    shown = cells_by_row(tables, 2)
    label = lambda cell: ("averaged, " if cell.startswith("averaged/") else "") + cell.split("/")[1].replace("_", " ") + (", macro" if cell.endswith("/macro") else "")
    expected = {(split, label(cell)): metrics for split, cells in data["splits"].items() for cell, metrics in cells.items()}
    primary = data["primary"]
    p_split, p_view, p_subset, p_average, p_metric = primary["id"].split("/")
    p_key = (p_split, label(f"{p_view}/{p_subset}" + ("/macro" if p_average == "macro" else "")))
    assert p_key == ("unseen_molecules", "active, macro") and p_metric == "top_5pct"
    expected.setdefault(p_key, {})[p_metric] = primary
    assert set(expected) <= set(shown), sorted(set(expected) - set(shown))
    checked = 0
    for key, metrics in expected.items():
        row = shown[key]
        assert set(row) == {HEADERS[m] for m in HEADERS}, (key, row)  # a column per metric in every row
        for metric, header in HEADERS.items():
            cell = row[header].split("\n")
            if metric not in metrics:
                assert cell == ["–"], (key, header, cell)
                continue
            d = metrics[metric]
            assert cell[0] == format_value(d["difference"], metric), (key, header, cell, d)
            assert cell[1] == f"[{format_value(d['low'], metric)}, {format_value(d['high'], metric)}]", (key, header, cell, d)
            verdict = "exploratory" if d.get("exploratory") else d["verdict"]
            assert cell[2] == (f"{verdict} (primary)" if key == p_key and metric == p_metric else verdict), (key, header, cell)
            checked += 1
    assert checked == sum(len(m) for m in expected.values()) > 100


def test_evaluate_keeps_each_submissions_results_and_replaces_none_silently(synthetic_v1, tmp_path, monkeypatch, capsys):
    """Regression: a second `evaluate` silently replaced the first one's out/results.json."""
    from pheno_bench.evaluate import Evaluator
    from pheno_bench.io import sha256_file

    evaluator = Evaluator(synthetic_v1)
    a = evaluator.write_template(tmp_path / "a.parquet", seed=0, dim=8)
    b = evaluator.write_template(tmp_path / "b.parquet", seed=1, dim=8)
    for path in (a, b):
        code, out, err = run_cli(monkeypatch, capsys, "evaluate", path, "--bootstrap", 20)
        assert code == 0, err
        assert f"wrote {tmp_path / path.stem}.results.json" in " ".join(out.split())
    for path in (a, b):
        recorded = json.loads((tmp_path / f"{path.stem}.results.json").read_text())["submission"]
        assert recorded["file"] == path.name and recorded["sha256"] == sha256_file(path)
    before = (tmp_path / "a.results.json").read_bytes()
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", b, "--out", tmp_path / "a.results.json", "--bootstrap", 20)
    assert code == 2 and "already exists and holds the results of other submission files" in err and "--force" in err
    assert (tmp_path / "a.results.json").read_bytes() == before
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", a, "--bootstrap", 20)  # the same file again: says so
    assert code == 0 and "replaced the earlier results of the same submission" in " ".join(out.split())
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", b, "--out", tmp_path / "a.results.json", "--bootstrap", 20, "--force")
    assert code == 0, err
    assert json.loads((tmp_path / "a.results.json").read_text())["submission"]["file"] == "b.parquet"
    # compare --out: the same rule
    code, out, err = run_cli(monkeypatch, capsys, "compare", a, b, "--out", tmp_path / "b.results.json", "--bootstrap", 20)
    assert code == 2 and "already exists" in err
    code, out, err = run_cli(monkeypatch, capsys, "compare", a, b, "--out", tmp_path / "ab.json", "--bootstrap", 20)
    assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, "compare", b, a, "--out", tmp_path / "ab.json", "--bootstrap", 20)
    assert code == 2 and "already exists" in err  # b minus a is another comparison


def test_results_path_rule():
    from pathlib import Path

    from pheno_bench.results import results_path

    assert results_path(["out/a.parquet"]) == Path("out/a.results.json")
    assert results_path([f"out/v2/fold-{k}.parquet" for k in range(5)]) == Path("out/v2/folds.pooled.results.json")
    assert results_path([f"out/m-fold-{k}.parquet" for k in range(5)]) == Path("out/m.pooled.results.json")
    assert results_path([f"sub/x/fold-{k}/seed-0.parquet" for k in range(3)]) == Path("sub/x/seed-0.pooled.results.json")


# --- fold-set build output --------------------------------------------------------------------


def test_fold_set_info_one_table_per_fold_never_cut(synthetic_v1, tmp_path_factory, monkeypatch, capsys):
    """Regression: two tables per fold, the first titled '<name> (seed 0)' without its fold, rows in two
    orders, pooled counts cut ('2916/3023/…'); 'verified' only for fold sets; 'wells' silently treated only."""
    from leaderboard_helpers import fold_benchmark
    from pheno_bench.folds import read_fold_set

    root = fold_benchmark(tmp_path_factory.getbasetemp())
    fold_set = read_fold_set(root)
    code, text, err = run_cli(monkeypatch, capsys, "splits", "info", root, columns=80)
    assert code == 0, err
    lines = text.splitlines()
    assert "…" not in text and all(len(line) <= 80 for line in lines[:-1]), [line for line in lines if len(line) > 80]
    assert lines[-1].startswith(f"verified {root}")
    tables = parse_tables(text)
    per_fold = {k: [t for t in tables if f"fold {k} of {fold_set.k}" in t["title"]] for k in range(fold_set.k)}
    assert all(per_fold.values()) and sum(map(len, per_fold.values())) + sum("side by side" in t["title"] or "sources" in t["title"] for t in tables) == len(tables)
    orders = {tuple(row[0] for row in t["rows"]) for ts in per_fold.values() for t in ts}
    assert len(orders) == 1 and set(next(iter(orders))) == set(fold_set.composition["folds"][0])  # one row order, every split
    headers = {h for ts in per_fold.values() for t in ts for h in t["headers"]}
    assert "treated wells" in headers and "wells" not in headers and "controls are counted apart" in " ".join(text.split())
    for k, ts in per_fold.items():  # every count of the fold, whole
        cells = cells_by_row(ts, 1)
        for split, row in fold_set.composition["folds"][k].items():
            assert cells[(split,)]["treated wells"] == str(row["wells"]) and cells[(split,)]["conditions"] == str(row["conditions"])
    side = cells_by_row([t for t in tables if "side by side" in t["title"]], 2)
    train = fold_set.composition["pooled"]["train"]["wells"]
    assert [side[("train", "treated wells")][f"fold {k}"] for k in range(fold_set.k)] == [str(n) for n in train]
    # a benchmark without folds says 'verified' too
    code, text, err = run_cli(monkeypatch, capsys, "splits", "info", synthetic_v1, columns=80)
    assert code == 0 and text.splitlines()[-1].startswith(f"verified {synthetic_v1}"), (err, text[-300:])


# --- one flag style ---------------------------------------------------------------------------


def _commands(group, path=()):
    for name, command in group.commands.items():
        if getattr(command, "commands", None):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def test_every_help_is_whole_and_shows_no_bool(monkeypatch, capsys):
    """Regression: '--json <bool>' in every --help; piped help cut with '…'."""
    import typer

    from pheno_bench.cli import app

    commands = list(_commands(typer.main.get_command(app)))
    assert ("leaderboard", "init") in commands and ("evaluate",) in commands and len(commands) > 15
    for command in commands:
        code, text, err = run_cli(monkeypatch, capsys, *command, "--help")  # piped: capsys is not a terminal
        assert code == 0, (command, err)
        assert "<bool>" not in text and "…" not in text, (command, text)


@pytest.mark.parametrize("seeds", [("0", "1", "2"), ("0,1,2",), ("0", "--seeds", "1", "--seeds", "2")])
def test_leaderboard_init_takes_seeds_as_baselines_run_does(tmp_path, monkeypatch, capsys, seeds):
    """Regression: `leaderboard init --seeds 0 1 2` failed ('unexpected extra arguments')."""
    import yaml

    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", "init", "mine", "--seeds", *seeds, "--submissions", tmp_path)
    assert code == 0, err
    assert yaml.safe_load((tmp_path / "mine" / "metadata.yaml").read_text())["seeds"] == [0, 1, 2]


# --- hints that are true ----------------------------------------------------------------------


def test_hints_name_what_is_wrong(synthetic_v1, tmp_path_factory, tmp_path, monkeypatch, capsys):
    """Regression: an extra seed-3.parquet got 'missing [], unlisted [...]'; a file for another
    benchmark was told to give one file per fold; `leaderboard check` printed the metric id and said
    nothing of an entry at chance."""
    import shutil

    from leaderboard_helpers import fold_benchmark, shared_board
    from pheno_bench.metric_ids import metric_label

    board = shared_board(synthetic_v1, tmp_path_factory.getbasetemp())
    entry = tmp_path / "one-seed"
    shutil.copytree(board / "submissions" / "one-seed", entry)
    shutil.copyfile(entry / "seed-0.parquet", entry / "seed-3.parquet")
    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", "check", entry, "--benchmark", synthetic_v1)
    message = " ".join(err.split())
    assert code == 2 and "not listed in metadata.yaml: seed-3.parquet" in message and "missing" not in message, message
    # a file for synthetic-v1 evaluated against a fold benchmark
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", entry / "seed-0.parquet", "--benchmark", fold_benchmark(tmp_path_factory.getbasetemp()))
    assert code == 2 and "this file is for synthetic-v1" in " ".join(err.split()), err
    # check: the metric's words, and an entry at chance says so
    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", "check", board / "submissions" / "constant", "--benchmark", synthetic_v1, columns=200)
    assert code == 0, err
    primary = "unseen_molecules/per_query/active/macro/top_5pct"
    assert f"seed 0: {metric_label(primary)} = " in out and primary not in out and "at chance: every seed" in out, out
    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", "check", board / "submissions" / "good", "--benchmark", synthetic_v1, columns=200)
    assert code == 0 and "at chance" not in out, out


def test_one_seed_summary_has_no_zero_sd_no_nan_and_the_primary(synthetic_v1, tmp_path):
    """Regression: a one-seed baseline printed '± 0.0' and 'nan ± 0.0', without the primary metric."""
    from rich.console import Console

    from pheno_bench.evaluate import Evaluator
    from pheno_bench.results_tables import primary_seed_lines, seeds_table

    evaluator = Evaluator(synthetic_v1)
    results = evaluator.evaluate(evaluator.write_template(tmp_path / "t.parquet", seed=0, dim=8), n_bootstrap=20)
    console = Console(width=200, record=True)
    for line in primary_seed_lines({"probe": {0: results}}):
        console.print(line)
    for table in seeds_table({"probe": {0: results}}, title="probe").tables(200):
        console.print(table)
    text = console.export_text()
    assert "±" not in text and "nan" not in text.lower() and "1 seed" in text
    assert f"primary metric {results.primary.label} = {format_value(results.primary.value, 'top_5pct')}" in " ".join(text.split())


# --- the board's pages ------------------------------------------------------------------------


def test_probe_plot_keeps_the_tables_order(tmp_path):
    """Regression: the headline plot sorted entries by score while the table orders them by rank."""
    import re

    import pandas as pd

    from pheno_bench.plots import probe_plot, save_svg

    order = ["ranked-first", "a-probe", "ranked-second", "better-but-unranked"]  # not by mean
    table = pd.DataFrame({"entry": order, "mean": [20.0, 30.0, 10.0, 40.0], "low": [15.0, 25, 5, 35], "high": [25.0, 35, 15, 45],
                          "probe": [False, True, False, False]})
    save_svg(probe_plot(table, label="x", chance=5.0, floor=8.0), tmp_path / "p.svg")
    svg = (tmp_path / "p.svg").read_text()
    labels = [m for m in re.findall(r"<!-- ([a-z-]+) -->", svg) if m in order]
    assert labels == order
    assert "query-blind floor" in " ".join(re.findall(r"<!-- ([^>]+) -->", svg))


def test_board_shows_floor_beside_chance_and_the_primarys_parts(synthetic_v1, tmp_path_factory):
    """The headline table: the query-blind floor beside chance, the primary's dose and identity parts
    as columns, each the mean over seeds of the scorer's Primary.parts in the results JSON; the
    plot in the table's order."""
    import re

    import numpy as np

    from leaderboard_helpers import shared_board

    board = shared_board(synthetic_v1, tmp_path_factory.getbasetemp()) / "site/leaderboard/synthetic-v1"
    page = (board / "index.md").read_text()
    headline = page[page.index('<table data-table="headline"'):page.index("</table>")]
    rows = dict(re.findall(r'<tr data-entry="([^"]+)".*?(<td data-part.*?)<td data-sort="\d+">', headline))
    assert len(rows) == len(list((board / "results").iterdir())) > 3
    for entry, cells in rows.items():
        runs = [json.loads(p.read_text())["primary"] for p in (board / "results" / entry).glob("seed-*.json")]
        for part, metric in (("dose", "dose_part"), ("identity", "identity_top_5pct")):
            expected = format_value(float(np.mean([r["parts"][part]["value"] for r in runs])), metric)
            assert re.search(rf'data-part="{part}" data-sort="[^"]*">{re.escape(expected)}</td>', cells), (entry, part, expected, cells)
    first = json.loads(next((board / "results" / "good").glob("seed-*.json")).read_text())["primary"]
    for key in ("chance", "floor"):
        row = re.search(rf'<tr data-{key}="".*?</tr>', headline).group(0)
        assert f"<td>{format_value(first[key], 'top_5pct')}</td>" in row
        assert f'data-part="dose">{format_value(first["parts"]["dose"][key], "dose_part")}</td>' in row
    assert headline.index("data-chance") < headline.index("data-floor")
    svg = (board / "plots/probes.svg").read_text()
    assert [m for m in re.findall(r"<!-- ([a-z-]+) -->", svg) if m in rows] == list(rows)
