"""The pure rules against the authors' reference code (docs/algorithm.md, section 4)."""

import importlib.util
import json

import numpy as np
import pytest
import torch
from conftest import REFERENCE

from sra_rag import SRAConfig, TransitionConfig, config_from_dict, plan, reallocate
from sra_rag.engine.sra import Dispense
from sra_rag.engine.transition import Transition

VECTORS = REFERENCE
CASES = json.loads((VECTORS / "sra_reference_vectors.json").read_text())
_PARAMETERS = {
    "begin_length",
    "question_length",
    "inter_eliminate",
    "outer_eliminate",
    "inter_strength",
    "outer_strength",
    "alpha",
    "beta",
    "intervals_per_layer",
}


def _reference_input():
    spec = importlib.util.spec_from_file_location("make_inputs", VECTORS / "make_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_input


@pytest.fixture(scope="module")
def expected():
    with np.load(VECTORS / "sra_reference_vectors.npz") as data:
        return {name: data[name] for name in data.files}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_parity_with_reference_code(case, expected):
    config = config_from_dict(
        {"policy": case["policy"], **{k: v for k, v in case.items() if k in _PARAMETERS}}
    )
    weights = torch.from_numpy(_reference_input()(case["seq_len"], case["num_heads"], case["case_id"]))
    out = reallocate(weights, config, case["layer_idx"], case["num_layers"])
    delta = (out - weights).numpy()
    np.testing.assert_allclose(delta, expected[case["name"]], rtol=0, atol=1e-6)
    assert int((delta != 0).sum()) == case["changed_entries"]
    assert torch.equal(
        weights, torch.from_numpy(_reference_input()(case["seq_len"], case["num_heads"], case["case_id"]))
    )


def test_rows_are_not_renormalised():
    weights = torch.from_numpy(_reference_input()(360, 2, 1))
    out = reallocate(weights, SRAConfig(), 1, 30)
    assert out.sum(-1).max() > 1.2


def test_plan_touches_the_spec_blocks():
    n, layers = 1000, 30
    inter, outer = plan(SRAConfig(), n, 4, layers)
    c = -(-(n - 100 - 200 - 3) // 33)
    assert inter.rows == (7 * c + 103, 8 * c + 103) and inter.target == (4 * c + 103, 5 * c + 103)
    c2 = -(-(n - 203) // 33)
    assert outer.rows == (800, 1000) and outer.target == (6 * c2 + 3, 7 * c2 + 3)
    assert plan(SRAConfig(), n, layers - 1, layers) == []
    assert [s.kind for s in plan(SRAConfig(), n, 0, layers)] == ["inter"]
    assert plan(TransitionConfig(), 399, 5, 32) == []
    assert plan(None, n, 3, layers) == []


def test_sliding_window_keeps_added_mass_inside():
    # a 150-key window: question rows 160..172 see only part of layer 1's outer target [18, 23)
    weights = torch.from_numpy(_reference_input()(360, 2, 1))
    keep = torch.ones(360, 360, dtype=torch.bool).tril()
    keep &= ~torch.ones(360, 360, dtype=torch.bool).tril(-150)
    windowed = torch.where(keep, weights, 0.0)
    windowed = windowed / windowed.sum(-1, keepdim=True)
    inside = reallocate(windowed, SRAConfig(), 1, 30, key_mask=keep)
    careless = reallocate(windowed, SRAConfig(), 1, 30)
    assert careless[..., ~keep].sum() > 0, "the window must cut the target, or this test proves nothing"
    assert torch.all(inside[..., ~keep] == 0)
    assert (inside - windowed)[..., 160:173, 18:23].sum() > 0


def test_reallocate_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        reallocate(torch.zeros(1, 1, 3, 4), SRAConfig(), 0, 4)


def test_float64_weights_are_thresholded_at_tau_itself():
    """A weight between tau and float32(tau) survives in float64 (the threshold is not rounded)."""
    tau = 0.1  # float32(0.1) = 0.100000001490116...
    above = 0.1000000005  # > tau, < float32(tau)
    assert tau < above < float(torch.tensor(tau, dtype=torch.float32))
    w = torch.tensor([[0.5, above, 0.05, 1.0 - 0.5 - above - 0.05]], dtype=torch.float64)
    Dispense("inter", (0, 1), (0, 1), tau, 1.0, 100.0, 5.0).apply(w)  # target: key 0 only
    assert w[0, 1] == above and w[0, 2] == 0  # kept just above tau, untouched; below it, eliminated


def test_transition_gives_nothing_to_a_window_the_layer_cannot_see():
    """A sliding window that hides the whole redistribution window: no NaN, no mass added there."""
    step = Transition(rows=(10, 15), interval=5, alpha=100.0, beta=1.0)  # alpha: every weight is cut
    w = torch.softmax(torch.randn(2, 5, 15, generator=torch.Generator().manual_seed(0)), -1)
    hidden = torch.ones(1, 5, 15, dtype=torch.bool)
    hidden[..., 0:10] = False  # the window is keys [0, 10)
    step.apply(w, hidden)
    assert not w.isnan().any()
    assert torch.all(w[..., 1:10] == 0)
