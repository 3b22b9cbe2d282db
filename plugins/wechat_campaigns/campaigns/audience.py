"""The *resolve_audience*, *filter_eligible* and *plan_batches* steps.

The audience goes straight from WeChat's pages (or the conf's openid list) into the ledger, a page at a time;
nothing the size of an audience passes through XCom.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..domain.eligibility import Reason, exclusion, in_holdout
from ..domain.plan import DRY_RUN_SECONDS_PER_FAN, MASS_BATCH, PER_FAN_BATCH, batch_count, slices
from ..domain.spec import FieldProblem, InvalidCampaign, MessageKind
from ..store import history, ledger
from ..store.fans import fan_facts, refollowed, tag_ids
from .content import build_message, load_content
from .media import DryRunMedia, MediaLibrary
from .run import CampaignRun


def resolve_audience(run: CampaignRun) -> dict[str, int]:
    seen, size = 0, MASS_BATCH if run.kind is MessageKind.MASS else PER_FAN_BATCH
    for page in _audience_pages(run):
        seen += ledger.add_recipients(run.engine, run.run_key, page, start=seen, batch_size=size)
    if seen == 0:
        spec = run.spec
        field = "tag" if spec.tag else "openids"
        what = f"tag {spec.tag!r} has no followers" if spec.tag else "the audience is empty"
        raise InvalidCampaign([FieldProblem(field, what)])
    unique = ledger.count(run.engine, run.run_key)  # counted once, at the end: the ledger may be a million long
    return {"audience": seen, "unique": unique, "duplicate": seen - unique}


def _audience_pages(run: CampaignRun) -> Iterator[list[str]]:
    spec = run.spec
    if spec.preview_openids:
        yield list(spec.preview_openids)
    elif spec.openids:
        yield list(spec.openids)
    elif spec.tag:
        tag_id = tag_ids(run.engine, run.appid)[spec.tag]
        for page in run.client.iter_tag_fans(tag_id):
            refollowed(run.engine, run.appid, page.openids)
            yield page.openids
    else:
        for page in run.client.iter_followers():
            refollowed(run.engine, run.appid, page.openids)
            yield page.openids


def filter_eligible(run: CampaignRun) -> dict[str, int]:
    """Exclude fans the rules say may not receive the message, each with a reason."""
    spec, now = run.spec, run.now()
    excluded: dict[str, int] = {}
    if spec.preview_openids:
        return excluded  # test fans get the preview whatever the rules say of real audiences
    eligible = 0
    room = _room_today(run)
    for chunk in ledger.iter_openids(run.engine, run.run_key, ledger.PENDING):
        facts = fan_facts(run.engine, run.appid, chunk, spec.kind, now)
        outcomes = []
        for openid in chunk:
            reason = exclusion(spec.kind, facts[openid], now, run.cs_rules)
            if reason is None and in_holdout(run.run_key, openid, spec.holdout_percent):
                reason = Reason.HOLDOUT
            if reason is None and room is not None and eligible >= room:
                reason = Reason.QUOTA_EXHAUSTED
            if reason is None:
                eligible += 1
                continue
            excluded[reason.value] = excluded.get(reason.value, 0) + 1
            outcomes.append(ledger.Outcome(openid, ledger.EXCLUDED, reason.value))
        ledger.record(run.engine, run.run_key, outcomes)
    return excluded


def _room_today(run: CampaignRun) -> int | None:
    """Fans that fit in today's quota when the campaign must not continue tomorrow; None = no bound."""
    if run.spec.continue_next_day or run.kind is MessageKind.MASS:
        return None
    return run.room_today()


def plan_batches(run: CampaignRun, audience: dict[str, Any], max_slices: int) -> list[dict]:
    """Number the batches in the ledger and return a few slice descriptors for the mapped send task."""
    spec = run.spec
    mode = "per_fan"
    if spec.kind is MessageKind.MASS:
        mode = _mass_mode(run, audience)
    sizes = ledger.batch_sizes(run.engine, run.run_key)  # batches were numbered as the audience came in
    eligible = sum(sizes.values())
    _check_confirmed(run, eligible)
    if mode == "mass_openids" and eligible == 1:
        # mass/send takes two openids or more; one fan cannot be mass-sent to by list.
        (openid,) = next(ledger.iter_openids(run.engine, run.run_key, ledger.PENDING))
        ledger.record(run.engine, run.run_key, [ledger.Outcome(openid, ledger.EXCLUDED, Reason.TOO_FEW_FOR_MASS.value)])
        return []
    if mode == "mass_openids" and 1 in sizes.values():
        # exclusions left a batch with a single fan: spread the fans evenly again (rare, so rarely paid for)
        ledger.assign_batches(run.engine, run.run_key, batch_count(spec.kind, eligible))
        sizes = ledger.batch_sizes(run.engine, run.run_key)
    batches = 1 if mode in {"mass_tag", "mass_all"} else (max(sizes) + 1 if sizes else 0)
    if batches and spec.kind is not MessageKind.TEMPLATE:
        _build_message(run)
    # A dry run calls no API: one task walks the ledger in order rather than several skipping each other's rows.
    seconds_per_fan = DRY_RUN_SECONDS_PER_FAN if spec.dry_run else run.settings.send_slots / run.settings.rate_limit
    return slices(run.run_key, batches, mode, 1 if spec.dry_run else max_slices, eligible, seconds_per_fan)


def _check_confirmed(run: CampaignRun, eligible: int) -> None:
    spec, threshold = run.spec, run.settings.confirm_threshold
    if eligible > threshold and not (spec.confirm_large_send or spec.dry_run or spec.preview_openids):
        raise InvalidCampaign(
            [
                FieldProblem(
                    "confirm_large_send",
                    f"{eligible:,} fans would receive this, more than this account's {threshold:,}: "
                    "trigger again with confirm_large_send to send",
                )
            ]
        )


def _build_message(run: CampaignRun) -> None:
    """Upload the material's files (reusing earlier uploads) and keep the request part on the run's row.
    Done here, after the wait: temporary media uploaded at validate time might expire before a late send."""
    media = DryRunMedia() if run.spec.dry_run else MediaLibrary(run.client, run.engine, run.appid)
    material = load_content(run.spec)
    assert material is not None  # plan builds a message for the kinds that have a material, not for templates
    message = build_message(material, run.kind, media)
    history.save_run(run.engine, run.run_key, message=message)


def _mass_mode(run: CampaignRun, audience: dict[str, Any]) -> str:
    spec = run.spec
    if spec.preview_openids:
        return "preview"
    nobody_left_out = _count(run, ledger.EXCLUDED) == 0 and audience.get("duplicate", 0) == 0
    if spec.openids or not nobody_left_out:
        return "mass_openids"
    return "mass_tag" if spec.tag else "mass_all"


def _count(run: CampaignRun, status: str) -> int:
    by_status, _ = ledger.counts(run.engine, run.run_key)
    return by_status.get(status, 0)
