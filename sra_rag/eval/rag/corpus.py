"""Seeded synthetic retrieval corpora: short fictional biographies, one of which answers the question.

A RAG benchmark needs a retriever that can fail: every case holds one gold biography plus hard
distractors that share its entities (a biography naming the gold person near another town or year,
namesakes, colleagues in the same trade), so ranking by surface overlap is not enough. Each fact is
stated only in its own person's document and the answer string occurs nowhere else in the corpus, so
a `contains` check of a model's reply is unambiguous. Everything is a pure function of the arguments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .. import prose

RELATIONS: tuple[str, ...] = ("birthplace", "workshop", "year")
HARD_ROLES: tuple[str, ...] = ("mention", "namesake", "colleague")
MIN_DOCUMENTS = 8
WORDS = (90, 140)
"""Inclusive bounds on a document's length in whitespace-separated words."""
MAX_RANDOM_HARD = 6
"""When `hard_distractors` is None the rng picks 0..MAX_RANDOM_HARD, so the gold rank varies."""

_QUESTIONS = {  # paraphrases, as users ask: the retriever cannot just match the fact's wording
    "birthplace": "What is the home town of the {profession} {name}? Answer with the town name only.",
    "workshop": "Where did the {profession} {name} have a workshop? Answer with the town name only.",
    "year": "When did the {profession} {name} join the guild? Answer with the year only.",
}
_CAREER = (
    "{first} practised the trade for {n} years and trained {m} apprentices along the way.",
    "Those who knew {first} remembered a patient {profession} with a short temper and a long memory.",
    "{first} kept a careful ledger of every commission, down to the last penny, for {n} years.",
    "Over a long career {first} took on {m} apprentices, and most of them stayed in the trade.",
)
# A mention names the gold person with a value of the asked kind but a different relation verb.
_MENTIONS = {
    "town": (
        "{first} once travelled to {town} with the {profession} {gold}.",
        "{first} sent letters from {town} to the {profession} {gold} for many years.",
        "{first} and the {profession} {gold} once shared a stall at the market of {town}.",
    ),
    "year": (
        "In {year}, {first} met the {profession} {gold} at the fair.",
        "{first} first heard the {profession} {gold} lecture in {year}.",
        "In {year}, {first} bought a commission from the {profession} {gold}.",
    ),
}


# A profile is a second document about the gold person that never states the asked fact: the
# same-entity distractor real corpora are full of, which often outranks the gold document.
_PROFILE_TITLES = ("later years", "letters", "recollections")
_PROFILE_LINES = (
    "In later life the {profession} {name} spoke often about the trade and its old customs.",
    "{first} travelled to {town} in {year} to buy tools, and stayed for {n} days.",
    "Letters from {first} to friends in {town} survive in the archive of the guild hall.",
    "{first} was elected warden of the hall of {profession}s in {year}.",
    "A portrait of the {profession} {name} hangs in the town hall of {town}.",
    "{first} once refused a commission from the council of {town}, to the surprise of many.",
    "The {profession} {name} rarely spoke about the home town, even to old friends.",
    "Visitors to the workshop of the {profession} {name} were asked to wipe their boots.",
    "{first} served the guild of {profession}s as treasurer for {n} years.",
)


@dataclass(frozen=True)
class RagDoc:
    doc_id: int
    """Position in `RagCase.docs`."""
    title: str
    """The person the document is about."""
    text: str
    """The whole passage as it would be stuffed into a prompt, starting "(Title: <title>)\\n"."""
    role: str
    """One of "gold", "profile" (another document about the gold person), "mention", "namesake",
    "colleague", "filler": why the document is in the corpus."""


@dataclass(frozen=True)
class RagCase:
    seed: int
    split: str
    index: int
    relation: str
    """Which fact of the gold person the question asks for: one of RELATIONS."""
    question: str
    answer: str
    """The bare town or year, found in the gold document and in no other."""
    gold_id: int
    docs: tuple[RagDoc, ...]


@dataclass(frozen=True)
class _Person:
    name: str
    profession: str
    born: str
    workshop: str
    year: str

    @property
    def first(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def surname(self) -> str:
        return self.name.split(" ", 1)[1]

    def fact(self, relation: str) -> str:
        return {"birthplace": self.born, "workshop": self.workshop, "year": self.year}[relation]


def _year(rng: random.Random) -> str:
    return str(rng.randrange(1650, 1950))


def _person(rng: random.Random, name: str, profession: str) -> _Person:
    born = prose.town(rng)
    workshop = prose.town(rng)
    while workshop == born:
        workshop = prose.town(rng)
    return _Person(name, profession, born, workshop, _year(rng))


def _filler(rng: random.Random, count: int, first: str) -> list[str]:
    """`count` chronicle sentences not naming `first`, which would read as a second person of that name."""
    lines: list[str] = []
    while len(lines) < count:
        lines += [line for line in prose.sentences(rng, count - len(lines)) if first not in line]
    return lines


def _biography(rng: random.Random, person: _Person, extra: str | None = None) -> str:
    """Birth sentence first (it introduces the full name), then the other facts among filler prose.

    Redrawn until it is WORDS long, so documents cost about the same in a prompt.
    """
    first = person.first
    birth = f"{person.name} was a {person.profession} born in the town of {person.born}."
    while True:
        career = rng.choice(_CAREER).format(
            first=first, profession=person.profession, n=rng.randrange(8, 50), m=rng.randrange(2, 20)
        )
        rest = [
            f"{first} kept a workshop in the town of {person.workshop}.",
            f"In {person.year}, {first} was admitted to the guild of {person.profession}s.",
            career,
            *_filler(rng, rng.randint(3, 5), first),
        ]
        if extra is not None:
            rest.append(extra)
        rng.shuffle(rest)
        text = f"(Title: {person.name})\n" + " ".join([birth, *rest])
        if WORDS[0] <= len(text.split()) <= WORDS[1]:
            return text


def _other_profession(rng: random.Random, profession: str) -> str:
    other = prose.profession(rng)
    while other == profession:
        other = prose.profession(rng)
    return other


def _name(rng: random.Random, role: str, gold: _Person) -> str:
    """A namesake shares exactly one of the gold person's first name and surname; others share neither."""
    first, surname = prose.person(rng).split(" ", 1)
    if role == "namesake":
        return f"{gold.first} {surname}" if rng.random() < 0.5 else f"{first} {gold.surname}"
    return f"{first} {surname}"


def _distractor(
    rng: random.Random, role: str, relation: str, gold: _Person, taken: set[str]
) -> tuple[str, str]:
    """(title, text) of one non-gold biography, redrawn until it cannot be confused with the gold answer."""
    answer = gold.fact(relation).lower()
    while True:
        name = _name(rng, role, gold)
        profession = (
            gold.profession if role in ("namesake", "colleague") else _other_profession(rng, gold.profession)
        )
        person = _person(rng, name, profession)
        mention = None
        if role == "mention":
            kind = "year" if relation == "year" else "town"
            mention = rng.choice(_MENTIONS[kind]).format(
                first=person.first,
                profession=gold.profession,
                gold=gold.name,
                town=prose.town(rng),
                year=_year(rng),
            )
        text = _biography(rng, person, mention)
        own = text if mention is None else text.replace(mention, "")
        shared = set(name.split(" ")) if role == "namesake" else set()
        if (
            name not in taken
            and answer not in text.lower()
            and not any(part in own for part in {gold.first, gold.surname} - shared)
        ):
            taken.add(name)
            return name, text


def _profile(rng: random.Random, relation: str, gold: _Person, subtitle: str) -> tuple[str, str]:
    """(title, text) of a document about the gold person without the asked fact."""
    answer = gold.fact(relation).lower()
    title = f"{gold.name} ({subtitle})"
    while True:
        lines = [
            line.format(
                profession=gold.profession,
                name=gold.name,
                first=gold.first,
                town=prose.town(rng),
                year=_year(rng),
                n=rng.randrange(3, 40),
            )
            for line in rng.sample(_PROFILE_LINES, 5)
        ]
        lines += _filler(rng, rng.randint(3, 5), gold.first)
        rng.shuffle(lines)
        opener = f"The {gold.profession} {gold.name} is remembered in many stories."
        text = f"(Title: {title})\n" + " ".join([opener, *lines])
        if answer not in text.lower() and WORDS[0] <= len(text.split()) <= WORDS[1]:
            return title, text


def _gold(rng: random.Random, relation: str) -> tuple[_Person, str, str]:
    """The gold person, question and text, redrawn until the answer occurs once and not in the name."""
    while True:
        person = _person(rng, prose.person(rng), prose.profession(rng))
        answer = person.fact(relation).lower()
        question = _QUESTIONS[relation].format(profession=person.profession, name=person.name)
        text = _biography(rng, person)
        if answer not in question.lower() and text.lower().count(answer) == 1:
            return person, question, text


def _hard_roles(rng: random.Random, count: int) -> list[str]:
    """`count` hard roles split as evenly as possible; the rng picks which roles get the remainder."""
    roles = [role for role in HARD_ROLES for _ in range(count // len(HARD_ROLES))]
    return roles + rng.sample(HARD_ROLES, count % len(HARD_ROLES))


def make_case(
    seed: int, split: str, index: int, *, documents: int, hard_distractors: int | None = None
) -> RagCase:
    """Case `index` of `split`, a pure function of its arguments: every run sees the same corpora.

    The number of hard distractors is drawn even when given, so passing the drawn value reproduces
    the case built with `hard_distractors=None`.
    """
    if isinstance(documents, bool) or not isinstance(documents, int) or documents < MIN_DOCUMENTS:
        raise ValueError(f"documents must be an integer >= {MIN_DOCUMENTS}, got {documents!r}")
    if hard_distractors is not None and (
        isinstance(hard_distractors, bool)
        or not isinstance(hard_distractors, int)
        or not 0 <= hard_distractors < documents
    ):
        raise ValueError(f"hard_distractors must be an integer in [0, {documents}), got {hard_distractors!r}")
    rng = random.Random(f"{seed}:rag:{split}:{index}:{documents}")
    drawn = rng.randint(0, MAX_RANDOM_HARD)
    hard = drawn if hard_distractors is None else hard_distractors
    relation = rng.choice(RELATIONS)
    gold, question, gold_text = _gold(rng, relation)
    roles = _hard_roles(rng, hard)
    profiles = min(rng.randint(0, len(_PROFILE_TITLES)), documents - 1 - len(roles))
    roles += ["filler"] * (documents - 1 - len(roles) - profiles)
    taken = {gold.name}
    built = [(gold.name, gold_text, "gold")]
    built += [(*_profile(rng, relation, gold, _PROFILE_TITLES[i]), "profile") for i in range(profiles)]
    for role in roles:
        built.append((*_distractor(rng, role, relation, gold, taken), role))
    rng.shuffle(built)
    docs = tuple(RagDoc(i, title, text, role) for i, (title, text, role) in enumerate(built))
    return RagCase(
        seed=seed,
        split=split,
        index=index,
        relation=relation,
        question=question,
        answer=gold.fact(relation),
        gold_id=next(doc.doc_id for doc in docs if doc.role == "gold"),
        docs=docs,
    )
