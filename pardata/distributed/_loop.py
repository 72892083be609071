"""One background event loop thread, shared by the blocking Clients and clusters.

The Client's work (its scheduler stream, gathering from workers, in-process servers)
runs as coroutines on this loop; blocking methods hand a coroutine over and wait for
its result. The thread is started by the first user and stopped, with its loop closed,
when the last one releases it, so a closed Client leaves no thread or loop behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Awaitable

__all__ = ["LoopThread"]


class LoopThread:
    """A running asyncio loop in a daemon thread; ``acquire``/``release`` share it."""

    _shared: "LoopThread | None" = None
    _users = 0
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="pardata-loop", daemon=True)
        self.thread.start()
        self._ready.wait()

    @classmethod
    def acquire(cls) -> "LoopThread":
        with cls._lock:
            if cls._shared is None:
                cls._shared = LoopThread()
            cls._users += 1
            return cls._shared

    @classmethod
    def release(cls, runner: "LoopThread") -> None:
        with cls._lock:
            if runner is not cls._shared:
                return
            cls._users -= 1
            if cls._users > 0:
                return
            cls._shared = None
        runner.stop()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def run(self, awaitable: Awaitable, timeout: float | None = None) -> Any:
        """Run a coroutine on the loop and wait for its result (from another thread)."""
        if self.in_loop_thread():
            raise RuntimeError(
                "a blocking pardata call was made on the client's event loop thread "
                "(e.g. Future.result() inside an async function): await it instead"
            )
        future = asyncio.run_coroutine_threadsafe(_wrap(awaitable), self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout}s") from None

    def call_soon(self, fn, *args) -> None:
        """Call ``fn(*args)`` on the loop thread (thread-safe; no-op once stopped)."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed
            pass

    def stop(self) -> None:
        """Cancel what still runs on the loop, stop it, join the thread, close the loop."""
        if self.loop.is_closed():
            return

        async def _shutdown() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        if self.thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(_shutdown(), self.loop).result(10)
            except Exception:  # noqa: BLE001 - best effort; the loop is stopped anyway
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()


async def _wrap(awaitable: Awaitable) -> Any:
    return await awaitable
