"""The bundled model, loaded once per test session and shared (the standard suites build a new
ChatSRA per test from `chat_model_params`, so the loader is a plain cached function)."""

from functools import cache
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from sra_rag import SRAConfig
from sra_rag.models import BUNDLED_MODEL_NAME, load_model

MODEL_NAME = BUNDLED_MODEL_NAME

ACTIVE_ON_SHORT_PROMPTS = SRAConfig(
    begin_length=5, question_length=8, inter_eliminate=0.5, outer_eliminate=0.5
)
"""SRA that touches rows even in a prompt of ~100 tokens (the paper defaults need longer ones)."""


@cache
def bundled() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """SmolLM2-135M-Instruct with SRA on (paper defaults): its default for every call."""
    return load_model(None)


class TokenCollector(BaseCallbackHandler):
    """Keeps every token the callbacks report, in order."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)
