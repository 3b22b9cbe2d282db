"""The trigger form in a real browser, in Chinese and in English: the sections by message type, the material
library offered in the material field, hints in both languages. Screenshots of the whole form, one per
section (the form opens one at a time), go to test-artifacts/browser/ (``trigger-form-<locale>-*.png``)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, airflow_ui  # noqa: F401 - the fixture
from tests.integration.test_trigger_form import library_names

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SECTIONS = ("Audience", "Content: mass and customer service", "Template message", "Timing and safety")


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_trigger_form_offers_the_library_and_groups_fields_by_message_type(airflow_ui, locale):  # noqa: F811
    from playwright.sync_api import sync_playwright

    url, password = airflow_ui[:2]  # (the sandbox's address may follow)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1600}, locale=locale).new_page()
        page.goto(f"{url}/")
        page.get_by_label("Username").fill("marketer")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda address: "/auth/" not in address)

        page.goto(f"{url}/dags/wechat_campaign")
        page.get_by_test_id("trigger-dag-button").click()
        dialog = page.get_by_role("dialog")
        dialog.screenshot(path=SHOTS / f"trigger-form-{locale}-0-run-parameters.png")
        for number, section in enumerate(SECTIONS, start=1):  # the form opens one section at a time
            page.get_by_role("button", name=re.compile(re.escape(section))).click()
            page.wait_for_timeout(500)  # its opening animation
            shot = f"trigger-form-{locale}-{number}-{section.split(':')[0].lower().replace(' ', '-')}.png"
            dialog.screenshot(path=SHOTS / shot)
            if section.startswith("Content"):
                material = page.locator("#element_material")
                offered = page.locator(f"#{material.get_attribute('list')} option").evaluate_all(
                    "(options) => options.map(option => option.value)"
                )
                assert offered == library_names()
                said = dialog.inner_text()
                assert "素材库中的素材" in said and "A material of the library" in said
                assert "Mass and customer-service messages · 群发与客服消息" in said
        browser.close()
