"""The monitor in a real browser (Playwright driving Debian's Chromium): the overview's map
with its boundaries, an incident followed from the map to its page, the evidence highlighted
in the report, a review filed by an analyst and signed by a lead, the ledger entry; the
overview in English, Ukrainian and Russian at 1280x800; a hostile report that runs nothing."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from truce.db import Database
from truce.web import create_app
from web_support import add_hostile_report, web_database

CHROMIUM = os.environ.get("TRUCE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")]


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    import uvicorn

    tmp = tmp_path_factory.mktemp("browser")
    path, tokens = web_database(demo[0], tmp)
    with Database(str(path)) as db:
        hostile = add_hostile_report(db)
    app = create_app(str(path), poll_seconds=1.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", path, hostile, tmp
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def sign_in(browser, base, name):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=secret]", f"{name}-password")
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def map_ready(page):
    page.wait_for_selector("#map[data-ready='1']", timeout=20000)
    return int(page.get_attribute("#map", "data-boundaries_loaded") or 0)


def non_blank(png: Path) -> int:
    """How many distinct colours the screenshot's map area has (a blank page has one or two)."""
    from PIL import Image

    img = Image.open(png).convert("RGB").crop((60, 300, 1220, 800))
    return len(img.getcolors(maxcolors=1 << 20) or [])


def test_review_from_the_map_to_the_ledger(server, browser):
    base, path, _, tmp = server
    analyst = sign_in(browser, base, "olena")
    assert map_ready(analyst) > 100
    assert analyst.locator(".leaflet-overlay-pane path").count() > 100  # the boundaries are drawn
    # zoom until single incidents leave their clusters, then follow one from the map
    marker = analyst.locator(".leaflet-marker-pane .inc-icon")
    for _ in range(4):
        if marker.count():
            break
        analyst.locator(".leaflet-control-zoom-in").click()
        analyst.wait_for_timeout(600)
    marker.first.click()
    analyst.locator(".leaflet-popup a.popup-link").click()
    analyst.wait_for_url(f"{base}/incidents/*")
    incident_url = analyst.url
    assert analyst.locator("h2#claims").is_visible() and analyst.locator("article.claim").count() >= 1

    # the evidence, highlighted in the report at its offsets
    analyst.locator("a.evidence-link").first.click()
    analyst.wait_for_url(f"{base}/reports/*")
    focus = analyst.locator("mark.ev.focus")
    assert focus.count() >= 1 and focus.first.is_visible()
    assert analyst.evaluate("getComputedStyle(document.querySelector('mark.ev.focus')).backgroundColor") != "rgba(0, 0, 0, 0)"

    # the analyst files a review
    analyst.goto(incident_url)
    analyst.select_option("form.review-form select[name=verdict]", "alleged")
    analyst.fill("form.review-form textarea[name=note]", "Only one side's sources place the strike (browser test).")
    analyst.click("form.review-form button[type=submit]")
    analyst.wait_for_selector("article.review")
    assert "Awaiting a lead" in analyst.locator("article.review").last.inner_text()
    assert analyst.locator("form[action$='/signoff']").count() == 0  # an analyst cannot sign

    # a lead signs it
    lead = sign_in(browser, base, "lev")
    lead.goto(incident_url)
    lead.locator("article.review form[action$='/signoff'] button").last.click()
    lead.wait_for_selector("article.review p.signed")
    assert "Signed by lev" in lead.locator("article.review p.signed").last.inner_text()

    # and the ledger shows both entries, intact
    lead.goto(f"{base}/ledger")
    rows = lead.locator("#ledger-entries tbody tr")
    text = rows.all_inner_texts()
    assert any("signoff" in t and "lev" in t for t in text) and any("review" in t and "olena" in t for t in text)
    assert "Intact" in lead.locator("#verification").inner_text()
    with Database(str(path)) as db:
        last = db.ledger_entries()[-2:]
    assert [(e.kind, e.author) for e in last] == [("review", "olena"), ("signoff", "lev")]
    assert not analyst.errors and not lead.errors  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang, heading", [("en", "Energy strikes"), ("uk", "Удари по енергетиці"),
                                           ("ru", "Удары по энергетике")])
def test_overview_in_three_languages(server, browser, lang, heading):
    base, _, _, tmp = server
    page = sign_in(browser, base, "olena")
    page.goto(f"{base}/?lang={lang}")
    assert heading in page.locator("h1").inner_text()
    assert map_ready(page) > 100
    page.locator("#map").scroll_into_view_if_needed()
    page.wait_for_timeout(400)
    shots = Path(os.environ.get("TRUCE_SCREENSHOTS") or tmp)
    shots.mkdir(parents=True, exist_ok=True)
    png = shots / f"overview-{lang}.png"
    page.screenshot(path=str(png))
    assert page.viewport_size == {"width": 1280, "height": 800}
    assert non_blank(png) > 20
    assert page.locator(".leaflet-overlay-pane path").count() > 100
    if lang != "en":
        page.locator(".leaflet-control-zoom-in").click()
        page.locator(".leaflet-control-zoom-in").click()
        page.locator(".region-label").first.wait_for(timeout=10000)  # (no wait_for_function: the CSP forbids eval)
        labels = page.locator(".region-label").all_inner_texts()
        assert any(("Київ" if lang == "uk" else "Киев") in x for x in labels), labels[:10]


def test_a_hostile_report_runs_nothing(server, browser):
    base, _, hostile, _ = server
    page = sign_in(browser, base, "olena")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/reports/{hostile}?claim=0#claim-0")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.title() != "pwned" and "<script>" in page.title()  # the report's title, as text
    text = page.locator(".report-text").inner_text()
    assert "<script>" in text and "javascript:" in text  # shown as text
    assert page.locator(".report-text a, .report-text img, .report-text script").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    page.get_by_text("click here").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None and not dialogs
