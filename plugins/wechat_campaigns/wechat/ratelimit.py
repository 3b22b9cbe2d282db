"""Pacing of one account's API calls within one process: a token bucket for calls, a spacing for mass calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def try_take(self) -> float:
        """Take one call if the bucket has it (0.0); otherwise the seconds until it will (an event loop
        waits without blocking)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


class CallSpacing:
    """At least ``interval`` seconds from one call's answer to the next call's start (thread-safe).

    For WeChat's 60 mass calls a minute: a call counts when it reaches WeChat, which may be any time until
    its answer (a slow token fetch or network), so spacing from the start would let two arrive together.
    The first call of a new client also waits one interval: the task before it may have just made one.
    """

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self._clock, self._sleep = clock, sleep
        self._next = clock() + interval
        self._lock = threading.Lock()

    @contextmanager
    def call(self) -> Iterator[None]:
        with self._lock:
            while (wait := self._next - self._clock()) > 0:
                self._sleep(wait)
            try:
                yield
            finally:
                self._next = self._clock() + self.interval
