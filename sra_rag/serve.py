"""Serve the RAG pipeline behind an HTTP route on Ray Serve, each replica loading its own model.

No serving engine (vLLM, SGLang) runs a custom post-softmax attention function unchanged, while a
Ray Serve replica runs this library's own code: a replica answers exactly as `RagPipeline.ask`
does in-process. Install with `pip install "sra-rag[serve]"`, then, for two replicas on this
machine (docs/serving.md: a config file, a cluster, GPU replicas):

    serve run sra_rag.serve:rag_app index=./index num_replicas=2

and POST {"question": "..."} to http://127.0.0.1:8000/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

try:
    from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
    from ray import serve
    from ray.serve import Application
    from ray.serve.exceptions import RayServeException
    from starlette.requests import Request
    from starlette.responses import JSONResponse
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError('sra_rag.serve needs Ray Serve: pip install "sra-rag[serve]"') from error

from .cli_options import DTYPES
from .engine.config import load_config
from .generation import DEFAULT, ContextWindowError, describe_setting
from .rag.order import check_order
from .rag.profile import NO_PROFILE, SHIPPED, RagProfile, resolve_profile
from .rag.prompt_layout import check_layout

VOLATILE_FIELDS = ("seconds", "replica")
"""Response fields that differ between two runs of the same request; every other field is the
answer, equal to the in-process one (the serving check compares them)."""


def _as_value_error(check: Callable[[str], Any], value: str) -> None:
    """`check(value)`, its missing-file error raised as the ValueError pydantic reports in one line."""
    try:
        check(value)
    except OSError as error:
        raise ValueError(str(error)) from error


def parse_setting(name: str) -> Any:
    """A replica's attention setting from its text form: "default" (the profile's where one
    applies, else the paper's), "none" (stock attention), a preset name or a setting's JSON file."""
    if name == "default":
        return DEFAULT
    return None if name == "none" else load_config(name)


class ReplicaArgs(BaseModel):
    """How many replicas, and what each one holds; the fields every sra-rag deployment shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    """The model each replica loads (None: the bundled SmolLM2-135M-Instruct)."""
    sra: str = "default"
    """`parse_setting`'s forms: "default", "none", a preset name or a setting's JSON file."""
    profile: str = SHIPPED
    """"shipped" (the package's profile for the model's weights, if one ships), "none", or a file."""
    dtype: str = "auto"
    """The weights' dtype: "auto" (the checkpoint's), "float32", "bfloat16" or "float16"."""
    device_map: str | None = None
    """Where each replica loads its weights ("cuda", "auto"); a GPU replica also needs num_gpus."""
    num_replicas: int = Field(default=1, ge=1)
    num_cpus: float = Field(default=1.0, gt=0)
    """CPUs reserved per replica: Ray places replicas by it."""
    num_gpus: float = Field(default=0.0, ge=0)
    """GPUs per replica (a fraction shares one card between replicas)."""
    threads: int | None = Field(default=None, ge=1)
    """torch threads per replica (None: as many as its CPUs, at least 1)."""

    @field_validator("sra")
    @classmethod
    def _check_sra(cls, sra: str) -> str:
        _as_value_error(parse_setting, sra)  # a missing file or an unknown preset fails before any replica
        return sra

    @field_validator("dtype")
    @classmethod
    def _check_dtype(cls, dtype: str) -> str:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        return dtype

    @model_validator(mode="after")
    def _check_placement(self) -> ReplicaArgs:
        if self.device_map not in (None, "cpu") and self.num_gpus == 0:
            raise ValueError(
                f"device_map={self.device_map!r} needs num_gpus > 0: Ray gives a replica a GPU only if asked"
            )
        return self

    @field_validator("profile")
    @classmethod
    def _check_profile(cls, profile: str) -> str:
        if profile not in (SHIPPED, NO_PROFILE):
            _as_value_error(resolve_profile, profile)
        return profile

    def setting(self) -> Any:
        return parse_setting(self.sra)

    def rag_profile(self) -> RagProfile | str | None:
        return None if self.profile == NO_PROFILE else self.profile

    def load_kwargs(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "device_map": self.device_map}

    def deployment_options(self) -> dict[str, Any]:
        """Ray Serve's options: one request at a time per replica (a replica's model runs one
        forward pass at a time, so more would only queue inside it; Serve queues them instead
        and hands each to a free replica)."""
        return {
            "num_replicas": self.num_replicas,
            "max_ongoing_requests": 1,
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
        }

    def start_replica(self) -> None:
        """What every replica does before loading: its torch threads."""
        import torch

        torch.set_num_threads(self.threads or max(1, int(self.num_cpus)))


class RagServeArgs(ReplicaArgs):
    """The RAG deployment: an index, and the pipeline's options (None: the profile's or the defaults)."""

    index: str
    keep: int | None = Field(default=None, ge=1)
    order: str | None = None
    prompt: str | None = None
    max_new_tokens: int = Field(default=48, ge=1)

    @field_validator("order", "prompt")
    @classmethod
    def _check_choice(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            {"order": check_order, "prompt": check_layout}[info.field_name](value)
        return value

    @field_validator("index")
    @classmethod
    def _check_index(cls, index: str) -> str:
        from .rag.store import load_index

        _as_value_error(load_index, index)  # a missing or damaged index fails here, not in every replica
        return index


class BadRequest(ValueError):
    """A request body the deployment cannot answer; its message is the 400 reply."""


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or BadRequest."""
    try:
        body = await request.json()
    except ValueError as error:
        raise BadRequest(f"the request body must be JSON: {error}") from error
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


async def reply(respond: Any, request: Request) -> JSONResponse:
    """`respond(body)` on the request's body, in a worker thread so the replica's event loop keeps
    answering Serve's health checks during a long generation; a bad body is a 400."""
    try:
        body = await read_body(request)
        return JSONResponse(await asyncio.to_thread(respond, body))
    except BadRequest as error:
        return JSONResponse({"error": str(error)}, status_code=400)


def replica_name() -> str:
    """This replica's id (in a response, so a client can tell which replica answered)."""
    try:
        return serve.get_replica_context().replica_id.unique_id
    except RayServeException:  # in-process, outside Serve
        return "in-process"


@serve.deployment
class RagServer:
    """POST {"question": "..."}: the pipeline's answer, its sources and its setting."""

    Args: ClassVar[type[ReplicaArgs]] = RagServeArgs

    @staticmethod
    def body_for(question: str) -> dict[str, Any]:
        """The request body that asks `question`."""
        return {"question": question}

    def __init__(self, args: RagServeArgs) -> None:
        from .rag.pipeline import RagPipeline

        args.start_replica()
        options = {"keep": args.keep, "order": args.order, "prompt": args.prompt}
        self.pipeline = RagPipeline.from_index(
            args.index,
            args.model,
            sra=args.setting(),
            load_kwargs=args.load_kwargs(),
            profile=args.rag_profile(),
            max_new_tokens=args.max_new_tokens,
            **options,
        )

    def respond(self, body: dict[str, Any]) -> dict[str, Any]:
        question = body.get("question")
        if not isinstance(question, str) or not question.strip():
            raise BadRequest('the request body must be {"question": "<a question>"}')
        if set(body) != {"question"}:
            raise BadRequest(f"unknown request fields {sorted(set(body) - {'question'})}: send question only")
        try:
            answer = self.pipeline.ask(question)
        except ContextWindowError as error:  # the question and its sources do not fit the model
            raise BadRequest(str(error)) from error
        return {
            "answer": answer.answer,
            "sources": [
                {"number": s.number, "source": s.chunk.source, "chunk": s.chunk.index, "rank": s.rank}
                for s in answer.sources
            ],
            "sra": describe_setting(answer.sra),
            "usage": {"input_tokens": answer.usage.input_tokens, "output_tokens": answer.usage.output_tokens},
            "seconds": answer.seconds,
            "replica": replica_name(),
        }

    async def __call__(self, request: Request) -> JSONResponse:
        return await reply(self.respond, request)


def bind(deployment: Any, args: ReplicaArgs) -> Application:
    """`deployment` with `args`' replica options, bound to `args`."""
    return deployment.options(**args.deployment_options()).bind(args)


def rag_app(args: RagServeArgs | dict[str, Any]) -> Application:
    """The RAG application (`serve run sra_rag.serve:rag_app index=... num_replicas=2`)."""
    return bind(RagServer, RagServeArgs.model_validate(args))
