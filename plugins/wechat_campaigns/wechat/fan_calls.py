"""One call per fan, many fans at once: the per-fan send path of template and customer-service campaigns.

A blocking HTTP client in threads costs about 250 µs of CPU per call in Python; one asyncio loop (uvloop when
installed) driving keep-alive connections, with answers parsed by httptools, costs a fraction of that, so a
send task is bounded by WeChat and the account's rate limit rather than by its own core. The loop runs in a
thread of its own, started on first use, so callers stay synchronous.

The calling policy is ``WeChatClient.call``'s: the shared access token, one replacement of a stale token,
retries with backoff for what the error taxonomy calls transient, and a transport failure retried only when
WeChat de-duplicates the call (``idempotent``).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httptools

from ..domain.errors import Action, WeChatError, WeChatTransportError
from .tokens import AccessTokens

Answer = dict[str, Any] | WeChatError | WeChatTransportError | None  # None: not sent (the batch halted)


@dataclass(frozen=True)
class CallPolicy:
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    backoff: Callable[[Exception, int], float]  # (error, attempt number) -> seconds to wait
    take_rate_token: Callable[[], float] | None  # takes one call from the rate limit, or says how long to wait
    answer: Callable[[str, int, bytes], dict[str, Any]]  # (path, HTTP status, body) -> answer, or raises


class FanCalls:
    """POSTs to one WeChat host over up to ``concurrency`` keep-alive connections."""

    def __init__(self, base_url: str, tokens: AccessTokens, policy: CallPolicy):
        parts = urlsplit(base_url)
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._host_header = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._tokens = tokens
        self._policy = policy
        self._token = ""
        self._heads: dict[tuple[str, str], bytes] = {}
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._refresh: asyncio.Lock | None = None
        self._lock = threading.Lock()

    def start_each(
        self,
        path: str,
        bodies: Sequence[bytes],
        *,
        group: CallGroup,
        idempotent: bool,
        convert: Callable[[dict[str, Any]], Any] = lambda answer: answer,
    ) -> Future[list[Any]]:
        """Start sending; the future holds each body's answer, in order: ``convert(answer dict)``, or the error
        the call ended with after retries, or ``None`` for a body not sent because its group halted. The
        caller may prepare and start its next batch meanwhile: it queues behind this one for the group's
        connections, so they never wait between batches."""
        with self._lock:
            self._token = self._tokens.current()  # outside the loop: it may read the shared store
            loop = self._start()
        batch = _Batch(path, bodies, idempotent, group, convert)
        return asyncio.run_coroutine_threadsafe(self._run(batch, min(group.concurrency, len(bodies))), loop)

    def close(self) -> None:
        with self._lock:
            if self._loop is None:
                return
            loop, self._loop = self._loop, None
            loop.call_soon_threadsafe(self._close_idle)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join()
            loop.close()

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = _new_loop()
            self._refresh = None
            self._thread = threading.Thread(target=self._loop.run_forever, name="wechat-fan-calls", daemon=True)
            self._thread.start()
        return self._loop

    def _close_idle(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def _run(self, batch: _Batch, workers: int) -> list[Any]:
        if workers:
            await asyncio.gather(*(self._work(batch) for _ in range(workers)))
        return batch.answers

    async def _work(self, batch: _Batch) -> None:
        group = batch.group
        slots = group.slots()
        for index in batch.todo:  # shared by the batch's workers: each takes the next body not yet taken
            async with slots:
                if group.halted:
                    return
                answer = await self._call(batch.path, batch.bodies[index], batch.idempotent)
            if isinstance(answer, dict):
                batch.answers[index] = batch.convert(answer)
                continue
            batch.answers[index] = answer
            if isinstance(answer, WeChatError) and group.halts(answer):
                group.halted = True

    async def _call(self, path: str, body: bytes, idempotent: bool) -> Answer:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._call_with_token(path, body)
            except WeChatError as exc:
                error: Exception = exc
                retry = exc.action is Action.RETRY
            except WeChatTransportError as exc:
                error, retry = exc, idempotent
            if not retry or attempt >= self._policy.max_attempts:
                return error  # type: ignore[return-value]
            await asyncio.sleep(self._policy.backoff(error, attempt))

    async def _call_with_token(self, path: str, body: bytes) -> dict[str, Any]:
        token = self._token
        try:
            return await self._post(path, body, token)
        except WeChatError as exc:
            if exc.action is not Action.REFRESH_TOKEN:
                raise
        if self._refresh is None:
            self._refresh = asyncio.Lock()
        async with self._refresh:  # the batch's calls that met the stale token replace it once
            if self._token == token:
                loop = asyncio.get_running_loop()
                self._token = await loop.run_in_executor(None, self._tokens.replace, token)
        return await self._post(path, body, self._token)

    async def _post(self, path: str, body: bytes, token: str) -> dict[str, Any]:
        await self._pace()
        try:
            connection = self._take_idle() or await self._connect()
            status, data = await connection.exchange(self._head(path, token) + b"%d\r\n\r\n" % len(body) + body)
        except (OSError, TimeoutError, httptools.HttpParserError) as exc:
            raise WeChatTransportError(path, exc) from exc
        if connection.reusable:
            self._idle.append(connection)
        else:
            connection.close()
        return self._policy.answer(path, status, data)

    def _take_idle(self) -> _Connection | None:
        while self._idle:  # the server may have closed some while they waited
            connection = self._idle.pop()
            if connection.reusable:
                return connection
        return None

    async def _pace(self) -> None:
        take = self._policy.take_rate_token
        while take is not None and (wait := take()) > 0:
            await asyncio.sleep(wait)

    def _head(self, path: str, token: str) -> bytes:
        head = self._heads.get((path, token))
        if head is None:
            self._heads = {}  # a new token (or path): heads with an old token are of no further use
            head = self._heads[(path, token)] = (
                f"POST {self._prefix}{path}?access_token={quote(token)} HTTP/1.1\r\nHost: {self._host_header}\r\n"
                "Content-Type: application/json; charset=utf-8\r\nContent-Length: "
            ).encode()
        return head

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        connect = loop.create_connection(
            lambda: _Connection(loop, self._policy.read_timeout),
            self._host,
            self._port,
            ssl=self._ssl,
            server_hostname=self._host if self._ssl else None,
        )
        _, connection = await asyncio.wait_for(connect, self._policy.connect_timeout)
        return connection


class CallGroup:
    """Batches that share ``concurrency`` calls in flight and stop together: once an answer ``halts`` (WeChat
    refused the content, or the quota is gone), no call of any of them is started."""

    def __init__(self, concurrency: int, halts: Callable[[WeChatError], bool]):
        self.concurrency = concurrency
        self.halts = halts
        self.halted = False
        self._slots: asyncio.Semaphore | None = None

    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._slots


class _Batch:
    def __init__(self, path: str, bodies: Sequence[bytes], idempotent: bool, group: CallGroup, convert):
        self.path, self.bodies, self.idempotent, self.group, self.convert = path, bodies, idempotent, group, convert
        self.todo: Iterator[int] = iter(range(len(bodies)))
        self.answers: list[Answer] = [None] * len(bodies)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float):
        self._loop = loop
        self._read_timeout = read_timeout
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._chunks: list[bytes] = []
        self.reusable = True

    def exchange(self, request: bytes) -> asyncio.Future:
        """The answer to ``request`` as (HTTP status, body)."""
        waiter = self._waiter = self._loop.create_future()
        if self._transport is None or self._transport.is_closing():
            self._fail(ConnectionResetError("connection closed"))
            return waiter
        self._timer = self._loop.call_later(self._read_timeout, self._fail, TimeoutError("read timed out"))
        self._transport.write(request)
        return waiter

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    # -- httptools callbacks

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self._parser.should_keep_alive()
        data, self._chunks = b"".join(self._chunks), []
        waiter = self._settle()
        if waiter is not None:
            waiter.set_result((self._parser.get_status_code(), data))

    def _fail(self, exc: BaseException) -> None:
        self.reusable = False
        waiter = self._settle()
        if waiter is not None:
            waiter.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()

    def _settle(self) -> asyncio.Future | None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self._waiter = self._waiter, None
        return waiter if waiter is not None and not waiter.done() else None


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # the standard loop works, at a higher cost per call
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
