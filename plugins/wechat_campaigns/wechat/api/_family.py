"""What every API family needs of the client it is part of."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..transport import Transport


class ApiFamily:
    """A family's calls go through the client's ``call`` (one at a time) or its transport (many at once)."""

    appid: str
    _transport: Transport

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        files: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        raise NotImplementedError  # WeChatClient.call
