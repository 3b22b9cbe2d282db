"""One worker process of an account: sends template messages with its own client and the shared store.

python -m tests.integration.token_worker JSON   ->  prints {"sent": n, "errors": [...]}
"""

from __future__ import annotations

import json
import sys
import time

from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE
from wechat_campaigns.domain.errors import WeChatError
from wechat_campaigns.store.tokens import SqlTokenCache
from wechat_campaigns.wechat.client import WeChatClient


def main() -> None:
    args = json.loads(sys.argv[1])
    client = WeChatClient(
        args["appid"], args["secret"], base_url=args["base_url"], token_cache=SqlTokenCache(args["store_url"])
    )
    time.sleep(max(0.0, args["start_at"] - time.time()))  # all workers start together
    sent, errors = 0, []
    for openid in args["openids"]:
        try:
            client.send_template(openid, STANDARD_TEMPLATE, ORDER_PAID, client_msg_id=f"tok-{openid}")
            sent += 1
        except WeChatError as exc:
            errors.append(exc.errcode)
    print(json.dumps({"sent": sent, "errors": errors, "fetches": client.tokens.fetches}))


if __name__ == "__main__":
    main()
