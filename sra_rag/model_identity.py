"""Which weights a model holds, cheaply: the identity a measured profile is bound to.

A name says little (a fine-tune keeps its base model's name; a local folder may be called
anything), and hashing every tensor reads every byte (gigabytes for a 7B model). The fingerprint
reads a fixed sample of every parameter tensor instead: a few thousand values each, evenly spaced,
rounded to bfloat16, so that the same weights loaded in float32 or bfloat16 (float32 rounded, as
transformers casts) agree, and a changed model (a fine-tune moves nearly every value) does not.
float16 and quantised weights (4-bit, 8-bit) are other numbers and fingerprint as another model:
a setting measured in float32 is measured anew on them.
"""

from __future__ import annotations

import hashlib

import torch

SAMPLES_PER_TENSOR = 4096


def weights_fingerprint(model: torch.nn.Module) -> str | None:
    """SHA-256 over each parameter's name, shape and an evenly spaced sample of its values (as
    bfloat16); None when some parameter has no values here (offloaded to the meta device)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if tensor.is_meta:
            return None
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // SAMPLES_PER_TENSOR)
        sample = flat[::step][:SAMPLES_PER_TENSOR].to("cpu", torch.float32).to(torch.bfloat16)
        digest.update(f"{name}:{tuple(tensor.shape)};".encode())
        digest.update(sample.contiguous().view(torch.uint16).numpy().tobytes())
    return digest.hexdigest()
