"""Template messages: their fields, WeChat's rules for the values, and the declarative template file.

Since 2023-05-04 WeChat shows no ``first``/``remark`` lines and no colours, strips emoji, removes line breaks
and cuts ``thing`` values after 20 characters; values that break their keyword's type (a ``number`` that is
not a number, Chinese in a ``character_string``, ...) are refused with 47003. ``lint`` tells which of a
campaign's values WeChat would change or refuse, before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\.DATA\s*\}\}")
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]")
_CHINESE = re.compile(r"[\u4e00-\u9fff]")
_TIME = re.compile(
    r"^(\d{4}[-/年.]\d{1,2}[-/月.]\d{1,2}日?\s*)?(\d{1,2}[:：]\d{2}(:\d{2})?)?"
    r"(\s*[~～-]\s*(\d{4}[-/年.]\d{1,2}[-/月.]\d{1,2}日?\s*)?(\d{1,2}[:：]\d{2}(:\d{2})?)?)?$"
)
_DATE = re.compile(r"^\d{4}[-/年.]\d{1,2}[-/月.]\d{1,2}日?(\s*[~～-]\s*\d{4}[-/年.]\d{1,2}[-/月.]\d{1,2}日?)?$")
_AMOUNT = re.compile(r"^[¥￥$€£]?\d{1,10}(\.\d{1,2})?元?$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_PHONE = re.compile(r"^[\d+\-\s()]{1,17}$")
HIDDEN_FIELDS = ("first", "remark")
THING_MAX = 20


def template_fields(content: str) -> list[str]:
    """The data keys a template shows, in order (``thing1``, ``time2``, ...)."""
    seen: list[str] = []
    for name in _PLACEHOLDER.findall(content or ""):
        if name not in seen:
            seen.append(name)
    return seen


def keyword_type(field: str) -> str:
    """``thing12`` -> ``thing``; legacy fields (``keyword1``) have no type."""
    return re.sub(r"\d+$", "", field)


@dataclass(frozen=True)
class Finding:
    field: str
    severity: str  # "refused" (WeChat answers 47003) | "changed" (WeChat alters it) | "ignored" (not shown)
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def lint(data: Mapping[str, str]) -> list[Finding]:
    """What WeChat would do to each value of ``data`` (rendered values, or literal ones)."""
    findings: list[Finding] = []
    for field, value in data.items():
        findings.extend(lint_value(field, value))
    return findings


@lru_cache(maxsize=65_536)  # a campaign lints the same few values for many fans
def lint_value(field: str, value: str) -> tuple[Finding, ...]:
    if field in HIDDEN_FIELDS:
        return (Finding(field, "ignored", "WeChat no longer shows first/remark lines (since 2023-05-04)"),)
    findings = []
    if "\n" in value or "\r" in value:
        findings.append(Finding(field, "changed", "line breaks are removed"))
        value = re.sub(r"[\r\n]+", "", value)
    if _EMOJI.search(value):
        findings.append(Finding(field, "changed", "emoji are removed"))
        value = _EMOJI.sub("", value)
    if not value.strip():
        return (*findings, Finding(field, "refused", "is empty"))
    problem = _type_problem(keyword_type(field), value.strip())
    if problem:
        severity, message = problem
        findings.append(Finding(field, severity, message))
    return tuple(findings)


def _type_problem(kind: str, value: str) -> tuple[str, str] | None:
    n = len(value)
    if kind not in _TYPE_RULES:
        return (
            ("changed", f"{n} characters; WeChat shows {THING_MAX} and cuts the rest with …") if n > THING_MAX else None
        )
    ok, rule = _TYPE_RULES[kind]
    return None if ok(value) else ("refused", f"{value!r} is refused (47003): a {kind} value {rule}")


def _name_ok(value: str) -> bool:
    if _CHINESE.search(value):
        return len(value) <= 10
    return len(value) <= 20


# keyword type -> (does WeChat take the value, the rule in words); "thing", "const" and unknown types take any
# text and cut it at THING_MAX characters.
_TYPE_RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "number": (lambda v: bool(_NUMBER.match(v)) and len(v) <= 32, "must be a number of up to 32 digits"),
    "letter": (lambda v: v.isascii() and v.isalpha() and len(v) <= 32, "must be up to 32 letters"),
    "symbol": (lambda v: len(v) <= 5 and not any(c.isalnum() for c in v), "must be up to 5 symbols"),
    "character_string": (
        lambda v: len(v) <= 32 and not _CHINESE.search(v),
        "must be up to 32 digits, letters or symbols",
    ),
    "time": (
        lambda v: bool(_TIME.match(v)) and any(c.isdigit() for c in v),
        "must be a time like 2026-12-01 20:00",
    ),
    "date": (lambda v: bool(_DATE.match(v)), "must be a date like 2026-12-01"),
    "amount": (lambda v: bool(_AMOUNT.match(v)), "must be an amount like ¥39.80 or 39.80元 (up to 10 digits)"),
    "phone_number": (lambda v: bool(_PHONE.match(v)), "must be a phone number of up to 17 digits"),
    "car_number": (lambda v: len(v) <= 8, "must be a car plate of up to 8 characters"),
    "name": (_name_ok, "must be a name of up to 10 Chinese characters or 20 letters"),
    "phrase": (lambda v: len(v) <= 5 and all(_CHINESE.match(c) for c in v), "must be up to 5 Chinese characters"),
}


# -- the declarative template file (include/materials/templates/<conn_id>.yaml) ----------------------------

MAX_TEMPLATES = 25


class InvalidTemplateFile(ValueError):
    def __init__(self, file: str, field: str, message: str):
        self.file, self.field = file, field
        super().__init__(f"{file}: {field}: {message}")


@dataclass(frozen=True)
class DeclaredTemplate:
    short_id: str
    keywords: tuple[str, ...]
    delete: bool = False


@dataclass(frozen=True)
class TemplatePlan:
    industry: tuple[str, str] | None
    templates: tuple[DeclaredTemplate, ...]


def parse_template_file(file: str, data: Any) -> TemplatePlan:
    if not isinstance(data, Mapping):
        raise InvalidTemplateFile(file, "file", "must hold a mapping with industry and templates")
    unknown = sorted(set(data) - {"industry", "templates", "description"})
    if unknown:
        raise InvalidTemplateFile(file, unknown[0], "unknown key (a template file has industry, templates)")
    industry = data.get("industry")
    if industry is not None:
        if not isinstance(industry, Sequence) or isinstance(industry, str) or len(industry) != 2:
            raise InvalidTemplateFile(file, "industry", "must be the two industry codes, e.g. [1, 31]")
        for code in industry:
            if not str(code).isdigit() or not 1 <= int(code) <= 41:
                raise InvalidTemplateFile(file, "industry", f"{code!r} is not an industry code from 1 to 41")
        industry = (str(industry[0]), str(industry[1]))
    declared = []
    for i, item in enumerate(data.get("templates") or []):
        at = f"templates[{i}]"
        if not isinstance(item, Mapping) or not str(item.get("short_id") or "").strip():
            raise InvalidTemplateFile(file, f"{at}.short_id", "each template needs the short id from the library")
        extra = sorted(set(item) - {"short_id", "keywords", "delete", "description"})
        if extra:
            message = "unknown key (a template has short_id, keywords, delete)"
            raise InvalidTemplateFile(file, f"{at}.{extra[0]}", message)
        keywords = item.get("keywords") or []
        if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
            raise InvalidTemplateFile(file, f"{at}.keywords", "must list keyword names, e.g. [商品名称, 支付金额]")
        declared.append(DeclaredTemplate(str(item["short_id"]), tuple(keywords), bool(item.get("delete", False))))
    return TemplatePlan(industry, tuple(declared))
