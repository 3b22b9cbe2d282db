"""The Library pages (素材库): materials, templates and the audience's tags, in the Airflow UI.

Served by the API server at ``/wechat/library/`` and shown in the UI's navigation (an external view). Every
route needs an Airflow login (the UI's session cookie or a Bearer token) and answers 401 without one (a
browser asking for a page is sent to Airflow's login instead); the
runs a material was used in are only those of DAGs the user may read.

- ``/wechat/library/materials`` — by kind, with previews, where used, and what WeChat holds of each;
- ``/wechat/library/media?path=…`` — an image of the library (thumbnails), never a file outside it;
- ``/wechat/library/templates`` — the account's templates with fields and industry, and its template plan;
- ``/wechat/library/audience`` — tags with fan counts and the last sync.

*Sync now* and *Apply the template plan* are buttons whose script calls Airflow's own REST API
(``POST /api/v2/dags/<dag>/dagRuns``) with the user's session, so Airflow's permissions and audit log apply.
The data come from ``campaigns.libraries``, which the Compose page's pickers use too.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..campaigns.libraries.audience import audience_tags, last_sync
from ..campaigns.libraries.materials import KINDS, library_image, materials_page, materials_usage, upload_state
from ..campaigns.libraries.templates import account_templates, template_plan
from ..library import materials_dir
from ..store import history
from .accounts import account_names
from .declared import declared_campaigns
from .library_labels import LABELS, SYNC_PHASES, UPLOAD_PURPOSES
from .pages import READER, Account, DagReader, beijing_time, chosen_account, page_app, store_engine, templates
from .sent_labels import language

MATERIALS_PAGE, TAGS_PAGE, MAX_PAGE = 24, 50, 10_000
SYNC_DAG, TEMPLATES_DAG = "wechat_sync_audience", "wechat_templates"
LIBRARY_PREFIX = "/wechat/library"  # where wechat_plugin.py mounts this app


app = page_app("WeChat library", LIBRARY_PREFIX)


def _context(request: Request, tab: str, account: Account, **values: Any) -> dict[str, Any]:
    lang = language(request.headers.get("accept-language"))
    words = LABELS[lang]
    return {
        "request": request,
        "lang": lang,
        "t": words,
        "label": lambda key: words.get(key, key),
        "phase": lambda name: SYNC_PHASES[lang].get(name, name),
        "purpose": lambda name: UPLOAD_PURPOSES[lang].get(name, name),
        "when": beijing_time,
        "quote": lambda value: quote(str(value), safe=""),
        "now": time.time(),
        "page_name": tab,
        "account": account,
        "accounts": account_names(),
        **values,
    }


@app.get("/")
async def library_home() -> RedirectResponse:
    return RedirectResponse("materials", status_code=307)


# -- Materials -----------------------------------------------------------------------------------------------


def _materials_view(account: Account, kind: str | None, q: str | None, page: int, reader: DagReader) -> dict:
    entries, total = materials_page(kind, q, offset=page * MATERIALS_PAGE, limit=MATERIALS_PAGE)
    engine = store_engine()
    readable = reader.readable(set(history.dag_ids(engine)))
    declared: dict[str, list[str]] = {}
    for campaign in declared_campaigns():
        if campaign.conf.get("material") and not campaign.problem:
            declared.setdefault(str(campaign.conf["material"]), []).append(campaign.dag_id)
    return {
        "materials": entries,
        "total": total,
        "more": (page + 1) * MATERIALS_PAGE < total,
        "usage": materials_usage(engine, entries, readable),
        "uploads": upload_state(engine, account.appid, entries) if account.appid else {},
        "declared": declared,
        "folder": str(materials_dir()),
    }


@app.get("/materials", response_class=HTMLResponse)
async def materials(
    request: Request,
    account: str | None = None,
    kind: str | None = None,
    q: str | None = None,
    page: int = Query(0, ge=0, le=MAX_PAGE),
    reader: DagReader = READER,
) -> Any:
    if kind and kind not in KINDS:
        raise HTTPException(400, f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    chosen = await run_in_threadpool(chosen_account, account)
    view = await run_in_threadpool(_materials_view, chosen, kind or None, q or None, page, reader)
    chosen_filters = {"account": chosen.conn_id, "kind": kind or "", "q": q or ""}
    return templates.TemplateResponse(
        request,
        "library_materials.html",
        _context(request, "materials", chosen, **view, kinds=KINDS, chosen=chosen_filters, page=page),
    )


@app.get("/media")
async def media(path: str) -> FileResponse:
    """A library image (a material's picture, a cover, a thumbnail); 404 for anything else."""
    try:
        found = await run_in_threadpool(library_image, path)
    except LookupError:
        raise HTTPException(404, "no such image in the material library") from None
    return FileResponse(found, headers={"Cache-Control": "private, max-age=300"})


# -- Templates -----------------------------------------------------------------------------------------------


def _templates_view(account: Account) -> dict[str, Any]:
    engine = store_engine()
    return {
        "templates": account_templates(engine, account.appid),
        "plan": template_plan(engine, account.appid, account.conn_id),
        "dag_id": TEMPLATES_DAG,
    }


@app.get("/templates", response_class=HTMLResponse)
async def template_list(request: Request, account: str | None = None) -> Any:
    chosen = await run_in_threadpool(chosen_account, account)
    view = await run_in_threadpool(_templates_view, chosen)
    return templates.TemplateResponse(request, "library_templates.html", _context(request, "templates", chosen, **view))


# -- Audience ------------------------------------------------------------------------------------------------


def _audience_view(account: Account, q: str | None, page: int) -> dict[str, Any]:
    engine = store_engine()
    found = audience_tags(engine, account.appid, offset=page * TAGS_PAGE, limit=TAGS_PAGE + 1, search=q)
    return {
        "tags": found[:TAGS_PAGE],
        "more": len(found) > TAGS_PAGE,
        "sync": last_sync(engine, account.appid),
        "dag_id": SYNC_DAG,
    }


@app.get("/audience", response_class=HTMLResponse)
async def audience(
    request: Request, account: str | None = None, q: str | None = None, page: int = Query(0, ge=0, le=MAX_PAGE)
) -> Any:
    chosen = await run_in_threadpool(chosen_account, account)
    view = await run_in_threadpool(_audience_view, chosen, q or None, page)
    chosen_filters = {"account": chosen.conn_id, "q": q or ""}
    return templates.TemplateResponse(
        request,
        "library_audience.html",
        _context(request, "audience", chosen, **view, chosen=chosen_filters, page=page),
    )
