"""Async iteration over a blocking generation stream without blocking the event loop.

A thread of its own opens the stream (tokenising a long prompt takes time too), pulls its chunks
and hands them to the loop. It is the only thread that touches the stream, so an async consumer
that stops early (cancelled, `break`) just raises a flag: the thread closes the stream at the
next chunk, which cancels generation, and the loop never waits for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from sra_rag.generation import GenerationStream


class ThreadedStream:
    """`async for text in ThreadedStream(open_stream)`; afterwards `.stream` holds usage and so on."""

    def __init__(self, open_stream: Callable[[], GenerationStream]) -> None:
        self._open = open_stream
        self.stream: GenerationStream | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        abandoned = threading.Event()

        def hand_over(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the loop is closed: nobody is listening any more
                abandoned.set()

        def pump() -> None:
            try:
                with self._open() as stream:
                    for text in stream:
                        if abandoned.is_set():
                            return
                        hand_over("text", text)
                self.stream = stream
                hand_over("end", None)
            except BaseException as error:  # raised again in the consumer's task
                hand_over("error", error)

        # the caller's context (per-call SRA override, diagnostics recorder) travels with the thread
        worker = threading.Thread(target=contextvars.copy_context().run, args=(pump,), daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            abandoned.set()
