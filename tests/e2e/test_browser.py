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

import pytest
import requests

from tests.conftest import ON_CI, ROOT
from tests.fixtures.airflow import free_port

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
        yield url, password
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
    answer = requests.post(f"{url}/auth/token", json={"username": "marketer", "password": password}, timeout=10)
    return answer.json()["access_token"]


def wait_for_run(url: str, password: str, run_id: str, timeout: float = 180) -> str:
    headers = {"Authorization": f"Bearer {token(url, password)}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = requests.get(f"{url}/api/v2/dags/wechat_campaign/dagRuns/{run_id}", headers=headers, timeout=10).json()
        if run["state"] in ("success", "failed"):
            return run["state"]
        time.sleep(2)
    raise AssertionError(f"run {run_id} still {run['state']}")


@pytest.mark.parametrize(("locale", "sent_label"), [("zh-CN", "已发送"), ("en-US", "Sent messages")])
def test_a_marketer_sends_and_reads_the_history(airflow_ui, locale, sent_label):
    from playwright.sync_api import sync_playwright

    url, password = airflow_ui
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
