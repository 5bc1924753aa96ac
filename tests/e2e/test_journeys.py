"""Each role's main journey in real headless Chromium. Every network response is recorded: none has an
image type or carries the stored image (raw or base64), every one is ``no-store``, no page reports a
CSP violation, and after sign-out the back button shows nothing sensitive."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from sealroom.db.models import AuditEvent
from sealroom.demo.documents import render_lab_report
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, Env
from tests.e2e.conftest import Browser, assert_contained

pytestmark = pytest.mark.e2e


def _events(env: Env, action: str) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(
            db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


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


def test_auditor_searches_verifies_exports_and_signs_off(browser: Browser, env: Env) -> None:
    image_id, data = _ingest_lab(env)
    env.workspace.vault.describe(env.session("sam"), image_id)  # an access to find
    page = browser.page

    browser.sign_in(env, "kim")
    assert page.url.endswith("/audit")
    assert page.get_by_role("heading", name="Audit log").is_visible()
    assert page.get_by_role("link", name="Audit", exact=True).is_visible()
    assert page.get_by_role("link", name="Administration").count() == 0
    browser.shot("audit-log")

    page.get_by_label("Image id").fill(image_id)
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state("networkidle")
    assert f"image_id={image_id}" in page.url  # the search is a shareable address
    rows = page.locator("table tbody tr")
    assert rows.count() >= 1
    assert "image.ingest" in page.locator("table").inner_text()
    page.locator("table tbody tr details summary").first.click()
    assert page.locator("table tbody tr details pre").first.is_visible()
    browser.shot("search-by-image")

    page.get_by_role("link", name=re.compile("who accessed image")).first.click()
    page.wait_for_load_state("networkidle")
    assert "kind=access" in page.url and "sam" in page.locator("table").inner_text()
    browser.shot("who-accessed")
    page.get_by_role("link", name="Denials").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_label("Named search").input_value() == "denials"

    page.get_by_role("button", name="Verify the chain").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("The chain is intact").is_visible()
    assert page.locator("code.secret").inner_text()  # the head's seal, to keep as an anchor
    browser.shot("verified")
    page.get_by_role("link", name="Back to the audit log").click()
    page.wait_for_load_state("networkidle")

    browser.go(f"/audit?image_id={image_id}")
    page.get_by_label("CSV for a spreadsheet").check()
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Export evidence").click()
    download = downloading.value
    assert download.suggested_filename.startswith("sealroom-audit-")
    assert download.suggested_filename.endswith(".csv")
    exported = Path(download.path()).read_text()
    assert image_id in exported and "sealroom.export.manifest" in exported
    assert data[:64] not in exported.encode()
    browser.shot("after-export")

    page.get_by_role("link", name="Readiness").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Readiness report").is_visible()
    page.get_by_label("Notes").fill("Reviewed roles, retention and the audit chain.")
    page.get_by_role("button", name="Sign off the current configuration").click()
    page.wait_for_load_state("networkidle")
    assert "The sign-off was recorded" in page.content()
    assert page.get_by_text("CURRENT", exact=True).is_visible()
    browser.shot("signed-off")
    assert browser.csp_violations() == []

    page.get_by_role("button", name="End session").click()
    page.wait_for_load_state("networkidle")
    page.go_back()
    page.wait_for_load_state("networkidle")
    shown = page.locator("body").inner_text()
    assert "Reviewed roles" not in shown and "image.ingest" not in shown and image_id not in shown
    assert page.get_by_role("heading", name="Sign in").is_visible()
    browser.shot("after-back")

    assert browser.csp_violations() == []
    assert_contained(browser.responses, [data])
    assert [e.details["format"] for e in _events(env, "audit.export")] == ["csv"]


def test_administrator_reads_the_readiness_report(browser: Browser, env: Env) -> None:
    page = browser.page
    browser.sign_in(env, "alex")
    assert page.url.endswith("/admin/users")
    page.get_by_role("link", name="Readiness").first.click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Readiness report").is_visible()
    overall = page.locator("p.overall .badge").inner_text()
    assert overall in ("PASS", "WARN", "FAIL")  # the status is written out, not colour alone
    assert page.get_by_role("heading", name=re.compile("Compliance review signed off")).is_visible()
    assert "sealroom signoff" in page.locator("main").inner_text()  # the remedy of the unsigned review
    assert page.get_by_role("button", name=re.compile("Sign off")).count() == 0
    assert page.get_by_role("link", name="Audit", exact=True).count() == 0
    browser.shot("readiness")

    assert browser.csp_violations() == []
    assert_contained(browser.responses, [])
