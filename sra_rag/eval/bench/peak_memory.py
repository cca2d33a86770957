"""The resident-memory peak of one pass, read from the kernel's high-water mark rather than sampled.

Linux keeps each process's peak resident set (VmHWM) and resets it to the current resident set
when "5" is written to /proc/self/clear_refs, so a pass's peak is exact: no sampling thread can
miss a short-lived block. glibc is told to return freed large blocks to the system
(`release_freed_memory`), or memory kept from an earlier pass would be reused and hide the pass's
own peak. On systems without these files the measurement is reported as unavailable. On a CUDA
device the peak is the allocator's own count of live tensors (`CudaPeak`).
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MMAP_THRESHOLD = 128 * 1024
METHOD = "kernel peak resident set (VmHWM reset per pass), glibc M_MMAP_THRESHOLD=128 KiB"
CUDA_METHOD = "torch.cuda.max_memory_allocated, reset per pass (live tensors; not the allocator's cache)"


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), flags=re.MULTILINE)
    if match is None:
        raise OSError(f"{_STATUS} has no {field} line")
    return int(match.group(1))


def available() -> bool:
    """Whether this system can measure a pass's peak (Linux 4.0 or newer, glibc)."""
    try:
        _status_kib("VmHWM")
        ctypes.CDLL("libc.so.6").mallopt  # noqa: B018 - only checks that glibc is there
    except (OSError, AttributeError):
        return False
    return _CLEAR_REFS.exists()


def release_freed_memory() -> None:
    """Make glibc mmap every block over 128 KiB and unmap it when freed (the default raises this
    threshold as a program runs and keeps freed tensors), then hand back what it holds now."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, _MMAP_THRESHOLD)  # M_MMAP_THRESHOLD; setting it also stops its growth
    libc.malloc_trim(0)


def keep_freed_memory() -> None:
    """Back to what glibc settles into on its own in a long run (its dynamic threshold rises to
    32 MiB, its 64-bit maximum), for timings taken after a memory measurement."""
    ctypes.CDLL("libc.so.6").mallopt(-3, 32 * 2**20)


class ResidentPeak:
    """`with ResidentPeak() as peak: ...` then `peak.extra_mib` (above the resident set at entry)
    and `peak.peak_mib` (the whole process's peak, model included)."""

    def __enter__(self) -> ResidentPeak:
        _CLEAR_REFS.write_text("5")  # the high-water mark restarts from the current resident set
        self.start_kib = _status_kib("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak_kib = _status_kib("VmHWM")

    @property
    def extra_mib(self) -> float:
        return max(self.peak_kib - self.start_kib, 0) / 1024

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024


class CudaPeak:
    """The same for a CUDA device: `extra_mib` above what was allocated at entry, `peak_mib` the
    device's peak (model included), both from the caching allocator's counters after a sync."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self) -> CudaPeak:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self.start = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        torch.cuda.synchronize(self.device)
        self.peak = torch.cuda.max_memory_allocated(self.device)

    @property
    def extra_mib(self) -> float:
        return max(self.peak - self.start, 0) / 2**20

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20
