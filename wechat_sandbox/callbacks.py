"""Pushing messages and events to an account's callback URL, the way WeChat does.

Each push is a POST of XML to ``callback_url?signature=&timestamp=&nonce=&openid=`` (plus
``encrypt_type=aes&msg_signature=`` in compat/safe mode). Delivery runs in asyncio tasks so that the API
call that caused the push is not slowed down; WeChat tries 3 times when the receiver does not answer 200
within 5 seconds, and every attempt is kept in the push log for the admin API. The 5 seconds count from the
request's connection, not from a wait for one of the sandbox's own: a campaign's reports leave as fast as
WeChat's would (aiohttp, which costs a fraction of httpx's CPU per request).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp

from . import crypto

if TYPE_CHECKING:
    from .account import Account
    from .clock import Clock

ATTEMPTS = 3
RETRY_PAUSE = 0.2
BODY_KEEP = 2000  # characters of each receiver answer kept in the log
PUSH_CONNECTIONS = 256  # pushes in flight at once, per sandbox
LOG_KEEP = 50_000  # pushes kept in the log; older ones are dropped so a long run does not grow forever


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_element(name: str, value: Any) -> str:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int | float):
        return f"<{name}>{value}</{name}>"
    if isinstance(value, list):  # pre-built child elements
        return f"<{name}>{''.join(value)}</{name}>"
    return f"<{name}>{cdata(str(value))}</{name}>"


def build_xml(fields: list[tuple[str, Any]]) -> str:
    return "<xml>" + "".join(xml_element(name, value) for name, value in fields if value is not None) + "</xml>"


class CallbackPusher:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.log: list[dict[str, Any]] = []
        self._next_id = 1
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: aiohttp.ClientSession | None = None

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.log = []
        self._next_id = 1

    async def close(self) -> None:
        self.reset()
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None:
            connector = aiohttp.TCPConnector(limit=PUSH_CONNECTIONS)
            self._client = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._client

    def push(self, account: Account, event: str, openid: str, fields: list[tuple[str, Any]]) -> dict[str, Any] | None:
        """Queue one push; None when the account has no callback URL (nothing is sent or logged)."""
        if not account.callback_url:
            return None
        xml = build_xml(fields)
        timestamp = str(int(time.time()))  # WeChat signs with the real time, whatever the sandbox clock says
        nonce = str(secrets.randbelow(10**10))
        query: dict[str, str] = {
            "signature": crypto.signature(account.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": openid,
        }
        body = xml
        if account.encrypt_mode != "plain":
            encrypted = crypto.encrypt(account.encoding_aes_key, account.appid, xml)
            query["encrypt_type"] = "aes"
            query["msg_signature"] = crypto.signature(account.token, timestamp, nonce, encrypted)
            if account.encrypt_mode == "safe":
                body = build_xml([("ToUserName", account.original_id), ("Encrypt", encrypted)])
            else:
                body = xml[: -len("</xml>")] + xml_element("Encrypt", encrypted) + "</xml>"
        entry: dict[str, Any] = {
            "id": self._next_id,
            "appid": account.appid,
            "event": event,
            "openid": openid,
            "url": _with_query(account.callback_url, query),
            "encrypt_mode": account.encrypt_mode,
            "xml": xml,
            "body": body,
            "created_at": self.clock.iso(),
            "attempts": [],
            "status": "pending",
        }
        self._next_id += 1
        self.log.append(entry)
        if len(self.log) > LOG_KEEP:
            del self.log[: len(self.log) - LOG_KEEP]
        task = asyncio.get_running_loop().create_task(self._deliver(entry, float(account.callback_timeout)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return entry

    async def _deliver(self, entry: dict[str, Any], timeout: float) -> None:
        headers = {"Content-Type": "text/xml; charset=utf-8", "User-Agent": "Mozilla/4.0 wechat-sandbox"}
        for number in range(1, ATTEMPTS + 1):
            attempt: dict[str, Any] = {"attempt": number, "at": self.clock.iso()}
            started = time.monotonic()
            try:
                async with self._http().post(
                    entry["url"], data=entry["body"].encode(), headers=headers, timeout=_timeout(timeout)
                ) as response:
                    text = await response.text()
                attempt.update(status_code=response.status, response=text[:BODY_KEEP])
            except TimeoutError:
                attempt.update(status_code=None, error=f"ReadTimeout: no answer within {timeout:g} s")
            except aiohttp.ClientError as exc:
                attempt.update(status_code=None, error=f"{type(exc).__name__}: {exc}"[:BODY_KEEP])
            attempt["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
            entry["attempts"].append(attempt)
            if attempt.get("status_code") == 200:
                entry["status"] = "delivered"
                return
            if number < ATTEMPTS:
                await asyncio.sleep(RETRY_PAUSE)
        entry["status"] = "failed"

    async def wait_idle(self, timeout: float = 20.0) -> None:
        """Let queued deliveries finish (used at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def verify(self, account: Account) -> dict[str, Any]:
        """The GET handshake WeChat does when a developer saves the callback URL."""
        if not account.callback_url:
            return {"ok": False, "error": "the account has no callback_url"}
        timestamp = str(int(time.time()))  # WeChat signs with the real time, whatever the sandbox clock says
        nonce = str(secrets.randbelow(10**10))
        echostr = str(secrets.randbelow(10**19))
        query = {
            "signature": crypto.signature(account.token, timestamp, nonce),
            "echostr": echostr,
            "timestamp": timestamp,
            "nonce": nonce,
        }
        url = _with_query(account.callback_url, query)
        try:
            async with self._http().get(url, timeout=_timeout(float(account.callback_timeout))) as response:
                body, status = await response.text(), response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return {"ok": False, "url": url, "echostr": echostr, "error": f"{type(exc).__name__}: {exc}"}
        return {
            "ok": status == 200 and body.strip() == echostr,
            "url": url,
            "echostr": echostr,
            "status_code": status,
            "body": body[:BODY_KEEP],
        }

    def entries(self, appid: str | None = None, event: str | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.log if (appid is None or e["appid"] == appid) and (event is None or e["event"] == event)
        ]


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    """WeChat's wait for the receiver: to connect, and for its answer (not for a free connection here)."""
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


def _with_query(url: str, query: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(query)
