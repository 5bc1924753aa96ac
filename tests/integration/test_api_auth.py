"""Sign-in over the API: TOTP required and single-use, throttling, cookies and security headers."""

from __future__ import annotations

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from sealroom.db.models import AuditEvent
from tests.conftest import PASSWORD, Env, login


def _login(
    client: TestClient, username: str, password: str, totp: str | None
) -> tuple[int, dict[str, object]]:
    response = client.post("/api/v1/login", json={"username": username, "password": password, "totp": totp})
    return response.status_code, response.json()


def test_login_sets_a_strict_httponly_cookie_and_security_headers(env: Env, client: TestClient) -> None:
    response = client.post(
        "/api/v1/login", json={"username": "sam", "password": PASSWORD, "totp": env.fresh_code("sam")}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert client.get("/api/v1/session").json()["username"] == "sam"


def test_totp_code_cannot_be_used_twice(env: Env, client: TestClient) -> None:
    code = env.fresh_code("sam")
    assert _login(client, "sam", PASSWORD, code)[0] == 200
    status, body = _login(client, "sam", PASSWORD, code)
    assert status == 401 and body["error"] == "authentication_failed"
    with env.workspace.db() as db:
        last = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.login").order_by(AuditEvent.seq.desc())
        ).first()
    assert last is not None and last.outcome == "failure" and last.reason == "totp_replay"


def test_wrong_or_missing_code_is_refused(env: Env, client: TestClient) -> None:
    wrong = pyotp.TOTP(pyotp.random_base32()).at(env.clock.now())
    assert _login(client, "sam", PASSWORD, wrong)[0] == 401
    status, body = _login(client, "sam", PASSWORD, None)
    assert status == 401 and body["error"] == "mfa_required"
    status, body = _login(client, "sam", "not-the-password-1", env.fresh_code("sam"))
    assert status == 401 and body["error"] == "authentication_failed"


def test_repeated_failures_are_throttled_even_with_the_right_password(env: Env, client: TestClient) -> None:
    for _ in range(env.workspace.settings.login.max_failures):
        assert _login(client, "sam", "guess-Guess-123", env.fresh_code("sam"))[0] == 401
    response = client.post(
        "/api/v1/login", json={"username": "sam", "password": PASSWORD, "totp": env.fresh_code("sam")}
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    env.clock.advance(minutes=env.workspace.settings.login.lockout_minutes + 1)
    login(client, env, "sam")


def test_unknown_user_gets_the_same_answer_and_no_raw_name_is_audited(env: Env, client: TestClient) -> None:
    status, body = _login(client, "mallory.unknown", PASSWORD, "123456")
    assert status == 401 and body["error"] == "authentication_failed"
    with env.workspace.db() as db:
        records = db.scalars(select(AuditEvent)).all()
    assert all("mallory" not in str((r.actor, r.details, r.reason)) for r in records)


def test_every_endpoint_but_login_and_health_needs_a_session(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/v1/images"),
        ("GET", "/api/v1/session"),
        ("POST", "/api/v1/logout"),
        ("POST", f"/api/v1/images/{'a' * 32}/analyses"),
        ("GET", "/api/v1/audit/events"),
        ("GET", "/api/v1/audit/verify"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["cache-control"] == "no-store"
    assert client.get("/healthz").status_code == 200


def test_malformed_login_is_a_clear_4xx_without_echoing_the_password(client: TestClient) -> None:
    response = client.post("/api/v1/login", json={"username": "sam", "password": "s3cret-value", "extra": 1})
    assert response.status_code == 422
    assert "s3cret-value" not in response.text
    assert (
        client.post(
            "/api/v1/login", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
