"""Single sign-on in real headless Chromium, against the real OpenID provider of ``tests/sso_world.py``.

From Sealroom's sign-in page to the provider's form and back: the session cookie is ``SameSite=Strict``
and the provider's redirect back is a cross-site navigation, so the callback answers with a page that
moves on by itself (``signed_in.html``); these tests prove that in a real browser the person then lands
signed in. Also: "End session" goes on to the provider's logout and back to ``/signed-out``, after which
history shows nothing; and a person whose provider sign-in asserted no second factor is asked for
Sealroom's own code. Every network response is recorded: none has an image type, every Sealroom
response is ``no-store``, and no Sealroom page reports a CSP violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.conftest import Browser, assert_contained, recording_browser
from tests.oidc_peer import browser_sign_in
from tests.sso_world import SsoWorld

pytestmark = pytest.mark.e2e

CLINICIANS = ["radiology-clinicians"]


@pytest.fixture(autouse=True)
def _real_time(sso_world: SsoWorld) -> None:
    """Each test starts at the real time, as the provider's tokens do (a test may move the clock)."""
    sso_world.clock.set(datetime.now(UTC))


@pytest.fixture
def sso_browser(chromium: Any, sso_world: SsoWorld, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A fresh browser context (no cookies, no cache) on the Sealroom server of ``sso_world``."""
    yield from recording_browser(chromium, sso_world.base, request)


def _settle(browser: Browser) -> None:
    browser.page.wait_for_load_state("networkidle")


def _on_sealroom(browser: Browser, sso_world: SsoWorld) -> None:
    """The browser shows a Sealroom page that reported no CSP violation."""
    assert browser.page.url.startswith(sso_world.base + "/"), browser.page.url
    assert browser.csp_violations() == [], browser.page.url


def _provider_form(browser: Browser, sso_world: SsoWorld, username: str) -> None:
    """On the provider's login page: fill in the username and submit."""
    page = browser.page
    page.wait_for_url(re.compile(re.escape(sso_world.peer.issuer) + r"/interaction/"))
    _settle(browser)
    browser.shot("provider-form")
    page.locator('input[name="login"]').fill(username)
    browser.shot("provider-form-filled")
    page.get_by_role("button", name="Sign in").click()


def _sso_sign_in(browser: Browser, sso_world: SsoWorld, username: str) -> None:
    """Start at ``/cases`` signed out, sign in through the provider; ends where Sealroom sent the browser."""
    page = browser.page
    browser.go("/cases")
    assert re.search(r"/login\?next=(/|%2F)cases$", page.url), page.url
    assert page.get_by_role("heading", name="Sign in").is_visible()
    _on_sealroom(browser, sso_world)
    browser.shot("sealroom-sign-in")
    page.get_by_role("link", name="Sign in with Corp ID").click()
    _provider_form(browser, sso_world, username)


def _signed_in_on_cases(browser: Browser, sso_world: SsoWorld, username: str) -> None:
    page = browser.page
    page.wait_for_url(f"{sso_world.base}/cases")
    _settle(browser)
    banner = page.locator("#session-banner")
    assert banner.is_visible()
    assert banner.locator("strong").first.inner_text() == username
    _on_sealroom(browser, sso_world)
    cookies = {c["name"]: c for c in browser.context.cookies(sso_world.base)}
    assert cookies["sealroom_session"]["sameSite"] == "Strict" and cookies["sealroom_session"]["httpOnly"]
    browser.shot("signed-in-cases")


def _contained(browser: Browser, sso_world: SsoWorld) -> None:
    """No response had an image type; every Sealroom response was no-store (and carried no image)."""
    for response in browser.responses:
        kind = response.headers.get("content-type", "")
        assert not kind.startswith("image/"), (response.url, kind)
    ours = [r for r in browser.responses if r.url.startswith(sso_world.base + "/")]
    assert_contained(ours, [])
    assert any(r.url.startswith(sso_world.peer.issuer + "/") for r in browser.responses)


def test_sign_in_through_the_provider_lands_signed_in_where_next_pointed(
    sso_browser: Browser, sso_world: SsoWorld
) -> None:
    browser = sso_browser
    username = sso_world.person(CLINICIANS, amr=["pwd", "mfa"])

    _sso_sign_in(browser, sso_world, username)
    _signed_in_on_cases(browser, sso_world, username)
    callback = [r for r in browser.responses if "/sso/corp/callback" in r.url]
    assert [r.status for r in callback] == [200]  # a page that moves on from this site, not a redirect
    opened = sso_world.events("session.open", username)[-1]
    assert opened.details["via"] == "sso:corp" and opened.details["mfa_source"] == "idp:amr:mfa"

    browser.go("/cases")  # a later same-site navigation still carries the Strict cookie
    assert browser.page.url == f"{sso_world.base}/cases"
    assert browser.page.locator("#session-banner").get_by_text(username).is_visible()
    _on_sealroom(browser, sso_world)

    _contained(browser, sso_world)


def test_end_session_goes_on_to_the_providers_logout_and_leaves_nothing_behind(
    sso_browser: Browser, sso_world: SsoWorld
) -> None:
    browser, page = sso_browser, sso_browser.page
    username = sso_world.person(CLINICIANS, amr=["pwd", "mfa"])
    _sso_sign_in(browser, sso_world, username)
    _signed_in_on_cases(browser, sso_world, username)
    session_id = sso_world.events("session.open", username)[-1].session_id
    assert session_id is not None

    page.get_by_role("button", name="End session").click()
    try:
        page.wait_for_url(re.compile(re.escape(sso_world.peer.issuer) + "/session/end"), timeout=5_000)
    except PlaywrightTimeoutError:
        browser.shot("end-session-stuck")
        pytest.fail(
            f"'End session' did not reach the provider's logout: still on {page.url}; "
            f"CSP violations: {browser.csp_violations()}"
        )
    _settle(browser)
    browser.shot("provider-logout-confirm")
    assert username not in page.locator("body").inner_text()
    assert sso_world.session_row(session_id).end_reason == "logout"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{sso_world.base}/signed-out")
    _settle(browser)
    assert page.get_by_role("heading", name="You are signed out").is_visible()
    assert page.locator("#session-banner").count() == 0
    _on_sealroom(browser, sso_world)
    browser.shot("signed-out")
    assert not [c for c in browser.context.cookies(sso_world.base) if c["name"] == "sealroom_session"]

    # Back through history (past the provider's pages) to Sealroom's: nothing signed-in shows again.
    for step in range(4):
        page.go_back()
        _settle(browser)
        shown = page.locator("body").inner_text()
        assert username not in shown and page.locator("#session-banner").count() == 0, (step, page.url)
        browser.shot(f"back-{step + 1}")
        if page.url.startswith(f"{sso_world.base}/login"):
            break
    assert page.url.startswith(f"{sso_world.base}/login"), page.url
    assert page.get_by_role("heading", name="Sign in").is_visible()
    _on_sealroom(browser, sso_world)

    browser.go("/cases")
    assert re.search(r"/login\?next=(/|%2F)cases$", page.url), page.url
    assert page.locator("#session-banner").count() == 0
    _on_sealroom(browser, sso_world)
    browser.shot("cases-after-sign-out")

    _contained(browser, sso_world)


def test_without_mfa_at_the_provider_sealroom_asks_for_its_own_code(
    sso_browser: Browser, sso_world: SsoWorld
) -> None:
    browser, page = sso_browser, sso_browser.page
    username = sso_world.person(CLINICIANS, amr=["pwd"])

    _sso_sign_in(browser, sso_world, username)
    page.wait_for_url(re.compile(re.escape(sso_world.base) + "/sso/corp/callback"))
    _settle(browser)
    problem = page.get_by_role("alert")
    assert "did not confirm a second factor" in problem.inner_text()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    assert page.locator("#session-banner").count() == 0
    _on_sealroom(browser, sso_world)
    browser.shot("refused-without-mfa")
    assert sso_world.events("auth.sso.login", username)[-1].reason == "mfa_missing"

    secret = sso_world.workspace.identity.enroll_mfa(username, actor="operator:test").secret
    # Again, from the page that refused: the provider's session may let the browser straight through.
    page.get_by_role("link", name="Sign in with Corp ID").click()
    page.wait_for_url(re.compile("/interaction/|/sso/corp/callback"))
    if "/interaction/" in page.url:
        _provider_form(browser, sso_world, username)
    page.wait_for_url(re.compile(re.escape(sso_world.base) + "/sso/corp/callback"))
    _settle(browser)
    assert page.get_by_role("heading", name="One more step").is_visible()
    assert page.locator("#session-banner").count() == 0
    _on_sealroom(browser, sso_world)
    browser.shot("one-more-step")

    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    _settle(browser)
    assert page.get_by_role("heading", name="One more step").is_visible()
    assert page.get_by_role("alert").inner_text()
    _on_sealroom(browser, sso_world)
    browser.shot("wrong-code")

    sso_world.clock.advance(seconds=30)
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).at(sso_world.clock.now()))
    page.get_by_role("button", name="Confirm").click()
    _signed_in_on_cases(browser, sso_world, username)
    assert sso_world.events("session.open", username)[-1].details["mfa_source"] == "totp"

    _contained(browser, sso_world)


def test_a_tab_in_next_does_not_take_the_freshly_signed_in_browser_off_the_site(
    chromium: Any, sso_world: SsoWorld
) -> None:
    """Browsers drop tabs from addresses: ``/<TAB>/evil.example`` must not reach the signed-in page's
    onward navigation as ``//evil.example`` (found by the security review)."""
    person = sso_world.person(["radiology-clinicians"], amr=["mfa"])
    with httpx.Client(timeout=20) as client:
        page = browser_sign_in(client, f"{sso_world.base}/sso/corp/login?next=/%09/evil.example/", person)
    assert page.status_code == 200
    callback_html, callback_url = page.text, str(page.url)
    visited: list[str] = []
    context = chromium.new_context()
    try:
        tab = context.new_page()

        def serve(route: Any) -> None:  # the server's own callback answer; nothing else leaves
            visited.append(route.request.url)
            body = callback_html if route.request.url == callback_url else "elsewhere"
            route.fulfill(status=200, content_type="text/html", body=body)

        tab.route("**/*", serve)
        tab.goto(callback_url)
        tab.wait_for_timeout(600)
    finally:
        context.close()
    assert len(visited) >= 2, visited  # the page did move on
    assert not any(urlsplit(url).hostname == "evil.example" for url in visited), visited
