"""The Sent page (已发送): the campaign history in the Airflow UI, and its JSON API.

Served by the API server at ``/wechat/sent/`` and shown in the UI's navigation (an external view). Every
route needs an Airflow login — the UI's session cookie or a Bearer token — and answers 401 without one.

- ``/wechat/sent/`` — runs, newest first, filterable by account, kind, tag, status and date;
- ``/wechat/sent/run?key=…`` — one run: funnel, reasons, what WeChat reported of each mass job, recipients
  (paged, searchable by openid), a link to the Airflow run; ``/wechat/sent/run.csv?key=…`` exports its recipients;
- ``/wechat/sent/cancel`` (POST, ``key``) — the run page's *Cancel* of a scheduled send (see run_states.py);
- ``/wechat/sent/api/runs`` and ``/wechat/sent/api/run?key=…`` (``&recipients=1``) — the same as JSON.

A browser without a session that asks for a page is sent to the auth manager's login, which brings it back.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..campaigns.sent import (
    RECIPIENT_FIELDS,
    can_cancel,
    cancel_note,
    cancelled,
    delivery,
    delivery_reasons,
    display_status,
    funnel,
    mass_jobs,
    not_delivered_reason,
    reasons,
    recipient,
)
from ..campaigns.summary import record_cancelled
from ..domain.clock import parse_local_datetime
from ..store import history, ledger
from .pages import READER, DagReader, airflow_as_user, beijing_time, page_app, same_origin, store_engine, templates
from .run_states import AirflowRefused, airflow_states, state_of
from .sent_labels import LABELS, error_text, history_words, language, mass_status_label, reason_label, rules_said

PAGE_SIZE = 50
SENT_PREFIX = "/wechat/sent"  # where wechat_plugin.py mounts this app
MAX_PAGE = 100_000  # 5 million rows at 50 a page: past any run's end, far below what the database chokes on

app = page_app("WeChat sent messages", SENT_PREFIX)


def _filters(account, kind, tag, status, date_from, date_to) -> dict[str, Any]:
    def epoch(value: str | None, days: int = 0) -> float | None:
        if not value:
            return None
        try:
            return (parse_local_datetime(value) + timedelta(days=days)).timestamp()
        except (ValueError, OverflowError):  # not a date, or a day past the calendar's end (9999-12-31)
            raise HTTPException(400, f"{value!r} is not a date like 2026-11-24") from None

    return {
        "conn_id": account,
        "kind": kind,
        "tag": tag,
        "status": status if status not in ("cancelled",) else None,
        "created_from": epoch(date_from),
        "created_to": epoch(date_to, days=1) if date_to and "T" not in date_to else epoch(date_to),
    }


def _run_list(filters: dict[str, Any], page: int, status: str | None, reader: DagReader) -> list[dict[str, Any]]:
    filters = {**filters, "dag_ids": sorted(reader.readable(set(history.dag_ids(store_engine()))))}
    rows = history.list_runs(store_engine(), limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE, filters=filters)
    states = airflow_states(rows)
    for row in rows:
        row["display_status"] = display_status(row, state_of(row, states))
    if status == "cancelled":
        rows = [row for row in rows if row["display_status"] == "cancelled"]
    return rows


def _run_view(key: str, reader: DagReader) -> dict[str, Any]:
    row = history.get_run(store_engine(), key)
    if row is None or not reader.readable({row.get("dag_id") or ""}):  # not told apart: no hint that it exists
        raise HTTPException(404, f"no campaign run {key!r}")
    finished = bool(row.get("counts"))
    live_status, live_reasons = ({}, {}) if finished else ledger.counts(store_engine(), key)
    reported = ledger.delivery_counts(store_engine(), key) if row.get("kind") == "template" else {}
    row["display_status"] = display_status(row, state_of(row, airflow_states([row])))
    if reported:
        row["delivery"] = delivery(reported)
    return {
        "run": row,
        "can_cancel": can_cancel(row["display_status"]),
        "cancelled": cancelled(row),
        "funnel": funnel(row, live_status, row["delivery"]["delivered"] if reported else None),
        "reasons": sorted(reasons(row, live_reasons) + delivery_reasons(reported), key=lambda r: -r["count"]),
        "cs_rules": (row.get("counts") or {}).get("cs_rules"),
        "mass_jobs": mass_jobs(history.mass_jobs_of(store_engine(), key)) if row.get("kind") == "mass" else [],
        "airflow_url": f"/dags/{quote(row.get('dag_id') or '')}/runs/{quote(row.get('dag_run_id') or '', safe='')}",
    }


def _recipients(key: str, page: int, openid: str | None, status: str | None) -> list[dict[str, Any]]:
    rows = ledger.recipients_page(
        store_engine(), key, offset=page * PAGE_SIZE, limit=PAGE_SIZE + 1, openid=openid or None, status=status or None
    )
    return [recipient(row) for row in rows]


def _delivery_label(status: str | None, words: dict[str, str], lang: str) -> str:
    """A recipient's delivery as WeChat reported it, in the marketer's words (never WeChat's raw text)."""
    if not status:
        return ""
    if status == "success":
        return words["delivered"]
    text = f"{words['not_delivered']}: {reason_label(not_delivered_reason(status), lang)}"
    return text[:1].upper() + text[1:]


def _context(request: Request, **values: Any) -> dict[str, Any]:
    lang = language(request.headers.get("accept-language"))
    words = LABELS[lang]
    return {
        "request": request,
        "lang": lang,
        "t": words,
        "label": lambda key: words.get(key, key),
        "why": lambda reason: reason_label(reason, lang),
        "said": lambda text: history_words(text, lang),
        "rules_said": lambda name: rules_said(name, lang),
        "mass_status": lambda status: mass_status_label(status, lang),
        "delivery_label": lambda status: _delivery_label(status, words, lang),
        "error_text": lambda error: error_text(error, lang),
        "when": beijing_time,
        "quote": lambda value: quote(str(value), safe=""),
        **values,
    }


# -- HTML ----------------------------------------------------------------------------------------------------


@app.get("/", response_class=HTMLResponse)
async def sent_list(
    request: Request,
    account: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    date_from: str | None = Query(None, alias="from"),
    date_to: str | None = Query(None, alias="to"),
    page: int = Query(0, ge=0, le=MAX_PAGE),
    reader: DagReader = READER,
) -> Any:
    filters = _filters(account, kind, tag, status, date_from, date_to)
    rows = await run_in_threadpool(_run_list, filters, page, status, reader)
    accounts = await run_in_threadpool(history.accounts, store_engine())
    chosen = {"account": account, "kind": kind, "tag": tag, "status": status, "from": date_from, "to": date_to}
    return templates.TemplateResponse(
        request,
        "sent_list.html",
        _context(
            request, runs=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, page=page, chosen=chosen, accounts=accounts
        ),
    )


@app.get("/run", response_class=HTMLResponse)
async def sent_run(
    request: Request,
    key: str,
    openid: str | None = None,
    status: str | None = None,
    page: int = Query(0, ge=0, le=MAX_PAGE),
    cancel_refused: str | None = None,
    reader: DagReader = READER,
) -> Any:
    view = await run_in_threadpool(_run_view, key, reader)
    recipients = await run_in_threadpool(_recipients, key, page, openid, status)
    return templates.TemplateResponse(
        request,
        "sent_run.html",
        _context(
            request,
            **view,
            key=key,
            recipients=recipients[:PAGE_SIZE],
            more=len(recipients) > PAGE_SIZE,
            page=page,
            openid=openid or "",
            recipient_status=status or "",
            cancel_refused=cancel_refused if cancel_refused in ("moved_on", "forbidden") else None,
        ),
    )


@app.post("/cancel")
async def cancel_run(request: Request, key: str = Form(...), reader: DagReader = READER) -> Response:
    """The run page's *Cancel*: a scheduled run still waiting for its send time ends as success in Airflow,
    with a note of who cancelled it and when, through Airflow's REST API as the user (see run_states.py).
    Back to the run page, which says why when Airflow or the run's state refused."""
    same_origin(request)
    view = await run_in_threadpool(_run_view, key, reader)  # 404 for a run the user may not read
    refused = await _cancel(request, view["run"], view["can_cancel"], key, reader.user.get_name())
    return RedirectResponse(
        f"run?key={quote(key, safe='')}" + (f"&cancel_refused={refused}" if refused else ""), status_code=303
    )


async def _cancel(request: Request, run: dict[str, Any], allowed: bool, key: str, user: str) -> str | None:
    """None once cancelled; else why not: ``moved_on`` (no longer waiting) or ``forbidden`` (Airflow's 403)."""
    airflow = airflow_as_user(request)
    try:
        if not allowed or not await run_in_threadpool(airflow.still_waiting, run["dag_id"], run["dag_run_id"]):
            return "moved_on"
        now = time.time()
        await run_in_threadpool(airflow.cancel, run["dag_id"], run["dag_run_id"], cancel_note(user, beijing_time(now)))
    except AirflowRefused as refused:
        if refused.status in (401, 403):
            return "forbidden"
        raise HTTPException(refused.status, f"Airflow refused: {refused.detail}") from None
    await run_in_threadpool(record_cancelled, store_engine(), key, user, now)
    return None


@app.get("/run.csv")
async def sent_run_csv(key: str, reader: DagReader = READER) -> StreamingResponse:
    await run_in_threadpool(_run_view, key, reader)  # 404 for an unknown run, or one the user may not read

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(RECIPIENT_FIELDS)
        for row in ledger.iter_rows(store_engine(), key):
            writer.writerow([_csv_cell(getattr(row, name)) for name in RECIPIENT_FIELDS])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    filename = key.replace("/", "_").replace(":", "-") + ".csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula (``=HYPERLINK(...)`` in a pushed
    status, say) gets a leading apostrophe. Plain numbers, such as errcode -1, stay as they are."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


# -- JSON ----------------------------------------------------------------------------------------------------


@app.get("/api/runs")
async def api_runs(
    account: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    date_from: str | None = Query(None, alias="from"),
    date_to: str | None = Query(None, alias="to"),
    page: int = Query(0, ge=0, le=MAX_PAGE),
    reader: DagReader = READER,
) -> dict[str, Any]:
    filters = _filters(account, kind, tag, status, date_from, date_to)
    rows = await run_in_threadpool(_run_list, filters, page, status, reader)
    return {"runs": [_public(row) for row in rows[:PAGE_SIZE]], "page": page, "more": len(rows) > PAGE_SIZE}


@app.get("/api/run")
async def api_run(
    key: str,
    recipients: bool = False,
    openid: str | None = None,
    status: str | None = None,
    page: int = Query(0, ge=0, le=MAX_PAGE),
    reader: DagReader = READER,
) -> dict[str, Any]:
    view = await run_in_threadpool(_run_view, key, reader)
    answer = {**view, "run": _public(view["run"])}
    if recipients:
        found = await run_in_threadpool(_recipients, key, page, openid, status)
        answer["recipients"] = {"items": found[:PAGE_SIZE], "page": page, "more": len(found) > PAGE_SIZE}
    return answer


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A history row for the API: everything but the stored conf's bulk (openid lists can be long)."""
    conf = dict(row.get("conf") or {})
    for key in ("openids", "preview_openids"):
        if conf.get(key):
            conf[key] = f"{len(conf[key])} openids"
    return {**row, "conf": conf}
