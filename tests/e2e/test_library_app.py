"""The Library pages on a real API server: login required, what a marketer reads there (materials with
previews, where used and what WeChat holds; templates with fields; tags with the counts the sync found), both
languages, nothing unescaped, paging, and no file served from outside the material library."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import ROOT
from tests.fixtures.airflow import CALLBACK_ACCOUNTS, run_dag, started_api_server, text_of
from tests.fixtures.sandbox import make_standard_account
from wechat_campaigns.store.db import engine_for
from wechat_campaigns.store.schema import fan_tags, fans, media, runs, sync_state, tags, templates

pytestmark = pytest.mark.slow

ACCOUNT = CALLBACK_ACCOUNTS["plain"]
HOSTILE = "<script>alert('library')</script>"
EXTRA_TEXTS = 30  # more than a page of materials (24)
PATHS = [
    "/wechat/library/",
    "/wechat/library/materials",
    "/wechat/library/templates",
    "/wechat/library/audience",
    "/wechat/library/media?path=image/media/winter_poster.jpg",
    "/wechat/library/openapi.json",
    "/wechat/library/docs",
]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A copy of the project's material library, with a hostile material, many texts, a link pointing out
    of the library and a file beside it that must never be served."""
    root = tmp_path_factory.mktemp("library")
    folder = root / "materials"
    shutil.copytree(ROOT / "include" / "materials", folder)
    shutil.copy(folder / "templates" / "wechat_default.yaml", folder / "templates" / f"{ACCOUNT.conn_id}.yaml")
    (folder / "text" / "hostile.yaml").write_text(
        json.dumps({"description": HOSTILE, "content": f"Hi {HOSTILE}"}), encoding="utf-8"
    )
    for i in range(EXTRA_TEXTS):
        (folder / "text" / f"zz_note_{i:02d}.yaml").write_text(f"content: note {i}\n", encoding="utf-8")
    secret = root / "secret.jpg"
    secret.write_bytes((folder / "image" / "media" / "winter_poster.jpg").read_bytes())
    (folder / "image" / "media" / "outside.jpg").symlink_to(secret)
    return folder


@pytest.fixture(scope="module")
def library_server(airflow_db, sandbox_process, tmp_path_factory, library):
    env = {"WECHAT_ACCOUNTS": f"{ACCOUNT.conn_id}=Candy <b>Shop</b>", "WECHAT_MATERIALS_DIR": str(library)}
    with started_api_server(tmp_path_factory.mktemp("library-api"), sandbox_process, env) as server:
        yield server


@pytest.fixture
def marketer(library_server):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {library_server.token()}"
    return library_server.url + "/wechat/library", session


@pytest.fixture
def shop(library_server, library, sandbox, monkeypatch):
    """The library's account in the sandbox (tags vip, newcomer, customers), its DAG runs wired to the API
    server's store, and that store emptied of what an earlier test left."""
    for name, value in library_server.connection_env(sandbox.base_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WECHAT_ACCOUNTS", ACCOUNT.conn_id)
    monkeypatch.setenv("WECHAT_MATERIALS_DIR", str(library))
    engine = engine_for(library_server.store_url)
    with engine.begin() as connection:
        for table in (fans, fan_tags, tags, templates, media, runs, sync_state):
            connection.execute(sa.delete(table))
    groups = [
        {"count": 40, "prefix": "oLibVip", "tags": ["vip"]},
        {"count": 12, "prefix": "oLibNew", "tags": ["newcomer"]},
        {"count": 5, "prefix": "oLibGone", "tags": ["vip"], "subscribed": False},
    ]
    return make_standard_account(sandbox, appid=ACCOUNT.appid, secret=ACCOUNT.secret, fan_groups=groups)




def section(html: str, attribute: str, value: str) -> str:
    """The text of the element marked ``data-<attribute>="<value>"`` up to the next one like it."""
    start = html.index(f'data-{attribute}="{value}"')
    end = html.find(f"data-{attribute}=", start + 10)
    return text_of(html[start : end if end > 0 else None])


@pytest.mark.parametrize("path", PATHS)
def test_anonymous_requests_are_refused(library_server, path):
    assert requests.get(library_server.url + path, timeout=10, allow_redirects=False).status_code in (401, 404)


def test_a_browser_without_a_session_is_sent_to_airflows_login(library_server):
    page = f"{library_server.url}/wechat/library/audience"
    answer = requests.get(page, headers={"Accept": "text/html"}, timeout=10, allow_redirects=False)
    assert answer.status_code == 303 and "login" in answer.headers["location"]


def test_the_audience_page_shows_each_tags_fan_count_after_a_sync(marketer, shop):
    base, session = marketer
    before = text_of(session.get(f"{base}/audience", timeout=30).text)
    assert "was never synced" in before and "Sync now" in before

    assert run_dag("wechat_sync_audience").state == "success"

    page = session.get(f"{base}/audience", timeout=30).text
    wechat_says = {t["name"]: t["count"] for t in shop.call("/cgi-bin/tags/get", method="GET")["tags"]}
    rows = re.findall(r'<tr data-tag="([^"]+)">.*?class="num fan-count">([^<]*)<', page, re.S)
    shown = {name: int(count.replace(",", "")) for name, count in rows}
    assert shown == wechat_says
    assert shown["vip"] == 42 and shown["newcomer"] == 12 and shown["customers"] == 5  # the 5 who left: not counted
    assert "Last sync (Beijing time):" in text_of(page)
    assert 'data-trigger-dag="wechat_sync_audience"' in page

    chinese = text_of(session.get(f"{base}/audience", headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=30).text)
    assert "粉丝标签" in chinese and "上次同步（北京时间）" in chinese and "立即同步" in chinese


def test_the_templates_page_shows_the_accounts_templates_with_fields_and_the_plan(marketer, shop):
    base, session = marketer
    assert run_dag("wechat_sync_audience").state == "success"  # lists the account's templates too
    page = session.get(f"{base}/templates", timeout=30).text
    template = section(page, "template", shop.template_id)
    assert "订单支付成功通知" in template
    for field in ("thing1", "character_string2", "amount3", "time4"):
        assert field in template
    assert "IT科技 / 互联网|电子商务" in template  # the template's industry as WeChat listed it
    plan = text_of(page[page.index('id="plan"') :])
    assert f"templates/{ACCOUNT.conn_id}.yaml" in plan and "TM00015" in plan and "Apply the template plan" in plan
    assert 'data-trigger-dag="wechat_templates"' in page


def test_a_material_shows_its_preview_where_it_was_used_and_what_wechat_holds(marketer, shop, library_server):
    base, session = marketer
    page = session.get(f"{base}/materials", params={"kind": "image"}, timeout=30).text
    poster = section(page, "material", "image/winter_poster")
    assert "Not sent yet" in poster and "Not uploaded yet" in poster
    assert 'src="media?path=image%2Fmedia%2Fwinter_poster.jpg"' in page

    run = run_dag(
        "wechat_campaign",
        message_type="mass",
        wechat_conn_id=ACCOUNT.conn_id,
        material="image/winter_poster",
        openids=shop.openids[:2],
        name="Poster to two fans",
    )
    assert run.state == "success"

    page = session.get(f"{base}/materials", params={"kind": "image"}, timeout=30).text
    poster = section(page, "material", "image/winter_poster")
    assert "1 run," in poster and "Poster to two fans" in poster
    with engine_for(library_server.store_url).connect() as connection:
        media_id = connection.scalar(sa.select(media.c.media_id).where(media.c.purpose == "permanent_image"))
    assert media_id and media_id in poster and "permanent image" in poster

    news = session.get(f"{base}/materials", params={"kind": "news"}, timeout=30).text
    launch = section(news, "material", "news/winter_launch")
    assert "冬季新品上市：三款限定热饮" in launch and "太妃榛果拿铁、黑糖姜茶与桂花酒酿，今冬限定。" in launch
    assert 'src="media?path=news%2Fmedia%2Fwinter_cover.jpg"' in news
    voice = section(
        session.get(f"{base}/materials", params={"kind": "voice"}, timeout=30).text, "material", "voice/greeting"
    )
    assert "3.1 s" in voice
    video = section(
        session.get(f"{base}/materials", params={"kind": "video"}, timeout=30).text, "material", "video/teaser"
    )
    assert "冬季新品预告" in video and "3.0 s" in video


def test_nothing_a_material_or_an_account_name_holds_is_run_as_html(marketer):
    base, session = marketer
    page = session.get(f"{base}/materials", params={"q": "hostile"}, timeout=30).text
    assert HOSTILE not in page and "<b>Shop</b>" not in page
    assert "&lt;script&gt;" in page and "Candy &lt;b&gt;Shop&lt;/b&gt;" in page
    assert HOSTILE in text_of(page)  # shown as the text it is


def test_many_materials_are_paged(marketer):
    base, session = marketer
    first = session.get(f"{base}/materials", params={"kind": "text"}, timeout=30).text
    second = session.get(f"{base}/materials", params={"kind": "text", "page": 1}, timeout=30).text
    on_first, on_second = re.findall(r'data-material="([^"]+)"', first), re.findall(r'data-material="([^"]+)"', second)
    assert len(on_first) == 24 and ">Next<" in first
    assert (
        len(on_second) == EXTRA_TEXTS + 4 - 24 and ">Next<" not in second
    )  # the project's 3 texts and the hostile one
    assert not set(on_first) & set(on_second)


def test_many_tags_are_paged_biggest_first(marketer, library_server):
    from wechat_campaigns.store.fans import replace_tags

    engine = engine_for(library_server.store_url)
    with engine.begin() as connection:
        connection.execute(sa.delete(tags))
    replace_tags(engine, ACCOUNT.appid, {f"segment {i:03d}": 200 + i for i in range(120)})
    with engine.begin() as connection:  # as a sync leaves them: segment 119 the biggest
        connection.execute(sa.update(tags).values(fan_count=tags.c.tag_id - 200))
    base, session = marketer
    pages = [session.get(f"{base}/audience", params={"page": n}, timeout=30).text for n in range(3)]
    listed = [re.findall(r'<tr data-tag="([^"]+)"', page) for page in pages]
    assert [len(names) for names in listed] == [50, 50, 20]
    assert listed[0][0] == "segment 119" and listed[2][-1] == "segment 000"
    assert ">Next<" in pages[1] and ">Next<" not in pages[2]
    found = session.get(f"{base}/audience", params={"q": "segment 07"}, timeout=30).text
    assert len(re.findall(r'<tr data-tag="', found)) == 10


@pytest.mark.parametrize(
    "path",
    [
        "../secret.jpg",
        "image/media/../../../secret.jpg",
        "image/media/outside.jpg",  # a link inside the library to a file outside it
        "/etc/passwd",
        "%2e%2e/secret.jpg",
        "image/winter_poster.yaml",  # a material's own file: not an image
        "voice/media/greeting.mp3",
        "",
    ],
)
def test_no_file_outside_the_librarys_images_is_served(marketer, path):
    base, session = marketer
    answer = session.get(f"{base}/media", params={"path": path}, timeout=10)
    assert answer.status_code == 404, answer.text[:200]


def test_a_library_image_is_served(marketer):
    base, session = marketer
    answer = session.get(f"{base}/media", params={"path": "image/media/winter_poster.jpg"}, timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert answer.content == (ROOT / "include" / "materials" / "image" / "media" / "winter_poster.jpg").read_bytes()


def test_a_bad_parameter_or_an_unknown_account_is_named(marketer):
    base, session = marketer
    bad_kind = session.get(f"{base}/materials", params={"kind": "gif"}, timeout=10)
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["detail"]
    unknown = session.get(f"{base}/audience", params={"account": "wechat_nope"}, timeout=10)
    assert unknown.status_code == 404 and "wechat_nope" in unknown.json()["detail"]
    assert session.get(f"{base}/audience", params={"page": -1}, timeout=10).status_code == 400
