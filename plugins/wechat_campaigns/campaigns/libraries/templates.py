"""The account's templates as a marketer picks them: title, industry and fields (each with its keyword type
and WeChat's example value), and the template plan that adds and removes them (the ``wechat_templates`` DAG)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from ...domain.clock import SHANGHAI
from ...domain.industries import industry_name
from ...domain.templates import HIDDEN_FIELDS, InvalidTemplateFile, keyword_type
from ...library import load_template_plan, materials_dir
from ...store.templates import get_state, stored_templates, template_industries
from ..template_admin import INDUSTRY_CHANGED

_EXAMPLE = re.compile(r"^(?P<label>[^:：]*)[:：](?P<value>.*)$")
_LINE = re.compile(r"^(?P<label>[^{]*?)[:：]?\s*\{\{\s*(?P<field>[A-Za-z_]\w*)\.DATA\s*\}\}")


@dataclass(frozen=True)
class TemplateField:
    name: str  # the key of template_data: thing1
    label: str  # what the message shows before it: 活动名称
    type: str  # the keyword type WeChat checks the value against: thing, time, amount...
    example: str  # WeChat's example value, from the template's example


@dataclass(frozen=True)
class AccountTemplate:
    template_id: str
    title: str
    fields: tuple[TemplateField, ...]
    industry: tuple[str, str] | None  # first and second class, as WeChat lists it
    short_id: str | None  # the library's id when the template plan added it
    synced_at: float | None


def template_fields_with_examples(content: str, example: str) -> list[TemplateField]:
    """Each ``{{name.DATA}}`` of ``content`` with the label before it and the value the example line with the
    same label gives (``活动名称:{{thing1.DATA}}`` and ``活动名称:冬季会员日``). ``first``/``remark`` are left
    out: WeChat no longer shows them."""
    examples: dict[str, str] = {}
    for line in (example or "").splitlines():
        labelled = _EXAMPLE.match(line.strip())
        if labelled:
            examples.setdefault(labelled["label"].strip(), labelled["value"].strip())
    found = []
    for line in (content or "").splitlines():
        match = _LINE.match(line.strip())
        if match and match["field"] not in HIDDEN_FIELDS:
            label = match["label"].strip().rstrip(":：").strip()
            found.append(TemplateField(match["field"], label, keyword_type(match["field"]), examples.get(label, "")))
    return found


def account_templates(engine: Engine, appid: str) -> list[AccountTemplate]:
    """The account's templates as the last sync or template plan listed them, by title."""
    industries = template_industries(engine, appid)
    listed = []
    for row in stored_templates(engine, appid):
        if row.get("title") is None and row.get("content") is None:
            continue  # only remembered as added: WeChat did not list it (yet)
        pair = industries.get(row["template_id"])
        listed.append(
            AccountTemplate(
                template_id=row["template_id"],
                title=row.get("title") or "",
                fields=tuple(template_fields_with_examples(row.get("content") or "", row.get("example") or "")),
                industry=(pair[0], pair[1]) if pair and any(pair) else None,
                short_id=row.get("short_id"),
                synced_at=row.get("synced_at"),
            )
        )
    return sorted(listed, key=lambda t: (t.title, t.template_id))


def template_plan(engine: Engine, appid: str, conn_id: str) -> dict[str, Any]:
    """What ``templates/<conn_id>.yaml`` declares and how far the account is in line with it: the industry
    (names, and when we last changed it: WeChat allows one change a month), and each declared template as
    ``added`` (we added it and WeChat lists it), ``to_add``, ``to_delete`` or ``deleted``."""
    file = f"templates/{conn_id}.yaml"
    view: dict[str, Any] = {"file": file, "path": str(materials_dir() / file), "exists": False, "templates": []}
    changed_at = get_state(engine, appid, INDUSTRY_CHANGED)
    view["industry_changed"] = datetime.fromtimestamp(changed_at, SHANGHAI) if changed_at else None
    try:
        plan = load_template_plan(conn_id)
    except InvalidTemplateFile as exc:
        return {**view, "exists": True, "problem": str(exc)}
    if plan is None:
        return view
    ours = {t.short_id: t for t in account_templates(engine, appid) if t.short_id}
    declared = []
    for item in plan.templates:
        present = item.short_id in ours
        state = ("to_delete" if present else "deleted") if item.delete else ("added" if present else "to_add")
        found = ours.get(item.short_id)
        declared.append(
            {
                "short_id": item.short_id,
                "keywords": list(item.keywords),
                "state": state,
                "template_id": found.template_id if found else None,
            }
        )
    industry = [" / ".join(industry_name(code)) for code in plan.industry] if plan.industry else []
    return {**view, "exists": True, "industry": industry, "templates": declared}
