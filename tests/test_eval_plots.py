"""The Attention Transition grid heatmap is drawn only for a run that covered the whole grid."""

from sra_rag.eval.longprompt.settings import TRANSITION_GRID
from sra_rag.eval.plots import _plot_grid


def _report(names: list[str]) -> dict:
    candidates = {n: {"logprob_vs_baseline": {"n": 12, "mean": 0.01 * i}} for i, n in enumerate(names)}
    return {"model": "tiny", "dev": {"selection": {"candidates": candidates}}}


def test_grid_heatmap_needs_every_point(tmp_path) -> None:
    names = list(TRANSITION_GRID)
    assert _plot_grid(_report(names[:-1]), tmp_path / "part.png") is None
    assert not (tmp_path / "part.png").exists()
    path = _plot_grid(_report(names), tmp_path / "grid.png")
    assert path == tmp_path / "grid.png" and path.stat().st_size > 10_000
