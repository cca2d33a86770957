"""The rankers' gate: candidate readers of passage attention, their fit, fusion and the run."""

import json

import torch

from sra_rag.eval.rag import ranker_run
from sra_rag.eval.rag.rankers import (
    RRF_K,
    Candidate,
    candidates,
    fit,
    fuse,
    gold_ranks,
    ranks_from_scores,
    reciprocal,
)

LAYERS, HEADS, GROUPS, PASSAGES = 8, 4, 2, 5


def _attention(samples: int, gold: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise everywhere, a slot bias shared by every sample (what a position prior removes), and the
    gold passage lifted only in layer 5, last row, key/value group 1."""
    g = torch.Generator().manual_seed(seed)
    attention = torch.rand(samples, LAYERS, 2, HEADS, PASSAGES, generator=g) * 0.1
    attention[..., 0] += 0.5  # the first slot draws attention whatever it holds
    for i, slot in enumerate(gold):
        attention[i, 5, 1, 2:4, slot] += 0.3
    free = torch.rand(samples, LAYERS, 2, HEADS, PASSAGES, generator=g) * 0.1
    return attention, free


def test_ranks_break_ties_toward_the_retrievers_order():
    assert ranks_from_scores(torch.tensor([0.2, 0.5, 0.5, 0.1])).tolist() == [3, 1, 2, 4]
    assert gold_ranks(torch.tensor([[0.2, 0.5, 0.5, 0.1]] * 2), [2, None]) == [2, None]
    assert reciprocal([2, None, 1]) == [0.5, 0.0, 1.0]


def test_fusion_adds_reciprocal_ranks_of_both_orders():
    fused = fuse(torch.tensor([3, 1, 2]))
    expected = [1 / (RRF_K + a) + 1 / (RRF_K + r) for a, r in ((3, 1), (1, 2), (2, 3))]
    torch.testing.assert_close(fused, torch.tensor(expected, dtype=torch.float64))
    assert int(fused.argmax()) == 1  # attention's first beats the retriever's first here


def test_a_candidate_reads_its_rows_layers_and_heads():
    attention = torch.zeros(LAYERS, 2, HEADS, PASSAGES, dtype=torch.float64)
    attention[3, 1, 2, 4] = 1.0  # layer 3, last row, head 2 (group 1), passage 4
    last = Candidate("last", 2, 4, 1, "none").raw(attention, GROUPS)
    assert last.tolist() == [0, 0, 0, 0, 1 / 6]  # mean over 3 layers and the group's 2 heads
    assert Candidate("question", 2, 4, 1, "none").raw(attention, GROUPS).sum() == 0
    assert Candidate("last", 2, 4, 0, "none").raw(attention, GROUPS).sum() == 0
    free = torch.full_like(attention, 0.5)
    calibrated = Candidate("last", 3, 3, None, "content_free").scores(attention, free, None, GROUPS)
    assert calibrated.tolist() == [-0.5, -0.5, -0.5, -0.5, -0.25]


def test_the_pool_has_every_band_rows_heads_and_calibration_once():
    pool = candidates(LAYERS, GROUPS)
    assert len(pool) == len(set(pool))
    assert {c.rows for c in pool} == {"question", "last"}
    assert {c.head_group for c in pool} == {None, 0, 1}
    assert {c.calibration for c in pool} == {"none", "content_free", "position_prior"}
    assert Candidate("question", 1, LAYERS - 2, None, "none") in pool


def test_fit_finds_the_planted_signal_and_its_prior_removes_the_slot_bias():
    gold = [i % PASSAGES for i in range(20)]
    attention, free = _attention(20, gold)
    fitted = fit(candidates(LAYERS, GROUPS), attention, free, gold, GROUPS, fused=False)
    assert fitted.candidate.rows == "last"
    assert fitted.candidate.first_layer <= 5 <= fitted.candidate.last_layer
    assert fitted.candidate.head_group in (None, 1)
    new_gold = [(i + 2) % PASSAGES for i in range(10)]
    held, held_free = _attention(10, new_gold, seed=1)
    ranks = gold_ranks(fitted.scores(held, held_free, GROUPS), new_gold)
    assert ranks == [1] * 10, ranks
    raw = Candidate("question", 0, LAYERS - 1, None, "none")  # the slot bias wins without a prior
    assert gold_ranks(raw.scores(held, held_free, None, GROUPS), new_gold) != [1] * 10


def test_cross_fitting_scores_each_half_with_the_other_halfs_choice():
    gold = [i % PASSAGES for i in range(12)]
    attention, free = _attention(12, gold)
    fitted = ranker_run.cross_fit(attention, free, gold, GROUPS)
    for name in ("attention", "fused"):
        assert fitted[name]["scores"].shape == (12, PASSAGES)
        assert len(fitted[name]["chosen"]) == 2
    assert gold_ranks(fitted["attention"]["scores"], gold) == [1] * 12


def test_a_small_run_on_the_bundled_model_reports_rankers_answers_and_the_gate(smollm2, tmp_path):
    from sra_rag.generation import Generator
    from sra_rag.rag.embedding import Embedder

    model, tokenizer = smollm2
    report = ranker_run.run(
        Generator(model, tokenizer),
        Embedder(),
        samples=4,
        k=3,
        keep=1,
        style="chat",
        checkpoint=tmp_path / "run.partial.jsonl",
        max_new_tokens=4,
        progress=False,
    )
    assert set(report["ranking"]) == {"retriever", "attention", "fused"}
    assert set(report["answers"]) == {"retriever_top3", "retriever_top1", "attention_top1", "fused_top1"}
    assert report["answers"]["retriever_top1"]["accuracy"]["n"] == 4
    assert set(report["gate"]) == {"attention", "fused"} and report["gate_rule"] == ranker_run.GATE
    records = (tmp_path / "run.partial.jsonl").read_text().splitlines()
    assert len(records) == 1 + 4 + 4 * 4  # fingerprint, attention per question, 4 answers each
    attention = json.loads(records[1])["attention"]
    assert len(attention) == model.config.num_hidden_layers and len(attention[0][0][0]) == 3
