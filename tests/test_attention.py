"""The fast attention path against the naive full-matrix path, on every supported architecture."""

import copy

import pytest
import torch
from conftest import ARCHITECTURES, PARITY_ATOL, PARITY_DTYPE, tiny_model

from sra_rag import (
    SRAConfig,
    TransitionConfig,
    UnsupportedModelError,
    disable_sra,
    enable_sra,
    record_diagnostics,
    use_sra,
)
from sra_rag.engine import attention
from sra_rag.engine.rules import plan

SRA = SRAConfig(begin_length=5, question_length=30)
TRANSITION = TransitionConfig(alpha=1.0, beta=0.5, min_length=0)
CONFIGS = {"sra": SRA, "transition": TRANSITION}


def _ids(length: int, seed: int = 1, batch: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (batch, length), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def _logits(model, ids, **kwargs):
    return model(ids, **kwargs).logits


@pytest.mark.parametrize("policy", sorted(CONFIGS))
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_fast_path_equals_naive_path(arch, policy, monkeypatch):
    monkeypatch.setitem(attention.BLOCK_ELEMENTS, "cpu", 4 * 200 * 7)  # 7-row blocks: several per step
    model = tiny_model(arch, dtype=PARITY_DTYPE)
    ids = _ids(200)
    stock = _logits(model, ids)
    enable_sra(model, CONFIGS[policy])
    fast = _logits(model, ids)
    enable_sra(model, CONFIGS[policy], mode="naive")
    naive = _logits(model, ids)
    disable_sra(model)
    assert (fast - stock).abs().max() > 1e-3, "SRA must change the logits, or this test proves nothing"
    torch.testing.assert_close(fast, naive, rtol=0, atol=PARITY_ATOL)
    assert torch.equal(_logits(model, ids), stock)
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_sra_off_equals_stock(arch):
    model = tiny_model(arch)
    ids = _ids(200)
    stock = _logits(model, ids)
    enable_sra(model, None)
    assert torch.equal(_logits(model, ids), stock)
    enable_sra(model, SRA)
    with use_sra(model, None):
        assert torch.equal(_logits(model, ids), stock)
    assert not torch.equal(_logits(model, ids), stock)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_left_padded_batch_matches_each_sequence_alone(arch):
    model = enable_sra(tiny_model(arch, dtype=PARITY_DTYPE), SRA)
    lengths = (200, 150)
    ids = _ids(200, batch=2)
    mask = torch.ones_like(ids)
    mask[1, : 200 - lengths[1]] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    batched = _logits(model, ids, attention_mask=mask, position_ids=positions)
    for row, length in enumerate(lengths):
        alone = _logits(model, ids[row : row + 1, 200 - length :])
        torch.testing.assert_close(batched[row, 200 - length :], alone[0], rtol=0, atol=PARITY_ATOL)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_generate_padded_batch_matches_alone(arch):
    model = enable_sra(tiny_model(arch, dtype=PARITY_DTYPE), SRA)
    ids = _ids(120, batch=2, seed=3)
    mask = torch.ones_like(ids)
    mask[1, :40] = 0
    options = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 0}
    with torch.no_grad():
        with use_sra(model, None):
            stock = model.generate(
                ids, attention_mask=mask, output_scores=True, return_dict_in_generate=True, **options
            )
        scored = model.generate(
            ids, attention_mask=mask, output_scores=True, return_dict_in_generate=True, **options
        )
        assert (scored.scores[0] - stock.scores[0]).abs().max() > 1e-3, "SRA must act on this batch"
        alone = ids[1:, 40:]
        first = model.generate(
            ids[:1], attention_mask=mask[:1], output_scores=True, return_dict_in_generate=True, **options
        )
        second = model.generate(
            alone,
            attention_mask=torch.ones_like(alone),
            output_scores=True,
            return_dict_in_generate=True,
            **options,
        )
    assert torch.equal(scored.sequences[0, 120:], first.sequences[0, 120:])
    assert torch.equal(scored.sequences[1, 120:], second.sequences[0, 80:])
    for step, (both, one, two) in enumerate(zip(scored.scores, first.scores, second.scores, strict=True)):
        assert torch.allclose(both[0], one[0], atol=PARITY_ATOL), (
            step
        )  # every step's logits, not only the ids
        assert torch.allclose(both[1], two[0], atol=PARITY_ATOL), step


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_decode_steps_are_left_unchanged(arch):
    """The KV cache carries SRA's effect; the decode step itself runs the stock kernel."""
    model = enable_sra(tiny_model(arch), SRA)
    ids = _ids(200)
    with torch.no_grad():
        prefill = model(ids, use_cache=True)
        with use_sra(model, None):
            stock_prefill = model(ids).logits
        assert not torch.equal(prefill.logits, stock_prefill)
        step = ids[:, -1:]
        cache_a, cache_b = prefill.cache, copy.deepcopy(prefill.cache)
        with_sra = model(step, cache=cache_a).logits
        with use_sra(model, None):
            without = model(step, cache=cache_b).logits
    assert torch.equal(with_sra, without)


def test_diagnostics_count_what_the_plan_touches():
    model = enable_sra(tiny_model("llama"), SRA)
    ids = _ids(200)
    with record_diagnostics() as diagnostics, torch.no_grad():
        model(ids)
    layers = model.config.num_hidden_layers
    for layer in range(layers):
        rows = sum(s.rows[1] - s.rows[0] for s in plan(SRA, 200, layer, layers))
        report = diagnostics.layers.get(layer)
        assert (report.rows_touched if report else 0) == rows
    report = diagnostics.layers[1]
    heads = model.config.num_attention_heads
    assert 0 < report.qualifying_pairs <= heads * report.rows_touched
    # redistributed = strength x (eliminated + the rows' float32 rounding from 1)
    assert report.redistributed_mass == pytest.approx(SRA.inter_strength * report.eliminated_mass, rel=1e-3)
    assert diagnostics.changed
    with record_diagnostics() as quiet, use_sra(model, None), torch.no_grad():
        model(ids)
    assert not quiet.changed and quiet.layers == {}


def test_the_naive_path_reports_what_it_changed_as_the_fast_path_does():
    """Net per layer: the rows and mass the rules changed, close to the fast path's own counts."""
    ids = _ids(200)
    reports = {}
    for mode in ("fast", "naive"):
        model = enable_sra(tiny_model("llama"), SRA, mode=mode)
        with record_diagnostics() as diagnostics, torch.no_grad():
            model(ids)
        reports[mode] = diagnostics.summary()
    fast, naive = reports["fast"], reports["naive"]
    assert naive["layers_touched"] == fast["layers_touched"] > 0
    assert 0 < naive["rows_touched"] <= fast["rows_touched"]  # a visited row may come out unchanged
    assert naive["redistributed_mass"] == pytest.approx(fast["redistributed_mass"], rel=0.05)


def test_a_mask_with_holes_is_a_clear_error():
    model = enable_sra(tiny_model("llama"), SRA)
    ids = _ids(200)
    mask = torch.ones_like(ids)
    mask[0, 100] = 0
    with pytest.raises(ValueError, match="one contiguous run"), torch.no_grad():
        model(ids, attention_mask=mask)


def test_packed_sequences_are_refused_not_mixed():
    """Position ids that restart inside a row are two prompts in one: SRA would plan them as one."""
    model = enable_sra(tiny_model("llama"), SRA)
    ids = _ids(200)
    packed = torch.cat([torch.arange(120), torch.arange(80)])[None]
    with pytest.raises(ValueError, match="packed sequences"), torch.no_grad():
        model(ids, position_ids=packed)
    with torch.no_grad():
        model(ids, position_ids=torch.arange(200)[None])  # one prompt: fine
    enable_sra(model, SRA, mode="naive")
    with pytest.raises(ValueError, match="packed sequences"), torch.no_grad():
        model(ids, position_ids=packed)


@pytest.mark.parametrize("argument", ["s_aux", "position_bias", "softcap"])
def test_attention_arguments_the_sra_path_would_drop_are_refused(argument):
    """An attention that takes sinks, a bias or soft-capping cannot be recomputed by the SRA rows."""
    model = enable_sra(tiny_model("llama"), SRA)
    ids = _ids(200)
    extra = {argument: torch.zeros(4) if argument != "softcap" else 30.0}
    with pytest.raises(UnsupportedModelError, match=f"passes {argument} to its attention"), torch.no_grad():
        model(ids, **extra)
    with torch.no_grad():
        model(ids, **{argument: None})  # the argument absent in value is no reason to refuse
