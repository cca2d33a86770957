"""Scoring: the cached teacher-forced log-probability equals a plain forward over prompt + answer,
and the greedy answer equals `model.generate`'s; the whole smoke run writes a valid report."""

from __future__ import annotations

import json

import pytest
import torch
import transformers
from conftest import TINY_COMMON
from transformers import AutoTokenizer

from sra_rag import disable_sra, enable_sra, preset
from sra_rag.eval.longprompt.command import main
from sra_rag.eval.longprompt.presets import eval_preset
from sra_rag.eval.scoring import score_answer, score_as_asked, score_perplexity
from sra_rag.eval.tasks import encode, make_sample
from sra_rag.generation import Generator
from sra_rag.models import bundled_gguf_path, converted_gguf
from sra_rag.rag.prompt import COMPLETION_STOPS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small Llama over SmolLM2's tokenizer (attention sharpened so SRA acts), saved to disk."""
    tokenizer = AutoTokenizer.from_pretrained(str(converted_gguf(bundled_gguf_path())))
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        **{
            **TINY_COMMON,
            "vocab_size": len(tokenizer),
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "tie_word_embeddings": True,
        }
    )
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(10.0)
    directory = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model, tokenizer, directory


def test_teacher_forced_logprob_equals_full_forward(tiny) -> None:
    model, tokenizer, _ = tiny
    sample = make_sample(tokenizer, "kv", seed=0, split="dev", index=0, tokens=450, depth=0.5, style="chat")
    got = score_answer(model, tokenizer, sample, max_new_tokens=5)
    prompt = encode(tokenizer, sample.prompt, "chat")
    gold = tokenizer(sample.continuation, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([prompt + gold])).logits[0].log_softmax(-1)
    expected = sum(float(logits[len(prompt) - 1 + k, t]) for k, t in enumerate(gold))
    assert got["answer_tokens"] == len(gold)
    assert got["logprob"] == pytest.approx(expected, abs=1e-3)
    generated = model.generate(
        torch.tensor([prompt]), max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.eos_token_id
    )
    assert got["generated"] == tokenizer.decode(generated[0, len(prompt) :], skip_special_tokens=True)


def test_sra_moves_the_score_and_perplexity(tiny) -> None:
    model, tokenizer, _ = tiny
    sample = make_sample(
        tokenizer, "needle", seed=0, split="dev", index=0, tokens=600, depth=0.5, style="chat"
    )
    held = make_sample(tokenizer, "needle", seed=1, split="dev", index=0, tokens=600, depth=0.5, style="chat")
    held = type(held)(**{**held.__dict__, "style": "completion"})
    base, base_ppl = score_answer(model, tokenizer, sample, 3), score_perplexity(model, tokenizer, held, 64)
    enable_sra(model, preset("paper"))
    try:
        sra, sra_ppl = score_answer(model, tokenizer, sample, 3), score_perplexity(model, tokenizer, held, 64)
    finally:
        disable_sra(model)
    assert sra["logprob"] != pytest.approx(base["logprob"], abs=1e-6)
    assert sra_ppl["nll"] != pytest.approx(base_ppl["nll"], abs=1e-6)
    assert score_answer(model, tokenizer, sample, 3)["logprob"] == pytest.approx(base["logprob"], abs=1e-6)


def test_smoke_run_writes_report_and_plots(tiny, tmp_path) -> None:
    _, _, directory = tiny
    out = tmp_path / "eval_tiny.json"
    threads = torch.get_num_threads()
    try:  # one thread: the quickest on a shared CI machine
        assert (
            main(
                [
                    "--model",
                    str(directory),
                    "--preset",
                    "smoke",
                    "--out",
                    str(out),
                    "--quiet",
                    "--threads",
                    "1",
                ]
            )
            == 0
        )
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text(encoding="utf-8"))
    smoke = eval_preset("smoke")
    assert {"model", "preset", "settings", "versions", "command", "counts", "dev", "test", "records"} <= set(
        report
    )
    assert report["preset"]["seed"] == smoke.seed and report["prompt_style"] == "chat"
    dev = [r for r in report["records"] if r["split"] == "dev"]
    assert len(dev) == len(smoke.tasks) * smoke.dev_samples * len(smoke.dev_settings)
    test_settings = report["test_settings"]
    assert test_settings[0] == "baseline" and set(smoke.test_settings) <= set(test_settings)
    best = report["dev"]["selection"]["best"]
    assert best in smoke.dev_settings and best in test_settings
    test = [r for r in report["records"] if r["split"] == "test"]
    assert len(test) == (len(smoke.tasks) + smoke.perplexity_samples) * len(test_settings)
    for setting in test_settings:
        cell = report["test"]["answers"][setting]["all"]
        assert (
            cell["n"] == len(smoke.tasks)
            and 0.0 <= cell["contains"]["low"] <= cell["contains"]["high"] <= 1.0
        )
        assert report["test"]["perplexity"][setting]["perplexity"] > 1.0
    assert report["settings"]["baseline"] is None and report["settings"]["paper"]["policy"] == "sra"
    for name in ("eval_tiny_length.png", "eval_tiny_depth.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not out.with_suffix(".partial.jsonl").exists()
    # a run cut short: its checkpoint (here, dev records only) still yields a marked, paired report
    checkpoint = tmp_path / "cut.partial.jsonl"
    header = {"model": report["model"], "style": report["prompt_style"]}
    checkpoint.write_text("\n".join(json.dumps(x) for x in [header, *dev]) + "\n", encoding="utf-8")
    assert main(["--report", str(checkpoint), "--preset", "smoke", "--no-plots"]) == 0
    cut = json.loads((tmp_path / "cut.json").read_text(encoding="utf-8"))
    assert cut["partial"] and cut["counts"]["records"] == len(dev)
    assert cut["dev"]["selection"] == report["dev"]["selection"] and cut["test"]["answers"] == {}
    # re-summarising a saved report keeps its numbers and its provenance
    assert main(["--report", str(out), "--no-plots"]) == 0
    again = json.loads(out.read_text(encoding="utf-8"))
    assert again["test"] == report["test"] and again["dev"] == report["dev"]
    assert again["command"] == report["command"] and again["versions"] == report["versions"]
    assert again["preset"] == report["preset"] and "summarised_by" in again


def test_the_free_form_reply_is_the_generators_answer_cut_at_the_same_stops(smollm2) -> None:
    """Calibrate scores what `ask` returns: the same greedy reply, cut at the prompt's stops."""
    model, tokenizer = smollm2
    prompt = "The Minnow Street bakery opens at 5:40 every morning.\n\nQuestion: When does it open?\nAnswer:"
    ids = tokenizer(prompt).input_ids
    generator = Generator(model, tokenizer)
    for stops in ((), COMPLETION_STOPS):
        scored = score_as_asked(model, tokenizer, ids, "", "5:40", 24, 4, stops=stops)
        asked = generator.generate(prompt, max_new_tokens=24, stop=list(stops), sra=None)
        assert scored["free_generated"] == asked.text
    assert "\n" in score_as_asked(model, tokenizer, ids, "", "5:40", 24, 4, stops=())["free_generated"]
