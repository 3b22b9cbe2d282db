"""Properties of the rules that must hold for every audience and every moment (hypothesis)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wechat_campaigns.domain.clock import SHANGHAI, next_midnight, shanghai_day, shanghai_month
from wechat_campaigns.domain.eligibility import (
    CS_RULES,
    MASS_MONTHLY_CAP,
    FanFacts,
    Window,
    WindowClass,
    exclusion,
)
from wechat_campaigns.domain.plan import MASS_BATCH, PER_FAN_BATCH, batch_count, batch_of, owns, slices
from wechat_campaigns.domain.spec import MessageKind

# Moments clustered around the ends of Beijing months and days, where UTC and Beijing disagree.
BOUNDARIES = [datetime(2026, m, 1, tzinfo=SHANGHAI) for m in range(1, 13)] + [datetime(2027, 1, 1, tzinfo=SHANGHAI)]
moments = st.builds(
    lambda base, offset: base + timedelta(seconds=offset),
    st.sampled_from(BOUNDARIES),
    st.integers(min_value=-3 * 86_400, max_value=3 * 86_400),
)


@given(fans=st.integers(min_value=2, max_value=60_000), kind=st.sampled_from(list(MessageKind)))
@settings(max_examples=150, deadline=None)
def test_every_fan_in_exactly_one_batch_and_batches_within_limits(fans, kind):
    batches = batch_count(kind, fans)
    size = MASS_BATCH if kind is MessageKind.MASS else PER_FAN_BATCH
    sizes = Counter(batch_of(position, fans, batches) for position in range(fans))
    assert sum(sizes.values()) == fans  # no fan lost, none counted twice
    assert set(sizes) == set(range(batches))  # no empty batch
    assert max(sizes.values()) <= size
    if kind is MessageKind.MASS:
        assert min(sizes.values()) >= 2  # mass/send takes at least two openids


@given(batches=st.integers(min_value=0, max_value=5_000), max_slices=st.integers(min_value=1, max_value=16))
def test_every_batch_belongs_to_exactly_one_slice(batches, max_slices):
    parts = slices("run", batches, "per_fan", max_slices)
    assert len(parts) <= max_slices
    for batch in range(batches):
        assert sum(owns(part["index"], part["count"], batch) for part in parts) == 1


@given(st.lists(moments, min_size=1, max_size=40))
def test_no_fan_gets_more_than_four_mass_messages_in_a_beijing_month(attempts):
    received: list[datetime] = []
    for now in sorted(attempts):
        this_month = sum(1 for at in received if shanghai_month(at) == shanghai_month(now))
        if exclusion(MessageKind.MASS, FanFacts("o" * 28, mass_this_month=this_month), now) is None:
            received.append(now)
    per_month = Counter(shanghai_month(at) for at in received)
    assert all(n <= MASS_MONTHLY_CAP for n in per_month.values())
    # and the cap is not stricter than WeChat's: a month with fewer than 4 refused no attempt
    for month, n in per_month.items():
        attempted = sum(1 for at in attempts if shanghai_month(at) == month)
        assert n == min(attempted, MASS_MONTHLY_CAP)


@given(st.lists(moments, min_size=1, max_size=60), st.integers(min_value=1, max_value=5))
def test_a_daily_quota_is_never_exceeded_in_a_beijing_day(calls, quota):
    used: Counter = Counter()
    for now in sorted(calls):
        if used[shanghai_day(now)] < quota:
            used[shanghai_day(now)] += 1
        else:  # waiting for the quota means waiting for the next Beijing midnight, which is a new day
            resume = next_midnight(now)
            assert shanghai_day(resume) != shanghai_day(now) and resume > now
            assert resume.astimezone(SHANGHAI).time().isoformat() == "00:00:00"
    assert max(used.values()) <= quota


windows = st.dictionaries(
    st.sampled_from(list(WindowClass)),
    st.tuples(st.integers(min_value=0, max_value=4 * 86_400), st.integers(min_value=0, max_value=30)),
)


@given(windows, st.sampled_from(BOUNDARIES), st.sampled_from(CS_RULES))
def test_customer_service_goes_out_only_inside_an_open_window_with_allowance(opened, now, rules):
    """Under every rule set: only an interaction the set counts opens a window (today's: not a payment)."""
    fan = FanFacts(
        "o" * 28,
        windows={cls: Window(now - timedelta(seconds=ago), sent) for cls, (ago, sent) in opened.items()},
    )
    allowed = exclusion(MessageKind.CUSTOMER_SERVICE, fan, now, rules) is None
    has_room = any(
        cls in rules.windows
        and ago < rules.windows[cls].duration.total_seconds()
        and (rules.windows[cls].limit is None or sent < rules.windows[cls].limit)
        for cls, (ago, sent) in opened.items()
    )
    assert allowed == has_room


@given(moments)
def test_beijing_day_and_month_agree_with_the_calendar_in_shanghai(moment):
    local = moment.astimezone(SHANGHAI)
    assert shanghai_day(moment.astimezone(UTC)) == local.date().isoformat()
    assert shanghai_month(moment.astimezone(UTC)) == local.strftime("%Y-%m")
