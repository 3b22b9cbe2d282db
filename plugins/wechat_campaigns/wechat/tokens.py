"""One access token per account, shared by every worker.

WeChat's ``stable_token`` returns the same token to every caller while it is valid, and a forced refresh
invalidates the previous one, so workers must not each fetch their own. The token lives in shared storage
(the campaign store); a refresh happens under that storage's lock, and a token that failed is replaced only
if it is still the cached one (otherwise another worker already replaced it, and we take theirs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

from ..domain.tokens import REFRESH_MARGIN_SECONDS, CachedToken

__all__ = ["REFRESH_MARGIN_SECONDS", "AccessTokens", "CachedToken", "MemoryTokenCache", "TokenCache"]


class TokenCache(Protocol):
    """Shared storage for access tokens (see ``store.tokens.SqlTokenCache``)."""

    def read(self, appid: str) -> CachedToken | None: ...

    def locked(self, appid: str) -> AbstractContextManager[TokenCacheTxn]:
        """A context manager holding the account's refresh lock across processes."""
        ...


class TokenCacheTxn(Protocol):
    def read(self) -> CachedToken | None: ...

    def write(self, token: CachedToken) -> None: ...


# fetch(force_refresh) -> (access_token, expires_in)
Fetch = Callable[[bool], tuple[str, int]]


class AccessTokens:
    """The current access token of one account, refreshed single-flight through a shared cache."""

    def __init__(
        self,
        appid: str,
        fetch: Fetch,
        cache: TokenCache,
        clock: Callable[[], float] = time.time,
        on_token: Callable[[str], None] = lambda token: None,
    ):
        self.appid = appid
        self._fetch = fetch
        self._cache = cache
        self._clock = clock
        self._on_token = on_token  # told of every token this process holds (Airflow masks it in logs)
        self._held: CachedToken | None = None
        self._local_lock = threading.Lock()
        self.fetches = 0  # stable_token calls made by this process (for logs and tests)

    def current(self) -> str:
        local = self._local
        if local and local.usable(self._clock()):
            return local.token
        with self._local_lock:
            shared = self._cache.read(self.appid)
            if shared and shared.usable(self._clock()):
                self._local = shared
                return shared.token
            return self._refresh(failed=None)

    @property
    def _local(self) -> CachedToken | None:
        """The token this process uses (saves a store read per API call)."""
        return self._held

    @_local.setter
    def _local(self, token: CachedToken | None) -> None:
        if token is not None and (self._held is None or self._held.token != token.token):
            self._on_token(token.token)
        self._held = token

    def replace(self, failed: str) -> str:
        """WeChat rejected ``failed``: return a different, valid token. Across all workers this costs one
        refresh: whoever takes the lock first fetches, the others find the new token in the cache."""
        with self._local_lock:
            if self._local and self._local.token == failed:
                self._local = None
            return self._refresh(failed=failed)

    def _refresh(self, failed: str | None) -> str:
        with self._cache.locked(self.appid) as txn:
            shared = txn.read()
            # Another worker may have refreshed while we waited for the lock.
            if shared and shared.usable(self._clock()) and shared.token != failed:
                self._local = shared
                return shared.token
            token, expires_in = self._fetch(False)
            self.fetches += 1
            if token == failed:
                # WeChat still hands out the token it just rejected (e.g. expired early): force a new one.
                token, expires_in = self._fetch(True)
                self.fetches += 1
            fresh = CachedToken(token, self._clock() + expires_in)
            txn.write(fresh)
            self._local = fresh
            return token


class MemoryTokenCache:
    """A process-local cache, for scripts that talk to one account from one process."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._lock = threading.RLock()

    def read(self, appid: str) -> CachedToken | None:
        return self._tokens.get(appid)

    @contextmanager
    def locked(self, appid: str) -> Iterator[_MemoryTxn]:
        with self._lock:
            yield _MemoryTxn(self._tokens, appid)


@dataclass
class _MemoryTxn:
    tokens: dict[str, CachedToken]
    appid: str

    def read(self) -> CachedToken | None:
        return self.tokens.get(self.appid)

    def write(self, token: CachedToken) -> None:
        self.tokens[self.appid] = token
