"""Seeded fictional prose and names: the haystack every evaluation task is built from.

Real corpora would tie the harness to a download and to text the models may have memorised;
template prose with many slots reads like a town chronicle, never repeats a sentence, and is a
pure function of its random generator, so every task is reproducible from one seed.
"""

from __future__ import annotations

import random

_SYLLABLES = (
    "bar", "vel", "mor", "tan", "quil", "dor", "sen", "lir", "ka", "thu", "ren", "os", "mi", "gal",
    "per", "wyn", "ast", "cor", "lun", "fen", "bri", "zo", "hal", "ner", "vi", "eth", "sol", "tra",
)  # fmt: skip
_FIRST = (
    "Marta", "Ilse", "Tomas", "Odile", "Bram", "Sunniva", "Kasimir", "Leona", "Piet", "Rosalind",
    "Anselm", "Greta", "Edvin", "Maelis", "Corin", "Yara", "Lothar", "Nell", "Ivo", "Petra",
    "Dorian", "Elske", "Fabian", "Hedda", "Joris", "Katrin", "Milo", "Runa", "Silas", "Vera",
)  # fmt: skip
_PROFESSIONS = (
    "cartographer", "glassblower", "astronomer", "botanist", "clockmaker", "shipwright", "composer",
    "archivist", "engineer", "beekeeper", "bookbinder", "surveyor", "chemist", "weaver", "painter",
)  # fmt: skip
_THINGS = (
    "lanterns", "ledgers", "barrels of cider", "bolts of linen", "copper kettles", "maps",
    "sacks of barley", "crates of salted fish", "spools of thread", "bundles of reeds", "tide tables",
    "wax candles", "iron nails", "jars of honey", "oak planks", "woollen blankets",
)  # fmt: skip
_PLACES = (
    "the old mill", "the customs house", "the lighthouse", "the north quay", "the chapel of reeds",
    "the salt market", "the ropewalk", "the weavers' hall", "the toll bridge", "the granary",
    "the harbour office", "the school on the hill", "the observatory", "the fish market",
)  # fmt: skip
_ADJECTIVES = (
    "quiet", "busy", "windswept", "crowded", "narrow", "sunlit", "damp", "ancient", "freshly painted",
    "half-flooded", "candlelit", "draughty", "famous", "forgotten",
)  # fmt: skip
_TEMPLATES = (
    "In the year {year}, the council of {town} counted {n} {things} stored at {place}.",
    "{first} walked past {place} every morning, where the {adj} hall smelled of tar and rain.",
    "Traders from {town} sold {n} {things} before the noon bell rang over {place}.",
    "The records of {town} mention a {adj} winter in {year}, when {place} stayed closed for {n} days.",
    "A {profession} named {first} kept a diary about {place} for {n} years.",
    "Nobody in {town} remembers why {place} was painted green in {year}.",
    "Each spring the ferry to {town} carried {n} {things} and a handful of {adj} travellers.",
    "The road from {place} to {town} was repaired {n} times before {year}.",
    "Children in {town} learned to count by stacking {things} outside {place}.",
    "{first}, the {profession}, argued that {place} was older than the town itself.",
    "When the tide was low, {n} fishing boats rested on the mud below {place}.",
    "The {adj} square in front of {place} hosted a fair of {things} in {year}.",
    "Letters from {town} arrived {n} days late during the storms of {year}.",
    "A {adj} map of {town} hangs in {place}, drawn by a {profession} long forgotten.",
    "In {year} the price of {things} in {town} rose by {n} pennies, and {first} complained loudly.",
    "The bells of {place} were recast in {year} from {n} old {things} melted together.",
    "Visitors to {town} often get lost in the {adj} lanes behind {place}.",
    "{first} once rowed from {town} to the outer islands with {n} {things} in the boat.",
)


def town(rng: random.Random) -> str:
    """A fictional place name from two or three syllables."""
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()


def person(rng: random.Random) -> str:
    """A fictional full name."""
    return f"{rng.choice(_FIRST)} {town(rng)}{rng.choice(('', 'son', 'er', 'ova', 'ski'))}"


def profession(rng: random.Random) -> str:
    return rng.choice(_PROFESSIONS)


def sentence(rng: random.Random) -> str:
    """One sentence of chronicle prose."""
    return rng.choice(_TEMPLATES).format(
        year=rng.randrange(1650, 1950),
        town=town(rng),
        n=rng.randrange(2, 400),
        things=rng.choice(_THINGS),
        place=rng.choice(_PLACES),
        first=rng.choice(_FIRST),
        adj=rng.choice(_ADJECTIVES),
        profession=rng.choice(_PROFESSIONS),
    )


def sentences(rng: random.Random, count: int) -> list[str]:
    return [sentence(rng) for _ in range(count)]
