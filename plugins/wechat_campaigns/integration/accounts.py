"""Which accounts the scheduled DAGs look after, read from the environment at parse time (no DB access).

``WECHAT_ACCOUNTS``: comma-separated ``wechat_mp`` connection ids, each optionally with the name marketers
know the account by: ``wechat_default=糖果铺服务号,wechat_shop=糖果铺订阅号`` (default ``wechat_default``).
``WECHAT_SYNC_SCHEDULE``: the audience sync's schedule (cron or preset; default ``@daily``).
"""

from __future__ import annotations

import hashlib
import os
import re

from airflow.sdk import Asset


def _accounts() -> list[tuple[str, str]]:
    raw = os.environ.get("WECHAT_ACCOUNTS", "wechat_default")
    pairs = []
    for item in re.split(r"\s*,\s*", raw.strip()):
        conn_id, _, name = item.partition("=")
        if conn_id.strip():
            pairs.append((conn_id.strip(), name.strip() or conn_id.strip()))
    return pairs


def account_conn_ids() -> list[str]:
    return [conn_id for conn_id, _ in _accounts()]


def account_names() -> dict[str, str]:
    """conn id -> what the trigger form shows."""
    return {conn_id: f"{name} ({conn_id})" if name != conn_id else conn_id for conn_id, name in _accounts()}


def default_account() -> str:
    return account_conn_ids()[0] if account_conn_ids() else "wechat_default"


def send_pool() -> str:
    """The fallback pool: a send task whose account has no pool of its own yet takes a slot of this one
    (created at init: docker-compose, make airflow; ``wechat-campaigns pools`` creates it when missing)."""
    return os.environ.get("WECHAT_SEND_POOL", "wechat_api")


POOL_NAME_MAX = 250  # Airflow allows 256; pool names also become metric names (pool.open_slots.<pool>), max 250
_POOL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def account_pool(conn_id: str) -> str:
    """The Airflow pool of one account's send tasks: ``wechat_<conn_id>`` (its slots: the connection's
    ``send_slots``, set by ``wechat-campaigns pools``).

    Airflow only requires a pool name to be non-empty and at most 256 characters, but it also emits the name
    in metrics, which take ASCII letters, digits and ``_.-`` only. A connection id with other characters
    (Airflow's ids may hold any Unicode letter) gets them replaced by ``_`` and an 8-hex digest of the id
    appended, so that two such ids never share a pool: ``商店`` → ``wechat_.._1a2b3c4d``."""
    safe = _POOL_UNSAFE.sub("_", conn_id)
    name = f"wechat_{safe}"
    if safe != conn_id or len(name) > POOL_NAME_MAX:
        digest = hashlib.sha256(conn_id.encode()).hexdigest()[:8]
        name = f"{name[: POOL_NAME_MAX - 9]}_{digest}"
    return name


def sync_schedule() -> str:
    return os.environ.get("WECHAT_SYNC_SCHEDULE", "@daily")


def audience_asset(conn_id: str) -> Asset:
    """Updated whenever the account's audience has been synced; campaigns and data engineers can follow it."""
    return Asset(name=f"wechat_audience__{conn_id}", uri=f"wechat://{conn_id}/audience")


def sync_pools(conn_ids: list[str] | None = None, out=print) -> int:
    """``wechat-campaigns pools``: one pool per ``wechat_mp`` connection, its slots the connection's
    ``send_slots``, and the fallback pool when it is missing. Returns the exit status.

    Without ``conn_ids``: every ``wechat_mp`` connection in Airflow's metadata database, in ``AIRFLOW_CONN_*``
    variables and among ``WECHAT_ACCOUNTS`` (looked up through every secrets backend, which cannot be listed);
    a discovered connection that cannot be read is reported and skipped. Named ``conn_ids`` must exist.
    Pools of connections that are gone are left alone (a running task may hold a slot)."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    from .hook import account_settings

    status = 0
    with create_session() as session:
        named = bool(conn_ids)
        found = _connections(conn_ids or None, session, out)
        if conn_ids and len(found) < len(set(conn_ids)):
            status = 1
        smallest = None
        for conn_id, conn in sorted(found.items()):
            try:
                slots = account_settings(conn).send_slots
            except (TypeError, ValueError) as exc:
                out(f"{conn_id}: cannot read send_slots ({exc}); no pool set")
                status = 1 if named else status
                continue
            pool = account_pool(conn_id)
            if pool == send_pool():
                out(f"{conn_id}: its pool name {pool!r} is the fallback pool's; rename the connection")
                status = 1
                continue
            before = session.scalar(_pool_slots(pool))
            Pool.create_or_update_pool(
                pool,
                slots,
                f"WeChat sends of {conn_id}: its send_slots (wechat-campaigns pools)",
                False,
                session=session,
            )
            change = "created" if before is None else "unchanged" if before == slots else f"was {before}"
            out(f"{pool}: {_slots(slots)} = send_slots of {conn_id} ({change})")
            smallest = slots if smallest is None else min(smallest, slots)
        if not found:
            out("no wechat_mp connections found; add them, then run `wechat-campaigns pools` again")
        fallback = send_pool()
        slots = session.scalar(_pool_slots(fallback))
        if slots is None:
            slots = smallest or 1
            Pool.create_or_update_pool(
                fallback, slots, "WeChat sends of accounts without a pool of their own", False, session=session
            )
            out(f"{fallback}: {_slots(slots)} (fallback, created)")
        elif smallest is not None and slots > smallest:
            out(
                f"{fallback}: {_slots(slots)} (fallback) — more than the smallest send_slots ({smallest}): an account "
                "whose pool is missing could exceed its rate_limit there"
            )
    return status


def _slots(n: int) -> str:
    return f"{n} slot" if n == 1 else f"{n} slots"


def _pool_slots(name: str):
    import sqlalchemy as sa
    from airflow.models.pool import Pool

    return sa.select(Pool.slots).where(Pool.pool == name)


def _connections(conn_ids: list[str] | None, session, out) -> dict:
    """conn id -> Connection, of type wechat_mp."""
    import json

    import sqlalchemy as sa
    from airflow.models.connection import Connection

    from ..provider_info import CONN_TYPE

    found: dict[str, Connection] = {}
    if conn_ids is None:
        for conn in session.scalars(sa.select(Connection).where(Connection.conn_type == CONN_TYPE)):
            found[conn.conn_id] = conn
        for key, value in os.environ.items():
            if not key.startswith("AIRFLOW_CONN_") or not value.strip():
                continue
            conn_id = key.removeprefix("AIRFLOW_CONN_").lower()
            try:
                conn = (
                    Connection.from_json(value, conn_id=conn_id)
                    if value.lstrip().startswith("{")
                    else Connection(conn_id=conn_id, uri=value)
                )
            except (ValueError, TypeError, json.JSONDecodeError):
                continue  # not ours to judge; Airflow reports it where it is used
            if conn.conn_type == CONN_TYPE:
                found[conn_id] = conn
        wanted, required = [c for c in account_conn_ids() if c not in found], False
    else:
        wanted, required = list(dict.fromkeys(conn_ids)), True
    for conn_id in wanted:
        try:
            conn = Connection.get_connection_from_secrets(conn_id)
        except Exception:  # AirflowNotFoundException, or a secrets backend's own error
            if required:
                out(f"{conn_id}: no such Airflow connection; no pool set")
            continue
        if conn.conn_type != CONN_TYPE:
            out(f"{conn_id}: a {conn.conn_type} connection, not {CONN_TYPE}; no pool set")
            continue
        found[conn_id] = conn
    return found
