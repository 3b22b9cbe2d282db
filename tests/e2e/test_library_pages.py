"""The Library pages in a real browser, as a marketer finds them in Airflow: the Browse menu's entry, the
materials with their previews, the templates, and the audience after pressing *Sync now*, in Chinese and
English. Playwright drives Debian's Chromium against ``make airflow``; full-page screenshots go to
test-artifacts/browser/ (library-*.png)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from demo.__main__ import GROUPS
from tests.conftest import ROOT
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, ensure_chromium, wait_for_login
from tests.fixtures.airflow import free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]
STARTUP = 900  # seconds: on a busy machine each of the demo's set-up commands alone takes 15-25 s


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory):
    """``python -m demo --standalone`` (what ``make airflow`` runs) on free ports, until the module ends: the
    UI's URL and the marketer's password."""
    ensure_chromium()
    home = tmp_path_factory.mktemp("library-standalone")
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
        yield url, wait_for_login(url, log, process, timeout=STARTUP)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def demo_tag_members() -> dict[str, int]:
    """The followers of each tag the demo account was seeded with (fans who left are not members WeChat lists)."""
    members: dict[str, int] = {}
    for _, count, fields in GROUPS:
        for tag in fields.get("tags", []):
            members[tag] = members.get(tag, 0) + (count if fields.get("subscribed", True) else 0)
    return members


@pytest.fixture(scope="module")
def poster_sent(airflow_ui):
    """One campaign that sent the image material, so the Materials page has a use and an upload to show."""
    url, password = airflow_ui
    answer = requests.post(f"{url}/auth/token", json={"username": "marketer", "password": password}, timeout=60)
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    conf = {"message_type": "mass", "tag": "vip", "material": "image/winter_poster", "name": "Winter poster to vip"}
    runs = f"{url}/api/v2/dags/wechat_campaign/dagRuns"
    answer = requests.post(runs, json={"logical_date": None, "conf": conf}, headers=headers, timeout=60)
    answer.raise_for_status()
    run_id = answer.json()["dag_run_id"]
    deadline = time.monotonic() + STARTUP
    state = None
    while time.monotonic() < deadline and state not in ("success", "failed"):
        time.sleep(3)
        with contextlib.suppress(requests.RequestException):  # a busy API server answers late now and then
            state = requests.get(f"{runs}/{run_id}", headers=headers, timeout=60).json()["state"]
    assert state == "success"
    return conf["name"]


def logged_in(browser, url: str, password: str, locale: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale=locale)
    page = context.new_page()
    page.goto(f"{url}/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda address: "/auth/" not in address)
    return page


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (
            "zh-CN",
            {"title": "素材库", "sync": "立即同步", "used": "已使用", "uploaded": "永久图片", "plan": "应用模板计划"},
        ),
        (
            "en-US",
            {
                "title": "WeChat library",
                "sync": "Sync now",
                "used": "Used",
                "uploaded": "permanent image",
                "plan": "Apply the template plan",
            },
        ),
    ],
)
def test_a_marketer_browses_the_library_and_syncs_the_audience(airflow_ui, poster_sent, locale, words):
    from playwright.sync_api import sync_playwright

    url, password = airflow_ui
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = logged_in(browser, url, password, locale)

        page.get_by_role("button", name=re.compile("Browse|浏览")).click()
        page.get_by_text("WeChat library · 素材库").click()
        page.wait_for_url(re.compile(r".*/plugin/wechat-library.*"))
        frame = page.frame_locator("iframe").first
        frame.locator("#materials").wait_for()
        assert frame.locator("h1").inner_text().strip() == words["title"]
        page.screenshot(path=SHOTS / f"library-1-in-airflow-{locale}.png")

        page.goto(f"{url}/wechat/library/materials")
        poster = page.locator('[data-material="image/winter_poster"]')
        assert poster_sent in poster.inner_text() and words["used"] in poster.inner_text()
        assert words["uploaded"] in poster.inner_text()
        cover = page.locator('[data-material="news/winter_launch"] img').first
        assert cover.evaluate("image => image.complete && image.naturalWidth > 0")  # the thumbnail loaded
        page.screenshot(path=SHOTS / f"library-2-materials-{locale}.png", full_page=True)

        page.goto(f"{url}/wechat/library/audience")
        with page.expect_navigation(timeout=240_000):  # the page reloads when the sync run has finished
            page.get_by_role("button", name=words["sync"]).click()
        page.locator("#tags").wait_for()
        shown = {
            row.get_attribute("data-tag"): int(row.locator(".fan-count").inner_text().replace(",", ""))
            for row in page.locator("#tags tbody tr").all()
        }
        expected = demo_tag_members()
        assert {tag: shown[tag] for tag in expected} == expected
        page.screenshot(path=SHOTS / f"library-3-audience-{locale}.png", full_page=True)

        page.goto(f"{url}/wechat/library/templates")
        page.locator('[data-template="tmpl_activity_reminder"]').wait_for()
        assert "thing1" in page.locator('[data-template="tmpl_activity_reminder"]').inner_text()
        assert page.get_by_role("button", name=words["plan"]).is_visible()
        page.screenshot(path=SHOTS / f"library-4-templates-{locale}.png", full_page=True)
        browser.close()
