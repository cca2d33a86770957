"""Evaluation and benchmarks: long-prompt tasks and the cost of SRA against the baseline."""
