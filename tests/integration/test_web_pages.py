"""The browser workspace through real HTTP (the ASGI app): sign-in, CSRF, enrolment, cases, analysis
jobs, sign-out. The real-browser journeys are in ``tests/e2e``."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sealroom.analysis.models import AnalysisTask
from sealroom.api.app import create_app
from sealroom.api.deps import SESSION_COOKIE
from sealroom.db.models import AuditEvent
from sealroom.demo.documents import render_lab_report
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, PASSWORD, Env


@pytest.fixture
def browser(env: Env) -> TestClient:
    with TestClient(create_app(env.workspace, sweep=False), follow_redirects=False) as client:
        yield client


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def sign_in(client: TestClient, env: Env, username: str, next_path: str = "/") -> None:
    form = client.get("/login")
    assert form.status_code == 200
    response = client.post(
        "/login",
        data={
            "username": username, "password": PASSWORD, "totp": env.fresh_code(username),
            "login_token": hidden(form.text, "login_token"), "next": next_path,
        },
    )  # fmt: skip
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_path


def _events(env: Env, action: str) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(
            db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


def test_pages_need_a_session_and_send_the_browser_to_sign_in(browser: TestClient) -> None:
    response = browser.get("/cases")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/cases"  # no session cookie: a first visit
    page = browser.get("/login?next=/cases")
    assert page.status_code == 200 and "Sign in" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]


def test_a_first_visit_gets_the_plain_sign_in_page_and_an_ended_session_says_so(
    browser: TestClient, env: Env
) -> None:
    first = browser.get("/")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/"
    page = browser.get(first.headers["location"])
    assert page.status_code == 200 and "Sign in" in page.text and "session ended" not in page.text
    sign_in(browser, env, "sam")
    assert browser.get("/cases").status_code == 200
    token = browser.cookies.get(SESSION_COOKIE)
    assert token
    env.workspace.sessions.end(env.workspace.sessions.resolve(token).id, "logout")
    ended = browser.get("/cases")
    assert ended.status_code == 303
    assert ended.headers["location"] == "/login?notice=session_ended&next=/cases"
    assert "Your session ended" in browser.get(ended.headers["location"]).text


def test_sign_in_refuses_a_form_without_its_cookie_token(browser: TestClient, env: Env) -> None:
    browser.get("/login")
    response = browser.post(
        "/login", data={"username": "sam", "password": PASSWORD, "totp": env.fresh_code("sam"),
                        "login_token": "forged-value-of-the-right-length"},
    )  # fmt: skip
    assert response.status_code == 403 and "sign-in form has expired" in response.text
    assert _events(env, "session.open") == [] or all(e.actor != "sam" for e in _events(env, "session.open"))


def test_wrong_credentials_show_one_message_and_keep_the_name(browser: TestClient, env: Env) -> None:
    form = browser.get("/login")
    response = browser.post(
        "/login", data={"username": "sam", "password": "wrong-password-123", "totp": env.fresh_code("sam"),
                        "login_token": hidden(form.text, "login_token")},
    )  # fmt: skip
    assert response.status_code == 401
    assert "the username, password or code is not correct" in response.text
    assert 'value="sam"' in response.text and "wrong-password-123" not in response.text


def test_a_clinician_sees_metadata_by_case_and_analyses_without_receiving_the_image(
    browser: TestClient, env: Env
) -> None:
    data = render_lab_report()
    image_id = env.workspace.vault.ingest(
        env.session("nora"), data, IngestRequest("clinical-records", CLINICAL_CASE, "clinical")
    )["id"]
    sign_in(browser, env, "sam")

    cases = browser.get("/cases")
    assert cases.status_code == 200
    assert f"Case {CLINICAL_CASE}" in cases.text and f"/images/{image_id}" in cases.text
    detail = browser.get(f"/images/{image_id}")
    assert detail.status_code == 200 and "Run analysis" in detail.text
    csrf = hidden(detail.text, "csrf_token")

    refused = browser.post(f"/images/{image_id}/analyze", data={"task": "describe", "csrf_token": "x" * 64})
    assert refused.status_code == 403 and "not sent from this session" in refused.text
    started = browser.post(f"/images/{image_id}/analyze", data={"task": "describe", "csrf_token": csrf})
    assert started.status_code == 303
    job_id = started.headers["location"].rsplit("/", 1)[1]
    assert browser.get(f"/analyses/{job_id}").status_code == 200

    deadline = time.monotonic() + 120
    while True:
        job = browser.get(f"/api/v1/analysis-jobs/{job_id}").json()
        if job["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["status"] == "done", job
    result = job["result"]
    assert result["masked"] is True and result["document_type"] == "clinical"
    assert any(entity["type"] in ("US_SSN", "SSN") for entity in result["entities"])
    assert "***-**-" in result["text"]
    assert len(_events(env, "result.deliver")) == 1
    # Nothing that came back holds the image.
    for response in (cases, detail, started):
        assert data[:64] not in response.content


def test_another_session_cannot_read_a_job(browser: TestClient, env: Env) -> None:
    image_id = env.workspace.vault.ingest(
        env.session("nora"), render_lab_report(), IngestRequest("clinical-records", CLINICAL_CASE, "clinical")
    )["id"]
    sam = env.session("sam")
    job = env.workspace.jobs.start(sam, image_id, "local", AnalysisTask())
    sign_in(browser, env, "pat")
    assert browser.get(f"/api/v1/analysis-jobs/{job.id}").status_code == 404
    assert browser.get(f"/analyses/{job.id}").status_code == 404


def test_ending_the_session_clears_the_site_and_the_cookie_stops_working(
    browser: TestClient, env: Env
) -> None:
    sign_in(browser, env, "sam")
    page = browser.get("/cases")
    response = browser.post("/logout", data={"csrf_token": hidden(page.text, "csrf_token")})
    assert response.status_code == 200 and "You are signed out" in response.text
    assert response.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    assert _events(env, "session.purge")[-1].actor == "sam"
    assert browser.get("/cases").status_code == 303  # the old cookie is dead server-side too


def test_an_administrator_creates_an_account_and_the_person_enrols_with_the_link(
    browser: TestClient, env: Env
) -> None:
    invitation = env.workspace.accounts.create(env.session("alex"), "dana", ["clinician"], "Dana Reyes")
    page = browser.get(invitation.path)
    assert page.status_code == 200 and "<svg" in page.text and "qr-code" in page.text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    page = browser.get(invitation.path)
    assert page.text.count(secret) == 1  # the same seed on reload

    form = {"login_token": hidden(page.text, "login_token"), "password": "Sunflower-meadow-42",
            "confirm": "Sunflower-meadow-42", "totp": "000000"}  # fmt: skip
    wrong = browser.post(invitation.path, data=form)
    assert wrong.status_code == 401 and "code is not correct" in wrong.text
    form["login_token"] = hidden(wrong.text, "login_token")
    form["totp"] = pyotp.TOTP(secret).at(env.clock.now())
    done = browser.post(invitation.path, data=form)
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=enrolled"
    assert browser.get(invitation.path).status_code == 410  # once only

    env.clock.advance(seconds=30)
    user = env.workspace.identity.authenticate(
        "dana", "Sunflower-meadow-42", pyotp.TOTP(secret).at(env.clock.now())
    )
    assert user.mfa_enrolled
    enrolled = _events(env, "auth.mfa.enroll")[-1]
    assert enrolled.actor == "dana" and secret not in str(enrolled.details)


@pytest.mark.parametrize(
    ("username", "allowed", "refused"),
    [
        ("sam", ["/cases", "/requests", "/requests/review"], ["/admin/users", "/break-glass"]),
        ("ada", ["/requests", "/requests/review", "/break-glass"], ["/admin/users", "/admin/access"]),
        ("alex", ["/admin/users", "/admin/access", "/requests"], ["/cases", "/break-glass"]),
    ],
)
def test_each_role_reaches_its_pages_and_no_other(
    browser: TestClient, env: Env, username: str, allowed: list[str], refused: list[str]
) -> None:
    sign_in(browser, env, username)
    for path in allowed:
        response = browser.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        assert "End session" in response.text
    for path in refused:
        response = browser.get(path)
        assert response.status_code == 403, (path, response.status_code)
        assert "Not allowed" in response.text


def test_requests_are_asked_and_decided_in_the_pages(browser: TestClient, env: Env) -> None:
    sign_in(browser, env, "sam")
    page = browser.get("/requests")
    submitted = browser.post(
        "/requests",
        data={"csrf_token": hidden(page.text, "csrf_token"), "kind": "case", "dataset": "clinical-records",
              "case_id": "ENC-2026-0777", "hours": "4", "reason": "Covering the night shift on ward 3"},
    )  # fmt: skip
    assert submitted.status_code == 303 and "request_submitted" in submitted.headers["location"]
    mine = browser.get("/requests")
    assert "case ENC-2026-0777" in mine.text and "pending" in mine.text
    browser.cookies.clear()

    sign_in(browser, env, "ada")
    queue = browser.get("/requests/review")
    assert "Covering the night shift on ward 3" in queue.text
    request_id = re.search(r'action="/requests/([0-9a-f]{32})/approve"', queue.text).group(1)  # type: ignore[union-attr]
    decided = browser.post(
        f"/requests/{request_id}/approve", data={"csrf_token": hidden(queue.text, "csrf_token")}
    )
    assert decided.status_code == 303
    detail = browser.get(f"/requests/{request_id}")
    assert "approved" in detail.text and "ada" in detail.text
    assert any(g.case_id == "ENC-2026-0777" for g in env.workspace.grants.list_grants("sam"))


def _wait(browser: TestClient, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while True:
        job = browser.get(f"/api/v1/analysis-jobs/{job_id}").json()
        if job["status"] != "running" or time.monotonic() > deadline:
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)


def test_restricted_material_asks_for_a_fresh_code_in_the_page_and_then_opens(
    browser: TestClient, env: Env
) -> None:
    from sealroom.demo.documents import render_id_card

    image_id = env.workspace.vault.ingest(
        env.session("nora"), render_id_card(),
        IngestRequest("identity-docs", CLINICAL_CASE, "identity", "restricted"),
    )["id"]  # fmt: skip
    sign_in(browser, env, "pat")
    env.clock.advance(minutes=11)  # restricted images need a check within 10 minutes
    page = browser.get(f"/images/{image_id}")
    csrf = hidden(page.text, "csrf_token")

    first = browser.post(f"/images/{image_id}/analyze", data={"task": "classify", "csrf_token": csrf})
    job = _wait(browser, first.headers["location"].rsplit("/", 1)[1])
    assert job["status"] == "failed" and job["error"]["step_up"] is True  # type: ignore[index]
    assert job["result"] is None

    prompt = browser.get(f"/step-up?next=/images/{image_id}")
    assert prompt.status_code == 200 and "Confirm it is you" in prompt.text
    wrong = browser.post(
        "/step-up", data={"csrf_token": csrf, "totp": "000000", "next": f"/images/{image_id}"}
    )
    assert wrong.status_code == 401 and "code is not correct" in wrong.text
    confirmed = browser.post(
        "/step-up", data={"csrf_token": csrf, "totp": env.fresh_code("pat"), "next": f"/images/{image_id}"}
    )
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"/images/{image_id}"

    again = browser.post(f"/images/{image_id}/analyze", data={"task": "classify", "csrf_token": csrf})
    assert _wait(browser, again.headers["location"].rsplit("/", 1)[1])["status"] == "done"


def test_a_refused_form_says_why_and_leads_back_to_its_page(browser: TestClient, env: Env) -> None:
    sign_in(browser, env, "sam")
    page = browser.get("/requests")
    refused = browser.post(
        "/requests",
        data={"csrf_token": hidden(page.text, "csrf_token"), "kind": "case", "dataset": "clinical-records",
              "case_id": "ENC-2026-0777", "hours": "4", "reason": "   "},
    )  # fmt: skip
    assert refused.status_code == 400
    assert "say why you need this access" in refused.text
    assert 'href="/requests"' in refused.text
    not_a_number = browser.post(
        "/requests",
        data={"csrf_token": hidden(page.text, "csrf_token"), "kind": "case", "dataset": "clinical-records",
              "case_id": "ENC-2026-0777", "hours": "four", "reason": "Covering the ward round"},
    )  # fmt: skip
    assert not_a_number.status_code == 400 and "whole number of hours" in not_a_number.text
