"""What every harness here shares: a scored record, what identifies its prompt, paired
differences between settings, the checkpoint file a run appends to (so a run cut short resumes),
the software a result was produced with, and switching a model's setting between records."""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import PreTrainedModel

from ..engine.patch import disable_sra, enable_sra
from ..engine.setting import Setting

logger = logging.getLogger(__name__)

Record = dict[str, Any]


def sample_key(record: Record) -> tuple[Any, ...]:
    """What identifies a prompt, independent of the setting it was scored under."""
    return (record["task"], record["split"], record["target_tokens"], record["index"])


def paired(records: list[Record], setting: str, value: str, reference: str) -> list[float]:
    """Per prompt, `setting`'s value minus `reference`'s (prompts scored under both only)."""
    base = {sample_key(r): float(r[value]) for r in records if r["setting"] == reference}
    mine = [r for r in records if r["setting"] == setting and sample_key(r) in base]
    return [float(r[value]) - base[sample_key(r)] for r in mine]


def record_key(record: Record) -> tuple[Any, ...]:
    """A prompt and the setting it was scored under: one record per key in a checkpoint."""
    return (*sample_key(record), record["setting"])


class Checkpoint:
    """Records appended as JSON lines; records already there are not scored again."""

    def __init__(self, path: Path | None, fingerprint: dict[str, Any]) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            # compared as written: tuples come back from JSON as lists
            if lines and json.loads(lines[0]) == json.loads(json.dumps(fingerprint)):
                self.records = [json.loads(line) for line in lines[1:] if line.strip()]
                logger.info("resuming: %d records from %s", len(self.records), path)
                return
        path.write_text(json.dumps(fingerprint) + "\n", encoding="utf-8")

    def done(self) -> set[tuple[Any, ...]]:
        return {record_key(r) for r in self.records}

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.machine(),
        "threads": str(torch.get_num_threads()),
    }


def set_setting(model: PreTrainedModel, config: Setting | None, mode: str = "fast") -> None:
    """Make `config` the model's setting for the passes that follow; None restores the stock model
    itself (not a patched one running stock attention), so baselines measure exactly that."""
    if config is None:
        disable_sra(model)
    else:
        enable_sra(model, config, mode=mode)


def moved_mass(summary: dict[str, Any], gold_position: int | None) -> dict[str, Any]:
    """What SRA moved in a scored prompt (`diagnostics.summary()`): all of it, and the change of
    the gold passage's share (None where it is not in the prompt or no rule aimed at passages)."""
    masses = summary.get("passage_mass", [])
    gold = masses[gold_position] if masses and gold_position is not None else None
    return {"redistributed_mass": summary["redistributed_mass"], "gold_mass_change": gold}
