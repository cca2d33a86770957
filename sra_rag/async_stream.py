"""Async iteration over a blocking generation without blocking the event loop.

A thread of its own opens the iterator (tokenising a long prompt takes time too), pulls its items
and hands them to the loop. It is the only thread that touches the iterator, so an async consumer
that stops early (cancelled, `break`) just raises a flag: the thread closes the iterator at the
next item, which cancels a generation, and the loop never waits for it. The caller's context
variables (a per-call SRA setting, a diagnostics recorder) travel with the thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .generation import GenerationStream

T = TypeVar("T")


async def iterate_in_thread(open_iterator: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """The items of `open_iterator()`, opened, iterated and closed in a worker thread; its errors
    are raised in the consumer's task."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    abandoned = threading.Event()

    def hand_over(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            abandoned.set()

    def pump() -> None:
        iterator = None
        try:
            iterator = open_iterator()
            for item in iterator:
                if abandoned.is_set():
                    return
                hand_over("item", item)
            hand_over("end", None)
        except BaseException as error:  # raised again in the consumer's task
            hand_over("error", error)
        finally:
            if (close := getattr(iterator, "close", None)) is not None:
                close()

    threading.Thread(target=contextvars.copy_context().run, args=(pump,), daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        abandoned.set()


class AsyncGenerationStream:
    """`async for text in generator.astream(prompt)`; once it ends, `.stream` is the finished
    `GenerationStream`, with its usage, finish reason, SRA setting and diagnostics.

    Generation starts at the first iteration, so bad input raises there."""

    def __init__(self, open_stream: Callable[[], GenerationStream]) -> None:
        self._open = open_stream
        self.stream: GenerationStream | None = None

    def _opened(self) -> GenerationStream:
        self.stream = self._open()
        return self.stream

    def __aiter__(self) -> AsyncIterator[str]:
        return iterate_in_thread(self._opened)
