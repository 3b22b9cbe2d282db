"""The ASGI application: WeChat API paths under /cgi-bin/, the admin API under /sandbox/.

Plain ASGI rather than a framework: the template-send benchmark needs thousands of calls per second on one
core, so routing is one dict lookup and JSON is encoded once. Every WeChat call goes
fault(before) -> token -> daily quota -> body -> handler -> fault(after).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import api_custom, api_mass, api_media, api_quota, api_template, api_tokens, api_users
from .admin_api import Admin
from .api_media import Upload
from .api_tokens import take_quota
from .errors import ApiError, error_payload
from .model import QUOTA_ALIASES
from .persist import load_file, save_file
from .routing import Call, Route
from .sandbox import TOKEN_SHAPE, AdminError, Sandbox

log = logging.getLogger("wechat_sandbox")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ROUTES: dict[str, Route] = {
    **api_tokens.ROUTES,
    **api_mass.ROUTES,
    **api_custom.ROUTES,
    **api_template.ROUTES,
    **api_users.ROUTES,
    **api_media.ROUTES,
    **api_quota.ROUTES,
}
QUOTA_KEYS = {path: QUOTA_ALIASES.get(path, path) for path in ROUTES}

JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# a \uXXXX escape of a non-ASCII character that is not itself an escaped backslash (WeChat answers 40033)
_NON_ASCII_ESCAPE = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
)
UPLOAD_MAX_BYTES = 32 * 1024 * 1024


class DroppedResponse(Exception):
    """The connection is to be closed without a complete answer."""


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while message.get("more_body"):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


async def respond(send: Send, status: int, payload: Any) -> None:
    body = _encode(payload).encode()
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def drop(send: Send) -> None:
    """Start an answer and stop half-way: uvicorn then closes the connection (a lost response)."""
    headers = [*JSON_HEADERS, (b"content-length", b"4096")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"errcode":', "more_body": True})


class _QuietDrop(logging.Filter):
    """uvicorn logs an error for the half-sent answers that ``drop`` makes on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietDrop())


class SandboxApp:
    def __init__(self, sb: Sandbox | None = None, *, seed: str | None = None, state_file: str | None = None) -> None:
        self.sb = sb or Sandbox()
        self.seed = seed
        self.state_file = state_file
        self.admin = Admin(self.sb, state_file)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path.startswith("/cgi-bin/"):
                await self.wechat(scope, receive, send, path)
            elif path == "/sandbox" or path.startswith("/sandbox/"):
                await self.admin_call(scope, receive, send, path)
            else:
                await respond(send, 404, {"error": f"not found: {path}"})
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    # -- lifespan -------------------------------------------------------------------------------------------

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.startup()
                except Exception as exc:  # report, so uvicorn exits instead of serving a broken sandbox
                    log.exception("sandbox start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def startup(self) -> None:
        from .seed import apply_seed_file

        self.sb.loop = asyncio.get_running_loop()
        if self.state_file and Path(self.state_file).exists():
            load_file(self.sb, self.state_file)
        if self.seed:
            apply_seed_file(self.sb, self.seed)
        for account in self.sb.accounts.values():
            for job in account.pending_jobs:
                self.sb.loop.call_later(max(0.0, job.finish_at - self.sb.clock.now()), self.sb.finish_due_jobs)

    async def shutdown(self) -> None:
        await self.sb.pusher.wait_idle(timeout=5.0)
        await self.sb.pusher.close()
        if self.state_file:
            save_file(self.sb, self.state_file)

    # -- admin ----------------------------------------------------------------------------------------------

    async def admin_call(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        raw = await read_body(receive)
        query = dict(parse_qsl(scope["query_string"].decode("utf-8", "replace")))
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            await respond(send, 400, {"error": f"bad JSON: {exc}"})
            return
        try:
            status, payload = await self.admin.handle(scope["method"], path, query, body)
        except AdminError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except (ValueError, TypeError, KeyError) as exc:
            status, payload = 400, {"error": f"{type(exc).__name__}: {exc}"}
        await respond(send, status, payload)

    # -- WeChat API -----------------------------------------------------------------------------------------

    async def wechat(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        route = ROUTES.get(path)
        raw = await read_body(receive)
        if route is None:
            await respond(send, 404, {"errcode": 404, "errmsg": f"no such API {path}"})
            return
        sb = self.sb
        fault = sb.faults.roll(path) if sb.faults.rules else None
        if fault is not None and fault.phase == "before":
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.answers:
                await self._faulted(send, path, fault, self._token_account(scope))
                return
        query_string = scope["query_string"]
        query = dict(parse_qsl(query_string.decode("utf-8", "replace"))) if query_string else {}
        client = scope.get("client") or ("", 0)
        call = Call(sb, path, query, sb.clock.now(), client[0])
        try:
            if route.token:
                self._authorize(call)
                take_quota(sb, call.acc, QUOTA_KEYS[path], call.now)
            if route.body == "json":
                call.body = self._json(call, route, raw)
            elif route.body == "multipart":
                call.form = await self._multipart(scope, raw)
            result = route.handler(call)
            errcode = 0
        except ApiError as error:
            result, errcode = error.payload(), error.errcode
        if fault is not None and fault.phase == "after":
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.answers:
                await self._faulted(send, path, fault, call.account)
                return
        self._record(call.account, path, errcode)
        await respond(send, 200, result)

    def _record(self, account: Any, path: str, errcode: int) -> None:
        if account is not None:
            account.record_call(path, errcode)
            return
        self.sb.unattributed_calls[path] += 1
        if errcode:
            self.sb.unattributed_errors[str(errcode)] += 1

    async def _faulted(self, send: Send, path: str, fault: Any, account: Any) -> None:
        self._record(account, path, fault.errcode if fault.errcode is not None else 0)
        if fault.drop:
            await drop(send)
        else:
            await respond(send, 200, error_payload(fault.errcode))

    def _token_account(self, scope: Scope) -> Any:
        """The account of a request's token, for statistics of calls a fault answered."""
        query = dict(parse_qsl(scope["query_string"].decode("utf-8", "replace")))
        record = self.sb.tokens.get(query.get("access_token", ""))
        return self.sb.accounts.get(record.appid) if record is not None else None

    def _authorize(self, call: Call) -> None:
        token = call.query.get("access_token")
        if not token:
            raise ApiError(41001)
        record = self.sb.tokens.get(token)
        if record is None:
            raise ApiError(40001 if TOKEN_SHAPE.fullmatch(token) else 40014)
        if record.revoked_at is not None and call.now >= record.revoked_at:
            raise ApiError(40001)
        if call.now >= record.expires_at:
            raise ApiError(42001)
        account = self.sb.accounts.get(record.appid)
        if account is None:
            raise ApiError(40001)
        call.account = account
        call.check_ip(account)

    @staticmethod
    def _json(call: Call, route: Route, raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            if route.empty_ok:
                return {}
            raise ApiError(44002)
        strict = call.account.reject_unicode_escapes if call.account is not None else True
        if strict and b"\\u" in raw and _NON_ASCII_ESCAPE.search(raw):
            raise ApiError(40033)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(47001) from exc
        if not isinstance(body, dict):
            raise ApiError(47001)
        return body

    @staticmethod
    async def _multipart(scope: Scope, raw: bytes) -> dict[str, Any]:
        import hashlib

        from starlette.requests import Request

        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        try:
            form = await Request(scope, replay).form(max_part_size=UPLOAD_MAX_BYTES)
        except Exception as exc:  # starlette raises several types for a broken multipart body
            raise ApiError(41005, f"media data missing: {exc}") from exc
        fields: dict[str, Any] = {}
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields[name] = value
                continue
            data = await value.read()
            fields[name] = Upload(
                value.filename or "", value.content_type or "", len(data), hashlib.sha256(data).hexdigest()
            )
            await value.close()
        return fields


def create_app(seed: str | None = None, state_file: str | None = None) -> SandboxApp:
    return SandboxApp(seed=seed, state_file=state_file)
