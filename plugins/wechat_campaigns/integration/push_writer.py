"""Writer threads of a receiver process: the pushes that arrive together are opened, applied and committed
together, so a campaign's reports cost one commit per batch rather than one per push.

Each request waits for its own push's result (nothing is answered ``success`` before its transaction has
committed, so WeChat retries what a crash lost). A batch the database refuses is retried push by push, so
that one bad push cannot fail the others. PostgreSQL gets two writers, so that one batch's round trips
overlap the next one's; SQLite takes one writer at a time anyway.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy.engine import Connection, Engine

from ..inbound import REPLAYED, record_push, record_pushes
from ..wechat.callbacks import CallbackConfig, CallbackRejected, Push, open_push

log = logging.getLogger(__name__)

MAX_BATCH = 256  # pushes per transaction: enough to amortise a commit, small enough to answer quickly
WRITERS = {"postgresql": 2}  # by database; one elsewhere

_Item = tuple[CallbackConfig, dict[str, str], bytes, Future]


class PushWriter:
    def __init__(self, store: Callable[[], Engine]):
        self._store = store
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._started = False
        self._starting = threading.Lock()

    def submit(self, config: CallbackConfig, query: dict[str, str], body: bytes) -> Future[str]:
        """Queue a signed push; the future gives what it did, or CallbackRejected when it does not open."""
        future: Future[str] = Future()
        self._ensure_started()
        self._queue.put((config, query, body, future))
        return future

    def _ensure_started(self) -> None:
        if self._started:
            return
        with self._starting:
            if not self._started:
                for n in range(WRITERS.get(self._store().dialect.name, 1)):
                    threading.Thread(target=self._run, name=f"wechat-push-writer-{n}", daemon=True).start()
                self._started = True

    def _run(self) -> None:
        lane = _Lane(self._store)
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lane.write(batch)


class _Lane:
    """One writer thread's work, on a connection of its own kept between batches (no pool check-out and
    ping per batch)."""

    def __init__(self, store: Callable[[], Engine]):
        self._store = store
        self._open: Connection | None = None

    def write(self, batch: list[_Item]) -> None:
        opened: list[tuple[str, Push, Future]] = []
        for config, query, body, future in batch:
            try:
                opened.append((config.appid, open_push(config, query, body), future))
            except Exception as exc:  # CallbackRejected, mostly: answered 4xx, nothing kept
                future.set_exception(exc)
        if not opened:
            return
        try:
            outcomes = record_pushes(self._connection(), [(appid, push) for appid, push, _ in opened])
        except Exception:
            log.exception("a batch of %d pushes failed; applying them one by one", len(opened))
            self._drop_connection()
            self._write_one_by_one(opened)
            return
        for (_, _, future), outcome in zip(opened, outcomes, strict=True):
            _settle(future, outcome)

    def _write_one_by_one(self, opened: list[tuple[str, Push, Future]]) -> None:
        for appid, push, future in opened:
            try:
                _settle(future, record_push(self._connection(), appid, push))
            except Exception as exc:  # answered 500: WeChat tries again
                self._drop_connection()
                future.set_exception(exc)

    def _connection(self) -> Connection:
        if self._open is None or self._open.closed or self._open.invalidated:
            self._open = self._store().connect()
        return self._open

    def _drop_connection(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None


def _settle(future: Future, outcome: str) -> None:
    if outcome == REPLAYED:
        future.set_exception(CallbackRejected("this signature was used before (a replayed push)", status=403))
    else:
        future.set_result(outcome)
