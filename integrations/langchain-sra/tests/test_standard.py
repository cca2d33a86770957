"""LangChain's standard chat-model suites on the bundled SmolLM2-135M-Instruct."""

from typing import Any

from langchain_sra import ChatSRA
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests
from sra_fixtures import MODEL_NAME, bundled


class _Bundled:
    """What both suites share: the class, the one loaded model, and the model's true abilities."""

    @property
    def chat_model_class(self) -> type[ChatSRA]:
        return ChatSRA

    @property
    def chat_model_params(self) -> dict[str, Any]:
        model, tokenizer = bundled()
        return {"model": model, "tokenizer": tokenizer, "model_name": MODEL_NAME}

    @property
    def has_tool_calling(self) -> bool:
        """SmolLM2-135M-Instruct's chat template does not render tools (bind_tools says so)."""
        return False

    @property
    def has_structured_output(self) -> bool:
        """No tool calling and no constrained decoding: nothing can enforce a schema."""
        return False

    @property
    def supports_model_override(self) -> bool:
        """One instance wraps one loaded model; a per-call `model=` name cannot switch it."""
        return False


class TestChatSRAUnit(_Bundled, ChatModelUnitTests):
    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        """The suite's network-client parameters (`api_key`, `timeout`, `max_retries`) do not exist
        for a local model, and ChatSRA forbids unknown fields rather than ignoring them."""
        params = super().standard_chat_model_params
        for key in ("api_key", "timeout", "max_retries"):
            params.pop(key)
        return params


class TestChatSRAIntegration(_Bundled, ChatModelIntegrationTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        """Short answers keep the suite fast on a CPU; the suite only checks their shape."""
        return {**super().chat_model_params, "max_tokens": 16}
