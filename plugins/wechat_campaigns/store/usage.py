"""Where the history shows a material or a template used: the runs whose content names it."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .schema import runs

LATEST_RUNS = 200  # the newest runs read for a page's examples; the counts cover every run


def runs_by_content(
    engine: Engine, contents: Iterable[str], dag_ids: Collection[str] | None = None, latest: int = 3
) -> dict[str, dict[str, Any]]:
    """content (``material text/welcome``, ``template <id>``) -> ``{"count", "last_at", "runs"}``: how many
    runs sent it, when last, and up to ``latest`` of the newest (``run_key``, ``dag_id``, ``name``,
    ``status``, ``created_at``). Only runs of ``dag_ids`` when given (those the reader may see)."""
    wanted = sorted(set(contents))
    if not wanted:
        return {}
    where = [runs.c.content.in_(wanted)]
    if dag_ids is not None:
        where.append(runs.c.dag_id.in_(list(dag_ids)))
    totals = (
        sa.select(runs.c.content, sa.func.count(), sa.func.max(runs.c.created_at))
        .where(*where)
        .group_by(runs.c.content)
    )
    newest = (
        sa.select(runs.c.content, runs.c.run_key, runs.c.dag_id, runs.c.name, runs.c.status, runs.c.created_at)
        .where(*where)
        .order_by(runs.c.created_at.desc())
        .limit(LATEST_RUNS)
    )
    with engine.connect() as connection:
        used = {content: {"count": n, "last_at": last, "runs": []} for content, n, last in connection.execute(totals)}
        for row in connection.execute(newest).mappings():
            listed = used[row["content"]]["runs"]
            if len(listed) < latest:
                listed.append({key: row[key] for key in ("run_key", "dag_id", "name", "status", "created_at")})
    return used
