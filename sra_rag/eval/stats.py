"""95% intervals: Wilson for accuracies, t-intervals for paired differences against the baseline.

Small samples are the rule here (tens per cell), where the normal approximation to a proportion
is wrong near 0 and 1 (Wilson is not) and a percentile bootstrap of a mean is too narrow (a
t-interval is not), so these two are used throughout; no external statistics package is needed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

Z95 = 1.959963984540054
# two-sided 95% quantiles of Student's t, by degrees of freedom
_T95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}  # fmt: skip


def t95(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (conservative between table rows)."""
    if df < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {df}")
    if df in _T95:
        return _T95[df]
    below = [d for d in _T95 if d < df]
    return _T95[max(below)] if df <= 120 else Z95


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when there are no trials."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, not a rounding hair off
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def mean_interval(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean and its 95% t-interval (None bounds with fewer than two values)."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "low": None, "high": None}
    mean = statistics.fmean(values)
    if n < 2:
        return {"n": n, "mean": mean, "low": None, "high": None}
    half = t95(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half}


def accuracy(hits: Sequence[bool]) -> dict[str, float | int]:
    """Proportion with its Wilson interval."""
    n, k = len(hits), sum(bool(h) for h in hits)
    low, high = wilson(k, n)
    return {"n": n, "correct": k, "rate": k / n if n else float("nan"), "low": low, "high": high}


def excludes_zero(interval: dict[str, float | int | None]) -> bool:
    low, high = interval.get("low"), interval.get("high")
    return low is not None and high is not None and (low > 0 or high < 0)


def mcnemar(gained: int, lost: int) -> float:
    """Exact two-sided McNemar p-value for paired right/wrong outcomes: `gained` questions right
    only under the new setting, `lost` right only under the old (a binomial test of the discordant
    pairs; 1.0 when there are none)."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)
