"""Score RAG settings as `RagPipeline.ask` answers: the pipeline's own prompt (`place_passages`:
its order, layout and rank weights), its attention setting, a free-form greedy reply, with the
stem-forced log-probability beside it (`scoring.score_as_asked`).

A setting here is exactly a row a user can run: what wins here is what the pipeline does with the
same keep, order, layout and attention setting.
"""

from __future__ import annotations

from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ...engine.diagnostics import record_diagnostics
from ...engine.patch import disable_sra
from ...engine.spans import use_spans
from ...generation import Generator
from ...rag.order import order_passages
from ...rag.pipeline import place_passages
from ..records import Checkpoint, Record, moved_mass, set_setting
from ..scoring import score_as_asked
from ..tasks import Style
from .samples import RagSample, chunks_for, reply_prefix
from .settings import RagSetting, parse


class AskedScorer:
    """Scores samples under settings as `ask` answers them, resuming from `store`."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        style: Style,
        store: Checkpoint,
        free_tokens: int,
        forced_tokens: int,
    ) -> None:
        self.model, self.tokenizer, self.style, self.store = model, tokenizer, style, store
        self.generator = Generator(model, tokenizer)
        self.free_tokens, self.forced_tokens = free_tokens, forced_tokens

    def run(self, samples: list[RagSample], names: list[str], phase: str, progress: bool) -> None:
        done = self.store.done()
        bar = tqdm(total=len(samples) * len(names), desc=phase, disable=not progress, dynamic_ncols=True)
        for rag in samples:
            for name in names:
                if rag.record_key(name) not in done:
                    self.store.add(self._record(rag, parse(name), name, phase))
                bar.update()
        bar.close()
        disable_sra(self.model)

    def _record(self, rag: RagSample, setting: RagSetting, name: str, phase: str) -> Record:
        case = rag.case
        ranked = ((case.gold_id, 1.0),) if setting.gold_only else rag.ranked[: setting.keep or rag.k]
        retrieved = list(zip(chunks_for(case, [i for i, _ in ranked]), [s for _, s in ranked], strict=True))
        prompt, placed = place_passages(
            self.generator, case.question, retrieved, setting.order, setting.layout
        )
        ids = [doc_id for doc_id, _ in order_passages(ranked, setting.order)]  # as `placed`
        position = ids.index(case.gold_id) if case.gold_id in ids else None
        stem = reply_prefix(case) if self.style == "chat" else f" {reply_prefix(case)}"
        set_setting(self.model, setting.sra())
        with use_spans(prompt.spans), record_diagnostics() as diag:
            metrics = score_as_asked(
                self.model,
                self.tokenizer,
                prompt.prepared.input_ids[0].tolist(),
                stem,
                case.answer,
                self.free_tokens,
                self.forced_tokens,
                stops=prompt.stops,
            )
        return {
            "task": "rag",
            "split": case.split,
            "index": case.index,
            "target_tokens": rag.k,
            "answer": case.answer,
            "style": self.style,
            "phase": phase,
            "setting": name,
            "relation": case.relation,
            "prompt_tokens": prompt.length,
            "gold_rank": 1 if setting.gold_only else rag.gold_rank(setting.keep or rag.k),
            "cell_gold_rank": rag.gold_rank(),
            "gold_position": position,
            "passages": len(placed),
            **moved_mass(diag.summary(), position),
            **metrics,
        }
