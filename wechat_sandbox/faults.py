"""Injected faults: errors, latency and dropped connections on WeChat API paths (never on /sandbox/).

A rule matches a path by prefix. ``phase: before`` answers instead of WeChat (the call has no effect);
``phase: after`` lets the call take effect and then answers with the error or drops the connection — the
lost-response case a sender must survive without sending twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

PHASES = ("before", "after")


@dataclass(slots=True)
class FaultRule:
    endpoint: str = "/cgi-bin/"
    errcode: int | None = None
    rate: float = 1.0
    count: int | None = None
    phase: str = "before"
    latency_ms: float = 0.0
    drop: bool = False
    triggered: int = 0

    @property
    def answers(self) -> bool:
        """Does this rule replace the answer (error or drop), or only delay it?"""
        return self.drop or self.errcode is not None

    def view(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "errcode": self.errcode,
            "rate": self.rate,
            "count": self.count,
            "phase": self.phase,
            "latency_ms": self.latency_ms,
            "drop": self.drop,
            "triggered": self.triggered,
        }


@dataclass(slots=True)
class FaultOutcome:
    latency: float = 0.0  # seconds
    phase: str = "before"
    errcode: int | None = None
    drop: bool = False

    @property
    def answers(self) -> bool:
        return self.drop or self.errcode is not None


def parse_rule(raw: dict[str, Any]) -> FaultRule:
    known = {"endpoint", "errcode", "rate", "count", "phase", "latency_ms", "drop"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown fault fields {sorted(unknown)}")
    rule = FaultRule(
        endpoint=raw.get("endpoint") or "/cgi-bin/",
        errcode=None if raw.get("errcode") is None else int(raw["errcode"]),
        rate=float(raw.get("rate", 1.0)),
        count=None if raw.get("count") is None else int(raw["count"]),
        phase=raw.get("phase", "before"),
        latency_ms=float(raw.get("latency_ms") or 0),
        drop=bool(raw.get("drop", False)),
    )
    if rule.phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}")
    if not 0.0 <= rule.rate <= 1.0:
        raise ValueError("rate must be within 0..1")
    if not rule.answers and not rule.latency_ms:
        rule.errcode = -1  # a rule that says nothing else means "system error"
    return rule


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.random = random.Random()  # noqa: S311 - reproducible fault injection, not security

    def set(self, rules: list[dict[str, Any]], seed: int | None = None, append: bool = False) -> None:
        parsed = [parse_rule(r) for r in rules]
        self.rules = [*self.rules, *parsed] if append else parsed
        self.random.seed(seed)

    def clear(self) -> None:
        self.rules = []

    def roll(self, path: str) -> FaultOutcome | None:
        """The faults for one call: every matching rule may add latency; the first that answers decides."""
        outcome: FaultOutcome | None = None
        for rule in self.rules:
            if not path.startswith(rule.endpoint):
                continue
            if rule.count is not None and rule.triggered >= rule.count:
                continue
            if rule.rate < 1.0 and self.random.random() >= rule.rate:
                continue
            if rule.answers and outcome is not None and outcome.answers:
                continue  # an earlier rule already decided the answer; this one does not fire
            rule.triggered += 1
            if outcome is None:
                outcome = FaultOutcome(phase=rule.phase)
            outcome.latency += rule.latency_ms / 1000.0
            if rule.answers:
                outcome.phase, outcome.errcode, outcome.drop = rule.phase, rule.errcode, rule.drop
        return outcome

    def view(self) -> dict[str, Any]:
        return {"rules": [r.view() for r in self.rules]}
