"""What each fan is sent, or why not: shared by the per-fan sends and the dry run, which renders the same
messages so that a broken attribute shows before send day."""

from __future__ import annotations

import logging
from typing import Any

from ...domain.plan import template_client_msg_id
from ...domain.render import RenderError, TooLong
from ...domain.spec import MessageKind
from ...domain.templates import lint
from ...store.fans import profiles_for_render
from ...wechat.api.template import TemplateMessage
from ..content import Content
from ..run import CampaignRun

log = logging.getLogger(__name__)


def message_for(run: CampaignRun, content: Content, fan: dict[str, Any]) -> Any:
    """What to send this fan, or why not: the message does not render, is longer than WeChat takes, or has a
    template value WeChat would refuse with 47003."""
    openid = fan["openid"]
    try:
        if run.kind is not MessageKind.TEMPLATE:
            return openid, content.for_fan(fan)
        data = content.template_data(fan)
    except TooLong as exc:
        log.warning("%s: %s", openid, exc)
        return "content_too_long"
    except RenderError as exc:
        log.warning("%s: %s", openid, exc)
        return "render_error"
    refusal = _lint_refusal(data, run.spec.template_strict)
    if refusal:
        return refusal
    client_msg_id = template_client_msg_id(run.run_key, openid)
    return TemplateMessage(openid, content.template_id or "", data, client_msg_id, content.url)


def _lint_refusal(data: dict[str, str], strict: bool) -> str | None:
    for finding in lint(data):
        if finding.severity == "refused":
            log.warning("template value refused before sending: %s", finding)
            return "invalid_template_value"
        if strict and finding.severity == "changed":
            return "template_lint"
    return None


def fan_profiles(run: CampaignRun, content: Content, openids: list[str]) -> dict[str, dict[str, Any]]:
    """What the message needs to know of each fan; nothing to read when it uses only the openid."""
    if not content.variables - {"openid"}:
        return {}
    return profiles_for_render(run.engine, run.appid, openids, with_tags="tags" in content.variables)
