"""The admin API under /sandbox/: set up accounts and fans, act as fans, read inboxes, steer time and faults.

No token, never affected by faults. Errors are HTTP 4xx with ``{"error": "..."}``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .api_mass import apply_outcome, finish_job
from .clock import parse_time
from .events import fan_event
from .model import Fan, mass_outcome
from .persist import save_file
from .sandbox import AdminError, Sandbox

Answer = tuple[int, Any]


class Admin:
    def __init__(self, sb: Sandbox, state_file: str | None = None) -> None:
        self.sb = sb
        self.state_file = state_file

    async def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        parts = [p for p in path.split("/") if p][1:]  # drop "sandbox"
        if not parts:
            return 200, {"ok": True, "endpoints": "see wechat_sandbox/README.md"}
        handler = getattr(self, f"{method.lower()}_{parts[0]}", None)
        if handler is None:
            raise AdminError(f"no admin endpoint {method} {path}", 404)
        return await handler(parts[1:], query, body)

    # -- accounts and fans ------------------------------------------------------------------------------

    async def post_accounts(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        data = _object(body)
        if args:  # POST /sandbox/accounts/{appid}: update settings of an existing account
            account = self.sb.account(args[0])
            self.sb.update_account(account, data)
            return 200, {"account": account.view()}
        account = self.sb.create_account(data)
        return 200, {"account": account.view()}

    patch_accounts = post_accounts

    async def get_accounts(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        if not args:
            return 200, {"accounts": [a.view() for a in self.sb.accounts.values()]}
        account = self.sb.account(args[0])
        view = account.view()
        now = self.sb.clock.now()
        view["tokens"] = [
            {
                "access_token": r.token,
                "source": r.source,
                "state": r.state(now),
                "expires_at": self.sb.clock.iso(r.expires_at),
            }
            for r in self.sb.account_tokens(account.appid)
        ]
        return 200, view

    async def post_fans(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        data = _object(body)
        account = self.sb.account(data.get("appid"))
        fans, groups = data.get("fans") or [], data.get("fan_groups") or []
        if not isinstance(fans, list) or not isinstance(groups, list):
            raise AdminError("fans and fan_groups are lists")
        return 200, self.sb.add_fans(account, fans, groups, bool(data.get("return_openids")))

    async def get_fans(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        if len(args) != 2:
            raise AdminError("GET /sandbox/fans/{appid}/{openid}", 404)
        account = self.sb.account(args[0])
        fan = account.fans.get(args[1])
        if fan is None:
            raise AdminError(f"unknown fan {args[1]!r}", 404)
        return 200, self._fan_view(account, fan)

    def _fan_view(self, account: Any, fan: Fan) -> dict[str, Any]:
        iso, now = self.sb.clock.iso, self.sb.clock.now()
        month = self.sb.clock.month_key(now)
        windows = {
            cls: {"opened_at": iso(w[0]), "expires_at": iso(w[1]), "limit": w[2], "used": w[3], "open": now < w[1]}
            for cls, w in fan.windows.items()
        }
        return {
            "openid": fan.openid,
            "subscribed": fan.subscribed,
            "tags": [account.tags[t].name for t in fan.tags],
            "tag_ids": fan.tags,
            "mass_received_this_month": fan.mass_count if fan.mass_month == month else 0,
            "blocks_templates": fan.blocks_templates,
            "template_failure": fan.template_failure,
            "blacklisted": fan.blacklisted,
            "refuses_messages": fan.refuses_messages,
            "language": fan.language,
            "remark": fan.remark,
            "subscribe_time": fan.subscribe_time,
            "windows": windows,
        }

    async def post_events(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        return 200, fan_event(self.sb, _object(body))

    # -- what fans received -----------------------------------------------------------------------------

    async def get_inbox(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        if not args:
            raise AdminError("GET /sandbox/inbox/{appid}[/{openid}]", 404)
        account = self.sb.account(args[0])
        iso = self.sb.clock.iso
        if len(args) >= 2:
            box = account.inbox.get(args[1], [])
            messages = [{"kind": k, "msgtype": t, "content": c, "msg_id": m, "at": iso(at)} for k, t, c, m, at in box]
            return 200, {"openid": args[1], "messages": messages}
        kind, msgtype = query.get("kind"), query.get("msgtype")
        counts = {}
        for openid, box in account.inbox.items():
            n = sum(1 for k, t, *_ in box if (kind is None or k == kind) and (msgtype is None or t == msgtype))
            if n:
                counts[openid] = n
        return 200, {"counts": counts, "fans": len(counts), "messages": sum(counts.values())}

    # -- clock, faults, tokens --------------------------------------------------------------------------

    async def get_clock(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        return 200, {"now": self.sb.clock.iso(), "offset": self.sb.clock.offset}

    async def post_clock(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        data = _object(body)
        try:
            if "set" in data:
                self.sb.clock.set(parse_time(data["set"]))
            elif "advance" in data:
                self.sb.clock.advance(float(data["advance"]))
            else:
                raise AdminError('clock: give {"set": ISO} or {"advance": seconds}')
        except ValueError as exc:
            raise AdminError(f"clock: {exc}") from exc
        self.sb.finish_due_jobs()
        return await self.get_clock(args, query, body)

    async def get_faults(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        return 200, self.sb.faults.view()

    async def post_faults(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        data = _object(body)
        rules = data.get("rules")
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise AdminError('faults: {"rules": [{...}], "seed": n}')
        try:
            self.sb.faults.set(rules, data.get("seed"), bool(data.get("append")))
        except (TypeError, ValueError) as exc:
            raise AdminError(f"faults: {exc}") from exc
        return 200, self.sb.faults.view()

    async def delete_faults(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        self.sb.faults.clear()
        return 200, self.sb.faults.view()

    async def post_tokens(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        account = self.sb.account(_object(body).get("appid"))
        now = self.sb.clock.now()
        records = [r for r in self.sb.account_tokens(account.appid) if r.state(now) == "valid"]
        if args == ["invalidate"]:
            for record in records:
                record.revoked_at = now  # 40001, as after a force refresh by another system
            return 200, {"invalidated": len(records)}
        if args == ["expire"]:
            for record in records:
                record.expires_at = now  # 42001
            return 200, {"expired": len(records)}
        raise AdminError("POST /sandbox/tokens/invalidate or /sandbox/tokens/expire", 404)

    # -- what happened ----------------------------------------------------------------------------------

    async def get_stats(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        appid = query.get("appid")
        accounts = [self.sb.account(appid)] if appid else list(self.sb.accounts.values())
        calls: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        by_path: dict[str, Counter[str]] = {}
        for account in accounts:
            calls.update(account.calls)
            errors.update(account.errors)
            for path, counter in account.errors_by_path.items():
                by_path.setdefault(path, Counter()).update(counter)
        if not appid:
            calls.update(self.sb.unattributed_calls)
            errors.update(self.sb.unattributed_errors)
        pushes = Counter(e["status"] for e in self.sb.pusher.entries(appid))
        return 200, {
            "appid": appid,
            "calls": dict(calls),
            "total_calls": sum(calls.values()),
            "errors": dict(errors),
            "errors_by_path": {p: dict(c) for p, c in by_path.items()},
            "stable_token_refreshes": sum(a.stable_token_refreshes for a in accounts),
            "token_refreshes": sum(a.token_refreshes for a in accounts),
            "mass_jobs": sum(len(a.jobs) for a in accounts),
            "callbacks": dict(pushes),
        }

    async def get_mass(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        if not args:
            raise AdminError("GET /sandbox/mass/{appid}", 404)
        self.sb.finish_due_jobs()
        account = self.sb.account(args[0])
        return 200, {"jobs": [j.view(self.sb.clock.iso) for j in account.jobs.values()]}

    async def post_mass_jobs(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        """POST /sandbox/mass_jobs/{msg_id}/finish {"status", "error_count"?, "appid"?}: end a job now, that way."""
        if len(args) != 2 or args[1] != "finish":
            raise AdminError("POST /sandbox/mass_jobs/{msg_id}/finish", 404)
        data = dict(_object(body))
        appid = data.pop("appid", None)
        try:
            msg_id = int(args[0])
            outcome = mass_outcome(data)
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        accounts = [self.sb.account(appid)] if appid is not None else list(self.sb.accounts.values())
        found = next(((a, a.jobs[msg_id]) for a in accounts if msg_id in a.jobs), None)
        if found is None:
            raise AdminError(f"unknown mass job {msg_id}", 404)
        account, job = found
        if job.finished_at is not None:
            raise AdminError(f"mass job {msg_id} has already finished ({job.result})", 409)
        apply_outcome(self.sb, account, job, outcome["status"], outcome["error_count"])
        account.pending_jobs = [j for j in account.pending_jobs if j is not job]
        finish_job(self.sb, account, job)
        return 200, {"job": job.view(self.sb.clock.iso)}

    async def get_callbacks(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        return 200, {"callbacks": self.sb.pusher.entries(query.get("appid"), query.get("event"))}

    async def post_verify(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        return 200, await self.sb.pusher.verify(self.sb.account(_object(body).get("appid")))

    async def post_reset(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        self.sb.reset()
        return 200, {"ok": True}

    async def post_save(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        if not self.state_file:
            raise AdminError("the sandbox was started without --state FILE", 409)
        save_file(self.sb, self.state_file)
        return 200, {"saved": self.state_file}

    async def get_health(self, args: list[str], query: dict[str, str], body: Any) -> Answer:
        return 200, {"ok": True, "now": self.sb.clock.iso()}


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise AdminError("the request body must be a JSON object")
    return body
