"""The operators that may wait for a new quota day: sending a slice of a campaign, syncing an audience.

They are operators rather than TaskFlow functions because they must be able to defer: when a daily quota
runs out they defer to the next Beijing midnight (the triggerer waits; no worker slot is held) and then
carry on where they stopped — the store knows who is still pending and where a sync's cursor stands.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from ..campaigns.audience_sync import AudienceSync
from ..campaigns.run import QuotaWait
from ..campaigns.sending import CampaignStopped, run_content, send_slice
from ..domain.errors import WeChatTransportError
from ..domain.plan import SendSlice
from ..store.db import engine_for
from .hook import WeChatHook, ready_store
from .tasks import campaign_run, record_failure, run_key


class _WaitsForQuota(BaseOperator):
    """Runs ``work``; on QuotaWait defers until the quota day turns, then runs ``work`` again."""

    def work(self, context: Any) -> Any:
        raise NotImplementedError

    def execute(self, context: Any) -> Any:
        try:
            return self.work(context)
        except QuotaWait as wait:
            self.log.info("%s; deferring", wait)
            self.defer(trigger=DateTimeTrigger(moment=wait.until), method_name="resume")

    def resume(self, context: Any, event: Any = None) -> Any:
        return self.execute(context)


class WeChatSendOperator(_WaitsForQuota):
    """Send one slice of a campaign run's batches (see ``domain.plan``)."""

    template_fields = ("send_slice",)
    ui_color = "#07c160"  # WeChat green

    def __init__(self, *, send_slice: dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.send_slice = send_slice
        # Mapped, this runs when the task starts, with its slice: the timeout fits the slice's size.
        timeout = send_slice.get("timeout_seconds") if isinstance(send_slice, dict) else None
        if timeout and self.execution_timeout is None:
            self.execution_timeout = timedelta(seconds=timeout)

    def work(self, context: Any) -> dict[str, int]:
        part = SendSlice(**self.send_slice)
        run = campaign_run(context, send_task=True)
        try:
            done = send_slice(run, run_content(run), part)
        except QuotaWait:
            raise  # not a failure: the task waits for the next quota day
        except Exception as exc:
            record_failure(context, f"send[{part.index}]", exc)  # the history's verdict quotes it
            if isinstance(exc, CampaignStopped):
                raise AirflowFailException(f"WeChat refused the campaign: {exc}") from exc
            if isinstance(exc, WeChatTransportError) and not exc.retryable:  # e.g. a certificate not trusted
                raise AirflowFailException(str(exc)) from exc
            raise
        finally:
            run.close()
        self.log.info("slice %s/%s done: %s", part.index + 1, part.count, done)
        return done


class WeChatSyncAudienceOperator(_WaitsForQuota):
    """Sync one account's tags, followers, fan details, tag members and templates into the store."""

    template_fields = ("wechat_conn_id",)
    ui_color = "#95ec69"

    def __init__(self, *, wechat_conn_id: str = "wechat_default", **kwargs: Any):
        super().__init__(**kwargs)
        self.wechat_conn_id = wechat_conn_id

    def work(self, context: Any) -> dict[str, int]:
        hook = WeChatHook(self.wechat_conn_id)
        sync = AudienceSync(hook.settings.appid, hook.client, engine_for(ready_store()), hook.settings)
        counts = sync.run(sync_id=run_key(context)[-64:])
        self.log.info("audience of %s synced: %s", self.wechat_conn_id, counts)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {"appid": sync.appid, **counts}
        return counts
