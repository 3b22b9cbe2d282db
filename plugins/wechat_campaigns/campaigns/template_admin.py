"""Bringing an account's templates in line with its declarative file (the ``wechat_templates`` DAG).

Order: the industry (at most one change a Beijing month: a second change is refused with the date it becomes
possible, before anything else changes), then deletions, then additions (never past 25 templates: the whole
plan is refused if it would be), then the account's list is synced into the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from ..domain.clock import SHANGHAI, next_month_start, shanghai_month
from ..domain.errors import WeChatError
from ..domain.industries import industry_name
from ..domain.templates import MAX_TEMPLATES, DeclaredTemplate, TemplatePlan
from ..store.templates import get_state, remember_added, replace_templates, set_state, stored_templates
from ..wechat.client import WeChatClient
from .run import utcnow

INDUSTRY_CHANGED = "industry_changed_at"


class TemplatePlanRefused(Exception):
    """The declared state cannot be reached now; the message says why and what to do."""


@dataclass
class TemplateReport:
    industry: str = "unchanged"
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    templates: int = 0

    def as_dict(self) -> dict:
        return {"industry": self.industry, "added": self.added, "deleted": self.deleted, "templates": self.templates}


@dataclass
class TemplateAdmin:
    appid: str
    client: WeChatClient
    engine: Engine
    clock: Callable[[], datetime] = utcnow

    def apply(self, plan: TemplatePlan) -> TemplateReport:
        report = TemplateReport()
        if plan.industry:
            report.industry = self._industry(plan.industry)
        listed = {t.template_id for t in self.client.list_templates()}
        ours = self._declared_ids(listed)
        deletions = [tid for d in plan.templates if d.delete for tid in ours.get(_key(d), [])]
        additions = [d for d in plan.templates if not d.delete and not ours.get(_key(d))]
        after = len(listed) - len(deletions) + len(additions)
        if after > MAX_TEMPLATES:
            raise TemplatePlanRefused(
                f"the account would have {after} templates; WeChat allows {MAX_TEMPLATES}. "
                f"Delete {after - MAX_TEMPLATES} first (mark them delete: true in the template file)"
            )
        for template_id in deletions:
            self.client.delete_template(template_id)
            report.deleted.append(template_id)
        for declared in additions:
            template_id = self.client.add_template(declared.short_id, declared.keywords)
            remember_added(self.engine, self.appid, template_id, declared.short_id, declared.keywords)
            report.added.append(template_id)
        final = self.client.list_templates()
        replace_templates(self.engine, self.appid, final)
        report.templates = len(final)
        return report

    def _industry(self, codes: tuple[str, str]) -> str:
        wanted = (industry_name(codes[0]), industry_name(codes[1]))
        current = self.client.get_industry()
        if (current.primary, current.secondary) == wanted:
            return "unchanged"
        now = self.clock()
        changed_at = get_state(self.engine, self.appid, INDUSTRY_CHANGED)
        if changed_at and shanghai_month(datetime.fromtimestamp(changed_at, SHANGHAI)) == shanghai_month(now):
            raise TemplatePlanRefused(self._once_a_month(changed_at, now))
        try:
            self.client.set_industry(*codes)
        except WeChatError as exc:
            if exc.errcode == 43100:
                raise TemplatePlanRefused(self._once_a_month(changed_at, now)) from exc
            raise
        set_state(self.engine, self.appid, INDUSTRY_CHANGED, now.timestamp())
        return f"changed to {'/'.join(wanted[0])} + {'/'.join(wanted[1])}"

    @staticmethod
    def _once_a_month(changed_at: float | None, now: datetime) -> str:
        when = (
            datetime.fromtimestamp(changed_at, SHANGHAI).strftime("%Y-%m-%d")
            if changed_at
            else "earlier this month (by someone else)"
        )
        next_month = next_month_start(now)
        return (
            f"the industry was already changed {when}; WeChat allows one change a month, and changing it deletes "
            f"the templates of the old industry. Next possible: {next_month:%Y-%m-%d} (Beijing). Nothing was changed."
        )

    def _declared_ids(self, listed: set[str]) -> dict[tuple, list[str]]:
        """Template ids we added for each (short id, keywords), among those WeChat still lists."""
        found: dict[tuple, list[str]] = {}
        for row in stored_templates(self.engine, self.appid):
            if row["short_id"] and row["template_id"] in listed:
                found.setdefault((row["short_id"], tuple(row["keywords"] or ())), []).append(row["template_id"])
        return found


def _key(declared: DeclaredTemplate) -> tuple:
    return declared.short_id, declared.keywords
