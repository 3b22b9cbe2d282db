"""Every call to WeChat, one at a time or many per-fan sends at once, through one aiohttp session.

One policy for both: pace (the account's rate limit) -> the shared access token -> post -> classify the answer
(``WeChatError`` by errcode, ``WeChatTransportError`` when there is no usable answer) -> replace a stale token
once -> retry what the error taxonomy calls transient, with backoff. A transport failure is retried only when
WeChat de-duplicates the call or it changes nothing (``idempotent``); a certificate that is not trusted is
never retried (it will not become trusted).

The sessions live on the process's one event loop for WeChat calls (uvloop when installed), in a thread of
its own started on first use, so callers stay synchronous: ``call`` waits for one answer, ``start_each``
hands back a future for a batch. A blocking client in threads costs about 250 µs of CPU per call in Python;
one loop driving keep-alive connections costs a fraction of that, so a send task is bounded by WeChat and
the account's rate limit.

Egress: ``proxy`` (the connection's ``proxy`` extra) routes every call; without it the standard
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` environment does. ``ssl_context`` carries the CA bundle when
WeChat's certificate is re-signed by a corporate proxy (the ``ca_bundle`` extra).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import ssl
import threading
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from yarl import URL

from ..domain.errors import Action, WeChatError, WeChatTransportError
from .tokens import AccessTokens

log = logging.getLogger(__name__)

Answer = dict[str, Any] | WeChatError | WeChatTransportError | None  # None: not sent (the batch halted)
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


@dataclass(frozen=True)
class CallPolicy:
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    backoff: Callable[[Exception, int], float]  # (error, attempt number) -> seconds to wait
    take_rate_token: Callable[[], float] | None  # takes one call from the rate limit, or says how long to wait
    answer: Callable[[str, int, bytes], dict[str, Any]]  # (path, HTTP status, body) -> answer, or raises


@dataclass(slots=True)  # not frozen: a frozen dataclass costs microseconds to make, once per fan
class Request:
    """One call: ``body`` is JSON already encoded; ``files`` (name -> (filename, bytes)) and ``form`` make a
    multipart upload instead."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    body: bytes | None = None
    files: Mapping[str, tuple[str, bytes]] | None = None
    form: Mapping[str, str] | None = None
    with_token: bool = True
    idempotent: bool = True
    logged: bool = True  # a DEBUG line per call; not for a campaign's per-fan sends

    def data(self) -> Any:
        if self.files is None:
            return self.body
        data = aiohttp.FormData()  # built for each attempt: aiohttp consumes a FormData when it sends it
        for name, value in (self.form or {}).items():
            data.add_field(name, value)
        for name, (filename, content) in self.files.items():
            data.add_field(name, content, filename=filename, content_type="application/octet-stream")
        return data


class Transport:
    """One account's calls to one WeChat host."""

    def __init__(
        self,
        base_url: str,
        tokens: AccessTokens,
        policy: CallPolicy,
        *,
        proxy: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._policy = policy
        self._proxy = proxy or _proxy_from_environment(self.base_url)
        self._ssl = ssl_context if ssl_context is not None else True  # True: aiohttp's default verification
        self._urls: dict[tuple[str, str], URL] = {}
        self._session: aiohttp.ClientSession | None = None  # made on the loop, at the first call
        self._refresh: asyncio.Lock | None = None
        # Each stale token and what replaced it: the other calls in flight with it switch without a failure.
        self._newer: dict[str, str] = {}
        self._made_on: asyncio.AbstractEventLoop | None = None  # the loop the session and lock belong to
        self._closer: weakref.finalize | None = None

    # -- synchronous callers ----------------------------------------------------------------------------

    def call(self, request: Request) -> dict[str, Any]:
        """The answer to one call after the policy's retries; raises ``WeChatError`` / ``WeChatTransportError``."""
        if _LOOP.runs_here():
            raise RuntimeError("Transport.call from the transport's event loop would wait for itself")
        token = self._tokens.current() if request.with_token else None  # here: it may read the shared store
        return self._submit(self._call(request, token)).result()

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
        token = self._tokens.current()
        batch = _Batch(path, bodies, idempotent, group, convert)
        return self._submit(self._run(batch, token, min(group.concurrency, len(bodies))))

    def close(self) -> None:
        """Close the connections now (a transport dropped without ``close`` closes them soon after)."""
        session, self._session = self._session, None
        if session is not None and self._closer is not None and self._closer.detach() is not None:
            closing = asyncio.run_coroutine_threadsafe(session.close(), _LOOP.get())
            if not _LOOP.runs_here():
                closing.result(timeout=10)

    def _submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, _LOOP.get())

    # -- the policy -------------------------------------------------------------------------------------

    async def _run(self, batch: _Batch, token: str, workers: int) -> list[Any]:
        if workers:
            await asyncio.gather(*(self._work(batch, token) for _ in range(workers)))
        return batch.answers

    async def _work(self, batch: _Batch, token: str) -> None:
        group = batch.group
        slots = group.slots()
        path, idempotent = batch.path, batch.idempotent
        for index in batch.todo:  # shared by the batch's workers: each takes the next body not yet taken
            async with slots:
                if group.halted:
                    return
                try:
                    request = Request("POST", path, None, batch.bodies[index], None, None, True, idempotent, False)
                    answer = await self._call(request, token)
                except (WeChatError, WeChatTransportError) as exc:
                    batch.answers[index] = exc
                    if isinstance(exc, WeChatError) and group.halts(exc):
                        group.halted = True
                    continue
            batch.answers[index] = batch.convert(answer)

    async def _call(self, request: Request, token: str | None) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._call_with_token(request, token)
            except WeChatError as exc:
                error: WeChatError | WeChatTransportError = exc
                retry = exc.action is Action.RETRY
            except WeChatTransportError as exc:
                error, retry = exc, request.idempotent and exc.retryable
            if not retry or attempt >= self._policy.max_attempts:
                raise error
            await asyncio.sleep(self._policy.backoff(error, attempt))

    async def _call_with_token(self, request: Request, token: str | None) -> dict[str, Any]:
        if token is None:
            return await self._post(request, None)
        token = self._newer.get(token, token)
        try:
            return await self._post(request, token)
        except WeChatError as exc:
            if exc.action is not Action.REFRESH_TOKEN:
                raise
        if self._refresh is None:
            self._refresh = asyncio.Lock()
        async with self._refresh:  # the calls that met the stale token replace it once
            if token not in self._newer:
                loop = asyncio.get_running_loop()
                self._newer[token] = await loop.run_in_executor(None, self._tokens.replace, token)
        return await self._post(request, self._newer[token])

    async def _post(self, request: Request, token: str | None) -> dict[str, Any]:
        await self._pace()
        url = self._url(request, token)
        if request.logged and log.isEnabledFor(logging.DEBUG):  # what an operator chasing a problem reads
            log.debug("%s %s", request.method, url.with_query(None) % _shown(request.params, token))
        try:
            async with self._open().request(
                request.method,
                url,
                data=request.data(),
                headers=JSON_HEADERS if request.body is not None else None,
                proxy=self._proxy,
                ssl=self._ssl,
            ) as response:
                status, data = response.status, await response.read()
        except aiohttp.ClientConnectorCertificateError as exc:
            raise WeChatTransportError(request.path, _untrusted(exc), retryable=False) from exc
        except aiohttp.ClientProxyConnectionError as exc:
            cause = f"the proxy {_without_password(self._proxy)} cannot be reached: {exc.os_error}"
            raise WeChatTransportError(request.path, cause) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise WeChatTransportError(request.path, exc) from exc
        return self._policy.answer(request.path, status, data)

    async def _pace(self) -> None:
        take = self._policy.take_rate_token
        while take is not None and (wait := take()) > 0:
            await asyncio.sleep(wait)

    def _url(self, request: Request, token: str | None) -> URL:
        if request.params:
            params = {**request.params, **({"access_token": token} if token else {})}
            return URL(f"{self.base_url}{request.path}?{urlencode(params)}", encoded=True)
        key = (request.path, token or "")
        url = self._urls.get(key)
        if url is None:  # built once per path and token: parsing a URL for each of a campaign's calls costs
            if len(self._urls) > 64:
                self._urls.clear()  # old tokens' URLs are of no further use
            query = f"?{urlencode({'access_token': token})}" if token else ""
            url = self._urls[key] = URL(f"{self.base_url}{request.path}{query}", encoded=True)
        return url

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._made_on is not loop:  # a forked child's new loop: what the parent's loop held is unusable
            self._made_on, self._session, self._refresh = loop, None, None
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self._policy.connect_timeout, sock_read=self._policy.read_timeout
            )
            # No connection limit here: a CallGroup bounds the calls in flight. Not trust_env: it would read the
            # environment's proxies and ~/.netrc again for every call (the proxy is found once, above).
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # WeChat's API sets no cookies
            )  # and no skip_auto_headers: aiohttp would build a header set from it for every call
            # The finalizer holds the session, so a transport collected with its client (they form a cycle)
            # closes it instead of aiohttp finding it unclosed.
            self._closer = weakref.finalize(self, _close_soon, self._session)
        return self._session


@contextmanager
def fewer_collections() -> Iterator[None]:
    """While a campaign's many calls are under way: what the process holds already (Airflow, the task's set-up)
    is kept out of the garbage collector's passes, which run less often. aiohttp makes a few hundred objects
    per call; with Python's default thresholds the collector ran every few calls and walked the whole process
    each tenth time, a third of the transport's CPU (measured in bench/transport.py)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], 20_000), thresholds[1], max(thresholds[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


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


def _proxy_from_environment(base_url: str) -> str | None:
    """The proxy HTTPS_PROXY / HTTP_PROXY names for ``base_url``, unless NO_PROXY exempts its host."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(base_url)
    proxy = proxies.get(parts.scheme)
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # in urllib, not in typeshed
    if not proxy or bypass(parts.hostname or "", proxies):
        return None
    return proxy


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # built once: json.dumps(..., ensure_ascii=False) builds one per call


def json_bytes(body: Any) -> bytes:
    """A JSON body as WeChat wants it: raw UTF-8, since it rejects some \\uXXXX escapes (40033)."""
    return _ENCODER.encode(body).encode("utf-8")


def _without_password(url: str | None) -> str:
    return str(URL(url or "").with_password(None).with_user(None))


def _shown(params: Mapping[str, Any] | None, token: str | None) -> dict[str, Any]:
    return {**(params or {}), **({"access_token": "***"} if token else {})}  # never the token itself


def _untrusted(exc: aiohttp.ClientConnectorCertificateError) -> str:
    host = exc.host
    return (
        f"the TLS certificate of {host} is not trusted ({exc.certificate_error}); if your network re-signs "
        "HTTPS, set the connection's ca_bundle extra to the file of the CA that signs it"
    )


def _close_soon(session: aiohttp.ClientSession) -> None:
    if _LOOP.alive():
        asyncio.run_coroutine_threadsafe(session.close(), _LOOP.get())


class _EventLoop:
    """The process's one event loop for WeChat calls, in a daemon thread started on first use: a loop per
    client would leave a thread behind for every client a long-lived process (the API server) makes."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = _new_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="wechat-transport", daemon=True)
                self._thread.start()
            return self._loop

    def alive(self) -> bool:
        return self._loop is not None and not self._loop.is_closed()

    def runs_here(self) -> bool:
        return threading.current_thread() is self._thread

    def forget(self) -> None:
        """In a forked child: the thread did not come along, so the next call starts a new loop."""
        self._loop, self._thread, self._lock = None, None, threading.Lock()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # the standard loop works, at a higher cost per call
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


_LOOP = _EventLoop()
os.register_at_fork(after_in_child=_LOOP.forget)
