"""The long-prompt harness (`python -m sra_rag.eval`): synthetic long-context tasks scored under
the paper's SRA and Attention Transition, chosen on dev and reported on test."""
