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


def test_bad_paths_say_what_to_pass(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model at '/no/such/model'"):
        load_model("/no/such/model")
    with pytest.raises(ModelNotFoundError, match=r"without config\.json"):
        load_model(tmp_path)
    with pytest.raises(TypeError, match="SRAConfig, a TransitionConfig, a GuidedConfig or None"):
        load_model(tmp_path, sra="paper")


def test_the_suite_runs_offline_whatever_the_environment_says():
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
