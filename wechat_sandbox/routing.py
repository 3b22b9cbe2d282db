"""What a WeChat API handler receives, and the route table entry that says how to call it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .account import Account
    from .sandbox import Sandbox


class Call:
    """One WeChat API request, after token, quota and body checks."""

    __slots__ = ("account", "body", "form", "now", "path", "query", "sb")

    def __init__(self, sb: Sandbox, path: str, query: dict[str, str], now: float) -> None:
        self.sb = sb
        self.path = path
        self.query = query
        self.now = now
        self.account: Account | None = None
        self.body: dict[str, Any] = {}
        self.form: dict[str, Any] = {}

    @property
    def acc(self) -> Account:
        """The account of the access token (every token-checked route has one)."""
        assert self.account is not None
        return self.account


@dataclass(slots=True)
class Route:
    handler: Callable[[Call], Any]
    token: bool = True  # needs ?access_token=
    body: str = "json"  # json | none | multipart
    empty_ok: bool = False  # an empty body counts as {} instead of 44002


def route(handler: Callable[[Call], Any], **options: Any) -> Route:
    return Route(handler, **options)
