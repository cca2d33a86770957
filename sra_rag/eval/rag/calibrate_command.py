"""`sra-rag calibrate`: measure a model's RAG profile, and (for published numbers) judge it.

    sra-rag calibrate --model DIR                       # dev: writes profile_<model>.json
    sra-rag calibrate --model DIR --questions Q.jsonl --index INDEX   # dev on your own questions
    sra-rag calibrate --model DIR --test                # test split: writes profile_<model>_test.json

The dev phase is what a user runs for their own model; its profile loads in `RagPipeline`
(`profile=...`), `stuff_passages` and `PassageReorder`. The test phase judges a committed profile
on questions the dev phase never read and, with `--ship DIR`, copies a profile that passes the ship
rule into DIR (the package's `sra_rag/profiles` for the bundled models).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...rag.profile import RagProfile, model_slug
from ..longprompt.command import format_interval
from ..model_choice import add_model_argument, go_offline, load_eval_model, resolve_model
from .command import last_commit
from .presets import CALIBRATION_PRESETS

OWN_NEW_TOKENS = 32
"""New tokens per answer to your own questions."""


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--out", type=Path, help="the profile file (default: profile_<model>.json here)")
    parser.add_argument("--preset", choices=sorted(CALIBRATION_PRESETS), default="full", help="run size")
    parser.add_argument(
        "--questions",
        type=Path,
        help='your own questions: JSON Lines of {"question": ..., "answer": ...}, asked of --index',
    )
    parser.add_argument("--index", type=Path, help="with --questions: the index `sra-rag index` wrote")
    parser.add_argument(
        "--test",
        action="store_true",
        help="judge the committed profile at --out on the test split (writes <out>_test.json)",
    )
    parser.add_argument("--ship", type=Path, help="with --test: where a profile that passes is copied")
    parser.add_argument(
        "--uncommitted-profile",
        action="store_true",
        help="let --test judge a profile that is not committed (the report says so)",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore a checkpoint of an earlier run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, help="torch CPU threads")


def _signed(interval: dict[str, Any], scale: float = 1.0) -> str:
    return format_interval(interval, scale, digits=1, signed=True)


def summary(rows: dict[str, dict[str, Any]], reference: str, title: str) -> str:
    """A table: free-form accuracy (as `ask` answers) and its paired difference from the reference,
    then the stem-forced gold log-probability's."""
    width = max(22, *(len(name) + 2 for name in rows))
    lines = [title, f"{'setting':<{width}}{'correct':>9}  {'points vs ref':<22}{'nats vs ref (stem)':<22}"]
    for name, row in rows.items():
        acc, diff = row["accuracy"], row[f"vs_{reference}"]
        lines.append(
            f"{name:<{width}}{acc['correct']:>4}/{acc['n']:<4}  {_signed(diff['accuracy'], 100):<22}"
            f"{_signed(diff['logprob']):<22}"
        )
    return "\n".join(lines)


def run_calibrate(args: argparse.Namespace) -> int:
    go_offline()  # before anything imports huggingface_hub
    source, name = resolve_model(args.model)
    out: Path = args.out or Path(f"profile_{model_slug(name)}.json")
    report_path = out.with_name(f"{out.stem}_test.json")
    checkpoint = out.with_name(f"{out.stem}{'_test' if args.test else ''}.partial.jsonl")
    if args.ship and not args.test:
        raise ValueError("--ship copies a profile that passed the test phase: add --test")
    if (args.questions is None) != (args.index is None):
        raise ValueError("--questions and --index go together: your questions, asked of your index")
    if args.questions and args.test:
        raise ValueError("--test judges the synthetic corpora's test split; with --questions, keep some back")
    own = None
    if args.questions:
        from ...rag.store import load_index
        from .own_questions import OwnQuestions, load_questions

        own = OwnQuestions(args.questions, load_questions(args.questions), load_index(args.index))
    if args.test:
        profile = RagProfile.load(out)  # first: a missing profile fails before the model loads
        if not args.uncommitted_profile and last_commit(out) is None:
            raise ValueError(f"the profile {out} is not committed as it is: commit it before --test")
    elif out.is_file() and last_commit(out) is not None:
        raise ValueError(f"the profile {out} is committed: remove it (git rm) to calibrate again")
    from ...rag.embedding import Embedder
    from ..tasks import prompt_style
    from .calibrate import calibrate
    from .profile_verdict import judge_profile

    model, tokenizer = load_eval_model(args, source)
    if args.fresh:
        checkpoint.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.test:
        preset = CALIBRATION_PRESETS[args.preset]
        if own is not None:  # answers in your words may take more than a name's few tokens
            preset = replace(preset, max_new_tokens=OWN_NEW_TOKENS)
        made = calibrate(
            model,
            tokenizer,
            Embedder(),
            preset,
            model_name=name,
            model_source=source,
            style=prompt_style(tokenizer),
            checkpoint=checkpoint,
            progress=not args.quiet,
            own=own,
        )
        made.save(out)
        checkpoint.unlink(missing_ok=True)
        rows, ref = made.calibration["dev"]["settings"], made.calibration["reference"]
        asked = (
            f"{len(own.questions)} of your questions"
            if own
            else f"dev split: {preset.dev_questions} questions"
        )
        sys.stdout.write(summary(rows, ref, f"{name}, {asked}") + "\n")
        sys.stdout.write(f"wrote {out}: {made.describe()}\n")
        return 0
    report = judge_profile(
        model,
        tokenizer,
        Embedder(),
        profile,
        model_source=source,
        checkpoint=checkpoint,
        progress=not args.quiet,
    )
    report["profile_file"], report["profile_commit"] = str(out), last_commit(out)
    report_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    checkpoint.unlink(missing_ok=True)
    test, verdict = report["test"], report["test"]["decision"]["ships"]
    title = f"{name}, test split: {test['questions']} questions"
    sys.stdout.write(summary(test["settings"], report["reference"], title) + "\n")
    sys.stdout.write(f"{report['chosen']}: {'ships' if verdict else 'does not ship'} ({report_path})\n")
    if verdict and args.ship:
        shipped = {k: v for k, v in profile.calibration.items() if k != "records"}
        shipped["test"] = {"report": report_path.name, "decision": report["test"]["decision"]}
        args.ship.mkdir(parents=True, exist_ok=True)
        replace(profile, calibration=shipped).save(args.ship / f"{model_slug(profile.model)}.json")
    return 0
