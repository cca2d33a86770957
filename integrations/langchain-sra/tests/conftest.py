"""Offline, single-threaded torch, set before anything imports them; one bundled model per session."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # forced: an exported HF_HUB_OFFLINE=0 must not reach the hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# The test machines share a few cores between jobs; OpenMP threads spin-waiting on busy cores made
# each generation about 5x slower than one thread does (measured: 13 s against 1.7 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from langchain_sra import SRALLM, ChatSRA
from sra_fixtures import MODEL_NAME, bundled


@pytest.fixture(scope="session")
def chat() -> ChatSRA:
    """Greedy, short answers: every test that generates stays fast on a shared CPU. No profile:
    these tests are about the model's own SRA setting (the profile's tests say profile=...)."""
    model, tokenizer = bundled()
    return ChatSRA(
        model=model, tokenizer=tokenizer, model_name=MODEL_NAME, max_tokens=24, diagnostics=True, profile=None
    )


@pytest.fixture(scope="session")
def llm() -> SRALLM:
    model, tokenizer = bundled()
    return SRALLM(
        model=model, tokenizer=tokenizer, model_name=MODEL_NAME, max_tokens=12, diagnostics=True, profile=None
    )
