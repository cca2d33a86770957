"""Interval arithmetic and the dev-set choice: known values, and a choice that noise cannot win."""

from __future__ import annotations

import itertools
import math

import pytest

from sra_rag.eval.longprompt.summary import answer_summary, perplexity_summary, select_best
from sra_rag.eval.stats import Z95, accuracy, excludes_zero, mean_interval, t95, wilson


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),  # textbook values (Wilson 1927; Newcombe 1998, table I)
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_known_values(successes: int, n: int, low: float, high: float) -> None:
    got = wilson(successes, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_edges() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    for n in range(1, 40):  # the interval holds the observed rate exactly at both ends
        assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0
        assert all(wilson(k, n)[0] <= k / n <= wilson(k, n)[1] for k in range(n + 1))
    with pytest.raises(ValueError):
        wilson(3, 2)
    acc = accuracy([True, False, True, True])
    assert acc["n"] == 4 and acc["correct"] == 3 and acc["rate"] == 0.75
    assert acc["low"] < 0.75 < acc["high"]


def test_t_interval_known_values() -> None:
    got = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4)
    assert got["mean"] == 3.0
    assert got["low"] == pytest.approx(3.0 - half) and got["high"] == pytest.approx(3.0 + half)
    assert mean_interval([2.0])["low"] is None
    assert excludes_zero({"low": 0.1, "high": 0.5}) and not excludes_zero({"low": -0.1, "high": 0.5})


@pytest.mark.parametrize(
    ("df", "quantile"),
    [(1, 12.7062), (2, 4.3027), (10, 2.2281), (35, 2.0301), (120, 1.9799), (121, 1.9798), (1000, 1.9623)],
)
def test_t95_is_students_quantile_at_any_df(df: int, quantile: float) -> None:
    """Printed tables' values (4 decimals), between their rows and past their last one, where
    the normal's 1.96 would narrow every interval of 121 or more values."""
    assert t95(df) == pytest.approx(quantile, abs=5e-5)


def test_t95_matches_the_closed_forms_and_falls_towards_the_normal() -> None:
    """Student's t has closed-form quantiles for 1, 2 and 4 degrees of freedom."""
    p = 0.975
    assert t95(1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-12)
    assert t95(2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-12)
    alpha = 4 * p * (1 - p)
    q = math.cos(math.acos(math.sqrt(alpha)) / 3) / math.sqrt(alpha)
    assert t95(4) == pytest.approx(2 * math.sqrt(q - 1), rel=1e-12)
    values = [t95(df) for df in range(1, 400)]
    assert all(a > b for a, b in itertools.pairwise(values)) and values[-1] > Z95
    assert t95(10**7) == pytest.approx(Z95, abs=1e-6)
    with pytest.raises(ValueError, match="at least 1 degree"):
        t95(0)
    with pytest.raises(TypeError):
        t95(3.5)  # type: ignore[arg-type]


def test_t95_agrees_with_scipy_where_it_is_installed() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 200), 500, 1000, 10_000]:
        assert t95(df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-11), df


def _records(setting: str, logprobs: list[float], contains: list[bool]) -> list[dict]:
    return [
        {
            "task": "needle",
            "split": "dev",
            "target_tokens": 1024,
            "index": i,
            "depth": 0.5,
            "setting": setting,
            "logprob": lp,
            "contains": hit,
            "exact": hit,
        }
        for i, (lp, hit) in enumerate(zip(logprobs, contains, strict=True))
    ]


def test_selection_needs_a_gain_beyond_its_interval() -> None:
    base = [-3.0, -1.0, -5.0, -2.0, -4.0, -2.5]
    hits = [True, True, False, True, False, True]
    steady = [b + 0.5 + 0.01 * i for i, b in enumerate(base)]  # +0.5 on every prompt
    noisy = [b + d for b, d in zip(base, [2.0, -1.9, 1.5, -1.4, 0.9, -0.5], strict=True)]  # mean +0.1
    records = (
        _records("baseline", base, hits) + _records("steady", steady, hits) + _records("noisy", noisy, hits)
    )
    choice = select_best(records)
    assert choice["best"] == "steady" and choice["beats_baseline"]
    assert choice["candidates"]["steady"]["logprob_vs_baseline"]["mean"] == pytest.approx(0.525)
    alone = select_best(_records("baseline", base, hits) + _records("noisy", noisy, hits))
    assert alone["best"] == "noisy" and not alone["beats_baseline"]
    worse_answers = select_best(_records("baseline", base, hits) + _records("steady", steady, [False] * 6))
    assert not worse_answers["beats_baseline"]  # a log-prob gain that loses answers is not shipped


def test_summaries_pair_by_prompt() -> None:
    records = _records("baseline", [-2.0, -4.0], [True, False]) + _records("sra", [-1.0, -4.5], [True, True])
    table = answer_summary(records)
    delta = table["sra"]["tasks"]["needle"]["by_length"]["1024"]["logprob_vs_baseline"]
    assert delta["n"] == 2 and delta["mean"] == pytest.approx(0.25)
    assert (
        table["sra"]["all"]["contains"]["correct"] == 2
        and "logprob_vs_baseline" not in table["baseline"]["all"]
    )
    held = [
        {"task": "perplexity", "split": "test", "target_tokens": 512, "index": i, "setting": s, "nll": v}
        for s, values in (("baseline", [2.0, 3.0]), ("sra", [2.1, 3.1]))
        for i, v in enumerate(values)
    ]
    ppl = perplexity_summary(held)
    assert ppl["sra"]["perplexity_ratio"]["mean"] == pytest.approx(math.exp(0.1))
    assert ppl["baseline"]["perplexity"] == pytest.approx(math.exp(2.5))
