"""Query ids carry nothing a model could use (issue 19): the legacy ids of cell-injury-v1 hash back to
plate and address from public files alone, the opaque ids of v1.1 do not; migration v1 -> v1.1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import requires_data

from pheno_bench.errors import PhenoBenchError
from pheno_bench.specs import BENCHMARKS
from pheno_bench.split_files import query_id, query_ids

ROWS = "ABCDEFGHIJKLMNOP"
REPO = Path(__file__).resolve().parent.parent


def _assert_same(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), path
    else:
        assert a == b, path


def test_opaque_ids_are_made_of_the_build_and_the_features_only():
    spec = BENCHMARKS["cell-injury-v1.1"]
    rng = np.random.default_rng(0)
    features = rng.standard_normal((6, 4)).astype(np.float32)
    features[3] = features[1]  # an exact duplicate gets its own id
    ids = query_ids(spec, "unseen_molecules", features)
    assert len(set(ids)) == 6 and all(i.startswith("q-") and len(i) == 18 for i in ids)
    assert query_ids(spec, "unseen_molecules", features) == ids  # deterministic
    assert query_ids(spec, "unseen_molecules", features[[0, 2, 4]]) == [ids[0], ids[2], ids[4]]  # a row's id is its own
    assert query_ids(spec, "unseen_images", features) != ids  # the split is part of the build's name
    assert query_ids(BENCHMARKS["cell-injury-v2.1"], "unseen_molecules", features) != ids
    # the well id plays no part: the same features at another well get the same id
    assert query_ids(spec, "unseen_molecules", features, pd.Series([f"cell-injury:P{i}:A1" for i in range(6)])) == ids


def test_legacy_specs_keep_their_well_hashed_ids():
    spec = BENCHMARKS["cell-injury-v1"]
    wells = pd.Series(["cell-injury:BR00109990:B12", "cell-injury:BR00109990:B9"])
    assert query_ids(spec, "unseen_molecules", np.zeros((2, 3), np.float32), wells) == [query_id(spec, w) for w in wells]
    assert query_id(spec, wells[0]) == "q-" + hashlib.sha256(b"cell-injury-v1|0|cell-injury:BR00109990:B12").hexdigest()[:16]


def _public_attack(root: Path) -> dict[str, str]:
    """What anyone can do with the benchmark's PUBLIC files (manifest, train wells; no answers):
    hash every train plate x 384 addresses with the legacy id recipe. Returns query id -> well id."""
    manifest = json.loads((root / "manifest.json").read_text())
    train = pq.read_table(root / "wells" / "train.parquet", columns=["source", "plate"]).to_pandas()
    recovered = {}
    for source, plate in train[["source", "plate"]].drop_duplicates().itertuples(index=False):
        for row in ROWS:
            for column in range(1, 25):
                well = f"{source}:{plate}:{row}{column}"
                recovered["q-" + hashlib.sha256(f"{manifest['name']}|{manifest['seed']}|{well}".encode()).hexdigest()[:16]] = well
    return recovered


def _attack_file(root: Path, out: Path) -> tuple[float, Path]:
    """A submission built from public files only: each recovered query embeds the dose most often
    found at its address among train wells (one-hot); every candidate embeds its own dose.
    Returns the share of unseen_molecules queries recovered and the file."""
    from pheno_bench.evaluate import Evaluator

    recovered = _public_attack(root)
    train = pq.read_table(root / "wells" / "train.parquet", columns=["well_id", "dose_level", "is_control"]).to_pandas()
    train = train[~train["is_control"]]
    train["address"] = train["well_id"].str.rsplit(":", n=1).str[-1]
    dose_at = train.groupby("address")["dose_level"].agg(lambda d: d.value_counts().index[0])
    levels = sorted(set(train["dose_level"]), key=float)
    onehot = lambda dose: np.eye(len(levels) + 1, dtype=np.float32)[levels.index(dose) if dose in levels else len(levels)]
    evaluator = Evaluator(root)
    queries, candidates, share = {}, {}, 0.0
    for split, (query_ids_, candidate_ids) in evaluator.expected.items():
        wells = [recovered.get(q) for q in query_ids_]
        if split == "unseen_molecules":
            share = float(np.mean([w is not None for w in wells]))
        constant = np.ones(len(levels) + 1, dtype=np.float32)
        queries[split] = (query_ids_, np.stack([onehot(dose_at.get(w.rsplit(":", 1)[-1])) if w else constant for w in wells]))
        candidates[split] = (candidate_ids, np.stack([onehot(c.rsplit("@", 1)[-1]) for c in candidate_ids]))
    from pheno_bench.submission import write_submission

    path = write_submission(out, benchmark=evaluator.manifest.name, fingerprint=evaluator.manifest.fingerprint, model="public-files attack",
                            queries=queries, candidates=candidates)
    return share, path


@requires_data
def test_public_files_recover_legacy_query_wells_but_not_opaque_ones(cell_injury_v1, cell_injury_v1_1, tmp_path):
    from pheno_bench.evaluate import evaluate

    share_v1, file_v1 = _attack_file(Path(cell_injury_v1), tmp_path / "v1.parquet")
    share_v11, file_v11 = _attack_file(Path(cell_injury_v1_1), tmp_path / "v11.parquet")
    assert share_v1 == 1.0  # the leak this release closes: every unseen_molecules query located
    assert share_v11 == 0.0
    leaked = evaluate(file_v1, benchmark=cell_injury_v1, n_bootstrap=0).primary
    blind = evaluate(file_v11, benchmark=cell_injury_v1_1, n_bootstrap=0).primary
    assert leaked.value > leaked.chance + 0.02  # the attack scores above chance on v1 ...
    assert blind.value == blind.chance  # ... and is a constant file, exactly chance, on v1.1


@requires_data
def test_v1_1_holds_v1s_wells_and_features_under_new_ids(cell_injury_v1, cell_injury_v1_1):
    for split in ("unseen_images", "unseen_molecules", "unseen_dataset"):
        old = pq.read_table(Path(cell_injury_v1) / "answers" / f"{split}.parquet").to_pandas().drop(columns="query_id")
        new = pq.read_table(Path(cell_injury_v1_1) / "answers" / f"{split}.parquet").to_pandas().drop(columns="query_id")
        pd.testing.assert_frame_equal(old.sort_values("well_id").reset_index(drop=True), new.sort_values("well_id").reset_index(drop=True))
        old_ids = pq.read_table(Path(cell_injury_v1) / "queries" / f"{split}.parquet", columns=["query_id"]).column(0).to_pylist()
        new_ids = pq.read_table(Path(cell_injury_v1_1) / "queries" / f"{split}.parquet", columns=["query_id"]).column(0).to_pylist()
        assert not set(old_ids) & set(new_ids)
    for split in ("train", "valid"):
        assert pq.read_table(Path(cell_injury_v1) / "wells" / f"{split}.parquet").equals(pq.read_table(Path(cell_injury_v1_1) / "wells" / f"{split}.parquet"))


@requires_data
def test_migrated_entry_scores_exactly_as_before(cell_injury_v1, cell_injury_v1_1, tmp_path):
    from pheno_bench.evaluate import evaluate
    from pheno_bench.migrate import migrate_submission

    old = REPO / "submissions" / "probe-centroid-v1" / "seed-0.parquet"
    new = migrate_submission(old, to=cell_injury_v1_1, out=tmp_path / "migrated.parquet")
    before = evaluate(old, benchmark=cell_injury_v1, n_bootstrap=20)
    after = evaluate(new, benchmark=cell_injury_v1_1, n_bootstrap=20)
    assert after.benchmark.name == "cell-injury-v1.1" and after.submission.sha256 != before.submission.sha256
    strip = lambda r: r.model_dump(mode="json", exclude={"submission", "benchmark", "pheno_bench_version"})
    _assert_same(strip(after), strip(before))  # the same counts; means summed in the new row order (within 1e-12)
    with pytest.raises(PhenoBenchError, match="already a submission for cell-injury-v1.1"):
        migrate_submission(new, to=cell_injury_v1_1, out=tmp_path / "again.parquet")
    with pytest.raises(PhenoBenchError, match="input file"):
        migrate_submission(old, to=cell_injury_v1_1, out=old)


@requires_data
def test_a_fold_file_migrates_to_its_own_fold(cell_injury_v2, cell_injury_v2_1, tmp_path):
    """A v2 fold file, located through the registry (which names the fold set), moves to the same fold of v2.1."""
    from pheno_bench.evaluate import Evaluator
    from pheno_bench.migrate import migrate_submission

    old = REPO / "submissions" / "probe-centroid-v2" / "fold-2" / "seed-0.parquet"
    new = migrate_submission(old, to=cell_injury_v2_1, out=tmp_path / "fold-2.parquet")
    before = Evaluator(cell_injury_v2, fold=2).evaluate(old, n_bootstrap=0)
    after = Evaluator(cell_injury_v2_1, fold=2).evaluate(new, n_bootstrap=0)
    assert after.benchmark.name == "cell-injury-v2.1" and after.primary.id == before.primary.id
    assert after.primary.value == pytest.approx(before.primary.value, abs=1e-12)
    for split, result in before.splits.items():
        if result.evaluated:
            for metric, estimate in result.per_query.subsets["all"].metrics.items():
                assert after.splits[split].per_query.subsets["all"].metrics[metric].value == pytest.approx(estimate.value, abs=1e-12)


@requires_data
def test_v2_1_answers_flag_non_cytotoxic_queries_as_the_diagnostics_do(cell_injury_v2_1):
    from pheno_bench.cytotoxicity import non_cytotoxic_queries

    root = Path(cell_injury_v2_1) / "fold-0"
    flags = non_cytotoxic_queries(root).set_index("query_id")
    for split in ("unseen_images", "unseen_molecules", "unseen_dataset"):
        answers = pq.read_table(root / "answers" / f"{split}.parquet").to_pandas().set_index("query_id")
        assert answers["non_cytotoxic"].dtype == bool
        assert (answers["non_cytotoxic"] == flags.loc[answers.index, "non_cytotoxic"]).all()
        # by hand: mean relative cell count of the condition over every treated well of the source >= 0.8
        if split == "unseen_dataset":
            assert not answers["non_cytotoxic"].any()  # LINCS wells carry no cell count: never flagged
    molecules = pq.read_table(root / "answers" / "unseen_molecules.parquet").to_pandas()
    assert 0 < (molecules["active"] & molecules["non_cytotoxic"]).sum() < molecules["active"].sum()
