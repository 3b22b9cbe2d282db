"""A small client for the sandbox's admin API (tests, the demo and benchmarks use it).

admin = SandboxAdmin("http://127.0.0.1:8900")
admin.reset()
admin.create_account("wx123", "secret", type="service", verified=True)
admin.add_fans("wx123", fans=[{"openid": "o" * 28, "tags": ["vip"]}])
admin.event("wx123", "o" * 28, "text", content="hi")
admin.inbox("wx123", "o" * 28)  # -> list of messages the fan received
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests


class SandboxAdminError(RuntimeError):
    def __init__(self, status: int, message: str):
        super().__init__(f"sandbox admin answered {status}: {message}")
        self.status = status


class SandboxAdmin:
    def __init__(self, base_url: str, timeout: float = 30.0, verify: str | bool = True) -> None:
        """``verify``: the CA file of a sandbox serving HTTPS with a test certificate."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify
        # requests lets REQUESTS_CA_BUNDLE in the environment override a session's CA file, so not the environment
        self.session.trust_env = verify is True

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> SandboxAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/sandbox/{path}", json=body, params=params, timeout=self.timeout
        )
        data = response.json()
        if response.status_code >= 400:
            raise SandboxAdminError(response.status_code, data.get("error", response.text))
        return data

    # -- accounts and fans ------------------------------------------------------------------------------

    def create_account(self, appid: str | dict[str, Any], secret: str | None = None, **fields: Any) -> dict[str, Any]:
        """Create or replace an account; ``fields`` are the account settings (see the README).
        ``create_account({"appid": ..., "secret": ..., ...})`` (one mapping, as in a seed file) works too."""
        body = dict(appid) if isinstance(appid, dict) else {"appid": appid, "secret": secret}
        return self._call("POST", "accounts", {**body, **fields})["account"]

    def update_account(self, appid: str, **fields: Any) -> dict[str, Any]:
        return self._call("POST", f"accounts/{appid}", fields)["account"]

    def account(self, appid: str) -> dict[str, Any]:
        return self._call("GET", f"accounts/{appid}")

    def add_fans(
        self,
        appid: str,
        fans: list[dict[str, Any]] | None = None,
        fan_groups: list[dict[str, Any]] | None = None,
        return_openids: bool = False,
    ) -> dict[str, Any]:
        body = {"appid": appid, "fans": fans or [], "fan_groups": fan_groups or [], "return_openids": return_openids}
        return self._call("POST", "fans", body)

    def fan(self, appid: str, openid: str) -> dict[str, Any]:
        return self._call("GET", f"fans/{appid}/{openid}")

    def event(self, appid: str, openid: str, kind: str, **fields: Any) -> dict[str, Any]:
        """Act as a fan: ``kind`` is text, click, subscribe, unsubscribe, payment, ... (see the README)."""
        if isinstance(fields.get("at"), datetime):
            fields["at"] = fields["at"].isoformat()
        return self._call("POST", "events", {"appid": appid, "openid": openid, "kind": kind, **fields})

    # -- what fans received -----------------------------------------------------------------------------

    def inbox(self, appid: str, openid: str) -> list[dict[str, Any]]:
        return self._call("GET", f"inbox/{appid}/{openid}")["messages"]

    def inbox_counts(self, appid: str, kind: str | None = None, msgtype: str | None = None) -> dict[str, int]:
        params = {k: v for k, v in (("kind", kind), ("msgtype", msgtype)) if v}
        return self._call("GET", f"inbox/{appid}", params=params)["counts"]

    # -- clock, faults, tokens --------------------------------------------------------------------------

    def clock(self) -> str:
        return self._call("GET", "clock")["now"]

    def set_clock(self, when: str | datetime) -> str:
        value = when.isoformat() if isinstance(when, datetime) else when
        return self._call("POST", "clock", {"set": value})["now"]

    def advance_clock(self, seconds: float) -> str:
        return self._call("POST", "clock", {"advance": seconds})["now"]

    def faults(self, rules: list[dict[str, Any]], seed: int | None = None, append: bool = False) -> dict[str, Any]:
        return self._call("POST", "faults", {"rules": rules, "seed": seed, "append": append})

    def get_faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "faults")

    def invalidate_tokens(self, appid: str) -> int:
        return self._call("POST", "tokens/invalidate", {"appid": appid})["invalidated"]

    def expire_tokens(self, appid: str) -> int:
        return self._call("POST", "tokens/expire", {"appid": appid})["expired"]

    # -- what happened ----------------------------------------------------------------------------------

    def stats(self, appid: str | None = None) -> dict[str, Any]:
        return self._call("GET", "stats", params={"appid": appid} if appid else None)

    def mass_jobs(self, appid: str) -> list[dict[str, Any]]:
        return self._call("GET", f"mass/{appid}")["jobs"]

    def finish_mass_job(
        self, msg_id: int, status: str = "send success", error_count: int | None = None, appid: str | None = None
    ) -> dict[str, Any]:
        """End a mass job still SENDING now, as ``status`` ("send success", "send fail", "err(40001)", ...) with
        ``error_count`` failed fans (None: all of them for a failure, none for a success); pushes
        MASSSENDJOBFINISH. Returns the job as ``mass_jobs`` shows it."""
        body: dict[str, Any] = {"status": status, "error_count": error_count}
        if appid is not None:
            body["appid"] = appid
        return self._call("POST", f"mass_jobs/{msg_id}/finish", body)["job"]

    def callbacks(self, appid: str | None = None, event: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("appid", appid), ("event", event)) if v}
        return self._call("GET", "callbacks", params=params)["callbacks"]

    def verify_callback(self, appid: str) -> dict[str, Any]:
        return self._call("POST", "verify", {"appid": appid})

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def save(self) -> str:
        return self._call("POST", "save", {})["saved"]

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")
