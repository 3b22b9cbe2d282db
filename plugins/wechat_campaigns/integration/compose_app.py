"""The Compose page (新建消息): a marketer's new campaign, checked and forecast before it is sent.

Served by the API server at ``/wechat/compose/`` and shown in the UI's navigation (an external view). Every
route needs an Airflow login and answers 401 without one (a browser asking for the page goes to Airflow's
login first).

- ``GET /wechat/compose/`` — the form: the account, the kind and only its fields; the audience (a tag with its
  fan count, all followers, pasted openids or a CSV); a material with its preview, or a template with its
  fields and WeChat's examples; now or a Beijing time; dry run, control group, continue tomorrow;
- ``POST /wechat/compose/check`` — the same form with every refusal ``validate`` would give, by field, and the
  forecast (``campaigns/forecast.py``);
- ``POST /wechat/compose/send`` — checks again and, when nothing is refused, starts ``wechat_campaign`` through
  Airflow's REST API with the user's own token (Airflow's permissions and audit log apply), then opens the
  run's Sent page (``/wechat/compose/started`` waits for its first step to record it).

The checks are the run's own: ``parse_campaign``, the schedule horizon, the store's column sizes, the material,
``check_against_account`` on the tags and templates of the last sync, the template lint and the trial render.
What needs WeChat (a tag made since the sync, the template permission as WeChat sees it, uploads) is left to
``validate``, and the page says so.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from ..campaigns.content import load_content
from ..campaigns.forecast import Forecast, forecast
from ..campaigns.libraries.audience import audience_tags, last_sync
from ..campaigns.libraries.materials import materials_page
from ..campaigns.libraries.templates import account_templates
from ..campaigns.run import CampaignRun
from ..campaigns.validation import check_rendering, check_store_sizes, lint_template_values
from ..domain.clock import SHANGHAI, next_midnight
from ..domain.spec import (
    AccountFacts,
    CampaignSpec,
    FieldProblem,
    InvalidCampaign,
    MessageKind,
    check_against_account,
    check_schedule,
    parse_campaign,
)
from ..domain.templates import template_fields
from ..store import history
from ..store.fans import tag_ids
from ..store.templates import stored_templates
from .accounts import account_names
from .compose_labels import LABELS
from .hook import WeChatHook, ready_store
from .pages import (
    Account,
    airflow_as_user,
    beijing_time,
    chosen_account,
    page_app,
    same_origin,
    store_engine,
    templates,
)
from .run_states import AirflowRefused
from .sent_labels import language, reason_label

COMPOSE_PREFIX = "/wechat/compose"  # where wechat_plugin.py mounts this app
CAMPAIGN_DAG = "wechat_campaign"
RUN_ID = re.compile(r"^compose__[\w:.+-]{1,200}$")
MAX_MATERIALS, MAX_TAGS = 500, 100
MAX_CSV_BYTES = 4 * 1024 * 1024


app = page_app("WeChat compose", COMPOSE_PREFIX)


@dataclass
class Checked:
    """What the page says of the form: the conf it makes, every refusal by field, and the forecast."""

    conf: dict[str, Any]
    problems: list[FieldProblem] = field(default_factory=list)
    forecast: Forecast | None = None
    run_id: str = ""
    warnings: list[FieldProblem] = field(default_factory=list)  # what WeChat would change, not refuse

    @property
    def accepted(self) -> bool:
        return not self.problems


# -- the form as a run conf ----------------------------------------------------------------------------------


async def _conf_of(form: FormData) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The run conf the form asks for (the keys of ``CONF_FIELDS``), and what the form itself got wrong."""
    kind = str(form.get("message_type") or "")
    conf: dict[str, Any] = {"message_type": kind, "wechat_conn_id": str(form.get("account") or "")}
    problems: list[FieldProblem] = []
    if _given(form, "name"):
        conf["name"] = _given(form, "name")
    audience = form.get("audience") or "tag"
    if audience == "tag":
        conf["tag"] = _given(form, "tag")
        if not conf["tag"]:
            problems.append(FieldProblem("tag", "choose a tag, or another audience"))
    elif audience == "openids":
        conf["openids"] = await _openids(form, problems)
    if kind == MessageKind.TEMPLATE:
        template_id = _given(form, "template_id")
        conf["template_id"] = template_id
        prefix = f"data.{template_id}."
        conf["template_data"] = {
            str(key).removeprefix(prefix): str(value).strip()
            for key, value in form.multi_items()
            if str(key).startswith(prefix) and str(value).strip()
        }
        if _given(form, "url"):
            conf["url"] = _given(form, "url")
    else:
        conf["material"] = _given(form, "material")
    if form.get("timing") == "at":
        conf["send_at"] = _send_at(form, problems)
    conf["dry_run"] = form.get("dry_run") == "on"
    conf["holdout_percent"] = _number(_given(form, "holdout_percent") or "0")
    conf["continue_next_day"] = form.get("continue_next_day") == "on"
    conf["confirm_large_send"] = form.get("confirm_large_send") == "on"
    return conf, problems


def _given(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _number(text: str) -> float | str:
    """A number for Airflow's param check; what is not one is kept as typed, for parse_campaign to name."""
    try:
        return float(text)
    except ValueError:
        return text


def _send_at(form: FormData, problems: list[FieldProblem]) -> str | None:
    """The date and time typed, as Beijing time with its offset (a full date-time for Airflow's param check)."""
    day, clock = _given(form, "send_date"), _given(form, "send_time")
    if not day or not clock:
        problems.append(FieldProblem("send_at", "give the date and the time (Beijing time), or choose Now"))
        return None
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI)
    except ValueError:
        problems.append(FieldProblem("send_at", f"{day} {clock} is not a date and time such as 2026-12-01 09:30"))
        return None
    return moment.isoformat()


async def _openids(form: FormData, problems: list[FieldProblem]) -> list[str]:
    """The pasted openids, then those of the CSV file, in order (the run keeps a repeated one once)."""
    listed = re.split(r"[\s,;]+", str(form.get("openids") or ""))
    upload = form.get("openids_csv")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_CSV_BYTES + 1)
        if len(data) > MAX_CSV_BYTES:
            problems.append(FieldProblem("openids", f"the CSV file is over {MAX_CSV_BYTES // 1024 // 1024} MB"))
        else:
            listed += _csv_openids(data.decode("utf-8-sig", errors="replace"))
    found = [item for item in listed if item]
    if not found:
        problems.append(FieldProblem("openids", "paste the openids, or choose a CSV file"))
    return found


def _csv_openids(text: str) -> list[str]:
    """The column named ``openid`` (any case), else the first; a header row that is not an openid is skipped."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = header.index("openid") if "openid" in header else 0
    start = 1 if "openid" in header else 0
    return [row[column].strip() for row in rows[start:] if len(row) > column and row[column].strip()]


# -- the run's own checks, and the forecast ------------------------------------------------------------------


def _check(conf: dict[str, Any], form_problems: list[FieldProblem], run_id: str, now: datetime) -> Checked:
    checked = Checked(conf, list(form_problems), run_id=run_id)
    try:
        account = chosen_account(conf.get("wechat_conn_id") or None)
    except HTTPException as exc:
        checked.problems.append(FieldProblem("wechat_conn_id", str(exc.detail)))
        return checked
    hook = WeChatHook(account.conn_id)
    spec, refused = _parsed(conf, now)
    known = {p.field for p in checked.problems}
    checked.problems += [p for p in refused if p.field not in known]
    if spec is None:
        return checked
    try:
        settings = hook.settings
    except ValueError as exc:  # a connection extra the settings refuse, named
        checked.problems.append(FieldProblem("wechat_conn_id", str(exc)))
        return checked
    run = CampaignRun(f"{CAMPAIGN_DAG}/{run_id}", spec, settings, ready_store(), hook.make_client, clock=lambda: now)
    checked.problems += _refusals(run, account, now)
    checked.warnings = _changes(spec)
    if not checked.problems:
        checked.forecast = forecast(store_engine(), settings, spec, run.run_key, now)
        checked.problems += _unconfirmed(spec, checked.forecast)
    return checked


def _parsed(conf: dict[str, Any], now: datetime) -> tuple[CampaignSpec | None, list[FieldProblem]]:
    """The spec and parse_campaign's refusals. A time in the past alone still gives a spec (parsed without that
    check), so that the account's checks are said too: the marketer fixes everything in one go."""
    try:
        return parse_campaign(conf, now), []
    except InvalidCampaign as exc:
        problems = exc.problems
    try:
        return parse_campaign(conf, now, check_send_at=False), problems
    except InvalidCampaign:
        return None, problems


def _refusals(run: CampaignRun, account: Account, now: datetime) -> list[FieldProblem]:
    """What validate (and plan's checks) would refuse, each step's problems as it names them."""
    spec = run.spec
    steps = (
        lambda: check_schedule(spec, now, run.settings.schedule_horizon_days),
        lambda: check_store_sizes(spec),
        lambda: check_against_account(spec, _facts(run, account, now)),
        lambda: lint_template_values(spec),
        lambda: check_rendering(run, load_content(spec)),
    )
    problems: list[FieldProblem] = []
    for step in steps:
        try:
            step()
        except InvalidCampaign as exc:
            problems += exc.problems
    return problems


def _changes(spec: CampaignSpec) -> list[FieldProblem]:
    """What WeChat would change in the template's values (cut a long thing, say): sent anyway, unless strict."""
    try:
        findings = lint_template_values(spec)
    except InvalidCampaign:
        return []  # said among the refusals
    return [FieldProblem(f"template_data.{f.field}", f.message) for f in findings if f.severity == "changed"]


def _facts(run: CampaignRun, account: Account, now: datetime) -> AccountFacts:
    """The account as the last sync left it in the store (validate asks WeChat itself)."""
    engine = store_engine()
    listed = [row for row in stored_templates(engine, account.appid) if row.get("content") is not None]
    today = next_midnight(now).timestamp() - 86_400
    return AccountFacts(
        settings=run.settings,
        tags=tag_ids(engine, account.appid),
        template_fields={row["template_id"]: template_fields(row["content"]) for row in listed},
        template_titles={row["template_id"]: row.get("title") or "" for row in listed},
        mass_sends_today=history.mass_sends_since(engine, account.appid, today) if run.kind is MessageKind.MASS else 0,
    )


def _unconfirmed(spec: CampaignSpec, expected: Forecast) -> list[FieldProblem]:
    """plan_batches refuses a send to more fans than the account's threshold without the confirmation."""
    if not expected.needs_confirmation or spec.confirm_large_send or spec.dry_run:
        return []
    message = (
        f"{expected.eligible:,} fans would receive this, more than this account's {expected.confirm_threshold:,}: "
        "tick the confirmation to send"
    )
    return [FieldProblem("confirm_large_send", message)]


def _new_run_id(now: datetime) -> str:
    """Chosen before the forecast, so that the control group it counts is the one the run will hold out."""
    return f"compose__{now.astimezone(UTC):%Y-%m-%dT%H:%M:%S}_{secrets.token_hex(3)}"


# -- the page ------------------------------------------------------------------------------------------------


def _pickers(account: Account) -> dict[str, Any]:
    engine = store_engine()
    materials, _ = materials_page(limit=MAX_MATERIALS)
    return {
        "tags": audience_tags(engine, account.appid, limit=MAX_TAGS),
        "sync": last_sync(engine, account.appid),
        "materials": [m for m in materials if not m.problem],
        "templates": account_templates(engine, account.appid),
    }


def _render(request: Request, checked: Checked, status_code: int = 200, pressed: str = "") -> Response:
    lang = language(request.headers.get("accept-language"))
    conf = checked.conf
    try:
        account = chosen_account(conf.get("wechat_conn_id") or None)
    except HTTPException:
        account = chosen_account(None)
    context = {
        "request": request,
        "lang": lang,
        "t": LABELS[lang],
        "why": lambda reason: reason_label(reason, lang),
        "when": beijing_time,
        "quote": lambda value: quote(str(value), safe=""),
        "account": account,
        "accounts": account_names(),
        "kinds": [kind.value for kind in MessageKind],
        "conf": conf,
        "form": getattr(request.state, "form", {}),
        "checked": checked,
        "problems": {p.field: p.message for p in checked.problems},
        "warnings": {p.field: p.message for p in checked.warnings},
        "field_label": _field_labels(LABELS[lang], conf),
        "pressed": pressed,
        **_pickers(account),
    }
    return templates.TemplateResponse(request, "compose.html", context, status_code=status_code)


_FIELD_WORDS = {  # conf field -> the label the page shows it under
    "wechat_conn_id": "account",
    "name": "name",
    "message_type": "kind",
    "tag": "tag",
    "openids": "pasted",
    "material": "material",
    "text": "material",
    "template_id": "template_id",
    "template_data": "fields",
    "url": "url",
    "send_at": "timing",
    "holdout_percent": "holdout_short",
    "confirm_large_send": "confirm",
    "conf": "conf",
    "airflow": "airflow_refused",
}


def _field_labels(words: dict[str, str], conf: dict[str, Any]) -> dict[str, str]:
    """A refusal's field as the page names it: a template field by its label (温馨提示), others by their title."""
    labels = {name: words[word] for name, word in _FIELD_WORDS.items()}
    template_id = conf.get("template_id")
    for template in account_templates(store_engine(), chosen_account(conf.get("wechat_conn_id") or None).appid):
        if template.template_id == template_id:
            labels.update({f"template_data.{f.name}": f"{f.label or f.name} ({f.name})" for f in template.fields})
    return labels


@app.get("/", response_class=HTMLResponse)
async def compose(request: Request, account: str | None = None, kind: str | None = None) -> Response:
    chosen = await run_in_threadpool(chosen_account, account)
    conf = {"wechat_conn_id": chosen.conn_id, "message_type": kind or MessageKind.MASS.value, "continue_next_day": True}
    checked = Checked(conf, run_id=_new_run_id(datetime.now(UTC)))
    return await run_in_threadpool(_render, request, checked)


async def _checked_form(request: Request) -> Checked:
    form = await request.form()
    request.state.form = {key: value for key, value in form.items() if isinstance(value, str)}
    run_id = str(form.get("run_id") or "")
    now = datetime.now(UTC)
    conf, problems = await _conf_of(form)
    return await run_in_threadpool(_check, conf, problems, run_id if RUN_ID.match(run_id) else _new_run_id(now), now)


@app.post("/check", response_class=HTMLResponse)
async def check(request: Request) -> Response:
    same_origin(request)
    checked = await _checked_form(request)
    return await run_in_threadpool(_render, request, checked, 200 if checked.accepted else 400, "check")


@app.post("/send")
async def send(request: Request) -> Response:
    """Start the campaign when nothing is refused; the form again, with what is wrong, when something is."""
    same_origin(request)
    checked = await _checked_form(request)
    if not checked.accepted:
        return await run_in_threadpool(_render, request, checked, 400, "send")
    try:
        await run_in_threadpool(airflow_as_user(request).start, CAMPAIGN_DAG, checked.run_id, checked.conf)
    except AirflowRefused as refused:
        checked.problems.append(FieldProblem("airflow", f"{refused.status}: {refused.detail}"))
        return await run_in_threadpool(_render, request, checked, refused.status, "send")
    key = f"{CAMPAIGN_DAG}/{checked.run_id}"
    return RedirectResponse(f"{COMPOSE_PREFIX}/started?key={quote(key, safe='')}", status_code=303)


@app.get("/started", response_class=HTMLResponse)
async def started(request: Request, key: str) -> Response:
    """The run's Sent page once its first step has recorded it; until then a page that looks again."""
    sent_page = f"/wechat/sent/run?key={quote(key, safe='')}"
    if await run_in_threadpool(history.get_run, store_engine(), key):
        return RedirectResponse(sent_page, status_code=303)
    lang = language(request.headers.get("accept-language"))
    dag_id, _, run_id = key.partition("/")
    context = {
        "request": request,
        "lang": lang,
        "t": LABELS[lang],
        "sent_page": sent_page,
        "airflow_url": f"/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}",
    }
    return templates.TemplateResponse(request, "compose_started.html", context)
