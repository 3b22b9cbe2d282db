"""Mass sends: delivery, filtering, the monthly and daily caps, de-duplication, limits and job status."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.sandbox import make_standard_account
from wechat_sandbox.admin import SandboxAdminError

from .conftest import assert_error, xml_field

TEXT = {"msgtype": "text", "text": {"content": "新年快乐"}}


def sendall(account, tag_id=None, message=TEXT, **extra):
    target = {"is_to_all": True} if tag_id is None else {"is_to_all": False, "tag_id": tag_id}
    return account.call("/cgi-bin/message/mass/sendall", {"filter": target, **message, **extra})


def send(account, openids, message=TEXT, **extra):
    return account.call("/cgi-bin/message/mass/send", {"touser": openids, **message, **extra})


def tag_id(account, name):
    tags = account.call("/cgi-bin/tags/get", method="GET")["tags"]
    return next(t["id"] for t in tags if t["name"] == name)


def wait_status(account, msg_id, status, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = account.call("/cgi-bin/message/mass/get", {"msg_id": str(msg_id)})
        if answer["msg_status"] == status:
            return answer
        time.sleep(0.02)
    raise AssertionError(f"job {msg_id} never reached {status}")


def test_sendall_by_tag_delivers_and_finishes(service_account, sandbox, receiver):
    sandbox.update_account(service_account.appid, callback_url=receiver.url, mass_finish_delay=0.3)
    vip = tag_id(service_account, "vip")
    answer = sendall(service_account, vip, clientmsgid="cny-1")
    assert answer["errcode"] == 0 and answer["errmsg"] == "send job submission success"
    assert answer["msg_id"] >= 3_147_494_552 and "msg_data_id" not in answer
    first, second, third = service_account.openids[:3]
    assert [m["content"] for m in service_account.inbox(first)] == [{"content": "新年快乐"}]
    message = service_account.inbox(second)[0]
    assert message["kind"] == "mass" and message["msgtype"] == "text" and message["msg_id"] == str(answer["msg_id"])
    assert message["at"].endswith("+08:00")
    assert service_account.inbox(third) == []
    status = service_account.call("/cgi-bin/message/mass/get", {"msg_id": answer["msg_id"]})
    assert status == {"msg_id": answer["msg_id"], "msg_status": "SENDING"}
    wait_status(service_account, answer["msg_id"], "SEND_SUCCESS")
    xml = receiver.wait_for(1)[0].body
    assert xml_field(xml, "Event") == "MASSSENDJOBFINISH" and xml_field(xml, "MsgID") == str(answer["msg_id"])
    assert [xml_field(xml, f) for f in ("TotalCount", "FilterCount", "SentCount", "ErrorCount")] == ["2", "2", "2", "0"]
    job = sandbox.mass_jobs(service_account.appid)[0]
    assert job["clientmsgid"] == "cny-1" and job["target"] == {"type": "tag", "tag_id": vip}
    assert job["status"] == "SEND_SUCCESS" and job["total"] == 2


def test_filtered_fans_are_skipped_silently(service_account, sandbox):
    a, b, c, d, e = service_account.openids
    sandbox.add_fans(
        service_account.appid,
        [
            {"openid": b, "subscribed": False},
            {"openid": c, "blacklisted": True},
            {"openid": d, "refuses_messages": True},
            {"openid": e, "mass_received_this_month": 4},
        ],
    )
    other = make_standard_account(sandbox, appid="wxsandboxother01", fans=[{"openid": "oOtherAccountFan000000000001"}])
    answer = send(service_account, [a, b, c, d, e, other.openids[0], "oNobody000000000000000000000"])
    assert answer["errcode"] == 0
    job = sandbox.mass_jobs(service_account.appid)[0]
    assert (job["total"], job["filter"], job["sent"]) == (7, 1, 1)
    counts = sandbox.inbox_counts(service_account.appid, kind="mass")
    assert counts == {a: 1}


def test_four_mass_messages_per_fan_per_month(service_account, sandbox):
    sandbox.set_clock("2026-05-10T10:00:00+08:00")
    fan = service_account.openids[0]
    sandbox.add_fans(service_account.appid, [{"openid": fan, "mass_received_this_month": 2}])
    for n in range(4):
        assert send(service_account, service_account.openids, clientmsgid=f"m{n}")["errcode"] == 0
    assert len(service_account.inbox(fan)) == 2
    assert len(service_account.inbox(service_account.openids[1])) == 4
    assert send(service_account, service_account.openids, clientmsgid="m5")["errcode"] == 0  # succeeds, filtered
    assert sandbox.mass_jobs(service_account.appid)[-1]["filter"] == 0
    preview = service_account.call("/cgi-bin/message/mass/preview", {"touser": fan, **TEXT})
    assert preview["errcode"] == 0 and preview["errmsg"] == "preview success"
    assert service_account.inbox(fan)[-1]["kind"] == "preview"  # previews are not capped
    assert sandbox.fan(service_account.appid, fan)["mass_received_this_month"] == 4


def test_service_account_sends_to_all_four_times_a_month(service_account, sandbox):
    sandbox.set_clock("2026-06-01T09:00:00+08:00")
    for n in range(4):
        assert sendall(service_account, clientmsgid=f"all{n}")["errcode"] == 0
        sandbox.advance_clock(86_400)  # one a day (the daily rule)
    assert_error(sendall(service_account, clientmsgid="all4"), 45028)  # 5 June: the month's 4 are used
    assert sendall(service_account, tag_id(service_account, "vip"), clientmsgid="tag")["errcode"] == 0
    sandbox.set_clock("2026-07-01T00:00:10+08:00")
    assert sendall(service_account, clientmsgid="all-july")["errcode"] == 0


def test_service_account_sends_to_all_once_a_beijing_day(service_account, sandbox):
    vip = tag_id(service_account, "vip")
    sandbox.set_clock("2026-06-01T23:58:00+08:00")
    assert sendall(service_account, clientmsgid="d1")["errcode"] == 0
    assert_error(sendall(service_account, clientmsgid="d1-again"), 45028)
    assert sendall(service_account, vip, clientmsgid="d1-tag")["errcode"] == 0  # tag sends are not counted
    assert send(service_account, service_account.openids, clientmsgid="d1-list")["errcode"] == 0
    sandbox.advance_clock(180)  # 2 June 00:01 in Beijing, still 1 June in UTC
    assert sendall(service_account, clientmsgid="d2")["errcode"] == 0
    assert_error(sendall(service_account, clientmsgid="d2-again"), 45028)
    sandbox.update_account(service_account.appid, to_all_daily_limit=2)
    assert sendall(service_account, clientmsgid="d2-second")["errcode"] == 0
    assert_error(sendall(service_account, clientmsgid="d2-third"), 45028)
    sandbox.update_account(service_account.appid, to_all_daily_limit=None)  # off: the month's 4 alone
    assert sendall(service_account, clientmsgid="d2-fourth")["errcode"] == 0
    assert_error(sendall(service_account, clientmsgid="d2-fifth"), 45028)  # 4 this month
    assert sandbox.account(service_account.appid)["to_all_daily_limit"] is None
    with pytest.raises(SandboxAdminError):
        sandbox.update_account(service_account.appid, to_all_daily_limit=-1)


def test_subscription_account_one_successful_mass_a_day(sandbox):
    account = make_standard_account(sandbox, type="subscription", verified=False)
    sandbox.set_clock("2026-06-01T09:00:00+08:00")
    assert_error(send(account, account.openids[:1]), 40032)  # a failed call does not use the day's send
    assert send(account, account.openids[:2])["errcode"] == 0
    assert_error(sendall(account), 45028)
    assert_error(send(account, account.openids[:2], clientmsgid="again"), 45028)
    sandbox.set_clock("2026-06-02T00:00:01+08:00")
    assert sendall(account)["errcode"] == 0


def test_openid_list_size(service_account):
    assert_error(send(service_account, service_account.openids[:1]), 40032)
    assert_error(send(service_account, [f"o{i:027d}" for i in range(10_001)]), 40032)
    assert send(service_account, [f"o{i:027d}" for i in range(10_000)])["errcode"] == 0


def test_clientmsgid_rules(service_account, sandbox):
    assert_error(send(service_account, service_account.openids, clientmsgid="x" * 65), 45067)
    assert_error(send(service_account, service_account.openids, clientmsgid="é" * 33), 45067)  # bytes, not chars
    first = send(service_account, service_account.openids, clientmsgid="batch-1")
    duplicate = send(service_account, service_account.openids, clientmsgid="batch-1")
    assert_error(duplicate, 45065)
    assert duplicate["msg_id"] == first["msg_id"]
    assert len(service_account.inbox(service_account.openids[0])) == 1
    bad = {"msgtype": "image", "image": {"media_id": "missing"}}
    assert_error(send(service_account, service_account.openids, bad, clientmsgid="batch-2"), 40007)
    assert_error(send(service_account, service_account.openids, clientmsgid="batch-2"), 45066)
    sandbox.advance_clock(61)
    assert send(service_account, service_account.openids, clientmsgid="batch-2")["errcode"] == 0
    sandbox.advance_clock(86_400)
    assert send(service_account, service_account.openids, clientmsgid="batch-1")["errcode"] == 0  # 24 h later


def test_sixty_mass_requests_a_minute(service_account, sandbox):
    sandbox.set_clock("2026-06-01T09:00:00+08:00")
    for _ in range(60):
        assert (
            service_account.call("/cgi-bin/message/mass/preview", {"touser": service_account.openids[0], **TEXT})[
                "errcode"
            ]
            == 0
        )
    assert_error(send(service_account, service_account.openids), 45011)
    sandbox.advance_clock(60)
    assert send(service_account, service_account.openids)["errcode"] == 0


def test_sendall_and_send_share_the_daily_quota(sandbox):
    account = make_standard_account(sandbox, quotas={"/cgi-bin/message/mass/sendall": 3})
    sandbox.set_clock("2026-06-01T09:00:00+08:00")
    assert sendall(account, tag_id(account, "vip"))["errcode"] == 0
    assert send(account, account.openids)["errcode"] == 0
    assert_error(send(account, account.openids[:1]), 40032)  # a failed call still counts
    assert_error(sendall(account, tag_id(account, "vip")), 45009)
    quota = account.call("/cgi-bin/openapi/quota/get", {"cgi_path": "/cgi-bin/message/mass/send"})["quota"]
    assert quota == {"daily_limit": 3, "used": 3, "remain": 0}
    sandbox.set_clock("2026-06-02T00:00:01+08:00")
    assert send(account, account.openids)["errcode"] == 0


def _png():
    return ("cover.png", b"\x89PNG" + b"0" * 2000, "image/png")


def test_media_types_and_mpnews(service_account, sandbox):
    fans = service_account.openids
    image = service_account.call("/cgi-bin/media/upload", params={"type": "image"}, files={"media": _png()})
    assert send(service_account, fans, {"msgtype": "image", "image": {"media_id": image["media_id"]}})["errcode"] == 0
    assert_error(send(service_account, fans, {"msgtype": "voice", "voice": {"media_id": image["media_id"]}}), 40007)
    assert_error(send(service_account, fans, {"msgtype": "mpnews", "mpnews": {"media_id": "nope"}}), 40007)
    assert_error(send(service_account, fans, {"msgtype": "music", "music": {}}), 40008)
    cover = service_account.call("/cgi-bin/material/add_material", params={"type": "image"}, files={"media": _png()})
    article = {
        "title": "新品上市",
        "author": "糖果铺",
        "digest": "摘要",
        "content": "<p>正文</p>",
        "thumb_media_id": cover["media_id"],
    }
    draft = service_account.call("/cgi-bin/draft/add", {"articles": [article]})["media_id"]
    first = sendall(
        service_account, tag_id(service_account, "vip"), {"msgtype": "mpnews", "mpnews": {"media_id": draft}}
    )
    assert first["errcode"] == 0 and first["msg_data_id"] > 0
    again = send(service_account, fans[2:4], {"msgtype": "mpnews", "mpnews": {"media_id": draft}})
    assert again["errcode"] == 0  # a draft stays usable after tag and openid sends
    received = service_account.inbox(fans[0])[-1]
    assert received["msgtype"] == "mpnews"
    assert received["content"]["articles"][0]["title"] == "新品上市"
    assert received["content"]["articles"][0]["url"].startswith("http://mp.weixin.qq.com/s/")
    video = service_account.call(
        "/cgi-bin/media/upload", params={"type": "video"}, files={"media": ("a.mp4", b"v" * 1000, "video/mp4")}
    )
    mpvideo = {"msgtype": "mpvideo", "mpvideo": {"media_id": video["media_id"]}}
    assert_error(send(service_account, fans, mpvideo), 40007)
    converted = service_account.call("/cgi-bin/media/uploadvideo", {"media_id": video["media_id"], "title": "视频"})
    assert converted["type"] == "video"
    assert (
        send(service_account, fans, {"msgtype": "mpvideo", "mpvideo": {"media_id": converted["media_id"]}})["errcode"]
        == 0
    )
    assert service_account.inbox(fans[4])[-1]["content"]["title"] == "视频"


def test_unknown_tag_get_delete_and_speed(service_account, sandbox):
    assert_error(sendall(service_account, 999), 45159)
    assert_error(service_account.call("/cgi-bin/message/mass/get", {"msg_id": "1"}), 40059)
    msg_id = sendall(service_account, tag_id(service_account, "vip"))["msg_id"]
    deleted = service_account.call("/cgi-bin/message/mass/delete", {"msg_id": msg_id, "article_idx": 0})
    assert deleted == {"errcode": 0, "errmsg": "ok"}
    assert service_account.call("/cgi-bin/message/mass/get", {"msg_id": msg_id})["msg_status"] == "DELETE"
    assert_error(service_account.call("/cgi-bin/message/mass/delete", {"msg_id": 42}), 40059)
    assert service_account.call("/cgi-bin/message/mass/speed/get", {}) == {"speed": 0, "realspeed": 80}
    assert service_account.call("/cgi-bin/message/mass/speed/set", {"speed": 3})["errcode"] == 0
    assert service_account.call("/cgi-bin/message/mass/speed/get", {}) == {"speed": 3, "realspeed": 30}
    assert_error(service_account.call("/cgi-bin/message/mass/speed/set", {"speed": 5}), 45083)
    assert_error(service_account.call("/cgi-bin/message/mass/speed/set", {}), 45084)


def test_preview_errors(service_account, sandbox):
    fan = service_account.openids[0]
    assert_error(service_account.call("/cgi-bin/message/mass/preview", {"touser": "oNobody", **TEXT}), 40003)
    sandbox.add_fans(service_account.appid, [{"openid": fan, "subscribed": False}])
    assert_error(service_account.call("/cgi-bin/message/mass/preview", {"touser": fan, **TEXT}), 43004)
    assert sandbox.mass_jobs(service_account.appid) == []  # previews are not jobs


def test_msg_ids_increase(service_account):
    ids = [send(service_account, service_account.openids, clientmsgid=f"id{n}")["msg_id"] for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


def _draft(account):
    cover = account.call("/cgi-bin/material/add_material", params={"type": "image"}, files={"media": _png()})
    article = {"title": "冬季上新", "content": "<p>正文</p>", "thumb_media_id": cover["media_id"]}
    return account.call("/cgi-bin/draft/add", {"articles": [article]})["media_id"]


def test_a_send_to_all_deletes_its_draft(service_account, sandbox):
    fans, appid = service_account.openids, service_account.appid
    draft = _draft(service_account)
    mpnews = {"msgtype": "mpnews", "mpnews": {"media_id": draft}}
    assert sendall(service_account, tag_id(service_account, "vip"), mpnews, clientmsgid="tag")["errcode"] == 0
    assert send(service_account, fans[:2], mpnews, clientmsgid="list")["errcode"] == 0
    assert sandbox.account(appid)["counts"]["drafts"] == 1  # tag and openid sends leave the draft
    first = sendall(service_account, message=mpnews, clientmsgid="all")
    assert first["errcode"] == 0 and first["msg_data_id"] > 0
    assert sandbox.account(appid)["counts"]["drafts"] == 0
    assert all(service_account.inbox(f)[-1]["content"]["articles"][0]["title"] == "冬季上新" for f in fans)
    retry = sendall(service_account, message=mpnews, clientmsgid="all")  # the same request again: de-duplicated
    assert_error(retry, 45065)
    assert retry["msg_id"] == first["msg_id"]
    assert_error(sendall(service_account, tag_id(service_account, "vip"), mpnews, clientmsgid="after"), 40007)
    assert_error(send(service_account, fans[:2], mpnews), 40007)
    assert_error(service_account.call("/cgi-bin/message/mass/preview", {"touser": fans[0], **mpnews}), 40007)
    sandbox.event(appid, fans[0], "text")
    assert_error(service_account.call("/cgi-bin/message/custom/send", {"touser": fans[0], **mpnews}), 40007)


def test_a_refused_send_to_all_keeps_its_draft(service_account, sandbox):
    sandbox.set_clock("2026-06-01T09:00:00+08:00")
    assert sendall(service_account, clientmsgid="text-to-all")["errcode"] == 0
    draft = _draft(service_account)
    mpnews = {"msgtype": "mpnews", "mpnews": {"media_id": draft}}
    assert_error(sendall(service_account, message=mpnews, clientmsgid="mpnews-to-all"), 45028)  # today's is used
    preview = service_account.call("/cgi-bin/message/mass/preview", {"touser": service_account.openids[0], **mpnews})
    assert preview["errcode"] == 0


def _finish_counts(xml):
    return [xml_field(xml, f) for f in ("Status", "TotalCount", "FilterCount", "SentCount", "ErrorCount")]


def test_the_admin_makes_a_job_fail(service_account, sandbox, receiver):
    appid, fans = service_account.appid, service_account.openids
    sandbox.update_account(appid, callback_url=receiver.url, mass_finish_delay=3600)
    sandbox.add_fans(appid, [{"openid": fans[4], "blacklisted": True}])
    msg_id = send(service_account, fans, clientmsgid="to-fail")["msg_id"]
    assert sum(sandbox.inbox_counts(appid, kind="mass").values()) == 4
    job = sandbox.finish_mass_job(msg_id, "send fail", error_count=3)
    shown = {k: job[k] for k in ("status", "result", "total", "filter", "sent", "error")}
    assert shown == {"status": "SEND_FAIL", "result": "send fail", "total": 5, "filter": 4, "sent": 1, "error": 3}
    assert service_account.call("/cgi-bin/message/mass/get", {"msg_id": msg_id})["msg_status"] == "SEND_FAIL"
    xml = receiver.wait_for(1)[0].body
    assert xml_field(xml, "MsgID") == str(msg_id)
    assert _finish_counts(xml) == ["send fail", "5", "4", "1", "3"]
    # the 3 failed fans (the last ones the sandbox learnt) lost the message, and it does not count towards their 4
    assert sandbox.inbox_counts(appid, kind="mass") == {fans[0]: 1}
    assert [sandbox.fan(appid, f)["mass_received_this_month"] for f in fans[:4]] == [1, 0, 0, 0]
    with pytest.raises(SandboxAdminError) as finished:
        sandbox.finish_mass_job(msg_id, "send fail")
    assert finished.value.status == 409
    with pytest.raises(SandboxAdminError) as unknown:
        sandbox.finish_mass_job(42, "send fail")
    assert unknown.value.status == 404
    other = send(service_account, fans, clientmsgid="bad-status")["msg_id"]
    with pytest.raises(SandboxAdminError) as bad:
        sandbox.finish_mass_job(other, "exploded")
    assert bad.value.status == 400


def test_a_refused_job_reaches_nobody_and_a_success_may_have_errors(service_account, sandbox, receiver):
    appid = service_account.appid
    sandbox.update_account(appid, callback_url=receiver.url, mass_finish_delay=3600)
    refused = sendall(service_account, clientmsgid="protected")["msg_id"]
    job = sandbox.finish_mass_job(refused, "err(40001)", appid=appid)  # the administrator refused it (群发保护)
    assert (job["status"], job["sent"], job["error"]) == ("SEND_FAIL", 0, 5)
    assert sandbox.inbox_counts(appid, kind="mass") == {}
    assert _finish_counts(receiver.wait_for(1)[0].body) == ["err(40001)", "5", "5", "0", "5"]
    partly = sendall(service_account, tag_id(service_account, "vip"), clientmsgid="partly")["msg_id"]
    job = sandbox.finish_mass_job(partly, "send success", error_count=1)
    assert (job["status"], job["sent"], job["error"]) == ("SEND_SUCCESS", 1, 1)
    assert service_account.call("/cgi-bin/message/mass/get", {"msg_id": partly})["msg_status"] == "SEND_SUCCESS"
    assert _finish_counts(receiver.wait_for(2)[1].body) == ["send success", "2", "2", "1", "1"]


def test_the_next_jobs_can_be_set_to_fail(service_account, sandbox, receiver):
    appid, fans = service_account.appid, service_account.openids
    sandbox.update_account(appid, callback_url=receiver.url, next_mass_outcome={"status": "err(40002)", "jobs": 2})
    first = send(service_account, fans, clientmsgid="n1")["msg_id"]
    assert sandbox.inbox_counts(appid, kind="mass") == {}  # the failed fans never see it
    assert sandbox.account(appid)["next_mass_outcome"] == {"status": "err(40002)", "error_count": None, "jobs": 1}
    second = sendall(service_account, tag_id(service_account, "vip"), clientmsgid="n2")["msg_id"]
    assert sandbox.account(appid)["next_mass_outcome"] is None
    third = send(service_account, fans, clientmsgid="n3")["msg_id"]
    wait_status(service_account, first, "SEND_FAIL")
    wait_status(service_account, second, "SEND_FAIL")
    wait_status(service_account, third, "SEND_SUCCESS")
    reports = {xml_field(r.body, "MsgID"): _finish_counts(r.body) for r in receiver.wait_for(3)}
    assert reports == {
        str(first): ["err(40002)", "5", "5", "0", "5"],
        str(second): ["err(40002)", "2", "2", "0", "2"],
        str(third): ["send success", "5", "5", "5", "0"],
    }
    assert sandbox.inbox_counts(appid, kind="mass") == {f: 1 for f in fans}
    sandbox.update_account(appid, next_mass_outcome={"status": "send fail", "error_count": 2})
    fourth = send(service_account, fans, clientmsgid="n4")["msg_id"]
    wait_status(service_account, fourth, "SEND_FAIL")
    assert sum(sandbox.inbox_counts(appid, kind="mass").values()) == 5 + 3
    for bad in ({"status": "boom"}, {"status": "send fail", "error_count": -1}, {"status": "send fail", "jobs": 0}):
        with pytest.raises(SandboxAdminError):
            sandbox.update_account(appid, next_mass_outcome=bad)
