"""Customer-service messages: interaction windows, their quotas, recipient errors, every msgtype, typing."""

from __future__ import annotations

import pytest

from tests.fixtures.sandbox import make_standard_account
from wechat_sandbox.admin import SandboxAdminError

from .conftest import assert_error


def kf(account, openid, message=None):
    message = message or {"msgtype": "text", "text": {"content": "您好，有什么可以帮您？"}}
    return account.call("/cgi-bin/message/custom/send", {"touser": openid, **message})


def drain(account, openid, expected_ok):
    for _ in range(expected_ok):
        assert kf(account, openid)["errcode"] == 0
    assert_error(kf(account, openid), 45047)


def test_no_interaction_means_no_window(service_account):
    assert_error(kf(service_account, service_account.openids[0]), 45015)


def test_a_message_opens_48_hours_for_5_messages(service_account, sandbox):
    fan = service_account.openids[0]
    sandbox.event(service_account.appid, fan, "text", content="在吗")
    answer = kf(service_account, fan)
    assert answer == {"errcode": 0, "errmsg": "ok"}
    drain(service_account, fan, 4)
    inbox = service_account.inbox(fan)
    assert len(inbox) == 5 and inbox[0]["kind"] == "customer_service"
    assert inbox[0]["content"] == {"content": "您好，有什么可以帮您？"}
    sandbox.event(service_account.appid, fan, "image")  # a new interaction replaces the window: fresh count
    drain(service_account, fan, 5)
    sandbox.advance_clock(48 * 3600 + 1)
    assert_error(kf(service_account, fan), 45015)


@pytest.mark.parametrize("kind", ["click", "scancode_push", "scancode_waitmsg", "subscribe", "subscribe_qr", "scan"])
def test_short_windows_give_three_messages_in_a_minute(service_account, sandbox, kind):
    fan = service_account.openids[1]
    sandbox.event(service_account.appid, fan, kind, event_key="MENU_1", scene="42")
    drain(service_account, fan, 3)
    sandbox.event(service_account.appid, fan, kind)
    assert kf(service_account, fan)["errcode"] == 0
    sandbox.advance_clock(61)
    assert_error(kf(service_account, fan), 45015)


def test_payment_and_a_rights_complaint_open_no_window_any_more(service_account, sandbox):
    payer, complainer = service_account.openids[:2]
    for fan, kind in ((payer, "payment"), (complainer, "rights_complaint")):
        assert sandbox.event(service_account.appid, fan, kind)["window"] is None
        assert sandbox.fan(service_account.appid, fan)["windows"] == {}
        assert_error(kf(service_account, fan), 45015)
    assert set(sandbox.account(service_account.appid)["effective_kf_windows"]) == {
        "message",
        "menu",
        "subscribe",
        "scan",
    }
    sandbox.event(service_account.appid, payer, "text")  # a message after paying: the 5 of a message
    drain(service_account, payer, 5)


def test_the_2021_rules_stay_selectable(sandbox):
    account = make_standard_account(sandbox, kf_rules="2021-06")
    talker, payer, complainer, clicker = account.openids[:4]
    sandbox.event(account.appid, talker, "text")
    drain(account, talker, 20)
    window = sandbox.event(account.appid, payer, "payment")["window"]
    assert window["class"] == "payment" and window["limit"] == 20
    drain(account, payer, 20)
    sandbox.event(account.appid, complainer, "rights_complaint")
    drain(account, complainer, 20)
    sandbox.event(account.appid, clicker, "click")
    drain(account, clicker, 3)  # the short windows are the same under both rules
    sandbox.event(account.appid, payer, "payment")
    sandbox.advance_clock(48 * 3600 - 10)
    assert kf(account, payer)["errcode"] == 0
    sandbox.advance_clock(20)
    assert_error(kf(account, payer), 45015)
    sandbox.update_account(account.appid, kf_rules="2023-05")  # back to today's rules: payment opens nothing
    assert sandbox.event(account.appid, payer, "payment")["window"] is None
    with pytest.raises(SandboxAdminError):
        sandbox.update_account(account.appid, kf_rules="2019")


def test_kf_windows_can_switch_a_class_on_or_off(sandbox):
    account = make_standard_account(sandbox, kf_windows={"payment": [3600, None], "scan": None})
    payer, scanner = account.openids[:2]
    sandbox.event(account.appid, payer, "payment")
    for _ in range(30):
        assert kf(account, payer)["errcode"] == 0
    assert sandbox.event(account.appid, scanner, "scan")["window"] is None
    assert_error(kf(account, scanner), 45015)


def test_view_and_location_open_nothing(service_account, sandbox):
    fan = service_account.openids[0]
    for kind in ("view", "location_event"):
        assert sandbox.event(service_account.appid, fan, kind)["window"] is None
    assert_error(kf(service_account, fan), 45015)


def test_windows_combine_and_the_closing_one_is_used_first(service_account, sandbox):
    fan = service_account.openids[0]
    sandbox.event(service_account.appid, fan, "text")
    sandbox.event(service_account.appid, fan, "click")
    for _ in range(3):  # the menu window closes first, so it is spent first
        assert kf(service_account, fan)["errcode"] == 0
    assert sandbox.fan(service_account.appid, fan)["windows"]["message"]["used"] == 0
    drain(service_account, fan, 5)


def test_kf_windows_override_and_last_interaction_seeding(sandbox):
    account = make_standard_account(sandbox, kf_windows={"message": [3600, 2]})
    fan = account.openids[0]
    sandbox.add_fans(account.appid, [{"openid": fan, "last_interaction": {"kind": "text"}}])
    drain(account, fan, 2)
    old = account.openids[1]
    sandbox.add_fans(
        account.appid, [{"openid": old, "last_interaction": {"kind": "text", "at": "2020-01-01T00:00:00"}}]
    )
    assert_error(kf(account, old), 45015)


def test_recipient_errors(service_account, sandbox):
    a, b, c, d = service_account.openids[:4]
    for fan in (a, b, c, d):
        sandbox.event(service_account.appid, fan, "text")
    sandbox.event(service_account.appid, a, "unsubscribe")
    sandbox.add_fans(
        service_account.appid, [{"openid": b, "blacklisted": True}, {"openid": c, "refuses_messages": True}]
    )
    assert_error(kf(service_account, a), 45015)
    assert_error(kf(service_account, b), 43019)
    assert_error(kf(service_account, c), 48002)
    assert_error(kf(service_account, "oNobody000000000000000000000"), 40003)
    sandbox.event(service_account.appid, a, "subscribe")  # re-follow opens a fresh window
    assert kf(service_account, a)["errcode"] == 0


def _upload(account, kind, name, size, permanent=False):
    path = "/cgi-bin/material/add_material" if permanent else "/cgi-bin/media/upload"
    answer = account.call(path, params={"type": kind}, files={"media": (name, b"x" * size)})
    return answer.get("media_id") or answer.get("thumb_media_id")


def test_every_message_type(service_account, sandbox):
    fan = service_account.openids[0]
    sandbox.update_account(service_account.appid, kf_windows={"message": [48 * 3600, None]})  # room for them all
    sandbox.event(service_account.appid, fan, "text")
    image = _upload(service_account, "image", "a.png", 100)
    voice = _upload(service_account, "voice", "a.mp3", 100)
    video = _upload(service_account, "video", "a.mp4", 100)
    thumb = _upload(service_account, "thumb", "t.jpg", 100)
    cover = _upload(service_account, "image", "c.jpg", 100, permanent=True)
    one = {"title": "标题", "content": "<p>正文</p>", "thumb_media_id": cover}
    draft = service_account.call("/cgi-bin/draft/add", {"articles": [one]})["media_id"]
    two = service_account.call("/cgi-bin/draft/add", {"articles": [one, one]})["media_id"]
    article = {"title": "t", "description": "d", "url": "https://example.com", "picurl": "https://example.com/p.png"}
    messages = {
        "text": {"content": "hi"},
        "image": {"media_id": image},
        "voice": {"media_id": voice},
        "video": {"media_id": video, "thumb_media_id": thumb, "title": "片", "description": "d"},
        "music": {"title": "歌", "description": "d", "musicurl": "u", "hqmusicurl": "h", "thumb_media_id": thumb},
        "news": {"articles": [article]},
        "mpnews": {"media_id": draft},
        "mpnewsarticle": {"article_id": "ARTICLE_ID_1"},
        "msgmenu": {"head_content": "满意吗", "list": [{"id": "101", "content": "满意"}], "tail_content": "谢谢"},
        "wxcard": {"card_id": "pCARD"},
        "miniprogrampage": {"title": "小程序", "appid": "wxmini", "pagepath": "pages/index", "thumb_media_id": thumb},
    }
    for msgtype, content in messages.items():
        assert kf(service_account, fan, {"msgtype": msgtype, msgtype: content})["errcode"] == 0, msgtype
    inbox = service_account.inbox(fan)
    assert [m["msgtype"] for m in inbox] == list(messages)
    assert inbox[6]["content"]["articles"][0]["title"] == "标题"
    assert inbox[8]["content"]["list"] == [{"id": "101", "content": "满意"}]
    errors = [
        ({"msgtype": "news", "news": {"articles": [article, article]}}, 45008),
        ({"msgtype": "mpnews", "mpnews": {"media_id": two}}, 45008),
        ({"msgtype": "mpnewsarticle", "mpnewsarticle": {"article_id": draft}}, 40007),
        ({"msgtype": "image", "image": {"media_id": voice}}, 40007),
        ({"msgtype": "music", "music": {"title": "x", "thumb_media_id": "missing"}}, 40007),
        ({"msgtype": "link", "link": {"title": "x"}}, 40008),
        ({"msgtype": "text", "text": {"content": "字" * 683}}, 45002),  # 2,049 UTF-8 bytes
        ({"msgtype": "text", "text": {"content": ""}}, 44004),
    ]
    for message, code in errors:
        assert_error(kf(service_account, fan, message), code)
    assert kf(service_account, fan, {"msgtype": "text", "text": {"content": "字" * 682}})["errcode"] == 0


def test_temporary_media_expire_after_three_days(service_account, sandbox):
    fan = service_account.openids[0]
    image = _upload(service_account, "image", "a.png", 100)
    sandbox.advance_clock(3 * 86400 - 60)
    sandbox.event(service_account.appid, fan, "text")
    assert kf(service_account, fan, {"msgtype": "image", "image": {"media_id": image}})["errcode"] == 0
    sandbox.advance_clock(61)
    assert_error(kf(service_account, fan, {"msgtype": "image", "image": {"media_id": image}}), 40007)


def test_typing(service_account, sandbox):
    fan = service_account.openids[0]

    def typing(command):
        return service_account.call("/cgi-bin/message/custom/typing", {"touser": fan, "command": command})

    assert_error(typing("Dancing"), 45072)
    assert_error(typing("Typing"), 45080)
    sandbox.event(service_account.appid, fan, "text")
    assert typing("Typing") == {"errcode": 0, "errmsg": "ok"}
    assert_error(typing("Typing"), 45081)
    assert typing("CancelTyping")["errcode"] == 0
    assert typing("Typing")["errcode"] == 0
    sandbox.advance_clock(16)
    assert typing("Typing")["errcode"] == 0
    assert kf(service_account, fan)["errcode"] == 0  # a message ends the typing indicator
    assert typing("Typing")["errcode"] == 0
    sandbox.advance_clock(31)
    assert_error(typing("Typing"), 45080)
