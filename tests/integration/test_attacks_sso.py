"""Adversarial tests of single sign-on (security review), against the real OpenID provider and the real
Sealroom server of ``sso_world``: forged and confused tokens, callback replay and login CSRF, open
redirects through ``next``, account takeover by look-alike names, MFA bypass through API tokens, TOTP
guessing, logout-token abuse, key-set refetch storms, and secrets in the audit log."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pyotp
import pytest
from joserfc import jws, jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import text

from sealroom.sso.provider import OidcProvider
from tests.conftest import CLINICAL_CASE, PASSWORD
from tests.oidc_peer import API_RESOURCE, browser_sign_in, public_jwk
from tests.sso_world import CLIENT_ID, CLIENT_SECRET, SsoWorld

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(autouse=True)
def _real_time(sso_world: SsoWorld) -> None:
    """The provider's tokens carry real times: start each test at the real time."""
    sso_world.clock.set(datetime.now(UTC))


# -- helpers -----------------------------------------------------------------------------------------


class CapturingBrowser(httpx.Client):
    """A browser that stops at Sealroom's callback: the request is recorded, not sent, so a test can
    replay, alter or move the callback URL (the code and state) to another browser."""

    def __init__(self) -> None:
        super().__init__(timeout=20)
        self.captured: str | None = None

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if (
            self.captured is None
            and request.url.host == "127.0.0.1"
            and request.url.path.endswith("/callback")
        ):
            self.captured = str(request.url)
            return httpx.Response(200, request=request, html="captured")
        return super().send(request, **kwargs)


def _callback_url(world: SsoWorld, username: str, browser: CapturingBrowser | None = None) -> str:
    """A fresh, unused callback URL (code, state, iss) for ``username``'s sign-in."""
    own = browser or CapturingBrowser()
    try:
        browser_sign_in(own, f"{world.base}/sso/corp/login?next=/", username)
        assert own.captured is not None, "the sign-in never came back to the callback"
        return own.captured
    finally:
        if browser is None:
            own.close()


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def _state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(world: SsoWorld, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": world.peer.issuer,
        "aud": API_RESOURCE,
        "sub": f"attacker-{uuid.uuid4().hex[:8]}",
        "iat": now,
        "exp": now + 600,
        "groups": ["radiology-clinicians"],
        "preferred_username": f"attacker-{uuid.uuid4().hex[:8]}",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _rs256(key: dict[str, str], claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": key["kid"], **header}, claims, RSAKey.import_key(key))


def _unsigned(claims: dict[str, Any], **header: Any) -> str:
    head = _b64(json.dumps({"alg": "none", **header}).encode())
    return f"{head}.{_b64(json.dumps(claims).encode())}."


def _hs256(claims: dict[str, Any]) -> str:
    """Signed with the client secret as an HMAC key (the classic RS256 → HS256 confusion)."""
    return jwt.encode(
        {"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET.encode()), algorithms=["HS256"]
    )


def _bearer(world: SsoWorld, token: str) -> httpx.Response:
    return httpx.get(f"{world.base}/api/v1/session", headers={"authorization": f"Bearer {token}"})


def _logout_claims(world: SsoWorld, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": world.peer.issuer,
        "aud": CLIENT_ID,
        "iat": int(time.time()),
        "jti": uuid.uuid4().hex,
        "sub": "nobody",
        "events": {LOGOUT_EVENT: {}},
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _backchannel(world: SsoWorld, token: str) -> httpx.Response:
    return httpx.post(f"{world.base}/sso/corp/backchannel-logout", data={"logout_token": token})


def _has_session(browser: httpx.Client) -> bool:
    return browser.cookies.get("sealroom_session", domain="127.0.0.1") is not None


def _refresh_target(page: str, base: str) -> str:
    """Where a browser goes from the page's ``<meta http-equiv="refresh">``: the URL parser removes ASCII
    tab and newline anywhere and reads ``\\`` as ``/`` (WHATWG URL standard) before resolving."""
    found = re.search(r'http-equiv="refresh" content="0;url=([^"]*)"', page)
    assert found is not None, page
    raw = found.group(1).replace("&amp;", "&").replace("&#39;", "'").replace("&#34;", '"')
    cleaned = re.sub(r"[\t\n\r]", "", raw).replace("\\", "/")
    return urljoin(base + "/", cleaned)


# -- the callback: login CSRF, fixation, state, code and issuer swaps --------------------------------


def test_an_attackers_callback_url_does_not_sign_a_victim_in_as_the_attacker(sso_world: SsoWorld) -> None:
    attacker = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    lure = _callback_url(sso_world, attacker)  # the attacker's own, unused code and state
    with httpx.Client(timeout=20) as victim:
        victim.get(f"{sso_world.base}/sso/corp/login?next=/", follow_redirects=False)  # her own state
        answer = victim.get(lure, follow_redirects=False)
        assert answer.status_code == 401 and not _has_session(victim)
    with httpx.Client(timeout=20) as fresh:  # no pending-sign-in cookie at all
        answer = fresh.get(lure, follow_redirects=False)
        assert answer.status_code == 401 and not _has_session(fresh)
    assert sso_world.events("auth.sso.login", "sso:corp")[-1].reason == "bad_state"


def test_a_state_is_single_use_even_when_the_cookie_is_put_back(sso_world: SsoWorld) -> None:
    # test_sso's replay test only shows the cookie being gone; here the cookie is restored by hand.
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with CapturingBrowser() as browser:
        url = _callback_url(sso_world, person, browser)
        first = httpx.get(url, cookies={"sealroom_sso": _state_of(url)})
        again = httpx.get(url, cookies={"sealroom_sso": _state_of(url)})
    assert first.status_code == 200 and "sealroom_session" in first.headers.get("set-cookie", "")
    assert again.status_code == 401 and "already used" in again.text
    assert "sealroom_session" not in again.headers.get("set-cookie", "")


def test_a_code_from_another_sign_in_or_another_client_is_refused(sso_world: SsoWorld) -> None:
    attacker = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    victim = sso_world.person(["records-auditors"], amr=["mfa"])
    attacker_code = parse_qs(urlsplit(_callback_url(sso_world, attacker)).query)["code"][0]
    cli_code, _ = sso_world.cli_code(attacker)
    for code in (attacker_code, cli_code):
        with CapturingBrowser() as browser:
            url = _callback_url(sso_world, victim, browser)  # the victim's state, cookie and verifier
            swapped = browser.get(_with_query(url, code=code), follow_redirects=False)
        assert swapped.status_code == 401 and "sealroom_session" not in swapped.headers.get("set-cookie", "")
        assert sso_world.events("auth.sso.login", "sso:corp")[-1].reason == "code_refused"


def test_a_callback_naming_another_issuer_is_refused(sso_world: SsoWorld) -> None:
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with CapturingBrowser() as browser:
        url = _callback_url(sso_world, person, browser)
        assert parse_qs(urlsplit(url).query)["iss"] == [sso_world.peer.issuer]  # RFC 9207 is in use
        answer = browser.get(_with_query(url, iss="https://idp.attacker.example"), follow_redirects=False)
    assert answer.status_code == 401 and "another identity provider" in answer.text
    assert sso_world.events("auth.sso.login", "sso:corp")[-1].reason == "unknown_issuer"


def test_a_callback_without_the_issuer_the_provider_always_sends_is_refused(sso_world: SsoWorld) -> None:
    assert sso_world.peer.discovery().get("authorization_response_iss_parameter_supported") is True
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with CapturingBrowser() as browser:
        url = _callback_url(sso_world, person, browser)
        answer = browser.get(_with_query(url, iss=None), follow_redirects=False)
    assert answer.status_code == 401 and not _has_session(browser)


def test_an_error_in_the_callback_is_escaped(sso_world: SsoWorld) -> None:
    with httpx.Client(timeout=20) as browser:
        start = browser.get(f"{sso_world.base}/sso/corp/login", follow_redirects=False)
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        answer = browser.get(
            f"{sso_world.base}/sso/corp/callback",
            params={"state": state, "error": '<script>alert(1)</script>"><img src=x>'},
        )
    assert answer.status_code == 401
    assert "<script>alert(1)" not in answer.text and "<img src=x>" not in answer.text


# -- next: where the browser goes after signing in ------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "https://evil.example", "javascript:alert(1)", "/%2F/x"]
)
def test_obvious_off_site_next_values_are_dropped(sso_world: SsoWorld, target: str) -> None:
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with httpx.Client(timeout=20) as browser:
        page = browser_sign_in(
            browser, f"{sso_world.base}/sso/corp/login?next={quote(target, safe='')}", person
        )
    assert page.status_code == 200
    assert urlsplit(_refresh_target(page.text, sso_world.base)).netloc == urlsplit(sso_world.base).netloc


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0A/evil.example", "/%0D%09%5Cevil.example"])
def test_next_with_tab_or_newline_does_not_leave_the_site(sso_world: SsoWorld, target: str) -> None:
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with httpx.Client(timeout=20) as browser:
        page = browser_sign_in(browser, f"{sso_world.base}/sso/corp/login?next={target}", person)
    assert page.status_code == 200 and _has_session(browser)
    assert urlsplit(_refresh_target(page.text, sso_world.base)).netloc == urlsplit(sso_world.base).netloc


# -- forged and misused tokens at the API -----------------------------------------------------------------


def test_forged_or_malformed_bearer_tokens_are_refused(sso_world: SsoWorld) -> None:
    key, foreign = sso_world.peer.signing_key(), sso_world.peer.foreign_key()
    good = _claims(sso_world)
    big = _rs256(key, _claims(sso_world, pad="x" * 17000))
    not_json = jws.serialize_compact({"alg": "RS256", "kid": key["kid"]}, b"not json", RSAKey.import_key(key))
    a_list = jws.serialize_compact({"alg": "RS256", "kid": key["kid"]}, b'["a"]', RSAKey.import_key(key))
    cases = {
        "alg none": (_unsigned(good, kid=key["kid"]), "bad_signature"),
        "HS256 keyed with the client secret": (_hs256(good), "bad_signature"),
        "attacker key embedded as jwk, real kid": (
            jwt.encode(
                {"alg": "RS256", "kid": key["kid"], "jwk": public_jwk(foreign)},
                good,
                RSAKey.import_key(foreign),
            ),
            ("bad_signature", "malformed"),
        ),
        "attacker key set by jku": (
            _rs256(foreign, good, jku="https://attacker.example/jwks.json"),
            "bad_signature",
        ),
        "no kid, attacker key": (
            jwt.encode({"alg": "RS256"}, good, RSAKey.import_key(foreign)),
            "bad_signature",
        ),
        "over 16 KiB": (big, "malformed"),
        "payload not JSON": (not_json, "malformed"),
        "payload a JSON list": (a_list, "malformed"),
        "no exp": (_rs256(key, _claims(sso_world, exp=None)), "missing_claim"),
        "no iat": (_rs256(key, _claims(sso_world, iat=None)), "missing_claim"),
        "no sub": (_rs256(key, _claims(sso_world, sub=None)), "missing_claim"),
        "issued in the future": (
            _rs256(key, _claims(sso_world, iat=int(time.time()) + 3600)),
            "not_yet_valid",
        ),
        "not yet valid (nbf)": (
            _rs256(key, _claims(sso_world, nbf=int(time.time()) + 3600)),
            "not_yet_valid",
        ),
        "iss as a list": (_rs256(key, _claims(sso_world, iss=[sso_world.peer.issuer])), "unknown_issuer"),
        "an ID token (nonce) for the API audience": (
            _rs256(key, _claims(sso_world, nonce="n")),
            "not_an_access_token",
        ),
        "a logout token": (
            _rs256(key, _logout_claims(sso_world, exp=int(time.time()) + 120)),
            "wrong_audience",
        ),
    }
    for name, (token, reason) in cases.items():
        answer = _bearer(sso_world, token)
        assert answer.status_code == 401, (name, answer.status_code, answer.text)
        seen = sso_world.events("auth.sso.token")[-1].reason
        assert seen in (reason if isinstance(reason, tuple) else (reason,)), (name, answer.text)


def test_an_id_token_or_a_refresh_token_is_not_an_api_credential(sso_world: SsoWorld) -> None:
    person = sso_world.person(["records-auditors"], amr=["mfa"])
    tokens = sso_world.cli_tokens(person)
    answer = _bearer(sso_world, tokens["id_token"])
    assert answer.status_code == 401
    assert sso_world.events("auth.sso.token")[-1].reason == "wrong_audience"
    if tokens.get("refresh_token"):
        assert _bearer(sso_world, tokens["refresh_token"]).status_code == 401
    # The command-line client's own access token is the intended API credential (any client the
    # provider lets request the API resource gets in: the provider decides, there is no client list).
    assert _bearer(sso_world, tokens["access_token"]).status_code == 200


def test_an_ended_bearer_session_is_not_revived_by_a_re_encoded_token(sso_world: SsoWorld) -> None:
    person = sso_world.person(["records-auditors"], amr=["mfa"])
    token = sso_world.cli_tokens(person)["access_token"]
    assert _bearer(sso_world, token).status_code == 200
    out = httpx.post(f"{sso_world.base}/api/v1/logout", headers={"authorization": f"Bearer {token}"})
    assert out.status_code == 200
    head, body, signature = token.split(".")
    # Base64url leaves spare bits in the last character: a lenient decoder accepts other spellings of
    # the same signature, a different string for "have we seen this token" but a valid signature.
    variants = [f"{head}.{body}.{signature[:-1]}{c}" for c in "AEIMQUYcgkosw048AQgw" if c != signature[-1]]
    variants += [f"{head}.{body}.{signature}=", f"{head}.{body}.{signature}."]
    for variant in variants:
        assert _bearer(sso_world, variant).status_code == 401, variant
    via_cookie = httpx.get(f"{sso_world.base}/api/v1/session", cookies={"sealroom_session": token})
    assert via_cookie.status_code == 401


def test_api_tokens_without_mfa_are_held_to_require_mfa_like_the_browser(sso_world: SsoWorld) -> None:
    person, _seed = _enrolled_without_idp_mfa(sso_world)
    with sso_world.browser() as browser:
        form = sso_world.sign_in(browser, person)
        assert 'action="/sso/totp"' in form.text and not _has_session(browser)  # browser: TOTP first
    sso_world.workspace.grants.create_grant(
        person,
        CLINICAL_CASE,
        purpose="care",
        duration=timedelta(hours=1),
        granted_by="operator:test",
    )
    token = sso_world.cli_tokens(person)["access_token"]  # a stolen IdP password is all it takes
    answer = _bearer(sso_world, token)
    images = httpx.get(f"{sso_world.base}/api/v1/images", headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 401, (answer.json(), images.status_code)


# -- accounts: collisions, pre-provisioned accounts, disabled accounts, passwords -------------------------


@pytest.mark.parametrize("claimed", ["alex", "Alex", "ALEX", "аlex"])  # the last 'а' is Cyrillic
def test_a_provider_user_named_like_a_local_admin_gets_nothing(sso_world: SsoWorld, claimed: str) -> None:
    sso_world.peer.set_account(claimed, groups=["radiology-clinicians"], amr=["mfa"])
    with httpx.Client(timeout=20) as browser:
        answer = browser_sign_in(browser, f"{sso_world.base}/sso/corp/login", claimed)
        assert answer.status_code == 401 and not _has_session(browser)
    alex = sso_world.workspace.identity.get_user("alex")
    assert alex.roles == ["admin"] and alex.sso_provider is None and alex.sso_subject is None
    reason = sso_world.events("auth.sso.login", "sso:corp")[-1].reason
    assert reason == ("bad_username" if claimed == "аlex" else "account_conflict")


def test_a_pre_created_account_is_not_claimed_by_a_look_alike_username(sso_world: SsoWorld) -> None:
    owner = f"ward-nurse-{uuid.uuid4().hex[:6]}"
    sso_world.workspace.identity.add_sso_user(owner, "corp", actor="operator:test")
    sso_world.workspace.grants.create_grant(
        owner,
        CLINICAL_CASE,
        purpose="care",
        duration=timedelta(hours=8),
        granted_by="operator:test",
    )
    impostor = owner.replace("ward", "Ward").replace("nurse", "Nurse")  # another provider account
    sso_world.peer.set_account(impostor, groups=["radiology-clinicians"], amr=["mfa"])
    with httpx.Client(timeout=20) as browser:
        answer = browser_sign_in(browser, f"{sso_world.base}/sso/corp/login", impostor)
        who = sso_world.api(browser, "GET", "/api/v1/session").json() if _has_session(browser) else {}
    assert who.get("username") != owner, (answer.status_code, who)


def test_a_disabled_sealroom_account_cannot_sign_in_through_the_provider(sso_world: SsoWorld) -> None:
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with sso_world.browser() as browser:
        assert sso_world.sign_in(browser, person).status_code == 200
        sso_world.workspace.identity.disable_user(person, actor="operator:test")
        assert sso_world.api(browser, "GET", "/api/v1/session").status_code == 401  # open session ends
    with sso_world.browser() as again:
        refused = sso_world.sign_in(again, person)
        assert refused.status_code == 401 and not _has_session(again)
    assert sso_world.events("auth.sso.login", person)[-1].reason == "disabled"
    token = sso_world.cli_tokens(person)["access_token"]
    assert _bearer(sso_world, token).status_code == 401
    assert sso_world.events("auth.sso.token", person)[-1].reason == "disabled"


def test_an_sso_account_has_no_password_at_the_api(sso_world: SsoWorld) -> None:
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with sso_world.browser() as browser:
        assert sso_world.sign_in(browser, person).status_code == 200
    for password in ("!sso", PASSWORD, ""):
        answer = httpx.post(
            f"{sso_world.base}/api/v1/login", json={"username": person, "password": password or "x"}
        )
        assert answer.status_code == 401
    assert sso_world.events("auth.login", person)[-1].reason == "sso_account"


def test_a_person_with_no_mapped_group_gets_no_session(sso_world: SsoWorld) -> None:
    person = sso_world.person(["canteen-committee"], amr=["mfa"])
    with sso_world.browser() as browser:
        answer = sso_world.sign_in(browser, person)
        assert answer.status_code == 401 and not _has_session(browser)
    token = sso_world.cli_tokens(person)["access_token"]
    assert _bearer(sso_world, token).status_code == 401
    assert sso_world.events("auth.sso.token", person)[-1].reason == "no_role_mapped"


# -- Sealroom's own second factor after the provider -----------------------------------------------------


def _enrolled_without_idp_mfa(world: SsoWorld) -> tuple[str, str]:
    """A person whose provider reports no MFA, with a Sealroom TOTP (the account exists after a first,
    refused sign-in); returns the username and the TOTP seed."""
    person = world.person(["radiology-clinicians"], amr=["pwd"])
    with world.browser() as browser:
        assert world.sign_in(browser, person).status_code == 401  # mfa_missing: no second factor yet
    return person, world.workspace.identity.enroll_mfa(person, actor="operator:test").secret


def _totp_form(world: SsoWorld, browser: httpx.Client, person: str) -> str:
    form = world.sign_in(browser, person)
    assert 'action="/sso/totp"' in form.text
    found = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert found is not None
    return found.group(1)


def _post_totp(world: SsoWorld, browser: httpx.Client, token: str, code: str) -> tuple[httpx.Response, str]:
    answer = browser.post(f"{world.base}/sso/totp", data={"totp": code, "login_token": token, "next": "/"})
    found = re.search(r'name="login_token" value="([^"]+)"', answer.text)
    return answer, found.group(1) if found else token


def test_totp_guessing_after_the_provider_is_throttled_and_audited(sso_world: SsoWorld) -> None:
    person, seed = _enrolled_without_idp_mfa(sso_world)
    with sso_world.browser() as browser:
        login_token = _totp_form(sso_world, browser, person)
        statuses = []
        for guess in range(6):
            answer, login_token = _post_totp(sso_world, browser, login_token, f"{guess:06d}")
            statuses.append(answer.status_code)
        sso_world.clock.advance(seconds=30)
        right, _ = _post_totp(sso_world, browser, login_token, pyotp.TOTP(seed).at(sso_world.clock.now()))
        assert not _has_session(browser)
    assert statuses[:5] == [401] * 5 and statuses[5] == 429, statuses
    assert right.status_code in (401, 429)
    failures = [e for e in sso_world.events("auth.mfa.verify", person) if e.outcome == "failure"]
    assert len(failures) >= 6 and failures[-1].reason == "throttled"


def test_the_second_factor_step_is_bound_to_the_browser_that_passed_the_provider(sso_world: SsoWorld) -> None:
    person, seed = _enrolled_without_idp_mfa(sso_world)
    with sso_world.browser() as browser:
        _totp_form(sso_world, browser, person)
        sso_world.clock.advance(seconds=30)
        with sso_world.browser() as other:  # someone who only has the code (shoulder-surfed)
            form = other.get(f"{sso_world.base}/login")
            token = re.search(r'name="login_token" value="([^"]+)"', form.text)
            assert token is not None
            answer, _ = _post_totp(
                sso_world, other, token.group(1), pyotp.TOTP(seed).at(sso_world.clock.now())
            )
            assert answer.status_code == 401 and not _has_session(other)


# -- step-up ------------------------------------------------------------------------------------------------


def test_step_up_by_someone_else_at_the_provider_is_refused(sso_world: SsoWorld) -> None:
    owner = sso_world.person(["radiology-clinicians"], amr=["pwd", "mfa"])
    helper = sso_world.person(["radiology-clinicians"], amr=["pwd", "mfa"])
    with sso_world.browser() as browser:
        assert sso_world.sign_in(browser, owner).status_code == 200
        before = sso_world.api(browser, "GET", "/api/v1/session").json()["mfa_verified_at"]
        sso_world.clock.advance(minutes=3)
        # Someone else, at the owner's Sealroom session, re-authenticates at the provider as themself
        # (in a browser of their own at the provider, so the owner's provider session is left alone).
        with httpx.Client(timeout=20) as at_the_desk:
            at_the_desk.cookies.set("sealroom_session", sso_world.session_token(browser), domain="127.0.0.1")
            answer = browser_sign_in(at_the_desk, f"{sso_world.base}/sso/corp/step-up?next=/", helper)
        after = sso_world.api(browser, "GET", "/api/v1/session").json()
    assert answer.status_code == 401
    assert after["mfa_verified_at"] == before and after["username"] == owner
    assert sso_world.events("auth.mfa.verify", owner)[-1].reason == "different_person"


# -- back-channel logout ------------------------------------------------------------------------------------


def test_back_channel_logout_refuses_bad_tokens_and_huge_bodies(sso_world: SsoWorld) -> None:
    key = sso_world.peer.signing_key()
    now = int(time.time())
    cases = {
        "carries a nonce": (_rs256(key, _logout_claims(sso_world, nonce="n")), "not_a_logout_token"),
        "ten minutes old": (_rs256(key, _logout_claims(sso_world, iat=now - 600)), "expired"),
        "issued in the future": (_rs256(key, _logout_claims(sso_world, iat=now + 3600)), "not_yet_valid"),
        "neither sid nor sub": (_rs256(key, _logout_claims(sso_world, sub=None)), "missing_claim"),
        "no jti": (_rs256(key, _logout_claims(sso_world, jti=None)), "missing_claim"),
        "events a list": (
            _rs256(key, _logout_claims(sso_world, events=[LOGOUT_EVENT])),
            "not_a_logout_token",
        ),
        "alg none": (_unsigned(_logout_claims(sso_world)), "bad_signature"),
        "HS256 keyed with the client secret": (_hs256(_logout_claims(sso_world)), "bad_signature"),
        "an access token": (_rs256(key, _claims(sso_world, jti=uuid.uuid4().hex)), "wrong_audience"),
    }
    for name, (token, reason) in cases.items():
        answer = _backchannel(sso_world, token)
        assert (answer.status_code, answer.json().get("error_description")) == (400, reason), name
    huge = httpx.post(
        f"{sso_world.base}/sso/corp/backchannel-logout",
        content=b"logout_token=" + b"a" * (8 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    assert httpx.post(
        f"{sso_world.base}/sso/nope/backchannel-logout", data={"logout_token": "x"}
    ).status_code in (
        404,
        422,
    )


def test_a_logout_token_for_a_subject_ends_only_that_persons_sso_sessions(sso_world: SsoWorld) -> None:
    key = sso_world.peer.signing_key()
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    bystander = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with sso_world.browser() as one, sso_world.browser() as two:
        assert sso_world.sign_in(one, person).status_code == 200
        assert sso_world.sign_in(two, bystander).status_code == 200
        assert _backchannel(sso_world, _rs256(key, _logout_claims(sso_world, sub=person))).status_code == 200
        assert sso_world.api(one, "GET", "/api/v1/session").status_code == 401
        assert sso_world.api(two, "GET", "/api/v1/session").status_code == 200


# -- secrets out of the audit log; the key set refetch guard ----------------------------------------------


def test_no_secret_reaches_the_audit_log(sso_world: SsoWorld) -> None:
    person = sso_world.person(["records-auditors"], amr=["mfa"])
    tokens = sso_world.cli_tokens(person)
    assert _bearer(sso_world, tokens["access_token"]).status_code == 200
    with CapturingBrowser() as browser:
        url = _callback_url(sso_world, person, browser)
        assert browser.get(url, follow_redirects=False).status_code == 200
        session = sso_world.session_token(browser)
        with sso_world.workspace.db() as db:
            link = db.execute(text("SELECT id_token_enc, access_token_enc FROM sso_session_links")).all()
    query = parse_qs(urlsplit(url).query)
    secrets_seen = {
        "client secret": CLIENT_SECRET,
        "access token": tokens["access_token"],
        "access token signature": tokens["access_token"].split(".")[2],
        "id token signature": tokens["id_token"].split(".")[2],
        "authorization code": query["code"][0],
        "state": query["state"][0],
        "session token": session,
    }
    with sso_world.workspace.db() as db:
        dump = "\n".join(str(tuple(row)) for row in db.execute(text("SELECT * FROM audit_events")))
        pending = "\n".join(str(tuple(row)) for row in db.execute(text("SELECT * FROM sso_pending")))
    leaked = [name for name, value in secrets_seen.items() if value in dump or value in pending]
    assert leaked == []
    assert all(tokens["access_token"].encode() not in (row[1] or b"") for row in link)  # sealed


def test_random_kids_at_once_refetch_the_key_set_at_most_once(sso_world: SsoWorld) -> None:
    base = sso_world.workspace.sso.providers["corp"]
    provider = OidcProvider(
        "corp", base.settings.model_copy(update={"jwks_min_refresh_seconds": 60.0}), sso_world.workspace.root
    )
    jwks_uri = provider.metadata().jwks_uri
    provider.key_set()
    fetched: list[str] = []
    real = provider._get_json

    def counted(url: str) -> dict[str, Any]:
        if url == jwks_uri:
            fetched.append(url)
            time.sleep(0.1)  # a provider a network away
        return real(url)

    provider._get_json = counted  # type: ignore[method-assign]
    provider._keys_fetched_at -= 61  # the interval has passed: one refetch is allowed
    start = threading.Barrier(20)

    def attack() -> None:
        start.wait()
        provider.key_set(secrets.token_hex(8))

    threads = [threading.Thread(target=attack) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fetched) <= 1, f"{len(fetched)} key set fetches for 20 forged tokens"
