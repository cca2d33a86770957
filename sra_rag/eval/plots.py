"""PNG plots of saved reports. Evaluation: accuracy and gold log-probability change by prompt
length and by gold depth, baseline against each reported SRA setting, with 95% intervals drawn.
A run over the whole Attention Transition grid: its dev gains as heatmaps. Benchmark: time
ratios and peak memory by prompt length.

The log-probability panel is the one to read on small models: accuracy moves in whole samples,
the paired log-probability difference moves continuously and its interval says whether zero
(no effect) is excluded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .longprompt.settings import TRANSITION_GRID


def _series(cells: dict[str, Any], metric: str) -> tuple[list[str], list[float], list[float], list[float]]:
    labels, mid, low, high = [], [], [], []
    for label, cell in cells.items():
        value = cell.get(metric)
        if value is None:
            continue
        centre = value.get("rate", value.get("mean"))
        if centre is None:
            continue
        labels.append(label)
        mid.append(centre)
        # clamped: float rounding can put a bound a hair past the centre (0/n, n/n), which errorbar refuses
        low.append(max(0.0, centre - (value["low"] if value["low"] is not None else centre)))
        high.append(max(0.0, (value["high"] if value["high"] is not None else centre) - centre))
    return labels, mid, low, high


def _panel(
    ax: Any, answers: dict[str, Any], task: str, axis: str, metric: str, settings: list[str], colors: dict
) -> None:
    offsets = {s: (i - (len(settings) - 1) / 2) * 0.08 for i, s in enumerate(settings)}
    ticks: list[str] = []
    for name in settings:
        cells = answers.get(name, {}).get("tasks", {}).get(task, {}).get(axis, {})
        labels, mid, low, high = _series(cells, metric)
        if not labels:
            continue
        ticks = ticks or labels
        xs = [ticks.index(label) + offsets[name] if label in ticks else None for label in labels]
        points = [(x, m, lo, hi) for x, m, lo, hi in zip(xs, mid, low, high, strict=True) if x is not None]
        if not points:
            continue
        x, m, lo, hi = zip(*points, strict=True)
        ax.errorbar(x, m, yerr=[lo, hi], marker="o", capsize=3, label=name, linewidth=1, color=colors[name])
    ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlim(-0.5, max(len(ticks), 1) - 0.5)
    if metric == "logprob_vs_baseline":
        ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")


def plot_report(report: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """Two PNGs (by length, by depth), rows = tasks, columns = accuracy and log-prob change."""
    answers = report["test"]["answers"]
    settings = [s for s in report["test_settings"] if s in answers]
    sra = [s for s in settings if s != "baseline"]
    tasks = list(dict.fromkeys(t for s in settings for t in answers[s]["tasks"]))
    colors = {name: f"C{i}" for i, name in enumerate(settings)}
    written: list[Path] = []
    if not tasks:
        return written
    for axis, xlabel in (("by_length", "prompt tokens"), ("by_depth", "gold depth (0 = start)")):
        fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.2 * len(tasks)), squeeze=False)
        for row, task in enumerate(tasks):
            _panel(axes[row][0], answers, task, axis, "contains", settings, colors)
            axes[row][0].set_ylim(-0.05, 1.05)
            axes[row][0].set_ylabel(f"{task}\naccuracy (contains)")
            _panel(axes[row][1], answers, task, axis, "logprob_vs_baseline", sra, colors)
            axes[row][1].set_ylabel("gold log-prob minus baseline (nats)")
            for ax in axes[row]:
                ax.set_xlabel(xlabel)
        axes[0][0].legend(fontsize=8)
        if sra:
            axes[0][1].legend(fontsize=8)
        fig.suptitle(
            f"{report['model']}: test split, 95% intervals (Wilson; paired t)\n"
            f"preset {report['preset']['name']}, seed {report['preset']['seed']}",
            fontsize=10,
        )
        fig.tight_layout()
        path = out_dir / f"{stem}_{axis.removeprefix('by_')}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if grid := _plot_grid(report, out_dir / f"{stem}_grid.png"):
        written.append(grid)
    return written


def _plot_grid(report: dict[str, Any], path: Path) -> Path | None:
    """Dev gain in gold log-probability over the baseline at each point of the seed's Attention
    Transition grid (one heatmap of alpha x beta per intervals-per-layer), when the run covered it."""
    candidates = report["dev"]["selection"]["candidates"]
    gains = {
        (c.alpha, c.beta, c.intervals_per_layer): candidates[name]["logprob_vs_baseline"]["mean"]
        for name, c in TRANSITION_GRID.items()
        if name in candidates
    }
    if len(gains) < len(TRANSITION_GRID):
        return None
    alphas, betas, lays = (sorted({point[i] for point in gains}) for i in range(3))
    limit = max(abs(g) for g in gains.values() if g is not None) or 1.0
    fig, axes = plt.subplots(
        1, len(lays), figsize=(4.2 * len(lays), 3.6), squeeze=False, layout="constrained"
    )
    for ax, lay in zip(axes[0], lays, strict=True):
        values = [[gains[(a, b, lay)] for b in betas] for a in alphas]
        image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, origin="lower")
        for row, col in ((r, c) for r in range(len(alphas)) for c in range(len(betas))):
            ax.text(col, row, f"{values[row][col]:+.2f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(betas)), [str(b) for b in betas])
        ax.set_yticks(range(len(alphas)), [str(a) for a in alphas])
        ax.set_xlabel("beta")
        ax.set_ylabel("alpha")
        ax.set_title(f"intervals per layer = {lay}", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), label="gold log-prob minus baseline (nats)")
    n = next(iter(candidates.values()))["logprob_vs_baseline"]["n"]
    fig.suptitle(
        f"{report['model']}: Attention Transition grid, dev split ({n} prompts), mean paired gains "
        "(95% intervals in the JSON)",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _ratio_panel(ax: Any, results: list[dict[str, Any]], key: str, variants: list[str], colors: dict) -> None:
    """Median ratio to the baseline per length, the bars spanning the repeats' range."""
    ax.axhline(1.0, color=colors["baseline"], linestyle="--", label="baseline")
    for name in variants:
        cells = [
            (r["prompt_tokens"], r["ratio_to_baseline"][name])
            for r in results
            if name in r["ratio_to_baseline"]
        ]
        mids = [c[key] for _, c in cells]
        below = [m - c[f"{key}_range"][0] for m, (_, c) in zip(mids, cells, strict=True)]
        above = [c[f"{key}_range"][1] - m for m, (_, c) in zip(mids, cells, strict=True)]
        xs = [n for n, _ in cells]
        ax.errorbar(xs, mids, yerr=[below, above], marker="o", capsize=3, color=colors[name], label=name)


def plot_cost(report: dict[str, Any], path: Path) -> Path:
    """One PNG of `sra-rag bench`: prefill and decode time as ratios to the baseline, and each
    variant's peak memory (the whole process or device, model included), by prompt length."""
    results = report["results"]
    variants = list(dict.fromkeys(v for r in results for v in r["best"]))
    colors = {name: f"C{i}" for i, name in enumerate(variants)}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    _ratio_panel(axes[0], results, "prefill", variants[1:], colors)
    axes[0].set_ylabel("prefill time / baseline")
    _ratio_panel(axes[1], results, "decode", variants[1:], colors)
    axes[1].set_ylabel("decode time per token / baseline")
    for name in variants:
        cells = [(r["prompt_tokens"], r["best"][name].get("peak_mib")) for r in results if name in r["best"]]
        cells = [(n, m) for n, m in cells if m is not None]
        if cells:
            axes[2].plot(*zip(*cells, strict=True), marker="o", color=colors[name], label=name)
    axes[2].set_yscale("log")
    axes[2].set_ylabel("peak memory, model included (MiB)")
    for ax in axes:
        ax.set_xlabel("prompt tokens")
        ax.legend(fontsize=8)
    fig.suptitle(
        f"{report['model']}: what SRA costs against the baseline "
        f"({report['device']}, {report['threads']} threads, {report['dtype']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_rag(report: dict[str, Any], path: Path, settings: list[str]) -> Path:
    """One PNG of the RAG benchmark's test split: accuracy and the paired gold log-prob change
    against the baseline, by the gold passage's position in the prompt and by top-k."""
    answers = report["test"]["answers"]
    settings = [s for s in settings if s in answers]
    colors = {name: f"C{i % 10}" for i, name in enumerate(settings)}
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), squeeze=False)
    for col, (axis, xlabel) in enumerate(
        (
            ("by_position", "gold passage's place in the prompt"),
            ("by_k", "retrieval cell: top k retrieved (top3/top5 keep fewer)"),
        )
    ):
        ticks = list(dict.fromkeys(key for s in settings for key in answers[s][axis]))
        if axis == "by_k":
            ticks.sort(key=int)
        else:
            ticks = [t for t in ("first", "middle", "last", "missed") if t in ticks]
        offsets = {s: (i - (len(settings) - 1) / 2) * 0.05 for i, s in enumerate(settings)}
        for row, metric in enumerate(("accuracy", "logprob")):
            ax = axes[row][col]
            for name in settings:
                cells = answers[name][axis]
                if metric == "accuracy":
                    values = {t: {"m": cells[t]["accuracy"]} for t in ticks if t in cells}
                else:
                    values = {
                        t: {"m": cells[t]["vs_retrieved"]["logprob"]}
                        for t in ticks
                        if "vs_retrieved" in cells.get(t, {})
                    }
                labels, mid, low, high = _series(values, "m")
                if labels:
                    xs = [ticks.index(label) + offsets[name] for label in labels]
                    ax.errorbar(
                        xs,
                        mid,
                        yerr=[low, high],
                        marker="o",
                        capsize=2,
                        linewidth=1,
                        color=colors[name],
                        label=name,
                    )
            ax.set_xticks(range(len(ticks)), ticks)
            ax.set_xlabel(xlabel)
            if metric == "accuracy":
                ax.set_ylim(-0.05, 1.05)
                ax.set_ylabel("accuracy (answer contained)")
            else:
                ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
                ax.set_ylabel("gold log-prob minus baseline (nats)")
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle(
        f"{report['model']}: RAG benchmark, test split, 95% intervals (Wilson; paired t); "
        f"baseline = retrieved order, no SRA",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
