"""Each role's main journey in real headless Chromium. Every network response is recorded: none has an
image type or carries the stored image (raw or base64), every one is ``no-store``, no page reports a
CSP violation, and after sign-out the back button shows nothing sensitive."""

from __future__ import annotations

import re

import pyotp
import pytest

from sealroom.demo.documents import render_lab_report
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, Env
from tests.e2e.conftest import Browser, assert_contained

pytestmark = pytest.mark.e2e


def _ingest_lab(env: Env) -> tuple[str, bytes]:
    data = render_lab_report()
    image_id = env.workspace.vault.ingest(
        env.session("nora"), data, IngestRequest("clinical-records", CLINICAL_CASE, "clinical")
    )["id"]
    return image_id, data


def test_clinician_analyses_an_image_that_never_reaches_the_browser(browser: Browser, env: Env) -> None:
    _image_id, data = _ingest_lab(env)
    page = browser.page

    browser.sign_in(env, "sam")
    assert page.url.endswith("/cases")
    assert page.get_by_role("heading", name=f"Case {CLINICAL_CASE}").is_visible()
    assert page.locator("#session-banner").get_by_text("Signed in as").is_visible()
    browser.shot("cases")

    page.get_by_role("link", name=re.compile("Analyse")).first.click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name=re.compile("Clinical document")).is_visible()
    browser.shot("image")

    page.get_by_label("Describe").check()
    page.get_by_role("button", name="Run analysis").click()
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    entities = page.locator("#r-entities tbody tr")
    assert entities.count() > 0
    assert "***-**-" in page.locator("#r-entities").inner_text()  # the SSN, masked
    assert page.locator("#r-layout svg .region").count() > 5  # the wireframe, drawn from the result
    assert page.locator("#r-layout image, #r-layout img").count() == 0
    browser.shot("analysis")
    assert browser.csp_violations() == []

    page.get_by_role("link", name=re.compile("Image")).first.click()
    page.wait_for_load_state("networkidle")
    page.get_by_label("Reason").fill("Referral letter to the cardiology clinic")
    page.get_by_role("button", name="Request export").click()
    page.wait_for_load_state("networkidle")
    assert "Someone other than you must approve it" in page.content()
    browser.shot("requests")

    sensitive = page.locator("#main").inner_text()
    page.get_by_role("button", name="End session").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="You are signed out").is_visible()
    browser.shot("signed-out")
    page.go_back()
    page.wait_for_load_state("networkidle")
    shown = page.locator("body").inner_text()
    assert "Referral letter" not in shown and CLINICAL_CASE not in shown, sensitive
    assert page.get_by_role("heading", name="Sign in").is_visible()
    browser.shot("after-back")

    assert browser.csp_violations() == []
    assert_contained(browser.responses, [data])


def test_approver_decides_a_request_from_the_queue(browser: Browser, env: Env) -> None:
    image_id, data = _ingest_lab(env)
    env.workspace.exports.request_export(
        env.session("sam"), image_id, fmt="pdf", variant="redacted", reason="Referral to oncology"
    )
    page = browser.page

    browser.sign_in(env, "ada")
    browser.go("/requests/review")
    assert "Referral to oncology" in page.locator("main").inner_text()
    browser.shot("review-queue")
    page.get_by_role("button", name="Approve").first.click()
    page.wait_for_load_state("networkidle")
    assert "Your decision was recorded" in page.content()
    browser.shot("decided")
    browser.go("/break-glass")
    assert page.get_by_role("heading", name="Break-glass uses to review").is_visible()
    browser.shot("break-glass")

    assert browser.csp_violations() == []
    assert_contained(browser.responses, [data])


def test_administrator_creates_an_account_and_the_person_enrols_and_signs_in(
    browser: Browser, env: Env
) -> None:
    page = browser.page
    browser.sign_in(env, "alex")
    browser.go("/admin/users")
    browser.shot("accounts")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Full name").fill("Dana Reyes")
    page.get_by_label("clinician").check()
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state("networkidle")
    link = page.locator("code.secret").inner_text()
    assert "/enrol/" in link
    browser.shot("enrolment-link")
    page.get_by_role("button", name="End session").click()
    page.wait_for_load_state("networkidle")

    page.goto(link)
    assert page.locator("svg.qr-code").is_visible()
    secret = page.locator("figcaption code").inner_text()
    browser.shot("enrol")
    page.get_by_label("New password (at least").fill("Sunflower-meadow-42")
    page.get_by_label("New password again").fill("Sunflower-meadow-42")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(env.clock.now()))
    page.get_by_role("button", name="Finish set-up").click()
    page.wait_for_load_state("networkidle")
    assert "Your second factor is set up" in page.content()

    env.clock.advance(seconds=30)
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("Sunflower-meadow-42")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).at(env.clock.now()))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#session-banner").get_by_text("dana").is_visible()
    browser.shot("signed-in")

    assert browser.csp_violations() == []
    assert_contained(browser.responses, [])
