"""A passkey hidden in long filler text: the smallest long-context retrieval task.

The filler is original prose about a fictional harbour town, varied by index so no two
sentences are identical; the key sits at a chosen depth and the question comes last, where
SRA's outer loop treats it as the prompt's tail.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

_SENTENCES = (
    "The ferry to Lowmarsh left pier {i} at dawn, loaded with {n} crates of salted herring.",
    "In the archive on Tallow Street, clerk number {i} sorted {n} letters about the old lighthouse.",
    "Fog rolled over the breakwater for {n} hours while the bell on buoy {i} kept its slow rhythm.",
    "The market at Gull Square sold {n} baskets of samphire before the noon bell of day {i}.",
    "Apprentice rope-makers spun {n} fathoms of line in workshop {i} by the tidal mill.",
    "A storm in year {i} of the harbour records flooded {n} cellars along the Quay of Lanterns.",
    "The council met in room {i} of the customs house and argued about {n} unpaid mooring fees.",
    "Children counted {n} seals on the sandbar while their teacher read chapter {i} aloud.",
    "The tide tables printed in edition {i} predicted {n} unusually low tides that winter.",
    "Boatwright {i} tarred {n} planks for a fishing smack that would never leave the slipway.",
)


@dataclass(frozen=True)
class PasskeyPrompt:
    prompt: str | list[dict[str, str]]
    """Chat messages, or plain text for a tokenizer without a chat template (a base model)."""
    answer: str
    depth: float


def filler(sentences: int, offset: int = 0) -> str:
    """`sentences` sentences of deterministic filler prose."""
    parts = []
    for k in range(offset, offset + sentences):
        template = _SENTENCES[k % len(_SENTENCES)]
        parts.append(template.format(i=k + 1, n=(k * 37) % 91 + 3))
    return " ".join(parts)


def passkey_prompt(
    tokenizer: PreTrainedTokenizerBase, tokens: int, depth: float = 0.5, key: str = "68402"
) -> PasskeyPrompt:
    """A prompt of at most (and close to) `tokens` tokens, the passkey at `depth` (0 = start): chat
    messages when the tokenizer has a chat template, else text ending in "Answer:"."""
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be in [0, 1], got {depth}")
    needle = f"Remember this: the passkey for the harbour vault is {key}."
    question = "What is the passkey for the harbour vault? Answer with the number only."

    chat = bool(getattr(tokenizer, "chat_template", None))

    def build(count: int) -> PasskeyPrompt:
        cut = int(count * depth)
        text = f"{filler(cut)} {needle} {filler(count - cut, offset=cut)}\n\n{question}"
        return PasskeyPrompt([{"role": "user", "content": text}] if chat else f"{text}\nAnswer:", key, depth)

    def length(prompt: PasskeyPrompt) -> int:
        if isinstance(prompt.prompt, str):
            return len(tokenizer(prompt.prompt).input_ids)
        text = tokenizer.apply_chat_template(prompt.prompt, add_generation_prompt=True, tokenize=False)
        return len(tokenizer(text, add_special_tokens=False).input_ids)

    count = max(1, tokens // 20)
    for _ in range(3):  # sentence lengths vary a little: rescale towards the target twice
        count = max(1, round(count * tokens / length(build(count))))
    while count > 1 and length(build(count)) > tokens:
        count -= 1
    return build(count)
