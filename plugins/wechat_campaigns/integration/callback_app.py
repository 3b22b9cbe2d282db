"""The callback URL WeChat pushes to, served by Airflow's API server: ``/wechat/callback/{conn_id}``.

Public (WeChat cannot log in) but signed: every request is checked against the account's callback token in
constant time; encrypted pushes are decrypted and must name our AppID; XML is parsed without DTDs or
entities; bodies over 64 KB are refused. A valid push is recorded and answered ``success`` at once (WeChat
retries after 5 seconds of silence), and its retries are recognised and ignored.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ..inbound import record_push
from ..provider_info import CONN_TYPE
from ..store.db import engine_for, ready
from ..wechat.callbacks import MAX_BODY_BYTES, AesKey, CallbackConfig, CallbackRejected, check_signature, open_push
from .hook import WeChatHook, extras, store_url

CONFIG_TTL_SECONDS = 30.0  # how long a connection's token/key are reused before being read again

app = FastAPI(title="WeChat callbacks", docs_url=None, redoc_url=None, openapi_url=None)


class _Configs:
    """Callback settings per connection, read from Airflow connections and kept briefly."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, CallbackConfig]] = {}

    def get(self, conn_id: str) -> CallbackConfig:
        cached = self._cache.get(conn_id)
        if cached and time.monotonic() - cached[0] < CONFIG_TTL_SECONDS:
            return cached[1]
        config = _read_config(conn_id)
        self._cache[conn_id] = (time.monotonic(), config)
        return config

    @cached_property
    def store(self):
        return engine_for(ready(store_url()))


configs = _Configs()


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
    return CallbackConfig(conn.login, token, AesKey.from_encoding_aes_key(aes_key) if aes_key else None)


def _refuse(exc: CallbackRejected) -> PlainTextResponse:
    return PlainTextResponse(str(exc), status_code=exc.status)


@app.get("/{conn_id}", response_class=PlainTextResponse)
def handshake(conn_id: str, signature: str = "", timestamp: str = "", nonce: str = "", echostr: str = "") -> Any:
    """The URL check WeChat makes when the callback URL is saved in its console."""
    try:
        check_signature(configs.get(conn_id).token, signature, timestamp, nonce)
    except CallbackRejected as exc:
        return _refuse(exc)
    return PlainTextResponse(echostr)


@app.post("/{conn_id}", response_class=PlainTextResponse)
async def receive(conn_id: str, request: Request) -> Any:
    try:
        body = await _read_limited(request)
        config = configs.get(conn_id)
        push = open_push(config, dict(request.query_params), body)
    except CallbackRejected as exc:
        return _refuse(exc)
    await run_in_threadpool(record_push, configs.store, config.appid, push)
    return PlainTextResponse("success")


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
