"""The rankers' gate (`python -m sra_rag.eval.rag.ranker_run`): does the reader's own attention
rank the retrieved passages better than the retriever, and do its top passages give more answers?

On dev questions of the RAG benchmark (top `k` by MiniLM), one prefill per question records the
attention every layer and head pays to each passage, from the question's rows and from the last
row, and a second prefill does the same with a content-free question (ICR's calibration). Rankers
are chosen by cross-fitting: each half of the questions is ranked by the candidate that ranks best
on the other half, so every reported number is out of sample. Then the model answers each question
from the retriever's top `keep`, the attention ranker's and the fused ranker's (best first), and
from all `k` retrieved. The gate (`GATE`) is written here, before the numbers exist.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ...engine.attention_share import record_attention_share
from ...engine.patch import use_sra
from ...rag.profile import model_slug
from ..model_choice import add_model_argument, load_eval_model, resolve_model
from ..provenance import provenance
from ..records import Checkpoint, Record, record_key, set_setting
from ..scoring import score_answer
from ..stats import accuracy, mean_interval
from ..tasks import Style, prompt_style
from .rankers import CONTENT_FREE_QUESTION, candidates, fit, fit_in_sample, gold_ranks, reciprocal
from .samples import RagSample, build, chunks_for, retrieve_samples
from .ship_rule import difference

SEED = 2307
"""The RAG benchmark's seed; the questions come from its dev split (never its test split)."""

GATE = (
    "a ranker (attention alone, or fused with the retriever) passes when its top-keep passages, "
    "against the retriever's top-keep on the same questions, raise the gold answer's "
    "teacher-forced log-probability (the paired 95% t-interval lies above 0) and do not lower "
    "accuracy (paired mean difference >= 0); only a passing ranker is built into the library"
)


def record_attention(generator: Any, rag: RagSample, question: str) -> torch.Tensor:
    """(layers, 2, heads, passages): the attention on each retrieved passage (in retrieval order)
    from the question's rows and the last row, for the pipeline's prompt asking `question`."""
    from ...rag.prompt import build_prompt

    prompt = build_prompt(generator, question, chunks_for(rag.case, [doc_id for doc_id, _ in rag.ranked]))
    ids = prompt.prepared.input_ids.to(generator.model.device)
    with (
        use_sra(generator.model, None),
        record_attention_share(prompt.source_spans, prompt.question_rows) as share,
        torch.inference_mode(),
    ):
        generator.model(ids, use_cache=False, logits_to_keep=1)  # no vocabulary-wide logits
    return share.by_layer_and_head().float()


def _scores_record(generator: Any, rag: RagSample) -> Record:
    gold = rag.gold_rank()
    return {
        "task": "rag",
        "split": rag.case.split,
        "target_tokens": rag.k,
        "index": rag.case.index,
        "setting": "attention",
        "gold_slot": None if gold is None else gold - 1,
        "attention": record_attention(generator, rag, rag.case.question).tolist(),
        "free": record_attention(generator, rag, CONTENT_FREE_QUESTION).tolist(),
    }


def _answer(
    generator: Any, rag: RagSample, slots: list[int], name: str, style: Style, max_new: int
) -> Record:
    """Score the answer from the passages in `slots` (retrieval slots, best first)."""
    chosen = replace(rag, ranked=tuple(rag.ranked[s] for s in slots))
    prompt = build(generator, chosen, "retrieved", len(slots), style)
    set_setting(generator.model, None)
    metrics = score_answer(generator.model, generator.tokenizer, prompt.sample, max_new)
    return {
        **prompt.sample.to_dict(),
        "setting": name,
        "slots": slots,
        "gold_in_prompt": prompt.gold_position is not None,
        **metrics,
    }


def cross_fit(
    attention: torch.Tensor, free: torch.Tensor, gold: list[int | None], groups: int
) -> dict[str, dict[str, Any]]:
    """Per ranker, each question's scores from the candidate fitted on the other half (by index
    parity), and the candidates chosen."""
    pool = candidates(attention.shape[1], groups)
    halves = [list(range(0, len(gold), 2)), list(range(1, len(gold), 2))]
    out: dict[str, dict[str, Any]] = {}
    for name, fused in (("attention", False), ("fused", True)):
        scores = torch.zeros(attention.shape[0], attention.shape[-1], dtype=torch.float64)
        chosen = []
        for mine, other in (halves, halves[::-1]):
            fitted = fit(pool, attention[other], free[other], [gold[i] for i in other], groups, fused)
            scores[mine] = fitted.scores(attention[mine], free[mine], groups).double()
            chosen.append(fitted.candidate.name)
        out[name] = {"scores": scores, "chosen": chosen}
    return out


def _ranking_row(ranks: list[int | None]) -> dict[str, Any]:
    return {
        "top1": accuracy([r == 1 for r in ranks]),
        "mrr": mean_interval(reciprocal(ranks)),
    }


def _profile(
    attention: torch.Tensor, free: torch.Tensor, gold: list[int | None], groups: int
) -> dict[str, Any]:
    """Mean reciprocal rank by layer band, per row kind, all heads, uncalibrated and calibrated:
    the layer profile (descriptive: on every question)."""
    table: dict[str, list[float]] = {}
    for candidate in candidates(attention.shape[1], groups):
        if candidate.head_group is not None or candidate.last_layer - candidate.first_layer > 2:
            continue
        mrr, _ = fit_in_sample(candidate, attention, free, gold, groups, fused=False)
        table.setdefault(f"{candidate.rows}/{candidate.calibration}", []).append(round(mrr, 4))
    return table


def _answers_table(records: list[Record], names: list[str], reference: str) -> dict[str, Any]:
    table = {}
    for name in names:
        mine = [r for r in records if r["setting"] == name]
        row: dict[str, Any] = {"accuracy": accuracy([bool(r["contains"]) for r in mine])}
        if name != reference:
            diff = difference(records, name, reference)
            row["accuracy_vs_" + reference] = diff["accuracy"]
            row["logprob_vs_" + reference] = diff["logprob"]
        table[name] = row
    return table


def _gate(table: dict[str, Any], reference: str, ranker: str) -> dict[str, Any]:
    logprob = table[ranker]["logprob_vs_" + reference]
    acc = table[ranker]["accuracy_vs_" + reference]
    passes = logprob["low"] is not None and logprob["low"] > 0 and acc["mean"] >= 0
    return {"passes": passes, "logprob": logprob, "accuracy": acc}


def run(
    generator: Any,
    embedder: Any,
    *,
    samples: int,
    k: int,
    keep: int,
    style: Style,
    checkpoint: Path,
    max_new_tokens: int,
    progress: bool,
) -> dict[str, Any]:
    """Record, fit, answer, judge: the report (see the module docstring)."""
    model = generator.model
    groups = model.config.get_text_config().num_key_value_heads
    fingerprint = {"ranker_run": 1, "seed": SEED, "samples": samples, "k": k, "keep": keep, "style": style}
    store = Checkpoint(checkpoint, fingerprint)
    rags = retrieve_samples(embedder, SEED, "dev", k, samples)
    done = {record_key(r): r for r in store.records}
    for rag in tqdm(rags, desc="attention", disable=not progress, dynamic_ncols=True):
        if rag.record_key("attention") not in done:
            record = _scores_record(generator, rag)
            store.add(record)
            done[rag.record_key("attention")] = record
    scored = [done[rag.record_key("attention")] for rag in rags]
    attention = torch.tensor([r["attention"] for r in scored])
    free = torch.tensor([r["free"] for r in scored])
    gold = [r["gold_slot"] for r in scored]
    fitted = cross_fit(attention, free, gold, groups)
    retriever_scores = -torch.arange(k, dtype=torch.float64).expand(len(rags), k)
    ranked = {"retriever": retriever_scores, **{n: f["scores"] for n, f in fitted.items()}}
    ranking = {name: _ranking_row(gold_ranks(scores, gold)) for name, scores in ranked.items()}
    names = [f"retriever_top{k}", *(f"{n}_top{keep}" for n in ranked)]
    bar = tqdm(total=len(rags) * len(names), desc="answers", disable=not progress, dynamic_ncols=True)
    for i, rag in enumerate(rags):
        for name in names:
            if rag.record_key(name) not in done:
                ranker, top = name.rsplit("_top", 1)
                slots = torch.sort(-ranked[ranker][i], stable=True).indices[: int(top)].tolist()
                record = _answer(generator, rag, slots, name, style, max_new_tokens)
                store.add(record)
            bar.update()
    bar.close()
    answers = [r for r in store.records if r["setting"] != "attention"]
    reference = f"retriever_top{keep}"
    table = _answers_table(answers, names, reference)
    return {
        "seed": SEED,
        "split": "dev",
        "samples": samples,
        "k": k,
        "keep": keep,
        "gate_rule": GATE,
        "retriever_misses": sum(g is None for g in gold),
        "ranking": ranking,
        "chosen_candidates": {n: f["chosen"] for n, f in fitted.items()},
        "layer_profile_mrr": _profile(attention, free, gold, groups),
        "answers": table,
        "gate": {name: _gate(table, reference, f"{name}_top{keep}") for name in fitted},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sra_rag.eval.rag.ranker_run", description=(__doc__ or "").split("\n")[0]
    )
    add_model_argument(parser)
    parser.add_argument("--samples", type=int, default=64, help="dev questions")
    parser.add_argument("--k", type=int, default=8, help="passages retrieved")
    parser.add_argument("--keep", type=int, default=3, help="passages kept by each ranker")
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--out", type=Path, required=True, help="the report (JSON)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.samples < 4 or not 1 <= args.keep < args.k:
        parser.error("need --samples >= 4 and 1 <= --keep < --k")
    logging.basicConfig(level=logging.WARNING)
    from ...generation import Generator
    from ...rag.embedding import Embedder

    source, name = resolve_model(args.model)
    model, tokenizer = load_eval_model(args, source)
    generator = Generator(model, tokenizer)
    made = provenance(source, model)  # the code as the run starts, not as it ends
    report = run(
        generator,
        Embedder(),
        samples=args.samples,
        k=args.k,
        keep=args.keep,
        style=prompt_style(tokenizer),
        checkpoint=args.out.with_suffix(".partial.jsonl"),
        max_new_tokens=args.max_new_tokens,
        progress=not args.quiet,
    )
    report = {"model": name, "provenance": made, **report}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".partial.jsonl").unlink(missing_ok=True)
    gate = ", ".join(f"{n} {'passes' if g['passes'] else 'fails'}" for n, g in report["gate"].items())
    sys.stdout.write(f"wrote {args.out} ({model_slug(name)}): gate: {gate}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
