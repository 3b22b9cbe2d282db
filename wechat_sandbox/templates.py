"""Template messages: the built-in template library, keyword value rules and rendering.

Since 2023-05-04 WeChat shows no ``first``/``remark`` lines and no colours, deletes emoji, and truncates
over-long ``thing`` values with "…" instead of rejecting them; the other keyword types reject a bad value
with 47003. The rules below follow the category-template table in the reference (§4.2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from .errors import ApiError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.DATA\s*\}\}")
IGNORED_KEYS = frozenset({"first", "remark"})
THING_MAX = 20

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{_CJK}]")
# Emoji and the joiners/selectors that build them; WeChat deletes them from template values.
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d\u20e3\U000e0020-\U000e007f]")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_LETTER = re.compile(r"[A-Za-z]{1,32}")
_SYMBOL = re.compile(r"[^\w\s]{1,5}")
_AMOUNT = re.compile(r"(?:[¥￥$€£]|[A-Z]{3})?\s?[+-]?(\d+)(?:\.(\d{1,2}))?元?")
_PHONE = re.compile(r"\+?[\d][\d\- ()]*")
_CAR = re.compile(f"[{_CJK}A-Za-z0-9·]{{1,8}}")
_NAME_CN = re.compile(f"[{_CJK}·]{{1,10}}")
_NAME_EN = re.compile(r"[A-Za-z][A-Za-z .'-]{0,19}")
_PHRASE = re.compile(f"[{_CJK}]{{1,5}}")
_DATE = (
    r"(?:(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]|(?P<y2>\d{4})[-/.](?P<m2>\d{1,2})[-/.](?P<d2>\d{1,2}))"
)
_TIME = r"(?P<H>\d{1,2})[:：](?P<M>\d{2})(?:[:：](?P<S>\d{2}))?"
_DATETIME = re.compile(f"(?:{_DATE})?\\s*(?:{_TIME})?")


def _valid_point(text: str, need_date: bool) -> bool:
    match = _DATETIME.fullmatch(text.strip())
    if not match or not text.strip():
        return False
    parts = match.groupdict()
    month, day = parts["m"] or parts["m2"], parts["d"] or parts["d2"]
    if need_date and not month:
        return False
    if month and not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return False
    if parts["H"] is not None:
        return int(parts["H"]) <= 23 and int(parts["M"]) <= 59 and int(parts["S"] or 0) <= 59
    return bool(month)


def _valid_time(value: str, need_date: bool = False) -> bool:
    """A time or date, or a range ``A~B`` of them (the right side may omit the date)."""
    pieces = re.split(r"\s*[~～至]\s*", value)
    if len(pieces) > 2:
        return False
    return _valid_point(pieces[0], need_date) and all(_valid_point(p, False) for p in pieces[1:])


def _amount(value: str) -> bool:
    match = _AMOUNT.fullmatch(value)
    return match is not None and len(match.group(1)) + len(match.group(2) or "") <= 10


def _number(value: str) -> bool:
    return bool(_NUMBER.fullmatch(value)) and sum(c.isdigit() for c in value) <= 32


# keyword type -> predicate on the (emoji-stripped) value; ``thing`` is truncated instead
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "number": _number,
    "letter": lambda v: bool(_LETTER.fullmatch(v)),
    "symbol": lambda v: bool(_SYMBOL.fullmatch(v)),
    "character_string": lambda v: len(v) <= 32 and not _HAS_CJK.search(v),
    "time": _valid_time,
    "date": lambda v: _valid_time(v, need_date=True),
    "amount": _amount,
    "phone_number": lambda v: len(v) <= 17 and bool(_PHONE.fullmatch(v)),
    "car_number": lambda v: bool(_CAR.fullmatch(v)),
    "name": lambda v: bool(_NAME_CN.fullmatch(v) or _NAME_EN.fullmatch(v)),
    "phrase": lambda v: bool(_PHRASE.fullmatch(v)),
    "const": lambda v: len(v) <= 20,
}
KEYWORD_TYPES = (*VALIDATORS, "thing")


def keyword_type(key: str) -> str:
    """``thing1`` -> ``thing``, ``character_string12`` -> ``character_string``."""
    return key.rstrip("0123456789")


def placeholders(content: str) -> list[str]:
    """Keys shown to the fan, in order (first/remark are no longer shown)."""
    keys: list[str] = []
    for key in PLACEHOLDER.findall(content):
        if key not in IGNORED_KEYS and key not in keys:
            keys.append(key)
    return keys


def clean_value(key: str, raw: Any) -> str:
    """What the fan sees for one keyword; raises 47003 for an empty or invalid value."""
    value = raw.get("value") if isinstance(raw, dict) else raw
    if value is None:
        raise ApiError(47003, f"argument invalid! data.{key}.value is empty")
    text = _EMOJI.sub("", str(value)).replace("\r", "").replace("\n", " ").strip()
    if not text:
        raise ApiError(47003, f"argument invalid! data.{key}.value is empty")
    kind = keyword_type(key)
    if kind == "thing":
        return text if len(text) <= THING_MAX else text[: THING_MAX - 1] + "…"
    check = VALIDATORS.get(kind)
    if check is not None and not check(text):
        raise ApiError(47003, f"argument invalid! data.{key}.value invalid")
    return text


def render(content: str, keys: list[str], data: Any) -> dict[str, str]:
    """Validated values for every key of the template (missing ones are 47003 "is empty")."""
    if not isinstance(data, dict):
        data = {}
    return {key: clean_value(key, data.get(key)) for key in keys}


def rendered_text(content: str, values: dict[str, str]) -> str:
    """The message body as the fan reads it: lines with first/remark dropped, placeholders filled."""
    lines = []
    for line in content.split("\n"):
        keys = PLACEHOLDER.findall(line)
        if keys and all(k in IGNORED_KEYS for k in keys):
            continue
        lines.append(PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), line))
    return "\n".join(lines).strip("\n")


@cache
def _data() -> dict[str, Any]:
    text = resources.files("wechat_sandbox").joinpath("data/templates.json").read_text("utf-8")
    return json.loads(text)


def industries() -> dict[str, list[str]]:
    return _data()["industries"]


def library() -> dict[str, dict[str, Any]]:
    return _data()["library"]


def from_library(short_id: str, keyword_names: list[str]) -> tuple[dict[str, Any], str, str]:
    """(library entry, content, example) for api_add_template; 40037 unknown id, 40246 bad keyword."""
    entry = library().get(str(short_id))
    if entry is None:
        raise ApiError(40037, "invalid template_id_short")
    by_name = {k["name"]: k for k in entry["keywords"]}
    names = list(keyword_names) or [k["name"] for k in entry["keywords"]]
    if len(set(names)) != len(names):
        raise ApiError(40246, "keyword name invalid: duplicated")
    content_lines, example_lines = [], []
    for index, name in enumerate(names, start=1):
        keyword = by_name.get(name)
        if keyword is None:
            raise ApiError(40246, f"keyword name invalid: {name}")
        content_lines.append(f"{name}:{{{{{keyword['type']}{index}.DATA}}}}")
        example_lines.append(f"{name}:{keyword.get('example', '')}")
    return entry, "\n".join(content_lines), "\n".join(example_lines)
