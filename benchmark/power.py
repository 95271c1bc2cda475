"""How big a difference a benchmark can see: the minimum detectable difference, bounded verdicts, and
an entry's interval with its training seeds' variance.

- :func:`minimum_detectable_difference`: the smallest true difference a two-sided test at level
  ``alpha`` detects with probability ``power``, given the standard error of the paired difference:
  ``MDE = (z_{1 - alpha/2} + z_{power}) * SE`` (2.80 * SE at 5 % / 80 %), the normal approximation
  of the paired bootstrap (the difference's bootstrap distribution, whose standard deviation is SE).
- :func:`board_power`: a board's MDE from the paired comparisons it already holds (each pair's
  95 % interval half-width / z_0.975 = its SE): the median over the pairs, and their range.
- :func:`verdict_statement`: a verdict with its bound ("tied: a is at most +4.3 better and at most
  3.4 worse than b"), so that "tied" never reads as "equal".
- :func:`seed_interval`: an entry's primary value over its seeds with an interval that includes the
  seeds' variance, from its per-seed :class:`~pheno_bench.results.Results` alone (a variance sum:
  ``SE^2 = mean_s(SE_s)^2 + sd_seeds^2 / n_seeds``, ``SE_s`` the seed's interval half-width / z_0.975),
  for boards that hold results and not the files. It is conservative: each seed's molecule SE stands
  for that of the seed average, which is smaller unless the seeds agree query by query.
  :func:`pheno_bench.compare.entry_interval` computes the interval from the files by bootstrapping
  molecules and seeds together (the scorer's reading, and the one to show when the files are at hand).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from pheno_bench.metrics import CI_LEVEL, LOWER_IS_BETTER
from pheno_bench.results import Results
from pheno_bench.text import format_value

#: two-sided level and power of the minimum detectable difference
ALPHA = 1 - CI_LEVEL
POWER = 0.8


def z_value(level: float = CI_LEVEL) -> float:
    """z_{(1 + level) / 2}: the half-width of a two-sided normal interval at ``level`` in SEs (1.96 at 95 %)."""
    return float(ndtri((1 + level) / 2))


def minimum_detectable_difference(se: float | None, *, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest true difference detected with probability ``power`` by a two-sided test at ``alpha``.

    se: standard error of the (paired) difference, in the metric's units; returns
    ``(z_{1 - alpha/2} + z_{power}) * se`` (2.8016 * se at alpha 0.05, power 0.8), None when se is
    None or not finite.
    """
    if se is None or not np.isfinite(se):
        return None
    return float((ndtri(1 - alpha / 2) + ndtri(power)) * se)


def se_from_interval(low: float | None, high: float | None, level: float = CI_LEVEL) -> float | None:
    """The standard error a two-sided interval at ``level`` implies: (high - low) / (2 z)."""
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return None
    return float((high - low) / (2 * z_value(level)))


@dataclass(frozen=True)
class BoardPower:
    """A board's minimum detectable difference on its primary metric (metric units: fractions for accuracies).

    mde: median over the pairs of the pair's MDE; mde_min / mde_max: their range; se: the median SE of
    a paired difference; pairs: how many pairs it was computed from; alpha, power: the test's.
    """

    mde: float | None
    mde_min: float | None
    mde_max: float | None
    se: float | None
    pairs: int
    alpha: float = ALPHA
    power: float = POWER
    method: str = "paired bootstrap over molecules (and seeds): MDE = (z_0.975 + z_0.8) * SE, SE = 95 % half-width / z_0.975"


def board_power(differences: Iterable, *, level: float = CI_LEVEL) -> BoardPower:
    """The MDE of a board from its paired comparisons.

    differences: objects with ``low`` and ``high`` (the 95 % interval of a - b): the board's paired
    verdicts (:func:`pheno_bench.leaderboard.ranking.paired_verdicts` values), or
    ``Comparison.primary`` of :func:`pheno_bench.compare.compare_entries`. Give each unordered pair
    once (a verdict and its flip have the same width). Pairs without an interval are skipped.
    """
    ses = [se for d in differences if (se := getattr(d, "se", None) or se_from_interval(d.low, d.high, level)) is not None]
    if not ses:
        return BoardPower(None, None, None, None, 0)
    mdes = [minimum_detectable_difference(se) for se in ses]
    return BoardPower(float(np.median(mdes)), min(mdes), max(mdes), float(np.median(ses)), len(ses))


def verdict_statement(verdict: str, low: float | None, high: float | None, metric: str, *, level: float = CI_LEVEL) -> str:
    """The verdict with the bound that goes with it, in the metric's display units (% points for accuracies).

    verdict: better | worse | tied (a against b); low, high: the interval of a - b at ``level``.
    "tied: a is at most +4.3 better and at most 3.4 worse than b (95 % interval)" — never "equal".
    """
    pct = f"{100 * level:g} %"
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return f"{verdict}: no interval (too few molecules to resample)"
    sign = -1 if metric in LOWER_IS_BETTER else 1  # advantage of a = sign * (a - b)
    lo, hi = sorted((sign * low, sign * high))
    fmt = lambda x: format_value(abs(x), metric)
    if verdict == "better":
        return f"better: a is {fmt(lo)} to {fmt(hi)} better than b ({pct} interval)"
    if verdict == "worse":
        return f"worse: a is {fmt(hi)} to {fmt(lo)} worse than b ({pct} interval)"
    return f"tied: a is at most {fmt(max(hi, 0))} better and at most {fmt(max(-lo, 0))} worse than b ({pct} interval)"


@dataclass(frozen=True)
class SeedInterval:
    """An entry's primary metric over its seeds, the interval including the seeds' variance.

    value: mean over seeds; low, high: value -/+ z * se; se: sqrt(se_molecules^2 + sd_seeds^2 / n_seeds);
    se_molecules: mean over seeds of each seed's interval half-width / z; sd_seeds: sample SD of the seed
    values (ddof 1; 0 with one seed); values: per seed; mde_alone: the MDE of a difference to a fixed value.
    """

    value: float
    low: float
    high: float
    se: float
    se_molecules: float
    sd_seeds: float
    n_seeds: int
    values: tuple[float, ...]
    level: float = CI_LEVEL
    method: str = "variance sum: se^2 = mean(se_seed)^2 + sd_seeds^2 / n_seeds (normal interval)"


def seed_interval(results: Sequence[Results], *, level: float = CI_LEVEL) -> SeedInterval | None:
    """The primary metric of one entry's per-seed results, with an interval that includes the seeds' variance.

    results: one Results per seed (pooled over folds for a fold benchmark), all with a primary value and
    interval. Returns None when a seed has no primary value or interval.
    """
    primaries = [r.primary for r in results]
    if not primaries or any(p is None or p.value is None or p.low is None or p.high is None for p in primaries):
        return None
    values = np.array([p.value for p in primaries], dtype=float)
    se_mol = float(np.mean([se_from_interval(p.low, p.high, level) for p in primaries]))
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    se = math.sqrt(se_mol**2 + sd**2 / len(values))
    z = z_value(level)
    mean = float(values.mean())
    return SeedInterval(mean, mean - z * se, mean + z * se, se, se_mol, sd, len(values), tuple(map(float, values)), level)
