"""Template messages 模板消息: send (the hot path of the benchmark) and template management."""

from __future__ import annotations

from typing import Any

from .account import Account
from .errors import ApiError
from .model import MAX_TEMPLATES, TEMPLATE_DEDUP_SECONDS, Template
from .routing import Call, route
from .sandbox import Sandbox, new_template_id
from .templates import from_library, industries, placeholders, render, rendered_text

_keys_cache: dict[str, list[str]] = {}


def _keys(template: Template) -> list[str]:
    keys = _keys_cache.get(template.content)
    if keys is None:
        keys = _keys_cache[template.content] = placeholders(template.content)
    return keys


def send(call: Call) -> dict[str, Any]:
    sb, account, body, now = call.sb, call.acc, call.body, call.now
    if account.type != "service" or not account.verified:
        raise ApiError(48001)
    touser = body.get("touser")
    if not isinstance(touser, str):
        raise ApiError(40003)
    client_msg_id = body.get("client_msg_id")
    client_msg_id = str(client_msg_id) if client_msg_id not in (None, "") else None
    if client_msg_id:
        seen = account.template_dedup.get((touser, client_msg_id))
        if seen is not None and now - seen[1] < TEMPLATE_DEDUP_SECONDS:
            return {"errcode": 0, "errmsg": "ok", "msgid": seen[0]}  # de-duplicated: no second message
    template_id = body.get("template_id")
    template = account.templates.get(template_id) if template_id is not None else None
    if template is None:
        raise ApiError(40037)
    fan = account.fans.get(touser)
    if fan is None:
        raise ApiError(40003)
    if not fan.subscribed:
        raise ApiError(43004)
    if fan.blacklisted:
        raise ApiError(43019)
    if fan.blocks_templates is True or fan.refuses_messages:
        raise ApiError(43101)
    values = render(template.content, _keys(template), body.get("data"))
    msgid = sb.next_id("template")
    if fan.blocks_templates == "async":
        status = "failed:user block"
    elif fan.template_failure:
        status = "failed: system failed"
    else:
        status = "success"
        content = {"template_id": template.template_id, "title": template.title, "data": values}
        content["text"] = rendered_text(template.content, values)
        if body.get("url"):
            content["url"] = body["url"]
        if isinstance(body.get("miniprogram"), dict):
            content["miniprogram"] = body["miniprogram"]
        account.deliver(touser, "template", "template", content, str(msgid), now)
    if client_msg_id:
        _remember(account.template_dedup, (touser, client_msg_id), msgid, now)
    if account.callback_url:
        _push_later(sb, account, touser, msgid, status)
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def _remember(dedup: dict[tuple[str, str], tuple[int, float]], key: tuple[str, str], msgid: int, now: float) -> None:
    """Records are kept in the order they were made, so the expired ones are at the front: dropping them costs
    nothing per send however many fans were sent to in the last 10 minutes."""
    while dedup:
        oldest = next(iter(dedup))
        if now - dedup[oldest][1] < TEMPLATE_DEDUP_SECONDS:
            break
        del dedup[oldest]
    dedup.pop(key, None)  # a repeated key moves to the back with its new time
    dedup[key] = (msgid, now)


def _push_later(sb: Sandbox, account: Account, openid: str, msgid: int, status: str) -> None:
    """TEMPLATESENDJOBFINISH comes after the send's answer (``template_report_delay`` seconds; by default
    at once, as WeChat's come within a second: often before the sender has written its answer down)."""

    def push() -> None:
        if sb.accounts.get(account.appid) is not account:
            return
        fields = [
            ("ToUserName", account.original_id),
            ("FromUserName", openid),
            ("CreateTime", int(sb.clock.now())),
            ("MsgType", "event"),
            ("Event", "TEMPLATESENDJOBFINISH"),
            ("MsgID", msgid),
            ("Status", status),
        ]
        sb.pusher.push(account, "TEMPLATESENDJOBFINISH", openid, fields)

    if sb.loop is not None:
        sb.loop.call_later(float(account.template_report_delay), push)


# -- management -----------------------------------------------------------------------------------------


def set_industry(call: Call) -> dict[str, Any]:
    sb, account, body = call.sb, call.acc, call.body
    pair = (str(body.get("industry_id1", "")), str(body.get("industry_id2", "")))
    if any(code not in industries() for code in pair) or pair[0] == pair[1]:
        raise ApiError(40102)
    month = sb.clock.month_key(call.now)
    if account.industry_changed_month == month:
        raise ApiError(43100)
    account.industry, account.industry_changed_month = pair, month
    # templates of industries the account no longer has are deleted; category templates stay
    for template_id in [
        t.template_id for t in account.templates.values() if t.industry_id and t.industry_id not in pair
    ]:
        del account.templates[template_id]
    return {"errcode": 0, "errmsg": "ok"}


def get_industry(call: Call) -> dict[str, Any]:
    table = industries()
    pair = call.acc.industry

    def describe(code: str | None) -> dict[str, str]:
        first, second = table.get(code or "", ["", ""])
        return {"first_class": first, "second_class": second}

    return {
        "primary_industry": describe(pair[0] if pair else None),
        "secondary_industry": describe(pair[1] if pair else None),
    }


def add_template(call: Call) -> dict[str, Any]:
    account, body = call.acc, call.body
    short_id = body.get("template_id_short")
    names = body.get("keyword_name_list") or []
    if not short_id:
        raise ApiError(40037, "invalid template_id_short")
    if not isinstance(names, list):
        raise ApiError(40246)
    entry, content, example = from_library(str(short_id), [str(n) for n in names])
    if len(account.templates) >= MAX_TEMPLATES:
        raise ApiError(45026)
    industry_id = entry.get("industry")
    first, second = industries().get(industry_id, ["", ""]) if industry_id else ("", "")
    template = Template(
        template_id=new_template_id(),
        title=entry["title"],
        content=content,
        example=example,
        primary_industry=first,
        deputy_industry=second,
        industry_id=industry_id,
        short_id=str(short_id),
    )
    account.templates[template.template_id] = template
    return {"errcode": 0, "errmsg": "ok", "template_id": template.template_id}


def list_templates(call: Call) -> dict[str, Any]:
    return {"template_list": [t.view() for t in call.acc.templates.values()]}


def delete_template(call: Call) -> dict[str, Any]:
    template_id = call.body.get("template_id")
    if template_id is None or call.acc.templates.pop(template_id, None) is None:
        raise ApiError(40037)
    return {"errcode": 0, "errmsg": "ok"}


ROUTES = {
    "/cgi-bin/message/template/send": route(send),
    "/cgi-bin/template/api_set_industry": route(set_industry),
    "/cgi-bin/template/get_industry": route(get_industry, body="none"),
    "/cgi-bin/template/api_add_template": route(add_template),
    "/cgi-bin/template/get_all_private_template": route(list_templates, body="none"),
    "/cgi-bin/template/del_private_template": route(delete_template),
}
