"""Fans and tags: user/get, user/info(+batchget), tags CRUD, tag members and tagging.

Follower lists contain subscribed fans only, in the order the sandbox learnt them. Paging follows WeChat:
every page's ``next_openid`` is its last openid, and the call after the last page answers ``count: 0``
without a ``data`` key.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from typing import Any

from .account import Account
from .errors import ApiError
from .model import FIRST_TAG_ID, MAX_TAGS, MAX_TAGS_PER_FAN, SYSTEM_TAGS, VISIBLE_SYSTEM_TAGS, Fan, Tag
from .routing import Call, route

PAGE = 10_000
TAG_NAME_MAX_BYTES = 30
TAG_DELETE_MAX_FANS = 100_000
BATCHGET_MAX = 100
TAGGING_MAX = 50


def _page(
    account: Account, openids: Collection[str], next_openid: str, total: bool = True, key: str = ""
) -> dict[str, Any]:
    """One page of subscribed openids after ``next_openid``. ``total`` (user/get) counts every follower;
    tag pages do not say how many there are, so a page costs what the page holds, not the whole tag."""
    fans = account.fans
    ordered, position = _ordered(account, key, openids)
    start = 0
    if next_openid:
        if next_openid not in position:
            raise ApiError(40003, "invalid next_openid")
        start = position[next_openid] + 1
    page: list[str] = []
    for openid in itertools.islice(ordered, start, None):
        if openid in openids and fans[openid].subscribed:  # membership and follow state are read live
            page.append(openid)
            if len(page) == PAGE:
                break
    answer: dict[str, Any] = {"count": len(page)}
    if total:
        answer = {"total": sum(1 for o in openids if fans[o].subscribed), **answer}
    if page:
        answer["data"] = {"openid": page}
        answer["next_openid"] = page[-1]
    else:
        answer["next_openid"] = ""
    return answer


def _ordered(account: Account, key: str, openids: Collection[str]) -> tuple[list[str], dict[str, int]]:
    """The container's openids in order with their positions, kept on the account and rebuilt when the
    container grows or shrinks: paging a million-fan tag must not copy the tag for every page."""
    cache = account.__dict__.setdefault("_page_order", {})
    size = len(openids)
    cached = cache.get(key)
    if cached is None or cached[0] != size:
        ordered = list(openids)
        cached = cache[key] = (size, ordered, {openid: i for i, openid in enumerate(ordered)})
    return cached[1], cached[2]


def followers(call: Call) -> dict[str, Any]:
    return _page(call.acc, call.acc.fans, call.query.get("next_openid", ""), key="followers")


def _fan_info(account: Account, fan: Fan, lang: str) -> dict[str, Any]:
    if not fan.subscribed:
        return {"subscribe": 0, "openid": fan.openid}
    info: dict[str, Any] = {
        "subscribe": 1,
        "openid": fan.openid,
        "language": fan.language or lang,
        "subscribe_time": fan.subscribe_time,
        "remark": fan.remark,
        "groupid": 0,
        "tagid_list": list(fan.tags),
        "subscribe_scene": fan.subscribe_scene,
        "qr_scene": fan.qr_scene,
        "qr_scene_str": fan.qr_scene_str,
    }
    if fan.unionid:
        info["unionid"] = fan.unionid
    return info


def _known_fan(call: Call, openid: Any) -> Fan:
    fan = call.acc.fans.get(openid) if isinstance(openid, str) else None
    if fan is None:
        # an openid the sandbox knows under another account is "not this AppID's"
        foreign = isinstance(openid, str) and any(openid in a.fans for a in call.sb.accounts.values())
        raise ApiError(49003 if foreign else 40003)
    return fan


def user_info(call: Call) -> dict[str, Any]:
    fan = _known_fan(call, call.query.get("openid"))
    return _fan_info(call.acc, fan, call.query.get("lang", "zh_CN"))


def batchget(call: Call) -> dict[str, Any]:
    users = call.body.get("user_list")
    if not isinstance(users, list) or not 1 <= len(users) <= BATCHGET_MAX:
        raise ApiError(40032)
    infos = []
    for item in users:
        if not isinstance(item, dict):
            raise ApiError(47001)
        fan = _known_fan(call, item.get("openid"))
        infos.append(_fan_info(call.acc, fan, item.get("lang", "zh_CN")))
    return {"user_info_list": infos}


# -- tags -----------------------------------------------------------------------------------------------


def _tag_arg(call: Call) -> dict[str, Any]:
    tag = call.body.get("tag")
    if not isinstance(tag, dict):
        raise ApiError(47001, "data format error: tag object missing")
    return tag


def _check_name(account: Account, name: Any, exclude: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ApiError(45157)
    if len(name.encode()) > TAG_NAME_MAX_BYTES:
        raise ApiError(45158)
    existing = account.tag_by_name(name)
    if existing is not None and existing.id != exclude:
        raise ApiError(45157)
    return name


def _tag(account: Account, raw: Any) -> Tag:
    try:
        tag = account.tags.get(int(raw))
    except (TypeError, ValueError):
        tag = None
    if tag is None:
        raise ApiError(45159)
    return tag


def create_tag(call: Call) -> dict[str, Any]:
    account = call.acc
    name = _check_name(account, _tag_arg(call).get("name"))
    if len(account.user_tags()) >= MAX_TAGS:
        raise ApiError(45056)
    tag = account.ensure_tag(name)
    return {"tag": {"id": tag.id, "name": tag.name}}


def list_tags(call: Call) -> dict[str, Any]:
    account = call.acc
    fans = account.fans
    shown = [account.tags[i] for i in VISIBLE_SYSTEM_TAGS] + account.user_tags()
    return {
        "tags": [{"id": t.id, "name": t.name, "count": sum(1 for o in t.members if fans[o].subscribed)} for t in shown]
    }


def update_tag(call: Call) -> dict[str, Any]:
    account, raw = call.acc, _tag_arg(call)
    tag = _tag(account, raw.get("id"))
    if tag.id in SYSTEM_TAGS:
        raise ApiError(45058)
    tag.name = _check_name(account, raw.get("name"), exclude=tag.id)
    return {"errcode": 0, "errmsg": "ok"}


def delete_tag(call: Call) -> dict[str, Any]:
    account = call.acc
    tag = _tag(account, _tag_arg(call).get("id"))
    if tag.id in SYSTEM_TAGS:
        raise ApiError(45058)
    if len(tag.members) > TAG_DELETE_MAX_FANS:
        raise ApiError(45057)
    for openid in tag.members:
        account.fans[openid].tags.remove(tag.id)
    del account.tags[tag.id]
    return {"errcode": 0, "errmsg": "ok"}


def tag_fans(call: Call) -> dict[str, Any]:
    tag = _tag(call.acc, call.body.get("tagid"))
    return _page(call.acc, tag.members, call.body.get("next_openid") or "", total=False, key=f"tag:{tag.id}")


def _tagging(call: Call) -> tuple[Tag, list[Fan]]:
    openids = call.body.get("openid_list")
    if not isinstance(openids, list) or not 1 <= len(openids) <= TAGGING_MAX:
        raise ApiError(40032)
    tag = _tag(call.acc, call.body.get("tagid"))
    if tag.id < FIRST_TAG_ID and tag.id not in VISIBLE_SYSTEM_TAGS:
        raise ApiError(45159)
    return tag, [_known_fan(call, o) for o in openids]


def batch_tag(call: Call) -> dict[str, Any]:
    tag, fans = _tagging(call)
    # all-or-nothing: check every fan before tagging any
    if any(tag.id not in f.tags and len(f.tags) >= MAX_TAGS_PER_FAN for f in fans):
        raise ApiError(45059)
    for fan in fans:
        if tag.id not in fan.tags:
            fan.tags.append(tag.id)
            tag.members[fan.openid] = None
    return {"errcode": 0, "errmsg": "ok"}


def batch_untag(call: Call) -> dict[str, Any]:
    tag, fans = _tagging(call)
    for fan in fans:
        if tag.id in fan.tags:
            fan.tags.remove(tag.id)
            tag.members.pop(fan.openid, None)
    return {"errcode": 0, "errmsg": "ok"}


def tag_ids(call: Call) -> dict[str, Any]:
    fan = _known_fan(call, call.body.get("openid"))
    return {"tagid_list": list(fan.tags)}


ROUTES = {
    "/cgi-bin/user/get": route(followers, body="none"),
    "/cgi-bin/user/info": route(user_info, body="none"),
    "/cgi-bin/user/info/batchget": route(batchget),
    "/cgi-bin/tags/create": route(create_tag),
    "/cgi-bin/tags/get": route(list_tags, body="none"),
    "/cgi-bin/tags/update": route(update_tag),
    "/cgi-bin/tags/delete": route(delete_tag),
    "/cgi-bin/user/tag/get": route(tag_fans),
    "/cgi-bin/tags/members/batchtagging": route(batch_tag),
    "/cgi-bin/tags/members/batchuntagging": route(batch_untag),
    "/cgi-bin/tags/getidlist": route(tag_ids),
}
