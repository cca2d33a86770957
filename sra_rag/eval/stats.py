"""95% intervals: Wilson for accuracies, t-intervals for paired differences against the baseline.

Small samples are the rule here (tens per cell), where the normal approximation to a proportion
is wrong near 0 and 1 (Wilson is not) and a percentile bootstrap of a mean is too narrow (a
t-interval is not), so these two are used throughout; no external statistics package is needed.
"""

from __future__ import annotations

import functools
import math
import operator
import statistics
from collections.abc import Sequence

Z95 = 1.959963984540054
"""The 97.5% quantile of the standard normal: Student's t's limit as the degrees of freedom grow."""


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz), to
    double precision; it converges fast for x < (a + 1) / (a + b + 2)."""
    tiny, eps = 1e-300, 1e-16
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1) < eps:
            return fraction
    raise ArithmeticError(f"the incomplete beta fraction did not converge (a={a}, b={b}, x={x})")


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, from math alone (no scipy)."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _t_two_sided_tail(t: float, df: int) -> float:
    """P(|T| > t) for Student's t with `df` degrees of freedom (t >= 0)."""
    return _incomplete_beta(df / 2, 0.5, df / (df + t * t))


@functools.cache
def t95(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom, for every df (a table with
    the normal's 1.96 past its last row would understate it, and so narrow the intervals): the t
    where P(|T| > t) = 0.05, by bisection on the exact tail: within 2e-12 of the true quantile (relative)
    up to df = 10,000 and 1e-9 to df = 10**7, where the log-gamma difference loses digits."""
    if operator.index(df) < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {df}")
    low, high = Z95, 13.0  # the quantile falls from 12.706 (df=1) towards Z95
    while high - low > 4 * math.ulp(high):
        middle = (low + high) / 2
        if _t_two_sided_tail(middle, df) > 0.05:
            low = middle
        else:
            high = middle
    return (low + high) / 2


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
