"""Followers, fans' details and tags."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...domain import paths
from ._family import ApiFamily

MAX_BATCHGET_OPENIDS = 100
MAX_TAGGING_OPENIDS = 50


@dataclass(frozen=True)
class FollowersPage:
    total: int
    openids: list[str]
    next_openid: str


@dataclass(frozen=True)
class FanInfo:
    openid: str
    subscribed: bool
    language: str | None = None
    subscribe_time: int | None = None
    unionid: str | None = None
    remark: str | None = None
    tag_ids: tuple[int, ...] = ()
    subscribe_scene: str | None = None
    qr_scene: int | None = None
    qr_scene_str: str | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> FanInfo:
        return cls(
            openid=item["openid"],
            subscribed=bool(item.get("subscribe", 0)),
            language=item.get("language"),
            subscribe_time=item.get("subscribe_time"),
            unionid=item.get("unionid"),
            remark=item.get("remark"),
            tag_ids=tuple(item.get("tagid_list") or ()),
            subscribe_scene=item.get("subscribe_scene"),
            qr_scene=item.get("qr_scene"),
            qr_scene_str=item.get("qr_scene_str"),
        )


@dataclass(frozen=True)
class Tag:
    id: int
    name: str
    count: int = 0


class FansApi(ApiFamily):
    def list_followers_page(self, next_openid: str = "") -> FollowersPage:
        answer = self.call("GET", paths.USER_GET, params={"next_openid": next_openid})
        openids = (answer.get("data") or {}).get("openid", [])
        return FollowersPage(int(answer.get("total", 0)), openids, answer.get("next_openid", ""))

    def iter_followers(self, next_openid: str = "") -> Iterator[FollowersPage]:
        """Pages of followers; the last page is the one after which WeChat has nothing more."""
        return _pages(self.list_followers_page, next_openid)

    def get_fan(self, openid: str, lang: str = "zh_CN") -> FanInfo:
        return FanInfo.from_api(self.call("GET", paths.USER_INFO, params={"openid": openid, "lang": lang}))

    def get_fans(self, openids: Sequence[str], lang: str = "zh_CN") -> list[FanInfo]:
        if len(openids) > MAX_BATCHGET_OPENIDS:
            raise ValueError(f"user/info/batchget takes at most {MAX_BATCHGET_OPENIDS} openids")
        body = {"user_list": [{"openid": openid, "lang": lang} for openid in openids]}
        answer = self.call("POST", paths.USER_INFO_BATCHGET, body=body)
        return [FanInfo.from_api(item) for item in answer.get("user_info_list", [])]

    def list_tags(self) -> list[Tag]:
        answer = self.call("GET", paths.TAGS_GET)
        return [Tag(int(t["id"]), t["name"], int(t.get("count", 0))) for t in answer.get("tags", [])]

    def create_tag(self, name: str) -> Tag:
        answer = self.call("POST", paths.TAGS_CREATE, body={"tag": {"name": name}})
        return Tag(int(answer["tag"]["id"]), answer["tag"]["name"])

    def rename_tag(self, tag_id: int, name: str) -> None:
        self.call("POST", paths.TAGS_UPDATE, body={"tag": {"id": tag_id, "name": name}})

    def delete_tag(self, tag_id: int) -> None:
        self.call("POST", paths.TAGS_DELETE, body={"tag": {"id": tag_id}})

    def list_tag_fans_page(self, tag_id: int, next_openid: str = "") -> FollowersPage:
        answer = self.call("POST", paths.USER_TAG_GET, body={"tagid": tag_id, "next_openid": next_openid})
        openids = (answer.get("data") or {}).get("openid", [])
        return FollowersPage(int(answer.get("count", 0)), openids, answer.get("next_openid", ""))

    def iter_tag_fans(self, tag_id: int, next_openid: str = "") -> Iterator[FollowersPage]:
        return _pages(lambda after: self.list_tag_fans_page(tag_id, after), next_openid)

    def tag_fans(self, tag_id: int, openids: Sequence[str]) -> None:
        self._tagging(paths.TAGS_MEMBERS_BATCHTAGGING, tag_id, openids)

    def untag_fans(self, tag_id: int, openids: Sequence[str]) -> None:
        self._tagging(paths.TAGS_MEMBERS_BATCHUNTAGGING, tag_id, openids)

    def _tagging(self, path: str, tag_id: int, openids: Sequence[str]) -> None:
        for start in range(0, len(openids), MAX_TAGGING_OPENIDS):
            chunk = list(openids[start : start + MAX_TAGGING_OPENIDS])
            self.call("POST", path, body={"openid_list": chunk, "tagid": tag_id})

    def get_fan_tag_ids(self, openid: str) -> list[int]:
        return list(self.call("POST", paths.TAGS_GETIDLIST, body={"openid": openid}).get("tagid_list", []))


def _pages(fetch: Callable[[str], FollowersPage], next_openid: str) -> Iterator[FollowersPage]:
    """WeChat's openid paging: each page names the openid after which the next one starts."""
    while True:
        page = fetch(next_openid)
        if not page.openids:
            return
        yield page
        if not page.next_openid:
            return
        next_openid = page.next_openid
