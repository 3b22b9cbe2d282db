"""The bad-input table (docs/bad-inputs.md): each input gets the error the table says, nothing is sent, and
nothing already recorded is lost. The document is generated from TABLE (`python -m tests.e2e.test_bad_inputs`)."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import ParamValidationError

from tests.conftest import ROOT
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE

DOC = ROOT / "docs" / "bad-inputs.md"
FAN = "oSandboxFan00000000000000001"
TEMPLATE = {"message_type": "template", "template_id": STANDARD_TEMPLATE, "tag": "vip"}


@dataclass(frozen=True)
class Bad:
    area: str  # conf | material | template file | callback | sent page | connection | deployment | import
    what: str  # the input, in words
    error: str  # (part of) the error it gets
    value: Any = None
    setup: dict[str, Any] = field(default_factory=dict)


TABLE = [
    Bad(
        "conf",
        "an unknown message type",
        "Invalid input for param message_type: 'sms' is not one of",
        {"message_type": "sms", "text": "hi"},
    ),
    Bad("conf", "no content", "material: choose a material", {"message_type": "mass", "tag": "vip"}),
    Bad(
        "conf",
        "a material and a text",
        "text: give one of material, text or news",
        {"message_type": "mass", "tag": "vip", "material": "text/welcome", "text": "hi"},
    ),
    Bad(
        "conf",
        "a material that does not exist",
        "material: material text/nope: file: not found",
        {"message_type": "mass", "tag": "vip", "material": "text/nope"},
    ),
    Bad(
        "conf",
        "a tag the account does not have",
        "tag: no fan tag named 'VIP' in this account",
        {"message_type": "mass", "tag": "VIP", "text": "hi"},
    ),
    Bad(
        "conf",
        "a tag and an openid list",
        "openids: give either a tag or a list of openids",
        {"message_type": "mass", "tag": "vip", "openids": [FAN, FAN], "text": "hi"},
    ),
    Bad(
        "conf",
        "something that is not an openid",
        "openids: not openids",
        {"message_type": "mass", "openids": ["alice"], "text": "hi"},
    ),
    Bad(
        "conf",
        "send_at in the past",
        "is in the past",
        {"message_type": "mass", "tag": "vip", "text": "hi", "send_at": "2020-01-01T09:00"},
    ),
    Bad(
        "conf",
        "send_at that is not a time",
        "send_at: 'soon' is not an ISO date-time",
        {"message_type": "mass", "tag": "vip", "text": "hi", "send_at": "soon"},
    ),
    Bad(
        "conf",
        "a misspelt key (REST API or CLI conf)",
        "conf: unknown field 'materal': did you mean 'material'?",
        {"message_type": "mass", "tag": "vip", "materal": "text/welcome"},
    ),
    Bad(
        "conf",
        "a template the account does not have",
        "template_id: 'gone' is not a template of this account (templates: tpl-order-paid 订单支付成功通知)",
        {**TEMPLATE, "template_id": "gone", "template_data": ORDER_PAID},
    ),
    Bad(
        "conf",
        "a template id close to one the account has",
        "template_id: 'tpl-order' is not a template of this account; did you mean 'tpl-order-paid'?",
        {**TEMPLATE, "template_id": "tpl-order", "template_data": ORDER_PAID},
    ),
    Bad(
        "conf",
        "a template field left out",
        "template_data.time4: missing",
        {**TEMPLATE, "template_data": {**ORDER_PAID, "time4": ""}},
    ),
    Bad(
        "conf",
        "a field the template does not have",
        "template_data.thing9: the template has no such field",
        {**TEMPLATE, "template_data": {**ORDER_PAID, "thing9": "x"}},
    ),
    Bad(
        "conf",
        "a template value WeChat would refuse",
        "template_data.amount3: '很多钱' is refused (47003)",
        {**TEMPLATE, "template_data": {**ORDER_PAID, "amount3": "很多钱"}},
    ),
    Bad(
        "conf",
        "a value WeChat would cut, in strict mode",
        "template_data.thing1: 26 characters; WeChat shows 20",
        {
            **TEMPLATE,
            "template_strict": True,
            "template_data": {**ORDER_PAID, "thing1": "这是一个超过二十个字的商品名称，会被微信截断的那种哦"},
        },
    ),
    Bad(
        "conf",
        "a mass text with fan attributes",
        "text: a mass message is the same for every fan",
        {"message_type": "mass", "tag": "vip", "text": "{{ name }}，你好"},
    ),
    Bad(
        "conf",
        "a broken Jinja2 text",
        "text: template syntax error",
        {"message_type": "customer_service", "tag": "vip", "text": "{{ name "},
    ),
    Bad(
        "conf",
        "a text whose nested loops would run for minutes",
        "text: more than 10,000 loop steps",
        {
            "message_type": "customer_service",
            "tag": "vip",
            "text": "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}{{ openid }}",
        },
    ),
    Bad(
        "conf",
        "a text that would build a gigabyte",
        "text: a value of more than 20,000 characters",
        {"message_type": "mass", "tag": "vip", "text": "{{ 'a' * 10**9 }}"},
    ),
    Bad(
        "conf",
        "a loop over a million numbers",
        "text: range() of 1,000,000 numbers; at most 1,000",
        {"message_type": "mass", "tag": "vip", "text": "{% for i in range(10**6) %}.{% endfor %}"},
    ),
    Bad(
        "conf",
        "a text longer than WeChat takes once rendered, for every fan",
        "text: 2,240 bytes once rendered; WeChat takes at most 2,048",
        {"message_type": "customer_service", "tag": "vip", "text": "{{ openid * 80 }}", "dry_run": True},
    ),
    Bad(
        "conf",
        "a template value that fails to render",
        "template_data.thing1: cannot render for fan",
        {**TEMPLATE, "template_data": {**ORDER_PAID, "thing1": "{{ 1 / 0 }}"}},
    ),
    Bad(
        "conf",
        "a macro in a text",
        "text: {% macro %} cannot be used in a campaign text",
        {"message_type": "customer_service", "tag": "vip", "text": "{% macro m() %}x{% endmacro %}{{ m() }}"},
    ),
    Bad(
        "conf",
        "a control group over 99 %",
        "Invalid input for param holdout_percent: 150 is greater than the maximum",
        {"message_type": "mass", "tag": "vip", "text": "hi", "holdout_percent": 150},
    ),
    Bad(
        "conf",
        "a link that is not http(s)",
        "url: 'javascript:alert(1)' is not an http(s) address",
        {**TEMPLATE, "template_data": ORDER_PAID, "url": "javascript:alert(1)"},
    ),
    Bad(
        "conf",
        "an account connection that does not exist",
        "wechat_conn_id: no Airflow connection named 'wechat_nobody'",
        {"message_type": "mass", "tag": "vip", "text": "hi", "wechat_conn_id": "wechat_nobody"},
    ),
    Bad(
        "conf",
        "a text with a NUL byte",
        "text: holds a control character (U+0000)",
        {"message_type": "mass", "tag": "vip", "text": "冬季\x00上新"},
    ),
    Bad(
        "conf",
        "a template value of zero-width and direction marks only",
        "template_data.thing1: has no visible character",
        {**TEMPLATE, "template_data": {**ORDER_PAID, "thing1": "\u200b\u202e"}},
    ),
    Bad(
        "conf",
        "send_at in the year 9999",
        "is more than a year ahead",
        {"message_type": "mass", "tag": "vip", "text": "hi", "send_at": "9999-12-31T09:00"},
    ),
    Bad(
        "conf",
        "send_at further ahead than the account's own horizon",
        "is more than 30 days ahead (the account's schedule_horizon_days)",
        {"message_type": "mass", "tag": "vip", "text": "hi", "send_at": f"{date.today() + timedelta(days=60)}T09:00"},
        {"schedule_horizon_days": 30},
    ),
    Bad(
        "conf",
        "a run conf of more than 4 MB",
        "conf: 5,000,",
        {"message_type": "mass", "tag": "vip", "text": "hi", "notes": "x" * 5_000_000},
    ),
    Bad(
        "conf",
        "template data with more fields than any template",
        "template_data: 31 fields; a template has at most 30",
        {**TEMPLATE, "template_data": {f"thing{i}": "x" for i in range(31)}},
    ),
    Bad(
        "conf",
        "a news item without its cover",
        "news.cover: is required",
        {"message_type": "mass", "tag": "vip", "news": {"title": "t", "url": "https://example.com"}},
    ),
    Bad(
        "conf",
        "a template message from an unverified account",
        "message_type: template messages need a verified",
        {**TEMPLATE, "template_data": ORDER_PAID},
        {"verified": False},
    ),
    Bad(
        "conf",
        "more fans than the confirmation threshold",
        "confirm_large_send: 5 fans would receive this",
        {**TEMPLATE, "tag": "customers", "template_data": ORDER_PAID},
        {"confirm_threshold": 3},
    ),
    # Longer than the store's columns: PostgreSQL would refuse to keep them, so both stores refuse them first.
    Bad(
        "conf",
        "a campaign name over 200 characters",
        "name: 201 characters; the store keeps at most 200",
        {"message_type": "mass", "tag": "vip", "text": "hi", "name": "冬" * 201},
    ),
    Bad(
        "conf",
        "a tag longer than the history keeps",
        "tag: 300 characters; the store keeps at most 295",
        {"message_type": "mass", "tag": "t" * 300, "text": "hi"},
    ),
    Bad(
        "conf",
        "a template id longer than the history keeps",
        "template_id: 300 characters; the store keeps at most 291",
        {**TEMPLATE, "template_id": "x" * 300, "template_data": ORDER_PAID},
    ),
    Bad(
        "conf",
        "an account connection id over 250 characters",
        "wechat_conn_id: 251 characters; the store keeps at most 250",
        {"message_type": "mass", "tag": "vip", "text": "hi", "wechat_conn_id": "w" * 251},
    ),
    Bad("material", "an image over 10 MB", "bytes; the limit is 10,485,760", "image/huge"),
    Bad("material", "a voice over 60 seconds", "61 s; WeChat takes voice up to 60 s", "voice/long"),
    Bad(
        "material",
        "an article title over 32 characters",
        "articles[0].title: 33 characters; WeChat allows 32",
        "news/longtitle",
    ),
    Bad("material", "a script in an article", "WeChat removes scripts from articles", "news/script"),
    Bad("material", "an image in an article that is not on WeChat", "is not on WeChat's servers", "news/remote"),
    Bad("material", "a misspelt key", "contnet: unknown key", "text/typo"),
    Bad(
        "template file",
        "an industry code that does not exist",
        "industry: 99 is not an industry code",
        {"industry": [1, 99]},
    ),
    Bad(
        "template file",
        "a template without its short id",
        "templates[0].short_id: each template needs the short id",
        {"templates": [{"keywords": ["商品名称"]}]},
    ),
    Bad("callback", "a push with a forged signature", "403", "forged"),
    Bad("callback", "XML with an entity-expansion bomb", "400", "bomb"),
    Bad("callback", "a body over 64 KB", "413", "huge"),
    Bad("callback", "a push for an account we do not have", "404", "stranger"),
    Bad("callback", "a push signed nine years ago (a signed URL from an old log)", "403", "stale"),
    Bad("callback", "a signed URL used again with another body", "403", "replay"),
    Bad("callback", "a plaintext push to a safe-mode account", "403", "downgrade"),
    Bad("sent page", "a page number past any run's end", "page: Input should be less than or equal to", "page"),
    Bad("sent page", "a date past the calendar's end", "'9999-12-31' is not a date like 2026-11-24", "to"),
    Bad(
        "connection",
        "an account type that does not exist",
        "account_type must be 'service' or 'subscription'",
        {"extra": {"account_type": "enterprise"}},
    ),
    Bad(
        "connection",
        "more calls in flight than a send task allows",
        "send_concurrency must be a whole number from 1 to 512, not 1000",
        {"extra": {"send_concurrency": 1000}},
    ),
    Bad(
        "connection",
        "a schedule horizon that is not a number of days",
        "schedule_horizon_days must be a whole number of days from 1 to 3660, not 'soon'",
        {"extra": {"schedule_horizon_days": "soon"}},
    ),
    Bad(
        "connection",
        "an egress proxy without its scheme",
        "proxy must be an http:// or https:// URL with a host, not 'proxy.internal:3128'",
        {"extra": {"proxy": "proxy.internal:3128"}},
    ),
    Bad(
        "connection",
        "a CA bundle file that is not there",
        "ca_bundle '/etc/wechat/no-such-ca.pem' is not a readable PEM file of CA certificates",
        {"extra": {"ca_bundle": "/etc/wechat/no-such-ca.pem"}},
    ),
    Bad("connection", "no AppSecret", "AppID (login) and AppSecret (password) are required", {"password": None}),
    Bad("connection", "a wrong AppSecret", "40125", {"password": "wrong"}),
    Bad(
        "deployment",
        "no wechat_store connection while tasks run on Celery",
        "no 'wechat_store' connection, and the executor CeleryExecutor runs tasks on several machines",
        "no store",
    ),
    Bad(
        "deployment",
        "an egress proxy that nothing listens on",
        "the proxy http://127.0.0.1:9 cannot be reached",
        "down",
    ),
    Bad("deployment", "a store the new release has not migrated yet", "run `wechat-campaigns migrate`", "behind"),
    Bad("deployment", "a store a newer release has migrated", "newer than this code knows", "ahead"),
    Bad(
        "deployment",
        "Test connection from an address outside the account's IP whitelist",
        "add the address to the account's IP whitelist",
        "whitelist",
    ),
    Bad(
        "import",
        "a receipt with a date that is not a date",
        "receipts.csv line 2: received_at: 'yesterday' is not an ISO date-time",
        "openid,received_at\n" + FAN + ",yesterday\n",
    ),
    Bad(
        "import",
        "an interaction of an unknown kind",
        "interactions.csv line 2: kind: 'hug' is not one of",
        "openid,kind,at\n" + FAN + ",hug,2026-11-24T10:00\n",
    ),
]


def row_id(bad: Bad) -> str:
    return f"{bad.area}: {bad.what}"


def markdown() -> str:
    lines = [
        "# Bad inputs and the errors they get",
        "",
        "Every row is a test (`tests/e2e/test_bad_inputs.py`): the input gets this error, nothing is sent, and",
        "nothing already recorded is lost. Regenerate with `python -m tests.e2e.test_bad_inputs`.",
        "",
        "| # | where | input | error (as shown) |",
        "|---:|---|---|---|",
    ]
    for i, bad in enumerate(TABLE, start=1):
        shown = {"callback": f"HTTP {bad.error}", "sent page": f"HTTP 400 `{bad.error}`"}.get(
            bad.area, f"`{bad.error}`"
        )
        lines.append(f"| {i} | {bad.area} | {bad.what} | {shown} |")
    return "\n".join(lines) + "\n"


def test_the_document_is_the_table():
    assert len(TABLE) >= 30
    assert DOC.read_text(encoding="utf-8") == markdown()


# -- conf: through the campaign DAG ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("bad", [b for b in TABLE if b.area == "conf"], ids=row_id)
def test_bad_conf(make_campaign, bad):
    account_settings = {k: v for k, v in bad.setup.items() if k == "verified"}  # the account, and its connection
    campaign = make_campaign(connection_extra=bad.setup, **account_settings)
    earlier = campaign.run(message_type="mass", tag="vip", text="an earlier campaign") if not account_settings else None
    before = campaign.received()
    try:
        run = campaign.run(**bad.value)
    except ParamValidationError as exc:  # Airflow refuses it before a run exists (REST: 400, CLI: refused)
        assert bad.error in str(exc)
        assert campaign.received() == before
        return
    assert run.state == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "rejected" and bad.error in summary["error"], summary["error"]
    assert campaign.received() == before  # nothing sent
    if earlier is not None:  # nothing recorded is lost
        kept = campaign.history(earlier)
        assert kept["status"] == "completed" and kept["counts"]["status"] == {"sent": 2}


# -- materials, template files ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [b for b in TABLE if b.area == "material"], ids=row_id)
def test_bad_material(bad, tmp_path):
    from tests.unit.test_materials import JPEG, library_with_examples, silence_wav, write
    from wechat_campaigns.domain.materials import InvalidMaterial
    from wechat_campaigns.library import load_material

    library = library_with_examples(tmp_path)
    (library / "image/media/huge.jpg").write_bytes(JPEG + b"\0" * 11 * 2**20)
    silence_wav(library / "voice/media/long.wav", 61)
    cover = "\n    cover: media/winter_cover.jpg\n    body: "
    files = {
        "image/huge": "image: media/huge.jpg",
        "voice/long": "voice: media/long.wav",
        "news/longtitle": "articles:\n  - title: " + "很" * 33 + cover + "x",
        "news/script": "articles:\n  - title: t" + cover + "<script>x()</script>",
        "news/remote": "articles:\n  - title: t" + cover + "<img src='https://cdn.example.com/a.png'>",
        "text/typo": "contnet: hi",
    }
    write(library, bad.value, files[bad.value])
    with pytest.raises(InvalidMaterial) as caught:
        load_material(bad.value, library)
    assert bad.error in str(caught.value) and bad.value in str(caught.value)


@pytest.mark.parametrize("bad", [b for b in TABLE if b.area == "template file"], ids=row_id)
def test_bad_template_file(bad):
    from wechat_campaigns.domain.templates import InvalidTemplateFile, parse_template_file

    with pytest.raises(InvalidTemplateFile) as caught:
        parse_template_file("wechat_default.yaml", bad.value)
    assert bad.error in str(caught.value)


# -- callbacks: the public endpoint ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("bad", [b for b in TABLE if b.area == "callback"], ids=row_id)
def test_bad_callback(api_server, bad):
    import sqlalchemy as sa

    from tests.integration.test_callback_endpoint import BILLION_LAUGHS, PLAIN, SAFE, fresh, post, text_xml
    from wechat_campaigns.store.db import engine_for
    from wechat_campaigns.store.schema import callback_events

    def kept() -> int:
        with engine_for(api_server.store_url).connect() as connection:
            return connection.scalar(sa.select(sa.func.count()).select_from(callback_events))

    before = kept()
    if bad.value == "stranger":
        stranger = PLAIN.__class__("wechat_nobody", "wx", "s", "t", "plain")
        answer = post(api_server, stranger, text_xml("77001"))
    elif bad.value == "stale":
        answer = post(api_server, PLAIN, text_xml("77004"), timestamp=str(int(time.time()) - 9 * 365 * 86_400))
    elif bad.value == "replay":
        timestamp, nonce = fresh()
        assert post(api_server, PLAIN, text_xml("77005"), timestamp=timestamp, nonce=nonce).text == "success"
        before = kept()
        answer = post(api_server, PLAIN, text_xml("77006"), timestamp=timestamp, nonce=nonce)
    elif bad.value == "downgrade":
        answer = post(api_server, SAFE, text_xml("77007"))
    else:
        body = {"forged": text_xml("77002"), "bomb": BILLION_LAUGHS, "huge": b"<xml>" + b"a" * 70_000 + b"</xml>"}
        query = {"signature": "0" * 40} if bad.value == "forged" else {}
        answer = post(api_server, PLAIN, body[bad.value], **query)
    assert str(answer.status_code) == bad.error
    assert kept() == before


@pytest.mark.slow
@pytest.mark.parametrize("bad", [b for b in TABLE if b.area == "sent page"], ids=row_id)
def test_bad_sent_page_parameter(api_server, bad):
    import requests

    value = {"page": 2**62, "to": "9999-12-31"}[bad.value]
    headers = {"Authorization": f"Bearer {api_server.token()}"}
    for path in ("/wechat/sent/", "/wechat/sent/api/runs"):
        answer = requests.get(api_server.url + path, params={bad.value: value}, headers=headers, timeout=10)
        assert answer.status_code == 400 and bad.error in answer.json()["detail"], answer.text


# -- connections and imports ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [b for b in TABLE if b.area == "connection"], ids=row_id)
def test_bad_connection(service_account, bad, monkeypatch):
    from wechat_campaigns.integration.hook import WeChatHook

    connection = {
        "conn_type": "wechat_mp",
        "login": service_account.appid,
        "password": service_account.secret,
        "host": service_account.base_url,
        **bad.value,
    }
    monkeypatch.setenv("AIRFLOW_CONN_WECHAT_BAD", json.dumps(connection))
    ok, message = WeChatHook("wechat_bad").test_connection()
    if "extra" in bad.value:  # settings are read when the campaign starts, the way out when its client is made
        with pytest.raises(ValueError, match=re.escape(bad.error)):
            hook = WeChatHook("wechat_bad")
            _ = hook.settings
            hook.make_client()
    else:
        assert not ok and bad.error in message
    assert service_account.admin.inbox_counts(service_account.appid) == {}


@pytest.mark.parametrize("bad", [b for b in TABLE if b.area == "deployment"], ids=row_id)
def test_bad_deployment(bad, service_account, store_url, tmp_path, monkeypatch):
    """Each stops tasks, the CLI, the pages and Test connection alike (one place decides: ``ready_store``);
    nothing is sent and the store is not touched."""
    import sqlalchemy as sa

    from tests.integration.test_store_setup import account_connection, behind, store_connection
    from wechat_campaigns.integration.hook import WeChatHook
    from wechat_campaigns.store.db import engine_for

    account_connection(monkeypatch, service_account)
    store_connection(monkeypatch, store_url)
    if bad.value == "no store":
        monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
        monkeypatch.delenv("AIRFLOW_CONN_WECHAT_STORE")
    elif bad.value == "behind":
        store_connection(monkeypatch, behind(tmp_path))
    elif bad.value == "ahead":
        with engine_for(store_url).begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099_newer'"))
    elif bad.value == "down":
        account_connection(monkeypatch, service_account, extra={"proxy": "http://127.0.0.1:9", "retry_max_wait": 0.01})
    else:
        service_account.admin.update_account(service_account.appid, ip_whitelist=["10.1.2.3"])
    ok, message = WeChatHook("wechat_test").test_connection()
    assert not ok and bad.error in message
    assert service_account.admin.inbox_counts(service_account.appid) == {}


@pytest.mark.parametrize("bad", [b for b in TABLE if b.area == "import"], ids=row_id)
def test_bad_import(store_url, bad, tmp_path):
    from datetime import UTC, datetime

    from wechat_campaigns import imports
    from wechat_campaigns.domain.spec import MessageKind
    from wechat_campaigns.store.db import engine_for
    from wechat_campaigns.store.fans import fan_facts

    engine = engine_for(store_url)
    good = tmp_path / "good.csv"
    good.write_text(f"openid,received_at\n{FAN},2026-11-20T10:00\n")
    imports.import_receipts(engine, "wx", good)
    name = "receipts.csv" if "received_at" in bad.value else "interactions.csv"
    path = tmp_path / name
    path.write_text(bad.value + f"{FAN},2026-11-21T10:00\n" if name == "receipts.csv" else bad.value)
    load = imports.import_receipts if name == "receipts.csv" else imports.import_interactions
    with pytest.raises(imports.BadImportFile) as caught:
        load(engine, "wx", path)
    assert bad.error in str(caught.value)
    facts = fan_facts(engine, "wx", [FAN], MessageKind.MASS, datetime(2026, 11, 25, tzinfo=UTC))
    assert facts[FAN].mass_this_month == 1  # the earlier import is intact, nothing of the bad file got in


if __name__ == "__main__":
    Path(DOC).parent.mkdir(exist_ok=True)
    DOC.write_text(markdown(), encoding="utf-8")
    print(f"wrote {DOC} ({len(TABLE)} rows)", file=sys.stderr)
