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
from datetime import datetime, timedelta
from enum import StrEnum

from .spec import MessageKind

MASS_MONTHLY_CAP = 4  # mass messages a fan of a service account can receive per natural month


class Reason(StrEnum):
    """Why a fan was left out or not reached (the history's vocabulary)."""

    DUPLICATE = "duplicate"
    UNSUBSCRIBED = "unsubscribed"
    BLACKLISTED = "blacklisted"
    REFUSED_MESSAGES = "refused_messages"
    BLOCKED = "blocked"  # refuses template messages
    MONTHLY_CAP = "monthly_cap"
    OUTSIDE_48H = "outside_48h"  # no open customer-service window
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


# The current service-account rules (WeChat's customer-service message guide, 客服消息). Only "message"
# windows last 48 hours; a menu click, a follow or a QR scan lets the account answer 3 times within a minute.
KF_WINDOWS: Mapping[WindowClass, WindowRule] = {
    WindowClass.MESSAGE: WindowRule(timedelta(hours=48), 5),
    WindowClass.MENU: WindowRule(timedelta(minutes=1), 3),
    WindowClass.SUBSCRIBE: WindowRule(timedelta(minutes=1), 3),
    WindowClass.SCAN: WindowRule(timedelta(minutes=1), 3),
    WindowClass.PAYMENT: WindowRule(timedelta(hours=48), None),
    WindowClass.RIGHTS_COMPLAINT: WindowRule(timedelta(hours=48), 20),
}

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


def window_state(fan: FanFacts, now: datetime, rules: Mapping[WindowClass, WindowRule] = KF_WINDOWS) -> Reason | None:
    """None if a customer-service message may go out now; else why not."""
    open_windows = [
        (rules[cls], window)
        for cls, window in fan.windows.items()
        if window.opened_at <= now < window.opened_at + rules[cls].duration
    ]
    if not open_windows:
        return Reason.OUTSIDE_48H
    if all(rule.limit is not None and window.sent >= rule.limit for rule, window in open_windows):
        return Reason.WINDOW_QUOTA
    return None


def exclusion(kind: MessageKind, fan: FanFacts, now: datetime) -> Reason | None:
    """Why ``fan`` may not receive a ``kind`` message now, or None if they may."""
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
        return window_state(fan, now)
    return None


def in_holdout(run_key: str, openid: str, percent: float) -> bool:
    """A stable pick: the same fan is held out however often the task is retried."""
    if percent <= 0:
        return False
    digest = hashlib.blake2b(f"{run_key}:{openid}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 < percent * 100
