"""Retrieval-guided ReAttention: each rule against a naive per-row reference, the fast path against
the naive full-matrix path (padded batches included), and bad spans and configs refused."""

import math

import pytest
import torch
from conftest import ARCHITECTURES, PARITY_ATOL, PARITY_DTYPE, tiny_model

from sra_rag import (
    GuidedConfig,
    GuidedDispense,
    GuidedFim,
    GuidedPasta,
    PassageSpan,
    PromptSpans,
    config_from_dict,
    config_from_json,
    config_to_json,
    disable_sra,
    enable_sra,
    preset,
    record_diagnostics,
    use_spans,
)
from sra_rag.engine import attention
from sra_rag.engine.config import GUIDED_RULES
from sra_rag.engine.guided import passage_shares
from sra_rag.engine.passage import rank_weight, rank_weights
from sra_rag.engine.rules import reallocate
from sra_rag.engine.spans import PassageNotFoundError, locate_passages

RULES = {
    "dispense": GuidedDispense(strength=2.0, eliminate=0.5),
    "fim": GuidedFim(mix=0.7, temperature=0.5),
    "pasta": GuidedPasta(scale=0.3, top=2),
}
# passages [10, 40), [50, 90), [100, 150), [160, 175); the question from 180 of 200 tokens
SPANS = PromptSpans(
    tuple(
        PassageSpan(s, e, w, f"doc{i}")
        for i, (s, e, w) in enumerate([(10, 40, 0.3), (50, 90, 0.9), (100, 150, 0.5), (160, 175, 0.2)])
    ),
    question_start=180,
)


def _weights(n: int, heads: int = 3, seed: int = 0, sharpness: float = 4.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(1, heads, n, n, generator=g, dtype=torch.float64) * sharpness
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    return torch.softmax(scores.masked_fill(~causal, -math.inf), dim=-1)


def _reference(w: torch.Tensor, config: GuidedConfig, spans: PromptSpans, keep: torch.Tensor) -> torch.Tensor:
    """The rule written out row by row, passage by passage, from its docstring."""
    out = w.clone()
    n = w.shape[-1]
    passages = [(p.start, p.end) for p in spans.passages]
    shares = passage_shares(spans.weights, len(passages), getattr(config, "temperature", 1.0))
    for h in range(w.shape[1]):
        for i in range(spans.question_start, n):
            row = out[0, h, i]
            allowed = keep[i]
            if config.rule == "dispense":
                tau = config.eliminate / spans.question_start
                if not any(bool((row[s:e] > tau).any()) for s, e in passages):
                    continue
                row[row < tau] = 0.0
                remaining = 1.0 - float(row.sum())
                marks = [
                    torch.where(row[s:e] >= tau, config.gem_share, config.filler_share).double()
                    * allowed[s:e]
                    for s, e in passages
                ]
                seen = [shares[k] if float(marks[k].sum()) > 0 else 0.0 for k in range(len(passages))]
                for k, (s, e) in enumerate(passages):
                    if seen[k]:
                        share = seen[k] / sum(seen)
                        row[s:e] += config.strength * remaining * share * marks[k] / marks[k].sum()
            elif config.rule == "fim":
                masses = [float(row[s:e].sum()) for s, e in passages]
                total = sum(masses)
                seen = [shares[k] if masses[k] > 0 else 0.0 for k in range(len(passages))]
                for k, (s, e) in enumerate(passages):
                    if masses[k] > 0:
                        target = total * seen[k] / sum(seen)
                        row[s:e] *= ((1 - config.mix) * masses[k] + config.mix * target) / masses[k]
            else:
                order = sorted(range(len(passages)), key=lambda k: -spans.weights[k])[: config.top]
                before = float(row.sum())
                scaled = row * config.scale
                for k in order:
                    s, e = passages[k]
                    scaled[s:e] = row[s:e]
                row.copy_(scaled * before / float(scaled.sum()))
    return out


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("window", [None, 60])
def test_rule_equals_row_by_row_reference(rule, window):
    n = 200
    w = _weights(n)
    keep = torch.ones(n, n, dtype=torch.bool).tril()
    if window is not None:  # a sliding window: the question rows cannot see the first passages
        keep &= torch.arange(n)[None, :] > torch.arange(n)[:, None] - window
        scores = torch.randn(1, 3, n, n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        w = torch.softmax((scores * 4).masked_fill(~keep, -math.inf), dim=-1)
    config = RULES[rule]
    got = reallocate(w, config, layer_idx=2, num_layers=6, key_mask=keep[None, None], spans=SPANS)
    want = _reference(w, config, SPANS, keep)
    assert (got - w).abs().max() > 1e-3, "the rule must change these weights, or this test proves nothing"
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert torch.equal(got[..., : SPANS.question_start, :], w[..., : SPANS.question_start, :])
    assert torch.equal(got[~keep.expand_as(got)], w[~keep.expand_as(w)]), "mass added outside the mask"


def test_fim_keeps_mass_on_passages_and_pasta_keeps_row_mass():
    w = _weights(200)
    positions = torch.cat([torch.arange(p.start, p.end) for p in SPANS.passages])
    fim = reallocate(w, RULES["fim"], 2, 6, spans=SPANS)
    torch.testing.assert_close(fim[..., positions].sum(-1), w[..., positions].sum(-1), rtol=0, atol=1e-12)
    pasta = reallocate(w, RULES["pasta"], 2, 6, spans=SPANS)
    torch.testing.assert_close(pasta.sum(-1), w.sum(-1), rtol=0, atol=1e-12)


def test_oracle_shares_follow_the_weights():
    w = _weights(200)
    oracle = SPANS.with_weights([0.0, 0.0, 1.0, 0.0])
    out = reallocate(w, GuidedFim(temperature=0.05), 2, 6, spans=oracle)
    gold = slice(100, 150)
    rows = slice(180, 200)
    assert float(out[..., rows, gold].sum()) > float(w[..., rows, gold].sum()) * 1.5


def test_layers_outside_the_range_are_untouched():
    w = _weights(200)
    config = GuidedDispense(first_layer=2, last_layer=3)
    assert torch.equal(reallocate(w, config, 1, 6, spans=SPANS), w)
    assert torch.equal(reallocate(w, config, 4, 6, spans=SPANS), w)
    assert not torch.equal(reallocate(w, config, 3, 6, spans=SPANS), w)


def _model_spans(batch_offsets=(0,)):
    return [
        PromptSpans(
            tuple(
                PassageSpan(s - o, e - o, w) for s, e, w in [(50, 90, 0.2), (100, 140, 0.8), (150, 175, 0.4)]
            ),
            180 - o,
        )
        for o in batch_offsets
    ]


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_fast_path_equals_naive_path(arch, rule, monkeypatch):
    monkeypatch.setitem(attention.BLOCK_ELEMENTS, "cpu", 4 * 200 * 7)  # 7-row blocks: several per step
    model = tiny_model(arch, dtype=PARITY_DTYPE)
    ids = torch.randint(0, 256, (1, 200), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        stock = model(ids).logits
        with use_spans(_model_spans()[0]):
            enable_sra(model, RULES[rule])
            with record_diagnostics() as diag:
                fast = model(ids).logits
            enable_sra(model, RULES[rule], mode="naive")
            naive = model(ids).logits
        disable_sra(model)
    assert (fast - stock).abs().max() > 1e-3, "guided SRA must change the logits, or this proves nothing"
    torch.testing.assert_close(fast, naive, rtol=0, atol=PARITY_ATOL)
    summary = diag.summary()
    assert len(summary["passage_mass"]) == 3 and any(abs(m) > 0 for m in summary["passage_mass"])


@pytest.mark.parametrize("arch", ["llama", "gemma3", "qwen3"])
def test_left_padded_batch_with_spans_per_sequence_matches_alone(arch):
    model = tiny_model(arch, dtype=PARITY_DTYPE)
    enable_sra(model, RULES["dispense"])
    ids = torch.randint(0, 256, (2, 200), generator=torch.Generator().manual_seed(2))
    pad = 20
    mask = torch.ones_like(ids)
    mask[1, :pad] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    both = _model_spans((0, pad))
    with torch.no_grad():
        with use_spans(both):
            batched = model(ids, attention_mask=mask, position_ids=positions).logits
        for row, spans in enumerate(both):
            start = pad * row
            with use_spans(spans):
                alone = model(ids[row : row + 1, start:]).logits
            torch.testing.assert_close(batched[row, start:], alone[0], rtol=0, atol=PARITY_ATOL)
        # a sequence without passages under a guided setting is an error, not a silent baseline
        with use_spans([both[0], None]), pytest.raises(ValueError, match="needs the prompt's passages"):
            model(ids, attention_mask=mask, position_ids=positions)
        with use_spans(both[:1]), pytest.raises(ValueError, match="for 1 sequence"):
            model(ids, attention_mask=mask, position_ids=positions)


def test_guided_without_spans_is_an_error_not_a_silent_baseline():
    model = enable_sra(tiny_model("llama"), RULES["fim"])
    ids = torch.randint(0, 256, (1, 200))
    with pytest.raises(ValueError, match="needs the prompt's passages"), torch.no_grad():
        model(ids)


def test_spans_longer_than_the_prompt_are_an_error():
    model = enable_sra(tiny_model("llama"), RULES["fim"])
    with use_spans(_model_spans()[0]), pytest.raises(ValueError, match="question starts at token 180"):
        model(torch.randint(0, 256, (1, 150)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PassageSpan(5, 5), "is empty"),
        (lambda: PassageSpan(-1, 5), "start must be an integer >= 0"),
        (lambda: PassageSpan(0, 5, float("nan")), "weight must be a finite number >= 0"),
        (lambda: PassageSpan(0, 5, -0.2), "got -0.2"),
        (lambda: PromptSpans((PassageSpan(0, 10), PassageSpan(5, 12)), 20), "without overlap"),
        (lambda: PromptSpans((PassageSpan(0, 10),), 8), "must follow every passage"),
        (lambda: PromptSpans((), 8), "at least one passage"),
        (lambda: PromptSpans((PassageSpan(0, 4, 0.5), PassageSpan(5, 9)), 12), "a weight or none"),
        (lambda: GuidedDispense(temperature=0.0), "temperature must be > 0"),
        (lambda: GuidedFim(temperature=float("nan")), "temperature must be a finite number"),
        (lambda: GuidedDispense(strength=-1.0), "strength must be >= 0"),
        (lambda: GuidedPasta(scale=1.5), "scale must be < 1"),
        (lambda: GuidedPasta(scale=1.0), "1.0 changes nothing"),
        (lambda: GuidedPasta(scale=0.0), "scale must be > 0"),
        (lambda: GuidedPasta(top=-1), "top must be an integer >= 0"),
        (lambda: GuidedFim(mix=0.0), "mix must be > 0"),
        (lambda: GuidedFim(mix=-0.1), "mix must be > 0"),
        (lambda: GuidedFim(mix=1.5), "mix must be <= 1"),
        (lambda: GuidedFim(first_layer=1.5), "first_layer must be an integer layer index"),
        (lambda: GuidedFim(first_layer=4, last_layer=2).layers(6), "select no layer"),
    ],
)
def test_bad_spans_and_configs_name_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GuidedFim(scale=0.3), "unexpected keyword argument 'scale'"),
        (lambda: GuidedPasta(temperature=0.5), "unexpected keyword argument 'temperature'"),
        (lambda: GuidedDispense(top=2), "unexpected keyword argument 'top'"),
        (lambda: GuidedConfig(), "GuidedConfig is the base of the guided rules; use one: .*GuidedDispense"),
        (lambda: GuidedConfig(rule="fim"), "use one: GuidedDispense"),
    ],
)
def test_a_rule_takes_only_its_own_parameters(make, message):
    """Another rule's parameter would be ignored, so it is no parameter at all."""
    with pytest.raises(TypeError, match=message):
        make()


def test_every_guided_rule_round_trips_and_registers_by_name():
    for rule, cls in GUIDED_RULES.items():
        config = cls()
        assert config.to_dict()["policy"] == f"guided_{rule}"
        assert config_from_dict(config.to_dict()) == config


def test_enable_refuses_layers_the_model_does_not_have():
    with pytest.raises(ValueError, match="select no layer of a 6-layer model"):
        enable_sra(tiny_model("llama"), GuidedDispense(first_layer=7, last_layer=9))


def test_config_round_trips_through_json():
    for config in RULES.values():
        assert config_from_json(config_to_json(config)) == config


def test_locate_passages_maps_texts_to_tokens(smollm2):
    _, tokenizer = smollm2
    passages = ["The vault code is 4417.", "Marta was born in Velmor."]
    text = f"Sources:\n[1] {passages[1]}\n[2] {passages[0]}\nQuestion: where was Marta born?\nAnswer:"
    encoded = tokenizer(text, return_offsets_mapping=True)
    spans = locate_passages(text, encoded["offset_mapping"], [(passages[0], 0.2), (passages[1], 0.9)])
    assert [p.label for p in spans.passages] == ["1", "0"], "spans are in prompt order, labelled by input"
    for p, passage in zip(spans.passages, [passages[1], passages[0]], strict=True):
        assert tokenizer.decode(encoded.input_ids[p.start : p.end]).strip() == passage
    assert tokenizer.decode(encoded.input_ids[spans.question_start :]).startswith("\nQuestion")
    asked = locate_passages(text, encoded["offset_mapping"], passages, question="Question:")
    assert tokenizer.decode(encoded.input_ids[asked.question_start :]).startswith("Question")
    with pytest.raises(ValueError, match=r"passage 1 'Marta was born in Brask\.' does not appear verbatim"):
        locate_passages(text, encoded["offset_mapping"], [passages[0], "Marta was born in Brask."])
    # a question asked before the context: the guided rows are the ones after the last passage
    before = locate_passages(text, encoded["offset_mapping"], passages, question="Sources:")
    assert before.question_start == spans.question_start
    cut = text[: text.index("\nQuestion")]
    with pytest.raises(PassageNotFoundError, match="nothing follows the last passage"):
        locate_passages(cut, tokenizer(cut, return_offsets_mapping=True)["offset_mapping"], passages)
    with pytest.raises(PassageNotFoundError, match=r"passage 1 'Marta .* does not appear verbatim"):
        locate_passages(text, encoded["offset_mapping"], passages, search_from=text.index("[2]"))
    with pytest.raises(TypeError, match="not one string"):  # not a list of one-letter passages
        locate_passages(text, encoded["offset_mapping"], passages[0])


def test_passages_nested_repeated_blank_or_in_the_question_are_found_in_the_context(smollm2):
    _, tokenizer = smollm2
    island, full = "Varro Island", "Varro Island has one harbour, at Kell."
    text = f"Question: how many harbours has Varro Island?\nContext:\n{full}\n\n{island}\n\n{full}\nAnswer:"
    offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    spans = locate_passages(
        text, offsets, [island, "  ", full, full], question="how many harbours has Varro Island?"
    )
    context_start = len(tokenizer(text[: text.index(full)]).input_ids) - 1
    assert [p.label for p in spans.passages] == ["2", "0", "3"]  # prompt order; the blank left out
    assert spans.passages[0].start >= context_start  # never inside the question
    assert (
        tokenizer.decode(tokenizer(text).input_ids[spans.passages[1].start : spans.passages[1].end]).strip()
        == island
    )
    with pytest.raises(PassageNotFoundError, match="every passage is blank"):
        locate_passages(text, offsets, ["", " \n"])


def test_rank_weights_follow_the_ranks_that_are_there():
    assert rank_weights([1, 2, 3]) == [rank_weight(r, 3) for r in (1, 2, 3)]
    assert rank_weights([3, 1]) == [0.5, 1.0]  # ranks 1 and 3 of 4 kept, as given
    with pytest.raises(ValueError, match="two passages have the same retrieval rank"):
        rank_weights([2, 2])
    with pytest.raises(ValueError, match="a retrieval rank must be an integer >= 1"):
        rank_weights([0, 1])


def test_generator_finds_the_passages_and_guided_sra_reaches_them(smollm2):
    from sra_rag.generation import Generator

    generator = Generator(*smollm2)
    notes = [f"Note {i}: the lantern in room {i} was lit at {i} o'clock by the keeper." for i in range(12)]
    gold = "Mira Voss was born in the town of Tallow."
    texts = [*notes[:6], gold, *notes[6:]]
    messages = [{"role": "user", "content": "\n\n".join(texts) + "\n\nWhere was Mira Voss born?"}]
    weighted = [(t, 0.9 if t == gold else 0.2) for t in texts]
    missing = [*weighted, ("Ansel Brandt was born in Quarry Hill.", 0.5)]
    with pytest.raises(PassageNotFoundError, match=r"passage 13 'Ansel Brandt .* does not appear verbatim"):
        generator.generate(messages, sra=GuidedFim(), passages=missing)
    # nothing but a guided setting needs the spans: the baseline and the paper's SRA answer anyway
    for setting in (None, preset("paper")):
        plain = generator.generate(
            messages, sra=setting, passages=missing, diagnostics=True, max_new_tokens=4
        )
        assert plain.text and "passages" not in plain.diagnostics
    with pytest.raises(ValueError, match="guided SRA needs the prompt's passages"):
        generator.generate(messages, sra=GuidedDispense())
    options = dict(max_new_tokens=6, diagnostics=True, passages=weighted)
    guided = generator.generate(messages, sra=GuidedFim(temperature=0.1), **options)
    baseline = generator.generate(messages, sra=None, **options)
    found = guided.diagnostics["passages"]
    assert [p["label"] for p in found] == [str(i) for i in range(len(weighted))]  # one occurrence each
    assert found[6]["weight"] == 0.9 and found[6]["mass_change"] > 0
    assert all(p["mass_change"] is None for p in baseline.diagnostics["passages"])
    streamed = generator.stream(messages, sra=GuidedFim(temperature=0.1), **options)
    assert "".join(streamed) == guided.text and streamed.diagnostics == guided.diagnostics


def test_passages_are_found_in_the_latest_message_and_after_a_question_that_precedes_them(smollm2):
    """A follow-up turn repeats the passages; the history's copy is never the one guided SRA aims at.
    A question asked before the context leaves the rows after the passages as the guided rows."""
    from sra_rag.generation import Generator

    generator = Generator(*smollm2)
    texts = ["Mira Voss was born in Tallow.", "Ansel Brandt was born in Quarry Hill."]
    turn = "Question: {q}\nContext:\n" + "\n\n".join(texts) + "\nAnswer:"
    first = [{"role": "user", "content": turn.format(q="Where was Mira Voss born?")}]
    follow_up = [
        *first,
        {"role": "assistant", "content": "Tallow."},
        {"role": "user", "content": turn.format(q="And Ansel Brandt?")},
    ]
    alone = generator.prepare(first, passages=texts, question="Where was Mira Voss born?")
    later = generator.prepare(follow_up, passages=texts, question="And Ansel Brandt?")
    ids = later.input_ids[0]
    last_turn = len(generator.encode(follow_up[:2])[0]) - 8  # the third message starts after the second
    assert all(p.start > last_turn for p in later.spans.passages)
    for p, text in zip(later.spans.passages, texts, strict=True):
        assert generator.tokenizer.decode(ids[p.start : p.end]).strip() == text
    for prepared in (alone, later):
        tail = generator.tokenizer.decode(prepared.input_ids[0, prepared.spans.question_start :])
        assert tail.lstrip().startswith("Answer:"), tail


def test_pasta_emphasises_only_weighted_passages_and_all_when_weights_are_equal():
    w = _weights(200)
    rows = slice(180, 200)
    oracle = SPANS.with_weights([0.0, 0.0, 1.0, 0.0])
    out = reallocate(w, GuidedPasta(scale=0.5, top=3), 2, 6, spans=oracle)
    ratio = out[..., rows, :] / w[..., rows, :].clamp_min(1e-300)
    gold, other = ratio[..., 100:150], ratio[..., 50:90]
    # only the gold passage is kept whole: every other passage key is scaled by 0.5 against it
    torch.testing.assert_close(other, gold[..., :1].expand_as(other) * 0.5, rtol=1e-9, atol=0)
    equal = reallocate(w, GuidedPasta(scale=0.5, top=1), 2, 6, spans=SPANS.with_weights([0.3] * 4))
    unweighted = reallocate(w, GuidedPasta(scale=0.5, top=1), 2, 6, spans=SPANS.with_weights(None))
    assert torch.equal(equal, unweighted)


def test_numpy_scores_are_weights():
    import numpy as np

    assert PassageSpan(0, 4, np.float32(0.25)).weight == 0.25
