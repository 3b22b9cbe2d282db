"""The production WeChat client against the sandbox running as a real process.

Each test asserts what WeChat answered and what fans received, through the client's typed helpers.
"""

from __future__ import annotations

import io
import time

import pytest

from tests.fixtures.airflow import free_port
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account
from wechat_campaigns.domain.errors import Action, WeChatError, WeChatTransportError
from wechat_campaigns.wechat.api.template import TemplateMessage, TemplateSendResult
from wechat_campaigns.wechat.client import WeChatClient
from wechat_campaigns.wechat.ratelimit import TokenBucket
from wechat_campaigns.wechat.transport import CallGroup
from wechat_sandbox.admin import SandboxAdmin
from wechat_sandbox.launch import SandboxServer


@pytest.fixture
def client(service_account):
    made = WeChatClient(service_account.appid, service_account.secret, base_url=service_account.base_url, max_wait=0.05)
    yield made
    made.close()


def fan(account, i=0):
    return account.openids[i]


TEXT = {"msgtype": "text", "text": {"content": "你好"}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200


# -- sending -------------------------------------------------------------------------------------------------


def test_template_send_reaches_the_fan_with_an_int64_msgid(client, service_account):
    result = client.send_template(fan(service_account), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="t-1")
    assert result.msgid > 2**53  # WeChat's template msgids do not fit a JavaScript number
    (message,) = service_account.inbox(fan(service_account))
    assert message["msg_id"] == str(result.msgid) and message["content"]["data"]["thing1"] == "巧克力礼盒"


def test_template_client_msg_id_sends_once(client, service_account):
    first = client.send_template(fan(service_account), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="same")
    again = client.send_template(fan(service_account), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="same")
    assert first.msgid == again.msgid
    assert len(service_account.inbox(fan(service_account))) == 1


def test_mass_by_tag_and_by_list_and_the_45065_repeat(client, service_account):
    tag_id = {t.name: t.id for t in client.list_tags()}["vip"]
    by_tag = client.send_mass_to_tag(tag_id, TEXT, clientmsgid="c-tag")
    by_list = client.send_mass_to_openids(service_account.openids[2:4], TEXT, clientmsgid="c-list")
    repeat = client.send_mass_to_openids(service_account.openids[2:4], TEXT, clientmsgid="c-list")
    assert repeat.already_sent and repeat.msg_id == by_list.msg_id and not by_list.already_sent
    assert client.get_mass_status(by_tag.msg_id).status in {"SENDING", "SEND_SUCCESS"}
    counts = service_account.admin.inbox_counts(service_account.appid, kind="mass")
    assert counts == {o: 1 for o in service_account.openids[:4]}


def test_mass_preview_and_delete_and_speed(client, service_account):
    client.preview_mass(fan(service_account, 4), TEXT)
    assert service_account.inbox(fan(service_account, 4))[0]["kind"] == "preview"
    client.set_mass_speed(2)
    assert client.get_mass_speed().speed == 2
    with pytest.raises(WeChatError) as caught:
        client.delete_mass(123)
    assert caught.value.errcode == 40059


def test_customer_service_inside_and_outside_the_window(client, service_account):
    chatty, silent = fan(service_account, 0), fan(service_account, 1)
    service_account.admin.event(service_account.appid, chatty, "text", content="在吗")
    client.send_custom(chatty, TEXT)
    assert service_account.inbox(chatty)[0]["kind"] == "customer_service"
    with pytest.raises(WeChatError) as caught:
        client.send_custom(silent, TEXT)
    assert caught.value.errcode == 45015 and caught.value.reason == "outside_48h"
    assert caught.value.action is Action.RECIPIENT and caught.value.rid


def test_customer_service_window_allowance(client, service_account):
    chatty = fan(service_account)
    service_account.admin.event(service_account.appid, chatty, "text", content="hi")
    for _ in range(5):
        client.send_custom(chatty, TEXT)
    with pytest.raises(WeChatError) as caught:
        client.send_custom(chatty, TEXT)
    assert caught.value.errcode == 45047 and caught.value.reason == "window_quota"


# -- fans, tags, templates, media, quotas ---------------------------------------------------------------------


def test_followers_are_paged_to_the_end(client, service_account):
    service_account.admin.add_fans(service_account.appid, fan_groups=[{"count": 25_000, "prefix": "oPage"}])
    pages = list(client.iter_followers())
    assert [len(page.openids) for page in pages] == [10_000, 10_000, 5_005]
    assert len({o for page in pages for o in page.openids}) == 25_005


def test_tags_and_fan_details(client, service_account):
    tag = client.create_tag("双十一")
    client.tag_fans(tag.id, service_account.openids[:3])
    assert [o for page in client.iter_tag_fans(tag.id) for o in page.openids] == service_account.openids[:3]
    assert tag.id in client.get_fan_tag_ids(fan(service_account))
    infos = client.get_fans(service_account.openids)
    assert [info.subscribed for info in infos] == [True] * 5 and tag.id in infos[0].tag_ids
    client.untag_fans(tag.id, service_account.openids[:1])
    client.rename_tag(tag.id, "双十二")
    assert {t.name: t.count for t in client.list_tags()}["双十二"] == 2
    client.delete_tag(tag.id)
    assert "双十二" not in {t.name for t in client.list_tags()}


def test_template_management(client, service_account):
    before = {t.template_id for t in client.list_templates()}
    template_id = client.add_template("OPENTM207791277", ["商品名称", "快递单号"])
    added = {t.template_id: t for t in client.list_templates()}[template_id]
    assert "{{thing1.DATA}}" in added.content and template_id not in before
    client.delete_template(template_id)
    assert template_id not in {t.template_id for t in client.list_templates()}
    assert client.get_industry().primary[0]
    with pytest.raises(WeChatError) as caught:
        client.add_template("OPENTM207791277", ["没有这个关键词"])
    assert caught.value.errcode == 40246


def test_media_drafts_and_quota(client, service_account):
    temporary = client.upload_temporary_media("image", "cover.png", io.BytesIO(PNG))
    permanent = client.add_permanent_material("image", "cover.png", PNG)
    url = client.upload_article_image("inline.png", PNG)
    draft = client.add_draft(
        [{"title": "冬季新品", "content": f"<p><img src='{url}'></p>", "thumb_media_id": permanent.media_id}]
    )
    assert temporary.media_id and url.startswith("http") and draft
    client.send_mass_to_openids(
        service_account.openids[:2], {"msgtype": "mpnews", "mpnews": {"media_id": draft}}, clientmsgid="news"
    )
    assert service_account.inbox(fan(service_account))[0]["content"]["articles"][0]["title"] == "冬季新品"
    quota = client.get_quota("/cgi-bin/message/mass/send")
    assert quota.used >= 1 and quota.remain == quota.daily_limit - quota.used
    client.clear_quota()
    assert client.get_quota("/cgi-bin/message/mass/send").used == 0


def test_one_apis_quota_is_reset_on_its_own_fifty_times_a_month(client, service_account):
    for fan_ in service_account.openids[:2]:
        client.send_template(fan_, service_account.template_id, ORDER_PAID, client_msg_id=f"q-{fan_}")
    text = {"msgtype": "text", "text": {"content": "x"}}
    client.send_mass_to_openids(service_account.openids[:2], text, clientmsgid="q")
    client.clear_api_quota("/cgi-bin/message/template/send")
    assert client.get_quota("/cgi-bin/message/template/send").used == 0
    assert client.get_quota("/cgi-bin/message/mass/send").used == 1  # the other APIs keep their counts
    for _ in range(49):
        client.clear_api_quota("/cgi-bin/message/template/send")
    with pytest.raises(WeChatError) as refused:
        client.clear_api_quota("/cgi-bin/message/template/send")
    assert refused.value.errcode == 48006 and refused.value.action is Action.CONFIG


# -- errors and retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "call", "errcode", "action"),
    [
        (None, lambda c, a: c.send_template(fan(a), "nope", ORDER_PAID, client_msg_id="x"), 40037, Action.CAMPAIGN),
        (
            None,
            lambda c, a: c.send_template("o" + "Z" * 27, STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="x"),
            40003,
            Action.RECIPIENT,
        ),
        (
            {"fans": [{"openid": "oSandboxFan00000000000000001", "subscribed": False}]},
            lambda c, a: c.send_template(fan(a), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="x"),
            43004,
            Action.RECIPIENT,
        ),
        (
            {"fans": [{"openid": "oSandboxFan00000000000000001", "blocks_templates": True}]},
            lambda c, a: c.send_template(fan(a), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="x"),
            43101,
            Action.RECIPIENT,
        ),
        (
            None,
            lambda c, a: c.send_template(
                fan(a), STANDARD_TEMPLATE, {**ORDER_PAID, "amount3": "很多钱"}, client_msg_id="x"
            ),
            47003,
            Action.CAMPAIGN,
        ),
        (
            None,
            lambda c, a: c.send_mass_to_tag(None, {"msgtype": "image", "image": {"media_id": "gone"}}, clientmsgid="m"),
            40007,
            Action.CAMPAIGN,
        ),
        (
            None,
            lambda c, a: c.call("POST", "/cgi-bin/message/mass/send", body={"touser": [fan(a)], **TEXT}),
            40032,
            Action.CONFIG,
        ),
        (
            None,
            lambda c, a: c.call(
                "POST", "/cgi-bin/message/mass/send", body={"touser": a.openids[:2], **TEXT, "clientmsgid": "x" * 65}
            ),
            45067,
            Action.CONFIG,
        ),
        (
            None,
            lambda c, a: c.send_custom(
                fan(a), {"msgtype": "news", "news": {"articles": [{"title": "a"}, {"title": "b"}]}}
            ),
            45008,
            Action.CAMPAIGN,
        ),
    ],
)
def test_error_codes_through_the_client(client, service_account, setup, call, errcode, action):
    if setup:
        service_account.admin.add_fans(service_account.appid, **setup)
    if errcode == 45008:
        service_account.admin.event(service_account.appid, fan(service_account), "text")
    with pytest.raises(WeChatError) as caught:
        call(client, service_account)
    assert (caught.value.errcode, caught.value.action) == (errcode, action)
    assert caught.value.rid and caught.value.errmsg
    assert service_account.admin.inbox_counts(service_account.appid) == {}


def test_template_needs_a_verified_service_account(sandbox):
    from tests.fixtures.sandbox import make_standard_account

    account = make_standard_account(sandbox, verified=False)
    client = WeChatClient(account.appid, account.secret, base_url=account.base_url)
    with pytest.raises(WeChatError) as caught:
        client.send_template(fan(account), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="x")
    assert caught.value.errcode == 48001


def test_daily_quota_is_a_wait_not_a_failure(sandbox):
    from tests.fixtures.sandbox import make_standard_account

    account = make_standard_account(sandbox, quotas={"/cgi-bin/message/template/send": 1})
    client = WeChatClient(account.appid, account.secret, base_url=account.base_url)
    client.send_template(fan(account), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="a")
    with pytest.raises(WeChatError) as caught:
        client.send_template(fan(account, 1), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="b")
    assert caught.value.errcode == 45009 and caught.value.action is Action.WAIT_QUOTA


def test_busy_answers_are_retried_with_backoff(client, service_account):
    service_account.admin.faults([{"endpoint": "/cgi-bin/message/template/send", "errcode": -1, "count": 2}])
    client.send_template(fan(service_account), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="retry")
    assert len(service_account.inbox(fan(service_account))) == 1
    assert service_account.admin.stats(service_account.appid)["calls"]["/cgi-bin/message/template/send"] == 3


def test_busy_forever_gives_up_with_the_errcode(client, service_account):
    service_account.admin.faults([{"endpoint": "/cgi-bin/message/template/send", "errcode": -1}])
    with pytest.raises(WeChatError) as caught:
        client.send_template(fan(service_account), STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="busy")
    assert caught.value.errcode == -1 and caught.value.action is Action.RETRY


def test_a_dropped_connection_is_retried_only_where_wechat_deduplicates(client, service_account):
    chatty = fan(service_account)
    service_account.admin.event(service_account.appid, chatty, "text")
    service_account.admin.faults([{"drop": True, "phase": "after", "count": 1}])
    client.send_template(chatty, STANDARD_TEMPLATE, ORDER_PAID, client_msg_id="drop")  # retried, de-duplicated
    service_account.admin.faults([{"drop": True, "phase": "after", "count": 1}])
    with pytest.raises(WeChatTransportError):
        client.send_custom(chatty, TEXT)  # not retried: it may have arrived
    kinds = [m["kind"] for m in service_account.inbox(chatty)]
    assert kinds == ["template", "customer_service"]


# -- many fans at once (the per-fan send path of campaigns) ---------------------------------------------------

CROWD = 60


def crowd_fans() -> list[dict]:
    """Fans who wrote to the account a moment ago: customer-service messages may reach them."""
    return [{"openid": f"oCrowdFan{i:019d}", "last_interaction": {"kind": "text"}} for i in range(CROWD)]


@pytest.fixture
def crowd(sandbox):
    account = make_standard_account(sandbox, fans=crowd_fans())
    yield account
    account.session.close()


def crowd_client(account, **options) -> WeChatClient:
    return WeChatClient(account.appid, account.secret, base_url=account.base_url, max_wait=0.05, **options)


def template_messages(account, run="r"):
    return [TemplateMessage(o, STANDARD_TEMPLATE, ORDER_PAID, f"{run}-{o}") for o in account.openids]


def never_halts(exc):
    return False


def test_many_template_sends_at_once_reach_each_fan_once_with_their_msgids(crowd):
    client = crowd_client(crowd)
    answers = client.start_template_sends(template_messages(crowd), CallGroup(8, never_halts)).result()
    client.close()
    for openid, answer in zip(crowd.openids, answers, strict=True):
        (message,) = crowd.inbox(openid)
        assert message["msg_id"] == str(answer.msgid)
    assert crowd.admin.stats(crowd.appid)["calls"]["/cgi-bin/message/template/send"] == CROWD


def test_sends_at_once_replace_a_stale_token_once(crowd):
    client = crowd_client(crowd)
    client.list_tags()  # holds a token now
    crowd.admin.invalidate_tokens(crowd.appid)
    answers = client.start_template_sends(template_messages(crowd), CallGroup(8, never_halts)).result()
    assert all(isinstance(a, TemplateSendResult) for a in answers)
    assert client.tokens.fetches == 2  # the first token, and one replacement for all 8 connections
    assert set(crowd.admin.inbox_counts(crowd.appid).values()) == {1}


def test_busy_answers_at_once_are_retried_and_sent_once(crowd):
    crowd.admin.faults([{"endpoint": "/cgi-bin/message/template/send", "errcode": -1, "count": 20}])
    answers = crowd_client(crowd).start_template_sends(template_messages(crowd), CallGroup(8, never_halts)).result()
    assert all(isinstance(a, TemplateSendResult) for a in answers)
    assert crowd.admin.inbox_counts(crowd.appid) == {o: 1 for o in crowd.openids}
    assert crowd.admin.stats(crowd.appid)["calls"]["/cgi-bin/message/template/send"] == CROWD + 20


def test_a_halting_answer_stops_the_group_after_the_calls_in_flight(crowd):
    crowd.admin.faults([{"endpoint": "/cgi-bin/message/template/send", "errcode": 45009}])
    group = CallGroup(4, lambda exc: exc.action is Action.WAIT_QUOTA)
    client = crowd_client(crowd)
    first = client.start_template_sends(template_messages(crowd)[:30], group)
    second = client.start_template_sends(template_messages(crowd)[30:], group)  # queued behind the first
    answers = first.result() + second.result()
    refused = [a for a in answers if isinstance(a, WeChatError)]
    assert 1 <= len(refused) <= 4 and all(a.errcode == 45009 for a in refused)
    assert answers.count(None) == CROWD - len(refused)  # never sent: the rest wait for tomorrow
    assert crowd.admin.stats(crowd.appid)["calls"]["/cgi-bin/message/template/send"] == len(refused)


def test_dropped_answers_at_once_are_resent_only_where_wechat_deduplicates(crowd):
    client = crowd_client(crowd)
    drop_twenty = {"drop": True, "phase": "after", "count": 20}  # sent, then the answer is lost
    crowd.admin.faults([{**drop_twenty, "endpoint": "/cgi-bin/message/template/send"}])
    answers = client.start_template_sends(template_messages(crowd), CallGroup(8, never_halts)).result()
    assert all(isinstance(a, TemplateSendResult) for a in answers)
    assert crowd.admin.inbox_counts(crowd.appid, kind="template") == {o: 1 for o in crowd.openids}

    crowd.admin.faults([{**drop_twenty, "endpoint": "/cgi-bin/message/custom/send"}])
    answers = client.start_custom_sends([(o, TEXT) for o in crowd.openids], CallGroup(8, never_halts)).result()
    assert sum(isinstance(a, WeChatTransportError) for a in answers) == 20  # reported as lost, not sent again
    assert all(isinstance(a, dict | WeChatTransportError) for a in answers)
    assert crowd.admin.inbox_counts(crowd.appid, kind="customer_service") == {o: 1 for o in crowd.openids}


def test_sends_at_once_keep_to_the_rate_limit(crowd):
    client = crowd_client(crowd, rate_limiter=TokenBucket(100, burst=1))
    started = time.monotonic()
    client.start_template_sends(template_messages(crowd), CallGroup(16, never_halts)).result()
    assert time.monotonic() - started >= (CROWD - 1) / 100  # 16 connections, still 100 calls a second


def test_sends_at_once_do_not_use_connections_the_server_closed(tmp_path):
    server = SandboxServer(port=free_port(), state=tmp_path / "sandbox-state.json")
    server.start()
    try:
        account = make_standard_account(SandboxAdmin(server.base_url), fans=crowd_fans())
        client = crowd_client(account)
        messages = [(o, TEXT) for o in account.openids]
        client.start_custom_sends(messages[:30], CallGroup(8, never_halts)).result()
        server.stop()  # closes every connection the client keeps open
        server.start()  # same port, same state
        answers = client.start_custom_sends(messages[30:], CallGroup(8, never_halts)).result()
        assert all(isinstance(a, dict) for a in answers), answers  # no fan left unknown for a stale connection
        assert SandboxAdmin(server.base_url).inbox_counts(account.appid) == {o: 1 for o in account.openids}
    finally:
        server.stop()
