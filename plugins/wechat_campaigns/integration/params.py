"""The campaign trigger form: every field a marketer fills in, with its title and help text.

Airflow checks types when a run is triggered; ``domain.spec.parse_campaign`` checks meaning (and names the
field) when the run starts.
"""

from __future__ import annotations

from airflow.sdk import Param

from .accounts import account_conn_ids, account_names, default_account

AUDIENCE, CONTENT, TIMING = "Audience · 受众", "Content · 内容", "Timing and safety · 时间与安全"

CAMPAIGN_PARAMS = {
    "message_type": Param(
        "template",
        type="string",
        enum=["mass", "customer_service", "template"],
        values_display={
            "mass": "Mass message · 群发 (max 4 per fan per month)",
            "customer_service": "Customer-service message · 客服消息 (fans active in the last 48 h)",
            "template": "Template message · 模板消息 (verified service accounts)",
        },
        title="Message type · 消息类型",
        description="Which kind of WeChat message to send.",
    ),
    "wechat_conn_id": Param(
        default_account(),
        type="string",
        examples=account_conn_ids(),
        values_display=account_names(),
        title="Official Account · 公众号",
        description="The Airflow connection (type WeChat Official Account) of the account that sends.",
    ),
    "name": Param(
        None,
        type=["null", "string"],
        title="Campaign name · 活动名称",
        description="Shown in the Sent history. Optional.",
    ),
    "tag": Param(
        None,
        type=["null", "string"],
        title="Fan tag · 标签",
        description="Send to the fans with this tag (its name, as in the WeChat console). Empty = all followers.",
        section=AUDIENCE,
    ),
    "openids": Param(
        [],
        type=["null", "array"],
        items={"type": "string"},
        title="OpenIDs · 指定粉丝",
        description="Instead of a tag: the fans' openids, one per line.",
        section=AUDIENCE,
    ),
    "holdout_percent": Param(
        0,
        type="number",
        minimum=0,
        maximum=99,
        title="Control group % · 对照组",
        description="Keep this share of the audience back (chosen at random, stable per run) to measure lift.",
        section=AUDIENCE,
    ),
    "material": Param(
        None,
        type=["null", "string"],
        title="Material · 素材",
        description="A material from the library, e.g. `text/welcome` (include/materials/text/welcome.yaml).",
        section=CONTENT,
    ),
    "text": Param(
        None,
        type=["null", "string"],
        format="multiline",
        title="Text · 文字",
        description="Or type the text here. Customer-service texts may use fan attributes: `{{ name }}`.",
        section=CONTENT,
    ),
    "news": Param(
        None,
        type=["null", "object"],
        title="News item · 图文",
        description='Or a one-article news item: {"title": "...", "url": "https://...", "digest": "...", '
        '"cover": "news/media/winter_cover.jpg"} (the cover is a file of the material library).',
        section=CONTENT,
    ),
    "template_id": Param(
        None,
        type=["null", "string"],
        title="Template ID · 模板ID",
        description="For template messages: the template's ID in this account.",
        section=CONTENT,
    ),
    "template_data": Param(
        {},
        type=["null", "object"],
        title="Template fields · 模板内容",
        description='Each template field and its value, e.g. {"thing1": "双十一会员日", "time2": "2026-11-11 20:00"}. '
        "Values may use fan attributes: {{ name }}.",
        section=CONTENT,
    ),
    "template_strict": Param(
        False,
        type="boolean",
        title="Strict template check · 严格校验",
        description="Refuse values WeChat would alter (cut after 20 characters, strip emoji or line breaks), "
        "not only values it would reject.",
        section=CONTENT,
    ),
    "url": Param(
        None,
        type=["null", "string"],
        title="Link · 跳转链接",
        description="Template messages: the page a fan opens by tapping the message.",
        section=CONTENT,
    ),
    "send_at": Param(
        None,
        type=["null", "string"],
        format="date-time",
        title="Send at · 定时发送",
        description="Empty = now. A time without an offset is Beijing time. Mark the run failed to cancel.",
        section=TIMING,
    ),
    "dry_run": Param(
        None,
        type=["null", "boolean"],
        title="Dry run · 试运行",
        description="Work out the audience, the exclusions and every fan's message, but send nothing. "
        "Left empty: a dry run for mass sends to all followers, a real send otherwise.",
        section=TIMING,
    ),
    "confirm_large_send": Param(
        False,
        type="boolean",
        title="Confirm a large send · 确认大规模发送",
        description="Sends to more fans than the account's confirmation threshold (default 10,000) stop before "
        "sending unless this is ticked.",
        section=TIMING,
    ),
    "preview_openids": Param(
        [],
        type=["null", "array"],
        items={"type": "string"},
        title="Preview to · 预览",
        description="Send only to these test fans (mass messages go out as a preview).",
        section=TIMING,
    ),
    "continue_next_day": Param(
        True,
        type="boolean",
        title="Continue tomorrow · 次日继续",
        description="When a daily quota runs out, continue after Beijing midnight (else leave the rest out).",
        section=TIMING,
    ),
    "resend_unknown": Param(
        False,
        type="boolean",
        title="Re-send unknown · 重发未知",
        description="Customer-service fans whose send got no answer may or may not have the message; "
        "tick to send them again.",
        section=TIMING,
    ),
}
