"""What ChatSRA and SRALLM share: the model fields, per-call options and the metadata they report.

Both classes are thin adapters over `sra_rag.generation.Generator`; everything that decides how
text is generated lives there, so the two classes cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import torch
from langchain_core.messages import UsageMetadata
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_serializer,
    field_validator,
    model_validator,
)
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from sra_rag.engine.config import PAPER
from sra_rag.engine.setting import Setting
from sra_rag.generation import DEFAULT, GenerationStream, Generator, check_setting, describe_setting
from sra_rag.hints import check_known, warn_if_without_sra
from sra_rag.models import BUNDLED_MODEL_NAME, load_model
from sra_rag.rag.profile import SHIPPED, RagProfile, resolve_profile

from .passages import to_passages

CALL_OPTIONS = (
    "max_tokens",
    "temperature",
    "top_p",
    "sra",
    "diagnostics",
    "passages",
    "question",
    "json_schema",
)
"""Keyword arguments accepted per call (and by `.bind`); anything else is a TypeError, not ignored.
`passages` (retrieved Documents, texts or (text, score[, label]) tuples, as they appear in the
prompt) and `question` (its text) tell guided SRA where they are."""


class SRAModelBase(BaseModel):
    """Fields and helpers common to the chat model and the LLM.

    Subclasses restate `model_config`: pydantic lets a later base (LangChain's, `extra="ignore"`)
    override an earlier one's, and unknown fields must be an error, not silently dropped.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model: PreTrainedModel
    """A loaded causal LM (SRA on or off: its own setting is the default for every call)."""
    tokenizer: PreTrainedTokenizerBase
    model_name: str = ""
    """Reported in response metadata and traces; defaults to the model's `name_or_path` (a local
    directory's name)."""
    max_tokens: int = Field(default=256, ge=1)
    """Most new tokens per call."""
    temperature: float = Field(default=0.0, ge=0.0)
    """0 is greedy decoding (deterministic)."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[str] | None = None
    """Stop strings of any token length; generation ends at the first and it is trimmed."""
    diagnostics: bool = False
    """Report what SRA did in `response_metadata["sra_diagnostics"]` (costs a device sync per step,
    so it is off unless asked for, as in LlamaIndex's `SRALLM`)."""
    sra: Any = DEFAULT
    """Every call's SRA setting (an `SRAConfig`, `TransitionConfig`, a guided rule such as
    `GuidedDispense`, or None for the baseline); DEFAULT is the profile's where one applies, else
    the model's own, as `enable_sra` or `from_model_id` set it."""
    profile: Any = SHIPPED
    """The model's measured RAG setting (`sra_rag.rag.profile`): "shipped" (the package's profile
    for this model's weights, if one ships), a `RagProfile`, its JSON file, or None. Once built,
    the `RagProfile` that applies (or None): its attention setting is the default `sra`, and
    `stuff_passages(prompt, profile=chat.profile)` keeps and orders the passages as it says."""

    _generator: Generator = PrivateAttr()

    @field_validator("sra")
    @classmethod
    def _check_sra(cls, sra: Any) -> Any:
        return check_setting(sra)

    @field_serializer("sra")
    def _serialize_sra(self, sra: Any) -> dict[str, Any] | str | None:
        return describe_setting(sra)

    @field_serializer("profile")
    def _serialize_profile(self, profile: Any) -> dict[str, Any] | str | None:
        return profile.describe() if isinstance(profile, RagProfile) else profile

    @model_validator(mode="after")
    def _start(self) -> SRAModelBase:
        if not self.model_name:
            source = str(getattr(self.model.config, "name_or_path", "") or type(self.model).__name__)
            self.model_name = Path(source).name if Path(source).is_dir() else source
        self._generator = Generator(self.model, self.tokenizer)
        self.profile = resolve_profile(self.profile, self.model)
        if self.sra is DEFAULT and self.profile is not None:
            self.sra = self.profile.sra  # measured with the profile's passages: applied with them
        warn_if_without_sra(type(self).__name__, self.model, self.sra)
        return self

    @classmethod
    def from_model_id(
        cls,
        model_id: str | os.PathLike[str] | None = None,
        *,
        sra: Setting | None = DEFAULT,
        dtype: torch.dtype | str = "auto",
        device: str | torch.device | None = None,
        device_map: str | dict[str, Any] | None = None,
        trust_remote_code: bool = False,
        model_kwargs: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Self:
        """Load with `sra_rag.models.load_model` (None: the bundled SmolLM2-135M-Instruct) and wrap it.

        `sra` becomes every call's setting (None: the stock model); DEFAULT is the shipped
        profile's where one applies to the model's weights, else the paper's. `dtype`, `device`,
        `device_map` and `model_kwargs` (`quantization_config`, ...) load as transformers does,
        and a dispatched model is never moved; `fields` are this class's other fields (`profile`
        among them).
        """
        check_known(cls.__name__, fields, set(cls.model_fields) - {"model", "tokenizer"})  # before loading
        model, tokenizer = load_model(
            model_id,
            sra=PAPER if sra is DEFAULT else sra,
            dtype=dtype,
            device=device,
            device_map=device_map,
            trust_remote_code=trust_remote_code,
            **dict(model_kwargs or {}),
        )
        fields.setdefault("model_name", BUNDLED_MODEL_NAME if model_id is None else str(model_id))
        # a setting asked for is the field's (a baseline is then not warned of); DEFAULT is left to
        # the profile, else the model, which carries the paper's
        return cls(model=model, tokenizer=tokenizer, sra=sra, **fields)

    @property
    def generator(self) -> Generator:
        return self._generator

    def _options(self, stop: list[str] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """`Generator.stream` options for one call: fields as defaults, call kwargs override."""
        unknown = sorted(set(kwargs) - set(CALL_OPTIONS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unsupported call option(s) {unknown}; "
                f"supported: {list(CALL_OPTIONS)} (one local model per instance: no per-call `model`)"
            )
        sra = check_setting(kwargs.get("sra", self.sra))
        return {
            "max_new_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "top_p": kwargs.get("top_p", self.top_p),
            "stop": list(stop if stop is not None else self.stop or []),
            "sra": sra,
            "diagnostics": kwargs.get("diagnostics", self.diagnostics),
            "passages": None if kwargs.get("passages") is None else to_passages(kwargs["passages"]),
            "question": kwargs.get("question"),
            "json_schema": kwargs.get("json_schema"),
        }

    def get_token_ids(self, text: str) -> list[int]:
        """The model's own token ids for `text` (no special tokens); LangChain's default would
        download GPT-2's tokenizer and count differently."""
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _metadata(self, stream: GenerationStream) -> dict[str, Any]:
        """Response metadata of a finished call: model, finish reason, the SRA setting the generation
        ran with (`stream.sra`) and what it did."""
        return {
            "model_name": self.model_name,
            "finish_reason": stream.finish_reason,
            "sra": describe_setting(stream.sra),
            "sra_diagnostics": stream.diagnostics,
        }

    @staticmethod
    def _usage(stream: GenerationStream) -> UsageMetadata:
        usage = stream.usage
        assert usage is not None, "usage is set once the stream is exhausted"
        return UsageMetadata(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
        )

    @property
    def _identifying_params(self) -> dict[str, Any]:
        sra = self.generator.sra_in_force(self.sra)
        return {
            "model_name": self.model_name,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": self.stop,
            "sra": describe_setting(sra),
        }

    def _ls_params(self, stop: list[str] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """LangSmith's standard tracing parameters, honouring per-call values."""
        params: dict[str, Any] = {
            "ls_provider": "sra",
            # A per-call `model` is refused by `_options`, but LangChain traces a call (and its
            # standard test_standard_params_model_override asks) before that: report what was asked.
            "ls_model_name": kwargs["model"] if isinstance(kwargs.get("model"), str) else self.model_name,
            "ls_temperature": kwargs.get("temperature", self.temperature),
            "ls_max_tokens": kwargs.get("max_tokens", self.max_tokens),
        }
        stops = stop if stop is not None else self.stop
        if stops:
            params["ls_stop"] = list(stops)
        return params
