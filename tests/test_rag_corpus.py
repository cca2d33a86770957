"""The synthetic RAG corpora: reproducible, one document answers and the answer string nowhere else,
hard distractors that share the gold person's entities, and enough variety across cases."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from sra_rag.eval.rag.corpus import RELATIONS, RagCase, make_case
from sra_rag.eval.rag.samples import documents_for

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"

CASES = [
    make_case(seed, split, index, documents=documents)
    for seed in (0, 7)
    for split in ("dev", "test")
    for index in range(8)
    for documents in (8, 20)
]  # 64 cases, a fraction of a second
FACT = {
    "birthplace": "was a {profession} born in the town of {answer}.",
    "workshop": "{first} kept a workshop in the town of {answer}.",
    "year": "In {answer}, {first} was admitted to the guild of {profession}s.",
}


def gold_name(case: RagCase) -> str:
    return case.docs[case.gold_id].title


def gold_profession(case: RagCase) -> str:
    return re.search(r" was a (\w+) born", case.docs[case.gold_id].text).group(1)


def test_a_case_is_the_same_in_every_process() -> None:
    """A case is a function of its arguments alone, not of the process that builds it: the one
    pinned here, and every question a committed calibration scored in its own process (its records
    keep each question's answer and relation), so a resumed or repeated run reads the same ones."""
    case = make_case(3, "dev", 5, documents=12)
    asked = "What is the home town of the surveyor Nell Osmorson? Answer with the town name only."
    assert (case.question, case.answer, case.relation, case.gold_id) == (asked, "Travelbar", "birthplace", 8)
    assert [doc.role for doc in case.docs] == [
        "filler", "colleague", "filler", "filler", "namesake", "mention",
        "mention", "profile", "gold", "filler", "profile", "filler",
    ]  # fmt: skip
    assert case.docs[8].text.startswith(
        "(Title: Nell Osmorson)\nNell Osmorson was a surveyor born in the town of Travelbar. Nell kept a "
        "workshop in the town of Zoner. Visitors to Corren often get lost in the ancient lanes behind"
    )
    assert make_case(3, "dev", 5, documents=12, hard_distractors=4) == case  # its drawn count was 4

    made = json.loads((RESULTS / "profile_smollm2_135m_instruct_asked.json").read_text(encoding="utf-8"))
    preset = made["calibration"]["preset"]
    scored = {(r["split"], r["index"]): (r["answer"], r["relation"]) for r in made["calibration"]["records"]}
    assert len(scored) == preset["dev_questions"]
    for (split, index), fact in scored.items():
        case = make_case(preset["seed"], split, index, documents=documents_for(preset["retrieve"]))
        assert (case.answer, case.relation) == fact, (split, index)


def test_other_arguments_other_case() -> None:
    first = make_case(3, "dev", 5, documents=12)
    others = [
        make_case(4, "dev", 5, documents=12),
        make_case(3, "test", 5, documents=12),
        make_case(3, "dev", 6, documents=12),
    ]
    for other in others:
        assert other.question != first.question
        assert not {doc.text for doc in other.docs} & {doc.text for doc in first.docs}


def test_random_hard_count_is_reproducible_by_passing_it() -> None:
    for case in CASES[:8]:
        hard = sum(doc.role in ("mention", "namesake", "colleague") for doc in case.docs)
        again = make_case(case.seed, case.split, case.index, documents=len(case.docs), hard_distractors=hard)
        assert again == case


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.seed}-{c.split}-{c.index}-{len(c.docs)}")
def test_one_document_answers(case: RagCase) -> None:
    gold = case.docs[case.gold_id]
    assert gold.role == "gold"
    assert [doc.role for doc in case.docs].count("gold") == 1
    first = gold.title.split(" ")[0]
    fact = FACT[case.relation].format(profession=gold_profession(case), first=first, answer=case.answer)
    assert fact in gold.text
    assert gold.text.lower().count(case.answer.lower()) == 1  # no longer town contains it either
    for doc in case.docs:
        if doc is not gold:
            assert case.answer.lower() not in doc.text.lower(), doc.text
    assert case.answer.lower() not in case.question.lower()


@pytest.mark.parametrize("case", CASES[:16], ids=lambda c: f"{c.seed}-{c.split}-{c.index}-{len(c.docs)}")
def test_shape_of_a_case(case: RagCase) -> None:
    assert case.relation in RELATIONS
    assert f"the {gold_profession(case)} {gold_name(case)}" in case.question
    assert case.question.endswith("only.")
    if case.relation == "year":
        assert re.fullmatch(r"\d{4}", case.answer)
    else:
        assert re.fullmatch(r"[A-Z][a-z]+", case.answer)
    assert [doc.doc_id for doc in case.docs] == list(range(len(case.docs)))
    assert len({doc.title for doc in case.docs}) == len(case.docs)
    assert len({doc.text for doc in case.docs}) == len(case.docs)
    for doc in case.docs:
        assert 70 <= len(doc.text.split()) <= 170
        if doc.role == "profile":  # about the gold person, without the asked fact
            assert (
                doc.title.startswith(f"{gold_name(case)} (")
                and f"the {gold_profession(case)}" in doc.text.lower()
            )
            continue
        assert doc.text.startswith(f"(Title: {doc.title})\n{doc.title} was a ")
        assert 70 <= len(doc.text.split()) <= 170
        assert re.search(rf"In \d{{4}}, {doc.title.split(' ')[0]} was admitted to the guild", doc.text)
        assert "kept a workshop in the town of" in doc.text


@pytest.mark.parametrize("documents", [8, 20])
@pytest.mark.parametrize("hard", [0, 1, 2, 5, 7])
def test_hard_distractors_share_the_gold_entities(documents: int, hard: int) -> None:
    case = make_case(1, "dev", hard, documents=documents, hard_distractors=hard)
    roles = Counter(doc.role for doc in case.docs)
    assert roles["gold"] == 1
    assert roles["mention"] + roles["namesake"] + roles["colleague"] == hard
    assert roles["filler"] == documents - 1 - hard - roles["profile"]
    assert roles["profile"] <= 3
    assert (
        max(roles[r] for r in ("mention", "namesake", "colleague"))
        - min(roles[r] for r in ("mention", "namesake", "colleague"))
        <= 1
    )
    name, profession = gold_name(case), gold_profession(case)
    first, surname = name.split(" ")
    for doc in case.docs:
        if doc.role == "profile":
            assert doc.title.startswith(f"{name} (") and name in doc.text
            continue
        own_first, own_surname = doc.title.split(" ")
        if doc.role == "mention":
            assert f"the {profession} {name}" in doc.text
            assert f"was a {profession} born" not in doc.text
        elif doc.role == "namesake":
            assert (own_first == first) != (own_surname == surname)
            assert f"was a {profession} born" in doc.text
            assert name not in doc.text
        elif doc.role in ("colleague", "filler"):
            assert (f"was a {profession} born" in doc.text) == (doc.role == "colleague")
            assert first not in doc.text and surname not in doc.text


@pytest.mark.parametrize("documents", [7, 0, -3, "8", True, 8.0, None])
def test_bad_document_count_is_rejected(documents: object) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(documents))):
        make_case(0, "dev", 0, documents=documents)


@pytest.mark.parametrize("hard", [-1, 8, True, "2"])
def test_bad_hard_distractor_count_is_rejected(hard: object) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(hard))):
        make_case(0, "dev", 0, documents=8, hard_distractors=hard)


def test_cases_vary() -> None:
    sample = CASES[:32]
    assert set(RELATIONS) == {case.relation for case in sample}
    assert len({case.gold_id for case in sample}) >= 5
    assert len({sum(doc.role != "filler" for doc in case.docs) for case in sample}) >= 4
    assert len({sum(doc.role == "profile" for doc in case.docs) for case in sample}) >= 3
