"""The Sent page's words in English and Chinese, chosen by the browser's Accept-Language."""

from __future__ import annotations

from ..domain.eligibility import CS_RULES_BY_NAME
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
    "user_block": "refused templates after the send",
    "system_failed": "WeChat system failure",
    "opens_no_window": "a payment or complaint opens no window (WeChat's rules since August 2023)",
    "mass_refused_by_admin": "the administrator refused the mass send (API 群发保护)",
    "mass_not_confirmed": "no administrator confirmed the mass send within 30 minutes (API 群发保护)",
    "mass_content_refused": "WeChat's review refused the mass send",
    "mass_job_failed": "WeChat reported the mass job failed",
}


def reason_label(reason: str, lang: str) -> str:
    if lang == "zh":
        return REASONS_ZH.get(reason, reason)
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
