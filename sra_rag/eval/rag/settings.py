"""What the RAG benchmark compares: a setting is a passage order, a top-k, an SRA config and the
passage weights a guided config sees.

Names read as `order[+top-k][+layout][+config]`: `retrieved` is the baseline (best passage first, as
retrievers return them, no SRA), `best_last+paper` the paper's SRA on the reversed order,
`retrieved+top3` the three best passages only, `best_last+dispense_s1_t0.05` a guided
candidate, `+oracle` the same rule aimed by the gold label (an upper bound, never shipped), and
`retrieved+gold` the gold passage alone (the reader's ceiling: what perfect retrieval would give),
`best_last+top3+single_fact` a prompt layout other than the default (`rag.prompt_layout`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...engine.config import GUIDED_RULES, PAPER, PRESETS
from ...engine.guided import GuidedConfig
from ...engine.guided_dispense import GuidedDispense
from ...engine.guided_fim import GuidedFim
from ...engine.guided_pasta import GuidedPasta
from ...engine.setting import Setting
from ...rag.order import ORDERS
from ...rag.prompt_layout import DEFAULT_LAYOUT, LAYOUTS

BASELINE = "retrieved"
NATIVE = GuidedDispense.rule
"""The paper's own Dispenser aimed at the passages; the other guided rules are its comparisons."""

GUIDED_CANDIDATES: dict[str, GuidedConfig] = {
    **{
        f"dispense_s{s:g}_t{t:g}": GuidedDispense(strength=s, temperature=t)
        for s in (1.0, 4.0)
        for t in (0.05, 0.2)
    },
    **{f"fim_m{m:g}_t{t:g}": GuidedFim(mix=m, temperature=t) for m in (0.5, 1.0) for t in (0.05, 0.2)},
    **{f"pasta_a{a:g}_top{k}": GuidedPasta(scale=a, top=k) for a in (0.3, 0.7) for k in (1, 3)},
}
"""Dev candidates for each guided rule: strength and temperature (dispense), mix and temperature
(fim), scale and the number of emphasised passages (pasta); layers 1..L-2 throughout."""

CONFIGS: dict[str, Setting] = {"paper": PAPER, **GUIDED_CANDIDATES}
"""The RAG benchmark's SRA candidates (its committed plans record them)."""
ATTENTION: dict[str, Setting] = {**CONFIGS, "transition": PRESETS["transition"]}
"""Every attention setting a setting name may carry."""


def config_dicts() -> dict[str, dict]:
    """Every config a setting name may carry, as the plan records it: names alone would let a
    changed candidate run under an old name."""
    return {name: config.to_dict() for name, config in CONFIGS.items()}


@dataclass(frozen=True)
class RagSetting:
    order: str = BASELINE
    keep: int | None = None
    config: str | None = None
    weights: str = "retriever"
    gold_only: bool = False
    layout: str = DEFAULT_LAYOUT

    @property
    def name(self) -> str:
        parts = [self.order]
        if self.gold_only:
            parts.append("gold")
        if self.keep is not None:
            parts.append(f"top{self.keep}")
        if self.layout != DEFAULT_LAYOUT:
            parts.append(self.layout)
        if self.config is not None:
            parts.append(self.config)
        if self.weights == "oracle":
            parts.append("oracle")
        return "+".join(parts)

    def sra(self) -> Setting | None:
        return None if self.config is None else ATTENTION[self.config]

    @property
    def guided(self) -> bool:
        config = self.sra()
        return config is not None and config.needs_spans


def parse(name: str) -> RagSetting:
    """The setting a name stands for (the inverse of `RagSetting.name`)."""
    order, *rest = name.split("+")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r} in setting {name!r}; choose one of {list(ORDERS)}")
    setting = RagSetting(order)
    for part in rest:
        if part.startswith("top") and part[3:].isdigit():
            setting = replace(setting, keep=int(part[3:]))
        elif part == "oracle":
            setting = replace(setting, weights="oracle")
        elif part == "gold":
            setting = replace(setting, gold_only=True)
        elif part in LAYOUTS and part != DEFAULT_LAYOUT:
            setting = replace(setting, layout=part)
        elif part in ATTENTION:
            setting = replace(setting, config=part)
        else:
            raise ValueError(f"unknown part {part!r} in setting {name!r}")
    if setting.weights == "oracle" and not setting.guided:
        raise ValueError(f"setting {name!r}: oracle weights need a guided config")
    if setting.gold_only and setting.keep is not None:
        raise ValueError(f"setting {name!r}: the gold passage alone has no top-k")
    return setting


ORDER_SETTINGS = (BASELINE, "best_last", "long_context", "retrieved+top3", "retrieved+top5")
"""Dev phase 1: the orders and the smaller top-k, without SRA."""


def candidate_settings(order: str) -> list[str]:
    """Dev phase 2: the paper's SRA and every guided candidate on the chosen order."""
    return [f"{order}+{name}" for name in CONFIGS]


def reported_settings(order: str, winners: dict[str, str]) -> list[str]:
    """The test split's settings, fixed by the dev choices: every order alone and with the paper's
    SRA and the native guided rule, the smaller top-k, each comparison rule alone and on the
    chosen order, and the best rule aimed by the oracle (alone and on the chosen order)."""
    native = winners[NATIVE]
    best = winners["best"]
    names = [*ORDER_SETTINGS]
    for o in ORDERS:
        names += [f"{o}+paper", f"{o}+{native}"]
    for rule in (r for r in GUIDED_RULES if r != NATIVE):
        names += [f"{BASELINE}+{winners[rule]}", f"{order}+{winners[rule]}"]
    names += [f"{BASELINE}+{best}+oracle", f"{order}+{best}+oracle"]
    return list(dict.fromkeys(names))
