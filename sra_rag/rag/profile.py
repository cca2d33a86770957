"""A model's measured passage setting: how many of the retriever's best passages it reads, and in
which order.

Small models read a few passages better than many, and each model differently (README, Results),
so the setting is measured per model (`sra-rag calibrate`) and kept as a small JSON file that
`RagPipeline` and both framework adapters load (`profile=...`). A profile also keeps how it was
measured, so a reader can judge it. Profiles of the bundled models that passed the ship rule on
the test split (`sra-rag calibrate --test`) come with the package (`shipped_profile`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .order import DEFAULT_ORDER, check_order

logger = logging.getLogger(__name__)

DEFAULT_TOP_K = 16
"""Chunks `RagPipeline` retrieves when neither the caller nor a profile says."""
SHIPPED = "shipped"
"""`profile="shipped"`: the package's profile for the model, if it ships one, else the defaults."""


@dataclass(frozen=True)
class RagProfile:
    model: str
    """The model it was measured on (a name, as `sra-rag calibrate` reports it)."""
    keep: int
    """How many of the retriever's best passages go into the prompt."""
    order: str
    """Where they go (`rag.order`: retrieved, best_last or long_context)."""
    calibration: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """How it was measured: the questions, the candidates, the choice rule, the dev table."""

    def __post_init__(self) -> None:
        if isinstance(self.keep, bool) or not isinstance(self.keep, int) or self.keep < 1:
            raise ValueError(f"a profile's keep must be an integer >= 1, got {self.keep!r}")
        check_order(self.order)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "keep": self.keep, "order": self.order, "calibration": self.calibration}

    def save(self, path: str | Path) -> None:
        """Written aside, then renamed: an interrupted save leaves no half-written profile."""
        path = Path(path)
        part = path.with_name(path.name + ".part")
        try:
            part.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
            part.replace(path)
        finally:
            part.unlink(missing_ok=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RagProfile:
        missing = {"model", "keep", "order"} - set(data)
        if missing:
            raise ValueError(f"not a profile: no {sorted(missing)} (write one with `sra-rag calibrate`)")
        return cls(data["model"], data["keep"], data["order"], dict(data.get("calibration") or {}))

    @classmethod
    def load(cls, path: str | Path) -> RagProfile:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no profile at {path} (write one with `sra-rag calibrate --model DIR`)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not JSON ({error.msg}, line {error.lineno})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} holds a {type(data).__name__}, not a profile")
        return cls.from_dict(data)


def shipped_profile(model_name: str) -> RagProfile | None:
    """The package's profile for `model_name` (its name or `name_or_path`), if one ships."""
    folder = resources.files("sra_rag") / "profiles"
    entries = folder.iterdir() if folder.is_dir() else []
    shipped = {Path(entry.name).stem: entry for entry in entries if entry.name.endswith(".json")}
    matches = [slug for slug in shipped if same_model(slug, model_name)]
    return RagProfile.load(Path(str(shipped[max(matches, key=len)]))) if matches else None


def resolve_profile(
    profile: RagProfile | str | Path | None, model_name: str | None = None
) -> RagProfile | None:
    """A profile as given (an object, a file, SHIPPED or None), warning when it was measured on
    another model than `model_name` (when known): its setting may not suit this one."""
    if profile == SHIPPED:
        if model_name is None:
            raise ValueError(f"profile={SHIPPED!r} needs the model: give a RagProfile or its file here")
        return shipped_profile(model_name)
    if profile is None or isinstance(profile, RagProfile):
        found = profile
    elif isinstance(profile, (str, Path)):
        found = RagProfile.load(profile)
    else:
        kind = type(profile).__name__
        raise TypeError(f"profile must be a RagProfile, a JSON file or {SHIPPED!r}, got {kind}")
    if found is not None and model_name is not None and not same_model(found.model, model_name):
        logger.warning(
            "the profile was measured on %s, not %s: calibrate this model (`sra-rag calibrate --model ...`)",
            found.model,
            model_name,
        )
    return found


def passage_setting(
    profile: RagProfile | str | Path | None,
    keep: int | None,
    order: str | None,
    model_name: str | None = None,
) -> tuple[int | None, str]:
    """(keep, order): the caller's where given, else the profile's, else every passage (None) in
    the default order. The one rule the pipeline and both adapters follow."""
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ValueError(f"keep must be an integer >= 1 (passages kept), got {keep!r}")
    if order is not None:
        check_order(order)
    found = resolve_profile(profile, model_name)
    return (
        keep if keep is not None else found.keep if found else None,
        order or (found.order if found else DEFAULT_ORDER),
    )


def model_slug(model_name: str) -> str:
    """A model's name as files carry it and profiles compare it: 'models/SmolLM2-135M-Instruct' ->
    'smollm2_135m_instruct'."""
    return re.sub(r"[^a-z0-9]+", "_", Path(model_name).name.lower()).strip("_")


def same_model(profile_model: str, model_name: str) -> bool:
    """Whether a profile measured on `profile_model` is for the model called (or loaded from)
    `model_name`: the same name, or a file of it (a quantised copy's cache folder,
    'SmolLM2-135M-Instruct.Q4_1-19ce049b4a1e', carries the model's name first)."""
    mine, theirs = model_slug(profile_model), model_slug(model_name)
    return theirs == mine or theirs.startswith(mine + "_")
