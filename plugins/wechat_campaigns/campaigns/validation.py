"""The *validate* step: everything that can be wrong with a campaign, found before anything is sent."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..domain.clock import next_midnight
from ..domain.materials import (
    BODY_MAX_CHARS,
    DIGEST_MAX,
    TEXT_MAX_BYTES,
    TITLE_MAX,
    Material,
    NewsMaterial,
    TextMaterial,
)
from ..domain.render import CompiledText, compile_text, sample_problem
from ..domain.spec import (
    AccountFacts,
    CampaignSpec,
    FieldProblem,
    InvalidCampaign,
    MessageKind,
    check_against_account,
)
from ..domain.templates import Finding, lint, template_fields
from ..store import history
from ..store.fans import profiles_for_render, replace_tags, sample_openids
from ..store.schema import recipients, runs
from ..store.sizes import fit, room
from ..store.templates import replace_templates
from ..wechat.api.template import PrivateTemplate
from .content import load_content
from .run import CampaignRun

Refusal = Callable[[str], str | None]  # what WeChat would refuse of a rendered text, or None


def validate(run: CampaignRun) -> dict[str, Any]:
    """Check the campaign against the account (tags, templates, permissions, material) and open its history
    row. Returns what later steps need (small: it travels by XCom)."""
    spec = run.spec
    try:
        material = load_content(spec)
        check_against_account(spec, _account_facts(run))
        findings = lint_template_values(spec)
        check_rendering(run, material)
    except InvalidCampaign as exc:
        reject(run, exc)
        raise
    send_at = spec.send_at if spec.send_at is not None and spec.send_at > run.now() else None
    scheduled = send_at is not None
    history.save_run(
        run.engine,
        run.run_key,
        status="scheduled" if scheduled else "sending",
        scheduled_for=spec.send_at.timestamp() if spec.send_at else None,
        lint=[finding.to_json() for finding in findings] or None,
        **describe(run),
    )
    return {
        "run_key": run.run_key,
        "send_at": (send_at or run.now()).isoformat(),
        "kind": spec.kind.value,
    }


def lint_template_values(spec: CampaignSpec) -> list[Finding]:
    """What WeChat would change or refuse in the template's literal values (values with fan attributes are
    checked per fan at send time). Refused values always stop the campaign; in strict mode, so do changes."""
    literal = {name: value for name, value in spec.template_data.items() if "{{" not in value and "{%" not in value}
    findings = lint(literal)
    stopping = [f for f in findings if f.severity == "refused" or (spec.template_strict and f.severity == "changed")]
    if stopping:
        raise InvalidCampaign([FieldProblem(f"template_data.{f.field}", f.message) for f in stopping])
    return findings


SAMPLE_FANS = 20


def check_rendering(run: CampaignRun, material: Material | None) -> None:
    """Render the message for a sample of the audience's fans the store knows (a made-up fan when it knows
    none; nobody for mass, which has no fan attributes) and refuse, naming the field, content that runs away
    or that WeChat would refuse for all of them: found now, not as a failure for every fan on send day."""
    texts = list(_texts(run.spec, material))
    if not any(text.dynamic for _, text, _ in texts):
        return
    fans = [{}] if run.kind is MessageKind.MASS else _sample_fans(run)
    refused = functools.partial(sample_problem, fans=fans)
    problems = [FieldProblem(field, problem) for field, text, refusal in texts if (problem := refused(text, refusal))]
    if problems:
        raise InvalidCampaign(problems)


def _texts(spec: CampaignSpec, material: Material | None) -> Iterator[tuple[str, CompiledText, Refusal]]:
    """Each text of the message, with its field and what WeChat refuses of it once rendered."""
    if spec.kind is MessageKind.TEMPLATE:
        for name, value in spec.template_data.items():
            yield f"template_data.{name}", compile_text(value), functools.partial(_template_refusal, name)
    elif isinstance(material, TextMaterial):
        yield "text" if spec.text else "material", material.content, _text_refusal
    elif isinstance(material, NewsMaterial):
        for index, article in enumerate(material.articles):
            at = "news" if spec.news else f"material: articles[{index}]"
            yield f"{at}.title", article.title, _longer_than(TITLE_MAX)
            if article.digest:
                yield f"{at}.digest", article.digest, _longer_than(DIGEST_MAX)
            yield f"{at}.body", article.body, _longer_than(BODY_MAX_CHARS - 1)


def _template_refusal(name: str, value: str) -> str | None:
    return next((finding.message for finding in lint({name: value}) if finding.severity == "refused"), None)


def _text_refusal(value: str) -> str | None:
    size = len(value.encode())
    return f"{size:,} bytes once rendered; WeChat takes at most {TEXT_MAX_BYTES:,}" if size > TEXT_MAX_BYTES else None


def _longer_than(limit: int) -> Refusal:
    return lambda value: f"{len(value):,} characters once rendered; at most {limit:,}" if len(value) > limit else None


def _sample_fans(run: CampaignRun) -> list[dict[str, Any]]:
    spec = run.spec
    openids: Sequence[str] = (spec.preview_openids or spec.openids)[:SAMPLE_FANS]
    if not openids:
        openids = sample_openids(run.engine, run.appid, spec.tag, SAMPLE_FANS)
    profiles = profiles_for_render(run.engine, run.appid, openids)
    return list(profiles.values()) or [{"openid": "o" + "0" * 27, "tags": [spec.tag] if spec.tag else []}]


def reject(run: CampaignRun, error: Exception) -> None:
    """Record a run that was refused, with the reason, so the history shows it."""
    history.save_run(run.engine, run.run_key, status="rejected", error=str(error), **describe(run))


def check_store_sizes(spec: CampaignSpec) -> None:
    """Refuse a value longer than the column the store keeps it in, naming its field: PostgreSQL would refuse
    to store it (and SQLite keep it), so the answer is given here, the same on both, before anything is kept."""
    problems = [
        FieldProblem(field, f"{len(value)} characters; the store keeps at most {limit}")
        for field, value, limit in _stored_values(spec)
        if len(value) > limit
    ]
    if problems:
        raise InvalidCampaign(problems)


def _stored_values(spec: CampaignSpec) -> Iterator[tuple[str, str, int]]:
    """Each conf value the store keeps in a sized column, with the most characters the column leaves it (the
    history keeps some inside a longer text: the audience is "tag: <tag>")."""
    yield "name", spec.name, _room(runs.c.name)
    yield "wechat_conn_id", spec.conn_id, _room(runs.c.conn_id)
    if spec.tag:
        yield "tag", spec.tag, _room_within(runs.c.audience, spec.audience, spec.tag)
    content = _content_field(spec)
    if content:
        field, value = content
        yield field, value, _room_within(runs.c.content, spec.content, value)
    for field in ("openids", "preview_openids"):
        longest = max(getattr(spec, field), key=len, default="")
        yield field, longest, _room(recipients.c.openid)


def _room(column: sa.Column) -> int:
    """The characters a sized column keeps (each column these values go into has a size)."""
    limit = room(column)
    assert limit is not None, f"{column} has no size"
    return limit


def _room_within(column: sa.Column, stored: str, value: str) -> int:
    return _room(column) - (len(stored) - len(value))


def _content_field(spec: CampaignSpec) -> tuple[str, str] | None:
    """The field the history's content names (``template <id>``, ``news: <title>``, ``material <name>``)."""
    if spec.kind is MessageKind.TEMPLATE:
        return "template_id", spec.template_id or ""
    if spec.news:
        return "news.title", str(spec.news.get("title", ""))
    return ("material", spec.material) if spec.material else None


def describe(run: CampaignRun) -> dict[str, Any]:
    """What the history shows of the run, cut to the columns' sizes: a record of a refusal or a failure must
    be kept even when a value in it is what was wrong."""
    spec: CampaignSpec = run.spec
    dag_id, _, run_id = run.run_key.partition("/")
    described = {
        "dag_id": dag_id,
        "dag_run_id": run_id,
        "conn_id": spec.conn_id,
        "appid": run.appid,
        "name": spec.name or None,
        "kind": spec.kind.value,
        "content": spec.content,
        "audience": spec.audience,
        "conf": spec.to_conf(),
        "dry_run": spec.dry_run,
    }
    return fit(runs, described)


def _account_facts(run: CampaignRun) -> AccountFacts:
    tags: dict[str, int] = {}
    if run.spec.tag:
        tags = {tag.name: tag.id for tag in run.client.list_tags()}
        replace_tags(run.engine, run.appid, tags)
    listed: list[PrivateTemplate] = []
    if run.spec.kind is MessageKind.TEMPLATE and run.settings.template_permission_problem() is None:
        listed = _sync_templates(run)
    return AccountFacts(
        settings=run.settings,
        tags=tags,
        template_fields={t.template_id: template_fields(t.content) for t in listed},
        template_titles={t.template_id: t.title for t in listed},
        mass_sends_today=_mass_sends_today(run) if run.spec.kind is MessageKind.MASS else 0,
    )


def _sync_templates(run: CampaignRun) -> list[PrivateTemplate]:
    listed = run.client.list_templates()
    replace_templates(run.engine, run.appid, listed)
    return listed


def _mass_sends_today(run: CampaignRun) -> int:
    """Mass jobs WeChat accepted for this account since Beijing midnight (ours; the console's are unknown)."""
    now: datetime = run.now()
    return history.mass_sends_since(run.engine, run.appid, next_midnight(now).timestamp() - 86_400)
