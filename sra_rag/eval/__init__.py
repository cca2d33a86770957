"""Evaluation and benchmarks, one subpackage per subsystem: `rag` (the RAG benchmark), `longprompt`
(the long-prompt harness), `bench` (the cost benches), and `readme_tables` (the README's tables,
from the committed result files). The modules here are what they share: tasks and scoring, records
and checkpoints, statistics, provenance, plots and the model choice."""
