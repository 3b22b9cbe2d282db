"""The WeChat Official Account API client.

Every call goes through one ``Transport`` (``transport.py``, on aiohttp): ``call()`` waits for one answer, and
a campaign's per-fan sends (``start_template_sends``, ``start_custom_sends``) go many at once, with the same
policy: the account's rate limit, the shared access token, one replacement of a stale token
(40001/40014/42001), and retries with backoff for what the error taxonomy calls transient. The endpoints
the product uses are typed helpers, one module per API family in ``api/`` with its result types beside it.

Retries never create duplicates: an errcode means WeChat did not act, and a transport failure (the request
may have been acted on) is retried only for calls that WeChat de-duplicates or that change nothing
(``idempotent=True``). Customer-service sends pass ``idempotent=False`` and let the caller record the
outcome as unknown.
"""

from __future__ import annotations

import json
import random
import ssl
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from ..domain import paths
from ..domain.errors import WeChatError, WeChatTransportError
from .api.custom import CustomApi
from .api.fans import FansApi
from .api.mass import MassApi
from .api.media import MediaApi
from .api.quota import QuotaApi
from .api.template import TemplateApi
from .ratelimit import CallSpacing
from .tokens import AccessTokens, MemoryTokenCache, TokenCache
from .transport import CallPolicy, Request, Transport, json_bytes

DEFAULT_BASE_URL = "https://api.weixin.qq.com"


class RateLimiter(Protocol):
    def try_take(self) -> float:
        """Take one call now (0.0) or say how many seconds until one may be taken."""


class WeChatClient(MassApi, CustomApi, TemplateApi, FansApi, MediaApi, QuotaApi):
    """One account's API: the calls of each family (``api/``) go through ``call`` and one transport."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        token_cache: TokenCache | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        max_wait: float = 60.0,
        rate_limiter: RateLimiter | None = None,
        mass_spacing: CallSpacing | None = None,
        proxy: str | None = None,
        ca_bundle: str | None = None,
        on_secret: Callable[[str], None] = lambda secret: None,
    ):
        self.appid = appid
        self._secret = secret
        self._on_secret = on_secret
        on_secret(secret)  # the AppSecret, and each access token below, never to be logged
        if proxy and (proxy_password := urlsplit(proxy).password):
            on_secret(proxy_password)
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.max_wait = max_wait  # cap on one backoff pause (WeChat asks for 60 s after 45011/45066)
        # A refused call may still use up one of the day's 100 mass calls, so keep under the minute's limit
        # rather than meet 45011.
        self._mass_spacing = mass_spacing
        self.tokens = AccessTokens(
            appid, self._fetch_stable_token, token_cache or MemoryTokenCache(), on_token=on_secret
        )
        policy = CallPolicy(
            connect_timeout=timeout[0],
            read_timeout=timeout[1],
            max_attempts=max_attempts,
            backoff=self._pause,
            take_rate_token=rate_limiter.try_take if rate_limiter is not None else None,
            answer=_answer,
        )
        self._transport = Transport(self.base_url, self.tokens, policy, proxy=proxy, ssl_context=_trusting(ca_bundle))

    def __repr__(self) -> str:  # never show the secret
        return f"WeChatClient(appid={self.appid!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._transport.close()

    # -- the one way in ---------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        files: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Call ``path`` with the account's token; raise ``WeChatError`` / ``WeChatTransportError``."""
        parts = {name: _file_part(part) for name, part in files.items()} if files is not None else None
        request = Request(
            method,
            path,
            params=params,
            body=json_bytes(body) if body is not None and files is None else None,
            files=parts,
            form=form,
            idempotent=idempotent,
        )
        return self._transport.call(request)

    def _pause(self, exc: BaseException | None, attempt: int) -> float:
        floor = exc.kind.wait_seconds if isinstance(exc, WeChatError) else 0.0
        exponential = 0.5 * 2 ** (attempt - 1) * (0.5 + random.random())  # noqa: S311 - jitter
        return min(self.max_wait, max(floor, exponential))

    # -- access token -----------------------------------------------------------------------------------

    def check_credentials(self) -> None:
        """Ask WeChat for the account's token with this AppID and AppSecret, whatever is cached: proves both,
        the base URL and the IP whitelist. Not forced, so the current token is handed back, not replaced."""
        token, _ = self._fetch_stable_token(force_refresh=False)
        self._on_secret(token)

    def _fetch_stable_token(self, force_refresh: bool) -> tuple[str, int]:
        body = {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self._secret,
            "force_refresh": force_refresh,
        }
        answer = self._transport.call(Request("POST", paths.STABLE_TOKEN, body=json_bytes(body), with_token=False))
        return answer["access_token"], int(answer["expires_in"])


def _answer(path: str, status: int, data: bytes) -> dict[str, Any]:
    """WeChat's JSON answer, or the error it stands for."""
    if status >= 400:
        raise WeChatTransportError(path, f"HTTP {status}")
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise WeChatTransportError(path, exc) from exc
    if not isinstance(answer, dict):
        raise WeChatTransportError(path, f"unexpected answer {answer!r:.80}")
    errcode = answer.get("errcode", 0)
    if errcode:
        raise WeChatError(int(errcode), str(answer.get("errmsg", "")), path=path, payload=answer)
    return answer


def _trusting(ca_bundle: str | None) -> ssl.SSLContext | None:
    """Verification against ``ca_bundle``'s CAs instead of the system's (where a proxy re-signs WeChat's HTTPS)."""
    if not ca_bundle:
        return None
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"ca_bundle {ca_bundle!r} is not a readable PEM file of CA certificates ({exc})") from exc


def _file_part(part: tuple[str, BinaryIO | bytes]) -> tuple[str, bytes]:
    filename, content = part
    return filename, content if isinstance(content, bytes) else content.read()
