"""The RAG benchmark: setting names, the dev choice, the pre-registered ship rule, and a smoke run
of both phases on the bundled model and retriever."""

import json

import pytest
from conftest import one_line_error

from sra_rag.cli import main
from sra_rag.eval.rag import settings as rag_settings
from sra_rag.eval.rag.run import check_plan, choose
from sra_rag.eval.rag.settings import RagSetting, parse, reported_settings
from sra_rag.eval.rag.ship_rule import RULE, apply_rule, targets


def test_setting_names_round_trip():
    for name in ["retrieved", "best_last+paper", "retrieved+top3", "long_context+fim_m0.5_t0.05+oracle"]:
        assert parse(name).name == name
    assert parse("best_last+paper") == RagSetting("best_last", None, "paper", "retriever")
    for bad, message in [
        ("best_first", "unknown order 'best_first'"),
        ("retrieved+paper2", "unknown part 'paper2'"),
        ("retrieved+paper+oracle", "oracle weights need a guided config"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse(bad)


def test_test_settings_cover_every_order_with_paper_and_guided():
    winners = {"dispense": "dispense_s1_t0.05", "fim": "fim_m1_t0.2", "pasta": "pasta_a0.7_top1"}
    names = reported_settings("best_last", {**winners, "best": "fim_m1_t0.2"})
    for order in ("retrieved", "best_last", "long_context"):
        assert {order, f"{order}+paper", f"{order}+dispense_s1_t0.05"} <= set(names)
    assert {"retrieved+top3", "retrieved+top5", "best_last+fim_m1_t0.2+oracle"} <= set(names)
    assert len(names) == len(set(names))
    assert all(parse(n) for n in names)


def _records(gains: dict[str, list[tuple[bool, float]]]) -> list[dict]:
    """Records of one split: per setting, (correct, gold log-prob) for prompts 0, 1, ..."""
    return [
        {
            "task": "rag",
            "split": "test",
            "target_tokens": 8,
            "index": i,
            "setting": name,
            "contains": hit,
            "logprob": lp,
        }
        for name, rows in gains.items()
        for i, (hit, lp) in enumerate(rows)
    ]


def _rows(correct: int, total: int, logprob: float) -> list[tuple[bool, float]]:
    return [(i < correct, logprob) for i in range(total)]


def test_the_rule_ships_an_order_only_beyond_its_interval():
    base = _rows(4, 20, -3.0)
    strong = _records({"retrieved": base, "best_last": _rows(16, 20, -1.0)})
    weak = _records({"retrieved": base, "best_last": _rows(5, 20, -2.9)})
    candidates = {}
    assert apply_rule(strong, "retrieved", "best_last", candidates)["pipeline_default_order"] == "best_last"
    decision = apply_rule(weak, "retrieved", "best_last", candidates)
    assert decision["pipeline_default_order"] == "retrieved" and not decision["order"]["ships"]


def test_a_guided_rule_must_add_to_the_best_order_or_match_it_alone():
    base, order = _rows(4, 20, -3.0), _rows(14, 20, -1.0)
    records = _records(
        {
            "retrieved": base,
            "best_last": order,
            "retrieved+g": _rows(10, 20, -2.0),  # beats the baseline, but worse than the order alone
            "best_last+g": _rows(14, 20, -0.9),  # adds nothing on the order
            "retrieved+h": _rows(8, 20, -2.5),
            "best_last+h": _rows(20, 20, -0.5),  # beats the order alone
        }
    )
    decision = apply_rule(
        records,
        "retrieved",
        "best_last",
        {"g": ("retrieved+g", "best_last+g"), "h": ("retrieved+h", "best_last+h")},
    )
    assert not decision["judged"]["g"]["qualifies"] and decision["judged"]["h"]["qualifies"]
    assert decision["recommended_guided"] == {"rule": "h", "setting": "best_last+h"}


def test_on_the_baseline_order_a_rule_qualifies_by_beating_it():
    records = _records({"retrieved": _rows(4, 20, -3.0), "retrieved+g": _rows(16, 20, -2.5)})
    decision = apply_rule(records, "retrieved", "retrieved", {"g": ("retrieved+g", "retrieved+g")})
    assert decision["judged"]["g"]["qualifies"]  # (b): beats the chosen order, here the baseline


def test_a_combination_that_beats_a_weak_order_must_not_be_worse_than_the_baseline():
    records = _records(
        {
            "retrieved": _rows(12, 20, -2.0),
            "best_last": _rows(2, 20, -3.0),  # chosen on dev, far worse on test
            "retrieved+h": _rows(3, 20, -3.0),
            "best_last+h": _rows(9, 20, -2.5),  # beats the order alone, yet loses to the baseline
        }
    )
    decision = apply_rule(records, "retrieved", "best_last", {"h": ("retrieved+h", "best_last+h")})
    judged = decision["judged"]["h"]
    assert judged["combined_vs_order"]["accuracy"]["low"] > 0
    assert judged["combined_vs_baseline"]["accuracy"]["mean"] < 0
    assert not judged["qualifies"] and decision["recommended_guided"] is None


def test_the_test_phase_runs_only_the_plan_the_code_still_has():
    plan = {"rule": RULE, "configs": rag_settings.config_dicts()}
    check_plan(plan)
    with pytest.raises(ValueError, match="ship rule differs"):
        check_plan({**plan, "rule": {**RULE, "guided": "anything qualifies"}})
    edited = {**plan["configs"], "pasta_a0.7_top3": {**plan["configs"]["pasta_a0.7_top3"], "scale": 0.5}}
    with pytest.raises(ValueError, match=r"differ from the code's for \['pasta_a0.7_top3'\]"):
        check_plan({**plan, "configs": edited})
    with pytest.raises(ValueError, match="differ from the code's"):
        check_plan({"rule": RULE})  # a plan from before configurations were recorded


def test_targets_are_reported_per_cell():
    base = {"8": {"accuracy": {"rate": 0.3}}, "16": {"accuracy": {"rate": 0.7}}}
    order = {k: {"vs_retrieved": {"accuracy": {"mean": g}}} for k, g in (("8", 0.15), ("16", -0.05))}
    goals = targets({"retrieved": base, "best_last": order}, "retrieved", "best_last")
    assert goals["order_plus_10_where_baseline_below_60"] == {
        "8": {"baseline": 0.3, "gain": 0.15, "met": True}
    }
    assert goals["worst_cell_vs_baseline"]["best_last"] == {"gain": -0.05, "met": False}


def test_dev_choice_picks_the_order_then_the_best_candidate_on_it():
    dev = _rows(4, 6, -3.0)
    names = {"retrieved": dev, "best_last": _rows(4, 6, -1.0), "long_context": _rows(4, 6, -2.0)}
    for name in rag_settings.CONFIGS:
        names[f"best_last+{name}"] = _rows(4, 6, -1.0 + (0.5 if name == "fim_m0.5_t0.2" else 0.0))
    choice = choose([{**r, "split": "dev"} for r in _records(names)])
    assert choice["order"] == "best_last"
    assert choice["winners"]["fim"] == "fim_m0.5_t0.2" and choice["winners"]["best"] == "fim_m0.5_t0.2"


def test_test_phase_needs_a_committed_plan(tmp_path, capsys):
    argv = ["rag-eval", "--phase", "test", "--preset", "smoke", "--out-dir", str(tmp_path)]
    assert main(argv) == 2
    assert "run --phase dev first, and commit the plan" in capsys.readouterr().err
    (tmp_path / "rag_smollm2_135m_instruct_smoke_plan.json").write_text("{}")
    assert main(argv) == 2
    assert "is not committed as it is: commit it before the test phase" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_run_writes_the_plan_then_the_report(tmp_path, capsys):
    assert (
        main(["rag-eval", "--phase", "all", "--preset", "smoke", "--out-dir", str(tmp_path), "--quiet"]) == 0
    )
    plan = json.loads((tmp_path / "rag_smollm2_135m_instruct_smoke_plan.json").read_text())
    report = json.loads((tmp_path / "rag_smollm2_135m_instruct_smoke.json").read_text())
    assert plan["rule"] == report["rule"] and plan["test_settings"] == report["test_settings"]
    assert set(report["test"]["answers"]) == set(plan["test_settings"])
    records = [r for r in report["records"] if r["task"] == "rag"]
    assert {r["split"] for r in records} == {"dev", "test"}
    assert all(r["gold_rank"] is None or 1 <= r["gold_rank"] <= r["passages"] for r in records)
    assert all(r["cell_gold_rank"] is None or r["cell_gold_rank"] <= r["target_tokens"] for r in records)
    assert "targets" in report["test"] and report["plan_commit"] is None  # a temporary folder: no git
    guided = [r for r in records if parse(r["setting"]).guided]
    assert guided and all(r["redistributed_mass"] > 0 for r in guided), "guided settings must act"
    assert all(r["redistributed_mass"] == 0 for r in records if parse(r["setting"]).config is None)
    assert "perplexity" in report["test"] and (tmp_path / "rag_smollm2_135m_instruct_smoke.png").is_file()
    assert "order chosen on dev:" in capsys.readouterr().out
    assert not (tmp_path / "rag_smollm2_135m_instruct_smoke.partial.jsonl").exists()


def test_the_plan_guard_reads_the_plans_own_git_repository(tmp_path, capsys):
    """A committed plan is never planned over (dev or all), and a plan edited after its commit is
    not run (test), whichever folder the command runs from."""
    import subprocess

    from sra_rag.eval.rag.command import last_commit, paths
    from sra_rag.models import BUNDLED_MODEL_NAME

    def git(*args: str) -> str:
        command = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    plan = paths(tmp_path, BUNDLED_MODEL_NAME, "full")["plan"]
    plan.write_text('{"rule": "as written"}\n')
    assert last_commit(plan) is None  # untracked
    assert main(["rag-eval", "--phase", "test", "--out-dir", str(tmp_path)]) == 2
    one_line_error(capsys, "is not committed as it is")
    git("add", plan.name)
    git("commit", "-q", "-m", "plan")
    assert last_commit(plan) == git("rev-parse", "HEAD")
    for phase in ("dev", "all"):
        assert main(["rag-eval", "--phase", phase, "--out-dir", str(tmp_path)]) == 2
        one_line_error(capsys, "is committed: remove it (git rm) to plan again")
    plan.write_text('{"rule": "changed after the test split was read"}\n')
    assert last_commit(plan) is None
    assert main(["rag-eval", "--phase", "test", "--out-dir", str(tmp_path)]) == 2
    one_line_error(capsys, "is not committed as it is")
