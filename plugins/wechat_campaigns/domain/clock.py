"""WeChat counts days and months in Beijing time; so do we, whatever the server's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def in_shanghai(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined Beijing day; attach a time zone")
    return moment.astimezone(SHANGHAI)


def shanghai_day(moment: datetime) -> str:
    """``YYYY-MM-DD`` of the Beijing calendar day (daily quotas)."""
    return in_shanghai(moment).strftime("%Y-%m-%d")


def shanghai_month(moment: datetime) -> str:
    """``YYYY-MM`` of the Beijing calendar month (the 4-mass-messages-per-fan cap)."""
    return in_shanghai(moment).strftime("%Y-%m")


def month_start(moment: datetime) -> datetime:
    local = in_shanghai(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(moment: datetime) -> datetime:
    """The first Beijing midnight of the next month, when monthly allowances start again."""
    return (month_start(moment) + timedelta(days=32)).replace(day=1)


def next_midnight(moment: datetime) -> datetime:
    """The next Beijing midnight, when daily quotas start again."""
    local = in_shanghai(moment)
    return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def parse_local_datetime(value: str) -> datetime:
    """ISO 8601; a value without an offset is Beijing time (what a marketer in China means)."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment
