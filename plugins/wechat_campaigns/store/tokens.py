"""Access tokens in the campaign store, so that every worker of an account shares one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from ..domain.tokens import CachedToken
from .db import engine_for, insert_ignoring_duplicates
from .schema import access_tokens as t


class SqlTokenCache:
    def __init__(self, url: str):
        self.engine = engine_for(url)

    def read(self, appid: str) -> CachedToken | None:
        with self.engine.connect() as connection:
            return _read(connection, appid)

    @contextmanager
    def locked(self, appid: str) -> Iterator[_SqlTokenTxn]:
        with self.engine.begin() as connection:
            insert_ignoring_duplicates(connection, t, [{"appid": appid}])
        with self.engine.begin() as connection:
            # Writing the row takes its lock on PostgreSQL and the write lock on SQLite, held until the
            # transaction ends: a second worker waits here, then reads the token the first one fetched.
            connection.execute(sa.update(t).where(t.c.appid == appid).values(refreshes=t.c.refreshes))
            yield _SqlTokenTxn(connection, appid)

    def refreshes(self, appid: str) -> int:
        """How many times the account's token was fetched into the store (for tests and operators)."""
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(t.c.refreshes).where(t.c.appid == appid)) or 0


class _SqlTokenTxn:
    def __init__(self, connection: sa.Connection, appid: str):
        self.connection = connection
        self.appid = appid

    def read(self) -> CachedToken | None:
        return _read(self.connection, self.appid)

    def write(self, token: CachedToken) -> None:
        self.connection.execute(
            sa.update(t)
            .where(t.c.appid == self.appid)
            .values(
                token=token.token,
                expires_at=token.expires_at,
                refreshed_at=time.time(),
                refreshes=t.c.refreshes + 1,
            )
        )


def _read(connection: sa.Connection, appid: str) -> CachedToken | None:
    row = connection.execute(sa.select(t.c.token, t.c.expires_at).where(t.c.appid == appid)).first()
    if row is None or row.token is None:
        return None
    return CachedToken(row.token, row.expires_at)
