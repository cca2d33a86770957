"""LangChain's standard chat-model suites on the bundled SmolLM2-135M-Instruct."""

from typing import Any

import pytest
from langchain_sra import ChatSRA
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests
from sra_fixtures import MODEL_NAME, bundled

from sra_rag.structured import IncompleteJSONError

_JOKES = pytest.mark.xfail(
    reason="the suite asks for a joke about cats: SmolLM2-135M, greedy, writes 'The cat was a cat, and the "
    "cat was a cat, ...' inside the first string and never closes it, so the reply reaches max_tokens (an "
    "error, never cut JSON); schemas filled from the prompt come back valid every time (test_structured.py)",
    raises=IncompleteJSONError,
    strict=True,
)


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
        """Constrained decoding enforces the schema; no tool support is needed."""
        return True

    @property
    def supports_json_mode(self) -> bool:
        """`method="json_mode"` constrains the reply to a JSON object; the keys come from the prompt."""
        return True

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

    # A JSON object takes more than the suite's 16 tokens: the structured-output tests run the same
    # model with room for one (a reply that reaches max_tokens first is an error, never cut JSON).
    @staticmethod
    def _roomy(model: ChatSRA) -> ChatSRA:
        return model.model_copy(update={"max_tokens": 96})

    @_JOKES
    @pytest.mark.parametrize("schema_type", ["pydantic", "typeddict", "json_schema"])
    def test_structured_output(self, model: ChatSRA, schema_type: Any) -> None:
        super().test_structured_output(self._roomy(model), schema_type)

    @_JOKES
    @pytest.mark.parametrize("schema_type", ["pydantic", "typeddict", "json_schema"])
    async def test_structured_output_async(self, model: ChatSRA, schema_type: Any) -> None:
        await super().test_structured_output_async(self._roomy(model), schema_type)

    @_JOKES
    def test_structured_output_pydantic_2_v1(self, model: ChatSRA) -> None:
        super().test_structured_output_pydantic_2_v1(self._roomy(model))

    @_JOKES
    def test_structured_output_optional_param(self, model: ChatSRA) -> None:
        super().test_structured_output_optional_param(self._roomy(model))

    @pytest.mark.xfail(
        reason="json_mode constrains the reply to a JSON object but not its keys; SmolLM2-135M does not "
        "follow the prompt's key names (it nests 'setup' in 'setup'); method='json_schema' enforces them",
        strict=True,
    )
    def test_json_mode(self, model: ChatSRA) -> None:
        super().test_json_mode(self._roomy(model))
