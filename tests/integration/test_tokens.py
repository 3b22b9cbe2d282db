"""One access token per account, shared by every worker through the store (docs/architecture.md, *The access token*)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from tests.fixtures.sandbox import make_standard_account
from wechat_campaigns.store.tokens import SqlTokenCache

WORKERS, PER_WORKER = 4, 25


def start_workers(account, store_url, openids, start_in=2.0):
    start_at = time.time() + start_in
    chunks = [openids[i::WORKERS] for i in range(WORKERS)]
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.token_worker",
                json.dumps(
                    {
                        "appid": account.appid,
                        "secret": account.secret,
                        "base_url": account.base_url,
                        "store_url": store_url,
                        "openids": chunk,
                        "start_at": start_at,
                    }
                ),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for chunk in chunks
    ]


def results(workers):
    outputs = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        outputs.append(json.loads(out))
    return outputs


@pytest.fixture
def crowd(sandbox):
    fans = [{"openid": f"oTokenFan{i:019d}"} for i in range(WORKERS * PER_WORKER)]
    return make_standard_account(sandbox, fans=fans)


def test_workers_starting_together_fetch_one_token(crowd, any_store_url):
    outputs = results(start_workers(crowd, any_store_url, crowd.openids))
    assert sum(o["sent"] for o in outputs) == WORKERS * PER_WORKER
    assert sum(o["fetches"] for o in outputs) == 1
    stats = crowd.admin.stats(crowd.appid)
    assert stats["calls"]["/cgi-bin/stable_token"] == 1
    assert set(crowd.admin.inbox_counts(crowd.appid).values()) == {1}
    assert SqlTokenCache(any_store_url).refreshes(crowd.appid) == 1


def test_an_invalidated_token_is_replaced_once_without_a_failed_send(crowd, any_store_url):
    crowd.admin.faults([{"endpoint": "/cgi-bin/message/template/send", "latency_ms": 30}])
    workers = start_workers(crowd, any_store_url, crowd.openids, start_in=1.0)

    def invalidate_midway():
        while sum(crowd.admin.inbox_counts(crowd.appid).values()) < WORKERS * PER_WORKER // 3:
            time.sleep(0.01)
        crowd.admin.invalidate_tokens(crowd.appid)

    killer = threading.Thread(target=invalidate_midway)
    killer.start()
    outputs = results(workers)
    killer.join()
    assert [o["errors"] for o in outputs] == [[]] * WORKERS
    assert set(crowd.admin.inbox_counts(crowd.appid).values()) == {1}
    assert len(crowd.admin.inbox_counts(crowd.appid)) == WORKERS * PER_WORKER
    stats = crowd.admin.stats()
    assert stats["errors"].get("40001", 0) >= 1  # the invalidation really hit the workers
    assert crowd.admin.stats(crowd.appid)["calls"]["/cgi-bin/stable_token"] == 2  # first fetch + one replacement
