"""Case grants through the API (administrators and integrations) and the operator's CLI.

A grant takes effect, and a revocation ends it, at the user's next request: inside the session they
already hold, with the same bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta, timezone
from typing import Any

import pytest
import typer
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from sealroom.api.app import create_app
from sealroom.api.grants import router
from sealroom.audit.verify import verify_chain
from sealroom.cli.integrations_cmd import integration_app
from sealroom.cli.users_cmd import grant_app
from sealroom.db.models import AuditEvent, Grant
from sealroom.demo.documents import render_lab_report
from sealroom.errors import AuthenticationError, ConflictError, InputError
from sealroom.vault.service import IngestRequest
from tests.conftest import Env, login

CASES = ("ENC-2026-0101", "ENC-2026-0102")


@pytest.fixture
def api(env: Env) -> Iterator[TestClient]:
    """The workspace's app, with the grants router added when the app does not mount it yet."""
    app = create_app(env.workspace, sweep=False)
    if not any(isinstance(r, APIRoute) and r.path.startswith("/api/v1/grants") for r in app.routes):
        app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


def _ingest(env: Env, cases: tuple[str, ...] = CASES) -> dict[str, str]:
    """One clinical image per case, filed by nora; case id -> image id."""
    intake = env.session("nora")
    data = render_lab_report()
    ids = {
        case: env.workspace.vault.ingest(intake, data, IngestRequest("clinical-records", case, "clinical"))[
            "id"
        ]
        for case in cases
    }
    env.workspace.sessions.end(intake.id, "logout")
    return ids


def _integration(env: Env, name: str = "adt-feed") -> dict[str, str]:
    _row, token = env.workspace.integrations.create(name, created_by="operator:test")
    return {"Authorization": f"Bearer {token}"}


def _events(env: Env, action: str) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(
            db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


def _grant_body(**overrides: Any) -> dict[str, Any]:
    return {"username": "sam", "case_ids": list(CASES), "purpose": "admitted to ward 4", **overrides}


def _statuses(api: TestClient, headers: dict[str, str], ids: dict[str, str]) -> list[int]:
    return [api.get(f"/api/v1/images/{image_id}", headers=headers).status_code for image_id in ids.values()]


def test_an_integration_grants_a_set_of_cases_and_the_user_sees_them(env: Env, api: TestClient) -> None:
    ids = _ingest(env)
    feed = _integration(env)
    sam = login(api, env, "sam")
    assert _statuses(api, sam, ids) == [404, 404]

    response = api.post("/api/v1/grants", json=_grant_body(duration_minutes=240), headers=feed)

    assert response.status_code == 201, response.text
    made = response.json()["grants"]
    assert [g["case_id"] for g in made] == list(CASES)
    assert {(g["username"], g["source"], g["granted_by"], g["status"]) for g in made} == {
        ("sam", "integration", "integration:adt-feed", "active")
    }
    assert _statuses(api, sam, ids) == [200, 200]

    # The trail: the integration's admission, then one grant record per case, in its name.
    decisions = [e for e in _events(env, "access.decision") if e.actor == "integration:adt-feed"]
    assert [(e.category, e.outcome, e.details["requested"]) for e in decisions] == [
        ("access", "allow", "grant:manage")
    ]
    created = [e for e in _events(env, "admin.grant.create") if e.case_id in CASES]
    assert [(e.actor, e.details["source"], e.details["user"]) for e in created] == [
        ("integration:adt-feed", "integration", "sam")
    ] * 2
    listed = api.get("/api/v1/grants", params={"username": "sam"}, headers=feed).json()["grants"]
    assert {g["case_id"] for g in listed} == {*CASES, "ENC-2026-0042"}
    with env.workspace.db() as db:
        assert verify_chain(db, env.workspace.keys.audit_key).ok


def test_a_revoked_integration_token_is_refused(env: Env, api: TestClient) -> None:
    feed = _integration(env)
    assert api.get("/api/v1/grants", headers=feed).status_code == 200
    env.workspace.integrations.revoke("adt-feed", revoked_by="operator:test")

    response = api.post("/api/v1/grants", json=_grant_body(duration_minutes=60), headers=feed)

    assert response.status_code == 401
    assert response.json()["message"] == "the integration token is not valid"
    (failure,) = _events(env, "integration.auth")
    assert (failure.outcome, failure.actor, failure.reason) == (
        "failure",
        "integration:adt-feed",
        "token_revoked",
    )
    unknown = {"Authorization": "Bearer srint_" + "x" * 43}
    assert api.get("/api/v1/grants", headers=unknown).status_code == 401
    with env.workspace.db() as db:
        assert db.scalars(select(Grant).where(Grant.source == "integration")).all() == []


def test_an_integration_token_is_not_a_session(env: Env, api: TestClient) -> None:
    ids = _ingest(env, CASES[:1])
    feed = _integration(env)
    assert api.get("/api/v1/images", headers=feed).status_code == 401
    assert api.get(f"/api/v1/images/{ids[CASES[0]]}", headers=feed).status_code == 401
    assert api.get("/api/v1/audit/events", headers=feed).status_code == 401


def test_only_administrators_manage_grants(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    refused = api.post("/api/v1/grants", json=_grant_body(username="pat", duration_minutes=60), headers=sam)
    assert refused.status_code == 403
    assert refused.json()["reason"] == "no_role_permits_action"
    assert api.get("/api/v1/grants", headers=sam).status_code == 403
    assert api.post("/api/v1/grants", json=_grant_body(duration_minutes=60)).status_code == 401
    denial = _events(env, "access.decision")[-1]
    assert (denial.actor, denial.outcome, denial.details["requested"]) == ("sam", "deny", "workspace:admin")

    alex = login(api, env, "alex")
    until = env.clock.now() + timedelta(days=2)
    in_paris = until.astimezone(timezone(timedelta(hours=1))).isoformat()
    created = api.post("/api/v1/grants", json=_grant_body(expires_at=in_paris), headers=alex)
    assert created.status_code == 201, created.text
    assert {(g["source"], g["granted_by"], g["expires_at"]) for g in created.json()["grants"]} == {
        ("admin", "alex", until.isoformat())
    }
    allowed = [e for e in _events(env, "access.decision") if e.actor == "alex"]
    assert allowed[-1].outcome == "allow" and allowed[-1].details["requested"] == "workspace:admin"
    # An administrator cannot grant themselves a case.
    self_grant = api.post(
        "/api/v1/grants", json=_grant_body(username="alex", duration_minutes=60), headers=alex
    )
    assert self_grant.status_code == 403


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"case_ids": [CASES[0], "ENC 2026"]}, 400),
        ({"case_ids": [CASES[0], "ENC-*"]}, 400),
        ({"case_ids": [CASES[0], CASES[0]]}, 400),
        ({"case_ids": [CASES[0], "E" * 129]}, 422),
        ({"case_ids": [f"ENC-{n}" for n in range(101)]}, 422),
        ({"case_ids": []}, 422),
        ({"username": "nobody"}, 404),
        ({"duration_minutes": 91 * 24 * 60}, 400),
        ({"expires_at": "2026-03-03T09:00:00"}, 400),
        ({"expires_at": "2026-03-03T09:00:00+00:00", "duration_minutes": 60}, 400),
        ({"extra": "field"}, 422),
    ],
)
def test_a_bad_request_creates_nothing(
    env: Env, api: TestClient, overrides: dict[str, Any], status: int
) -> None:
    feed = _integration(env)
    body = _grant_body(**{"duration_minutes": 60, **overrides})
    if "expires_at" in overrides and "duration_minutes" not in overrides:
        del body["duration_minutes"]
    created_before = len(_events(env, "admin.grant.create"))

    response = api.post("/api/v1/grants", json=body, headers=feed)

    assert response.status_code == status, response.text
    assert len(_events(env, "admin.grant.create")) == created_before
    with env.workspace.db() as db:
        assert db.scalars(select(Grant).where(Grant.case_id.in_(CASES))).all() == []


def test_expiry_beyond_the_maximum_says_so(env: Env, api: TestClient) -> None:
    feed = _integration(env)
    too_far = (env.clock.now() + timedelta(days=90, minutes=1)).isoformat()
    response = api.post("/api/v1/grants", json=_grant_body(expires_at=too_far), headers=feed)
    assert response.status_code == 400
    assert "at most 90 days" in response.json()["message"]
    at_limit = (env.clock.now() + timedelta(days=90)).isoformat()
    assert api.post("/api/v1/grants", json=_grant_body(expires_at=at_limit), headers=feed).status_code == 201


def test_revoking_a_grant_ends_access_inside_the_open_session(env: Env, api: TestClient) -> None:
    ids = _ingest(env)
    feed = _integration(env)
    made = api.post("/api/v1/grants", json=_grant_body(duration_minutes=60), headers=feed).json()["grants"]
    sam = login(api, env, "sam")
    assert _statuses(api, sam, ids) == [200, 200]

    alex = login(api, env, "alex")
    revoked = api.delete(f"/api/v1/grants/{made[0]['id']}", headers=alex)

    assert revoked.status_code == 200
    assert (revoked.json()["status"], revoked.json()["case_id"]) == ("revoked", CASES[0])
    assert _statuses(api, sam, ids) == [404, 200]
    assert api.delete(f"/api/v1/grants/{made[0]['id']}", headers=feed).status_code == 409
    assert api.delete(f"/api/v1/grants/{'0' * 32}", headers=feed).status_code == 404
    assert api.delete("/api/v1/grants/not-an-id", headers=feed).status_code == 422
    revocation = _events(env, "admin.grant.revoke")[-1]
    assert (revocation.actor, revocation.case_id) == ("alex", CASES[0])

    # Expiry ends the other one the same way, with no revocation.
    env.clock.advance(minutes=61)
    sam = login(api, env, "sam")
    assert _statuses(api, sam, ids) == [404, 404]
    listed = api.get(
        "/api/v1/grants", params={"case_id": CASES[1], "include_expired": "true"}, headers=feed
    ).json()["grants"]
    assert [(g["id"], g["status"]) for g in listed] == [(made[1]["id"], "expired")]
    assert api.get("/api/v1/grants", params={"case_id": CASES[1]}, headers=feed).json()["grants"] == []


def test_integration_service_names_and_tokens(env: Env) -> None:
    integrations = env.workspace.integrations
    row, token = integrations.create("adt-feed", created_by="operator:test")
    assert token.startswith("srint_") and len(token) > 40
    assert token not in repr(row.__dict__) and row.token_hash != token
    with pytest.raises(ConflictError):
        integrations.create("adt-feed", created_by="operator:test")
    for bad in ("ADT", "-feed", "feed_1", "a" * 65, ""):
        with pytest.raises(InputError):
            integrations.create(bad, created_by="operator:test")
    env.clock.advance(minutes=5)
    assert integrations.authenticate(token).last_used_at == env.clock.now()
    for wrong in ("", "srint_nope", token[:-1], token.removeprefix("srint_")):
        with pytest.raises(AuthenticationError):
            integrations.authenticate(wrong)
    assert [(r.name, r.revoked_at) for r in integrations.list()] == [("adt-feed", None)]
    integrations.revoke("adt-feed", revoked_by="operator:test")
    with pytest.raises(ConflictError):
        integrations.revoke("adt-feed", revoked_by="operator:test")
    created, revoked = _events(env, "admin.integration.create"), _events(env, "admin.integration.revoke")
    assert [(e.actor, e.details["integration"]) for e in created + revoked] == [
        ("operator:test", "adt-feed")
    ] * 2
    assert all(token not in str(e.details) for e in created)


def _cli() -> typer.Typer:
    cli = typer.Typer()
    cli.add_typer(grant_app, name="grant")
    cli.add_typer(integration_app, name="integration")
    return cli


def _run(env: Env, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_cli(), list(args), env={"SEALROOM_WORKSPACE": str(env.root)})
    return result.exit_code, result.output


def test_cli_grants_two_cases_lists_and_revokes(env: Env) -> None:
    code, out = _run(
        env,
        "grant",
        "add",
        "sam",
        "--case",
        CASES[0],
        "--case",
        CASES[1],
        "--purpose",
        "ward round",
        "--hours",
        "2",
    )
    assert code == 0, out
    grant_ids = re.findall(r"grant id ([0-9a-f]{32})", out)
    assert len(grant_ids) == 2 and all(case in out for case in CASES)

    code, out = _run(env, "grant", "list", "sam")
    assert code == 0, out
    assert all(case in out for case in CASES) and "admin" in out and "operator:" in out

    code, out = _run(env, "grant", "add", "sam", "--case", "OK-1", "--case", "BAD ID", "--purpose", "x")
    assert code == 4 and "nothing was granted" in out
    code, out = _run(
        env, "grant", "add", "sam", "--case", "OK-1", "--purpose", "x", "--until", "2026-03-03T09:00"
    )
    assert code == 4 and "time zone" in out

    code, out = _run(env, "grant", "revoke", grant_ids[0])
    assert code == 0, out
    code, out = _run(env, "grant", "list", "sam", "--all")
    assert code == 0 and "revoked" in out


def test_cli_integration_add_list_revoke(env: Env, api: TestClient) -> None:
    code, out = _run(env, "integration", "add", "adt-feed")
    assert code == 0, out
    assert "shown only once" in out
    token = re.search(r"token: (srint_\S+)", out).group(1)  # type: ignore[union-attr]
    feed = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/grants", headers=feed).status_code == 200

    code, out = _run(env, "integration", "list")
    assert code == 0 and "adt-feed" in out and "active" in out and token not in out

    code, out = _run(env, "integration", "revoke", "adt-feed")
    assert code == 0, out
    assert api.get("/api/v1/grants", headers=feed).status_code == 401
    code, out = _run(env, "integration", "list")
    assert code == 0 and "revoked" in out
    code, out = _run(env, "integration", "add", "Bad_Name")
    assert code == 4
