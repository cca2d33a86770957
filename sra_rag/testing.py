"""What the adapters' tests share: a ChatML chat template that renders tools, with the response
template that reads its calls, so a model whose own template has no tool support (the bundled
SmolLM2) can stand in for a tool-calling model."""

from __future__ import annotations

import copy
from typing import Any

from transformers import PreTrainedTokenizerBase

TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n# Tools\n<tools>{% for t in tools %}\n{{ t | tojson }}{% endfor %}"
    '\n</tools>\nCall a tool as <tool_call>{"name": ..., "arguments": ...}</tool_call><|im_end|>\n'
    "{% endif %}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open_pattern": r"\s*<tool_call>",
            "close": "</tool_call>",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"\s*<\|im_end\|>", "content": "text"},
    },
}


def with_tool_template(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A copy of `tokenizer` whose chat template renders tools (`TOOL_TEMPLATE`) and whose calls
    are read by `RESPONSE_TEMPLATE`."""
    copied = copy.deepcopy(tokenizer)
    copied.chat_template = TOOL_TEMPLATE
    copied.response_template = RESPONSE_TEMPLATE
    return copied
