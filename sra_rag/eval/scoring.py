"""Score one sample under one setting: greedy answer and teacher-forced answer log-probability
from a single prefill, and perplexity of held text.

One prefill per sample and setting is the whole budget on a CPU: its KV cache is copied, the
copy continues with the gold answer (teacher forcing: the answer's log-probability), the original
continues greedily (the generated answer). Both continuations are decode-side passes that SRA
leaves to the stock kernel, as in generation, so the log-probability is exactly what the model
would assign to the gold answer while generating.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..generation import cut_at_stop, eos_ids
from .tasks import Sample, encode

_ATTENTION_LOGGER = logging.getLogger("sra_rag.engine.attention")


@contextmanager
def _quiet_continuations() -> Iterator[None]:
    """The teacher-forced pass continues a cache, which SRA skips by design and warns about."""
    level = _ATTENTION_LOGGER.level
    _ATTENTION_LOGGER.setLevel(logging.ERROR)
    try:
        yield
    finally:
        _ATTENTION_LOGGER.setLevel(level)


def normalize(text: str) -> str:
    """Lower case, punctuation and surrounding space removed: for exact match."""
    return re.sub(r"[^0-9a-z]+", " ", text.lower()).strip()


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0] if text.strip() else ""


@torch.inference_mode()
def score_answer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sample: Sample,
    max_new_tokens: int,
) -> dict[str, Any]:
    """Greedy answer and gold log-probability for `sample` under the model's current setting."""
    start = time.perf_counter()
    device = model.device
    ids = torch.tensor([encode(tokenizer, sample.prompt, sample.style)], device=device)
    gold = torch.tensor([tokenizer(sample.continuation, add_special_tokens=False).input_ids], device=device)
    with _quiet_continuations():
        out = model(ids, use_cache=True, logits_to_keep=1)
        first = out.logits[0, -1].float().log_softmax(-1)
        cache = out.cache
        logits = [first]
        if gold.shape[1] > 1:
            forced = model(gold[:, :-1], cache=copy.deepcopy(cache), use_cache=True)
            logits += list(forced.logits[0].float().log_softmax(-1))
        token_logprobs = [float(lp[t]) for lp, t in zip(logits, gold[0].tolist(), strict=True)]
        new = _greedy(model, first, cache, max_new_tokens)
    text = tokenizer.decode(new, skip_special_tokens=True)
    answer = normalize(sample.answer)
    return {
        "logprob": sum(token_logprobs),
        "answer_tokens": len(token_logprobs),
        "greedy_is_gold": all(int(lp.argmax()) == t for lp, t in zip(logits, gold[0].tolist(), strict=True)),
        "generated": text,
        "exact": normalize(first_line(text)) == answer,
        "contains": answer in normalize(text),
        "seconds": time.perf_counter() - start,
    }


def _greedy(model: PreTrainedModel, first: torch.Tensor, cache: Any, count: int) -> list[int]:
    """Up to `count` greedy tokens from `first` (the next-token log-probabilities) and `cache`,
    ending early at the end of the reply."""
    ends = eos_ids(model)
    new = [int(first.argmax())]
    while len(new) < count and new[-1] not in ends:
        step = model(torch.tensor([[new[-1]]], device=model.device), cache=cache, use_cache=True)
        cache = step.cache
        new.append(int(step.logits[0, -1].argmax()))
    return new


@torch.inference_mode()
def score_as_asked(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt_ids: list[int],
    stem: str,
    answer: str,
    free_tokens: int,
    forced_tokens: int,
    continuation: str | None = None,
    *,
    stops: Sequence[str],
) -> dict[str, Any]:
    """A RAG answer scored as a user gets it, and the gold answer's log-probability beside it.

    The prompt (exactly `RagPipeline.ask`'s tokens) is prefilled whole under the model's current
    setting, so SRA acts on it as in `ask`. From that one cache: the free-form greedy reply
    (`free_tokens`, cut at the prompt's `stops` as `ask` cuts it; `free_contains`: the gold answer
    is in it), and, after the reply stem that restates the question (`stem`), the gold answer's
    teacher-forced log-probability and the stem-forced greedy reply (`contains`, `forced_tokens`).
    The stem and the answer continue the cache as decode-side passes, which SRA leaves to the
    stock kernel as generation does. With no stem (your own questions, `sra-rag calibrate
    --questions`), the answer follows the prompt; `continuation` is the answer as it continues
    what precedes it (default: after a space).
    """
    start = time.perf_counter()
    device = model.device
    ids = torch.tensor([prompt_ids], device=device)
    stem_ids = tokenizer(stem, add_special_tokens=False).input_ids
    gold = tokenizer(continuation or f" {answer}", add_special_tokens=False).input_ids
    with _quiet_continuations():
        out = model(ids, use_cache=True, logits_to_keep=1)
        free = _greedy(model, out.logits[0, -1], copy.deepcopy(out.cache), free_tokens)
        stemmed = (
            model(torch.tensor([stem_ids], device=device), cache=out.cache, use_cache=True, logits_to_keep=1)
            if stem_ids
            else out
        )
        first = stemmed.logits[0, -1].float().log_softmax(-1)
        logits = [first]
        if len(gold) > 1:
            forced = model(
                torch.tensor([gold[:-1]], device=device), cache=copy.deepcopy(stemmed.cache), use_cache=True
            )
            logits += list(forced.logits[0].float().log_softmax(-1))
        forced_reply = _greedy(model, first, stemmed.cache, forced_tokens)
    token_logprobs = [float(lp[t]) for lp, t in zip(logits, gold, strict=True)]
    free_text = cut_at_stop(tokenizer.decode(free, skip_special_tokens=True), stops)
    forced_text = tokenizer.decode(forced_reply, skip_special_tokens=True)
    gold_text = normalize(answer)
    return {
        "free_generated": free_text,
        "free_contains": gold_text in normalize(free_text),
        "logprob": sum(token_logprobs),
        "answer_tokens": len(token_logprobs),
        "generated": forced_text,
        "contains": gold_text in normalize(forced_text),
        "seconds": time.perf_counter() - start,
    }


@torch.inference_mode()
def score_perplexity(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, sample: Sample, tail: int
) -> dict[str, Any]:
    """Mean negative log-likelihood of the last `tail` tokens of held text, in one forward pass
    (only those positions' logits are computed: a 262k vocabulary makes full logits costly)."""
    start = time.perf_counter()
    ids = torch.tensor([encode(tokenizer, sample.prompt, "completion")], device=model.device)
    tail = min(tail, ids.shape[1] - 1)
    out = model(ids, use_cache=False, logits_to_keep=tail + 1)
    logprobs = out.logits[0, :-1].float().log_softmax(-1)
    targets = ids[0, -tail:]
    nll = -logprobs.gather(-1, targets[:, None]).mean()
    return {"nll": float(nll), "tail_tokens": int(tail), "seconds": time.perf_counter() - start}
