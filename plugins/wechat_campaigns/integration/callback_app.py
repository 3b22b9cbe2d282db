"""The callback URL WeChat pushes to, served by Airflow's API server: ``/wechat/callback/{conn_id}``.

Public (WeChat cannot log in) but signed: every request is checked against the account's callback token in
constant time; encrypted pushes are decrypted and must name our AppID; XML is parsed without DTDs or
entities; bodies over 64 KB are refused. A valid push is recorded and answered ``success`` at once (WeChat
retries after 5 seconds of silence), and its retries are recognised and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import cached_property

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ..domain.settings import BY_NAME
from ..provider_info import CONN_TYPE
from ..store.db import SchemaMismatch, StoreNotConfigured, engine_for
from ..wechat.callbacks import MAX_BODY_BYTES, AesKey, CallbackConfig, CallbackRejected, check_url
from .hook import WeChatHook, extras, ready_store
from .push_writer import PushWriter

CALLBACK_MODES = ("plaintext", "compatible", "safe")  # as the WeChat console calls them (明文, 兼容, 安全)
CONFIG_TTL_SECONDS = 30.0  # how long a connection's token/key are reused before being read again


class _Configs:
    """Callback settings per connection, read from Airflow connections and kept briefly."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, CallbackConfig]] = {}

    def cached(self, conn_id: str) -> CallbackConfig | None:
        """The connection's settings if read in the last CONFIG_TTL_SECONDS (no I/O)."""
        cached = self._cache.get(conn_id)
        if cached and time.monotonic() - cached[0] < CONFIG_TTL_SECONDS:
            return cached[1]
        return None

    def get(self, conn_id: str) -> CallbackConfig:
        config = self.cached(conn_id)
        if config is not None:
            return config
        config = _read_config(conn_id)
        self._cache[conn_id] = (time.monotonic(), config)
        return config

    @cached_property
    def store(self):
        return engine_for(ready_store())


log = logging.getLogger(__name__)
configs = _Configs()
writer = PushWriter(lambda: configs.store)


def _read_config(conn_id: str) -> CallbackConfig:
    try:
        conn = WeChatHook.get_connection(conn_id)
    except Exception as exc:  # not found, or the secrets backend failed: either way, not an account of ours
        raise CallbackRejected(f"no WeChat account {conn_id!r}", status=404) from exc
    if conn.conn_type != CONN_TYPE:
        raise CallbackRejected(f"no WeChat account {conn_id!r}", status=404)
    extra = extras(conn)
    token = extra.get("callback_token")
    if not token or not conn.login:
        raise CallbackRejected(f"connection {conn_id!r} has no AppID or callback token", status=403)
    aes_key = extra.get("encoding_aes_key")
    mode = extra.get("callback_mode") or ("safe" if aes_key else "plaintext")
    if mode not in CALLBACK_MODES or (mode != "plaintext" and not aes_key):
        raise CallbackRejected(f"connection {conn_id!r}: callback_mode {mode!r} needs an EncodingAESKey", status=403)
    try:
        max_age = BY_NAME["callback_max_age"].read(conn_id, extra.get("callback_max_age"))
    except ValueError as exc:  # the operator's to fix; WeChat tries the push again meanwhile
        log.error("push refused: %s", exc)
        raise CallbackRejected(str(exc), status=503) from exc
    return CallbackConfig(
        conn.login,
        token,
        AesKey.from_encoding_aes_key(aes_key) if aes_key else None,
        accept_plaintext=mode != "safe",
        max_age=float(max_age),
    )


def _refuse(exc: CallbackRejected) -> PlainTextResponse:
    return PlainTextResponse(str(exc), status_code=exc.status)


def handshake(request: Request) -> PlainTextResponse:
    """The URL check WeChat makes when the callback URL is saved in its console (a sync endpoint: Starlette
    runs it in a thread, where reading the connection may block)."""
    query = dict(request.query_params)
    try:
        check_url(configs.get(request.path_params["conn_id"]), query)
    except CallbackRejected as exc:
        return _refuse(exc)
    return PlainTextResponse(query.get("echostr", ""))


async def receive(request: Request) -> PlainTextResponse:
    """Only the body's reading and the signature run on the server's event loop: the XML, the decryption and
    the store run in the push writer's thread, so that a flood of pushes cannot stall the pages served beside
    them; the answer waits for the push's commit."""
    conn_id, query = request.path_params["conn_id"], dict(request.query_params)
    try:
        body = await _read_limited(request)
        config = configs.cached(conn_id)
        if config is None:
            config = await run_in_threadpool(configs.get, conn_id)
        check_url(config, query)
        await asyncio.wrap_future(writer.submit(config, query, body))
    except CallbackRejected as exc:
        return _refuse(exc)
    except (SchemaMismatch, StoreNotConfigured) as exc:  # WeChat retries a 5xx: nothing is lost while it is fixed
        log.error("push for %s not kept: %s", conn_id, exc)
        return PlainTextResponse("the campaign store is not ready", status_code=503)
    return PlainTextResponse("success")


def routes(prefix: str = "") -> list[Route]:
    """The callback URL's routes under ``prefix``: mounted by the plugin, or served by the receiver."""
    return [
        Route(prefix + "/{conn_id}", handshake, methods=["GET"]),
        Route(prefix + "/{conn_id}", receive, methods=["POST"]),
    ]


# A plain Starlette app, not FastAPI: at a campaign's push rate FastAPI's per-request machinery (dependency
# solving, exit stacks) cost the receiver more CPU than the pushes themselves.
app = Starlette(routes=routes())


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise CallbackRejected("body too large", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise CallbackRejected("body too large", status=413)
    return bytes(body)
