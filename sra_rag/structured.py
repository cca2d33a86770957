"""Constrained decoding: a reply that is valid JSON for a schema, from any model, by construction.

A small model asked for JSON writes almost-JSON: a missing brace, a comment, a field renamed. So
the reply is constrained instead: at every step, tokens that cannot continue a valid document are
masked out of the logits, and generation can only end once the document is complete. The masks
come from llguidance (MIT; the engine behind OpenAI's structured outputs, vLLM, SGLang and
llama.cpp), chosen for its speed on a CPU (a mask in tens of microseconds, in Rust, so a step
costs about what an unconstrained one does: `make bench-structured`), its wide JSON Schema coverage,
and its use of Hugging Face fast tokenizers as they are. No chat template support is needed: the
constraint acts on the reply's tokens, whatever the prompt.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

_TOKENIZERS: weakref.WeakKeyDictionary[PreTrainedTokenizerBase, dict[Any, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class IncompleteJSONError(ValueError):
    """A constrained reply reached its token limit before its JSON document was complete."""


def _llguidance() -> Any:
    try:
        import llguidance
        import llguidance.hf
        import llguidance.torch
    except ImportError:
        raise ImportError("structured output needs llguidance: pip install 'sra-rag[structured]'") from None
    return llguidance


def _grammar_tokenizer(tokenizer: PreTrainedTokenizerBase, vocab_size: int, eos: tuple[int, ...]) -> Any:
    """The tokenizer as llguidance reads it, ending replies with the model's own end tokens (those
    `generate` stops on); made once per tokenizer, vocabulary and end tokens (about a second)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("structured output needs a fast (Rust) Hugging Face tokenizer")
    with _LOCK:
        made = _TOKENIZERS.setdefault(tokenizer, {})
        if (vocab_size, eos) not in made:
            hf = _llguidance().hf
            made[vocab_size, eos] = hf.from_tokenizer(
                tokenizer, n_vocab=vocab_size, eos_token=list(eos) or None
            )
        return made[vocab_size, eos]


def json_grammar(schema: Mapping[str, Any]) -> str:
    """The grammar of the JSON documents `schema` (a JSON Schema) accepts, in compact form (no
    whitespace between tokens: fewer tokens, and none a small model can wander off into).
    ValueError for a schema the engine cannot enforce."""
    llguidance = _llguidance()
    if not isinstance(schema, Mapping):
        raise TypeError(f"a JSON schema is a dict, got {type(schema).__name__}")
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        json.dumps(schema), defaults={"whitespace_flexible": False}
    )
    error = llguidance.LLMatcher.validate_grammar(grammar)
    if error:
        raise ValueError(f"this JSON schema cannot be enforced: {error}")
    return grammar


class GrammarLogitsProcessor(LogitsProcessor):
    """Masks every token that cannot continue a document of `grammar`; once the document is
    complete only an end token (`eos`) is allowed. One per generation (it follows one reply)."""

    def __init__(
        self,
        grammar: str,
        tokenizer: PreTrainedTokenizerBase,
        vocab_size: int,
        prompt_length: int,
        eos: tuple[int, ...] = (),
    ) -> None:
        llguidance = _llguidance()
        self._torch = llguidance.torch
        self.matcher = llguidance.LLMatcher(_grammar_tokenizer(tokenizer, vocab_size, eos), grammar)
        self.mask = llguidance.torch.allocate_token_bitmask(1, vocab_size)
        self.prompt_length = prompt_length
        self.consumed = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise ValueError("structured output constrains one sequence at a time")
        for token in input_ids[0, self.prompt_length + self.consumed :].tolist():
            if not self.matcher.consume_token(token):
                raise RuntimeError(f"the constrained reply left its grammar: {self.matcher.get_error()}")
            self.consumed += 1
        self._torch.fill_next_token_bitmask(self.matcher, self.mask, 0)
        self._torch.apply_token_bitmask_inplace(scores, self.mask.to(scores.device))
        return scores
