"""Cutting an audience into API calls and the calls into a few task slices.

The ledger numbers every eligible recipient's batch. A *slice* is what one mapped ``send`` task owns: the
batches whose number modulo the slice count is its index. Airflow sees a handful of slices, never one task
per batch.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

from .spec import MessageKind

MASS_BATCH = 10_000  # openids per mass/send call (WeChat's maximum)
PER_FAN_BATCH = 500  # template / customer-service recipients per ledger batch (one bulk ledger update)
MAX_SLICES = 8


@dataclass(frozen=True)
class SendSlice:
    run_key: str
    index: int
    count: int
    mode: str  # "per_fan" | "mass_openids" | "mass_tag" | "mass_all" | "preview"
    timeout_seconds: int | None = None  # the send task's execution_timeout: see ``slice_timeout``

    def to_xcom(self) -> dict:
        return asdict(self)


def batch_count(kind: MessageKind, recipients: int) -> int:
    size = MASS_BATCH if kind is MessageKind.MASS else PER_FAN_BATCH
    return math.ceil(recipients / size) if recipients else 0


def batch_of(position: int, recipients: int, batches: int) -> int:
    """Spread ``recipients`` evenly over ``batches`` (so no mass batch is left with a single openid)."""
    return position * batches // recipients


SLICE_GRACE_SECONDS = 600  # token refreshes, retries with back-off, a slow store
MASS_CALL_SECONDS = 60  # per mass batch: mass/send calls keep under 60 a minute, and WeChat may be slow
PACE_MARGIN = 3  # a slice may take three times as long as its share of the rate limit says
DRY_RUN_SECONDS_PER_FAN = 0.001  # rendering and the ledger, no call


def slice_timeout(mode: str, batches: int, fans: int, seconds_per_fan: float) -> int:
    """How long one send task may run before Airflow stops it (and retries: the ledger knows who is left), so a
    stuck or runaway task cannot hold a send slot for ever. In proportion to the slice: its fans at its share of
    the account's rate limit, or its mass batches; quota waits do not count (the task defers)."""
    work = fans * seconds_per_fan * PACE_MARGIN if mode == "per_fan" else batches * MASS_CALL_SECONDS
    return SLICE_GRACE_SECONDS + math.ceil(work)


def slices(
    run_key: str, batches: int, mode: str, max_slices: int = MAX_SLICES, fans: int = 0, seconds_per_fan: float = 0.0
) -> list[dict]:
    if not batches:
        return []
    count = max(1, min(batches, max_slices))
    timeout = slice_timeout(mode, math.ceil(batches / count), math.ceil(fans / count), seconds_per_fan)
    return [SendSlice(run_key, index, count, mode, timeout).to_xcom() for index in range(count)]


def owns(slice_index: int, slice_count: int, batch_no: int) -> bool:
    return batch_no % slice_count == slice_index


def clientmsgid(run_key: str, batch_no: int) -> str:
    """Deterministic per mass batch (≤64 bytes): a retried call is the same job to WeChat (45065)."""
    return f"wc{_digest(run_key, 20)}b{batch_no}"


def template_client_msg_id(run_key: str, openid: str) -> str:
    """Deterministic per template recipient: WeChat sends one message per openid and id for 10 minutes."""
    return f"wc{_digest(run_key + ':' + openid, 24)}"


def _digest(value: str, size: int) -> str:
    return hashlib.blake2b(value.encode(), digest_size=size // 2).hexdigest()
