"""The bundled SmolLM2 on long prompts: the authors' own logits, and greedy generation."""

import pytest
import torch
from conftest import REFERENCE
from safetensors.torch import load_file

from sra_rag import disable_sra, enable_sra, preset, use_sra

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def authors():
    return load_file(REFERENCE / "authors_code_smollm2_4000.safetensors")


def test_reproduces_the_authors_logits_on_4000_tokens(smollm2, authors):
    """SRA moves these logits by ~4; we must land within 1e-3 of the authors' code."""
    model, _ = smollm2
    ids = authors["input_ids"]
    with torch.no_grad():
        stock = model(ids).logits[0, -10:]
        with use_sra(model, preset("paper")):
            sra = model(ids).logits[0, -10:]
    torch.testing.assert_close(stock, authors["authors_sdpa_logits_last10"], rtol=0, atol=1e-3)
    torch.testing.assert_close(sra, authors["authors_sra_paper_logits_last10"], rtol=0, atol=1e-3)
    assert (sra - stock).abs().max() > 1.0


def test_greedy_generation_on_a_long_prompt(smollm2, authors):
    model, tokenizer = smollm2
    ids = authors["input_ids"]
    prompt = torch.cat([ids[:, :1460], ids[:, -40:]], dim=1)  # ~1.5k tokens, the passkey question last
    options = {
        "max_new_tokens": 12,
        "do_sample": False,
        "output_scores": True,
        "return_dict_in_generate": True,
        "pad_token_id": tokenizer.pad_token_id,
        "attention_mask": torch.ones_like(prompt),
    }
    with torch.no_grad():
        stock = model.generate(prompt, **options)
        enable_sra(model, preset("paper_demo"))
        try:
            first = model.generate(prompt, **options)
            second = model.generate(prompt, **options)
            with use_sra(model, None):
                off = model.generate(prompt, **options)
        finally:
            disable_sra(model)
    assert torch.equal(first.sequences, second.sequences), "SRA generation must be deterministic"
    assert all(torch.isfinite(s).all() for s in first.scores)
    assert (first.scores[0] - stock.scores[0]).abs().max() > 1e-2, "SRA must change the model's output"
    assert torch.equal(off.sequences, stock.sequences)
    assert all(torch.equal(a, b) for a, b in zip(off.scores, stock.scores, strict=True))
