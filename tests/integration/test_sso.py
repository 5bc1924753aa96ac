"""Single sign-on against a real OpenID provider (``oidc-provider`` on Node.js, on loopback): the code
flow, roles from groups, MFA from the provider or Sealroom's TOTP, step-up, re-checks, logout both ways,
API bearer tokens and key rotation (the set-up is ``tests/sso_world.py``)."""

from __future__ import annotations

import base64
import html
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from sealroom.db.models import AuditEvent
from sealroom.readiness.evaluate import evaluate
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, PASSWORD
from tests.integration.test_sessions import small_note
from tests.oidc_peer import API_RESOURCE, browser_sign_in, idp_logout
from tests.sso_world import CLIENT_ID, SsoWorld


@pytest.fixture(autouse=True)
def _real_time(sso_world: SsoWorld) -> None:
    """Each test starts at the real time, as the provider's tokens do (earlier tests moved the clock)."""
    sso_world.clock.set(datetime.now(UTC))


def _signed_in(
    sso_world: SsoWorld, browser: httpx.Client, groups: list[str], amr: tuple[str, ...] = ("pwd", "mfa")
) -> str:
    """A new person with ``groups`` signed in through ``browser``; returns their username."""
    username = sso_world.person(groups, list(amr))
    answer = sso_world.sign_in(browser, username)
    assert answer.status_code == 200, answer.text
    return username


# -- the code flow ---------------------------------------------------------------------------------


def test_the_authorization_request_carries_pkce_state_and_nonce(sso_world: SsoWorld) -> None:
    with sso_world.browser() as browser:
        start = browser.get(f"{sso_world.base}/sso/corp/login?next=/cases", follow_redirects=False)
    assert start.status_code == 303
    location = urlsplit(start.headers["location"])
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert location.netloc == urlsplit(sso_world.peer.issuer).netloc
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert query["redirect_uri"] == f"{sso_world.base}/sso/corp/callback"
    cookie = start.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_code_flow_signs_in_with_the_mapped_role_and_the_providers_mfa(sso_world: SsoWorld) -> None:
    username = sso_world.person(["radiology-clinicians", "canteen-committee"], amr=["pwd", "mfa"])
    with sso_world.browser() as browser:
        answer = sso_world.sign_in(browser, username, "/cases")

        assert answer.status_code == 200
        assert 'http-equiv="refresh" content="0;url=/cases"' in answer.text
        session = sso_world.api(browser, "GET", "/api/v1/session").json()
        page = httpx.get(
            f"{sso_world.base}/cases", cookies={"sealroom_session": sso_world.session_token(browser)}
        )
    assert session["username"] == username and session["roles"] == ["clinician"]
    assert session["mfa_verified_at"] is not None
    assert page.status_code == 200 and username in page.text
    created = sso_world.events("admin.user.create", "sso:corp")[-1]
    assert created.details["user"] == username and created.details["provisioned_by"] == "corp"
    roles = sso_world.events("auth.sso.roles", username)[-1]
    assert roles.details["roles"] == ["clinician"] and roles.details["matched"] == [
        "groups=radiology-clinicians"
    ]
    login = sso_world.events("auth.sso.login", username)[-1]
    assert login.outcome == "success" and login.details["mfa"] == "idp:amr:mfa"
    opened = sso_world.events("session.open", username)[-1]
    assert opened.details["via"] == "sso:corp" and opened.details["mfa_source"] == "idp:amr:mfa"


def test_a_callback_replayed_or_not_started_by_this_browser_is_refused(sso_world: SsoWorld) -> None:
    username = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with sso_world.browser() as browser:
        answer = sso_world.sign_in(browser, username)
        assert answer.status_code == 200
        callback = str(answer.request.url)
        replayed = browser.get(callback, follow_redirects=False)
    with sso_world.browser() as stranger:
        foreign = stranger.get(callback, follow_redirects=False)
    assert replayed.status_code == 401 and "start again" in replayed.text
    assert foreign.status_code == 401 and "not started from this browser" in foreign.text
    assert "sealroom_session" not in foreign.headers.get("set-cookie", "")
    refused = [e.reason for e in sso_world.events("auth.sso.login", "sso:corp") if e.outcome == "failure"]
    assert refused[-2:] == ["bad_state", "bad_state"]


def test_an_id_token_nonce_is_accepted_once(sso_world: SsoWorld) -> None:
    provider = sso_world.workspace.sso.providers["corp"]
    nonce = secrets.token_urlsafe(16)
    token = _sign(sso_world, sso_world.peer.signing_key(), aud=CLIENT_ID, nonce=nonce)

    claims = sso_world.workspace.sso.signin.accept_id_token(provider, token, nonce)
    assert claims["nonce"] == nonce
    with pytest.raises(Exception, match="replayed nonce") as replay:
        sso_world.workspace.sso.signin.accept_id_token(provider, token, nonce)
    assert getattr(replay.value, "reason", None) == "replayed_nonce"
    with pytest.raises(Exception) as other:
        sso_world.workspace.sso.signin.accept_id_token(provider, token, "another-nonce")
    assert getattr(other.value, "reason", None) == "bad_nonce"


# -- MFA ------------------------------------------------------------------------------------------


def test_without_mfa_from_the_provider_sealroom_asks_for_its_own_code(sso_world: SsoWorld) -> None:
    username = sso_world.person(["radiology-clinicians"], amr=["pwd"])
    with sso_world.browser() as browser:
        refused = sso_world.sign_in(browser, username)
    assert refused.status_code == 401 and "did not confirm a second factor" in refused.text
    assert sso_world.events("auth.sso.login", username)[-1].reason == "mfa_missing"

    seed = sso_world.workspace.identity.enroll_mfa(username, actor="operator:test").secret
    with sso_world.browser() as browser:
        form = sso_world.sign_in(browser, username)
        assert form.status_code == 200 and 'action="/sso/totp"' in form.text
        assert browser.cookies.get("sealroom_session", domain="127.0.0.1") is None
        login_token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert login_token is not None
        wrong = browser.post(
            f"{sso_world.base}/sso/totp",
            data={"totp": "000000", "login_token": login_token.group(1), "next": "/"},
        )
        assert (
            wrong.status_code == 401 and browser.cookies.get("sealroom_session", domain="127.0.0.1") is None
        )
        retry_token = re.search(r'name="login_token" value="([^"]+)"', wrong.text)
        assert retry_token is not None
        sso_world.clock.advance(seconds=30)
        code = pyotp.TOTP(seed).at(sso_world.clock.now())
        right = browser.post(
            f"{sso_world.base}/sso/totp",
            data={"totp": code, "login_token": retry_token.group(1), "next": "/"},
        )
        assert right.status_code == 200, right.text
        session = sso_world.api(browser, "GET", "/api/v1/session").json()
    assert session["username"] == username and session["mfa_verified_at"] is not None
    assert sso_world.events("session.open", username)[-1].details["mfa_source"] == "totp"


def test_step_up_by_re_authenticating_at_the_provider(sso_world: SsoWorld) -> None:
    with sso_world.browser() as browser:
        username = _signed_in(sso_world, browser, ["radiology-clinicians"])
        before = sso_world.api(browser, "GET", "/api/v1/session").json()["mfa_verified_at"]
        sso_world.clock.advance(minutes=5)
        start = browser.get(f"{sso_world.base}/sso/corp/step-up?next=/cases", follow_redirects=False)
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
        answer = browser_sign_in(browser, f"{sso_world.base}/sso/corp/step-up?next=/cases", username)
        assert answer.status_code == 200, answer.text
        after = sso_world.api(browser, "GET", "/api/v1/session").json()["mfa_verified_at"]
        assert datetime.fromisoformat(after) - datetime.fromisoformat(before) >= timedelta(minutes=5)
        verified = sso_world.events("auth.mfa.verify", username)[-1]
        assert verified.outcome == "success" and verified.details["mfa"] == "amr:mfa"

        sso_world.peer.set_account(username, groups=["radiology-clinicians"], amr=["pwd"])
        refused = browser_sign_in(browser, f"{sso_world.base}/sso/corp/step-up?next=/cases", username)
    assert refused.status_code == 401
    assert sso_world.events("auth.mfa.verify", username)[-1].reason == "mfa_not_asserted"


# -- roles and account state follow the provider -----------------------------------------------------


def test_group_changes_reach_open_sessions_within_the_recheck_interval(sso_world: SsoWorld) -> None:
    with sso_world.browser() as browser:
        username = _signed_in(sso_world, browser, ["radiology-clinicians"])
        session_id = sso_world.api(browser, "GET", "/api/v1/session").json()["session_id"]
        sso_world.peer.set_account(username, groups=["records-auditors"], amr=["mfa"])
        assert sso_world.api(browser, "GET", "/api/v1/session").json()["roles"] == [
            "clinician"
        ]  # not yet due

        sso_world.clock.advance(minutes=2)
        assert sso_world.api(browser, "GET", "/api/v1/session").json()["roles"] == ["auditor"]
        change = sso_world.events("auth.sso.roles", username)[-1]
        assert change.details["trigger"] == "recheck"
        assert (change.details["added"], change.details["removed"]) == (["auditor"], ["clinician"])

        sso_world.peer.set_account(username, groups=["canteen-committee"], amr=["mfa"])
        sso_world.clock.advance(minutes=2)
        ended = sso_world.api(browser, "GET", "/api/v1/session")
    assert ended.status_code == 401
    assert sso_world.session_row(session_id).end_reason == "sso_roles_removed"
    with sso_world.browser() as again:
        refused = sso_world.sign_in(again, username)
    assert refused.status_code == 401 and "none of your groups" in refused.text
    assert sso_world.events("auth.sso.login", username)[-1].reason == "no_role_mapped"


def test_an_idle_session_is_re_checked_by_the_servers_maintenance_pass(sso_world: SsoWorld) -> None:
    with sso_world.browser() as browser:
        username = _signed_in(sso_world, browser, ["radiology-clinicians"])
        session_id = sso_world.api(browser, "GET", "/api/v1/session").json()["session_id"]
    sso_world.peer.set_account(username, groups=["canteen-committee"], amr=["mfa"])
    sso_world.clock.advance(minutes=2)

    sso_world.workspace.maintain()  # no request from the session: the pass alone finds it

    assert sso_world.session_row(session_id).end_reason == "sso_roles_removed"
    assert sso_world.workspace.identity.get_user(username).roles == []


def test_a_person_disabled_at_the_provider_cannot_sign_in_and_their_session_ends(sso_world: SsoWorld) -> None:
    with sso_world.browser() as browser:
        username = _signed_in(sso_world, browser, ["radiology-clinicians"])
        session_id = sso_world.api(browser, "GET", "/api/v1/session").json()["session_id"]
        sso_world.peer.set_account(username, groups=["radiology-clinicians"], amr=["mfa"], disabled=True)
        sso_world.clock.advance(minutes=2)
        ended = sso_world.api(browser, "GET", "/api/v1/session")
    assert ended.status_code == 401
    assert sso_world.session_row(session_id).end_reason == "sso_account_refused"
    assert sso_world.events("auth.sso.recheck", username)[-1].reason == "refused_by_provider"
    with sso_world.browser() as again:
        refused = sso_world.sign_in(again, username)
    assert refused.status_code in (400, 403) and "sealroom_session" not in str(again.cookies)


# -- logout ----------------------------------------------------------------------------------------


def _ingest_note(sso_world: SsoWorld) -> str:
    """A scanned note filed into the clinical case by the intake user (a local account)."""
    workspace = sso_world.workspace
    sso_world.clock.advance(seconds=30)
    code = pyotp.TOTP(sso_world.secrets["nora"]).at(sso_world.clock.now())
    intake, _ = workspace.sessions.open(
        workspace.identity.authenticate("nora", PASSWORD, code), mfa_verified=True
    )
    request = IngestRequest("clinical-records", CLINICAL_CASE, "clinical")
    image_id = str(workspace.vault.ingest(intake, small_note(), request)["id"])
    workspace.sessions.end(intake.id, "logout")
    return image_id


def test_back_channel_logout_ends_the_session_and_purges_its_material(sso_world: SsoWorld) -> None:
    workspace = sso_world.workspace
    image_id = _ingest_note(sso_world)
    with sso_world.browser() as browser:
        username = _signed_in(sso_world, browser, ["radiology-clinicians"])
        workspace.grants.create_grant(
            username, CLINICAL_CASE, purpose="care", duration=timedelta(hours=1), granted_by="operator:test"
        )
        session_id = sso_world.api(browser, "GET", "/api/v1/session").json()["session_id"]
        analysed = sso_world.api(browser, "POST", f"/api/v1/images/{image_id}/analyses", json={})
        assert analysed.status_code == 200, analysed.text
        assert workspace.sessions.material.held_ids(session_id) == [image_id]

        idp_logout(browser, sso_world.peer)

        assert workspace.sessions.material.held_ids(session_id) == []
        assert sso_world.api(browser, "GET", "/api/v1/session").status_code == 401
    assert sso_world.session_row(session_id).end_reason == "idp_logout"
    logout = sso_world.events("auth.sso.logout", "sso:corp")[-1]
    assert logout.outcome == "success" and logout.details["sessions_ended"] == [session_id]
    with workspace.db() as db:
        purge = db.scalars(
            select(AuditEvent).where(
                AuditEvent.session_id == session_id, AuditEvent.action == "session.purge"
            )
        ).one()
    assert purge.details["images_purged"] == [image_id]


def test_sealroom_logout_goes_on_to_the_providers_logout(sso_world: SsoWorld) -> None:
    with sso_world.browser() as browser:
        _signed_in(sso_world, browser, ["radiology-clinicians"])
        home = browser.get(f"{sso_world.base}/cases")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
        assert csrf is not None
        out = browser.post(
            f"{sso_world.base}/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False
        )
    # A page that moves on (a redirect after a form post would be blocked by the CSP's form-action 'self').
    assert out.status_code == 200 and "cookies" in out.headers["clear-site-data"]
    refresh = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', out.text)
    assert refresh is not None
    target = urlsplit(html.unescape(refresh.group(1)))
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}" == sso_world.peer.issuer
    assert query["post_logout_redirect_uri"] == [f"{sso_world.base}/signed-out"] and "id_token_hint" in query


def _logout_token(sso_world: SsoWorld, key: dict[str, str], **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": sso_world.peer.issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "sub": "nobody",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    claims.update(overrides)
    return jwt.encode({"alg": "RS256", "kid": key["kid"]}, claims, RSAKey.import_key(key))


def test_logout_tokens_that_are_forged_replayed_or_not_for_sealroom_are_refused(sso_world: SsoWorld) -> None:
    url = f"{sso_world.base}/sso/corp/backchannel-logout"
    good = _logout_token(sso_world, sso_world.peer.signing_key())
    assert httpx.post(url, data={"logout_token": good}).status_code == 200
    cases = {
        "replayed_token": good,
        "bad_signature": _logout_token(sso_world, sso_world.peer.foreign_key()),
        "wrong_audience": _logout_token(sso_world, sso_world.peer.signing_key(), aud="another-client"),
        "not_a_logout_token": _logout_token(sso_world, sso_world.peer.signing_key(), events={}),
        "unknown_issuer": _logout_token(sso_world, sso_world.peer.signing_key(), iss="http://localhost:1"),
    }
    for reason, token in cases.items():
        answer = httpx.post(url, data={"logout_token": token})
        assert (answer.status_code, answer.json()["error_description"]) == (400, reason)
    refused = [e.reason for e in sso_world.events("auth.sso.logout", "sso:corp") if e.outcome == "failure"]
    assert refused[-len(cases) :] == list(cases)


# -- API bearer tokens ---------------------------------------------------------------------------------


def _bearer(sso_world: SsoWorld, token: str) -> httpx.Response:
    return httpx.get(f"{sso_world.base}/api/v1/session", headers={"authorization": f"Bearer {token}"})


def _sign(sso_world: SsoWorld, key: dict[str, str], **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": sso_world.peer.issuer,
        "aud": API_RESOURCE,
        "sub": "forged-person",
        "iat": now,
        "exp": now + 600,
        "groups": ["radiology-clinicians"],
        "preferred_username": "forged.person",
    }
    claims.update(overrides)
    return jwt.encode({"alg": "RS256", "kid": key["kid"]}, claims, RSAKey.import_key(key))


def test_api_clients_use_the_providers_access_tokens(sso_world: SsoWorld) -> None:
    username = sso_world.person(["records-auditors"], amr=["mfa"])
    issued = sso_world.cli_tokens(username)

    first = _bearer(sso_world, issued["access_token"])
    assert first.status_code == 200, first.text
    assert first.json()["username"] == username and first.json()["roles"] == ["auditor"]
    again = _bearer(sso_world, issued["access_token"])
    assert again.json()["session_id"] == first.json()["session_id"]
    assert sso_world.events("auth.sso.token", username)[-1].outcome == "success"

    logout = httpx.post(
        f"{sso_world.base}/api/v1/logout", headers={"authorization": f"Bearer {issued['access_token']}"}
    )
    assert logout.status_code == 200
    assert _bearer(sso_world, issued["access_token"]).status_code == 401  # an ended session is not reopened


def test_forged_expired_and_misdirected_tokens_are_refused_with_the_reason(sso_world: SsoWorld) -> None:
    key = sso_world.peer.signing_key()
    past = int(time.time()) - 3600
    cases = {
        "bad_signature": _sign(sso_world, sso_world.peer.foreign_key()),
        "expired": _sign(sso_world, key, iat=past - 600, exp=past),
        "wrong_audience": _sign(sso_world, key, aud=CLIENT_ID),
        "unknown_issuer": _sign(sso_world, key, iss="https://idp.elsewhere.example"),
    }
    for reason, token in cases.items():
        answer = _bearer(sso_world, token)
        assert answer.status_code == 401, (reason, answer.text)
        assert sso_world.events("auth.sso.token")[-1].reason == reason
    tampered = _sign(sso_world, key)
    header, payload, signature = tampered.split(".")
    claims = base64.urlsafe_b64decode(payload + "==").replace(b"forged-person", b"forged-persoX")
    altered = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    assert _bearer(sso_world, f"{header}.{altered}.{signature}").status_code == 401
    assert sso_world.events("auth.sso.token")[-1].reason == "bad_signature"


def test_key_rotation_at_the_provider_is_picked_up(sso_world: SsoWorld) -> None:
    old_key = sso_world.peer.signing_key()
    sso_world.peer.rotate_keys()
    with sso_world.browser() as browser:
        username = _signed_in(sso_world, browser, ["radiology-clinicians"])
        assert sso_world.api(browser, "GET", "/api/v1/session").json()["username"] == username
    assert _bearer(sso_world, sso_world.cli_tokens(username)["access_token"]).status_code == 200
    assert _bearer(sso_world, _sign(sso_world, old_key)).status_code == 401
    assert sso_world.events("auth.sso.token")[-1].reason == "bad_signature"


def test_readiness_checks_the_provider_live(sso_world: SsoWorld) -> None:
    check = evaluate(sso_world.workspace).check("b.sso")
    assert (check.status, check.remedy) == ("pass", None)
    assert "2 provider(s) answer" in check.detail


def test_several_providers_sign_in_their_own_people_and_never_each_others(sso_world: SsoWorld) -> None:
    page = httpx.get(f"{sso_world.base}/login")
    assert "Sign in with Corp ID" in page.text and "Sign in with Partner Clinic ID" in page.text
    username = f"p{uuid.uuid4().hex[:10]}"
    sso_world.partner.set_account(username, groups=["imaging-staff"], amr=["mfa"])
    with sso_world.browser() as browser:
        answer = browser_sign_in(browser, f"{sso_world.base}/sso/partner/login", username)
        assert answer.status_code == 200, answer.text
        session = sso_world.api(browser, "GET", "/api/v1/session").json()
    assert (session["username"], session["roles"]) == (username, ["clinician"])
    assert sso_world.events("session.open", username)[-1].details["via"] == "sso:partner"
    assert (
        _bearer(sso_world, sso_world.cli_tokens(username, sso_world.partner)["access_token"]).status_code
        == 200
    )

    # The same name at the other provider is another person: it gets nothing of this account.
    sso_world.peer.set_account(username, groups=["radiology-clinicians"], amr=["mfa"])
    with sso_world.browser() as browser:
        other = sso_world.sign_in(browser, username)
    assert other.status_code == 401 and "is not a Corp ID account" in other.text
    assert sso_world.events("auth.sso.login", "sso:corp")[-1].reason == "account_conflict"
    # A logout token of one provider does not end sessions through the other.
    partner_says = _logout_token(sso_world, sso_world.partner.signing_key(), iss=sso_world.partner.issuer)
    refused = httpx.post(f"{sso_world.base}/sso/corp/backchannel-logout", data={"logout_token": partner_says})
    assert (refused.status_code, refused.json()["error_description"]) == (400, "bad_signature")
