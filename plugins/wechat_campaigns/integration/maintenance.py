"""Keeping the campaign store's size in check: the *wechat_maintenance* DAG and ``wechat-campaigns prune-callbacks``."""

from __future__ import annotations

import time

from ..store import reports
from ..store.db import engine_for
from .hook import ready_store

DEFAULT_CALLBACK_RETENTION_DAYS = 90


def prune_callback_events(retention_days: int = DEFAULT_CALLBACK_RETENTION_DAYS, url: str | None = None) -> dict:
    """Delete stored pushes older than ``retention_days``; returns what was done (small: it goes by XCom)."""
    if retention_days < 1:
        raise ValueError(f"callback_retention_days must be at least 1, not {retention_days}")
    cutoff = time.time() - retention_days * 86_400
    deleted = reports.prune(engine_for(url or ready_store()), cutoff)
    return {"deleted": deleted, "retention_days": retention_days, "received_before": cutoff}
