"""Recurring campaigns declared as files: ``include/campaigns/<name>.yaml`` becomes the DAG
``wechat_campaign__<name>``, with its own schedule and the conf of the trigger form fixed in the file.

    description: Weekly digest for VIP fans          # shown on the DAG
    schedule: "0 10 * * 1"                            # cron, read in `timezone`
    timezone: Asia/Shanghai                           # default Asia/Shanghai
    conf:                                             # the same keys as the trigger form
      message_type: mass
      tag: vip
      material: text/weekly_digest_en

Read when DAGs are parsed (files only: no database, no network). A file with a mistake still becomes a DAG,
one that never runs and whose description says what is wrong, so the mistake shows in the UI without
hiding the other campaigns.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ..domain.spec import InvalidCampaign, parse_campaign
from ..library import materials_dir

NAME = re.compile(r"^[A-Za-z0-9_]+$")
DAG_PREFIX = "wechat_campaign__"
KEYS = {"description", "schedule", "timezone", "conf", "tags"}


@dataclass(frozen=True)
class DeclaredCampaign:
    name: str
    file: str
    schedule: str | None = None
    timezone: str = "Asia/Shanghai"
    description: str = ""
    conf: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def dag_id(self) -> str:
        return f"{DAG_PREFIX}{self.name}"


def declared_account(dag: Any) -> str | None:
    """The account a declared campaign's DAG sends from, known when it is parsed: the file's
    ``conf.wechat_conn_id``, else the trigger form's default. ``None`` for any other DAG (the hand-triggered
    one learns its account from each run's conf)."""
    if dag is None or not dag.dag_id.startswith(DAG_PREFIX):
        return None
    try:
        value = dag.params["wechat_conn_id"]
    except KeyError:
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


def campaigns_dir() -> Path:
    configured = os.environ.get("WECHAT_CAMPAIGNS_DIR")
    return Path(configured) if configured else materials_dir().parent / "campaigns"


def declared_campaigns(folder: Path | None = None) -> list[DeclaredCampaign]:
    folder = folder or campaigns_dir()
    if not folder.is_dir():
        return []
    return [_read(path) for path in sorted(folder.glob("*.y*ml"))]


def _read(path: Path) -> DeclaredCampaign:
    name = path.stem
    if not NAME.match(name):
        return DeclaredCampaign(re.sub(r"\W", "_", name), path.name, problem="file name: use letters, digits and _")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return DeclaredCampaign(name, path.name, problem=f"cannot read: {exc}")
    problem = _problem(data)
    if problem:
        return DeclaredCampaign(name, path.name, problem=problem)
    return DeclaredCampaign(
        name=name,
        file=path.name,
        schedule=str(data["schedule"]),
        timezone=str(data.get("timezone") or "Asia/Shanghai"),
        description=str(data.get("description") or ""),
        conf=dict(data["conf"]),
        tags=tuple(str(t) for t in data.get("tags") or ()),
    )


def _problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "the file must hold a mapping with schedule and conf"
    unknown = sorted(set(data) - KEYS)
    if unknown:
        return f"{unknown[0]}: unknown key (a campaign file has {', '.join(sorted(KEYS))})"
    if not isinstance(data.get("schedule"), str) or not data["schedule"].strip():
        return 'schedule: give a cron expression such as "0 10 * * 1" (Mondays 10:00)'
    conf = data.get("conf")
    if not isinstance(conf, dict):
        return "conf: give the campaign's fields (message_type, tag, material, ...)"
    if conf.get("send_at"):
        return "conf.send_at: a recurring campaign is sent by its schedule; remove send_at"
    try:
        parse_campaign(conf, datetime.now(UTC), check_send_at=False)
    except InvalidCampaign as exc:
        return f"conf.{exc}"
    return None
