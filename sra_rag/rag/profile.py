"""A model's measured RAG setting: how many of the retriever's best passages it reads, in which
order, under which prompt layout and with which attention setting (stock, the paper's SRA,
transition or a guided rule) — measured together, so applied together.

Small models read a few passages better than many, and each model differently (README, Results),
so the setting is measured per model (`sra-rag calibrate`) and kept as a small JSON file that
`RagPipeline` and both framework adapters load (`profile=...`). A profile also keeps how it was
measured, so a reader can judge it, and the fingerprint of the weights it was measured on
(`model_identity`): the package's profiles of the bundled models (`sra-rag calibrate --test
--ship`) apply to those weights only, never to a model that merely shares the name.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..engine.config import config_from_dict
from ..engine.setting import Setting
from .order import DEFAULT_ORDER, check_order
from .prompt_layout import DEFAULT_LAYOUT, check_layout

logger = logging.getLogger(__name__)

DEFAULT_KEEP = 16
"""Chunks `RagPipeline` retrieves when neither the caller nor a profile says."""
SHIPPED = "shipped"
"""`profile="shipped"`: the package's profile for the model's weights, if it ships one, else none."""
NO_PROFILE = "none"
"""`--profile none` on the command line: no profile, the plain defaults."""


@dataclass(frozen=True)
class RagProfile:
    model: str
    """The model it was measured on (a name, as `sra-rag calibrate` reports it)."""
    keep: int
    """How many of the retriever's best passages go into the prompt."""
    order: str
    """Where they go (`rag.order`: retrieved, best_last or long_context)."""
    prompt: str = DEFAULT_LAYOUT
    """The prompt layout (`rag.prompt_layout`) the pipeline builds."""
    sra: Setting | None = None
    """The attention setting the answers were measured with (None: stock attention)."""
    weights: str | None = None
    """`model_identity.weights_fingerprint` of the model it was measured on (None: not recorded)."""
    calibration: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """How it was measured: the questions, the candidates, the choice rule, the dev table."""

    def __post_init__(self) -> None:
        if isinstance(self.keep, bool) or not isinstance(self.keep, int) or self.keep < 1:
            raise ValueError(f"a profile's keep must be an integer >= 1, got {self.keep!r}")
        check_order(self.order)
        check_layout(self.prompt)
        if self.sra is not None and not isinstance(self.sra, Setting):
            raise TypeError(f"a profile's sra must be an SRA setting or None, got {type(self.sra).__name__}")

    def describe(self) -> str:
        """One line: what the profile applies."""
        attention = "stock" if self.sra is None else self.sra.name
        return (
            f"{self.model}: the best {self.keep} passages, {self.order}, prompt {self.prompt}, "
            f"attention {attention}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "keep": self.keep,
            "order": self.order,
            "prompt": self.prompt,
            "sra": None if self.sra is None else self.sra.to_dict(),
            "weights": self.weights,
            "calibration": self.calibration,
        }

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
        """A profile written before prompt layouts and attention settings were measured has neither:
        it was measured with the one layout and stock attention, which is what it then applies."""
        missing = {"model", "keep", "order"} - set(data)
        if missing:
            raise ValueError(f"not a profile: no {sorted(missing)} (write one with `sra-rag calibrate`)")
        sra = data.get("sra")
        return cls(
            data["model"],
            data["keep"],
            data["order"],
            data.get("prompt", DEFAULT_LAYOUT),
            None if sra is None else config_from_dict(sra),
            data.get("weights"),
            dict(data.get("calibration") or {}),
        )

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


def _shipped() -> dict[str, RagProfile]:
    folder = resources.files("sra_rag") / "profiles"
    entries = folder.iterdir() if folder.is_dir() else []
    return {Path(e.name).stem: RagProfile.load(Path(str(e))) for e in entries if e.name.endswith(".json")}


def shipped_profile(model: Any) -> RagProfile | None:
    """The package's profile for this loaded model, if one ships for its weights. The name picks
    the candidate (cheap); the weights' fingerprint decides. One log line says which applies, or
    why none does."""
    from ..model_identity import weights_fingerprint

    name = str(getattr(model.config, "name_or_path", "") or type(model).__name__)
    shipped = _shipped()
    matches = [slug for slug in shipped if same_model(slug, name)]
    if not matches:
        logger.info(
            "no shipped profile for %s: measure its setting with `sra-rag calibrate --model ...`", name
        )
        return None
    profile = shipped[max(matches, key=len)]
    if profile.weights is None or weights_fingerprint(model) != profile.weights:
        logger.warning(
            "%s is named like %s but holds other weights: its shipped profile does not apply; measure "
            "this model's own with `sra-rag calibrate --model ...`",
            name,
            profile.model,
        )
        return None
    logger.info("using the shipped profile for %s", profile.describe())
    return profile


def resolve_profile(profile: RagProfile | str | Path | None, model: Any = None) -> RagProfile | None:
    """A profile as given (an object, a file, SHIPPED or None). With the loaded `model`, SHIPPED
    is the package's profile for its weights, and a given profile measured on other weights is
    applied with a warning: its setting may not suit this model."""
    if profile == SHIPPED:
        if model is None:
            raise ValueError(f"profile={SHIPPED!r} needs the model: give a RagProfile or its file here")
        return shipped_profile(model)
    if profile is None or isinstance(profile, RagProfile):
        found = profile
    elif isinstance(profile, (str, Path)):
        found = RagProfile.load(profile)
    else:
        kind = type(profile).__name__
        raise TypeError(f"profile must be a RagProfile, a JSON file or {SHIPPED!r}, got {kind}")
    if found is not None and model is not None:
        _warn_if_other_model(found, model)
    return found


def _warn_if_other_model(profile: RagProfile, model: Any) -> None:
    from ..model_identity import weights_fingerprint

    name = str(getattr(model.config, "name_or_path", "") or "")
    if profile.weights is not None:
        other = weights_fingerprint(model) != profile.weights
    else:
        other = not same_model(profile.model, name)
    if other:
        logger.warning(
            "the profile was measured on %s, not on this model's weights (%s): calibrate this model "
            "(`sra-rag calibrate --model ...`)",
            profile.model,
            name,
        )


def passage_setting(
    profile: RagProfile | str | Path | None,
    keep: int | None,
    order: str | None,
) -> tuple[int | None, str]:
    """(keep, order): the caller's where given, else the profile's, else every passage (None) in
    the default order. The one rule the pipeline and both adapters follow."""
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ValueError(f"keep must be an integer >= 1 (passages kept), got {keep!r}")
    if order is not None:
        check_order(order)
    found = resolve_profile(profile)
    return (
        keep if keep is not None else found.keep if found else None,
        order or (found.order if found else DEFAULT_ORDER),
    )


def model_slug(model_name: str) -> str:
    """A model's name as files carry it and profiles compare it: 'models/SmolLM2-135M-Instruct' ->
    'smollm2_135m_instruct'."""
    return re.sub(r"[^a-z0-9]+", "_", Path(model_name).name.lower()).strip("_")


def same_model(profile_model: str, model_name: str) -> bool:
    """Whether a profile measured on `profile_model` may be for the model called (or loaded from)
    `model_name` (the weights' fingerprint decides): the same name, or a file of it (a quantised
    copy's cache folder, 'SmolLM2-135M-Instruct.Q4_1-19ce049b4a1e', carries the model's name first)."""
    mine, theirs = model_slug(profile_model), model_slug(model_name)
    return theirs == mine or theirs.startswith(mine + "_")
