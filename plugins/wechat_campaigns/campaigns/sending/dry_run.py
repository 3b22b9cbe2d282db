"""A dry run: every fan's message rendered and the fans marked ``planned``; nothing is sent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ...domain.plan import SendSlice
from ...domain.spec import MessageKind
from ...store import ledger
from ...store.ledger import FAILED, PENDING, PLANNED, Outcome
from ..content import Content
from ..run import CampaignRun
from .messages import fan_profiles, message_for

DRY_RUN_CHUNK = 5_000


def dry_run_slice(run: CampaignRun, content: Content, part: SendSlice) -> dict[str, int]:
    """Render every fan's message (a broken attribute shows now, not on send day) and mark the fans planned,
    thousands at a time: a dry run of a million fans must not cost a million statements. A chunk's ledger
    update runs in the database while the next chunk renders here."""
    owner, done = (part.index, part.count), {PLANNED: 0, FAILED: 0}
    with ThreadPoolExecutor(max_workers=1) as writer:
        written = None
        for rows in ledger.iter_chunks(run.engine, run.run_key, PENDING, DRY_RUN_CHUNK, owner):
            failures = _render_chunk(run, content, [row.openid for row in rows])
            if written is not None:
                done[PLANNED] += written.result()
            written = writer.submit(_plan_chunk, run, failures, rows[0].position, rows[-1].position, owner)
            done[FAILED] += len(failures)
        if written is not None:
            done[PLANNED] += written.result()
    return done


def _render_chunk(run: CampaignRun, content: Content, openids: list[str]) -> list[Outcome]:
    """The fans whose message would not be sent, for the reason the send would give (a mass message is the
    same for all: checked at validate)."""
    if run.kind is MessageKind.MASS:
        return []
    profiles = fan_profiles(run, content, openids)
    failures = []
    for openid in openids:
        message = message_for(run, content, profiles.get(openid) or {"openid": openid})
        if isinstance(message, str):
            failures.append(Outcome(openid, FAILED, message))
    return failures


def _plan_chunk(run: CampaignRun, failures: list[Outcome], first: int, last: int, owner: tuple[int, int]) -> int:
    ledger.record(run.engine, run.run_key, failures)
    return ledger.move_range(run.engine, run.run_key, first, last, owner, PENDING, PLANNED)
