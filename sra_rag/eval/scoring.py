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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

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
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        new = [int(first.argmax())]
        while len(new) < max_new_tokens and new[-1] not in eos_ids:
            step = model(torch.tensor([[new[-1]]], device=device), cache=cache, use_cache=True)
            cache = step.cache
            new.append(int(step.logits[0, -1].argmax()))
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
