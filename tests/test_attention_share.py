"""The question's attention share per prompt span, with and without SRA."""

import copy

import pytest
import torch
from conftest import tiny_model

from sra_rag import SRAConfig, TransitionConfig, enable_sra, reallocate, use_sra
from sra_rag.engine.attention_share import AttentionShare, record_attention_share

SRA = SRAConfig(begin_length=5, question_length=30)
TRANSITION = TransitionConfig(alpha=1.0, beta=0.5, min_length=0)
SPANS = [(0, 5), (5, 60), (60, 120), (120, 170)]
QUESTION_ROWS = 30


@pytest.mark.parametrize("config", [None, SRA, TRANSITION], ids=["off", "sra", "transition"])
def test_observe_matches_the_rules_on_the_full_matrix(config):
    gen = torch.Generator().manual_seed(0)
    n, heads, kv_heads, dim, layer, layers = 200, 4, 2, 16, 2, 6
    query = torch.randn(1, heads, n, dim, generator=gen) * 3
    key = torch.randn(1, kv_heads, n, dim, generator=gen) * 3
    # Transition's windows sit mid-prompt (rows 75-124 at this layer), never in the last 30 rows
    rows = 130 if isinstance(config, TransitionConfig) else QUESTION_ROWS
    share = AttentionShare(SPANS, rows)
    share.observe(layer, query, key, None, dim**-0.5, config, layers, None)

    keys = key[0].repeat_interleave(heads // kv_heads, dim=0)
    scores = (query[0] @ keys.transpose(-1, -2)) * dim**-0.5
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    stock = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    weights = stock if config is None else reallocate(stock, config, layer, layers)

    def shares(w: torch.Tensor) -> list[float]:
        tail = w[:, n - rows :]
        return [float(tail[..., s:e].sum(-1).mean()) for s, e in SPANS]

    assert share.layers[layer] == pytest.approx(shares(weights), abs=1e-6)
    if config is not None:  # the rules changed the shares, so matching them means something
        assert max(abs(a - b) for a, b in zip(shares(weights), shares(stock), strict=True)) > 1e-4


@torch.no_grad()
def test_sra_off_share_equals_the_stock_eager_weights():
    model = tiny_model("llama")
    ids = torch.randint(0, 256, (1, 200), generator=torch.Generator().manual_seed(1))
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    attentions = eager(ids, output_attentions=True).attentions
    enable_sra(model, None)
    with record_attention_share(SPANS, QUESTION_ROWS) as share:
        model(ids)
    for layer, weights in enumerate(attentions):
        tail = weights[0, :, -QUESTION_ROWS:]
        expected = [float(tail[..., s:e].sum(-1).mean()) for s, e in SPANS]
        assert share.layers[layer] == pytest.approx(expected, abs=1e-5)


@torch.no_grad()
def test_sra_moves_the_question_attention():
    model = tiny_model("llama")
    ids = torch.randint(0, 256, (1, 200), generator=torch.Generator().manual_seed(1))
    # a high outer threshold, so the question rows really lose and regain mass
    enable_sra(model, SRAConfig(begin_length=5, question_length=30, outer_eliminate=3.0))
    with record_attention_share(SPANS, QUESTION_ROWS) as on:
        model(ids)
    with use_sra(model, None), record_attention_share(SPANS, QUESTION_ROWS) as off:
        model(ids)
    moved = max(abs(a - b) for k in on.layers for a, b in zip(on.layers[k], off.layers[k], strict=True))
    assert moved > 5e-5  # float noise between the two passes is ~1e-7
    assert sum(off.by_span()) <= 1 + 1e-6


def test_nothing_recorded_is_a_clear_error():
    with record_attention_share(SPANS, QUESTION_ROWS) as share:
        pass
    with pytest.raises(RuntimeError, match="no prefill pass was recorded"):
        share.by_span()


def test_spans_outside_the_prompt_are_a_clear_error():
    share = AttentionShare([(0, 500)], QUESTION_ROWS)
    with pytest.raises(ValueError, match="do not fit a 200-token prompt"):
        share.observe(0, torch.randn(1, 4, 200, 16), torch.randn(1, 2, 200, 16), None, 0.25, None, 6, None)
