"""Shared fixtures: tiny sharpened models per architecture, and the bundled SmolLM2."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # forced: an exported HF_HUB_OFFLINE=0 must not reach the hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path

import pytest
import torch
import transformers
from transformers import PreTrainedModel

# copied from the project's shared/reference_vectors: the authors' code's inputs and outputs
REFERENCE = Path(__file__).resolve().parent / "reference"

TINY_COMMON = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=6,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    eos_token_id=2,
    bos_token_id=1,
)

# (config class, model class, config overrides, attention sharpening factor). Models that
# normalise queries (q_norm: Qwen3, Gemma 3) already score high, so x3 sharpens them enough.
ARCHITECTURES: dict[str, tuple[str, str, dict, float]] = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}, 10.0),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}, 10.0),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 16}, 3.0),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}, 10.0),
    # sliding-window layers narrower than the test prompts, so the window really cuts keys
    "gemma3": (
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        {
            "head_dim": 16,
            "sliding_window": 48,
            "layer_types": ["sliding_attention"] * 2
            + ["full_attention"]
            + ["sliding_attention"] * 2
            + ["full_attention"],
        },
        3.0,
    ),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", {"pad_token_id": 0}, 10.0),
}


# Comparisons of two SRA paths (fast against naive, a padded batch against each sequence alone) run
# in float64. SRA's thresholds are hard: in float32 a weight within ~1e-6 of tau falls on either
# side depending on the CPU's kernels and on which kernel (SDPA or eager) computed the rows before,
# and one flip moves logits by ~1e-3. Float64 rounding is ~1e9 times finer, so the paths must agree
# to PARITY_ATOL on every CPU; a float32 tolerance would only measure the CPU.
PARITY_DTYPE = torch.float64
PARITY_ATOL = 1e-10


def tiny_model(arch: str, seed: int = 0, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """A random-initialised model whose attention is sharpened (scores x10), so the SRA
    threshold really eliminates weights; a uniform-attention model would prove nothing."""
    config_name, model_name, extra, sharpen = ARCHITECTURES[arch]
    torch.manual_seed(seed)
    config = getattr(transformers, config_name)(**{**TINY_COMMON, **extra})
    config._attn_implementation = "sdpa"
    model = getattr(transformers, model_name)(config).eval().to(dtype)
    for module in model.modules():
        if hasattr(module, "scaling") and hasattr(module, "layer_idx"):
            module.scaling = module.scaling * sharpen
    return model


@pytest.fixture(scope="session")
def smollm2():
    """The bundled SmolLM2-135M-Instruct, loaded once, unpatched."""
    from sra_rag.models import load_model

    return load_model(sra=None)


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory):
    """The bundled demo corpus, indexed once per session: (folder, index, embedder)."""
    from sra_rag.rag import Embedder, demo_corpus_dir, index_folder

    folder = tmp_path_factory.mktemp("demo") / "index"
    embedder = Embedder()
    index, _ = index_folder(demo_corpus_dir(), folder, embedder)
    return folder, index, embedder


def one_line_error(capsys, *needles: str) -> None:
    """The error is one line, the last; only progress bars may come before it."""
    output = capsys.readouterr().err.strip()
    assert "Traceback" not in output, output
    err = output.splitlines()[-1]
    assert err.startswith("sra-rag: error:") and output.count("sra-rag:") == 1, output
    for needle in needles:
        assert needle in err, err
