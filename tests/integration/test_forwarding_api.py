"""Forwarding as users and operators see it: ``serve``'s forwarder beside user requests, the status over
the API (``GET /api/v1/audit/forwarding``) and the CLI (``sealroom audit forward``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from sealroom.api.app import create_app
from sealroom.cli.main import app as cli
from sealroom.db.models import AuditEvent
from sealroom.forwarding import forwarding_status
from sealroom.workspace import Workspace
from tests.conftest import Env, login
from tests.forwarding import append_events, configure, deduplicated, head_seq, sink_toml, webhook_events
from tests.receivers import FramedSyslogReceiver, WebhookReceiver

runner = CliRunner()
SECRET_ENV = "SEALROOM_TEST_FORWARD_KEY"


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition was not met in time"
        time.sleep(0.02)


def _events(workspace: Workspace, action: str) -> list[AuditEvent]:
    with workspace.db() as db:
        return list(
            db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


def test_a_hung_receiver_never_blocks_user_requests(env: Env) -> None:
    with WebhookReceiver() as hook:
        hook.release.clear()  # accepts the batch and never answers (until the test lets it)
        hook.hold_limit = 60
        configure(
            env.root, sink_toml("lake", kind="webhook", url=hook.url, timeout_seconds=30), poll_seconds=0.05
        )
        workspace = env.reopen()
        try:
            with TestClient(create_app(workspace, sweep=False)) as client:
                _until(lambda: hook.held == 1)  # serve's forwarder is stuck on the receiver
                before = head_seq(workspace)
                kim = login(client, env, "kim")
                assert client.get("/api/v1/audit/events?limit=5", headers=kim).status_code == 200
                status = client.get("/api/v1/audit/forwarding", headers=kim)
                assert status.status_code == 200
                assert head_seq(workspace) > before  # the requests appended their records...
                assert hook.held == 1 and len(hook.requests) == 1  # ...while the receiver still hung
                [lake] = status.json()["sinks"]
                assert lake["backlog"] > 0 and lake["last_seq"] == 0
                assert lake["forwarder"] == workspace.forwarder.owner

                hook.release.set()
                target = head_seq(workspace)
                _until(lambda: deduplicated(webhook_events(hook, answered=None))[-1:] >= [target])
            assert deduplicated(webhook_events(hook, answered=None))[:target] == list(range(1, target + 1))
        finally:
            hook.release.set()


def test_serve_forwards_new_records_at_once_rather_than_at_the_next_poll(env: Env) -> None:
    with WebhookReceiver() as hook:
        configure(env.root, sink_toml("lake", kind="webhook", url=hook.url), poll_seconds=300)
        workspace = env.reopen()
        with TestClient(create_app(workspace, sweep=False)) as client:
            first = head_seq(workspace)
            _until(lambda: deduplicated(webhook_events(hook))[-1:] >= [first])  # the pass at start
            login(client, env, "kim")  # new records; the next poll would be five minutes away
            target = head_seq(workspace)
            _until(lambda: deduplicated(webhook_events(hook))[-1:] >= [target])
            assert _forwarder_of(workspace) == workspace.forwarder.owner  # held while it runs
        assert deduplicated(webhook_events(hook))[:target] == list(range(1, target + 1))
        assert _forwarder_of(workspace) is None  # given up at shutdown


def _forwarder_of(workspace: Workspace) -> str | None:
    with workspace.db() as db:
        [status] = forwarding_status(db, workspace.settings, now=workspace.clock.now())
    return status.forwarder


def test_forwarding_status_is_for_auditors_and_admins_and_never_shows_the_secret(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "very-secret-forwarding-key")
    with WebhookReceiver() as hook:
        configure(
            env.root, sink_toml("lake", kind="webhook", url=hook.url + "?token=abc", secret_env=SECRET_ENV)
        )
        workspace = env.reopen()
        with TestClient(create_app(workspace, sweep=False, forward=False)) as api:
            workspace.forwarder.run_once()
            for user in ("kim", "alex"):
                response = api.get("/api/v1/audit/forwarding", headers=login(api, env, user))
                assert response.status_code == 200, response.text
                [lake] = response.json()["sinks"]
                assert lake["target"] == f"http://127.0.0.1:{hook.port}"
                assert lake["state"] == "ok" and lake["backlog"] >= 0 and lake["last_seq"] > 0
                for hidden in ("very-secret", "token", "/hooks"):
                    assert hidden not in response.text
            denied = api.get("/api/v1/audit/forwarding", headers=login(api, env, "sam"))
            assert denied.status_code == 403
    reads = _events(workspace, "audit.forwarding.read")
    assert [r.actor for r in reads] == ["kim", "alex"]
    decisions = [
        (r.actor, r.details["requested"], r.outcome)
        for r in _events(workspace, "access.decision")
        if r.details.get("requested") in ("audit:read", "workspace:admin")
    ]
    # The administrator's read is decided on workspace:admin alone: no auditor denial on record.
    assert decisions[-3:] == [("kim", "audit:read", "allow"), ("alex", "workspace:admin", "allow"),
                              ("sam", "workspace:admin", "deny")]  # fmt: skip


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["audit", "forward", *args, "-w", str(root)])
    return result.exit_code, result.output


def test_the_cli_forwards_once_shows_status_and_fails_when_a_sink_is_down(env: Env) -> None:
    with FramedSyslogReceiver() as up:
        down_port = FramedSyslogReceiver().port  # bound and closed again: nobody listens there
        configure(
            env.root,
            sink_toml("siem", kind="syslog", url=up.target),
            sink_toml("backup", kind="syslog", url=f"tcp://127.0.0.1:{down_port}"),
        )
        workspace = env.reopen()
        code, out = _cli(env.root, "--status")
        assert code == 0, out
        assert "siem" in out and "backup" in out and "never" in out
        code, out = _cli(env.root, "--once")
        assert code == 1, out
        assert "siem: sent" in out and "backup: failed (connection_refused" in out
        [down] = _events(workspace, "forward.sink.down")
        assert down.actor.startswith("operator:") and down.details["sink"] == "backup"

        code, out = _cli(env.root, "--status", "--json")
        assert code == 0, out
        sinks = {sink["name"]: sink for sink in json.loads(out)["sinks"]}
        assert sinks["siem"]["state"] == "ok" and sinks["backup"]["state"] == "failing"
        assert sinks["backup"]["last_error"] == "connection_refused" and sinks["backup"]["backlog"] > 0
        assert sinks["siem"]["target"] == up.target
        assert _events(workspace, "audit.forwarding.read")[-1].actor.startswith("operator:")

        append_events(workspace, 2)
        code, out = _cli(env.root, "--once", "--json")
        assert code == 1
        results = {r["sink"]: r for r in json.loads(out)["results"]}
        assert results["siem"]["sent"] >= 2 and results["backup"]["error"] == "connection_refused"


def test_the_cli_needs_exactly_one_mode_and_follow_needs_a_sink(env: Env) -> None:
    code, out = _cli(env.root)
    assert code == 4 and "exactly one of --once, --follow or --status" in out
    code, out = _cli(env.root, "--once", "--status")
    assert code == 4
    code, out = _cli(env.root, "--follow")
    assert code == 3 and "[forwarding.sinks.NAME]" in out
    code, out = _cli(env.root, "--once")
    assert code == 0 and "no forwarding sinks are configured: add a [forwarding.sinks.NAME] table" in out
