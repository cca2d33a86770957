"""The evaluation tasks, each a pure function of (seed, task, split, length, index).

Every task is a long context with one gold item at a stated depth, a question at the end (where
SRA's outer loop treats the prompt tail as the question) and a short gold answer, so the same
sample can be scored by greedy generation and by the teacher-forced log-probability of the answer.
Instruct models get chat-template prompts; base models get completion prompts.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from transformers import PreTrainedTokenizerBase

from . import prose

Style = Literal["chat", "completion"]
TASKS = ("needle", "kv", "mdqa")
"""Retrieval tasks scored by answer; `perplexity` is scored separately (held text)."""


@dataclass(frozen=True)
class Parts:
    """A task instance before rendering: the context is `items` joined, `items[gold]` holds the answer."""

    instruction: str
    items: list[str]
    gold: int
    question: str
    answer: str
    answer_prefix: str
    """Opens the model's reply ("The passkey ... is"), so the answer is its next few tokens."""
    separator: str = " "
    wrap: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class Sample:
    task: str
    split: str
    index: int
    target_tokens: int
    depth: float
    """Requested depth of the gold item: 0 = start of the context, 1 = its end."""
    prompt: str
    continuation: str
    """The gold answer as the model should continue the prompt (teacher-forced)."""
    answer: str
    prompt_tokens: int
    gold_depth: float | None
    """Measured: the gold item's first token, as a fraction of the context's tokens."""
    style: Style

    def to_dict(self, with_prompt: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_prompt:
            data.pop("prompt")
        return data


def prompt_style(tokenizer: PreTrainedTokenizerBase) -> Style:
    """Chat prompts when the tokenizer has a chat template (instruct models), else completion."""
    return "chat" if getattr(tokenizer, "chat_template", None) else "completion"


def encode(tokenizer: PreTrainedTokenizerBase, text: str, style: Style) -> list[int]:
    """Token ids of a rendered prompt: a chat template already holds its special tokens."""
    return tokenizer(text, add_special_tokens=style == "completion").input_ids


def _needle(rng: random.Random, count: int, depth: float) -> Parts:
    vaults = [prose.town(rng) for _ in range(4)]
    while len(set(vaults)) < 4:
        vaults.append(prose.town(rng))
        vaults = list(dict.fromkeys(vaults))
    keys = [str(rng.randrange(10000, 99999)) for _ in vaults]
    spots = [rng.random() for _ in range(3)]
    items = prose.sentences(rng, count)
    for vault, key, spot in zip(vaults[1:], keys[1:], spots, strict=True):  # distractor needles
        items.insert(round(spot * len(items)), f"The secret passkey for the {vault} vault is {key}.")
    gold = round(depth * len(items))
    items.insert(gold, f"The secret passkey for the {vaults[0]} vault is {keys[0]}.")
    return Parts(
        "Read the town chronicle below. Several vault passkeys are hidden in it.",
        items,
        gold,
        f"What is the secret passkey for the {vaults[0]} vault? Answer with the number only.",
        keys[0],
        f"The secret passkey for the {vaults[0]} vault is",
    )


def _kv_key(rng: random.Random) -> str:
    return f"{prose.town(rng).lower()}-{prose.town(rng).lower()}-{rng.randrange(10, 99)}"


def _kv(rng: random.Random, count: int, depth: float) -> Parts:
    keys = list(dict.fromkeys(_kv_key(rng) for _ in range(count + 1)))
    values = [str(rng.randrange(10000, 99999)) for _ in keys]
    gold = round(depth * (len(keys) - 1))
    items = [f"  {json.dumps(k)}: {v}" for k, v in zip(keys, values, strict=True)]
    return Parts(
        "Below is a JSON object with many keys.",
        items,
        gold,
        f"What is the value of the key {json.dumps(keys[gold])} in the JSON object above? "
        "Answer with the number only.",
        values[gold],
        f"The value of the key {json.dumps(keys[gold])} is",
        separator=",\n",
        wrap=("{\n", "\n}"),
    )


def _document(rng: random.Random, name: str, job: str, born: str, mention: str | None) -> str:
    body = [f"{name} was a {job} born in the town of {born}."]
    body += prose.sentences(rng, 3)
    if mention is not None:  # a distractor that names the gold person near a different town
        body.insert(2, f"{name} once travelled to {prose.town(rng)} with {mention}.")
    return f"(Title: {name})\n" + " ".join(body)


def _mdqa(rng: random.Random, count: int, depth: float) -> Parts:
    names = list(dict.fromkeys(prose.person(rng) for _ in range(count + 4)))[: max(count, 1)]
    jobs = [prose.profession(rng) for _ in names]
    towns = [prose.town(rng) for _ in names]
    gold = round(depth * (len(names) - 1))
    order = [gold, *[k for k in range(len(names)) if k != gold]]
    docs = {
        k: _document(
            rng, names[k], jobs[k], towns[k], names[gold] if k != gold and rng.random() < 0.3 else None
        )
        for k in order
    }
    items = [f"Document [{i + 1}] {docs[k]}" for i, k in enumerate(range(len(names)))]
    return Parts(
        "Answer the question using the search results below.",
        items,
        gold,
        f"In which town was the {jobs[gold]} {names[gold]} born? Answer with the town name only.",
        towns[gold],
        f"{names[gold]} was born in the town of",
        separator="\n\n",
    )


BUILDERS: dict[str, Callable[[random.Random, int, float], Parts]] = {
    "needle": _needle,
    "kv": _kv,
    "mdqa": _mdqa,
}
_TOKENS_PER_ITEM = {"needle": 22, "kv": 14, "mdqa": 110}


def _render(parts: Parts, style: Style, tokenizer: PreTrainedTokenizerBase) -> tuple[str, str, int, int, int]:
    """(prompt, continuation, context start, context end, gold start) with character offsets."""
    context = parts.wrap[0] + parts.separator.join(parts.items) + parts.wrap[1]
    gold_offset = len(parts.wrap[0]) + sum(len(i) + len(parts.separator) for i in parts.items[: parts.gold])
    head = f"{parts.instruction}\n\n"
    if style == "chat":
        content = f"{head}{context}\n\n{parts.question}"
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        start = prompt.index(content) + len(head)
        prompt += parts.answer_prefix
    else:
        prompt = f"{head}{context}\n\nQuestion: {parts.question}\nAnswer: {parts.answer_prefix}"
        start = len(head)
    continuation = f" {parts.answer}"
    return prompt, continuation, start, start + len(context), start + gold_offset


def _token_index(offsets: list[int], char: int) -> int:
    return bisect.bisect_left(offsets, char)


def make_sample(
    tokenizer: PreTrainedTokenizerBase,
    task: str,
    *,
    seed: int,
    split: str,
    index: int,
    tokens: int,
    depth: float,
    style: Style,
) -> Sample:
    """The sample (seed, task, split, tokens, index): the longest context whose prompt fits `tokens`."""
    if task not in BUILDERS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(BUILDERS)}")
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be in [0, 1], got {depth}")
    name = f"{seed}:{task}:{split}:{tokens}:{index}"

    def build(count: int) -> tuple[Parts, str, str, int, int, int]:
        parts = BUILDERS[task](random.Random(name), count, depth)
        return (parts, *_render(parts, style, tokenizer))

    def length(count: int) -> int:
        return len(encode(tokenizer, build(count)[1], style))

    low, high = 1, max(2, 2 * tokens // _TOKENS_PER_ITEM[task])
    while length(high) <= tokens:
        high *= 2
    while low < high:  # the largest count that fits (lengths grow with count)
        middle = (low + high + 1) // 2
        if length(middle) <= tokens:
            low = middle
        else:
            high = middle - 1
    parts, prompt, continuation, start, end, gold = build(low)
    encoded = tokenizer(prompt, add_special_tokens=style == "completion", return_offsets_mapping=True)
    ends = [stop for _, stop in encoded["offset_mapping"]]
    first, last, at = (_token_index(ends, c + 1) for c in (start, end - 1, gold))
    return Sample(
        task=task,
        split=split,
        index=index,
        target_tokens=tokens,
        depth=depth,
        prompt=prompt,
        continuation=continuation,
        answer=parts.answer,
        prompt_tokens=len(encoded["input_ids"]),
        gold_depth=(at - first) / max(last - first, 1),
        style=style,
    )


def held_text(
    tokenizer: PreTrainedTokenizerBase, *, seed: int, split: str, index: int, tokens: int
) -> Sample:
    """Held prose of about `tokens` tokens (completion style), for perplexity: the stability cost."""
    rng = random.Random(f"{seed}:perplexity:{split}:{tokens}:{index}")
    text = ""
    while len(tokenizer(text).input_ids) < tokens:
        text = " ".join(filter(None, [text, *prose.sentences(rng, 20)]))
    ids = tokenizer(text).input_ids[:tokens]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return Sample(
        task="perplexity",
        split=split,
        index=index,
        target_tokens=tokens,
        depth=1.0,
        prompt=text,
        continuation="",
        answer="",
        prompt_tokens=len(tokenizer(text).input_ids),
        gold_depth=None,
        style="completion",
    )
