"""What a campaign would do, told before it is sent: the Compose page's forecast.

Read from what the store knows (the last audience sync, the callbacks, the history), through the rules the
run itself applies (``domain.eligibility.exclusion``, ``in_holdout``, the daily quotas), in the order
``filter_eligible`` applies them. The run asks WeChat for the audience again, so a forecast is as fresh as the
last sync; with the same store and the same run key a dry run records the same counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from ..domain.account import AccountSettings
from ..domain.eligibility import CS_RULES_BY_NAME, Reason, exclusion, in_holdout
from ..domain.plan import MASS_BATCH
from ..domain.spec import CampaignSpec, MessageKind
from ..store import quotas
from ..store.fans import fan_facts, sample_openids
from .run import API_OF_KIND

EVERY_KNOWN_FAN = 10_000_000  # the store's followers of a tag or account, all of them


@dataclass(frozen=True)
class Forecast:
    audience: int  # fans the audience lists, a repeated openid counted each time (as the history counts)
    eligible: int
    left_out: dict[str, int] = field(default_factory=dict)  # reason -> fans, largest first
    calls: int = 0  # API calls the send needs (a dry run makes none)
    api: str = ""
    daily_quota: int | None = None
    room_today: int | None = None  # calls left today by our count
    days: int = 1  # Beijing days the quota needs
    confirm_threshold: int = 0
    from_store: bool = True  # the audience is the store's (a tag or all followers), not a pasted list

    @property
    def needs_confirmation(self) -> bool:
        return self.eligible > self.confirm_threshold


def forecast(engine: Engine, settings: AccountSettings, spec: CampaignSpec, run_key: str, now: datetime) -> Forecast:
    """The counts a run of ``spec`` under ``run_key`` would record, from the store as it stands."""
    listed = list(spec.openids) or sample_openids(engine, settings.appid, spec.tag, EVERY_KNOWN_FAN)
    unique = list(dict.fromkeys(listed))
    left_out: dict[str, int] = {}
    if len(listed) > len(unique):
        left_out[Reason.DUPLICATE.value] = len(listed) - len(unique)
    api = API_OF_KIND[spec.kind]
    quota = settings.daily_quota(api)
    room = quotas.room(engine, settings.appid, api, quota, now)
    eligible = _count_eligible(engine, settings, spec, run_key, now, unique, left_out, _bound(spec, room))
    if spec.kind is MessageKind.MASS and (spec.openids or left_out) and eligible == 1:
        left_out[Reason.TOO_FEW_FOR_MASS.value] = 1  # mass/send takes two openids or more
        eligible = 0
    calls = _calls(spec, eligible, left_out)
    return Forecast(
        audience=len(listed),
        eligible=eligible,
        left_out=dict(sorted(left_out.items(), key=lambda item: -item[1])),
        calls=calls,
        api=api,
        daily_quota=quota,
        room_today=room,
        days=_days(calls, room, quota, spec.continue_next_day or spec.kind is MessageKind.MASS),
        confirm_threshold=settings.confirm_threshold,
        from_store=not spec.openids,
    )


def _bound(spec: CampaignSpec, room: int | None) -> int | None:
    """Fans today's quota takes when the campaign must not continue tomorrow (as ``filter_eligible``)."""
    if spec.continue_next_day or spec.kind is MessageKind.MASS:
        return None
    return room


def _count_eligible(
    engine: Engine,
    settings: AccountSettings,
    spec: CampaignSpec,
    run_key: str,
    now: datetime,
    openids: list[str],
    left_out: dict[str, int],
    room: int | None,
) -> int:
    rules = CS_RULES_BY_NAME[settings.cs_rules]
    facts = fan_facts(engine, settings.appid, openids, spec.kind, now)
    eligible = 0
    for openid in openids:
        reason = exclusion(spec.kind, facts[openid], now, rules)
        if reason is None and in_holdout(run_key, openid, spec.holdout_percent):
            reason = Reason.HOLDOUT
        if reason is None and room is not None and eligible >= room:
            reason = Reason.QUOTA_EXHAUSTED
        if reason is None:
            eligible += 1
        else:
            left_out[reason.value] = left_out.get(reason.value, 0) + 1
    return eligible


def _calls(spec: CampaignSpec, eligible: int, left_out: dict[str, int]) -> int:
    """A mass send to a whole tag or all followers is one ``sendall``; to a list, or with fans left out, one
    ``mass/send`` per 10,000; the other kinds one call per fan."""
    if spec.kind is not MessageKind.MASS:
        return eligible
    if not eligible:
        return 0
    if not spec.openids and not left_out:
        return 1
    return math.ceil(eligible / MASS_BATCH)


def _days(calls: int, room: int | None, quota: int | None, carries_on: bool) -> int:
    """Beijing days the calls need: today's room first, then a full quota a day."""
    if room is None or quota is None or calls <= room or not carries_on:
        return 1
    return 1 + math.ceil((calls - room) / quota)
