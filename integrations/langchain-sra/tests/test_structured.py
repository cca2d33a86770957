"""Structured output on the bundled SmolLM2-135M, whose chat template cannot render tools: every
reply is constrained to the schema's JSON, so it parses every time, with SRA on and off."""

from typing import Any, TypedDict

import pytest
from langchain_core.messages import AIMessage
from langchain_sra import ChatSRA
from pydantic import BaseModel, Field
from sra_fixtures import ACTIVE_ON_SHORT_PROMPTS

from sra_rag.structured import IncompleteJSONError

PEOPLE = [
    ("Mira Voss", "Tallow", 1871),
    ("Teodora Vask", "Quillon", 1902),
    ("Halvard Quist", "Aldermoor", 1954),
    ("Jonas Aard", "Velden", 1933),
    ("Linnet Orrin", "Skerra", 1888),
    ("Ansel Brandt", "Quarry Hill", 1925),
    ("Petra Holm", "Korvenna", 1969),
    ("Elin Marrow", "Eskelund", 1897),
    ("Tilda Varga", "Ostrum", 1941),
    ("Oskar Fenn", "Brask", 1916),
]
PROMPTS = [
    f"{name} was born in {town} in {year}. Give the person's name, birthplace and birth year."
    for name, town, year in PEOPLE
] + [
    f"Records show that the painter {name}, born {year}, grew up in {town}. Extract name, town and year."
    for name, town, year in PEOPLE
]


class Person(BaseModel):
    """A person in the text."""

    name: str = Field(description="the person's full name")
    town: str = Field(description="where the person was born")
    year: int = Field(description="the year of birth")


@pytest.fixture
def roomy(chat: ChatSRA) -> ChatSRA:
    return chat.model_copy(update={"max_tokens": 48})


@pytest.mark.parametrize("sra", [None, ACTIVE_ON_SHORT_PROMPTS], ids=["off", "sra"])
def test_twenty_prompts_fill_a_three_field_schema_twenty_times(roomy: ChatSRA, sra: Any) -> None:
    structured = roomy.bind(sra=sra).with_structured_output(Person)
    people = structured.batch(PROMPTS, config={"max_concurrency": 1})
    assert len(people) == 20 and all(isinstance(p, Person) for p in people)
    names = sum(p.name == name for p, (name, _, _) in zip(people, PEOPLE * 2, strict=True))
    assert names >= 10  # filled from the prompt, not just well-formed


def test_a_typeddict_a_json_schema_and_the_raw_message(roomy: ChatSRA) -> None:
    class PersonDict(TypedDict):
        """A person in the text."""

        name: str
        year: int

    prompt = PROMPTS[0]
    as_dict = roomy.with_structured_output(PersonDict).invoke(prompt)
    assert set(as_dict) == {"name", "year"} and isinstance(as_dict["year"], int)
    assert roomy.with_structured_output(Person.model_json_schema()).invoke(prompt).keys() == {
        "name",
        "town",
        "year",
    }
    raw = roomy.with_structured_output(Person, include_raw=True).invoke(prompt)
    assert isinstance(raw["raw"], AIMessage) and raw["parsing_error"] is None
    assert raw["parsed"] == Person.model_validate_json(raw["raw"].content)


def test_a_reply_out_of_tokens_is_an_error_not_cut_json(chat: ChatSRA) -> None:
    short = chat.model_copy(update={"max_tokens": 4}).with_structured_output(Person)
    with pytest.raises(IncompleteJSONError, match="reached max_new_tokens=4 before its JSON document"):
        short.invoke(PROMPTS[0])
    stopped = chat.model_copy(update={"max_tokens": 48, "stop": ['"']}).with_structured_output(Person)
    assert isinstance(stopped.invoke(PROMPTS[0]), Person)  # no stop string cuts a held reply


def test_bad_structured_options_are_clear_errors(chat: ChatSRA) -> None:
    with pytest.raises(ValueError, match="method='xml' is not supported"):
        chat.with_structured_output(Person, method="xml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unsupported argument\(s\) \['tools'\]"):
        chat.with_structured_output(Person, tools=[])
    with pytest.raises(ValueError, match="needs a schema"):
        chat.with_structured_output(None)  # type: ignore[arg-type]


def test_json_mode_takes_no_schema_and_returns_a_json_object(roomy: ChatSRA) -> None:
    """LangChain's json_mode may name no schema: the reply is any JSON object, parsed to a dict."""
    structured = roomy.with_structured_output(None, method="json_mode")
    value = structured.invoke("Reply in JSON with the keys name and town: Mira Voss was born in Tallow.")
    assert isinstance(value, dict)
    with pytest.raises(ValueError, match="needs a schema"):
        roomy.with_structured_output(None)
