"""Customer-service messages 客服消息 and the typing indicator.

A fan can receive them only inside a window opened by an interaction (see ``model.KF_RULES``):
a send uses an open window with messages left (the one closing first), 45047 when the open windows are used
up, 45015 when none is open. The payload is checked before the fan, so a bad message is reported whoever
the recipient is.
"""

from __future__ import annotations

from typing import Any

from .content import draft_articles, media, section, text_content
from .errors import ApiError
from .model import Fan
from .routing import Call, route

TYPING_SECONDS = 15
TYPING_NEEDS_MESSAGE_WITHIN = 30


def _need(obj: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if not isinstance(obj.get(key), str) or not obj.get(key):
            raise ApiError(47001, f"data format error: {key} missing")


Content = dict[str, Any]


def _text(call: Call, part: Content) -> Content:
    return text_content(part.get("content"))


def _media(kind: str) -> Any:
    def parse(call: Call, part: Content) -> Content:
        item = media(call.acc, part.get("media_id"), (kind,), call.now)
        return {"media_id": item.media_id, "filename": item.filename}

    return parse


def _video(call: Call, part: Content) -> Content:
    # thumb_media_id is not checked: users report WeChat ignores it for customer-service videos
    item = media(call.acc, part.get("media_id"), ("video",), call.now)
    return {"media_id": item.media_id, "title": part.get("title"), "description": part.get("description")}


def _music(call: Call, part: Content) -> Content:
    media(call.acc, part.get("thumb_media_id"), ("thumb", "image"), call.now)
    return {k: part.get(k) for k in ("title", "description", "musicurl", "hqmusicurl", "thumb_media_id")}


def _news(call: Call, part: Content) -> Content:
    articles = part.get("articles")
    if not isinstance(articles, list) or not articles:
        raise ApiError(44003)
    if len(articles) > 1:
        raise ApiError(45008)  # one article only since 2018-10-12
    keep = ("title", "description", "url", "picurl")
    return {"articles": [{k: a.get(k) for k in keep} for a in articles if isinstance(a, dict)]}


def _mpnews(call: Call, part: Content) -> Content:
    articles = draft_articles(call.acc, part.get("media_id"))
    if len(articles) > 1:
        raise ApiError(45008)
    return {"media_id": part["media_id"], "articles": articles}


def _mpnewsarticle(call: Call, part: Content) -> Content:
    _need(part, "article_id")
    if part["article_id"] in call.acc.drafts:
        raise ApiError(40007)  # a draft media_id is not a published article_id
    return {"article_id": part["article_id"]}


def _msgmenu(call: Call, part: Content) -> Content:
    options = part.get("list")
    if not isinstance(options, list) or not options:
        raise ApiError(47001, "data format error: msgmenu.list missing")
    for option in options:
        if not isinstance(option, dict):
            raise ApiError(47001, "data format error: msgmenu.list items are objects")
        _need(option, "id", "content")
    return {"head_content": part.get("head_content", ""), "list": options, "tail_content": part.get("tail_content", "")}


def _wxcard(call: Call, part: Content) -> Content:
    _need(part, "card_id")
    return {"card_id": part["card_id"]}


def _miniprogrampage(call: Call, part: Content) -> Content:
    _need(part, "appid", "pagepath")
    media(call.acc, part.get("thumb_media_id"), ("thumb", "image"), call.now)
    return {k: part.get(k) for k in ("title", "appid", "pagepath", "thumb_media_id")}


PARSERS = {
    "text": _text,
    "image": _media("image"),
    "voice": _media("voice"),
    "video": _video,
    "music": _music,
    "news": _news,
    "mpnews": _mpnews,
    "mpnewsarticle": _mpnewsarticle,
    "msgmenu": _msgmenu,
    "wxcard": _wxcard,
    "miniprogrampage": _miniprogrampage,
}


def custom_content(call: Call) -> tuple[str, Content]:
    """(msgtype, what the fan sees) for a customer-service message; 40008 for an unknown msgtype."""
    msgtype = call.body.get("msgtype")
    if not isinstance(msgtype, str) or (parse := PARSERS.get(msgtype)) is None:
        raise ApiError(40008)
    return msgtype, parse(call, section(call.body, msgtype))


def _fan(call: Call) -> Fan:
    touser = call.body.get("touser")
    fan = call.acc.fans.get(touser) if isinstance(touser, str) else None
    if fan is None:
        raise ApiError(40003)
    if not fan.subscribed:
        raise ApiError(45015)
    if fan.blacklisted:
        raise ApiError(43019)
    if fan.refuses_messages:
        raise ApiError(48002)
    return fan


def use_window(fan: Fan, now: float) -> None:
    """Spend one message of an open window: the one that closes first, among those with messages left."""
    best: list[Any] | None = None
    any_open = False
    for window in fan.windows.values():
        if now >= window[1]:
            continue
        any_open = True
        if window[2] is not None and window[3] >= window[2]:
            continue
        if best is None or window[1] < best[1]:
            best = window
    if best is None:
        raise ApiError(45047 if any_open else 45015)
    best[3] += 1


def send(call: Call) -> dict[str, Any]:
    sb, account, now = call.sb, call.acc, call.now
    msgtype, content = custom_content(call)
    fan = _fan(call)
    use_window(fan, now)
    fan.typing_until = 0.0  # a message ends the typing indicator
    service = call.body.get("customservice")
    if isinstance(service, dict) and service.get("kf_account"):
        content = {**content, "kf_account": service["kf_account"]}
    account.deliver(fan.openid, "customer_service", msgtype, content, str(sb.next_id("custom")), now)
    return {"errcode": 0, "errmsg": "ok"}


def typing(call: Call) -> dict[str, Any]:
    command, now = call.body.get("command"), call.now
    if command not in ("Typing", "CancelTyping"):
        raise ApiError(45072)
    fan = _fan(call)
    if command == "CancelTyping":
        fan.typing_until = 0.0
        return {"errcode": 0, "errmsg": "ok"}
    if now - fan.last_message_at > TYPING_NEEDS_MESSAGE_WITHIN:
        raise ApiError(45080)
    if now < fan.typing_until:
        raise ApiError(45081)
    fan.typing_until = now + TYPING_SECONDS
    return {"errcode": 0, "errmsg": "ok"}


ROUTES = {
    "/cgi-bin/message/custom/send": route(send),
    "/cgi-bin/message/custom/typing": route(typing),
}
