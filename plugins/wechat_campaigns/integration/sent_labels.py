"""The Sent page's words in English and Chinese, chosen by the browser's Accept-Language."""

from __future__ import annotations

import re

from ..domain.eligibility import CS_RULES_BY_NAME
from ..domain.errors import classify
from ..domain.verdict import MASS_ERRORS, err_code

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Sent messages",
        "account": "Account",
        "kind": "Kind",
        "tag": "Tag",
        "status": "Status",
        "from": "From",
        "to": "To",
        "filter": "Filter",
        "all": "All",
        "when": "Created (Beijing)",
        "name": "Campaign",
        "content": "Content",
        "audience_col": "Audience",
        "scheduled_for": "Scheduled for",
        "sent_at": "Sent",
        "fans": "Fans",
        "eligible": "Eligible",
        "sent": "Sent",
        "failed": "Failed",
        "unknown": "Unknown",
        "left_out": "Left out",
        "wechat": "WeChat reported",
        "delivered": "Delivered",
        "audience": "Audience",
        "funnel": "Funnel",
        "reasons": "Why fans were left out, refused or not reached",
        "reason": "Reason",
        "count": "Fans",
        "recipients": "Recipients",
        "search": "Search by openid",
        "export": "Export CSV",
        "airflow_run": "Open the Airflow run",
        "back": "All runs",
        "prev": "Previous",
        "next": "Next",
        "none": "No campaign runs match.",
        "no_recipients": "No recipients.",
        "errcode": "Errcode",
        "openid": "OpenID",
        "msg_id": "Msg id",
        "delivery": "Delivery",
        "error": "Problem",
        "lint": "Template check",
        "mass": "Mass",
        "customer_service": "Customer service",
        "template": "Template",
        "scheduled": "Scheduled, not sent yet",
        "sending": "Sending",
        "completed": "Completed",
        "partial": "Partly sent",
        "rejected": "Rejected",
        "dry_run": "Dry run",
        "cancelled": "Cancelled",
        "excluded": "left out",
        "planned": "planned",
        "not_delivered": "not delivered",
        "cs_rules": "Customer-service window rules",
        "wechat_jobs": "What WeChat reported of each mass job",
        "wechat_status": "WeChat's status",
        "total_count": "Targeted",
        "filter_count": "After WeChat's filter",
        "sent_count": "Sent by WeChat",
        "error_count": "Failed",
        "result": "Result",
        "not_reported": "Not reported yet",
        "pending": "pending",
        "refused": "Refused",
        "inline_text": "Text",
        "planned_fans": "Planned",
        "cancel": "Cancel this send",
        "cancel_confirm": "Cancel this scheduled send? Nothing will be sent to its fans.",
        "cancel_says": (
            "Cancelling ends the run in Airflow as success (Airflow 3.3 has no cancelled state), with a note of "
            "who cancelled it; its later steps show as skipped."
        ),
        "cancelled_by": "Cancelled by {by} at {at} (Beijing time), before its send time: nothing was sent.",
        "in_airflow": (
            "In Airflow this run shows as success with the note above; its waiting step is success and every "
            "later step skipped."
        ),
        "cannot_cancel": "This run can no longer be cancelled: it is not waiting for its send time any more.",
        "not_allowed_to_cancel": "Airflow does not allow you to change runs of this DAG, so the run was not cancelled.",
    },
    "zh": {
        "title": "已发送",
        "account": "公众号",
        "kind": "类型",
        "tag": "标签",
        "status": "状态",
        "from": "开始日期",
        "to": "结束日期",
        "filter": "筛选",
        "all": "全部",
        "when": "创建时间（北京）",
        "name": "活动",
        "content": "内容",
        "audience_col": "受众",
        "scheduled_for": "定时",
        "sent_at": "发送时间",
        "fans": "粉丝数",
        "eligible": "可发送",
        "sent": "已发送",
        "failed": "失败",
        "unknown": "未知",
        "left_out": "未发送",
        "wechat": "微信回报",
        "delivered": "已送达",
        "audience": "受众",
        "funnel": "发送漏斗",
        "reasons": "未发送、被拒或未送达的原因",
        "reason": "原因",
        "count": "人数",
        "recipients": "接收人",
        "search": "按 openid 搜索",
        "export": "导出 CSV",
        "airflow_run": "打开 Airflow 运行",
        "back": "全部记录",
        "prev": "上一页",
        "next": "下一页",
        "none": "没有符合条件的发送记录。",
        "no_recipients": "没有接收人。",
        "errcode": "错误码",
        "openid": "OpenID",
        "msg_id": "消息 ID",
        "delivery": "送达",
        "error": "问题",
        "lint": "模板检查",
        "mass": "群发",
        "customer_service": "客服消息",
        "template": "模板消息",
        "scheduled": "定时，尚未发送",
        "sending": "发送中",
        "completed": "已完成",
        "partial": "部分发送",
        "rejected": "已拒绝",
        "dry_run": "试运行",
        "cancelled": "已取消",
        "excluded": "未发送",
        "planned": "计划发送",
        "not_delivered": "未送达",
        "cs_rules": "客服消息窗口规则",
        "wechat_jobs": "微信对每个群发任务的回报",
        "wechat_status": "微信状态",
        "total_count": "目标人数",
        "filter_count": "过滤后人数",
        "sent_count": "发送成功",
        "error_count": "发送失败",
        "result": "结果",
        "not_reported": "尚未回报",
        "pending": "待发送",
        "refused": "拒绝原因",
        "inline_text": "文本",
        "planned_fans": "计划发送",
        "cancel": "取消这次发送",
        "cancel_confirm": "确定取消这次定时发送吗？将不会向任何粉丝发送。",
        "cancel_says": (
            "取消后，Airflow 会把这次运行标记为“成功”（Airflow 3.3 没有“已取消”状态），并注明由谁取消；"
            "之后的步骤显示为跳过。"
        ),
        "cancelled_by": "{by} 于 {at}（北京时间）在发送时间前取消，未发送任何消息。",
        "in_airflow": "在 Airflow 中，这次运行显示为“成功”，带有上面的备注；等待步骤为成功，之后的步骤均为跳过。",
        "cannot_cancel": "这次运行已无法取消：它已不在等待发送时间。",
        "not_allowed_to_cancel": "Airflow 不允许您修改这个 DAG 的运行，因此未取消。",
    },
}

# domain.eligibility.CS_RULES in Chinese, by name (English: each rule set's own words)
CS_RULES_ZH = {
    "2021-06": (
        "微信 2021 年 6 月的规则：粉丝发消息后 48 小时内可发 20 条，支付或维权后 48 小时内 20 条，"
        "点击菜单、关注或扫码后 1 分钟内 3 条"
    ),
    "2023-08": (
        "微信 2023 年 8 月起的规则：粉丝发消息后 48 小时内可发 5 条，点击菜单、关注或扫码后 1 分钟内 3 条；"
        "支付和维权不再开启窗口"
    ),
}

REASONS_ZH = {
    "monthly_cap": "本月已收满 4 条群发",
    "outside_48h": "不在 48 小时互动窗口内",
    "window_quota": "互动窗口内条数已用完",
    "opens_no_window": "支付或维权已不再开启客服窗口（微信 2023 年 8 月起的规则）",
    "unsubscribed": "已取消关注",
    "blocked": "拒收模板消息",
    "blacklisted": "已被拉黑",
    "refused_messages": "已关闭接收消息",
    "duplicate": "重复",
    "quota_exhausted": "当日额度已用完",
    "holdout": "对照组",
    "too_few_for_mass": "群发至少需要 2 人",
    "invalid_openid": "无效 openid",
    "render_error": "内容渲染失败",
    "content_too_long": "内容超过微信长度限制",
    "invalid_template_value": "模板字段不符合规则",
    "interrupted": "发送中断，结果未知",
    "no_answer": "无应答，结果未知",
    "user_block": "发送后用户拒收",
    "system_failed": "微信系统失败",
    "other": "其他原因",
    "mass_refused_by_admin": "管理员拒绝了群发（API 群发保护）",
    "mass_not_confirmed": "管理员 30 分钟内未确认群发（API 群发保护）",
    "mass_content_refused": "群发未通过微信审核",
    "mass_job_failed": "微信报告群发失败",
}

# WeChat's MASSSENDJOBFINISH statuses in Chinese (English: domain.verdict.MASS_ERRORS)
MASS_STATUS_ZH = {"send success": "发送成功", "send fail": "发送失败"}
MASS_ERRORS_ZH = {
    10001: "审核：涉嫌广告",
    20001: "审核：涉嫌政治",
    20002: "审核：涉嫌色情",
    20004: "审核：涉嫌社会",
    20006: "审核：涉嫌违法犯罪",
    20008: "审核：涉嫌欺诈",
    20013: "审核：涉嫌版权",
    21000: "审核：涉嫌其他",
    22000: "审核：涉嫌互推（互相宣传）",
    30001: "原创校验出现系统错误",
    30002: "原创校验：被判定为不能群发",
    30003: "原创校验：被判定为转载文章，且设置为停止群发",
    40001: "管理员拒绝了群发（API 群发保护）",
    40002: "管理员 30 分钟内未确认群发（API 群发保护）",
}


def language(accept_language: str | None) -> str:
    """``zh`` when the browser prefers Chinese, else ``en``."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = "zh" if tag.lower().startswith("zh") else "en" if tag.lower().startswith("en") else None
        if lang and q > best_q:
            best, best_q = lang, q
    return best


# English reasons read as their code with spaces, except where WeChat's word would puzzle a marketer.
REASONS_EN = {
    "blocked": "blocks template messages",
    "user_block": "refused templates after the send",
    "system_failed": "WeChat system failure",
    "opens_no_window": "a payment or complaint opens no window (WeChat's rules since August 2023)",
    "mass_refused_by_admin": "the administrator refused the mass send (API 群发保护)",
    "mass_not_confirmed": "no administrator confirmed the mass send within 30 minutes (API 群发保护)",
    "mass_content_refused": "WeChat's review refused the mass send",
    "mass_job_failed": "WeChat reported the mass job failed",
}


# How the history names a run's content and audience (domain.spec: "material text/welcome", "tag: vip"), in
# Chinese: the prefix said again, the name as it is.
_HISTORY_WORDS_ZH = {
    "material ": "素材 ",
    "template ": "模板 ",
    "news: ": "图文：",
    "tag: ": "标签：",
    "openids: ": "openid 列表：",
    "preview: ": "预览：",
}
_HISTORY_PHRASES_ZH = {"inline text": "文本", "all followers": "全部关注者"}


def history_words(text: str | None, lang: str) -> str:
    """A run's content or audience as the history names it, in the page's language."""
    if not text or lang != "zh":
        return text or ""
    if text in _HISTORY_PHRASES_ZH:
        return _HISTORY_PHRASES_ZH[text]
    for prefix, said in _HISTORY_WORDS_ZH.items():
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            return said + rest.replace(" test fans", " 名测试粉丝")
    return text


def reason_label(reason: str, lang: str) -> str:
    if lang == "zh":
        return REASONS_ZH.get(reason) or ERRORS_ZH.get(reason, reason)
    return REASONS_EN.get(reason, reason.replace("_", " "))


def mass_status_label(status: str | None, lang: str) -> str:
    """WeChat's status of a mass job as it came (``err(40001)``), with what it means in the page's language."""
    if not status:
        return ""
    code = err_code(status)
    if lang == "zh":
        meaning = MASS_ERRORS_ZH.get(code) if code is not None else MASS_STATUS_ZH.get(status)
    else:
        meaning = MASS_ERRORS.get(code) if code is not None else None
    return f"{status}: {meaning}" if meaning else status


def rules_said(name: str, lang: str) -> str:
    """A customer-service rule set in the page's language."""
    if lang == "zh":
        return CS_RULES_ZH.get(name, name)
    rules = CS_RULES_BY_NAME.get(name)
    return rules.said if rules else name


# Each kind of WeChat error (domain.errors, by its reason) in Chinese; an errcode not there is shown with
# WeChat's own text.
ERRORS_ZH = {
    "system_busy": "微信系统繁忙，稍后重试",
    "rate_limited": "已达每分钟接口调用上限，下一分钟重试",
    "retry_too_fast": "同一 clientmsgid 重试过快，至少等待 60 秒",
    "quota_exhausted": "当日接口调用额度已用完，明天再发",
    "no_mass_quota": "本期群发次数已用完",
    "token_invalid": "access_token 无效或已被替换",
    "token_expired": "access_token 已过期",
    "invalid_openid": "openid 不是本公众号的粉丝",
    "unsubscribed": "粉丝未关注公众号",
    "blacklisted": "粉丝在公众号黑名单中",
    "blocked": "粉丝拒收模板消息",
    "refused_messages": "粉丝已关闭接收公众号消息",
    "outside_48h": "客服消息窗口已关闭，或粉丝已取消关注",
    "window_quota": "本次互动窗口内的客服消息条数已用完",
    "invalid_media": "media_id 缺失、已过期或类型不对",
    "invalid_template": "模板 ID 不在本公众号中",
    "content_too_long": "内容超过微信长度限制",
    "title_too_long": "标题超过长度限制",
    "description_too_long": "描述超过长度限制",
    "too_many_articles": "客服图文消息只能有一篇文章",
    "template_limit": "公众号已有 25 个模板，达到上限",
    "author_too_long": "作者超过长度限制",
    "invalid_keyword": "模板关键词不在模板库中",
    "industry_change_limit": "本月已修改过所属行业",
    "invalid_template_value": "模板字段的值不符合关键词规则",
    "invalid_msg_id": "未知的群发 msg_id",
    "duplicate_clientmsgid": "这次群发已存在（按已发送计）",
    "invalid_grant_type": "grant_type 无效",
    "invalid_message_type": "消息类型无效",
    "invalid_appid": "AppID 错误",
    "invalid_secret": "AppSecret 错误",
    "ip_not_whitelisted": (
        "调用方 IP 不在接口白名单中：请把微信提示的地址（经代理时为代理的出口地址）加入 IP 白名单"
        "（公众平台：设置与开发 → 基本配置 → IP白名单）"
    ),
    "secret_frozen": "AppSecret 已被冻结",
    "invalid_openid_list": "openid 列表人数超出范围",
    "token_missing": "缺少 access_token",
    "empty_body": "请求内容为空",
    "empty_text": "文本内容为空",
    "clientmsgid_too_long": "clientmsgid 超过 64 字节",
    "invalid_speed": "群发速度缺失或超出 0 到 4 的范围",
    "bad_request_format": "JSON 或 XML 格式错误",
    "api_unauthorized": (
        "公众号没有调用这个接口的权限（不是 access_token 的问题）：请在公众平台检查账号类型、认证和接口权限"
        "（设置与开发 → 接口权限）"
    ),
    "api_forbidden": "这个接口已被封禁",
    "clear_quota_limit": "本月的额度清零次数已用完",
}

_STEP_FAILED = re.compile(r"\b([a-z_]+(?:\[\d+\])?) failed: ")
_WECHAT_ERROR = re.compile(r"WeChat (\S+) errcode (-?\d+): (.*?)(?: — .*?)?(\)?)$")
_RID = re.compile(r"\brid:\s*(\S+)")
_PARTIAL = re.compile(r"^([\d,]+) of ([\d,]+) sent; ([\d,]+) not sent: ([^(]*)")
_FIXED_ZH = [
    (re.compile(r"^cancelled before its send time$"), "在发送时间前已取消"),
    (
        re.compile(r"(\S+) did not finish \((\w+)\); its log in Airflow says why"),
        r"\1 未完成（\2），原因见 Airflow 中该步骤的日志",
    ),
    (re.compile(r"^([\d,]+) fans were not planned$"), r"\1 位粉丝未能完成计划"),
]


def error_text(error: str | None, lang: str) -> str:
    """A run's problem in the page's language. In Chinese, WeChat's errcodes read as what they mean (an
    errcode this product does not know: the code and WeChat's own text), with the step that failed and
    the usual sentences of the verdict; anything else (a refusal naming a field) stays as recorded."""
    text = error or ""
    if lang != "zh" or not text:
        return text
    text = _WECHAT_ERROR.sub(_wechat_error_zh, text)
    text = _STEP_FAILED.sub(r"\1 步骤失败：", text)
    text = _PARTIAL.sub(_partial_zh, text)
    for pattern, said in _FIXED_ZH:
        text = pattern.sub(said, text)
    return text


def _wechat_error_zh(found: re.Match[str]) -> str:
    path, code, said, close = found.group(1), int(found.group(2)), found.group(3), found.group(4)
    kind = classify(code)
    meaning = ERRORS_ZH.get(kind.reason) if kind.reason != "unknown_error" else None
    if meaning is None:
        return f"微信接口 {path} 返回错误码 {code}：{said}{close}"
    rid = _RID.search(said)
    return f"微信接口 {path} 返回错误码 {code}：{meaning}" + (f"（rid: {rid.group(1)}）" if rid else "") + close


def _partial_zh(found: re.Match[str]) -> str:
    sent, eligible, not_sent, why = found.groups()
    reasons = []
    for part in why.split(","):
        reason, _, n = part.strip().partition(" ×")
        reasons.append(f"{reason_label(reason, 'zh')} {n}" if n else reason_label(reason, "zh"))
    return f"已发送 {sent}/{eligible}；{not_sent} 位未发送：{'，'.join(reasons)} "
