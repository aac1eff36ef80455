"""Browser test of issue 12's critical finding: hostile markup in every text field, every page,
two roles (Playwright driving Debian's headless Chromium, one browser, two contexts).

A clinician types markup into every field of a new patient and a new episode (script tags,
``<img onerror>``, a ``<form action>`` aimed at another patient's episode, attribute-breaking
quotes, ``</script>``, ``<!--``, ``javascript:`` links), and submits the episode form with
markup in the number and date fields too (the form comes back with everything typed). Then
every page is visited as the clinician and as a pharmacologist, with hostile reflected
parameters (search, simulator, what-if, model and error pages), and the DOM is checked on each:
no injected element, no extra form, no dialog, no call of the page's ``pwn`` trap, the typed
text shown as text. Last, the issue's scenario: the pharmacologist clicks the episode page's own
Interpret button and then issues the report; no report appears on the other patient's episode.

Outside CI it is skipped, with the reason, when ``/usr/bin/chromium`` is missing; in CI (env
``CI`` set) a missing browser is a failure, as in ``test_browser.py``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from .conftest import PASSWORD, demo_case_json
from .test_browser import CHROMIUM, CHROMIUM_ARGS
from .test_browser import server_url as server_url  # the same live-server fixture

pytestmark = pytest.mark.slow

# every hostile payload calls pwn() or alert(); the trap records calls (none may happen)
_TRAP = "window.__pwned = []; window.pwn = function () { window.__pwned.push(location.href); };"
# elements the payloads would create if the markup were parsed as HTML
_INJECTED = (
    "[id^=x-PWN], [id^=x-pwn], [id^=pwn], b[id], img[src='x'], svg[onload], iframe, "
    "a[href^='javascript:'], [onfocus], [onerror], textarea#pwn, "
    "script:not([src]):not([type='application/json'])"
)


def payload(
    tag: str, extra: str = '<img src=x onerror=pwn()><a href="javascript:pwn()">x</a>'
) -> str:
    """Markup for the field ``tag``: a marker element, quotes that close an attribute,
    ``</script>`` and ``<!--``, then ``extra``."""
    return f'<b id=x-PWN-{tag}>"onfocus="pwn()\'</script><!--pwn{extra}'


class Checker:
    """DOM checks on a page: nothing injected, the listed texts shown as text."""

    def __init__(self, page: Any, role: str, other_episode_id: int) -> None:
        self.page = page
        self.role = role
        self.other = other_episode_id
        self.dialogs: list[str] = []
        page.on("dialog", self._dialog)
        self.visited = 0

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self, where: str, *texts: str) -> None:
        page = self.page
        label = f"{self.role} {where} ({page.url})"
        injected = page.evaluate(
            "(s) => Array.from(document.querySelectorAll(s)).map(e => e.outerHTML.slice(0, 120))",
            _INJECTED,
        )
        assert injected == [], f"{label}: injected elements {injected}"
        assert page.evaluate("window.__pwned") == [], f"{label}: pwn() was called"
        assert self.dialogs == [], f"{label}: dialogs {self.dialogs}"
        actions = page.evaluate(
            "Array.from(document.forms)"
            ".map(f => (f.id || '') + ' ' + (f.getAttribute('action') || ''))"
        )
        assert not [a for a in actions if "pwn" in a or f"/episodes/{self.other}/" in a], (
            f"{label}: injected form among {actions}"
        )
        body = page.evaluate("document.body.innerText")
        for text in texts:
            assert text in body, f"{label}: {text!r} not shown as text"
        self.visited += 1

    def visit(self, url: str, *texts: str, status: int | None = 200) -> None:
        answer = self.page.goto(url)
        assert answer is not None
        if status is not None:
            assert answer.status == status, (self.role, url, answer.status)
        else:
            assert answer.status < 500, (self.role, url, answer.status)
        self.check(f"GET {url}", *texts)


def _log_in(context: Any, base: str, role: str) -> Any:
    page = context.new_page()
    page.goto(base + "/login")
    page.get_by_label("Username").fill(role)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/patients")
    return page


def _other_patient_episode(context: Any, base: str) -> int:
    """Another patient's episode, interpreted (a report could be issued on it), via the API."""
    api = context.request
    login = api.post(base + "/api/auth/login", data={"username": "clinician", "password": PASSWORD})
    assert login.ok, login.text()
    headers = {"X-CSRF-Token": login.json()["csrf_token"]}
    patient = api.post(
        base + "/api/patients",
        headers=headers,
        data={"mrn": "VICTIM-1", "family_name": "Victim", "given_name": "Vic", "sex": "male",
              "indication": "GIST"},
    )  # fmt: skip
    assert patient.status == 201, patient.text()
    patient_id = patient.json()["id"]
    episode = api.post(
        f"{base}/api/patients/{patient_id}/episodes",
        headers=headers,
        data={"label": "victim episode", "case": demo_case_json()},
    )
    assert episode.status == 201, episode.text()
    episode_id: int = episode.json()["id"]
    interpreted = api.post(
        f"{base}/api/patients/{patient_id}/episodes/{episode_id}/interpretations",
        headers=headers,
        data={"model": "widmer2006_base"},
    )
    assert interpreted.status == 201, interpreted.text()
    return episode_id


def _reports_of(context: Any, base: str, episode_id: int) -> list[Any]:
    answer = context.request.get(f"{base}/api/episodes/{episode_id}/reports")
    assert answer.ok, answer.text()
    reports = answer.json()
    assert isinstance(reports, list)
    return reports


def _enter_hostile_episode(page: Any, checker: Checker, other: int) -> tuple[int, int]:
    """Create the hostile patient and episode through the forms; (patient id, episode id)."""
    page.get_by_role("link", name="New patient").click()
    page.get_by_label("Medical record number (MRN)").fill(
        "<b id=x-PWN-mrn>\"'<img src=x onerror=pwn()>"
    )
    page.get_by_label("Family name").fill(payload("family"))
    page.get_by_label("Given name").fill(payload("given", "<svg onload=pwn()>"))
    page.get_by_label("Birth date").fill("1968-02-14")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Indication").select_option("GIST")
    page.get_by_role("button", name="Create patient").click()
    page.wait_for_url("**/patients/*")
    checker.check("patient page", "<b id=x-PWN-family>", "<b id=x-PWN-mrn>")
    patient_id = int(page.url.rsplit("/", 1)[1])

    page.get_by_role("link", name="New episode").click()
    checker.check("new episode form")
    # the attack: a form aimed at another patient's episode, left open in the label
    label = (
        "<b id=x-PWN-label>\"'</script><form id=pwnform method=post "
        f"action=/episodes/{other}/reports><button>go</button>"
    )
    texts = {
        "Episode label": label,
        "Sample 1 id": payload("sample", "<iframe src=javascript:pwn()>"),
        "Sample 1 assay": payload("assay"),
        "Co-medication 1": payload("comed"),
        "Co-medication 2": "rifampicin",
        "Notes": payload("notes", "</textarea><textarea id=pwn>"),
        "Missed doses (date-times, separated by commas)": payload("missed"),
    }
    for field, value in texts.items():
        page.get_by_label(field, exact=True).fill(value)
    # markup in the number and date fields too: made text inputs, as a script could send them
    page.eval_on_selector_all(
        "form[action$='/episodes/new'] input[type=number], form[action$='/episodes/new'] "
        "input[type=datetime-local]",
        "els => els.forEach(e => { e.type = 'text'; })",
    )
    numbers = ("Age (years)", "Weight (kg)", "Start of regimen 1", "Dose 1 (mg)", "Interval 1 (h)",
               "Count 1", "Sample 1 time", "Sample 1 value", "Sample 1 LLOQ")  # fmt: skip
    for field in numbers:
        page.get_by_label(field, exact=True).fill(
            payload("number", "<img src=x onerror=pwn()>")[:60]
        )
    with page.expect_response(lambda r: r.request.method == "POST") as submitted:
        page.get_by_role("button", name="Save episode").click()
    assert submitted.value.status == 422
    page.wait_for_load_state()
    checker.check("episode form shown again with errors")
    assert page.get_by_label("Episode label").input_value() == label
    assert page.get_by_label("Notes").input_value() == texts["Notes"]
    # a number input drops a non-number from its value; the attribute keeps what was typed
    assert page.get_by_label("Dose 1 (mg)").get_attribute("value").startswith("<b id=x-PWN-")
    # now valid numbers; every text field keeps its markup
    page.get_by_label("Missed doses (date-times, separated by commas)").fill("")
    valid = dict(zip(numbers, ("58", "64", "2026-08-01T08:00", "400", "24", "60",
                               "2026-09-29T07:40", "1050", "50"), strict=True))  # fmt: skip
    for field, value in valid.items():
        page.get_by_label(field, exact=True).fill(value)
    page.get_by_role("button", name="Save episode").click()
    page.wait_for_url("**/episodes/*")
    checker.check("episode page", "<b id=x-PWN-label>", "<b id=x-PWN-assay>", "<b id=x-PWN-comed>")
    episode_id = int(page.url.rsplit("/", 1)[1].split("#")[0])
    return patient_id, episode_id


def _visit_every_page(checker: Checker, base: str, patient_id: int, episode_id: int) -> None:
    q = quote("<b id=x-PWN-q>\"'<img src=x onerror=pwn()>")
    number = quote(payload("sim")[:60])
    checker.visit(f"{base}/patients", "<b id=x-PWN-family>")
    checker.visit(f"{base}/patients?q={q}", status=None)
    assert (
        checker.page.get_by_label("Search by name or MRN")
        .input_value()
        .startswith("<b id=x-PWN-q>")
    )
    checker.visit(f"{base}/patients/{patient_id}", "<b id=x-PWN-given>")
    checker.visit(f"{base}/episodes/{episode_id}", "<b id=x-PWN-label>")
    checker.visit(f"{base}/episodes/{episode_id}/whatif")
    checker.visit(f"{base}/episodes/{episode_id}/whatif?model={q}", status=None)
    checker.visit(f"{base}/simulate?dose_mg={number}&interval_h={number}&n_doses={number}"
                  f"&weight_kg={number}&model={q}", status=422)  # fmt: skip
    assert checker.page.get_by_label("Dose (mg)").get_attribute("value").startswith("<b id=x-PWN")
    checker.visit(f"{base}/simulate?model=widmer2006_base&dose_mg=400&interval_h=24&n_doses=10")
    checker.visit(f"{base}/models")
    checker.visit(f"{base}/models/widmer2006_base")
    checker.visit(f"{base}/models/{q}", status=None)
    checker.visit(f"{base}/episodes/{q}", status=None)
    checker.visit(f"{base}/no-such-page/{q}", status=404)


def test_hostile_markup_in_every_field_stays_text_on_every_page(server_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = server_url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            setup = browser.new_context()
            other = _other_patient_episode(setup, base)
            setup.close()

            clinician_context = browser.new_context(viewport={"width": 1280, "height": 900})
            clinician_context.add_init_script(_TRAP)
            page = _log_in(clinician_context, base, "clinician")
            clinician = Checker(page, "clinician", other)
            patient_id, episode_id = _enter_hostile_episode(page, clinician, other)
            page.goto(f"{base}/episodes/{episode_id}/edit")
            clinician.check("episode edit form")
            assert page.get_by_label("Sample 1 assay").input_value() == payload("assay")
            _visit_every_page(clinician, base, patient_id, episode_id)

            pharmacologist_context = browser.new_context(viewport={"width": 1280, "height": 900})
            pharmacologist_context.add_init_script(_TRAP)
            page = _log_in(pharmacologist_context, base, "pharmacologist")
            pharmacologist = Checker(page, "pharmacologist", other)
            _visit_every_page(pharmacologist, base, patient_id, episode_id)
            # the scenario: the page's own Interpret button interprets THIS episode
            page.goto(f"{base}/episodes/{episode_id}")
            button = page.locator("#interpret-button")
            assert button.evaluate("b => b.form.getAttribute('action')") == (
                f"/episodes/{episode_id}/interpret"
            )
            button.click()
            expect(page.locator("#dose-advice")).to_be_visible()
            pharmacologist.check("interpretation", "<b id=x-PWN-label>", "<b id=x-PWN-comed>")
            expect(page.locator("#interpretation-plot[data-rendered=true]")).to_be_visible(
                timeout=20_000
            )
            pharmacologist.check("interpretation with its plot")
            pharmacologist.visit(
                f"{base}/episodes/{episode_id}/report/preview", "<b id=x-PWN-notes>"
            )
            page.goto(f"{base}/episodes/{episode_id}")
            page.get_by_role("button", name="Validate and issue report").click()
            expect(page.locator("#episode-status")).to_have_text("reported")
            pharmacologist.check("episode page with its report")
            report_href = page.locator("a[href$='/html']").first.get_attribute("href")
            assert report_href is not None
            pharmacologist.visit(base + report_href, "<b id=x-PWN-family>")
            page.goto(f"{base}/patients/{patient_id}")
            expect(page.locator("#history-plot[data-rendered=true]")).to_be_visible(timeout=20_000)
            pharmacologist.check("patient page with its plot")
            # nothing was issued on the other patient's episode, nothing on this one twice
            assert _reports_of(pharmacologist_context, base, other) == []
            assert len(_reports_of(pharmacologist_context, base, episode_id)) == 1
            assert clinician.visited >= 15 and pharmacologist.visited >= 18
        finally:
            browser.close()
