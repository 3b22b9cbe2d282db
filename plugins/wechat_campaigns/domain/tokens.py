"""An access token as it is kept and shared between workers (``wechat.tokens`` fetches and refreshes it,
``store.tokens`` keeps it)."""

from __future__ import annotations

from dataclasses import dataclass

# Refresh a little before WeChat's own expiry; stable_token renews in the last 5 minutes, so a fetch inside
# this margin gets the new token rather than the old one again.
REFRESH_MARGIN_SECONDS = 120.0


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: float  # epoch seconds

    def usable(self, now: float) -> bool:
        return now < self.expires_at - REFRESH_MARGIN_SECONDS
