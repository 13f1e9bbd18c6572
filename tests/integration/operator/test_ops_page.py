"""The ops page in headless Chromium (Debian's chromium + chromium-driver, Selenium): sign in
with the API key, send faxes on the software line, see the call, its pages advance, its
completion and a failure; a screenshot (desktop and phone-sized) goes to the test's tmp dir."""
from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import requests

from tests.integration.foundation.daemon import ROOT, FaxdProcess
from tests.integration.foundation.daemon import database_url as _url

PDF3 = os.path.join(ROOT, "tests", "data", "gallery", "mixed-orientation.pdf")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1200,900"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, script: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out: {script}"
        time.sleep(0.1)


def _send(faxd, path: str, to: str) -> str:
    doc = {"to_number": to, "from_number": "+12025550100", "retries": 0}
    with open(path, "rb") as f:
        r = faxd.client.call("PUT", "/faxes", files=[
            ("content", ("fax.json", json.dumps({"data": doc}), "application/json")),
            ("content", (os.path.basename(path), f.read(), "application/pdf"))])
    assert r.status_code in (200, 201), r.text
    return r.json()["data"]["id"]


def test_ops_page_shows_the_call_its_pages_and_its_completion(faxd, browser, tmp_path):
    from selenium.webdriver.common.by import By
    browser.get(faxd.base_url + "/ops/")
    assert requests.get(faxd.base_url + "/ops/ops.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
    browser.find_element(By.ID, "apikey").send_keys(faxd.bootstrap["api_key"])
    browser.find_element(By.ID, "signin-button").click()
    _wait(browser, "return document.getElementById('conn').textContent === 'live'")
    assert browser.find_element(By.ID, "scope").text == "all accounts"
    assert "software" in browser.find_element(By.ID, "switch-list").text
    # Record each page the card shows as it changes (the software line is fast).
    browser.execute_script("""
        window.seen = [];
        new MutationObserver(() => {
          for (const c of document.querySelectorAll('.call')) {
            const v = c.dataset.faxId + ':' + c.dataset.page;
            if (window.seen[window.seen.length - 1] !== v) window.seen.push(v);
          }
        }).observe(document.getElementById('calls'), {subtree: true, attributes: true, childList: true});""")
    fax_id = _send(faxd, PDF3, "+12025550188")
    card = f"document.querySelector('.call[data-fax-id=\"{fax_id}\"]')"
    _wait(browser, f"return {card} && {card}.dataset.status === 'completed'")
    seen = [s.split(":")[1] for s in browser.execute_script("return window.seen") if s.startswith(fax_id)]
    advancing = [p for p in seen if p != "0"]
    assert advancing == sorted(advancing) and advancing[-1] == "3" and len(set(advancing)) >= 2, seen
    el = browser.find_element(By.CSS_SELECTOR, f".call[data-fax-id='{fax_id}']")
    assert "+12025550188" in el.text and "pages 3 / 3" in el.text and "bps" in el.text
    assert "page 1 of 3" in el.text or "page 2 of 3" in el.text
    assert browser.execute_script(f"return {card}.querySelector('.progress > div').style.width") == "100%"
    failed = _send(faxd, PDF3, "+12025550109")
    _wait(browser, f"return document.querySelector('.call[data-fax-id=\"{failed}\"]')?.dataset.status === 'failed'")
    assert "UNALLOCATED_NUMBER" in browser.find_element(By.ID, "failure-groups").text
    assert "2 sent" not in browser.find_element(By.ID, "tp-summary").text
    assert "1 sent, 1 failed" in browser.find_element(By.ID, "tp-summary").text
    browser.save_screenshot(str(tmp_path / "ops-desktop.png"))
    browser.set_window_size(390, 844)          # a phone
    time.sleep(0.3)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    browser.save_screenshot(str(tmp_path / "ops-phone.png"))
    assert (tmp_path / "ops-desktop.png").stat().st_size > 10000


def test_ops_page_shows_another_nodes_switch_come_up_and_go_down_live(faxd, browser, tmp_path, dsn):
    from selenium.webdriver.common.by import By

    browser.get(faxd.base_url + "/ops/")
    browser.find_element(By.ID, "apikey").send_keys(faxd.bootstrap["api_key"])
    browser.find_element(By.ID, "signin-button").click()
    _wait(browser, "return document.getElementById('conn').textContent === 'live'")
    items = "return [...document.querySelectorAll('#switch-list li')].map((li) => li.textContent)"
    assert len([t for t in browser.execute_script(items) if "software on node" in t]) == 1
    # A second node starts after sign-in: /metrics was read before it existed, so only the
    # stream's switch_connected can show it, and its switch_disconnected when it stops.
    other = FaxdProcess({"FAXD_DATABASE_URL": _url(dsn), "FAXD_HOME": str(tmp_path / "b")}).wait_ready()
    try:
        _wait(browser, items + ".filter((t) => t.includes('software on node') && t.endsWith(' up')).length === 2")
    finally:
        other.stop()
    _wait(browser, items + ".some((t) => t.endsWith(' DOWN'))")
    browser.save_screenshot(str(tmp_path / "ops-switch-down.png"))
