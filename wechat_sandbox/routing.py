"""What a WeChat API handler receives, and the route table entry that says how to call it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ApiError

if TYPE_CHECKING:
    from .account import Account
    from .sandbox import Sandbox


class Call:
    """One WeChat API request, after token, quota and body checks."""

    __slots__ = ("account", "body", "client_ip", "form", "now", "path", "query", "sb")

    def __init__(self, sb: Sandbox, path: str, query: dict[str, str], now: float, client_ip: str = "") -> None:
        self.sb = sb
        self.client_ip = client_ip
        self.path = path
        self.query = query
        self.now = now
        self.account: Account | None = None
        self.body: dict[str, Any] = {}
        self.form: dict[str, Any] = {}

    def check_ip(self, account: Account) -> None:
        """WeChat answers calls from an address outside the account's IP whitelist with 40164."""
        if account.ip_whitelist is not None and self.client_ip not in account.ip_whitelist:
            raise ApiError(40164, f"invalid ip {self.client_ip} ipv6 ::ffff:{self.client_ip}, not in whitelist")

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
