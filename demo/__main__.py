"""``make demo``: real campaigns through Airflow against the WeChat sandbox, then the history.

1. starts the sandbox and loads a demo account: 3,300 fans over the tags vip / newcomer / dormant, some at
   the monthly mass cap, some inside and outside the 48-hour window, some unsubscribed or blocking templates;
2. plays the data engineer: imports the mass receipts the web console sent and the interactions other
   systems saw (the product never reads the sandbox's own records);
3. runs one campaign of each kind and one dry run with ``airflow dags test`` on SQLite;
4. prints the history and a few fans' inboxes.

``python -m demo --standalone`` (``make airflow``) instead starts ``airflow standalone`` with the same sandbox
and connections, for the trigger form in a browser.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wechat_sandbox.admin import SandboxAdmin
from wechat_sandbox.launch import start_sandbox

ROOT = Path(__file__).resolve().parents[1]
VAR = Path(os.environ.get("WECHAT_DEMO_DIR", ROOT / "var" / "demo")).resolve()
APPID = "wxd3m0c0ffee000001"
SECRET = "demo-app-secret-0123456789abcdef"  # noqa: S105 - the sandbox's made-up account
TEMPLATE_ID = "tmpl_activity_reminder"
CALLBACK_TOKEN = "demo-callback-token"  # noqa: S105 - the sandbox's made-up account
AIRFLOW_PORT = int(os.environ.get("WECHAT_DEMO_PORT", "8080"))  # make airflow: the UI
SANDBOX_PORT = int(os.environ.get("WECHAT_DEMO_SANDBOX_PORT", "8900"))

ACCOUNT = {
    "type": "service",
    "verified": True,
    "name": "Demo 咖啡 Coffee",
    "templates": [
        {
            "template_id": TEMPLATE_ID,
            "title": "活动提醒",
            "content": "活动名称:{{thing1.DATA}}\n活动时间:{{time2.DATA}}\n温馨提示:{{thing3.DATA}}",
            "example": "活动名称:冬季会员日\n活动时间:2026-12-01 20:00\n温馨提示:凭会员码入场",
        }
    ],
}

NOW = datetime.now(UTC)
RECENT_CHAT, OLD_CHAT = NOW - timedelta(hours=3), NOW - timedelta(days=5)

# (prefix, count, fan fields) — the sandbox makes the openids. What fans did (chatting with the account,
# mass messages from the web console) happened at "WeChat"; the data engineer's files below tell our store.
GROUPS = [
    ("vipcap", 80, {"tags": ["vip"], "mass_received_this_month": 4}),
    ("vipchat", 150, {"tags": ["vip"], "last_interaction": {"kind": "text", "at": RECENT_CHAT.isoformat()}}),
    ("vipold", 120, {"tags": ["vip"], "last_interaction": {"kind": "text", "at": OLD_CHAT.isoformat()}}),
    ("vip", 250, {"tags": ["vip"]}),
    ("newblk", 60, {"tags": ["newcomer"], "blocks_templates": True}),
    ("new", 1440, {"tags": ["newcomer"]}),
    ("gone", 200, {"tags": ["dormant"], "subscribed": False}),
    ("dorm", 600, {"tags": ["dormant"]}),
    ("plain", 400, {}),
]

# (title, conf, what the history must say: counts by status and by reason, from the groups above)
CAMPAIGNS = [
    (
        "Mass to vip",
        {"message_type": "mass", "tag": "vip", "material": "text/welcome", "name": "vip welcome"},
        {"sent": 520, "excluded:monthly_cap": 80},
    ),
    (
        "Customer service to vip",
        {"message_type": "customer_service", "tag": "vip", "material": "text/double11_reminder", "name": "cart"},
        {"sent": 150, "excluded:outside_48h": 450},
    ),
    (
        "Template to newcomer",
        {
            "message_type": "template",
            "tag": "newcomer",
            "template_id": TEMPLATE_ID,
            "template_data": {"thing1": "冬季会员日", "time2": "2026-12-01 20:00", "thing3": "凭会员码入场"},
            "url": "https://example.com/winter",
            "name": "winter members day",
        },
        {"sent": 1440, "failed:blocked": 60},
    ),
    (
        "Dry run: mass to all",
        {"message_type": "mass", "material": "text/weekly_digest_en", "dry_run": True},
        {"planned": 3020, "excluded:monthly_cap": 80},
    ),
]


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--standalone", action="store_true", help="start airflow standalone instead of the runs")
    options = args.parse_args()
    # Stop like Ctrl-C on SIGTERM, so the sandbox and Airflow children are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    VAR.mkdir(parents=True, exist_ok=True)
    for leftover in VAR.glob("store.db*"):  # a fresh campaign store each time (Airflow's own DB is kept)
        leftover.unlink()
    with start_sandbox(port=SANDBOX_PORT if options.standalone else 0, log=VAR / "sandbox.log") as url:
        admin = SandboxAdmin(url)
        # Under `make airflow` WeChat's pushes (job reports, fans' messages) reach the UI's callback endpoint.
        callback = f"http://127.0.0.1:{AIRFLOW_PORT}/wechat/callback/wechat_default" if options.standalone else None
        openids = seed(admin, callback)
        env = airflow_env(url)
        step("Airflow metadata database", ["airflow", "db", "migrate"], env)
        step("Campaign store: migrate", ["wechat-campaigns", "migrate"], env)
        import_what_the_data_engineer_knows(openids, env)
        if options.standalone:
            return standalone(env)
        for title, conf, _ in CAMPAIGNS:
            step(title, ["airflow", "dags", "test", "wechat_campaign", "-c", json.dumps(conf, ensure_ascii=False)], env)
        print()
        subprocess.run(["wechat-campaigns", "history"], env=env, check=True)
        show_inboxes(admin, openids)
        matches = check_history(env)
    print(f"\nDemo finished in {time.monotonic() - started:.0f} s. Logs: {VAR}/")
    return 0 if matches else 1


def seed(admin: SandboxAdmin, callback_url: str | None = None) -> dict[str, list[str]]:
    admin.reset()
    admin.create_account(APPID, SECRET, **ACCOUNT, callback_url=callback_url, token=CALLBACK_TOKEN)
    openids = {}
    for prefix, count, fields in GROUPS:
        group = {"count": count, "prefix": prefix, **fields}
        openids[prefix] = admin.add_fans(APPID, fan_groups=[group], return_openids=True)["openids"]
    print(f"Sandbox: account {APPID} with {sum(len(v) for v in openids.values())} fans")
    return openids


def airflow_env(sandbox_url: str) -> dict[str, str]:
    home = VAR / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    connection = {
        "conn_type": "wechat_mp",
        "login": APPID,
        "password": SECRET,
        "host": sandbox_url,
        "extra": {"account_type": "service", "verified": True, "callback_token": CALLBACK_TOKEN},
    }
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_WECHAT_DEFAULT": json.dumps(connection),
        "AIRFLOW_CONN_WECHAT_STORE": json.dumps({"conn_type": "sqlite", "host": str(VAR / "store.db")}),
        "WECHAT_MATERIALS_DIR": str(ROOT / "include" / "materials"),
    }


def import_what_the_data_engineer_knows(openids: dict[str, list[str]], env: dict[str, str]) -> None:
    receipts = [
        {"openid": o, "received_at": (NOW - timedelta(minutes=i + 1)).isoformat(), "receipt_id": f"console-{o}-{i}"}
        for o in openids["vipcap"]
        for i in range(4)
    ]
    interactions = [{"openid": o, "kind": "text", "at": RECENT_CHAT.isoformat()} for o in openids["vipchat"]] + [
        {"openid": o, "kind": "text", "at": OLD_CHAT.isoformat()} for o in openids["vipold"]
    ]
    for name, rows in (("receipts", receipts), ("interactions", interactions)):
        path = VAR / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        step(f"Import {name}.csv", ["wechat-campaigns", "import", name, str(path)], env)


def step(title: str, command: list[str], env: dict[str, str]) -> None:
    log = VAR / "logs" / (title.lower().replace(" ", "_").replace(":", "") + ".log")
    log.parent.mkdir(exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    mark = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode}, see {log})"
    print(f"  {title:<32} {time.monotonic() - started:5.1f} s  {mark}")
    if done.returncode != 0:
        raise SystemExit(1)


def check_history(env: dict[str, str]) -> bool:
    """Each run's counts against what the seed implies."""
    listed = subprocess.run(["wechat-campaigns", "history", "--json"], env=env, capture_output=True, check=True)
    runs = list(reversed(json.loads(listed.stdout)))[-len(CAMPAIGNS) :]
    print("\nDoes the history match the seed?")
    ok = True
    for (title, _, expected), run in zip(CAMPAIGNS, runs, strict=True):
        counts = run["counts"]
        seen = {**counts["status"], **counts["reasons"]}
        got = {key: seen.get(key, 0) for key in expected}
        verdict = "yes" if got == expected else f"NO: expected {expected}, history says {got}"
        ok &= got == expected
        print(f"  {title:<32} {verdict}")
    return ok


def show_inboxes(admin: SandboxAdmin, openids: dict[str, list[str]]) -> None:
    print("\nWhat some fans received (from the sandbox's inboxes):")
    for group in ("vipchat", "vipcap", "newblk", "new"):
        openid = openids[group][0]
        messages = admin.inbox(APPID, openid)
        print(f"  {group:<8} {openid}: {len(messages)} message(s)")
        for message in messages:
            print(f"      {message['kind']:<17} {json.dumps(message['content'], ensure_ascii=False)[:90]}")


def standalone(env: dict[str, str]) -> int:
    password = secrets.token_urlsafe(12)
    home = Path(env["AIRFLOW_HOME"])
    # SimpleAuthManager reads its passwords from this file when it exists (and makes one up otherwise).
    (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({"marketer": password}))
    env = {
        **env,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "marketer:admin",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }
    # Register the DAG now and switch it on (Airflow registers new DAGs paused): the form should just work.
    step("Register DAGs", ["airflow", "dags", "reserialize"], env)
    step("Unpause wechat_campaign", ["airflow", "dags", "unpause", "wechat_campaign"], env)
    step("Send pool", ["airflow", "pools", "set", "wechat_api", "4", "Parallel WeChat send tasks"], env)
    env["AIRFLOW__API__PORT"] = str(AIRFLOW_PORT)
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{AIRFLOW_PORT}/execution/"  # tasks report here
    print(f"Airflow standalone: http://127.0.0.1:{AIRFLOW_PORT}")
    print(f"  log in as marketer / {password}")
    print("  open the wechat_campaign DAG, press Trigger, fill in the form (e.g. tag vip, material text/welcome)")
    print(f"  WeChat sandbox: http://127.0.0.1:{SANDBOX_PORT} (inboxes: /sandbox/inbox/<appid>/<openid>)")
    print("  Ctrl-C stops everything.")
    return subprocess.run(["airflow", "standalone"], env=env, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
