"""Structured prediction through `SRALLM` on the bundled SmolLM2-135M: the reply is held to the
output class's JSON, so LlamaIndex's program parses it every time, with SRA on and off."""

from typing import Any

import pytest
from llama_index.core import PromptTemplate
from llama_index.llms.sra import SRALLM
from pydantic import BaseModel, Field

from sra_rag import SRAConfig

PEOPLE = [("Mira Voss", "Tallow", 1871), ("Teodora Vask", "Quillon", 1902), ("Jonas Aard", "Velden", 1933)]
PROMPT = PromptTemplate("{text}\nGive the person's name, birthplace and birth year.")
ACTIVE = SRAConfig(begin_length=5, question_length=8, inter_eliminate=0.5, outer_eliminate=0.5)


class Person(BaseModel):
    """A person in the text."""

    name: str = Field(description="the person's full name")
    town: str = Field(description="where the person was born")
    year: int = Field(description="the year of birth")


@pytest.mark.parametrize("sra", [None, ACTIVE], ids=["off", "sra"])
def test_structured_predict_fills_the_class_every_time(llm: SRALLM, sra: Any) -> None:
    llm.sra, llm.max_new_tokens = sra, 48
    for name, town, year in PEOPLE:
        person = llm.structured_predict(Person, PROMPT, text=f"{name} was born in {town} in {year}.")
        assert isinstance(person, Person)


async def test_astructured_predict_too(llm: SRALLM) -> None:
    llm.max_new_tokens = 48
    name, town, year = PEOPLE[0]
    person = await llm.astructured_predict(Person, PROMPT, text=f"{name} was born in {town} in {year}.")
    assert isinstance(person, Person) and person.year == year


def test_stream_structured_predict_ends_with_the_whole_object(llm: SRALLM) -> None:
    """The streamed partial objects end in a complete, valid one: the reply was held to the class."""
    llm.max_new_tokens = 48
    name, town, year = PEOPLE[1]
    parts = list(llm.stream_structured_predict(Person, PROMPT, text=f"{name} was born in {town} in {year}."))
    assert len(parts) > 1 and Person.model_validate(parts[-1].model_dump()) == parts[-1]


async def test_astream_structured_predict_too(llm: SRALLM) -> None:
    llm.max_new_tokens = 48
    name, town, year = PEOPLE[2]
    stream = await llm.astream_structured_predict(
        Person, PROMPT, text=f"{name} was born in {town} in {year}."
    )
    parts = [part async for part in stream]
    assert isinstance(Person.model_validate(parts[-1].model_dump()), Person)
