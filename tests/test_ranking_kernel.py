"""The fused counting pass (pheno_bench.ranking_kernels): the dose and dose-level counts against
brute force in exact integer arithmetic, and the counts' independence from tiles, blocks, workers,
the dense-band switch and the float32 thresholds' rounding."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

import pheno_bench.ranking as ranking
from pheno_bench.metrics import DOSE_IDENTITY, dose_identity_chance, dose_identity_values, fair_dose_first, fair_top_k, top_k_count
from pheno_bench.ranking import RankCounts, retrieval_counts
from pheno_bench.ranking_kernels import f32_above, f32_below

FIELDS = [f for f in RankCounts.__dataclass_fields__]


def brute_dose_counts(sims, true_index, candidate_molecule, candidate_dose):
    """Own doses above / tied with the true candidate, and candidates of its dose level above / tied
    (exact integer scores: ties are equal scores)."""
    out = {k: [] for k in ("dose_above", "dose_tied", "n_doses", "level_above", "level_tied", "n_level")}
    for row, true in zip(sims, true_index):
        own = candidate_molecule == candidate_molecule[true]
        level = candidate_dose == candidate_dose[true]
        out["dose_above"].append(int(((row > row[true]) & own).sum()))
        out["dose_tied"].append(int(((row == row[true]) & own).sum()))
        out["n_doses"].append(int(own.sum()))
        out["level_above"].append(int(((row > row[true]) & level).sum()))
        out["level_tied"].append(int(((row == row[true]) & level).sum()))
        out["n_level"].append(int(level.sum()))
    return {k: np.array(v) for k, v in out.items()}


def integer_problem(rng, n_queries=80, n_molecules=12, doses=4, dim=5):
    """Integer embeddings (exact scores) with duplicated candidates and queries equal to candidates: many ties."""
    n = n_molecules * doses
    candidates = rng.integers(-2, 3, (n, dim)).astype(np.float32)
    candidates[1::3] = candidates[0::3][: len(candidates[1::3])]
    queries = rng.integers(-2, 3, (n_queries, dim)).astype(np.float32)
    queries[::4] = candidates[rng.integers(0, n, len(queries[::4]))]
    dose = np.tile(np.array(["0.1", "1", "10", "3"])[:doses], n_molecules)
    return queries, candidates, rng.integers(0, n, n_queries), np.repeat(np.arange(n_molecules), doses), dose


@pytest.mark.parametrize("seed", range(3))
def test_dose_and_level_counts_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    queries, candidates, true, molecule, dose = integer_problem(rng)
    dose = rng.permutation(dose)  # levels need not be one per molecule: the kernel only groups columns by code
    counts = retrieval_counts(queries, candidates, true_index=true, candidate_molecule=molecule, candidate_dose=dose, similarity="dot")
    sims = queries.astype(np.int64) @ candidates.astype(np.int64).T
    for name, ref in brute_dose_counts(sims, true, molecule, dose).items():
        np.testing.assert_array_equal(getattr(counts, name), ref, err_msg=name)
    # without dose codes there is one level: every candidate
    plain = retrieval_counts(queries, candidates, true_index=true, candidate_molecule=molecule, similarity="dot")
    np.testing.assert_array_equal(plain.level_above, plain.above)
    np.testing.assert_array_equal(plain.level_tied, plain.tied)
    np.testing.assert_array_equal(plain.n_level, len(candidates))


def near_tie_problem(seed=0):
    """Gaussian data with near-duplicate candidates and queries next to candidates (bands with members)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((300, 48)).astype(np.float32)
    c[1::2] = c[0::2] + np.float32(1e-6) * rng.standard_normal((150, 48)).astype(np.float32)
    c[5::10] = c[0::10]  # exact duplicates across molecules: ties
    q = rng.standard_normal((700, 48)).astype(np.float32)
    q[::3] = c[rng.integers(0, 300, len(q[::3]))] + np.float32(1e-6) * rng.standard_normal((len(q[::3]), 48)).astype(np.float32)
    return q, c, rng.integers(0, 300, 700), np.arange(300) // 5, np.arange(300) % 5


@pytest.mark.parametrize(
    "settings",
    [
        dict(TILE_COLUMNS=7, BLOCK_ROWS=5, DENSE_BAND=256, WORKERS=1),
        dict(TILE_COLUMNS=64, BLOCK_ROWS=33, DENSE_BAND=2, WORKERS=3),
        dict(TILE_COLUMNS=1000, BLOCK_ROWS=512, DENSE_BAND=0, WORKERS=2),  # every band member -> the dense path
    ],
)
@pytest.mark.parametrize("similarity", ["dot", "cosine"])
def test_counts_do_not_depend_on_tiles_blocks_workers_or_the_dense_switch(monkeypatch, settings, similarity):
    q, c, true, molecule, dose = near_tie_problem()
    reference = retrieval_counts(q, c, true_index=true, candidate_molecule=molecule, candidate_dose=dose, similarity=similarity)
    assert (reference.tied > 1).any() and (reference.molecule_tied > 0).any()  # the data really has ties
    for name, value in settings.items():
        monkeypatch.setattr(ranking, name, value)
    counts = retrieval_counts(q, c, true_index=true, candidate_molecule=molecule, candidate_dose=dose, similarity=similarity)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(counts, name), getattr(reference, name), err_msg=name)


def test_float32_thresholds_are_exact_for_every_float32_score():
    """s > x (float64) exactly when s > f32_below(x); s >= x exactly when s >= f32_above(x)."""
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-6, 3, 2000), rng.standard_normal(200).astype(np.float32).astype(np.float64)])
    for x in xs:
        s = np.float32(x)
        near = [s, np.nextafter(s, np.float32(np.inf)), np.nextafter(s, np.float32(-np.inf))]
        below, above = f32_below(x), f32_above(x)
        assert below <= x <= above
        for v in near:
            assert (float(v) > x) == (v > below)
            assert (float(v) >= x) == (v >= above)


def test_dose_and_identity_values_match_enumeration_of_tie_breaking_orders():
    """Every order of the candidates breaks ties with equal probability: average over all of them."""
    rng = np.random.default_rng(4)
    n_molecules, doses = 3, 2
    n = n_molecules * doses
    molecule = np.repeat(np.arange(n_molecules), doses)
    dose = np.tile(np.arange(doses), n_molecules)
    perms = np.array(list(itertools.permutations(range(n))))
    position = np.argsort(perms, axis=1)
    for trial in range(30):
        scores = rng.integers(0, 3, n)  # heavy ties
        true = int(rng.integers(0, n))
        c = brute_dose_counts(scores[None], [true], molecule, dose)
        zeros = np.zeros(1, dtype=np.int64)
        counts = RankCounts(zeros, zeros + 1, zeros, zeros, zeros + 1, *(c[k] for k in ("dose_above", "dose_tied", "n_doses", "level_above", "level_tied", "n_level")))
        order = np.lexsort((position, np.broadcast_to(-scores, perms.shape)), axis=1)
        rank_of = np.argsort(order, axis=1) + 1
        own = molecule == molecule[true]
        first_dose = rank_of[:, true] == rank_of[:, own].min(axis=1)
        level = dose == dose[true]
        level_rank = (rank_of[:, level] <= rank_of[:, [true]]).sum(axis=1)  # rank among the level's candidates
        values = dose_identity_values(counts)[0]
        assert values[0] == pytest.approx(first_dose.mean())
        for column, percent in ((1, 1), (2, 5)):
            k = top_k_count(percent, int(level.sum()))
            assert values[column] == pytest.approx((level_rank <= k).mean()), (trial, percent)


def test_dose_identity_chance_is_a_full_tie_and_matches_enumeration():
    n_doses = np.array([1, 2, 5, 6])
    n_level = np.array([7, 174, 40, 300])
    chance = dose_identity_chance(n_doses, n_level)
    assert chance.shape == (4, len(DOSE_IDENTITY))
    np.testing.assert_array_equal(chance[:, 0], 1.0 / n_doses)
    for column, percent in ((1, 1), (2, 5)):
        k = np.array([top_k_count(percent, int(m)) for m in n_level])
        np.testing.assert_allclose(chance[:, column], k / n_level)
    # a constant embedding gets exactly the chance row
    q = np.ones((6, 4), dtype=np.float32)
    c = np.ones((12, 4), dtype=np.float32)
    counts = retrieval_counts(q, c, true_index=np.arange(6) * 2, candidate_molecule=np.arange(12) // 3, candidate_dose=np.arange(12) % 3)
    np.testing.assert_array_equal(dose_identity_values(counts), dose_identity_chance(counts.n_doses, counts.n_level))


def test_fair_dose_first_is_one_over_the_tie_when_nothing_is_above():
    np.testing.assert_array_equal(fair_dose_first(np.array([0, 0, 1, 2]), np.array([1, 3, 1, 2])), [1.0, 1 / 3, 0.0, 0.0])
    assert fair_dose_first(np.array([0]), np.array([4]))[0] == fair_top_k(np.array([0]), np.array([4]), 1)[0] == Fraction(1, 4)


def test_dose_identity_values_need_the_new_fields():
    counts = RankCounts(*(np.zeros(2, dtype=np.int64) + 1 for _ in range(5)))
    with pytest.raises(ValueError, match="retrieval_counts"):
        dose_identity_values(counts)
    assert counts.take(np.array([1])).dose_above is None
