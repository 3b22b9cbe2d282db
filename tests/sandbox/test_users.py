"""Fans and tags: follower paging, user info, tag limits and errors, tagging."""

from __future__ import annotations

from tests.fixtures.sandbox import make_standard_account

from .conftest import assert_error


def followers(account, next_openid=""):
    return account.call("/cgi-bin/user/get", method="GET", params={"next_openid": next_openid})


def test_follower_pages_of_10000_and_the_empty_last_call(service_account, sandbox):
    sandbox.add_fans(service_account.appid, fan_groups=[{"count": 10_000, "prefix": "oPage"}])
    sandbox.add_fans(service_account.appid, [{"openid": service_account.openids[0], "subscribed": False}])
    first = followers(service_account)
    assert first["total"] == 10_004 and first["count"] == 10_000
    assert len(first["data"]["openid"]) == 10_000 and first["next_openid"] == first["data"]["openid"][-1]
    assert service_account.openids[0] not in first["data"]["openid"]
    second = followers(service_account, first["next_openid"])
    assert second["count"] == 4 and second["next_openid"] == second["data"]["openid"][-1]
    last = followers(service_account, second["next_openid"])
    assert last == {"total": 10_004, "count": 0, "next_openid": ""}
    assert_error(followers(service_account, "oNotAFan"), 40003)


def test_user_info_and_batchget(service_account, sandbox):
    a, b = service_account.openids[:2]
    sandbox.add_fans(service_account.appid, [{"openid": b, "subscribed": False}, {"openid": a, "remark": "老客户"}])
    info = service_account.call("/cgi-bin/user/info", method="GET", params={"openid": a, "lang": "zh_CN"})
    assert info["subscribe"] == 1 and info["openid"] == a and info["remark"] == "老客户"
    assert len(info["tagid_list"]) == 2 and "nickname" not in info
    assert service_account.call("/cgi-bin/user/info", method="GET", params={"openid": b}) == {
        "subscribe": 0,
        "openid": b,
    }
    assert_error(service_account.call("/cgi-bin/user/info", method="GET", params={"openid": "oNobody"}), 40003)
    batch = service_account.call("/cgi-bin/user/info/batchget", {"user_list": [{"openid": a}, {"openid": b}]})
    assert [u["subscribe"] for u in batch["user_info_list"]] == [1, 0]
    too_many = {"user_list": [{"openid": a}] * 101}
    assert_error(service_account.call("/cgi-bin/user/info/batchget", too_many), 40032)


def test_tag_crud_and_limits(service_account):
    tags = service_account.call("/cgi-bin/tags/get", method="GET")["tags"]
    assert tags[0] == {"id": 2, "name": "星标组", "count": 0}
    assert {t["name"]: t["count"] for t in tags[1:]} == {"vip": 2, "customers": 5}
    created = service_account.call("/cgi-bin/tags/create", {"tag": {"name": "广东"}})
    assert created["tag"]["name"] == "广东" and created["tag"]["id"] >= 100
    assert_error(service_account.call("/cgi-bin/tags/create", {"tag": {"name": "广东"}}), 45157)
    assert_error(service_account.call("/cgi-bin/tags/create", {"tag": {"name": "长" * 11}}), 45158)  # 33 bytes
    tag_id = created["tag"]["id"]
    assert service_account.call("/cgi-bin/tags/update", {"tag": {"id": tag_id, "name": "广东人"}})["errcode"] == 0
    assert_error(service_account.call("/cgi-bin/tags/update", {"tag": {"id": 2, "name": "x"}}), 45058)
    assert_error(service_account.call("/cgi-bin/tags/delete", {"tag": {"id": 1}}), 45058)
    assert_error(service_account.call("/cgi-bin/tags/update", {"tag": {"id": 999, "name": "x"}}), 45159)
    assert service_account.call("/cgi-bin/tags/delete", {"tag": {"id": tag_id}})["errcode"] == 0
    for n in range(98):
        assert "tag" in service_account.call("/cgi-bin/tags/create", {"tag": {"name": f"t{n}"}}), n
    assert_error(service_account.call("/cgi-bin/tags/create", {"tag": {"name": "one-too-many"}}), 45056)


def test_tagging(service_account, sandbox):
    fan = service_account.openids[0]
    tag = service_account.call("/cgi-bin/tags/create", {"tag": {"name": "新客"}})["tag"]["id"]
    body = {"openid_list": service_account.openids, "tagid": tag}
    assert service_account.call("/cgi-bin/tags/members/batchtagging", body)["errcode"] == 0
    assert tag in service_account.call("/cgi-bin/tags/getidlist", {"openid": fan})["tagid_list"]
    members = service_account.call("/cgi-bin/user/tag/get", {"tagid": tag, "next_openid": ""})
    assert members["count"] == 5 and members["data"]["openid"] == service_account.openids
    end = service_account.call("/cgi-bin/user/tag/get", {"tagid": tag, "next_openid": members["next_openid"]})
    assert end["count"] == 0 and "data" not in end
    untag = {"openid_list": [fan], "tagid": tag}
    assert service_account.call("/cgi-bin/tags/members/batchuntagging", untag)["errcode"] == 0
    assert tag not in service_account.call("/cgi-bin/tags/getidlist", {"openid": fan})["tagid_list"]
    fifty_one = {"openid_list": [fan] * 51, "tagid": tag}
    assert_error(service_account.call("/cgi-bin/tags/members/batchtagging", fifty_one), 40032)
    assert_error(
        service_account.call("/cgi-bin/tags/members/batchtagging", {"openid_list": [fan], "tagid": 999}), 45159
    )
    assert_error(service_account.call("/cgi-bin/user/tag/get", {"tagid": 999}), 45159)
    assert_error(service_account.call("/cgi-bin/tags/getidlist", {"openid": "oNobody"}), 40003)
    other = make_standard_account(sandbox, appid="wxother", fans=[{"openid": "oForeignFan00000000000000001"}])
    foreign = {"openid_list": [other.openids[0]], "tagid": tag}
    assert_error(service_account.call("/cgi-bin/tags/members/batchtagging", foreign), 49003)


def test_twenty_tags_per_fan(service_account, sandbox):
    fan = service_account.openids[4]  # has 1 tag ("customers")
    sandbox.add_fans(service_account.appid, [{"openid": fan, "tags": [f"t{n}" for n in range(20)]}])
    extra = service_account.call("/cgi-bin/tags/create", {"tag": {"name": "21st"}})["tag"]["id"]
    other = service_account.openids[3]
    body = {"openid_list": [other, fan], "tagid": extra}
    assert_error(service_account.call("/cgi-bin/tags/members/batchtagging", body), 45059)
    assert (
        extra not in service_account.call("/cgi-bin/tags/getidlist", {"openid": other})["tagid_list"]
    )  # all or nothing


def test_a_tag_with_more_than_100000_fans_cannot_be_deleted(service_account, sandbox):
    sandbox.add_fans(service_account.appid, fan_groups=[{"count": 100_001, "prefix": "oMany", "tags": ["big"]}])
    big = next(t["id"] for t in service_account.call("/cgi-bin/tags/get", method="GET")["tags"] if t["name"] == "big")
    assert_error(service_account.call("/cgi-bin/tags/delete", {"tag": {"id": big}}), 45057)
