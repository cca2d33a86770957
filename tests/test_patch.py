"""enable / disable / use_sra, and clear errors for models SRA cannot run on."""

import threading

import pytest
import torch
from conftest import tiny_model
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from sra_rag import (
    SRAConfig,
    TransitionConfig,
    UnsupportedModelError,
    disable_sra,
    enable_sra,
    is_patched,
    is_supported,
    sra_config,
    use_sra,
)

SRA = SRAConfig(begin_length=5, question_length=30)


def test_model_without_rope_is_refused_by_name():
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64))
    assert not is_supported(model)
    with pytest.raises(UnsupportedModelError, match=r"model type 'gpt2' has no rotary position embedding"):
        enable_sra(model)


def test_model_outside_the_attention_interface_is_refused_by_name():
    class HandRolledLlama(LlamaForCausalLM):
        _supports_attention_backend = False

    model = HandRolledLlama(
        LlamaConfig(
            num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2, vocab_size=64
        )
    )
    with pytest.raises(
        UnsupportedModelError, match=r"model type 'llama' .* does not route attention through"
    ):
        enable_sra(model)


def test_wrong_config_type_is_a_type_error():
    model = tiny_model("llama")
    with pytest.raises(TypeError, match="SRAConfig, a TransitionConfig, a GuidedConfig or None, got dict"):
        enable_sra(model, {"question_length": 5})
    with pytest.raises(ValueError, match="mode must be"):
        enable_sra(model, SRA, mode="slow")
    assert not is_patched(model)


def test_enable_disable_round_trip_restores_everything():
    model = tiny_model("qwen2")
    model.set_attn_implementation("eager")
    enable_sra(model, SRA)
    assert model.config._attn_implementation == "sra" and sra_config(model) == SRA
    enable_sra(model, TransitionConfig())  # re-enable updates in place
    assert sra_config(model) == TransitionConfig()
    disable_sra(model)
    assert model.config._attn_implementation == "eager" and not is_patched(model)
    disable_sra(model)  # a no-op on an unpatched model


def test_use_sra_on_an_unpatched_model_patches_only_inside():
    model = tiny_model("llama")
    with use_sra(model, SRA):
        assert sra_config(model) == SRA
    assert not is_patched(model) and model.config._attn_implementation == "sdpa"


def test_use_sra_restores_after_an_error():
    model = enable_sra(tiny_model("llama"), SRA)
    with pytest.raises(RuntimeError), use_sra(model, None):
        raise RuntimeError("boom")
    assert sra_config(model) == SRA


def test_per_thread_overrides_do_not_leak():
    model = enable_sra(tiny_model("llama"), SRA)
    ids = torch.randint(0, 256, (1, 200), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        with_sra = model(ids).logits
        with use_sra(model, None):
            without = model(ids).logits
    assert not torch.equal(with_sra, without)
    results: dict[int, bool] = {}

    def run(index: int) -> None:
        baseline = index % 2 == 0
        for _ in range(3):
            with use_sra(model, None if baseline else SRA), torch.no_grad():
                out = model(ids).logits
            if not torch.equal(out, without if baseline else with_sra):
                results[index] = False
                return
        results[index] = True

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == dict.fromkeys(range(6), True)
