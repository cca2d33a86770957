"""The evaluation tasks: reproducible from the seed, the gold answer really in the prompt at the
stated depth, the prompt within its length budget, and the answer never leaked after the context."""

from __future__ import annotations

import json
import re

import pytest
from transformers import AutoTokenizer

from sra_rag.eval.tasks import TASKS, held_text, make_sample
from sra_rag.models import bundled_gguf_path, converted_gguf


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(str(converted_gguf(bundled_gguf_path())))


def test_same_seed_same_sample_other_seed_other_sample(tokenizer) -> None:
    for task in TASKS:
        args = dict(split="dev", index=3, tokens=700, depth=0.5, style="chat")
        first = make_sample(tokenizer, task, seed=11, **args)
        assert make_sample(tokenizer, task, seed=11, **args) == first
        assert make_sample(tokenizer, task, seed=12, **args).prompt != first.prompt
        assert make_sample(tokenizer, task, seed=11, **{**args, "split": "test"}).prompt != first.prompt


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("depth", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_gold_at_the_stated_depth(tokenizer, task: str, depth: float) -> None:
    sample = make_sample(
        tokenizer, task, seed=5, split="test", index=0, tokens=1500, depth=depth, style="chat"
    )
    assert sample.prompt_tokens == len(tokenizer(sample.prompt, add_special_tokens=False).input_ids)
    slack = 160 if task == "mdqa" else 60  # mdqa grows a whole document at a time
    assert sample.target_tokens - slack <= sample.prompt_tokens <= sample.target_tokens
    tolerance = 0.1 if task == "mdqa" else 0.04
    assert abs(sample.gold_depth - depth) <= tolerance
    answer = sample.answer
    if task == "needle":
        vault = re.search(r"for the (\w+) vault\?", sample.prompt).group(1)
        statement = f"The secret passkey for the {vault} vault is {answer}."
        assert sample.prompt.count(statement) == 1
        others = re.findall(r"The secret passkey for the (\w+) vault is (\d+)\.", sample.prompt)
        assert len(others) == 4 and len({v for v, _ in others}) == 4  # three distractor needles
        where = sample.prompt.index(statement)
    elif task == "kv":
        key = re.search(r'value of the key ("[^"]+") in', sample.prompt).group(1)
        pair = f"{key}: {answer}"
        assert sample.prompt.count(pair) == 1
        block = sample.prompt[sample.prompt.index("{\n") : sample.prompt.index("\n}") + 2]
        assert json.loads(block)[json.loads(key)] == int(answer)
        where = sample.prompt.index(pair)
    else:
        name = re.search(r"the \w+ (.+) born\? Answer", sample.prompt).group(1)
        statement = f"{name} was born in the town of {answer}."
        assert sample.prompt.count(f"born in the town of {answer}.") == 1
        assert f"(Title: {name})\n{name} was a" in sample.prompt
        where = sample.prompt.index(statement.split(" was ")[0] + " was a")
    # measured in characters too: the gold item sits where the depth says within the context
    context_start = sample.prompt.index("\n\n") + 2
    context_end = sample.prompt.rindex("\n\n")
    fraction = (where - context_start) / (context_end - context_start)
    assert abs(fraction - depth) <= tolerance + 0.02
    # the reply opens with a prefix that asks for the answer and does not contain it
    tail = sample.prompt[sample.prompt.rindex("<|im_start|>assistant") :]
    assert answer not in tail and tail.rstrip().endswith(("is", "of"))
    assert sample.continuation == f" {answer}"


@pytest.mark.parametrize("task", TASKS)
def test_completion_prompts_have_no_chat_markup(tokenizer, task: str) -> None:
    sample = make_sample(
        tokenizer, task, seed=1, split="dev", index=0, tokens=600, depth=0.5, style="completion"
    )
    assert "<|im_start|>" not in sample.prompt
    assert "\nQuestion: " in sample.prompt and "\nAnswer: " in sample.prompt
    assert sample.answer not in sample.prompt[sample.prompt.rindex("\nAnswer: ") :]


def test_held_text_is_seeded_and_sized(tokenizer) -> None:
    first = held_text(tokenizer, seed=3, split="test", index=0, tokens=400)
    assert first == held_text(tokenizer, seed=3, split="test", index=0, tokens=400)
    assert first.prompt != held_text(tokenizer, seed=3, split="test", index=1, tokens=400).prompt
    assert 390 <= first.prompt_tokens <= 405


def test_bad_arguments(tokenizer) -> None:
    with pytest.raises(ValueError, match="unknown task"):
        make_sample(tokenizer, "sudoku", seed=0, split="dev", index=0, tokens=500, depth=0.5, style="chat")
    with pytest.raises(ValueError, match="depth"):
        make_sample(tokenizer, "kv", seed=0, split="dev", index=0, tokens=500, depth=1.5, style="chat")
