"""Every material kind through the DAG: uploaded once, reused next time, re-uploaded after expiry, and what
the fan's inbox shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from wechat_campaigns.store.fans import add_interactions

pytestmark = pytest.mark.slow

UPLOADS = (
    "/cgi-bin/material/add_material",
    "/cgi-bin/media/upload",
    "/cgi-bin/media/uploadimg",
    "/cgi-bin/draft/add",
    "/cgi-bin/media/uploadvideo",
)


def uploads(campaign) -> dict[str, int]:
    calls = campaign.account.admin.stats(campaign.account.appid)["calls"]
    return {path.removeprefix("/cgi-bin/"): calls[path] for path in UPLOADS if calls.get(path)}


def vip_inbox(campaign):
    return campaign.inbox(campaign.account.openids[0])


@pytest.mark.parametrize(
    ("material", "expected_uploads", "check"),
    [
        (
            "image/winter_poster",
            {"material/add_material": 1},
            lambda m: m["msgtype"] == "image" and m["content"]["filename"] == "winter_poster.jpg",
        ),
        (
            "voice/greeting",
            {"material/add_material": 1},
            lambda m: m["msgtype"] == "voice" and m["content"]["filename"] == "greeting.mp3",
        ),
        (
            "video/teaser",
            {"material/add_material": 1, "media/uploadvideo": 1},
            lambda m: m["msgtype"] == "mpvideo" and m["content"]["title"] == "冬季新品预告",
        ),
        (
            "news/winter_launch",
            {"material/add_material": 2, "media/uploadimg": 1, "draft/add": 1},
            lambda m: (
                [a["title"] for a in m["content"]["articles"]] == ["冬季新品上市：三款限定热饮", "会员日：第二杯半价"]
            ),
        ),
    ],
)
def test_mass_material_is_uploaded_once_and_reused(campaign, material, expected_uploads, check):
    first = campaign.run(message_type="mass", tag="vip", material=material)
    assert first.state == "success", campaign.task_states(first)
    assert uploads(campaign) == expected_uploads
    second = campaign.run(message_type="mass", tag="vip", material=material)
    assert second.state == "success"
    assert uploads(campaign) == expected_uploads  # nothing uploaded again
    messages = vip_inbox(campaign)
    assert len(messages) == 2 and all(check(m) for m in messages)


def test_images_inside_an_article_are_hosted_by_wechat(campaign):
    run = campaign.run(message_type="mass", tag="vip", material="news/winter_launch")
    assert run.state == "success"
    message = campaign.history(run)["message"]
    drafts = campaign.account.admin.account(campaign.account.appid)["counts"]["drafts"]
    assert message["msgtype"] == "mpnews" and drafts == 1
    (article,) = [a for a in vip_inbox(campaign)[0]["content"]["articles"] if a["title"].startswith("冬季")]
    assert article["author"] == "咖啡研究所" and not article.get("digest")  # a digest is for single-article news


def open_windows(campaign, at):
    for openid in campaign.account.openids[:2]:
        campaign.account.admin.event(campaign.account.appid, openid, "text", at=at)
    add_interactions(
        campaign.engine,
        campaign.account.appid,
        [{"openid": o, "kind": "text", "at": at.timestamp(), "source": "import"} for o in campaign.account.openids[:2]],
    )


@pytest.mark.parametrize(
    ("material", "msgtype", "expected_uploads"),
    [
        ("image/winter_poster", "image", {"media/upload": 1}),
        ("voice/greeting", "voice", {"media/upload": 1}),
        ("video/teaser", "video", {"media/upload": 2}),  # the video and its thumb
        ("news/recipe_en", "news", {"material/add_material": 1}),  # the card's picture is a permanent image
    ],
)
def test_customer_service_material(campaign, material, msgtype, expected_uploads):
    from wechat_campaigns.store.fans import upsert_fans

    upsert_fans(
        campaign.engine,
        campaign.account.appid,
        [{"openid": campaign.account.openids[0], "attributes": {"name": "Mia"}}],
    )
    open_windows(campaign, datetime.now(UTC) - timedelta(minutes=5))
    run = campaign.run(message_type="customer_service", tag="vip", material=material)
    assert run.state == "success", campaign.task_states(run)
    assert uploads(campaign) == expected_uploads
    (message,) = vip_inbox(campaign)
    assert message["kind"] == "customer_service" and message["msgtype"] == msgtype
    if msgtype == "news":
        (card,) = message["content"]["articles"]
        assert card["description"].startswith("Mia, here is")  # rendered for the fan
        assert card["url"] == "https://example.com/recipes/hot-chocolate"


def test_temporary_media_is_uploaded_again_after_three_days(campaign):
    now = datetime.now(UTC)
    open_windows(campaign, now - timedelta(minutes=5))
    assert campaign.run(message_type="customer_service", tag="vip", material="image/winter_poster").state == "success"
    open_windows(campaign, now - timedelta(minutes=4))
    assert campaign.run(message_type="customer_service", tag="vip", material="image/winter_poster").state == "success"
    assert uploads(campaign) == {"media/upload": 1}  # the second run reused it

    later = now + timedelta(days=3, hours=1)
    campaign.account.admin.set_clock(later)
    with time_machine.travel(later, tick=True):
        open_windows(campaign, later - timedelta(minutes=5))
        run = campaign.run(message_type="customer_service", tag="vip", material="image/winter_poster")
    assert run.state == "success", campaign.task_states(run)
    assert uploads(campaign) == {"media/upload": 2}  # WeChat forgot it after 3 days; so did we
    assert len(vip_inbox(campaign)) == 3


def test_inline_news_item_from_the_form(campaign):
    news = {
        "title": "周末快闪",
        "url": "https://example.com/popup",
        "digest": "周六下午两点",
        "cover": "news/media/winter_cover.jpg",
    }
    run = campaign.run(message_type="mass", tag="vip", news=news)
    assert run.state == "success", campaign.task_states(run)
    (message,) = vip_inbox(campaign)
    assert message["msgtype"] == "mpnews" and message["content"]["articles"][0]["title"] == "周末快闪"
    assert campaign.history(run)["content"] == "news: 周末快闪"


def test_dry_run_uploads_nothing_but_shows_what_would_be_sent(campaign):
    run = campaign.run(message_type="mass", tag="vip", material="news/winter_launch", dry_run=True)
    assert run.state == "success"
    assert uploads(campaign) == {}
    assert campaign.history(run)["message"]["mpnews"]["media_id"].startswith("(draft of 冬季新品上市")


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"message_type": "mass", "tag": "vip", "material": "news/recipe_en"}, "material"),
        ({"message_type": "customer_service", "tag": "vip", "material": "news/winter_launch"}, "material"),
        ({"message_type": "mass", "tag": "vip", "material": "image/nothing_here"}, "material"),
        (
            {
                "message_type": "mass",
                "tag": "vip",
                "news": {"title": "x", "url": "https://e.com", "cover": "news/media/none.jpg"},
            },
            "news",
        ),
    ],
)
def test_a_material_the_campaign_cannot_send_is_refused_before_sending(campaign, conf, field):
    run = campaign.run(**conf)
    assert run.state == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "rejected" and summary["error"].startswith(f"{field}: material")
    assert uploads(campaign) == {} and campaign.received() == {}


def test_a_send_to_all_followers_uses_up_its_draft_and_the_next_makes_a_new_one(make_campaign):
    """WeChat deletes the draft a send to all followers used (its media_id then answers 40007): the next send
    of the same news makes a new draft instead of reusing the old id. Sends to a tag keep theirs (above)."""
    campaign = make_campaign(connection_extra={"to_all_once_a_day": False}, to_all_daily_limit=0)
    for _ in range(2):
        run = campaign.run(message_type="mass", material="news/winter_launch", dry_run=False)
        assert run.state == "success", campaign.task_states(run)
    assert uploads(campaign)["draft/add"] == 2
    for openid in campaign.account.openids:
        assert [m["msgtype"] for m in campaign.inbox(openid)] == ["mpnews", "mpnews"]
