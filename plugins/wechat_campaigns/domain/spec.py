"""A campaign as the marketer asked for it, and the checks that need nothing but the request itself.

``parse_campaign`` turns a run conf (the trigger form, the CLI's ``-c`` or the REST API's ``conf``) into a
``CampaignSpec``, or raises ``InvalidCampaign`` listing every field that is wrong and why. Checks that need
the account (does the tag exist? is the template there?) are in ``check_against_account``.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from .account import AccountSettings, AccountType
from .clock import parse_local_datetime
from .render import RenderError, compile_text, uses_fan_attributes

OPENID = re.compile(r"^[\w-]{28}$")
MATERIAL_NAME = re.compile(r"^(text|news|image|voice|video)/[\w.-]+$")
SEND_AT_GRACE = timedelta(minutes=1)  # a time "now" typed into the form is a few seconds old on arrival
DEFAULT_HORIZON_DAYS = AccountSettings.schedule_horizon_days
MAX_CONF_BYTES = 4 * 1024 * 1024  # a run conf as JSON: 100,000 openids take about 3 MB
MAX_TEMPLATE_FIELDS = 30  # WeChat's templates show a handful
MAX_FIELD_NAME = 64
MAX_OPENIDS = 100_000  # an openid list in the conf; bigger audiences are tags
MAX_TEXT = 20_000  # characters of a text or template value as typed (what WeChat takes is checked rendered)
# Characters that show nothing: whitespace, and Unicode's "format" class (zero-width spaces, RTL marks, ...).
_INVISIBLE = {"Zs", "Zl", "Zp", "Cf"}
_LINE_BREAKS = {"\n", "\r", "\t"}


class MessageKind(StrEnum):
    MASS = "mass"  # 群发
    CUSTOMER_SERVICE = "customer_service"  # 客服消息
    TEMPLATE = "template"  # 模板消息


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidCampaign(ValueError):
    """The campaign cannot be sent as asked. Lists every problem, each naming its field."""

    def __init__(self, problems: Sequence[FieldProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def fields(self) -> list[str]:
        return [p.field for p in self.problems]


@dataclass(frozen=True)
class CampaignSpec:
    kind: MessageKind
    conn_id: str = "wechat_default"
    name: str = ""
    tag: str | None = None  # None with no openids: all followers
    openids: tuple[str, ...] = ()
    material: str | None = None
    text: str | None = None
    news: Mapping[str, Any] | None = None  # a one-article news item typed into the form
    template_id: str | None = None
    template_data: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    send_at: datetime | None = None
    dry_run: bool = False
    preview_openids: tuple[str, ...] = ()
    holdout_percent: float = 0.0
    confirm_large_send: bool = False
    resend_unknown: bool = False
    continue_next_day: bool = True  # when a daily quota runs out: wait for Beijing midnight, or leave the rest out
    template_strict: bool = False  # refuse template values WeChat would alter (cut, strip), not only reject

    @property
    def audience(self) -> str:
        """How the history names the audience."""
        if self.preview_openids:
            return f"preview: {len(self.preview_openids)} test fans"
        if self.openids:
            return f"openids: {len(self.openids)}"
        return f"tag: {self.tag}" if self.tag else "all followers"

    @property
    def content(self) -> str:
        """What is sent, as the history names it."""
        if self.kind is MessageKind.TEMPLATE:
            return f"template {self.template_id}"
        if self.news:
            return f"news: {self.news.get('title', '')}"
        return f"material {self.material}" if self.material else "inline text"

    def to_conf(self) -> dict[str, Any]:  # its keys are CONF_FIELDS
        """The spec back as a JSON-able conf (what tasks pass each other through XCom: small)."""
        return {
            "message_type": self.kind.value,
            "wechat_conn_id": self.conn_id,
            "name": self.name,
            "tag": self.tag,
            "openids": list(self.openids),
            "material": self.material,
            "text": self.text,
            "news": dict(self.news) if self.news else None,
            "template_id": self.template_id,
            "template_data": dict(self.template_data),
            "url": self.url,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "dry_run": self.dry_run,
            "preview_openids": list(self.preview_openids),
            "holdout_percent": self.holdout_percent,
            "confirm_large_send": self.confirm_large_send,
            "resend_unknown": self.resend_unknown,
            "continue_next_day": self.continue_next_day,
            "template_strict": self.template_strict,
        }


# Every key a run conf may hold: the trigger form's fields (integration/params.py has one for each).
CONF_FIELDS = (
    "message_type",
    "wechat_conn_id",
    "name",
    "tag",
    "openids",
    "material",
    "text",
    "news",
    "template_id",
    "template_data",
    "url",
    "send_at",
    "dry_run",
    "preview_openids",
    "holdout_percent",
    "confirm_large_send",
    "resend_unknown",
    "continue_next_day",
    "template_strict",
)


def parse_campaign(conf: Mapping[str, Any], now: datetime, *, check_send_at: bool = True) -> CampaignSpec:
    """Validate a run conf; ``now`` is when the marketer pressed *Trigger* (for ``send_at``)."""
    problems: list[FieldProblem] = []

    def problem(name: str, message: str) -> None:
        problems.append(FieldProblem(name, message))

    size = len(json.dumps(dict(conf), ensure_ascii=False, default=str).encode())
    if size > MAX_CONF_BYTES:
        raise InvalidCampaign([FieldProblem("conf", f"{size:,} bytes of JSON; at most {MAX_CONF_BYTES:,}")])

    _unknown_keys(conf, problem)
    kind = _kind(conf.get("message_type"), problem)
    conn_id = _text(conf, "wechat_conn_id", problem) or "wechat_default"
    tag = _text(conf, "tag", problem)
    openids = _openids(conf, "openids", problem)
    preview = _openids(conf, "preview_openids", problem)
    if tag and openids:
        problem("openids", "give either a tag or a list of openids, not both")
    material = _text(conf, "material", problem)
    text = _text(conf, "text", problem)
    news = _news(conf.get("news"), problem)
    template_id = _text(conf, "template_id", problem)
    template_data = _template_data(conf.get("template_data"), problem)
    url = _url(conf, problem)
    send_at = _send_at(conf.get("send_at"), now, check_send_at, problem)
    holdout = _holdout(conf.get("holdout_percent"), problem)

    if kind is MessageKind.TEMPLATE:
        if not template_id:
            problem("template_id", "a template campaign needs the template's ID")
        if material or text or news:
            which = "material" if material else "text" if text else "news"
            problem(which, "template campaigns send template_data, not a material")
    elif kind is not None:
        given = [name for name, value in (("material", material), ("text", text), ("news", news)) if value]
        if len(given) > 1:
            problem(given[1], f"give one of material, text or news, not {' and '.join(given)}")
        elif not given:
            problem("material", "choose a material from the library (e.g. text/welcome), type a text or a news item")
        if template_id or template_data:
            problem("template_id", f"{kind.value} campaigns do not use a template")
    if material and not MATERIAL_NAME.match(material):
        problem("material", f"{material!r} is not a library name like text/welcome or news/launch")
    if text is not None:
        _check_text(kind, text, problem)

    name = _text(conf, "name", problem) or ""
    if problems:
        raise InvalidCampaign(problems)
    assert kind is not None
    return CampaignSpec(
        kind=kind,
        conn_id=conn_id,
        name=name,
        tag=tag,
        openids=openids,
        material=material,
        text=text,
        news=news,
        template_id=template_id,
        template_data=template_data,
        url=url,
        send_at=send_at,
        dry_run=_dry_run(conf.get("dry_run"), kind, tag, openids, preview),
        preview_openids=preview,
        holdout_percent=holdout,
        confirm_large_send=bool(conf.get("confirm_large_send", False)),
        resend_unknown=bool(conf.get("resend_unknown", False)),
        continue_next_day=bool(conf.get("continue_next_day", True)),
        template_strict=bool(conf.get("template_strict", False)),
    )


def _unknown_keys(conf: Mapping[str, Any], problem) -> None:
    """A key the form does not have is a typo (``materal``) that would otherwise be ignored without a word:
    the campaign would go out without what the key was meant to say."""
    for key in sorted(set(conf) - set(CONF_FIELDS), key=str):
        problem("conf", f"unknown field {key!r}: {_suggestion(str(key), CONF_FIELDS, 'the fields are')}")


def _suggestion(given: str, known: Sequence[str], listing: str) -> str:
    """``did you mean 'x'?`` when one known name is close to what was given, else the known names."""
    close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else f"{listing} {', '.join(known)}"


def _kind(value: Any, problem) -> MessageKind | None:
    try:
        return MessageKind(value)
    except ValueError:
        choices = ", ".join(k.value for k in MessageKind)
        problem("message_type", f"{value!r} is not one of {choices}")
        return None


def _text(conf: Mapping[str, Any], name: str, problem) -> str | None:
    value = conf.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        problem(name, f"must be text, not {type(value).__name__}")
        return None
    if value.strip() and not _check_characters(name, value, problem):
        return None
    return value.strip() or None


def _check_characters(name: str, value: str, problem) -> bool:
    """What a fan would be sent must be text a person can read: no control characters (NUL, escapes), at
    least one visible character, and not a novel's length."""
    if len(value) > MAX_TEXT:
        problem(name, f"{len(value):,} characters; at most {MAX_TEXT:,}")
        return False
    control = next((c for c in value if unicodedata.category(c) == "Cc" and c not in _LINE_BREAKS), None)
    if control is not None:
        problem(name, f"holds a control character (U+{ord(control):04X}); remove it")
        return False
    if all(c.isspace() or unicodedata.category(c) in _INVISIBLE for c in value):
        problem(name, "has no visible character (only spaces, zero-width or direction marks)")
        return False
    return True


def _openids(conf: Mapping[str, Any], name: str, problem) -> tuple[str, ...]:
    value = conf.get(name) or []
    if isinstance(value, str):  # the form's multiline field: one openid per line (or comma-separated)
        value = [item for item in re.split(r"[\s,]+", value) if item]
    if not isinstance(value, list):
        problem(name, "must be a list of openids")
        return ()
    if len(value) > MAX_OPENIDS:
        problem(name, f"{len(value):,} openids; at most {MAX_OPENIDS:,} (send to a tag for more)")
        return ()
    bad = [f"[{i}] {item!r}" for i, item in enumerate(value) if not isinstance(item, str) or not OPENID.match(item)]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        problem(name, f"not openids (28 letters, digits, _ or -): {shown}")
        return ()
    return tuple(value)


def _template_data(value: Any, problem) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        problem("template_data", 'must map each template field to its value, e.g. {"thing1": "..."}')
        return {}
    if len(value) > MAX_TEMPLATE_FIELDS:
        problem("template_data", f"{len(value):,} fields; a template has at most {MAX_TEMPLATE_FIELDS}")
        return {}
    data: dict[str, str] = {}
    for key, item in value.items():
        if len(str(key)) > MAX_FIELD_NAME:
            problem("template_data", f"a field name of {len(str(key)):,} characters; at most {MAX_FIELD_NAME}")
            continue
        if isinstance(item, Mapping):  # accept WeChat's own {"value": ...} shape too
            item = item.get("value")
        if not isinstance(item, str | int | float):
            problem(f"template_data.{key}", "must be text")
            continue
        if str(item).strip() and not _check_characters(f"template_data.{key}", str(item), problem):
            continue  # (an empty value is a field left out: said as such against the template)
        try:
            compile_text(str(item))
        except RenderError as exc:
            problem(f"template_data.{key}", str(exc))
            continue
        data[str(key)] = str(item)
    return data


def _news(value: Any, problem) -> dict[str, Any] | None:
    if value in (None, "", {}):
        return None
    if not isinstance(value, Mapping):
        problem("news", 'must be an object like {"title": ..., "url": ..., "cover": "news/media/cover.jpg"}')
        return None
    for key in ("title", "url", "cover"):
        if not isinstance(value.get(key), str) or not value[key].strip():
            problem(f"news.{key}", "is required for a news item")
    for key in ("title", "digest"):
        if isinstance(value.get(key), str) and value[key].strip():
            _check_characters(f"news.{key}", value[key], problem)
    unknown = sorted(set(value) - {"title", "url", "cover", "digest"})
    if unknown:
        problem(f"news.{unknown[0]}", "unknown key (a news item has title, url, cover, digest)")
    return dict(value)


def _url(conf: Mapping[str, Any], problem) -> str | None:
    url = _text(conf, "url", problem)
    if url and (urlparse(url).scheme not in {"http", "https"} or not urlparse(url).netloc):
        problem("url", f"{url!r} is not an http(s) address")
    return url


def _send_at(value: Any, now: datetime, check: bool, problem) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        problem("send_at", "must be an ISO date-time such as 2026-12-01T09:30 (Beijing time without an offset)")
        return None
    try:
        moment = parse_local_datetime(value)
    except ValueError:
        problem("send_at", f"{value!r} is not an ISO date-time such as 2026-12-01T09:30")
        return None
    if check and moment < now - SEND_AT_GRACE:
        problem("send_at", f"{moment.isoformat()} is in the past")
    return moment


def check_schedule(spec: CampaignSpec, now: datetime, horizon_days: int) -> None:
    """Refuse a ``send_at`` further ahead than the account's horizon (by default a year): a typo, not a plan."""
    if spec.send_at is not None and spec.send_at > now + timedelta(days=horizon_days):
        ahead = "a year" if horizon_days == DEFAULT_HORIZON_DAYS else f"{horizon_days:,} days"
        raise InvalidCampaign(
            [
                FieldProblem(
                    "send_at",
                    f"{spec.send_at.isoformat()} is more than {ahead} ahead (the account's schedule_horizon_days);"
                    " schedule closer to the day",
                )
            ]
        )


def _dry_run(value: Any, kind: MessageKind | None, tag, openids, preview) -> bool:
    """Unset (the form's "automatic"): a dry run for a mass send to all followers — the one send that cannot
    be taken back from everybody at once — and a real send otherwise."""
    if value is None or value == "":
        return kind is MessageKind.MASS and not tag and not openids and not preview
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _holdout(value: Any, problem) -> float:
    if value in (None, ""):
        return 0.0
    try:
        percent = float(value)
    except (TypeError, ValueError):
        percent = -1.0
    if not 0 <= percent < 100:
        problem("holdout_percent", "must be a number from 0 to 99.99 (the share of fans kept as a control group)")
        return 0.0
    return percent


def _check_text(kind: MessageKind | None, text: str, problem) -> None:
    try:
        compiled = compile_text(text)
    except RenderError as exc:
        problem("text", str(exc))
        return
    if kind is MessageKind.MASS and uses_fan_attributes(compiled):
        problem("text", "a mass message is the same for every fan; it cannot use fan attributes")


# ------------------------------------------------------------------------------ checks against the account


@dataclass(frozen=True)
class AccountFacts:
    """What validation needs to know of the account, gathered by the caller from WeChat and the store."""

    settings: AccountSettings
    tags: Mapping[str, int]  # name -> WeChat tag id
    template_fields: Mapping[str, Sequence[str]]  # template_id -> its fields (thing1, time2, ...)
    template_titles: Mapping[str, str] = field(default_factory=dict)  # template_id -> its title (活动提醒)
    mass_sends_today: int = 0  # successful mass sends today (Beijing), for subscription accounts


def check_against_account(spec: CampaignSpec, facts: AccountFacts) -> None:
    problems: list[FieldProblem] = []
    settings = facts.settings
    if spec.tag and spec.tag not in facts.tags:
        known = ", ".join(sorted(facts.tags)) or "none"
        problems.append(FieldProblem("tag", f"no fan tag named {spec.tag!r} in this account (tags: {known})"))
    if spec.kind is MessageKind.TEMPLATE:
        permission = settings.template_permission_problem()
        if permission:
            problems.append(FieldProblem("message_type", permission))
        elif spec.template_id is None or spec.template_id not in facts.template_fields:
            problems.append(FieldProblem("template_id", _not_a_template(spec.template_id, facts)))
        else:
            problems.extend(_template_field_problems(spec.template_data, facts.template_fields[spec.template_id]))
    if (
        spec.kind is MessageKind.MASS
        and settings.account_type is AccountType.SUBSCRIPTION
        and facts.mass_sends_today >= 1
        and not spec.dry_run
        and not spec.preview_openids
    ):
        problems.append(
            FieldProblem("message_type", "this subscription account already made its one mass send today (Beijing)")
        )
    if problems:
        raise InvalidCampaign(problems)


def _not_a_template(template_id: str | None, facts: AccountFacts) -> str:
    """Names the account's templates, so that a data engineer need not look them up elsewhere."""
    ids = sorted(facts.template_fields)
    listed = ", ".join(f"{t} {facts.template_titles.get(t, '')}".rstrip() for t in ids) or "none"
    close = difflib.get_close_matches(template_id or "", ids, n=1, cutoff=0.6)
    meant = f"; did you mean {close[0]!r}?" if close else ""
    return f"{template_id!r} is not a template of this account{meant} (templates: {listed})"


def _template_field_problems(data: Mapping[str, str], fields: Sequence[str]) -> list[FieldProblem]:
    # first/remark are no longer shown by WeChat (2023 rules): not required, and not an error to give.
    shown = [f for f in fields if f not in {"first", "remark"}]
    problems = [
        FieldProblem(f"template_data.{name}", "missing: the template shows this field")
        for name in shown
        if not str(data.get(name, "")).strip()
    ]
    problems += [
        FieldProblem(f"template_data.{name}", f"the template has no such field (fields: {', '.join(fields)})")
        for name in data
        if name not in fields
    ]
    return problems
