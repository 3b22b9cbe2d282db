"""Who may receive a campaign, and why not.

Every fan left out keeps a reason the history shows. The rules use only what we know of a fan the way
WeChat lets us know it (API answers, callbacks, syncs, a data engineer's imports); WeChat may still filter
fans for reasons it does not tell us (e.g. mass messages sent from the web console), and reports those only
in aggregate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from .clock import next_midnight, next_month_start
from .spec import MessageKind

MASS_MONTHLY_CAP = 4  # mass messages a fan of a service account can receive per natural month
TO_ALL_MONTHLY_CAP = 4  # sends to all followers (is_to_all) a service account may make per natural month
TO_ALL_DAILY_CAP = 1  # and per Beijing day (the service-account guide; the account's to_all_once_a_day setting)


class Reason(StrEnum):
    """Why a fan was left out or not reached (the history's vocabulary)."""

    DUPLICATE = "duplicate"
    UNSUBSCRIBED = "unsubscribed"
    BLACKLISTED = "blacklisted"
    REFUSED_MESSAGES = "refused_messages"
    BLOCKED = "blocked"  # refuses template messages
    MONTHLY_CAP = "monthly_cap"
    OUTSIDE_48H = "outside_48h"  # no open customer-service window
    OPENS_NO_WINDOW = "opens_no_window"  # only a payment or a complaint, which open none under today's rules
    WINDOW_QUOTA = "window_quota"  # window open, but its message allowance is used up
    QUOTA_EXHAUSTED = "quota_exhausted"
    HOLDOUT = "holdout"  # kept back as the control group
    TOO_FEW_FOR_MASS = "too_few_for_mass"  # mass/send needs at least two fans


class WindowClass(StrEnum):
    """Interactions that open a customer-service window, grouped as WeChat counts them."""

    MESSAGE = "message"
    MENU = "menu"
    SUBSCRIBE = "subscribe"
    SCAN = "scan"
    PAYMENT = "payment"
    RIGHTS_COMPLAINT = "rights_complaint"


@dataclass(frozen=True)
class WindowRule:
    duration: timedelta
    limit: int | None  # messages we may send inside the window; None = no limit


@dataclass(frozen=True)
class WindowRules:
    """WeChat's customer-service rules from the day they came into force: which interactions open a window,
    for how long and for how many messages. An interaction of a class not listed opens none."""

    name: str  # what an account's cs_rules setting names
    in_force_from: date
    said: str  # the rule in words, for the history and the Sent page
    windows: Mapping[WindowClass, WindowRule]


_A_MINUTE_OF_THREE = WindowRule(timedelta(minutes=1), 3)  # a menu click, a follow or a QR scan
CS_RULES: tuple[WindowRules, ...] = (
    WindowRules(
        "2021-06",
        date(2021, 6, 1),
        "WeChat's rules of June 2021: a fan's message opens 20 messages in 48 h, a payment or a rights complaint "
        "20 in 48 h, a menu click, a follow or a QR scan 3 in 1 minute",
        {
            WindowClass.MESSAGE: WindowRule(timedelta(hours=48), 20),
            WindowClass.MENU: _A_MINUTE_OF_THREE,
            WindowClass.SUBSCRIBE: _A_MINUTE_OF_THREE,
            WindowClass.SCAN: _A_MINUTE_OF_THREE,
            WindowClass.PAYMENT: WindowRule(timedelta(hours=48), 20),
            WindowClass.RIGHTS_COMPLAINT: WindowRule(timedelta(hours=48), 20),
        },
    ),
    # WeChat's announcement of 30 May 2023, rolled out by August 2023; the service-account customer-service
    # API page lists these four openings only.
    WindowRules(
        "2023-08",
        date(2023, 8, 1),
        "WeChat's rules since August 2023: a fan's message opens 5 messages in 48 h, a menu click, a follow or a "
        "QR scan 3 in 1 minute; a payment or a rights complaint opens none",
        {
            WindowClass.MESSAGE: WindowRule(timedelta(hours=48), 5),
            WindowClass.MENU: _A_MINUTE_OF_THREE,
            WindowClass.SUBSCRIBE: _A_MINUTE_OF_THREE,
            WindowClass.SCAN: _A_MINUTE_OF_THREE,
        },
    ),
)
CURRENT_CS_RULES = max(CS_RULES, key=lambda rules: rules.in_force_from)
CS_RULES_BY_NAME: Mapping[str, WindowRules] = {rules.name: rules for rules in CS_RULES}
KF_WINDOWS = CURRENT_CS_RULES.windows
# How far back an interaction may still open a window under some rule set (what the store reads).
LONGEST_WINDOW = max(rule.duration for rules in CS_RULES for rule in rules.windows.values())

# Interaction kinds as callbacks and imports name them -> the window they open. VIEW (link menu) and
# LOCATION reports open none.
INTERACTION_WINDOWS: Mapping[str, WindowClass] = {
    **{kind: WindowClass.MESSAGE for kind in ("text", "image", "voice", "video", "shortvideo", "location", "link")},
    **{kind: WindowClass.MENU for kind in ("click", "scancode_push", "scancode_waitmsg")},
    "subscribe": WindowClass.SUBSCRIBE,
    "subscribe_qr": WindowClass.SUBSCRIBE,
    "scan": WindowClass.SCAN,
    "payment": WindowClass.PAYMENT,
    "rights_complaint": WindowClass.RIGHTS_COMPLAINT,
}


@dataclass(frozen=True)
class Window:
    opened_at: datetime
    sent: int = 0  # customer-service messages we sent the fan since it opened


@dataclass(frozen=True)
class FanFacts:
    openid: str
    subscribed: bool | None = None  # None: we have not heard either way
    blocks_templates: bool = False
    blacklisted: bool = False
    refuses_messages: bool = False
    mass_this_month: int = 0  # mass messages received this Beijing month (ours + imported)
    windows: Mapping[WindowClass, Window] = field(default_factory=dict)


def window_state(fan: FanFacts, now: datetime, rules: WindowRules = CURRENT_CS_RULES) -> Reason | None:
    """None if a customer-service message may go out now; else why not."""
    open_windows = [
        (rules.windows[cls], window)
        for cls, window in fan.windows.items()
        if cls in rules.windows and window.opened_at <= now < window.opened_at + rules.windows[cls].duration
    ]
    if not open_windows:
        counted_once = any(cls not in rules.windows for cls in fan.windows)  # e.g. a payment, before 2023-08
        return Reason.OPENS_NO_WINDOW if counted_once else Reason.OUTSIDE_48H
    if all(rule.limit is not None and window.sent >= rule.limit for rule, window in open_windows):
        return Reason.WINDOW_QUOTA
    return None


def exclusion(
    kind: MessageKind, fan: FanFacts, now: datetime, cs_rules: WindowRules = CURRENT_CS_RULES
) -> Reason | None:
    """Why ``fan`` may not receive a ``kind`` message now, or None if they may (customer-service windows by
    ``cs_rules``)."""
    if fan.subscribed is False:
        return Reason.UNSUBSCRIBED
    if fan.blacklisted:
        return Reason.BLACKLISTED
    if fan.refuses_messages:
        return Reason.REFUSED_MESSAGES
    if kind is MessageKind.MASS and fan.mass_this_month >= MASS_MONTHLY_CAP:
        return Reason.MONTHLY_CAP
    if kind is MessageKind.TEMPLATE and fan.blocks_templates:
        return Reason.BLOCKED
    if kind is MessageKind.CUSTOMER_SERVICE:
        return window_state(fan, now, cs_rules)
    return None


def to_all_wait(now: datetime, today: int, this_month: int, once_a_day: bool) -> tuple[datetime, str] | None:
    """When the account may next send to all followers and why not now, given its sends to all today and this
    month (Beijing calendar); None when it may now."""
    if this_month >= TO_ALL_MONTHLY_CAP:
        why = f"{this_month} sends to all followers this month, WeChat allows {TO_ALL_MONTHLY_CAP} a natural month"
        return next_month_start(now), why
    if once_a_day and today >= TO_ALL_DAILY_CAP:
        return next_midnight(now), "a send to all followers today already, WeChat allows one a Beijing day"
    return None


def when_mass_quota_returns(now: datetime, subscription: bool, to_all: bool, once_a_day: bool) -> datetime:
    """WeChat answered 45028 (no mass-send quota): when the limit that was hit lifts. A subscription account
    has one mass send a day. A service account's send to all was checked against our own count of the month
    before it went out, so with the daily rule on it met that (someone sent to all from the console today):
    the next Beijing day; without it, or for a tag's send, the month: the next month."""
    if subscription or (to_all and once_a_day):
        return next_midnight(now)
    return next_month_start(now)


def in_holdout(run_key: str, openid: str, percent: float) -> bool:
    """A stable pick: the same fan is held out however often the task is retried."""
    if percent <= 0:
        return False
    digest = hashlib.blake2b(f"{run_key}:{openid}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 < percent * 100
