"""A marketer's afternoon in a real browser: log in, trigger a campaign through the form, wait for it, read
the Sent page, open the run, export its recipients. Playwright drives Debian's Chromium against
``make airflow`` (Airflow standalone with the sandbox). Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.conftest import ON_CI, ROOT
from tests.fixtures.airflow import free_port

APPID = "wxd3m0c0ffee000001"  # the demo account (demo/__main__.py)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SHOTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> None:
    """Debian's Chromium, and CJK fonts so the Chinese labels render (installed on first use)."""
    if Path(CHROMIUM).exists() and Path("/usr/share/fonts/opentype/noto").exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        message = "Chromium is missing and cannot be installed here (needs apt-get as root)"
        pytest.fail(message) if ON_CI else pytest.skip(message)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-noto-cjk"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory):
    """``python -m demo --standalone`` (what ``make airflow`` runs) on free ports, until the module ends."""
    ensure_chromium()
    home = tmp_path_factory.mktemp("standalone")
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WECHAT"))}
    env.update(WECHAT_DEMO_DIR=str(home), WECHAT_DEMO_PORT=str(port), WECHAT_DEMO_SANDBOX_PORT=str(sandbox_port))
    log = home / "standalone.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo", "--standalone"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown stops Airflow's children too
        )
    url = f"http://127.0.0.1:{port}"
    try:
        password = wait_for_login(url, log, process)
        yield url, password, f"http://127.0.0.1:{sandbox_port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of airflow standalone is still there


def wait_for_login(url: str, log: Path, process: subprocess.Popen, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make airflow stopped:\n{log.read_text()[-3000:]}")
        found = re.search(r"log in as marketer / (\S+)", log.read_text())
        if found:
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=5).ok:
                    return found.group(1)
            except requests.RequestException:  # still starting
                pass
        time.sleep(1)
    raise RuntimeError(f"Airflow did not come up:\n{log.read_text()[-3000:]}")


def token(url: str, password: str) -> str:
    answer = requests.post(f"{url}/auth/token", json={"username": "marketer", "password": password}, timeout=30)
    return answer.json()["access_token"]


def trigger(url: str, password: str, **conf) -> str:
    """A campaign run through Airflow's REST API, as a data engineer starts one; its run id."""
    headers = {"Authorization": f"Bearer {token(url, password)}"}
    body = {"logical_date": None, "conf": conf}
    made = requests.post(f"{url}/api/v2/dags/wechat_campaign/dagRuns", json=body, headers=headers, timeout=30)
    assert made.status_code == 200, made.text
    return made.json()["dag_run_id"]


def task_states(url: str, password: str, run_id: str) -> dict[str, str | None]:
    headers = {"Authorization": f"Bearer {token(url, password)}"}
    path = f"{url}/api/v2/dags/wechat_campaign/dagRuns/{run_id}/taskInstances"
    return {
        ti["task_id"]: ti["state"] for ti in requests.get(path, headers=headers, timeout=30).json()["task_instances"]
    }


def wait_for_run(url: str, password: str, run_id: str, timeout: float = 180) -> str:
    headers = {"Authorization": f"Bearer {token(url, password)}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = requests.get(f"{url}/api/v2/dags/wechat_campaign/dagRuns/{run_id}", headers=headers, timeout=30).json()
        if run["state"] in ("success", "failed"):
            return run["state"]
        time.sleep(2)
    raise AssertionError(f"run {run_id} still {run['state']}")


@pytest.mark.parametrize(("locale", "sent_label"), [("zh-CN", "已发送"), ("en-US", "Sent messages")])
def test_a_marketer_sends_and_reads_the_history(airflow_ui, locale, sent_label):
    from playwright.sync_api import sync_playwright

    url, password, _ = airflow_ui
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = f"browser test {locale}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale=locale, accept_downloads=True)
        page = context.new_page()

        page.goto(f"{url}/")
        page.get_by_label("Username").fill("marketer")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda address: "/auth/" not in address)

        page.goto(f"{url}/dags/wechat_campaign")
        page.get_by_test_id("trigger-dag-button").click()
        page.locator("#element_name").fill(name)
        page.locator("input[aria-autocomplete='list']").first.click()
        page.get_by_text("Mass message", exact=False).first.click()
        page.get_by_role("button", name=re.compile("Audience")).click()
        page.locator("#element_tag").fill("vip")
        page.get_by_role("button", name=re.compile("Content")).click()
        page.locator("#element_material").fill("text/welcome")
        page.screenshot(path=SHOTS / f"1-trigger-form-{locale}.png", full_page=True)
        page.get_by_test_id("trigger-dag-submit").click()
        page.wait_for_url(re.compile(r".*/dags/wechat_campaign/runs/.+"))
        run_id = page.url.rsplit("/runs/", 1)[1]
        assert wait_for_run(url, password, run_id) == "success"

        page.get_by_role("button", name=re.compile("Browse|浏览")).click()
        page.get_by_text("Sent messages · 已发送").click()
        page.wait_for_url(re.compile(r".*/plugin/wechat-sent.*"))
        sent = page.frame_locator("iframe").first
        sent.get_by_role("link", name=name).wait_for()
        assert sent.locator("h1").inner_text().strip() == sent_label
        page.screenshot(path=SHOTS / f"2-sent-list-{locale}.png")

        sent.get_by_role("link", name=name).click()
        sent.locator("#funnel").wait_for()
        funnel = sent.locator("#funnel").inner_text()
        assert "600" in funnel and "520" in funnel  # audience, eligible and sent: 80 fans at the monthly cap
        reasons = sent.locator("#reasons").inner_text()
        assert ("本月已收满 4 条群发" if locale == "zh-CN" else "monthly cap") in reasons
        page.screenshot(path=SHOTS / f"3-sent-run-{locale}.png", full_page=True)

        with page.expect_download() as download:
            sent.get_by_role("link", name=re.compile("CSV")).click()
        path = download.value.path()
        rows = list(csv.DictReader(open(path, encoding="utf-8")))  # noqa: SIM115 - read once, closed at exit
        assert len(rows) == 600
        assert sum(1 for row in rows if row["status"] == "sent") == 520
        shutil.copy(path, SHOTS / f"4-recipients-{locale}.csv")
        browser.close()


def log_in(page, url: str, password: str) -> None:
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda address: "/auth/" not in address)


def test_a_marketer_cancels_a_scheduled_send_and_no_fan_receives_it(airflow_ui):
    """A scheduled send to the dormant fans, cancelled on its run page while it waits in the triggerer:
    Airflow ends it as success with the marketer's note, the Sent page says cancelled, by whom and when (in
    both languages), and after the send time no fan's inbox has anything new."""
    from playwright.sync_api import sync_playwright

    from wechat_sandbox.admin import SandboxAdmin

    url, password, sandbox_url = airflow_ui
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = SandboxAdmin(sandbox_url)
    before = admin.inbox_counts(APPID)
    send_at = time.time() + 150
    when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(send_at))
    text = "周末见 <b>新品</b>"
    run_id = trigger(url, password, message_type="mass", tag="dormant", text=text, send_at=when, name="scheduled")
    wait_until(lambda: task_states(url, password, run_id).get("wait_until_send_time") == "deferred", 150)
    run_page = f"{url}/wechat/sent/run?key={quote('wechat_campaign/' + run_id, safe='')}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = {}
        for locale in ("zh-CN", "en-US"):
            page = browser.new_context(viewport={"width": 1400, "height": 900}, locale=locale).new_page()
            page.goto(run_page)  # no session yet: Airflow's login, then back to the run
            assert "/auth/login" in page.url
            log_in(page, url, password)
            page.wait_for_url(run_page)
            page.locator("#cancel").wait_for()
            assert text in page.locator("#inline-text").inner_text()
            page.screenshot(path=SHOTS / f"5-scheduled-run-{locale}.png", full_page=True)
            pages[locale] = page
        page = pages["zh-CN"]
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#cancel").click()
        page.locator("#cancelled").wait_for()
        for locale, page in pages.items():
            page.goto(run_page)
            said = page.locator("#cancelled").inner_text()
            assert ("marketer 于" if locale == "zh-CN" else "Cancelled by marketer at") in said, said
            assert page.locator("h1 .status").inner_text() == ("已取消" if locale == "zh-CN" else "Cancelled")
            assert page.locator("#cancel").count() == 0
            page.screenshot(path=SHOTS / f"6-cancelled-run-{locale}.png", full_page=True)
        browser.close()
    wait_until(lambda: time.time() > send_at + 30, 300)  # past the send time: had the wait resumed, it sent by now
    assert wait_for_run(url, password, run_id) == "success"
    states = task_states(url, password, run_id)
    assert states["wait_until_send_time"] == "success"
    assert {states[t] for t in states if t not in ("validate", "wait_until_send_time")} == {"skipped"}, states
    assert admin.inbox_counts(APPID) == before


def test_the_sent_pages_of_a_dry_run_and_a_refused_run(airflow_ui):
    """A dry run reads planned, a refused run its reason in red at the top, in both languages."""
    from playwright.sync_api import sync_playwright

    url, password, _ = airflow_ui
    SHOTS.mkdir(parents=True, exist_ok=True)
    dry = trigger(url, password, message_type="mass", text="本周精选 <i>digest</i>", dry_run=True, name="dry run")
    refused = trigger(url, password, message_type="mass", tag="no_such_tag", material="text/welcome", name="refused")
    assert wait_for_run(url, password, dry) == "success"
    assert wait_for_run(url, password, refused) == "failed"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for locale in ("zh-CN", "en-US"):
            context = browser.new_context(viewport={"width": 1400, "height": 900}, locale=locale)
            page = context.new_page()
            page.goto(f"{url}/wechat/sent/")
            log_in(page, url, password)
            page.wait_for_url(re.compile(r".*/wechat/sent/$"))
            page.screenshot(path=SHOTS / f"7-sent-list-{locale}.png", full_page=True)
            page.goto(f"{url}/wechat/sent/run?key={quote('wechat_campaign/' + dry, safe='')}")
            funnel = page.locator("#funnel").inner_text()
            assert ("计划发送" if locale == "zh-CN" else "Planned") in funnel and "3,020" in funnel
            assert ("已发送" if locale == "zh-CN" else "Sent") not in funnel
            assert "本周精选 <i>digest</i>" in page.locator("#inline-text").inner_text()
            page.screenshot(path=SHOTS / f"8-dry-run-{locale}.png", full_page=True)
            page.goto(f"{url}/wechat/sent/run?key={quote('wechat_campaign/' + refused, safe='')}")
            banner = page.locator("#refusal")
            assert "no_such_tag" in banner.inner_text()
            assert banner.evaluate("e => getComputedStyle(e).color") == "rgb(217, 48, 37)"  # red
            page.screenshot(path=SHOTS / f"9-refused-run-{locale}.png", full_page=True)
            context.close()
        browser.close()


def wait_until(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    raise AssertionError(f"not so after {timeout} s")
