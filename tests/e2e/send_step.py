"""Run a campaign's steps outside Airflow, so a test can SIGKILL one mid-batch like a lost worker.

    python -m tests.e2e.send_step STEP JSON

STEP is ``prepare`` (validate, resolve, filter, plan) or ``send`` (every slice) or ``history``; JSON carries
``run_key``, ``conf``, ``store_url``, ``base_url``, ``appid``, ``secret``. The functions are the ones the DAG's
tasks call; only the Airflow context is missing.
"""

from __future__ import annotations

import json
import sys

from wechat_campaigns.campaigns import audience, summary, validation
from wechat_campaigns.campaigns.run import CampaignRun, utcnow
from wechat_campaigns.campaigns.sending import run_content, send_slice
from wechat_campaigns.domain.account import AccountSettings
from wechat_campaigns.domain.plan import SendSlice
from wechat_campaigns.domain.spec import parse_campaign
from wechat_campaigns.store.db import upgrade
from wechat_campaigns.store.tokens import SqlTokenCache
from wechat_campaigns.wechat.client import WeChatClient


def campaign_run(args: dict) -> CampaignRun:
    upgrade(args["store_url"])

    def client() -> WeChatClient:
        cache = SqlTokenCache(args["store_url"])
        return WeChatClient(args["appid"], args["secret"], base_url=args["base_url"], token_cache=cache)

    return CampaignRun(
        run_key=args["run_key"],
        spec=parse_campaign(args["conf"], utcnow()),
        settings=AccountSettings(appid=args["appid"]),
        store_url=args["store_url"],
        make_client=client,
    )


def prepare(run: CampaignRun) -> list[dict]:
    validation.validate(run)
    counts = audience.resolve_audience(run)
    audience.filter_eligible(run)
    return audience.plan_batches(run, counts, max_slices=2)


def send(run: CampaignRun, slices: list[dict]) -> None:
    content = run_content(run)
    for part in slices:
        send_slice(run, content, SendSlice(**part))


def main() -> None:
    step, args = sys.argv[1], json.loads(sys.argv[2])
    run = campaign_run(args)
    if step == "prepare":
        print(json.dumps(prepare(run)))
    elif step == "send":
        send(run, args["slices"])
    elif step == "history":
        print(json.dumps(summary.write_history(run, None)))


if __name__ == "__main__":
    main()
