"""enable / disable / use_sra, and clear errors for models SRA cannot run on."""

import asyncio
import threading

import pytest
import torch
from conftest import tiny_model
from transformers import (
    CLIPVisionConfig,
    GPT2Config,
    GPT2LMHeadModel,
    GptOssConfig,
    GptOssForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    LlavaConfig,
    LlavaForConditionalGeneration,
)

from sra_rag import (
    SRAConfig,
    TransitionConfig,
    UnsupportedModelError,
    disable_sra,
    enable_sra,
    is_patched,
    is_supported,
    preset,
    sra_config,
    use_sra,
)

SRA = SRAConfig(begin_length=5, question_length=30)
TINY_LLAMA = dict(
    num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2, vocab_size=64
)


def test_model_without_rope_is_refused_by_name():
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64))
    assert not is_supported(model)
    with pytest.raises(UnsupportedModelError, match=r"model type 'gpt2' has no rotary position embedding"):
        enable_sra(model)


def test_model_outside_the_attention_interface_is_refused_by_name():
    class HandRolledLlama(LlamaForCausalLM):
        _supports_attention_backend = False

    model = HandRolledLlama(LlamaConfig(**TINY_LLAMA))
    with pytest.raises(
        UnsupportedModelError, match=r"model type 'llama' .* does not route attention through"
    ):
        enable_sra(model)


def test_wrong_config_type_is_a_type_error():
    model = tiny_model("llama")
    with pytest.raises(
        TypeError,
        match=r"sra must be an SRA setting .* or None, got dict",
    ):
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
    ids = torch.randint(0, 256, (1, 200), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        stock = model(ids).logits
        with use_sra(model, SRA):
            assert is_patched(model) and sra_config(model) is None  # the setting is this block's own
            inside = model(ids).logits
    assert not torch.equal(inside, stock)
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


def test_model_with_attention_sinks_is_refused():
    """gpt-oss adds a learned sink to every softmax; SDPA (and so SRA, even off) would drop it."""
    config = GptOssConfig(
        num_hidden_layers=2,
        hidden_size=32,
        intermediate_size=32,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        num_local_experts=2,
        num_experts_per_tok=1,
        vocab_size=64,
    )
    model = GptOssForCausalLM(config)
    assert not is_supported(model)
    with pytest.raises(UnsupportedModelError, match=r"model type 'gpt_oss' .* does not support SDPA"):
        enable_sra(model, None)
    with pytest.raises(UnsupportedModelError, match="does not support SDPA"), use_sra(model, SRA):
        pass
    assert not is_patched(model)


def test_model_without_sdpa_support_is_refused():
    class EagerOnlyLlama(LlamaForCausalLM):
        _supports_sdpa = False

    with pytest.raises(UnsupportedModelError, match="does not support SDPA"):
        enable_sra(EagerOnlyLlama(LlamaConfig(**TINY_LLAMA)))


def test_disable_restores_every_sub_config_of_a_composite_model():
    text = LlamaConfig(**{**TINY_LLAMA, "num_hidden_layers": 2})
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=16,
    )
    model = LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=text))
    model.set_attn_implementation({"text_config": "sdpa", "vision_config": "eager"})
    enable_sra(model, SRA)
    assert model.config.text_config._attn_implementation == "sra"
    disable_sra(model)
    assert model.config.text_config._attn_implementation == "sdpa"
    assert model.config.vision_config._attn_implementation == "eager"


def test_use_sra_blocks_on_an_unpatched_model_are_each_callers_own():
    """Threads and asyncio tasks mix settings on a patched and an unpatched model at once; each
    output equals the same call run alone, and callers outside any block get the stock model."""
    ids = torch.randint(0, 256, (1, 200), generator=torch.Generator().manual_seed(5))
    models = {"patched": enable_sra(tiny_model("llama"), SRA), "unpatched": tiny_model("llama")}
    settings = {"stock": None, "sra": SRA, "transition": TransitionConfig(alpha=1.0, beta=0.5, min_length=0)}

    def run(which: str, setting: str | None) -> torch.Tensor:
        """`setting` None: no block at all (the model's own default)."""
        model = models[which]
        with torch.no_grad():
            if setting is None:
                return model(ids).logits
            with use_sra(model, settings[setting]):
                return model(ids).logits

    jobs = [(w, s) for w in models for s in [None, *settings]]
    alone = {job: run(*job) for job in jobs}
    assert not torch.equal(alone["unpatched", "sra"], alone["unpatched", None])
    assert torch.equal(alone["unpatched", "stock"], alone["unpatched", None])
    assert not is_patched(models["unpatched"])
    failures: list[tuple[str, str | None]] = []

    def worker(offset: int) -> None:
        for i in range(12):
            job = jobs[(offset + i) % len(jobs)]
            if not torch.equal(run(*job), alone[job]):
                failures.append(job)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()

    async def task(job: tuple[str, str | None]) -> bool:
        which, setting = job
        if setting is None:
            await asyncio.sleep(0)
            return torch.equal(await asyncio.to_thread(run, which, None), alone[job])
        with use_sra(models[which], settings[setting]):
            await asyncio.sleep(0)  # other tasks run while this block is open
            with torch.no_grad():
                return torch.equal(models[which](ids).logits, alone[job])

    async def tasks() -> list[bool]:
        return await asyncio.gather(*(task(job) for job in jobs * 3))

    results = asyncio.run(tasks())
    for thread in threads:
        thread.join()
    assert failures == [] and all(results)
    assert not is_patched(models["unpatched"]) and models["unpatched"].config._attn_implementation == "sdpa"


def test_a_forward_reads_its_calls_state_once_per_layer(monkeypatch):
    """One call, one context: the setting, spans, recorder and probe come from one read per layer,
    and a block nested inside another changes only what it names."""
    from sra_rag.engine import attention, call
    from sra_rag.engine.diagnostics import record_diagnostics
    from sra_rag.engine.spans import even_spans, use_spans

    model = tiny_model("llama")
    reads = []
    monkeypatch.setattr(attention, "current_call", lambda: reads.append(1) or call.current_call())
    ids = torch.randint(0, model.config.vocab_size, (1, 96))
    with use_sra(model, preset("guided")), use_spans(even_spans(80, 4, 1.0)), record_diagnostics() as diag:
        inner = call.current_call()
        model(ids)
    assert len(reads) == model.config.num_hidden_layers
    assert inner.spans is not None and inner.recorder is diag and inner.settings  # all three kept
    assert diag.summary()["layers_touched"] > 0
    assert call.current_call() == call.Call()  # nothing left behind
