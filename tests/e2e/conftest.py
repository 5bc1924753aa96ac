"""Real-browser fixtures: the app served by uvicorn on loopback, and Debian's Chromium driven by
Playwright, with every network response recorded for the containment checks.

Chromium is ``/usr/bin/chromium`` (``make test`` installs Debian's package when it is missing); Playwright
never downloads a browser of its own. Screenshots of each step go to ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from sealroom.api.app import create_app
from tests.conftest import PASSWORD, Env

CHROMIUM = os.environ.get("SEALROOM_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Collects the page's CSP violations where the test can read them, before any page script runs.
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """The workspace's app on a real socket."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture
def live(env: Env) -> Iterator[LiveServer]:
    """The app of ``env``'s workspace served by uvicorn on 127.0.0.1, in this process (the test keeps
    the workspace's clock in hand, so TOTP codes and session timeouts are the test's)."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(env.workspace, sweep=False), host="127.0.0.1", port=port, log_level="warning",
        access_log=False, server_header=False, lifespan="on",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", server, thread)
    server.should_exit = True
    thread.join(timeout=15)


@dataclass
class Recorded:
    """One network response the browser received."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Browser:
    """A Chromium page whose every response is recorded, and a screenshot helper."""

    page: Any
    context: Any
    base: str
    journey: str
    responses: list[Recorded] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    shots: int = 0

    def go(self, path: str) -> Any:
        """Open ``path`` and wait for the page to settle."""
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot as a test artefact."""
        self.shots += 1
        folder = ARTIFACTS / self.journey
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.shots:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def csp_violations(self) -> list[str]:
        """Violations reported in the current document, plus any the console reported."""
        seen: list[str] = self.page.evaluate("window.__cspViolations || []")
        return seen + [line for line in self.console if "Content Security Policy" in line]

    def sign_in(self, env: Env, username: str) -> None:
        """Sign in through the form with the password and a fresh code."""
        self.go("/login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_label("Code from your authenticator app").fill(env.fresh_code(username))
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state("networkidle")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched headless once for the run."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `make test`, which installs it with apt")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium: Any, live: LiveServer, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A fresh browser context (no cookies, no cache) on the live server."""
    yield from recording_browser(chromium, live.url, request)


def recording_browser(chromium: Any, base: str, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A fresh browser context on ``base`` recording every response and console line; screenshots go
    under the test's name. Closed when the generator is."""
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    journey = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    shutil.rmtree(ARTIFACTS / journey, ignore_errors=True)
    recorder = Browser(page, context, base, journey)

    def record(response: Any) -> None:
        try:
            body = response.body() if response.status < 300 or response.status >= 400 else b""
        except Exception:  # a body the browser did not keep (aborted navigation)
            body = b""
        recorder.responses.append(Recorded(response.url, response.status, dict(response.headers), body))

    page.on("response", record)
    page.on("console", lambda message: recorder.console.append(message.text))
    yield recorder
    context.close()


def image_fingerprints(data: bytes) -> list[bytes]:
    """Byte strings any copy of ``data`` would contain: raw slices, and its base64 at each alignment."""
    starts = (0, len(data) // 3, len(data) // 2)
    marks = [data[start : start + 48] for start in starts if len(data) > start + 48]
    for shift in range(3):
        encoded = base64.b64encode(data[shift:])
        marks += [encoded[i : i + 64] for i in (8, len(encoded) // 2) if len(encoded) > i + 64]
    return marks


def assert_contained(recorded: list[Recorded], stored: list[bytes]) -> None:
    """No response had an image type or carried a stored image; every response was no-store."""
    assert recorded, "the browser recorded no responses"
    marks = [mark for data in stored for mark in image_fingerprints(data)]
    for response in recorded:
        kind = response.headers.get("content-type", "")
        assert not kind.startswith("image/"), (response.url, kind)
        assert response.headers.get("cache-control") == "no-store", (response.url, response.headers)
        for mark in marks:
            assert mark not in response.body, f"{response.url} carries stored image bytes"
