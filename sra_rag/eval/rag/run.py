"""Run the RAG benchmark on one model: choose on dev, write the plan, then report on test.

Dev, phase 1: the three passage orders and the smaller top-k, no SRA; the order with the largest
mean paired gain in gold log-probability over the baseline is chosen. Phase 2: the paper's SRA
and every guided candidate on that order; per rule, the candidate with the largest gain over the
order alone is chosen. The choices, the test settings and the ship rule (`rag_rule.RULE`) are then
written to a plan file, which is committed before the test phase runs (`--phase test` refuses to
run without it). Records are checkpointed as they are made, so a run cut short resumes.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ...engine.config import GUIDED_RULES
from ...engine.diagnostics import record_diagnostics
from ...engine.patch import disable_sra
from ...engine.spans import even_spans, use_spans
from ...generation import Generator
from ...rag.embedding import Embedder
from ..provenance import weights_sha256
from ..records import Checkpoint, Record, moved_mass, paired, sample_key, set_setting, versions
from ..scoring import score_answer, score_perplexity
from ..stats import accuracy, mean_interval
from ..tasks import Style, held_text
from . import settings
from .presets import RagPreset
from .samples import BuiltPrompt, RagSample, build, rank_counts, retrieve_samples
from .settings import BASELINE, ORDER_SETTINGS, RagSetting, candidate_settings, parse, reported_settings
from .ship_rule import RULE, apply_rule, difference, targets

logger = logging.getLogger(__name__)


class Scorer:
    """Scores samples under settings, building each (sample, order, top-k) prompt once."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        style: Style,
        store: Checkpoint,
        max_new_tokens: int,
    ) -> None:
        self.model, self.tokenizer, self.style, self.store = model, tokenizer, style, store
        self.generator = Generator(model, tokenizer)
        self.max_new_tokens = max_new_tokens

    def run(self, samples: list[RagSample], names: list[str], phase: str, progress: bool) -> None:
        done = self.store.done()
        bar = tqdm(total=len(samples) * len(names), desc=phase, disable=not progress, dynamic_ncols=True)
        for rag in samples:
            built: dict[tuple[str, int | None, bool], BuiltPrompt] = {}
            for name in names:
                setting = parse(name)
                key = (setting.order, setting.keep, setting.gold_only)
                if key not in built:
                    built[key] = build(self.generator, rag, *key[:2], self.style, gold_only=setting.gold_only)
                prompt = built[key]
                if (*sample_key(prompt.sample.to_dict()), name) not in done:
                    self.store.add(self._record(rag, prompt, setting, name, phase))
                bar.update()
        bar.close()
        disable_sra(self.model)

    def _record(
        self, rag: RagSample, prompt: BuiltPrompt, setting: RagSetting, name: str, phase: str
    ) -> Record:
        set_setting(self.model, setting.sra())
        with use_spans(prompt.weighted(setting.weights)), record_diagnostics() as diag:
            metrics = score_answer(self.model, self.tokenizer, prompt.sample, self.max_new_tokens)
        return {
            **prompt.sample.to_dict(),
            "phase": phase,
            "setting": name,
            "relation": rag.case.relation,
            "gold_rank": prompt.gold_rank,
            "cell_gold_rank": rag.gold_rank(),
            "gold_position": prompt.gold_position,
            "passages": prompt.passages,
            **moved_mass(diag.summary(), prompt.gold_position),
            **metrics,
        }

    def perplexity(self, preset: RagPreset, names: list[str], progress: bool) -> None:
        tokens, count, tail = preset.perplexity
        done = self.store.done()
        configs = list(dict.fromkeys(parse(n).config for n in names))
        bar = tqdm(total=count * len(configs), desc="perplexity", disable=not progress, dynamic_ncols=True)
        for i in range(count):
            sample = held_text(self.tokenizer, seed=preset.seed, split="test", index=i, tokens=tokens)
            # held text cut into equal passages, the rows that predict the scored tail as the question
            spans = even_spans(sample.prompt_tokens - min(tail, sample.prompt_tokens - 1) - 1, 8)
            for config in configs:
                name = BASELINE if config is None else f"{BASELINE}+{config}"
                if (*sample_key(sample.to_dict()), name) not in done:
                    set_setting(self.model, parse(name).sra())
                    with use_spans(spans):
                        metrics = score_perplexity(self.model, self.tokenizer, sample, tail)
                    self.store.add({**sample.to_dict(), "phase": "test", "setting": name, **metrics})
                bar.update()
        bar.close()
        disable_sra(self.model)


def cell_samples(embedder: Embedder, seed: int, split: str, cells: list[tuple[int, int]]) -> list[RagSample]:
    """The samples of a split's (k, count) cells; each cell gets its own questions (case indices
    run on across cells), so no question is counted twice when cells are pooled."""
    samples: list[RagSample] = []
    for k, count in cells:
        samples += retrieve_samples(embedder, seed, split, k, count, first_index=len(samples))
    return samples


def _gain(records: list[Record], setting: str, reference: str) -> float:
    diffs = paired(records, setting, "logprob", reference)
    return sum(diffs) / len(diffs) if diffs else float("-inf")


def choose(dev: list[Record]) -> dict[str, Any]:
    """The dev choices: the order (best_last or long_context if its gain over the baseline is
    positive; the smaller top-k are reported, not chosen), then per guided rule the candidate with
    the largest gain on that order."""
    orders = {n: _gain(dev, n, BASELINE) for n in ("best_last", "long_context")}
    order = max(orders, key=orders.__getitem__)
    if orders[order] <= 0:
        order = BASELINE
    gains = {name: _gain(dev, f"{order}+{name}", order) for name in settings.CONFIGS}
    winners = {
        rule: max((n for n, c in settings.GUIDED_CANDIDATES.items() if c.rule == rule), key=gains.__getitem__)
        for rule in GUIDED_RULES
    }
    winners["best"] = max((winners[r] for r in GUIDED_RULES), key=gains.__getitem__)
    return {
        "order": order,
        "order_gains": orders,
        "winners": winners,
        "candidate_gains_on_order": gains,
        "criterion": "largest mean paired gain in gold-answer log-probability (dev split)",
    }


def _position(record: Record) -> str:
    p, m = record.get("gold_position"), record.get("passages")
    if p is None:
        return "missed"
    return "first" if p == 0 else "last" if p == m - 1 else "middle"


def _rank(record: Record) -> str:
    r = record.get("cell_gold_rank")
    return "missed" if r is None else "1" if r == 1 else "2-3" if r <= 3 else "4+"


def _cell(records: list[Record], setting: str, references: list[str]) -> dict[str, Any]:
    mine = [r for r in records if r["setting"] == setting]
    cell: dict[str, Any] = {
        "n": len(mine),
        "accuracy": accuracy([r["contains"] for r in mine]),
        "logprob": mean_interval([r["logprob"] for r in mine]),
        "prompt_tokens": mean_interval([r["prompt_tokens"] for r in mine])["mean"],
    }
    for ref in references:
        if ref != setting:
            cell[f"vs_{ref}"] = difference(records, setting, ref)
    return cell


def summarise(records: list[Record], references: list[str]) -> dict[str, Any]:
    """Per setting: overall, by retrieval cell (k), by the gold passage's place in that setting's
    prompt, by its retriever rank in the cell's top k, and over the questions whose gold passage
    the cell's top k holds (retriever misses apart; a smaller top-k may still drop it). A cell
    holds the setting's prompts of that group, each paired with the same prompt under the
    references (which may have put the gold passage elsewhere)."""
    answers = [r for r in records if r["task"] == "rag"]
    axes = {"by_k": lambda r: str(r["target_tokens"]), "by_position": _position, "by_rank": _rank}
    out: dict[str, Any] = {}
    for setting in dict.fromkeys(r["setting"] for r in answers):
        mine = [r for r in answers if r["setting"] == setting]

        def cell(rows: list[Record], setting: str = setting) -> dict[str, Any]:
            keys = {sample_key(r) for r in rows}
            others = [r for r in answers if r["setting"] in references and r["setting"] != setting]
            pool = rows + [r for r in others if sample_key(r) in keys]
            return _cell(pool, setting, references)

        groups: dict[str, dict[str, list[Record]]] = {axis: {} for axis in axes}
        for r in mine:
            for axis, key in axes.items():
                groups[axis].setdefault(key(r), []).append(r)
        out[setting] = {
            "all": cell(mine),
            "gold_retrieved": cell([r for r in mine if r["cell_gold_rank"] is not None]),
            **{
                axis: {key: cell(rows) for key, rows in sorted(cells.items())}
                for axis, cells in groups.items()
            },
        }
    return out


def perplexity_summary(records: list[Record]) -> dict[str, Any]:
    held = [r for r in records if r["task"] == "perplexity"]
    out = {}
    for setting in dict.fromkeys(r["setting"] for r in held):
        entry: dict[str, Any] = {"nll": mean_interval([r["nll"] for r in held if r["setting"] == setting])}
        if setting != BASELINE:
            entry["nll_vs_baseline"] = mean_interval(paired(held, setting, "nll", BASELINE))
        out[setting] = entry
    return out


def _fingerprint(model_name: str, style: str, preset: RagPreset) -> dict[str, Any]:
    """What a record's value depends on besides its key (cell sizes do not: a resized run reuses)."""
    return {
        "benchmark": "rag",
        "model": model_name,
        "style": style,
        "seed": preset.seed,
        "max_new_tokens": preset.max_new_tokens,
        "perplexity": list(preset.perplexity),
    }


def run_dev(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    embedder: Embedder,
    preset: RagPreset,
    *,
    model_name: str,
    style: Style,
    checkpoint: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Both dev phases; returns the plan (choices, test settings, the rule)."""
    start = time.perf_counter()
    store = Checkpoint(checkpoint, _fingerprint(model_name, style, preset))
    scorer = Scorer(model, tokenizer, style, store, preset.max_new_tokens)
    samples = cell_samples(embedder, preset.seed, "dev", list(preset.dev_cells))
    scorer.run(samples, list(ORDER_SETTINGS), "dev orders", progress)
    order = choose([r for r in store.records if r["split"] == "dev"])["order"]
    scorer.run(samples, candidate_settings(order), "dev candidates", progress)
    dev = [r for r in store.records if r["split"] == "dev"]
    choice = choose(dev)
    names = reported_settings(choice["order"], choice["winners"])
    return {
        "benchmark": "rag",
        "model": model_name,
        "prompt_style": style,
        "preset": preset.to_dict(),
        "rule": RULE,
        "configs": settings.config_dicts(),
        "dev_choice": choice,
        "test_settings": names,
        "long_slice_settings": _long_settings(choice),
        "dev": {
            "retrieval": rank_counts(samples),
            "answers": summarise(dev, [BASELINE, choice["order"]]),
        },
        "versions": versions(),
        "weights_sha256": weights_sha256(model),
        "command": " ".join(sys.argv),
        "dev_seconds": time.perf_counter() - start,
        "dev_records": dev,
    }


def _long_settings(choice: dict[str, Any]) -> list[str]:
    order, native = choice["order"], choice["winners"][settings.NATIVE]
    return list(dict.fromkeys([BASELINE, order, f"{BASELINE}+paper", f"{order}+paper", f"{order}+{native}"]))


def check_plan(plan: dict[str, Any]) -> None:
    """ValueError unless the plan's rule and candidate configurations are the code's: a test phase
    must run what the dev phase chose, under the rule written before the test split was read."""
    if plan.get("rule") != RULE:
        raise ValueError(
            "the plan's ship rule differs from the code's (sra_rag/eval/rag/ship_rule.py): restore the rule, "
            "or plan again (git rm the plan, then --phase dev)"
        )
    written, now = plan.get("configs") or {}, settings.config_dicts()
    changed = sorted(name for name in set(written) | set(now) if written.get(name) != now.get(name))
    if changed:
        raise ValueError(
            f"the plan's candidate configurations differ from the code's for {changed}: restore them, "
            "or plan again (git rm the plan, then --phase dev)"
        )


def run_test(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    embedder: Embedder,
    plan: dict[str, Any],
    *,
    checkpoint: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """The test phase of a committed plan: its settings only, then the rule applied as written."""
    check_plan(plan)
    start = time.perf_counter()
    preset = RagPreset(**{k: _tuples(v) for k, v in plan["preset"].items()})
    style: Style = plan["prompt_style"]
    store = Checkpoint(checkpoint, _fingerprint(plan["model"], style, preset))
    scorer = Scorer(model, tokenizer, style, store, preset.max_new_tokens)
    names = plan["test_settings"]
    cells = list(preset.test_cells) + ([preset.long_slice] if preset.long_slice else [])
    every = cell_samples(embedder, preset.seed, "test", cells)
    samples = every[: sum(count for _, count in preset.test_cells)]
    long = every[len(samples) :]
    scorer.run(samples, names, "test", progress)
    scorer.run(long, plan["long_slice_settings"], "test long", progress)
    scorer.perplexity(preset, names, progress)
    test = [r for r in store.records if r["split"] == "test"]
    report = build_report(plan, test, rank_counts(samples + long), time.perf_counter() - start)
    return {**report, "test_weights_sha256": weights_sha256(model)}


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def build_report(
    plan: dict[str, Any], test: list[Record], retrieval: dict[str, int], seconds: float
) -> dict[str, Any]:
    choice = plan["dev_choice"]
    order, winners = choice["order"], choice["winners"]
    main_cells = {str(k) for k, _ in plan["preset"]["test_cells"]}
    main = [r for r in test if r["task"] == "rag" and str(r["target_tokens"]) in main_cells]
    candidates = {rule: (f"{BASELINE}+{winners[rule]}", f"{order}+{winners[rule]}") for rule in GUIDED_RULES}
    candidates["paper"] = (f"{BASELINE}+paper", f"{order}+paper")
    references = list(dict.fromkeys([BASELINE, order]))
    answers = summarise(main, references)
    goals = targets({name: entry["by_k"] for name, entry in answers.items()}, BASELINE, order)
    gains = {
        name: entry["all"].get(f"vs_{order}", {}).get("accuracy", {}).get("mean")
        for name, entry in answers.items()
        if parse(name).config is not None and parse(name).weights != "oracle"
    }
    best = max((g, n) for n, g in gains.items() if g is not None) if gains else None
    goals["sra_or_guided_plus_5_over_order"] = (
        None if best is None else {"setting": best[1], "gain": best[0], "met": best[0] >= 0.05}
    )
    dev = plan.get("dev_records", [])
    return {
        **{k: v for k, v in plan.items() if k != "dev_records"},
        "dev": {**plan["dev"], "answers": summarise(dev, references)},
        "test": {
            "retrieval": retrieval,
            "targets": goals,
            "answers": answers,
            "long_slice": summarise(
                [r for r in test if r["task"] == "rag" and str(r["target_tokens"]) not in main_cells],
                references,
            ),
            "perplexity": perplexity_summary(test),
            "decision": apply_rule(main, BASELINE, order, candidates),
        },
        "test_command": " ".join(sys.argv),
        "test_versions": versions(),
        "test_seconds": seconds,
        "records": dev + test,
    }
