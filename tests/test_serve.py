"""The RAG deployment on Ray Serve: its arguments, its replies, and two replicas under load with one
stopped mid-load (the serving check, run in a network namespace where only loopback exists)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
from pydantic import ValidationError

from sra_rag.engine.config import config_to_json, preset
from sra_rag.eval.bench.serving import run_check
from sra_rag.generation import DEFAULT
from sra_rag.rag import RagPipeline, demo_questions
from sra_rag.serve import BadRequest, RagServeArgs, RagServer, parse_setting, reply

CHECK_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def server(demo_index) -> Iterator[RagServer]:
    folder, _, _ = demo_index
    threads = torch.get_num_threads()  # a replica sets its own: the rest of the session keeps ours
    yield RagServer.func_or_class(RagServeArgs(index=str(folder), max_new_tokens=12))
    torch.set_num_threads(threads)


def test_a_settings_text_form_names_default_none_a_preset_or_a_file(tmp_path):
    assert parse_setting("default") is DEFAULT
    assert parse_setting("none") is None
    assert parse_setting("paper") == preset("paper")
    (tmp_path / "mine.json").write_text(config_to_json(preset("transition")), encoding="utf-8")
    assert parse_setting(str(tmp_path / "mine.json")) == preset("transition")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sra": "papr"}, "no config file 'papr' and no preset of that name"),
        ({"profile": "missing.json"}, "missing.json"),
        ({"num_replicas": 0}, "greater than or equal to 1"),
        ({"dtype": "fp8"}, "dtype must be one of auto, float32, bfloat16, float16, got 'fp8'"),
        ({"replicas": 2}, "Extra inputs are not permitted"),
        ({"index": "no/such/index"}, "sra-rag index"),
        ({"order": "sideways"}, "sideways"),
        ({"prompt": "haiku"}, "haiku"),
        ({"device_map": "cuda"}, "device_map='cuda' needs num_gpus > 0"),
    ],
)
def test_bad_deployment_arguments_fail_before_any_replica_starts(demo_index, fields, message):
    folder, _, _ = demo_index
    with pytest.raises(ValidationError, match=message):
        RagServeArgs.model_validate({"index": str(folder), **fields})


def test_a_replica_answers_as_the_pipeline_does_in_process(server, demo_index):
    folder, _, _ = demo_index
    question = demo_questions()[0].question
    served = server.respond({"question": question})
    pipeline = RagPipeline.from_index(folder, max_new_tokens=12)
    answer = pipeline.ask(question)
    assert served["answer"] == answer.answer
    assert [s["source"] for s in served["sources"]] == [s.chunk.source for s in answer.sources]
    assert served["sra"] == (answer.sra.to_dict() if answer.sra else None)
    assert served["usage"] == {
        "input_tokens": answer.usage.input_tokens,
        "output_tokens": answer.usage.output_tokens,
    }
    assert served["replica"] == "in-process"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, '{"question": "<a question>"}'),
        ({"question": "  "}, '{"question": "<a question>"}'),
        ({"question": 3}, '{"question": "<a question>"}'),
        ({"question": "Who?", "keep": 3}, "unknown request fields ['keep']"),
    ],
)
def test_a_bad_body_is_refused_with_what_to_send(server, body, message):
    with pytest.raises(BadRequest, match=message.replace("[", r"\[").replace("?", r"\?")):
        server.respond(body)


class _Request:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    async def json(self):
        return json.loads(self.raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"{not json", "the request body must be JSON"), (b"[1, 2]", "must be a JSON object, got list")],
)
def test_a_body_that_is_not_a_json_object_is_a_400(raw, message):
    response = asyncio.run(reply(lambda body: body, _Request(raw)))
    assert response.status_code == 400
    assert message in json.loads(response.body)["error"]


def test_two_replicas_answer_concurrent_requests_as_in_process_and_lose_none_when_one_stops(tmp_path):
    options = ["--demo", "6", "--index", str(tmp_path / "index"), "--args", '{"max_new_tokens": 16}']
    figures, output = run_check([*options, "--timeout", "240"], tmp_path, CHECK_TIMEOUT_S)
    assert figures is not None, output
    assert figures["requests"] == 6 and figures["replicas"] == 2
    assert figures["unequal"] == [] and figures["answers_equal"] == 6
    assert figures["lost"] == 0
    assert figures["stopped_replica"]["held_requests"] == 1  # stopped while it answered one
    assert figures["retried"] >= 1  # the request it held failed, was sent again and answered
    assert figures["stopped_replica"]["actor"].startswith("SERVE_REPLICA::check#RagServer#")
    assert figures["replaced_after_s"] >= 0  # Serve brought the stopped one back


def test_the_check_needs_requests_left_when_a_replica_stops(tmp_path, capsys):
    from sra_rag.eval.bench.serving import main

    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text('{"question": "a"}\n{"question": "b"}\n', encoding="utf-8")
    with pytest.raises(SystemExit):
        main(
            ["--bodies", str(bodies), "--kill-after", "2", "--no-isolate", "--out", str(tmp_path / "f.json")]
        )
    assert "--kill-after must be in [1, 1]" in capsys.readouterr().err
    assert not (tmp_path / "f.json").exists()


def test_the_serving_check_is_a_module_with_help():
    run = subprocess.run(
        [sys.executable, "-m", "sra_rag.eval.bench.serving", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and "--kill-after" in run.stdout


def test_the_application_builder_checks_its_arguments(demo_index):
    from sra_rag.serve import rag_app

    folder, _, _ = demo_index
    with pytest.raises(ValidationError, match="no preset of that name"):
        rag_app({"index": str(folder), "sra": "papr"})
