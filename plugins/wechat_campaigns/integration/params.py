"""The campaign trigger form: every field a marketer fills in, with its title and help text.

Airflow checks types when a run is triggered; ``domain.spec.parse_campaign`` checks meaning (and names the
field) when the run starts. Airflow's form shows every field whatever the message type, so each hint starts
with the types it is for, and the fields of one type share a section. Hints hold English and Chinese in one
text: the form shows a field's description as it is, in every language.
"""

from __future__ import annotations

from airflow.sdk import Param

from ..library import materials_dir
from .accounts import account_conn_ids, account_names, default_account

ALL = "All message types · 所有类型"
MASS_CS = "Mass and customer-service messages · 群发与客服消息"
TEMPLATE = "Template messages · 模板消息"
CS = "Customer-service messages · 客服消息"

AUDIENCE = "Audience · 受众"
CONTENT = "Content: mass and customer service · 内容：群发与客服"
TEMPLATE_CONTENT = "Template message · 模板消息"
TIMING = "Timing and safety · 时间与安全"
MATERIAL_KINDS = ("text", "news", "image", "voice", "video")


def hint(kinds: str, english: str, chinese: str) -> str:
    return f"{kinds} — {english} {chinese}"


def library_materials() -> list[str]:
    """The material library's names (``text/welcome``), read from its folder when the DAG is parsed: file
    names only, no database. Offered as suggestions, not a closed list, so that a material added since the
    DAG was last parsed can be sent at once (validate checks that it exists)."""
    root = materials_dir()
    names = {
        f"{kind}/{path.stem}"
        for kind in MATERIAL_KINDS
        if (root / kind).is_dir()
        for path in (root / kind).iterdir()
        if path.suffix in {".yaml", ".yml", ".json"} and path.is_file()
    }
    return sorted(names)


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
        description=hint(
            ALL,
            "Which kind of WeChat message to send; then fill in the sections for that kind.",
            "要发送的消息类型；然后填写该类型对应的分区。",
        ),
    ),
    "wechat_conn_id": Param(
        default_account(),
        type="string",
        examples=account_conn_ids(),
        values_display=account_names(),
        title="Official Account · 公众号",
        description=hint(ALL, "The account that sends.", "发送消息的公众号。"),
    ),
    "name": Param(
        None,
        type=["null", "string"],
        title="Campaign name · 活动名称",
        description=hint(ALL, "Shown in the Sent history. Optional.", "显示在已发送记录中，可不填。"),
    ),
    "tag": Param(
        None,
        type=["null", "string"],
        title="Fan tag · 标签",
        description=hint(
            ALL,
            "Send to the fans with this tag (its name, as in the WeChat console). Empty = all followers.",
            "发送给带此标签的粉丝（标签名，与公众号后台一致）。留空 = 全部关注者。",
        ),
        section=AUDIENCE,
    ),
    "openids": Param(
        [],
        type=["null", "array"],
        items={"type": "string"},
        title="OpenIDs · 指定粉丝",
        description=hint(
            ALL, "Instead of a tag: the fans' openids, one per line.", "或不用标签：粉丝的 openid，每行一个。"
        ),
        section=AUDIENCE,
    ),
    "holdout_percent": Param(
        0,
        type="number",
        minimum=0,
        maximum=99,
        title="Control group % · 对照组",
        description=hint(
            ALL,
            "Keep this share of the audience back (chosen at random, stable per run) to measure lift.",
            "随机留出这一比例的受众不发送，用于衡量效果。",
        ),
        section=AUDIENCE,
    ),
    "material": Param(
        None,
        type=["null", "string"],
        examples=library_materials(),
        title="Material · 素材",
        description=hint(
            MASS_CS,
            "A material of the library: pick one from the list, or type to filter.",
            "素材库中的素材：从列表中选择，或输入名称筛选。",
        ),
        section=CONTENT,
    ),
    "text": Param(
        None,
        type=["null", "string"],
        format="multiline",
        title="Text · 文字",
        description=hint(
            MASS_CS,
            "Or type the text here. Customer-service texts may use fan attributes: {{ name }}.",
            "或直接输入文字。客服消息可使用粉丝属性，如 {{ name }}。",
        ),
        section=CONTENT,
    ),
    "news": Param(
        None,
        type=["null", "object"],
        title="News item · 图文",
        description=hint(
            MASS_CS,
            'Or a one-article news item: {"title": "...", "url": "https://...", "digest": "...", "cover": "..."};'
            " the cover is an image of the material library.",
            "或单篇图文；封面为素材库中的图片。",
        ),
        section=CONTENT,
    ),
    "template_id": Param(
        None,
        type=["null", "string"],
        title="Template ID · 模板ID",
        description=hint(
            TEMPLATE,
            "The template's ID in this account (a wrong one is refused with the account's templates listed).",
            "本公众号的模板 ID（填错时会列出本账号的模板）。",
        ),
        section=TEMPLATE_CONTENT,
    ),
    "template_data": Param(
        {},
        type=["null", "object"],
        title="Template fields · 模板内容",
        description=hint(
            TEMPLATE,
            'Each template field and its value, e.g. {"thing1": "双十一会员日", "time2": "2026-11-11 20:00"}. '
            "Values may use fan attributes: {{ name }}.",
            "每个模板字段及其内容；内容可使用粉丝属性。",
        ),
        section=TEMPLATE_CONTENT,
    ),
    "template_strict": Param(
        False,
        type="boolean",
        title="Strict template check · 严格校验",
        description=hint(
            TEMPLATE,
            "Refuse values WeChat would alter (cut after 20 characters, strip emoji or line breaks), "
            "not only values it would reject.",
            "微信会改动的内容（超过 20 字被截断、表情或换行被去掉）也拒绝发送。",
        ),
        section=TEMPLATE_CONTENT,
    ),
    "url": Param(
        None,
        type=["null", "string"],
        title="Link · 跳转链接",
        description=hint(TEMPLATE, "The page a fan opens by tapping the message.", "粉丝点击消息后打开的网页。"),
        section=TEMPLATE_CONTENT,
    ),
    "send_at": Param(
        None,
        type=["null", "string"],
        format="date-time",
        title="Send at · 定时发送",
        description=hint(
            ALL,
            "Empty = now. A time without an offset is Beijing time. To cancel, press Cancel on the run's Sent page.",
            "留空 = 立即发送；不带时区的时间按北京时间。取消：在“已发送”页面该次运行上点击“取消”。",
        ),
        section=TIMING,
    ),
    "dry_run": Param(
        None,
        type=["null", "boolean"],
        title="Dry run · 试运行",
        description=hint(
            ALL,
            "Work out the audience, the exclusions and every fan's message, but send nothing. "
            "Left empty: a dry run for mass sends to all followers, a real send otherwise.",
            "计算受众、排除原因和每位粉丝的消息，但不发送。留空：群发给全部关注者时试运行，其他情况正常发送。",
        ),
        section=TIMING,
    ),
    "confirm_large_send": Param(
        False,
        type="boolean",
        title="Confirm a large send · 确认大规模发送",
        description=hint(
            ALL,
            "Sends to more fans than the account's confirmation threshold (default 10,000) stop before "
            "sending unless this is ticked.",
            "超过账号确认阈值（默认 10,000 人）的发送，不勾选则在发送前停止。",
        ),
        section=TIMING,
    ),
    "preview_openids": Param(
        [],
        type=["null", "array"],
        items={"type": "string"},
        title="Preview to · 预览",
        description=hint(
            ALL,
            "Send only to these test fans (mass messages go out as WeChat's preview).",
            "只发给这些测试粉丝（群发消息以微信预览发送）。",
        ),
        section=TIMING,
    ),
    "continue_next_day": Param(
        True,
        type="boolean",
        title="Continue tomorrow · 次日继续",
        description=hint(
            ALL,
            "When a daily quota runs out, continue after Beijing midnight (else leave the rest out).",
            "当日额度用完后，北京时间零点后继续发送（否则其余粉丝不再发送）。",
        ),
        section=TIMING,
    ),
    "resend_unknown": Param(
        False,
        type="boolean",
        title="Re-send unknown · 重发未知",
        description=hint(
            CS,
            "Fans whose send got no answer may or may not have the message; tick to send them again.",
            "发送后未收到应答的粉丝可能已收到也可能未收到；勾选则重新发送。",
        ),
        section=TIMING,
    ),
}
