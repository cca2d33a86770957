"""load_model: the bundled default, the safetensors cache, local directories, clear errors."""

import shutil
import socket

import pytest
import torch
from conftest import tiny_model
from transformers import AutoModelForCausalLM

from sra_rag import SRAConfig, is_patched, sra_config
from sra_rag.models import (
    ModelNotFoundError,
    _manifest_ok,
    bundled_gguf_path,
    converted_gguf,
    default_cache_dir,
    load_model,
)


def test_bundled_model_loads_with_sra_on(smollm2):
    model, tokenizer = load_model()
    assert is_patched(model) and sra_config(model) == SRAConfig()
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert model is not smollm2[0]


def test_corrupt_or_partial_cache_is_detected_and_rebuilt(smollm2, tmp_path):
    gguf = bundled_gguf_path()
    good = converted_gguf(gguf)  # made by the session fixture already
    target = tmp_path / "models" / good.name
    shutil.copytree(good, target)
    assert converted_gguf(gguf, tmp_path) == target and _manifest_ok(target)
    weights = target / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    assert not _manifest_ok(target)
    (target / "config.json").unlink()
    assert converted_gguf(gguf, tmp_path) == target
    assert _manifest_ok(target)
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no staging directory left behind"
    model, _ = load_model(gguf, sra=None, cache_dir=tmp_path)
    reference = smollm2[0]
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reference(ids).logits)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SRA_RAG_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path


def test_local_directory_never_touches_the_network(smollm2, tmp_path, monkeypatch):
    tiny_model("llama").save_pretrained(tmp_path)
    smollm2[1].save_pretrained(tmp_path)
    seen: dict = {}
    original = AutoModelForCausalLM.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.update(kwargs)
        return original(cls, *args, **kwargs)

    def no_network(*args, **kwargs):
        raise AssertionError("a local model opened a network connection")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(spy))
    monkeypatch.setattr(socket.socket, "connect", no_network)
    model, _ = load_model(tmp_path, sra=SRAConfig(question_length=64))
    assert sra_config(model) == SRAConfig(question_length=64)
    assert seen["trust_remote_code"] is False and seen["local_files_only"] is True


def test_loading_arguments_pass_through_and_the_model_is_never_moved(smollm2, tmp_path, monkeypatch):
    """A device map that offloads half the layers to disk keeps its map (accelerate's dispatch, on
    a CPU too) and runs SRA as the in-memory model does; dtype and the rest reach from_pretrained
    untouched, and nothing calls .to() on the loaded model."""
    folder = tmp_path / "model"
    tiny_model("llama").save_pretrained(folder)
    smollm2[1].save_pretrained(folder)
    seen: dict = {}
    original = AutoModelForCausalLM.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.clear()
        seen.update(kwargs)
        loaded = original(cls, *args, **kwargs)

        def moved(*args, **kwargs):
            raise AssertionError("load_model moved a loaded model")

        loaded.to = moved
        return loaded

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(spy))
    config = SRAConfig(begin_length=5, question_length=30)
    in_memory, _ = load_model(folder, sra=config)
    assert "device_map" not in seen  # no placement asked: transformers' default
    assert next(in_memory.parameters()).dtype == torch.float32  # "auto": the checkpoint's own
    placement = {
        "model.embed_tokens": "cpu",
        "model.rotary_emb": "cpu",
        **{f"model.layers.{i}": "disk" if i >= 3 else "cpu" for i in range(6)},
        "model.norm": "cpu",
        "lm_head": "cpu",
    }
    offloaded, _ = load_model(
        folder,
        sra=config,
        device_map=placement,
        offload_folder=tmp_path / "offload",
        attn_implementation="eager",
    )
    assert offloaded.hf_device_map == placement and seen["attn_implementation"] == "eager"
    ids = torch.randint(0, 256, (1, 200), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(offloaded(ids).logits, in_memory(ids).logits, rtol=0, atol=1e-5)
    half, _ = load_model(folder, sra=None, device="cpu", dtype="bfloat16")
    assert seen["device_map"] == "cpu" and next(half.parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="pass device or device_map, not both"):
        load_model(folder, device="cpu", device_map="auto")


def test_bad_paths_say_what_to_pass(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model at '/no/such/model'"):
        load_model("/no/such/model")
    with pytest.raises(ModelNotFoundError, match=r"without config\.json"):
        load_model(tmp_path)
    with pytest.raises(
        TypeError,
        match=r"sra must be an SRA setting .* or None",
    ):
        load_model(tmp_path, sra="paper")


def test_the_suite_runs_offline_whatever_the_environment_says():
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
