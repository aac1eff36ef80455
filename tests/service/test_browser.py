"""Browser test (Playwright driving Debian's headless Chromium): log in, create a patient,
enter an episode, interpret it, see the plot, issue the report and download its PDF.

Outside CI it is skipped, with the reason, when ``/usr/bin/chromium`` is missing; in CI (env
``CI`` set) a missing browser is a failure, as ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from .conftest import PASSWORD, make_app

CHROMIUM = Path("/usr/bin/chromium")
# no background connections: the test machine has no network and needs none
CHROMIUM_ARGS = [
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; .ci/run must install Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); runs in CI")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    _require_chromium()
    port = _free_port()
    config = uvicorn.Config(make_app(tmp_path), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_clinical_workflow_in_the_browser(server_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("IMATINIB_TDM_SCREENSHOTS", tmp_path))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
            page.goto(server_url + "/patients")
            expect(page).to_have_url(server_url + "/login")
            page.get_by_label("Username").fill("pharmacologist")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Patients")).to_be_visible()

            page.get_by_role("link", name="New patient").click()
            page.get_by_label("Medical record number (MRN)").fill("BR-0042")
            page.get_by_label("Family name").fill("Keller")
            page.get_by_label("Given name").fill("Anna")
            page.get_by_label("Birth date").fill("1968-02-14")
            page.get_by_label("Sex").select_option("female")
            page.get_by_label("Indication").select_option("GIST")
            page.get_by_role("button", name="Create patient").click()
            expect(page.get_by_role("heading", name="Keller, Anna")).to_be_visible()

            page.get_by_role("link", name="New episode").click()
            page.get_by_label("Episode label").fill("Trough after 2 months")
            page.get_by_label("Age (years)").fill("58")
            page.get_by_label("Weight (kg)").fill("64")
            page.get_by_label("Height (cm)").fill("166")
            page.get_by_label("Start of regimen 1").fill("2026-08-01T08:00")
            page.get_by_label("Dose 1 (mg)").fill("400")
            page.get_by_label("Interval 1 (h)").fill("24")
            page.get_by_label("Count 1").fill("60")
            page.get_by_label("Sample 1 id").fill("S1")
            page.get_by_label("Sample 1 time").fill("2026-09-29T07:40")
            page.get_by_label("Sample 1 value").fill("1.05")
            page.get_by_label("Sample 1 unit").select_option("mg/L")
            page.get_by_label("Co-medication 1").fill("omeprazole")
            page.get_by_role("button", name="Save episode").click()
            expect(page.locator("#episode-status")).to_have_text("draft")

            page.get_by_role("button", name="Interpret").click()
            expect(page.locator("#dose-advice")).to_be_visible()
            expect(page.locator("#interpretation-plot[data-rendered=true]")).to_be_visible(
                timeout=20_000
            )
            assert page.locator("#interpretation-plot .main-svg").count() > 0
            page.screenshot(path=str(shots / "interpretation.png"), full_page=True)

            page.get_by_role("button", name="Validate and issue report").click()
            expect(page.locator("#episode-status")).to_have_text("reported")
            with page.expect_download() as download_info:
                page.locator("a.pdf-link").first.click()
            pdf = Path(download_info.value.path())
            assert pdf.read_bytes().startswith(b"%PDF-")

            page.goto(server_url + "/patients")
            page.get_by_role("link", name="Keller, Anna").click()
            expect(page.locator("#history-plot[data-rendered=true]")).to_be_visible(timeout=20_000)
            page.screenshot(path=str(shots / "patient.png"), full_page=True)
        finally:
            browser.close()
