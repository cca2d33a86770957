"""Profiles: `sra-rag calibrate`'s candidates, its dev choice and ship rule as written, the profile
file, and a calibration of a model other than the bundled one whose profile loads in the pipeline
and in both adapters."""

import json
import logging

import pytest
import torch
import transformers
from conftest import one_line_error

from sra_rag.cli import main
from sra_rag.eval.rag.calibrate import candidates, reference, setting_of, table
from sra_rag.eval.rag.presets import CALIBRATION_PRESETS
from sra_rag.eval.rag.profile_rule import choose, ships
from sra_rag.eval.rag.profile_verdict import alternatives, check_profile
from sra_rag.eval.rag.settings import parse
from sra_rag.eval.stats import mcnemar
from sra_rag.generation import Generator
from sra_rag.rag import RagPipeline
from sra_rag.rag.profile import RagProfile, passage_setting, resolve_profile, same_model, shipped_profile

FULL = CALIBRATION_PRESETS["full"]


def test_candidates_run_each_arrangement_once_and_name_benchmark_settings():
    names = candidates(FULL)
    assert names[:3] == ["retrieved+top1", "retrieved+top2", "best_last+top2"]  # one passage: one order
    assert {"retrieved", "best_last", "long_context", "long_context+top3"} <= set(names)
    assert len(names) == len(set(names)) == 1 + 2 + 3 * 4
    assert reference(FULL) == "retrieved" and reference(FULL) in names
    assert all(parse(n) for n in names + alternatives(FULL))
    assert setting_of("long_context+top5", FULL) == (5, "long_context")
    assert setting_of("best_last", FULL) == (16, "best_last")
    assert alternatives(FULL) == [
        "retrieved+top8",
        "long_context+top8",
        "retrieved+top3",
        "retrieved+top5",
        "retrieved+gold",
    ]


def _records(rows: dict[str, list[tuple[bool, float]]]) -> list[dict]:
    return [
        {"task": "rag", "split": "dev", "target_tokens": 16, "index": i, "setting": name, "contains": c,
         "logprob": lp, "prompt_tokens": 100}
        for name, values in rows.items()
        for i, (c, lp) in enumerate(values)
    ]  # fmt: skip


def test_the_choice_is_the_largest_log_prob_gain_that_keeps_accuracy():
    ref = [(True, -2.0), (False, -3.0), (False, -3.0), (True, -1.0)]
    rows = table(
        _records(
            {
                "retrieved": ref,
                "retrieved+top3": [(True, -1.0), (False, -2.0), (True, -2.0), (True, -1.0)],  # +0.75
                "retrieved+top1": [
                    (False, 0.0),
                    (False, 0.0),
                    (False, 0.0),
                    (False, 0.0),
                ],  # +2.25, fewer right
                "best_last+top2": [(True, -1.5), (False, -2.5), (False, -3.0), (True, -1.0)],  # +0.25
            }
        ),
        ["retrieved", "retrieved+top3", "retrieved+top1", "best_last+top2"],
        "retrieved",
    )
    assert choose(rows, "retrieved") == "retrieved+top3"
    del rows["retrieved+top3"], rows["best_last+top2"]
    assert choose(rows, "retrieved") == "retrieved"  # nothing gains without losing answers
    assert rows["retrieved+top1"]["vs_retrieved"]["mcnemar_p"] == mcnemar(0, 2)


def _diff(acc: list[float], lp: float) -> dict:
    from sra_rag.eval.stats import mean_interval

    return {"accuracy": mean_interval(acc), "logprob": {"mean": lp}}


def test_a_profile_ships_only_beyond_its_interval_and_without_losing_log_prob():
    clear = [1.0] * 12 + [0.0] * 8
    assert ships("retrieved+top3", "retrieved", _diff(clear, 0.1))
    assert not ships("retrieved+top3", "retrieved", _diff(clear, -0.1))
    assert not ships("retrieved+top3", "retrieved", _diff([1.0, 0.0, -1.0, 1.0], 0.5))  # interval spans 0
    assert not ships("retrieved", "retrieved", _diff(clear, 0.1))  # the reference has nothing to ship


def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_pairs():
    assert mcnemar(0, 0) == 1.0 and mcnemar(5, 5) == 1.0
    assert mcnemar(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar(7, 2) == pytest.approx(2 * (1 + 9 + 36) / 512)


def test_profiles_round_trip_and_bad_ones_are_clear_errors(tmp_path):
    profile = RagProfile("SmolLM2-135M-Instruct", 3, "best_last", {"chosen": "best_last+top3"})
    profile.save(tmp_path / "p.json")
    loaded = RagProfile.load(tmp_path / "p.json")
    assert loaded == profile and loaded.calibration == {"chosen": "best_last+top3"}
    assert not list(tmp_path.glob("*.part"))
    for bad, message in [
        (lambda: RagProfile("m", 0, "retrieved"), "keep must be an integer >= 1"),
        (lambda: RagProfile("m", 3, "sideways"), "unknown passage order 'sideways'"),
        (lambda: RagProfile.from_dict({"model": "m", "keep": 3}), "not a profile: no ['order']"),
        (lambda: RagProfile.load(tmp_path / "none.json"), "sra-rag calibrate"),
        (lambda: resolve_profile(3), "profile must be a RagProfile"),
        (lambda: resolve_profile("shipped"), "needs the model"),
        (lambda: passage_setting(None, 0, None), "keep must be an integer >= 1"),
    ]:
        with pytest.raises((ValueError, TypeError, FileNotFoundError), match=message.replace("[", r"\[")):
            bad()
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="holds a list, not a profile"):
        RagProfile.load(tmp_path / "list.json")


def test_the_caller_wins_then_the_profile_then_the_defaults():
    profile = RagProfile("m", 3, "best_last")
    assert passage_setting(profile, None, None) == (3, "best_last")
    assert passage_setting(profile, 5, "long_context") == (5, "long_context")
    assert passage_setting(None, None, None) == (None, "retrieved")


def test_a_profile_is_matched_to_its_model_and_its_quantised_copies(caplog):
    assert same_model("SmolLM2-135M-Instruct", "/cache/models/SmolLM2-135M-Instruct.Q4_1-19ce049b4a1e")
    assert same_model("gemma-3-270m", "HuggingFaceTB/../gemma-3-270m")
    assert not same_model("SmolLM2-135M", "SmolLM2-1.7B-Instruct")
    assert shipped_profile("no-such-model") is None
    with caplog.at_level(logging.WARNING):
        resolve_profile(RagProfile("gemma-3-270m", 3, "retrieved"), "SmolLM2-135M-Instruct")
    assert "measured on gemma-3-270m, not SmolLM2-135M-Instruct" in caplog.text


def test_the_test_phase_refuses_a_profile_chosen_under_other_rules():
    made = {"choice_rule": "best accuracy", "ship_rule": {}, "preset": FULL.to_dict(), "candidates": []}
    with pytest.raises(ValueError, match="other rules"):
        check_profile(RagProfile("m", 3, "retrieved", made))


@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory, smollm2):
    """A model that is not the bundled one: two random llama layers behind SmolLM2's tokenizer."""
    _, tokenizer = smollm2
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("models") / "tiny-llama"
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_calibrate_another_model_and_load_its_profile_everywhere(
    small_model_dir, tmp_path, demo_index, capsys
):
    out = tmp_path / "profile.json"
    argv = ["calibrate", "--model", str(small_model_dir), "--preset", "smoke", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "tiny-llama, dev split: 2 questions" in printed and f"wrote {out}" in printed
    assert max(len(line) for line in printed.splitlines()[:-1]) <= 80  # the table; then the path
    made = json.loads(out.read_text())
    assert made["model"] == "tiny-llama"
    assert made["calibration"]["candidates"] == ["retrieved+top1", "retrieved", "best_last"]
    assert len(made["calibration"]["records"]) == 2 * 3
    assert not (tmp_path / "profile.partial.jsonl").exists()
    profile = RagProfile.load(out)
    assert (profile.keep, profile.order) == setting_of(
        made["calibration"]["chosen"], CALIBRATION_PRESETS["smoke"]
    )

    _, index, embedder = demo_index
    from sra_rag.eval.rag.samples import retrieve_samples
    from sra_rag.eval.records import record_key

    smoke = CALIBRATION_PRESETS["smoke"]
    samples = retrieve_samples(embedder, smoke.seed, "dev", smoke.retrieve, smoke.dev_questions)
    assert {record_key(r) for r in made["calibration"]["records"]} == {
        s.record_key(name) for s in samples for name in made["calibration"]["candidates"]
    }  # a resumed run skips exactly what it scored
    model = transformers.AutoModelForCausalLM.from_pretrained(small_model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(small_model_dir)
    pipeline = RagPipeline(index, embedder, Generator(model, tokenizer), profile=out)
    assert (pipeline.top_k, pipeline.order, pipeline.profile) == (profile.keep, profile.order, profile)
    assert RagPipeline(index, embedder, Generator(model, tokenizer), profile=out, top_k=4).top_k == 4

    from langchain_core.documents import Document
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_sra import stuff_passages
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.llms.sra import PassageReorder

    prompt = ChatPromptTemplate.from_messages([("human", "{context}\n\n{question}")])
    docs = [Document(page_content=f"passage {i}") for i in range(1, 4)]
    value = stuff_passages(prompt, profile=out).invoke({"context": docs, "question": "q?"})
    kept = [p["text"] for p in value.messages[-1].additional_kwargs["sra_passages"]]
    assert len(kept) == min(profile.keep, 3)
    nodes = [NodeWithScore(node=TextNode(text=f"node {i}"), score=1 / i) for i in range(1, 4)]
    reordered = PassageReorder(profile=out).postprocess_nodes(nodes)
    assert len(reordered) == min(profile.keep, 3)


def test_the_test_phase_needs_a_committed_profile(small_model_dir, tmp_path, capsys):
    out = tmp_path / "profile.json"
    RagProfile("tiny-llama", 1, "retrieved").save(out)
    assert main(["calibrate", "--model", str(small_model_dir), "--test", "--out", str(out)]) == 2
    one_line_error(capsys, "is not committed", "commit it before --test")
    assert main(["calibrate", "--ship", str(tmp_path), "--out", str(out)]) == 2
    one_line_error(capsys, "--ship copies a profile that passed the test phase: add --test")


def test_the_test_phase_judges_the_profile_and_ships_it_only_if_it_passes(small_model_dir, tmp_path, capsys):
    out, shipped = tmp_path / "profile.json", tmp_path / "shipped"
    base = ["calibrate", "--model", str(small_model_dir), "--preset", "smoke", "--out", str(out), "--quiet"]
    assert main(base) == 0
    assert main([*base, "--test", "--uncommitted-profile", "--ship", str(shipped)]) == 0
    report = json.loads((tmp_path / "profile_test.json").read_text())
    assert report["test"]["questions"] == 2 and report["profile_commit"] is None
    assert set(report["test"]["settings"]) == {report["reference"], report["chosen"], "retrieved+gold"}
    assert report["test"]["decision"]["ships"] is False  # two questions can prove nothing
    assert not shipped.exists()
    assert "does not ship" in capsys.readouterr().out


def test_a_calibration_resumes_from_its_checkpoint(tmp_path):
    from sra_rag.eval.rag.calibrate import fingerprint
    from sra_rag.eval.records import Checkpoint

    path = tmp_path / "profile.partial.jsonl"
    record = {"task": "rag", "split": "dev", "target_tokens": 16, "index": 0, "setting": "retrieved"}
    Checkpoint(path, fingerprint("m", "chat", FULL)).add(record)  # the preset's keeps are a tuple
    assert Checkpoint(path, fingerprint("m", "chat", FULL)).records == [record]
    assert Checkpoint(path, fingerprint("other", "chat", FULL)).records == []  # another run starts afresh


def test_calibrate_on_your_own_questions_over_your_index(demo_index, tmp_path, capsys):
    from sra_rag.rag import demo_questions

    folder, _, _ = demo_index
    questions = tmp_path / "questions.jsonl"
    asked = demo_questions()[:2]
    questions.write_text(
        "".join(json.dumps({"question": q.question, "answer": q.answer}) + "\n" for q in asked)
    )
    out = tmp_path / "profile.json"
    argv = [
        "calibrate",
        "--questions",
        str(questions),
        "--index",
        str(folder),
        "--preset",
        "smoke",
        "--out",
        str(out),
    ]
    assert main([*argv, "--quiet"]) == 0
    assert "SmolLM2-135M-Instruct, 2 of your questions" in capsys.readouterr().out
    made = RagProfile.load(out).calibration
    assert made["dev"]["questions"]["count"] == 2 and made["preset"]["max_new_tokens"] == 32
    records = made["records"]
    assert len(records) == 2 * 3 and {r["split"] for r in records} == {"own"}
    assert {r["passages"] for r in records} == {1, 2}
    assert {r["answer"] for r in records} == {q.answer for q in asked}


@pytest.mark.parametrize(
    "lines, message",
    [
        ([], "holds no questions"),
        (['{"question": "Who?"}'], "line 1 of"),
        (['{"question": "Who?", "answer": "Ilse"}', "not json"], "line 2 of"),
    ],
)
def test_a_bad_questions_file_is_a_clear_error_before_loading(tmp_path, capsys, lines, message):
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(lines))
    index = tmp_path / "no-index"
    assert main(["calibrate", "--questions", str(questions), "--index", str(index)]) == 2
    one_line_error(capsys, message)
    assert main(["calibrate", "--questions", str(questions)]) == 2
    one_line_error(capsys, "--questions and --index go together")


def test_gemmas_committed_profile_loads_in_the_pipeline_and_both_adapters(demo_index, smollm2, caplog):
    """The profile `make calibrate-gemma` wrote for Gemma 3 270M (a model other than the bundled
    default), as a user would load it; on SmolLM2 the pipeline says it was measured elsewhere."""
    from pathlib import Path

    from langchain_core.documents import Document
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_sra import stuff_passages
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.llms.sra import PassageReorder

    path = Path(__file__).parents[1] / "docs" / "results" / "profile_gemma_3_270m.json"
    profile = RagProfile.load(path)
    assert profile.model == "gemma-3-270m" and profile.calibration["preset"]["name"] == "full"
    _, index, embedder = demo_index
    with caplog.at_level(logging.WARNING):
        pipeline = RagPipeline(index, embedder, Generator(*smollm2), profile=path)
    assert (pipeline.top_k, pipeline.order) == (profile.keep, profile.order)
    assert "measured on gemma-3-270m" in caplog.text
    prompt = ChatPromptTemplate.from_messages([("human", "{context}\n\n{question}")])
    docs = [Document(page_content=f"passage {i}") for i in range(1, 17)]
    value = stuff_passages(prompt, profile=path).invoke({"context": docs, "question": "q?"})
    assert len(value.messages[-1].additional_kwargs["sra_passages"]) == profile.keep
    nodes = [NodeWithScore(node=TextNode(text=f"node {i}"), score=1 / i) for i in range(1, 17)]
    assert len(PassageReorder(profile=path).postprocess_nodes(nodes)) == profile.keep
