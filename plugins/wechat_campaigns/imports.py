"""A data engineer's files about fans, for what WeChat does not tell an account by API.

CSV with a header row (UTF-8); every error names the file, line and column, and a file with any error
imports nothing.

- **receipts** — mass messages fans received outside this product (e.g. sent from the WeChat web console),
  counted against the 4-per-month cap: ``openid,received_at[,receipt_id]``.
- **interactions** — actions that open the customer-service window and reached another system (payments,
  rights complaints, or callbacks received elsewhere): ``openid,kind,at[,event_id]``.
- **fans** — attributes for personalised texts: ``openid`` and any other columns (``name``, ``city``, ``points``…).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from .domain.clock import parse_local_datetime
from .domain.eligibility import INTERACTION_WINDOWS
from .domain.spec import OPENID
from .store.fans import add_interactions, add_receipts, upsert_fans

MAX_ROWS_PER_WRITE = 5_000


class BadImportFile(ValueError):
    """A bad line in an import file."""


@dataclass(frozen=True)
class ImportResult:
    rows: int
    added: int


def import_receipts(engine: Engine, appid: str, path: Path) -> ImportResult:
    rows = _rows(path, ["openid", "received_at"], _receipt)
    add_receipts(engine, appid, rows)
    return ImportResult(len(rows), len(rows))


def import_interactions(engine: Engine, appid: str, path: Path) -> ImportResult:
    rows = _rows(path, ["openid", "kind", "at"], _interaction)
    return ImportResult(len(rows), add_interactions(engine, appid, rows))


def import_fans(engine: Engine, appid: str, path: Path) -> ImportResult:
    rows = _rows(path, ["openid"], _fan)
    for start in range(0, len(rows), MAX_ROWS_PER_WRITE):
        upsert_fans(engine, appid, rows[start : start + MAX_ROWS_PER_WRITE])
    return ImportResult(len(rows), len(rows))


def _rows(path: Path, required: list[str], convert: Callable[[dict[str, str]], dict[str, Any]]) -> list[dict]:
    """Every row converted, or BadImportFile for the first bad one (so nothing is half-imported)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in required if name not in (reader.fieldnames or [])]
        if missing:
            raise BadImportFile(f"{path.name}: missing column(s) {', '.join(missing)} (header: {reader.fieldnames})")
        converted = []
        for line, record in enumerate(reader, start=2):
            try:
                converted.append(convert(record))
            except ValueError as exc:
                raise BadImportFile(f"{path.name} line {line}: {exc}") from None
    return converted


def _openid(record: dict[str, str]) -> str:
    openid = (record.get("openid") or "").strip()
    if not OPENID.match(openid):
        raise ValueError(f"openid: {openid!r} is not an openid (28 letters, digits, _ or -)")
    return openid


def _moment(record: dict[str, str], column: str) -> float:
    value = (record.get(column) or "").strip()
    try:
        return parse_local_datetime(value).timestamp()
    except ValueError:
        raise ValueError(f"{column}: {value!r} is not an ISO date-time (Beijing time when no offset)") from None


def _receipt(record: dict[str, str]) -> dict[str, Any]:
    openid, at = _openid(record), _moment(record, "received_at")
    key = (record.get("receipt_id") or "").strip() or hashlib.sha1(f"{openid}:{at}".encode()).hexdigest()  # noqa: S324
    return {"openid": openid, "received_at": at, "receipt_key": f"import:{key}"[:96], "source": "import"}


def _interaction(record: dict[str, str]) -> dict[str, Any]:
    openid, at = _openid(record), _moment(record, "at")
    kind = (record.get("kind") or "").strip()
    if kind not in INTERACTION_WINDOWS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(sorted(INTERACTION_WINDOWS))}")
    event = (record.get("event_id") or "").strip() or f"{openid}:{kind}:{int(at)}"
    return {"openid": openid, "kind": kind, "at": at, "source": "import", "dedupe_key": f"import:{event}"[:128]}


def _fan(record: dict[str, str]) -> dict[str, Any]:
    openid = _openid(record)
    attributes = {key: value for key, value in record.items() if key and key != "openid" and value not in (None, "")}
    return {"openid": openid, "attributes": attributes}
