"""Sandbox time: real time plus an adjustable offset, with Asia/Shanghai calendar keys.

WeChat counts quotas in Beijing days and natural months, so every day/month boundary here is computed in
Asia/Shanghai, whatever the host's timezone. The keys are cached per day because they are looked up on
every API call.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0
        self._day: tuple[float, float, str, str] = (0.0, -1.0, "", "")  # start, end, day key, month key

    def now(self) -> float:
        return time.time() + self.offset

    def set(self, when: float) -> None:
        self.offset = when - time.time()

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0

    def _keys(self, ts: float) -> tuple[str, str]:
        start, end, day, month = self._day
        if start <= ts < end:
            return day, month
        local = datetime.fromtimestamp(ts, SHANGHAI)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        following = (midnight + timedelta(days=1, hours=2)).replace(hour=0)  # safe even if a day is not 24 h
        day, month = midnight.strftime("%Y-%m-%d"), midnight.strftime("%Y-%m")
        self._day = (midnight.timestamp(), following.timestamp(), day, month)
        return day, month

    def day_key(self, ts: float | None = None) -> str:
        return self._keys(self.now() if ts is None else ts)[0]

    def month_key(self, ts: float | None = None) -> str:
        return self._keys(self.now() if ts is None else ts)[1]

    def iso(self, ts: float | None = None) -> str:
        return iso(self.now() if ts is None else ts)


def iso(ts: float) -> str:
    """ISO 8601 in Beijing time, e.g. ``2026-11-30T23:59:00.000+08:00``."""
    return datetime.fromtimestamp(ts, SHANGHAI).isoformat(timespec="milliseconds")


def parse_time(value: str | float | int) -> float:
    """Epoch seconds from ISO 8601 (naive means Beijing time) or from a number of epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a time: {value!r}")
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    return parsed.timestamp()
