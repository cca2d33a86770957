"""The SRA engine: settings (`setting`, `sra`, `transition`, the guided rules), the prompt's spans,
the attention function, the eager recompute, the per-model state, diagnostics and patching.

It depends on torch and transformers only, never on the application around it (generation,
models, the RAG pipeline, the CLI, the evaluation): that layer imports the engine, not the other
way round (tests/test_layout.py checks it).
"""
