"""The GPU lane: runs where CUDA is present, and is reported as skipped everywhere else.

What only a GPU shows: the fast path against the naive path in bf16 and fp16 (the recomputed rows
run in float32 from half-precision K and V), padded batches and `generate` on the device, a model
dispatched with `device_map="auto"`, and a 4-bit model when bitsandbytes is installed.
"""

import importlib.util

import pytest
import torch
from conftest import ARCHITECTURES, tiny_model

from sra_rag import SRAConfig, TransitionConfig, disable_sra, enable_sra, record_diagnostics, use_sra
from sra_rag.generation import Generator
from sra_rag.models import load_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="the GPU lane needs CUDA")

SRA = SRAConfig(begin_length=5, question_length=30)
CONFIGS = {"sra": SRA, "transition": TransitionConfig(alpha=1.0, beta=0.5, min_length=0)}
# half precision rounds each layer's output; the difference between the paths is what float32
# recompute against float32 recompute leaves, a few units in the last place of bf16 logits
TOLERANCE = {torch.bfloat16: 0.1, torch.float16: 0.02}
LONG = [
    {
        "role": "user",
        "content": " ".join(f"Note {i}: pier {i} opens at {i % 12 + 1} o'clock." for i in range(60))
        + "\nWhen does pier 7 open?",
    }
]


def _ids(length: int, batch: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (batch, length), generator=torch.Generator().manual_seed(1)).cuda()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("policy", sorted(CONFIGS))
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@torch.no_grad()
def test_fast_path_equals_naive_path_in_half_precision(arch, policy, dtype):
    model = tiny_model(arch).to("cuda", dtype)
    ids = _ids(400)
    stock = model(ids).logits.float()
    enable_sra(model, CONFIGS[policy])
    fast = model(ids).logits.float()
    enable_sra(model, CONFIGS[policy], mode="naive")
    naive = model(ids).logits.float()
    disable_sra(model)
    assert (fast - stock).abs().max() > 5 * TOLERANCE[dtype], "SRA must act, or this proves nothing"
    torch.testing.assert_close(fast, naive, rtol=0, atol=TOLERANCE[dtype])
    assert torch.equal(model(ids).logits.float(), stock)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
@torch.no_grad()
def test_padded_batch_on_the_gpu_matches_each_sequence_alone(arch):
    model = enable_sra(tiny_model(arch).cuda(), SRA)
    ids = _ids(300, batch=2)
    mask = torch.ones_like(ids)
    mask[1, :100] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    batched = model(ids, attention_mask=mask, position_ids=positions).logits
    torch.testing.assert_close(batched[0], model(ids[:1]).logits[0], rtol=0, atol=1e-4)
    torch.testing.assert_close(batched[1, 100:], model(ids[1:, 100:]).logits[0], rtol=0, atol=1e-4)


def _acted(model, tokenizer) -> dict:
    result = Generator(model, tokenizer).generate(LONG, max_new_tokens=8, diagnostics=True)
    assert result.text.strip()
    return result.diagnostics


def test_generate_on_the_gpu_in_bf16():
    model, tokenizer = load_model(device="cuda", dtype=torch.bfloat16)
    assert next(model.parameters()).device.type == "cuda"
    assert _acted(model, tokenizer)["redistributed_mass"] > 0
    with use_sra(model, None), record_diagnostics() as recorder:
        Generator(model, tokenizer).generate(LONG, max_new_tokens=2)
    assert recorder.summary()["layers_touched"] == 0


def test_a_dispatched_model_keeps_its_map():
    model, tokenizer = load_model(device_map="auto", dtype=torch.bfloat16)
    assert model.hf_device_map and all(str(d) not in ("cpu", "disk") for d in model.hf_device_map.values())
    assert _acted(model, tokenizer)["redistributed_mass"] > 0


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes")
def test_a_4bit_model_runs_sra_where_it_was_loaded():
    from transformers import BitsAndBytesConfig

    quantized = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)
    model, tokenizer = load_model(device_map="auto", quantization_config=quantized)
    assert model.is_quantized and next(model.parameters()).device.type == "cuda"
    assert _acted(model, tokenizer)["redistributed_mass"] > 0
