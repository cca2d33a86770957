"""The one passage value: checked where it is made, the same whatever form a caller gave it, and
weighed by the ranks that are there."""

import math

import pytest

from sra_rag.engine.passage import Passage, as_passages, fill_ranks, ranked_passages


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": 3}, "text must be a string"),
        ({"text": "a", "rank": 0}, "retrieval rank must be an integer >= 1"),
        ({"text": "a", "rank": True}, "retrieval rank must be an integer >= 1"),
        ({"text": "a", "weight": -0.5}, "weight must be a finite number >= 0"),
        ({"text": "a", "weight": math.nan}, "weight must be a finite number >= 0"),
        ({"text": "a", "weight": "high"}, "weight must be a finite number >= 0"),
    ],
)
def test_a_bad_passage_fails_where_it_is_made(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Passage(**fields)


def test_every_form_a_caller_gives_becomes_the_same_passage() -> None:
    given = [
        "plain",
        ("weighed", 0.5),
        ("named", 1, "doc-7"),
        Passage("whole", 2, 0.25, "p"),
        {"text": "json"},
    ]
    assert as_passages(given) == [
        Passage("plain", label="0"),
        Passage("weighed", weight=0.5, label="1"),
        Passage("named", weight=1.0, label="doc-7"),
        Passage("whole", 2, 0.25, "p"),
        Passage("json"),
    ]
    with pytest.raises(TypeError, match="not one string"):
        as_passages("a text")
    with pytest.raises(ValueError, match="passage 0 is a int"):
        as_passages([7])


def test_a_passage_travels_as_json_and_back() -> None:
    passage = Passage("text", 3, 0.5, "d2")
    assert Passage.from_dict(passage.to_dict()) == passage
    with pytest.raises(ValueError, match="needs 'text'"):
        Passage.from_dict({"text": "t", "score": 0.9})


def test_ranks_are_kept_and_the_missing_ones_come_after() -> None:
    assert fill_ranks([3, None, 1, None]) == [3, 4, 1, 5]
    assert fill_ranks([None, None]) == [1, 2]
    weighed = ranked_passages([("a", 3, "a"), ("b", None, "b"), ("c", 1, "c")])
    assert [(p.rank, p.weight) for p in weighed] == [(3, 2 / 3), (4, 1 / 3), (1, 1.0)]
