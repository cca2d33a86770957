"""Serve `ChatSRA` behind an HTTP route on Ray Serve, each replica loading its own model.

A replica runs this package's own code, so it answers exactly as `ChatSRA.invoke` does in-process.
Install with `pip install "langchain-sra[serve]"`, then:

    serve run langchain_sra.serve:chat_app num_replicas=2

and POST {"messages": [{"role": "user", "content": "..."}]} to http://127.0.0.1:8000/ (with, as
call options, "max_tokens", "temperature", "top_p", "stop", "passages", "question",
"json_schema", and "tools" with "tool_choice"). sra-rag's docs/serving.md covers clusters and GPUs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.messages import convert_to_messages
from pydantic import Field

# Ray's names through sra_rag.serve: without Ray installed, its import error says what to install
from sra_rag.serve import Application, BadRequest, ReplicaArgs, bind, replica_name, reply, serve

from ._base import CALL_OPTIONS
from .chat_models import ChatSRA

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import JSONResponse

REQUEST_OPTIONS = (*(o for o in CALL_OPTIONS if o not in ("sra", "diagnostics")), "stop")
"""Body fields passed to `ChatSRA.invoke` as they are, besides "messages", "tools" and "tool_choice":
its call options and `stop`, but for `sra` (a replica runs its deployment's setting) and
`diagnostics` (a device sync per step, not for a served call)."""


class ChatServeArgs(ReplicaArgs):
    """The chat deployment: `ReplicaArgs`, and the most new tokens a reply may have by default."""

    max_tokens: int = Field(default=256, ge=1)


@serve.deployment
class ChatServer:
    """POST {"messages": [...], ...call options}: the reply's text, tool calls, usage and metadata."""

    Args: ClassVar[type[ReplicaArgs]] = ChatServeArgs

    @staticmethod
    def body_for(question: str) -> dict[str, Any]:
        """The request body that asks `question` in one user message."""
        return {"messages": [{"role": "user", "content": question}]}

    def __init__(self, args: ChatServeArgs) -> None:
        args.start_replica()
        self.chat = ChatSRA.from_model_id(
            args.model,
            sra=args.setting(),
            profile=args.rag_profile(),
            max_tokens=args.max_tokens,
            **args.load_kwargs(),
        )

    def respond(self, body: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(body) - {"messages", "tools", "tool_choice", *REQUEST_OPTIONS})
        if unknown:
            raise BadRequest(f"unknown request fields {unknown}: send messages and {list(REQUEST_OPTIONS)}")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise BadRequest('the request body must be {"messages": [{"role": "user", "content": "..."}]}')
        try:
            messages = convert_to_messages(body["messages"])
            model = self.chat
            if "tools" in body:
                model = model.bind_tools(body["tools"], tool_choice=body.get("tool_choice"))
            options = {k: body[k] for k in REQUEST_OPTIONS if k in body}
            message = model.invoke(messages, **options)
        except (TypeError, ValueError, NotImplementedError) as error:  # what the model refuses to take
            raise BadRequest(str(error)) from error
        return {
            "content": message.content,
            "tool_calls": message.tool_calls,
            "usage": message.usage_metadata,
            "response_metadata": message.response_metadata,
            "replica": replica_name(),
        }

    async def __call__(self, request: Request) -> JSONResponse:
        return await reply(self.respond, request)


def chat_app(args: ChatServeArgs | dict[str, Any]) -> Application:
    """The chat application (`serve run langchain_sra.serve:chat_app num_replicas=2`)."""
    return bind(ChatServer, ChatServeArgs.model_validate(args))
