"""Sandbox time: set, advance, and the Asia/Shanghai month boundary for the mass caps."""

from __future__ import annotations

import time
from datetime import datetime

from .conftest import assert_error

TEXT = {"msgtype": "text", "text": {"content": "月末促销"}}


def test_set_advance_and_read(sandbox):
    now = sandbox.set_clock("2026-11-30T23:59:00+08:00")
    assert now.startswith("2026-11-30T23:59:00") and now.endswith("+08:00")
    assert sandbox.advance_clock(120).startswith("2026-12-01T00:01:00")
    assert sandbox.clock().startswith("2026-12-01T00:01")
    assert sandbox.set_clock("2026-01-01T00:00:00Z").startswith("2026-01-01T08:00:00")  # shown in Beijing time
    sandbox.reset()
    assert abs(datetime.fromisoformat(sandbox.clock()).timestamp() - time.time()) < 5


def test_month_boundary_resets_the_monthly_caps(service_account, sandbox):
    fans = service_account.openids
    sandbox.update_account(service_account.appid, to_all_daily_limit=0)  # the monthly rules alone, on one day
    sandbox.set_clock("2026-11-30T23:59:00+08:00")
    sandbox.add_fans(service_account.appid, [{"openid": fans[0], "mass_received_this_month": 4}])
    for n in range(4):
        assert (
            service_account.call(
                "/cgi-bin/message/mass/sendall", {"filter": {"is_to_all": True}, **TEXT, "clientmsgid": f"nov-{n}"}
            )["errcode"]
            == 0
        )
    over = service_account.call("/cgi-bin/message/mass/sendall", {"filter": {"is_to_all": True}, **TEXT})
    assert_error(over, 45028)
    assert service_account.inbox(fans[0]) == []  # at the 4/month cap all November
    assert len(service_account.inbox(fans[1])) == 4
    sandbox.advance_clock(120)  # 2026-12-01T00:01+08:00 (still 30 November in UTC)
    answer = service_account.call("/cgi-bin/message/mass/send", {"touser": fans, **TEXT, "clientmsgid": "dec-1"})
    assert answer["errcode"] == 0
    assert len(service_account.inbox(fans[0])) == 1 and len(service_account.inbox(fans[1])) == 5
    dec_all = service_account.call("/cgi-bin/message/mass/sendall", {"filter": {"is_to_all": True}, **TEXT})
    assert dec_all["errcode"] == 0
    assert service_account.inbox(fans[1])[-1]["at"].startswith("2026-12-01T00:01")


def test_mass_jobs_finish_when_the_clock_moves(service_account, sandbox):
    sandbox.update_account(service_account.appid, mass_finish_delay=3600)
    msg_id = service_account.call("/cgi-bin/message/mass/send", {"touser": service_account.openids, **TEXT})["msg_id"]
    assert service_account.call("/cgi-bin/message/mass/get", {"msg_id": msg_id})["msg_status"] == "SENDING"
    sandbox.advance_clock(3601)
    assert service_account.call("/cgi-bin/message/mass/get", {"msg_id": msg_id})["msg_status"] == "SEND_SUCCESS"
