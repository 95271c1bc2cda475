"""The architecture contract (site/architecture.md): layers without cycles, checked on every run.

* ``lint-imports`` runs every contract of ``[tool.importlinter]`` in pyproject.toml (the stages of
  the flow as layers, the scorer kept apart from the build, the layers inside ``scoring``,
  ``leaderboard``, ``cli`` and ``baselines``, no cycle between siblings, private modules private);
* grimp counts import cycles between modules, imports inside functions included, and names each;
* no private name (``_x``) of a pheno_bench module is imported or used by another module.

Both tools find a package's modules by walking its folder, and ``pheno_bench.baselines`` lives in
``baselines/``, outside ``benchmark/`` (pyproject's ``package-dir``): the checks therefore run on a
copy of the package laid out as it is installed (``pheno_bench/`` with ``baselines/`` inside), in a
subprocess whose ``sys.path`` starts there. Run ``python tests/test_architecture.py`` to see the
full ``lint-imports`` report.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the test extra: pip install -e '.[test]'")
pytest.importorskip("grimp", reason="grimp is in the test extra: pip install -e '.[test]'")

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "pyproject.toml"
#: where each part of the import package lives in the checkout (pyproject's [tool.setuptools] package-dir)
PACKAGE_DIRS = {"pheno_bench": REPO / "benchmark", "pheno_bench.baselines": REPO / "baselines"}


def installed_copy(dest: Path) -> Path:
    """A copy of the package as installed: ``dest/pheno_bench/`` with ``baselines/`` inside. Returns ``dest``."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package, folder in PACKAGE_DIRS.items():
        shutil.copytree(folder, dest.joinpath(*package.split(".")), ignore=skip, dirs_exist_ok=True)
    return dest


def run_python(code: str, root: Path, *args: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter that imports pheno_bench from ``root`` (not the editable install)."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint(root: Path) -> subprocess.CompletedProcess:
    return run_python(LINT, root, str(CONFIG), "--no-cache", "--no-logo")


def broken_part(output: str) -> str:
    """The 'Broken contracts' section of a lint-imports report (it names every offending import)."""
    return output[output.find("Broken contracts"):] if "Broken contracts" in output else output[-4000:]


#: Prints every import cycle among pheno_bench's modules (grimp; function-level imports included),
#: one line per import of the cycle, and exits 1 if there is any.
CYCLES = textwrap.dedent('''
    import sys
    import grimp

    graph = grimp.build_graph("pheno_bench", cache_dir=None)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    print(f"modules {len(modules)}, imports {sum(map(len, edges.values()))}")
    for module in sys.argv[1:]:  # sanity: modules and imports the graph must hold
        if "->" in module:
            a, b = module.split("->")
            print(f"edge {a} -> {b}: {b in edges.get(a, [])}")
        else:
            print(f"module {module}: {module in graph.modules}")
    # strongly connected components (Tarjan, iterative)
    index, low, on, stack, groups, counter = {}, {}, set(), [], [], 0
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on.add(node)
            for j in range(i, len(edges[node])):
                nxt = edges[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            else:
                if low[node] == index[node]:
                    group = []
                    while True:
                        top = stack.pop()
                        on.discard(top)
                        group.append(top)
                        if top == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    print(f"cycles {len(groups)}")
    for group in groups:
        a = group[0]
        b = next(x for x in edges[a] if x in group)
        chain = [a, *graph.find_shortest_chain(importer=b, imported=a)]
        print("cycle: " + ", ".join(group))
        for x, y in zip(chain, chain[1:]):
            lines = sorted(d["line_number"] for d in graph.get_import_details(importer=x, imported=y))
            print(f"    {x} -> {y} (l.{', l.'.join(map(str, lines))})")
    sys.exit(1 if groups else 0)
''')


def cycles(root: Path, *expect: str) -> subprocess.CompletedProcess:
    return run_python(CYCLES, root, *expect)


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    return installed_copy(tmp_path_factory.mktemp("installed"))


def test_import_contracts_are_kept(package):
    result = lint(package)
    assert "Contracts: " in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, "import contract broken (pyproject.toml [tool.importlinter]; site/architecture.md):\n" + broken_part(result.stdout)
    assert " 0 broken" in result.stdout and "KEPT" in result.stdout


def test_no_import_cycles_function_level_imports_included(package):
    # pheno_bench.cli.splits imports pheno_bench.split only inside a function: the graph must hold it
    result = cycles(package, "pheno_bench.baselines.run", "pheno_bench.scoring.pooling", "pheno_bench.cli.splits->pheno_bench.split")
    assert "module pheno_bench.baselines.run: True" in result.stdout, "the baselines (baselines/) are not in the graph:\n" + result.stdout
    assert "module pheno_bench.scoring.pooling: True" in result.stdout, result.stdout + result.stderr
    assert "edge pheno_bench.cli.splits -> pheno_bench.split: True" in result.stdout, "imports inside functions are not counted:\n" + result.stdout
    assert result.returncode == 0 and "cycles 0" in result.stdout, "import cycle(s) in pheno_bench:\n" + result.stdout + result.stderr[-2000:]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names_across_modules(package_dirs: dict[str, Path]) -> list[str]:
    """'file:line: ...' for every private name of a pheno_bench module imported or used by another module.

    package_dirs: import package -> its folder (the checkout's layout, or an installed copy's).
    """
    order = sorted(package_dirs.items(), key=lambda item: -len(item[0]))
    files = {}
    for package, folder in package_dirs.items():
        for path in folder.rglob("*.py"):
            if "__pycache__" not in path.parts:
                owner, base = next((pkg, f) for pkg, f in order if path.is_relative_to(f))
                parts = list(path.relative_to(base).with_suffix("").parts)
                files[path] = ".".join([owner, *(parts[:-1] if parts[-1] == "__init__" else parts)])
    found = []
    for path, module in sorted(files.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}  # local name -> the pheno_bench module (or module attribute) it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pheno_bench":
                for alias in node.names:
                    if _private(alias.name) and node.module != module:
                        found.append(f"{path.name}:{node.lineno}: {module} imports {node.module}.{alias.name}")
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "pheno_bench":
                        aliases[alias.asname or "pheno_bench"] = alias.name if alias.asname else "pheno_bench"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                if aliases[node.value.id] != module:
                    found.append(f"{path.name}:{node.lineno}: {module} uses {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_crosses_a_module_border():
    assert private_names_across_modules(PACKAGE_DIRS) == []


def test_a_private_name_used_by_another_module_is_found(tmp_path):
    package = installed_copy(tmp_path)
    report = package / "pheno_bench" / "report.py"
    report.write_text(report.read_text() + "\n\ndef _peek(root):\n    from pheno_bench import manifest\n    from pheno_bench.manifest import _manifest_json\n\n    return _manifest_json(root), manifest._manifest_json\n")
    found = private_names_across_modules({"pheno_bench": package / "pheno_bench"})
    assert len(found) == 2, found
    assert "pheno_bench.report imports pheno_bench.manifest._manifest_json" in found[0]
    assert "pheno_bench.report uses pheno_bench.manifest._manifest_json" in found[1]


def test_every_module_is_in_the_contract(package):
    """A new module must be placed in a layer (one line in pyproject.toml): the contracts are exhaustive."""
    (package / "pheno_bench" / "newcomer.py").write_text('"""A module no layer lists."""\n')
    try:
        result = lint(package)
    finally:
        (package / "pheno_bench" / "newcomer.py").unlink()
    assert result.returncode != 0
    assert "pheno_bench.newcomer" in result.stdout, result.stdout[-3000:]


def test_an_upward_import_fails_both_checks_naming_it(tmp_path):
    """The checks can fail: an import from a lower stage back up to a higher one (the benchmark manifest
    importing the scorer, inside a function as the old cycles did) breaks the layers and makes a cycle."""
    package = installed_copy(tmp_path)
    manifest = package / "pheno_bench" / "manifest.py"
    manifest.write_text(manifest.read_text() + "\n\ndef _upward():\n    from pheno_bench.evaluate import Evaluator\n\n    return Evaluator\n")
    contract = lint(package)
    assert contract.returncode != 0
    assert "pheno_bench.manifest is not allowed to import pheno_bench.evaluate" in contract.stdout, broken_part(contract.stdout)
    found = cycles(package)
    assert found.returncode == 1 and "cycles 1" in found.stdout, found.stdout + found.stderr
    assert "pheno_bench.manifest -> pheno_bench.evaluate" in found.stdout, found.stdout


if __name__ == "__main__":  # python tests/test_architecture.py: the full lint-imports report and the cycle count
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        root = installed_copy(Path(folder))
        report = lint(root)
        print(report.stdout, report.stderr, sep="")
        found = cycles(root)
        print(found.stdout, found.stderr, sep="")
        sys.exit(report.returncode or found.returncode)
