"""The data card's probe parts (perf/report_diagnostics.py): committed probe entries scored on the dose part
and the identity part, checked against a brute-force ranking of their embeddings; sections cached by key."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"


@pytest.fixture(scope="module")
def diagnostics():
    spec = importlib.util.spec_from_file_location("report_diagnostics", ROOT / "perf" / "report_diagnostics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sections_are_cached_by_key_and_recomputed_on_request(diagnostics, tmp_path):
    calls = []

    def compute(report):
        calls.append(1)
        report["numbers"] = {"value": len(calls)}
        return f"text {len(calls)}"

    key = {"v1": "a" * 64, "v2": "b" * 64, "scorer": "4.0.0", "section": "probe-parts"}
    first, again = {}, {}
    assert diagnostics.cached("probe-parts", key, tmp_path, compute, first) == "text 1" and first == {"numbers": {"value": 1}}
    assert diagnostics.cached("probe-parts", key, tmp_path, compute, again) == "text 1" and again == first and len(calls) == 1
    other = key | {"v2": "c" * 64}  # another build (fingerprint): computed again
    assert diagnostics.cached("probe-parts", other, tmp_path, compute, {}) == "text 2"
    assert diagnostics.cached("probe-parts", key, tmp_path, compute, {}, recompute=True) == "text 3"
    assert diagnostics.cached("probe-parts", key, tmp_path, compute, {}) == "text 3" and len(calls) == 3


def _brute_force_parts(evaluator, path: Path) -> tuple[float, float]:
    """Macro (over molecules) dose part and identity top-5% of the active non-anchor unseen_molecules queries,
    from cosine similarities in float64 and the definitions: the true dose first among the molecule's own
    doses (1 / t for t tied at the top), the molecule within ceil(5 % of n) of the n candidates at its dose."""
    split = "unseen_molecules"
    key = evaluator.keys[split]
    emb = evaluator.read(path).splits[split]
    q = emb.queries.astype(np.float64)
    c = emb.candidates.astype(np.float64)
    sims = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (c / np.linalg.norm(c, axis=1, keepdims=True)).T
    table = key.candidate_table
    cand_mol, cand_dose = table["inchikey"].to_numpy(), table["dose_level"].astype(str).to_numpy()
    labels = key.labels
    keep = labels["active"].to_numpy(bool) & ~labels["anchor"].to_numpy(bool)
    dose, identity, molecule = [], [], []
    for i in np.flatnonzero(keep):
        t = key.true_index[i]
        s, true = sims[i], sims[i, t]
        tol = 1e-9 * max(1.0, abs(true))
        own = cand_mol == cand_mol[t]
        above, tied = np.sum(s[own] > true + tol), np.sum(np.abs(s[own] - true) <= tol)
        dose.append(0.0 if above else 1.0 / tied)
        level = cand_dose == cand_dose[t]
        k = math.ceil(5 * level.sum() / 100)
        above, tied = np.sum(s[level] > true + tol), np.sum(np.abs(s[level] - true) <= tol)
        identity.append(min(1.0, max(0.0, (k - above) / tied)))
        molecule.append(cand_mol[t])
    molecule = np.array(molecule)
    macro = lambda v: float(np.mean([np.mean(np.array(v)[molecule == m]) for m in np.unique(molecule)]))
    return macro(dose), macro(identity)


@pytest.mark.parametrize("probe", ["probe-layout-v1", "probe-chem-neighbours-v1"])
def test_probe_parts_of_committed_entries_match_a_brute_force_ranking(diagnostics, cell_injury_v1, probe):
    from pheno_bench.evaluate import Evaluator

    entries = diagnostics.board_entries(SUBMISSIONS, "cell-injury-v1")
    assert probe in entries and "probe-layout-v2" not in entries
    rows = diagnostics.parts_rows(cell_injury_v1, {probe: entries[probe]}, n_bootstrap=50).iloc[0]
    dose, identity = _brute_force_parts(Evaluator(cell_injury_v1), entries[probe][0][0])
    assert rows["dose_value"] == pytest.approx(dose, abs=1e-9)
    assert rows["identity_value"] == pytest.approx(identity, abs=1e-9)
    assert rows["dose_chance"] > 0.1 and 0.03 < rows["identity_chance"] < 0.1  # 1 / doses (about 6); k / n at one dose
    text = diagnostics.parts_markdown(diagnostics.parts_rows(cell_injury_v1, {probe: entries[probe]}, n_bootstrap=50))
    assert f"| `{probe}` | " in text and f"{100 * dose:.1f} [" in text


def test_guideline_p_values_are_floored_at_the_bootstrap_resolution():
    """Regression: the guideline table printed "< 1e-7" from 1,000 resamples (normal tail of z = 5.9)."""
    spec = importlib.util.spec_from_file_location("report_baselines", ROOT / "perf" / "report_baselines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    p = module.p_from_interval(0.061, 0.040, 0.081, n_resamples=1000)  # +6.1 [4.0, 8.1]: z = 5.8
    assert p == pytest.approx(1 / 1001) and module.format_p(p, 1000) == "≤ 0.001"
    assert module.p_from_interval(0.0, -0.03, 0.03, n_resamples=1000) == pytest.approx(1.0)
    wide = module.p_from_interval(0.02, -0.017, 0.057, n_resamples=1000)  # z = 1.06: the normal p, above the floor
    assert wide == pytest.approx(math.erfc(0.02 / (0.074 / (2 * 1.959964)) / math.sqrt(2))) and module.format_p(wide, 1000) == f"{wide:.2g}"
    adjusted = module.holm({"a": p, "b": wide})
    assert adjusted["a"] == pytest.approx(2 / 1001) and adjusted["b"] == pytest.approx(wide)
