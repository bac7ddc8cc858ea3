"""The captive portal in a real browser: headless Chromium (Debian's) at phone width, JavaScript off.

A phone joins the course SSID, opens the portal the host port serves with the device's own HTML,
types a student id and submits; the check-in reaches the controller. Screenshots are kept in
`artifacts/` as test artefacts.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from controller.adapters.client import FleetClient
from controller.daemon.controller import Controller
from tests.brokers import RunningBroker
from tests.hostdevice import START, HostDevice, attendance
from tests.waiting import eventually

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PHONE_WIDTH = 390


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            raise RuntimeError(f"{path} is missing: apt-get install chromium chromium-driver (make test does)")
    profile = tempfile.mkdtemp(prefix="fleet-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(15)
    # a phone's viewport (chromedriver's touch-based mobileEmulation hangs on form submits here)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": PHONE_WIDTH, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("broker", ["mosquitto"], indirect=True)
def test_a_phone_checks_in_through_the_portal(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    host_devices: Callable[[str], HostDevice], browser: webdriver.Chrome,
) -> None:
    start_controller()
    device = host_devices("esp32-0000000000f0")
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1, 10, "device online")
        started = client.call("session.start", START)
        client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})

        browser.get(f"http://127.0.0.1:{device.portal_port}/")
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "CS101" in page and "in sync" in page.lower()
        form = browser.find_element(By.NAME, "student_id")
        assert 0 < form.rect["x"] + form.rect["width"] <= PHONE_WIDTH  # the form fits a phone's width
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "portal-form.png"))

        browser.find_element(By.NAME, "student_id").send_keys("U2021/0042")
        form_page = browser.find_element(By.TAG_NAME, "body")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 10).until(expected_conditions.staleness_of(form_page))  # the answer has loaded
        confirmation = browser.find_element(By.TAG_NAME, "body").text
        assert "checked in" in confirmation.lower() and "U2021/0042" in confirmation
        browser.save_screenshot(str(ARTIFACTS / "portal-confirmation.png"))
        assert len(browser.page_source.encode()) < 4096  # small enough for a captive-portal phone

        eventually(lambda: attendance(client, started["session_id"]) == ["U2021/0042"], 10, "row stored")
