"""Shared fixtures: the real data folder and benchmarks built once per test session."""

from __future__ import annotations

import pytest

from pheno_bench.paths import data_root

HAS_DATA = (data_root() / "cell-injury-dahlin2023").is_dir() and (data_root() / "lincs-pilot1-SQ00015054").is_dir()
requires_data = pytest.mark.skipif(
    not HAS_DATA, reason=f"real data not found at {data_root()} (set PHENO_BENCH_DATA to ../shared/data)"
)
HAS_MOLECULES = (data_root() / "molecules-moshkov2023").is_dir()
requires_molecules = pytest.mark.skipif(
    not HAS_MOLECULES, reason=f"molecules-moshkov2023 not found under {data_root()} (set PHENO_BENCH_DATA)"
)


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory):
    """The session-scoped builds below register themselves (pheno_bench.registry): in the tests' home, never ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PHENO_BENCH_HOME", str(tmp_path_factory.getbasetemp() / "home"))
        yield


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep every test's pheno-bench home (built/downloaded benchmarks, caches) out of ~/.cache."""
    monkeypatch.setenv("PHENO_BENCH_HOME", str(tmp_path_factory.getbasetemp() / "home"))


@pytest.fixture(scope="session")
def cell_injury_v1(tmp_path_factory):
    """The real cell-injury-v1 benchmark, built once per session (folder path)."""
    if not HAS_DATA:
        pytest.skip(f"real data not found at {data_root()}")
    from pheno_bench.split import build_benchmark

    return build_benchmark("cell-injury-v1", out=tmp_path_factory.mktemp("bench") / "cell-injury-v1")


@pytest.fixture(scope="session")
def cell_injury_v1_1(tmp_path_factory):
    """The real cell-injury-v1.1 (v1's wells and splits, opaque query ids), built once per session."""
    if not HAS_DATA:
        pytest.skip(f"real data not found at {data_root()}")
    from pheno_bench.split import build_benchmark

    return build_benchmark("cell-injury-v1.1", out=tmp_path_factory.mktemp("bench") / "cell-injury-v1.1")


@pytest.fixture(scope="session")
def synthetic_v1(tmp_path_factory):
    """The small synthetic-v1 benchmark (real Moshkov molecules, planted phenotypes), built once."""
    if not HAS_MOLECULES:
        pytest.skip(f"molecules-moshkov2023 not found under {data_root()}")
    from pheno_bench.split import build_benchmark

    return build_benchmark("synthetic-v1", out=tmp_path_factory.mktemp("bench") / "synthetic-v1")


@pytest.fixture(scope="session")
def cell_injury_v2(tmp_path_factory):
    """The real cell-injury-v2 fold set (5 folds), built once per session (folder path; about a minute)."""
    if not HAS_DATA:
        pytest.skip(f"real data not found at {data_root()}")
    from pheno_bench.split import build_benchmark

    return build_benchmark("cell-injury-v2", out=tmp_path_factory.mktemp("bench") / "cell-injury-v2")


@pytest.fixture(scope="session")
def cell_injury_v2_1(tmp_path_factory):
    """The real cell-injury-v2.1 fold set (v2's folds, opaque query ids, the non-cytotoxic flag), built once per session."""
    if not HAS_DATA:
        pytest.skip(f"real data not found at {data_root()}")
    from pheno_bench.split import build_benchmark

    return build_benchmark("cell-injury-v2.1", out=tmp_path_factory.mktemp("bench") / "cell-injury-v2.1")


@pytest.fixture(scope="session")
def cell_injury_wells():
    """The curated real cell-injury wells of cell-injury-v2's feature space (cell-injury + LINCS curated
    together, 181 shared features), cell-injury rows only; time_h, well and cell_count included."""
    if not HAS_DATA:
        pytest.skip(f"real data not found at {data_root()}")
    from pheno_bench.curate import curate
    from pheno_bench.sources import get_source, load_source

    names = ("cell-injury", "lincs-pilot1")
    wells = curate([load_source(n) for n in names], {n: get_source(n).nominal_doses_um for n in names}).wells
    return wells.take((wells.meta["source"] == "cell-injury").to_numpy())
