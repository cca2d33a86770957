"""ChatSRA on Ray Serve: its replies, its refusals, and two replicas under concurrent requests with
one stopped mid-load (sra-rag's serving check, in a network namespace where only loopback exists)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch
from langchain_sra import ChatSRA
from langchain_sra.serve import ChatServeArgs, ChatServer, chat_app
from pydantic import ValidationError

from sra_rag.eval.bench.serving import run_check
from sra_rag.serve import BadRequest

CHECK_TIMEOUT_S = 900
PASSAGES = [
    "The Petrel, the older of the island's two ferries, was built in 1974.",
    "The Harbour Street warehouse lease was signed by Ilse Marek in 2023.",
]
BODIES = [
    {"messages": [{"role": "user", "content": "Name a colour of the sky."}]},
    {"messages": [{"role": "user", "content": "What is two plus two?"}], "max_tokens": 8},
    {
        "messages": [
            {"role": "system", "content": "Answer from the passages."},
            {"role": "user", "content": "\n".join([*PASSAGES, "When was the Petrel built?"])},
        ],
        "passages": PASSAGES,
        "question": "When was the Petrel built?",
    },
    {"messages": [{"role": "user", "content": "Say hello in French."}], "stop": ["."]},
    {"messages": [{"role": "user", "content": "Name a large animal."}]},
    {"messages": [{"role": "user", "content": "What is the capital of Italy?"}]},
]


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    threads = torch.get_num_threads()  # a replica sets its own: the rest of the session keeps ours
    yield ChatServer.func_or_class(ChatServeArgs(max_tokens=12, profile="none"))
    torch.set_num_threads(threads)


def test_a_replica_replies_as_chat_sra_does_in_process(server):
    body = BODIES[2]
    served = server.respond(body)
    chat = ChatSRA.from_model_id(None, max_tokens=12, profile=None)
    message = chat.invoke(body["messages"], passages=body["passages"], question=body["question"])
    assert served["content"] == message.content
    assert served["usage"] == message.usage_metadata
    assert served["response_metadata"] == message.response_metadata
    assert served["tool_calls"] == [] and served["replica"] == "in-process"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, '{"messages": [{"role": "user"'),
        ({"messages": "hi"}, '{"messages": [{"role": "user"'),
        ({"messages": [{"role": "user", "content": "hi"}], "model": "x"}, "unknown request fields ['model']"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "wizard"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_new_tokens"),
        ({"messages": [{"role": "user", "content": "hi"}], "tools": []}, "chat template"),
    ],
)
def test_a_bad_body_is_refused_with_what_was_wrong(server, body, message):
    with pytest.raises(BadRequest) as refused:
        server.respond(body)
    assert message in str(refused.value)


def test_the_application_builder_checks_its_arguments():
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        chat_app({"max_tokens": 0})


def test_two_replicas_reply_to_concurrent_requests_as_in_process_and_lose_none_when_one_stops(tmp_path):
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text("".join(json.dumps(b) + "\n" for b in BODIES), encoding="utf-8")
    options = ["--deployment", "langchain_sra.serve:ChatServer", "--args", '{"max_tokens": 16}']
    figures, output = run_check(
        [*options, "--bodies", str(bodies), "--timeout", "240"], tmp_path, CHECK_TIMEOUT_S
    )
    assert figures is not None, output
    assert figures["requests"] == len(BODIES) and figures["replicas"] == 2
    assert figures["unequal"] == [] and figures["answers_equal"] == len(BODIES)
    assert figures["lost"] == 0
    assert figures["stopped_replica"]["held_requests"] == 1  # stopped while it answered one
    assert figures["retried"] >= 1  # the request it held failed, was sent again and answered
    assert figures["stopped_replica"]["actor"].startswith("SERVE_REPLICA::check#ChatServer#")
    assert figures["replaced_after_s"] >= 0  # Serve brought the stopped one back
