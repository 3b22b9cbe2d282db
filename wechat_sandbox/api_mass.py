"""Mass sends 群发: sendall (tag / all), send (openid list), preview, get, delete, speed.

Delivery to inboxes happens at call time; the job then reads SENDING until ``mass_finish_delay`` seconds
later, when it turns SEND_SUCCESS (or SEND_FAIL, when the admin made it fail) and MASSSENDJOBFINISH is
pushed. Fans who may not receive the message (unsubscribed, blacklisted, refusing messages, at the
4-per-month cap, not this account's) are filtered silently, as WeChat does: the call succeeds and only
FilterCount shows it. A successful send to all followers of an mpnews deletes its draft, as WeChat does.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from typing import Any

from .account import Account
from .content import draft_articles, media, section, text_content
from .errors import ApiError
from .model import (
    CLIENTMSGID_DEDUP_SECONDS,
    CLIENTMSGID_RETRY_SECONDS,
    MASS_PER_MINUTE,
    MONTHLY_MASS_CAP,
    SERVICE_TO_ALL_PER_MONTH,
    SUBSCRIPTION_MASS_PER_DAY,
    ClientMsgRecord,
    Fan,
    MassJob,
)
from .routing import Call, route
from .sandbox import Sandbox

REALSPEED = (80, 60, 45, 30, 10)  # 万 messages per minute for speed 0..4
MAX_OPENIDS = 10_000


def _rate(call: Call) -> None:
    """60 mass requests (sendall + send + preview) per minute; the refused call does not count."""
    account, minute = call.acc, int(call.now // 60)
    if account.count(account.mass_minute, minute) >= MASS_PER_MINUTE:
        raise ApiError(45011)
    account.mass_minute[1] += 1


def _text(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    return text_content(section(body, "text").get("content"))


def _image(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    images = body.get("images")
    if not isinstance(images, dict):  # the legacy single image
        item = media(call.acc, section(body, "image").get("media_id"), ("image",), call.now)
        return {"media_id": item.media_id, "filename": item.filename}
    ids = images.get("media_ids")
    if not isinstance(ids, list) or not ids:
        raise ApiError(40007)
    for media_id in ids:
        media(call.acc, media_id, ("image",), call.now)
    return {"media_ids": ids, "recommend": images.get("recommend", "")}


def _voice(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    item = media(call.acc, section(body, "voice").get("media_id"), ("voice",), call.now)
    return {"media_id": item.media_id, "filename": item.filename}


def _mpvideo(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    # mass/send's doc names the type "video" but the content key stays "mpvideo"; accept both
    video = body.get("mpvideo")
    if not isinstance(video, dict):
        video = section(body, "video")
    item = media(call.acc, video.get("media_id"), ("mpvideo", "video"), call.now)
    if item.type == "video" and not item.permanent:
        raise ApiError(40007)  # a temporary video must go through media/uploadvideo first
    return {"media_id": item.media_id, "title": item.title, "description": item.description}


def _mpnews(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    media_id = section(body, "mpnews").get("media_id")
    return {"media_id": media_id, "articles": draft_articles(call.acc, media_id)}


def _wxcard(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    card_id = section(body, "wxcard").get("card_id")
    if not isinstance(card_id, str) or not card_id:
        raise ApiError(47001, "data format error: wxcard.card_id missing")
    return {"card_id": card_id}


PARSERS = {
    "text": ("text", _text),
    "image": ("image", _image),
    "voice": ("voice", _voice),
    "mpvideo": ("mpvideo", _mpvideo),
    "video": ("mpvideo", _mpvideo),
    "mpnews": ("mpnews", _mpnews),
    "wxcard": ("wxcard", _wxcard),
}


def mass_content(call: Call) -> tuple[str, dict[str, Any]]:
    """(msgtype, what the fans see) of a mass message; 40008 for a type mass sends do not take."""
    msgtype = call.body.get("msgtype")
    known = PARSERS.get(msgtype) if isinstance(msgtype, str) else None
    if known is None:
        raise ApiError(40008)
    shown_type, parse = known
    return shown_type, parse(call, call.body)


def _clientmsgid(call: Call) -> str | None:
    value = call.body.get("clientmsgid")
    if value is None or value == "":
        return None
    value = str(value)
    if len(value.encode()) > 64:
        raise ApiError(45067)
    return value


def _check_duplicate(account: Account, clientmsgid: str | None, now: float) -> None:
    record = account.clientmsgids.get(clientmsgid) if clientmsgid else None
    if record is None:
        return
    if record.msg_id is not None and now - record.created_at < CLIENTMSGID_DEDUP_SECONDS:
        raise ApiError(45065, msg_id=record.msg_id)
    if record.failed_at is not None and now - record.failed_at < CLIENTMSGID_RETRY_SECONDS:
        raise ApiError(45066)


def _target(call: Call, by_tag: bool) -> tuple[dict[str, Any], Iterable[str] | None, list[str] | None]:
    """(target description, tag members or None for all fans, explicit openid list)."""
    account, body = call.acc, call.body
    if not by_tag:
        touser = body.get("touser")
        if not isinstance(touser, list) or not 2 <= len(touser) <= MAX_OPENIDS:
            raise ApiError(40032, "invalid openid list size, at least two openid")
        return {"type": "openids", "count": len(touser)}, None, [str(o) for o in touser]
    target = section(body, "filter")
    if target.get("is_to_all") in (True, "true", 1):
        return {"type": "all"}, None, None
    tag_id = target.get("tag_id", target.get("group_id"))
    try:
        tag = account.tags.get(int(tag_id)) if tag_id is not None else None
    except (TypeError, ValueError):
        tag = None
    if tag is None:
        raise ApiError(45159)
    return {"type": "tag", "tag_id": tag.id}, tag.members, None


def _quota_rules(call: Call, to_all: bool) -> None:
    """45028: a subscription account's one mass send a day; a service account's sends to all followers, 4 a
    natural month and ``to_all_daily_limit`` (1) a Beijing day."""
    account, clock = call.acc, call.sb.clock
    if account.type == "subscription":
        if account.count(account.mass_day, clock.day_key(call.now)) >= SUBSCRIPTION_MASS_PER_DAY:
            raise ApiError(45028)
    elif to_all:
        if account.count(account.to_all_month, clock.month_key(call.now)) >= SERVICE_TO_ALL_PER_MONTH:
            raise ApiError(45028)
        daily = account.to_all_daily_limit
        if daily and account.count(account.to_all_day, clock.day_key(call.now)) >= daily:
            raise ApiError(45028)


def send_mass(call: Call, by_tag: bool) -> dict[str, Any]:
    sb, account, now = call.sb, call.acc, call.now
    _rate(call)
    clientmsgid = _clientmsgid(call)
    _check_duplicate(account, clientmsgid, now)
    try:
        msgtype, content = mass_content(call)
        target, members, openids = _target(call, by_tag)
        if clientmsgid is None and account.implicit_clientmsgid:
            digest = json.dumps([target, openids, msgtype, content], sort_keys=True, ensure_ascii=False)
            clientmsgid = "auto:" + hashlib.sha256(digest.encode()).hexdigest()[:32]
            _check_duplicate(account, clientmsgid, now)
        _quota_rules(call, target["type"] == "all")
    except ApiError as error:
        if clientmsgid and error.errcode not in (45065, 45066):
            record = account.clientmsgids.setdefault(clientmsgid, ClientMsgRecord())
            record.failed_at = now
        raise
    job = _create_job(sb, account, call.path, msgtype, content, target, clientmsgid, now)
    _deliver(sb, account, job, content, members, openids, now)
    outcome = account.next_mass_outcome
    if outcome is not None:  # the admin said how the next jobs end
        left = outcome["jobs"] - 1
        account.next_mass_outcome = {**outcome, "jobs": left} if left else None
        apply_outcome(sb, account, job, outcome["status"], outcome["error_count"])
    if msgtype == "mpnews" and target["type"] == "all":
        account.drafts.pop(content["media_id"], None)  # WeChat deletes the draft once sent to all followers
    sb.schedule_finish(account, job)
    answer: dict[str, Any] = {"errcode": 0, "errmsg": "send job submission success", "msg_id": job.msg_id}
    if job.msg_data_id is not None:
        answer["msg_data_id"] = job.msg_data_id
    return answer


def _create_job(
    sb: Sandbox,
    account: Account,
    path: str,
    msgtype: str,
    content: dict[str, Any],
    target: dict[str, Any],
    clientmsgid: str | None,
    now: float,
) -> MassJob:
    job = MassJob(
        msg_id=sb.next_id("mass"),
        path=path,
        msgtype=msgtype,
        target=target,
        clientmsgid=clientmsgid,
        created_at=now,
        finish_at=now + float(account.mass_finish_delay),
    )
    if msgtype == "mpnews":
        job.msg_data_id = sb.next_id("msg_data")
        job.article_urls = [f"http://mp.weixin.qq.com/s/{secrets.token_urlsafe(16)}" for _ in content["articles"]]
        content["articles"] = [dict(a, url=u) for a, u in zip(content["articles"], job.article_urls, strict=True)]
    account.jobs[job.msg_id] = job
    if clientmsgid:
        account.clientmsgids[clientmsgid] = ClientMsgRecord(job.msg_id, now)
    if account.type == "subscription":
        account.mass_day[1] += 1
    elif target["type"] == "all":
        for counter, period in (
            (account.to_all_month, sb.clock.month_key(now)),
            (account.to_all_day, sb.clock.day_key(now)),
        ):
            account.count(counter, period)  # start the period's count even when its rule is off
            counter[1] += 1
    return job


def _deliver(
    sb: Sandbox,
    account: Account,
    job: MassJob,
    content: dict[str, Any],
    members: Iterable[str] | None,
    openids: list[str] | None,
    now: float,
) -> None:
    month = sb.clock.month_key(now)
    capped = account.type == "service"
    fans = account.fans
    if openids is not None:
        job.total = len(openids)
        candidates: Iterable[Fan | None] = (fans.get(o) for o in dict.fromkeys(openids))
    elif members is not None:
        candidates = [f for f in (fans[o] for o in members) if f.subscribed]
        job.total = len(candidates)
    else:
        candidates = [f for f in fans.values() if f.subscribed]
        job.total = len(candidates)
    msg_id, msgtype = str(job.msg_id), job.msgtype
    sent = 0
    for fan in candidates:
        if fan is None or not fan.subscribed or fan.blacklisted or fan.refuses_messages:
            continue
        if fan.mass_month != month:
            fan.mass_month, fan.mass_count = month, 0
        if capped and fan.mass_count >= MONTHLY_MASS_CAP:
            continue
        fan.mass_count += 1
        account.deliver(fan.openid, "mass", msgtype, content, msg_id, now)
        sent += 1
    job.filter_count = job.sent = sent


def apply_outcome(sb: Sandbox, account: Account, job: MassJob, status: str, error_count: int | None) -> None:
    """Make ``job`` end with ``status`` and ``error_count`` failed fans (None: all of them for a failure, none
    for a success). The failed fans lose the message from their inbox and from this month's mass count;
    fans already failed stay failed."""
    failed = status != "send success"
    wanted = job.filter_count if error_count is None and failed else (error_count or 0)
    wanted = min(wanted, job.filter_count)
    if wanted > job.error:
        job.error += _recall(sb, account, job, wanted - job.error)
    job.sent = job.filter_count - job.error
    job.result = status


def _recall(sb: Sandbox, account: Account, job: MassJob, count: int) -> int:
    """Take the job's message back from ``count`` fans, the last ones the account learnt. Only for a job the
    admin made fail, so it may walk every fan."""
    msg_id, month, done = str(job.msg_id), sb.clock.month_key(job.created_at), 0
    for openid in reversed(account.fans):
        box = account.inbox.get(openid)
        if not box:
            continue
        for index in range(len(box) - 1, -1, -1):
            if box[index][3] == msg_id and box[index][0] == "mass":
                del box[index]
                fan = account.fans.get(openid)
                if fan is not None and fan.mass_month == month and fan.mass_count > 0:
                    fan.mass_count -= 1
                done += 1
                break
        if done >= count:
            break
    return done


def finish_job(sb: Sandbox, account: Account, job: MassJob) -> None:
    if job.finished_at is not None:
        return
    job.finished_at = sb.clock.now()
    if job.status == "SENDING":
        job.status = "SEND_SUCCESS" if job.result == "send success" else "SEND_FAIL"
    if sb.accounts.get(account.appid) is not account:
        return  # the account was replaced or the sandbox reset meanwhile
    fields: list[tuple[str, Any]] = [
        ("ToUserName", account.original_id),
        ("FromUserName", "mphelper"),
        ("CreateTime", int(job.finished_at)),
        ("MsgType", "event"),
        ("Event", "MASSSENDJOBFINISH"),
        ("MsgID", job.msg_id),
        ("Status", job.result),
        ("TotalCount", job.total),
        ("FilterCount", job.filter_count),
        ("SentCount", job.sent),
        ("ErrorCount", job.error),
    ]
    if job.msgtype == "mpnews":
        items = [
            f"<item><ArticleIdx>{i}</ArticleIdx><ArticleUrl><![CDATA[{u}]]></ArticleUrl></item>"
            for i, u in enumerate(job.article_urls, start=1)
        ]
        fields.append(("CopyrightCheckResult", ["<Count>0</Count><ResultList></ResultList><CheckState>1</CheckState>"]))
        fields.append(("ArticleUrlResult", [f"<Count>{len(items)}</Count><ResultList>{''.join(items)}</ResultList>"]))
    sb.pusher.push(account, "MASSSENDJOBFINISH", "mphelper", fields)


def sendall(call: Call) -> dict[str, Any]:
    return send_mass(call, by_tag=True)


def send(call: Call) -> dict[str, Any]:
    return send_mass(call, by_tag=False)


def preview(call: Call) -> dict[str, Any]:
    sb, account, body, now = call.sb, call.acc, call.body, call.now
    _rate(call)
    msgtype, content = mass_content(call)
    wxname, touser = body.get("towxname"), body.get("touser")
    if wxname:  # towxname wins when both are given
        fan = next((f for f in account.fans.values() if wxname in (f.wxname, f.openid)), None)
    else:
        fan = account.fans.get(touser) if isinstance(touser, str) else None
    if fan is None:
        raise ApiError(40003)
    if not fan.subscribed:
        raise ApiError(43004)
    if fan.blacklisted:
        raise ApiError(43019)
    if fan.refuses_messages:
        raise ApiError(48002)
    msg_id = sb.next_id("mass")
    if msgtype == "mpnews":
        content["articles"] = [
            dict(a, url=f"http://mp.weixin.qq.com/s/{secrets.token_urlsafe(16)}") for a in content["articles"]
        ]
    account.deliver(fan.openid, "preview", msgtype, content, str(msg_id), now)
    return {"errcode": 0, "errmsg": "preview success", "msg_id": msg_id}


def _job(call: Call) -> Any:
    call.sb.finish_due_jobs()
    account, body = call.acc, call.body
    raw = body.get("msg_id")
    job = None
    try:
        job = account.jobs.get(int(raw)) if raw not in (None, "") else None
    except (TypeError, ValueError):
        job = None
    if job is None and raw in (None, "") and body.get("url"):
        job = next((j for j in account.jobs.values() if body["url"] in j.article_urls), None)
    if job is None:
        raise ApiError(40059)
    return job


def get(call: Call) -> dict[str, Any]:
    job = _job(call)
    return {"msg_id": job.msg_id, "msg_status": job.status}


def delete(call: Call) -> dict[str, Any]:
    job = _job(call)
    index = call.body.get("article_idx") or 0
    if not index:
        job.status = "DELETE"
    return {"errcode": 0, "errmsg": "ok"}


def speed_get(call: Call) -> dict[str, Any]:
    speed = call.acc.mass_speed
    return {"speed": speed, "realspeed": REALSPEED[speed]}


def speed_set(call: Call) -> dict[str, Any]:
    if "speed" not in call.body:
        raise ApiError(45084)
    speed = call.body["speed"]
    if not isinstance(speed, int) or isinstance(speed, bool) or not 0 <= speed < len(REALSPEED):
        raise ApiError(45083)
    call.acc.mass_speed = speed
    return {"errcode": 0, "errmsg": "ok"}


ROUTES = {
    "/cgi-bin/message/mass/sendall": route(sendall),
    "/cgi-bin/message/mass/send": route(send),
    "/cgi-bin/message/mass/preview": route(preview),
    "/cgi-bin/message/mass/get": route(get),
    "/cgi-bin/message/mass/delete": route(delete),
    "/cgi-bin/message/mass/speed/get": route(speed_get, empty_ok=True),
    "/cgi-bin/message/mass/speed/set": route(speed_set),
}
