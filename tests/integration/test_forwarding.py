"""Forwarding the audit log to SIEM sinks: outages, recovery, order, signatures, filters, independence.

Real receivers on loopback (``tests/receivers.py``), real SQLite and PostgreSQL; ``run_once`` drives one
pass where a test needs to look between passes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sealroom.audit.chain import canonical_details
from sealroom.audit.export import verify_jsonl
from sealroom.db.models import AuditEvent
from sealroom.forwarding import SinkStatus, forwarding_status
from sealroom.workspace import Workspace
from tests.forwarding import (
    append_events,
    deduplicated,
    head_seq,
    new_workspace,
    sink_toml,
    syslog_records,
    webhook_events,
)
from tests.integration.test_postgres import pg_url  # noqa: F401  (the fixture)
from tests.receivers import FramedSyslogReceiver, WebhookReceiver

SECRET_ENV = "SEALROOM_TEST_FORWARD_KEY"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` (the workspace's SQLite file) or a fresh PostgreSQL database (skipped when absent)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def syslog() -> Iterator[FramedSyslogReceiver]:
    receiver = FramedSyslogReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _actions(workspace: Workspace, action: str) -> list[AuditEvent]:
    with workspace.db() as db:
        return list(
            db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


def _status(workspace: Workspace, name: str) -> SinkStatus:
    with workspace.db() as db:
        return next(
            s for s in forwarding_status(db, workspace.settings, root=workspace.root) if s.name == name
        )


def test_a_receiver_outage_queues_records_and_recovery_delivers_all_in_order(
    tmp_path: Path, database_url: str | None, syslog: FramedSyslogReceiver
) -> None:
    root = new_workspace(
        tmp_path / "ws",
        sink_toml("siem", kind="syslog", url=syslog.target, batch_size=7),
        database_url=database_url,
    )
    workspace = Workspace.open(root)
    try:
        append_events(workspace, 20)
        [first] = workspace.forwarder.run_once()
        assert first.sent == 20 and not first.failed
        assert [int(r["seq"]) for r in syslog_records(syslog, 20)] == list(range(1, 21))

        port = syslog.port
        syslog.stop()  # the collector goes down
        append_events(workspace, 30)
        [down] = workspace.forwarder.run_once()
        assert down.error == "connection_refused" and down.sent == 0 and down.to_seq == 20
        [again] = workspace.forwarder.run_once()
        assert again.failed and again.failures == 2
        status = _status(workspace, "siem")
        assert status.state == "failing" and status.last_error == "connection_refused"
        assert status.last_seq == 20 and status.backlog == head_seq(workspace) - 20
        assert status.backlog > 30 and status.oldest_undelivered_at is not None
        [went_down] = _actions(workspace, "forward.sink.down")  # once, not once per failed pass
        assert went_down.details == {"sink": "siem", "cursor": 20, "error": "connection_refused"}
        assert went_down.category == "admin" and went_down.reason == "connection_refused"

        back = FramedSyslogReceiver(port=port).start()  # the collector returns where it was
        try:
            target = head_seq(workspace)
            [recovered] = workspace.forwarder.run_once()
            assert recovered.sent == target - 20 and not recovered.failed
            got = syslog_records(back, target - 20)
            assert [int(r["seq"]) for r in got] == list(range(21, target + 1))  # nothing missing, in order
            [came_up] = _actions(workspace, "forward.sink.up")
            assert came_up.details["error"] == "connection_refused" and came_up.details["failures"] == 2
            status = _status(workspace, "siem")
            assert status.state == "ok" and status.last_error is None and status.backlog == 1
            assert status.delivered == target
            # What arrived is the sealed record: the receiver can check every seal and link.
            lines = [_line(r) for r in syslog_records(syslog) + got]
            report = verify_jsonl(lines, workspace.keys.audit_key)
            assert report.ok and report.checked == target
        finally:
            back.stop()
    finally:
        workspace.close()


def _line(record: dict[str, object]) -> str:
    return json.dumps(record, sort_keys=True)


def test_webhook_batches_are_signed_and_a_5xx_answer_is_not_delivery(
    tmp_path: Path, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "forwarding-key-1")
    sink = sink_toml("lake", kind="webhook", url=hook.url, secret_env=SECRET_ENV, batch_size=10)
    workspace = Workspace.open(new_workspace(tmp_path / "ws", sink))
    try:
        append_events(workspace, 15)
        [result] = workspace.forwarder.run_once()
        assert result.sent == 15 and len(hook.requests) == 2
        for request in hook.requests:
            expected = hmac.new(b"forwarding-key-1", request.body, hashlib.sha256).hexdigest()
            assert request.headers["x-sealroom-signature"] == f"sha256={expected}"
            assert set(request.json) == {"source", "format", "events"}
            assert request.json["source"] == "sealroom" and request.json["format"] == "sealroom"
        assert b"forwarding-key-1" not in b"".join(r.body for r in hook.requests)

        hook.status = 503
        append_events(workspace, 5)
        [refused] = workspace.forwarder.run_once()
        assert refused.error == "http_status_503" and refused.to_seq == 15
        assert _status(workspace, "lake").last_error == "http_status_503"

        hook.status = 200
        [resent] = workspace.forwarder.run_once()
        assert not resent.failed
        accepted = webhook_events(hook, answered=200)
        assert [int(e["seq"]) for e in accepted] == list(range(1, head_seq(workspace)))  # once each, in order
        # The refused batch came again: the same records, the same event ids (receivers dedupe on them).
        refused_ids = [e["event_id"] for e in webhook_events(hook, answered=503)]
        assert refused_ids and set(refused_ids) <= {e["event_id"] for e in accepted}
    finally:
        workspace.close()


def test_a_missing_signing_key_sends_nothing_and_the_status_says_why(
    tmp_path: Path, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    sink = sink_toml("lake", kind="webhook", url=hook.url, secret_env=SECRET_ENV)
    workspace = Workspace.open(new_workspace(tmp_path / "ws", sink))
    try:
        append_events(workspace, 3)
        [result] = workspace.forwarder.run_once()
        assert result.error == "webhook_secret_missing"
        assert hook.requests == []  # never unsigned
        status = _status(workspace, "lake")
        assert status.state == "failing" and status.last_error == "webhook_secret_missing"
        assert any(SECRET_ENV in problem for problem in status.problems)

        monkeypatch.setenv(SECRET_ENV, "now-it-is-set")
        [fixed] = workspace.forwarder.run_once()
        assert not fixed.failed and fixed.sent >= 3
        assert all("x-sealroom-signature" in r.headers for r in hook.requests)
    finally:
        workspace.close()


def test_the_category_filter_sends_only_those_records_and_skipped_ones_move_the_cursor(
    tmp_path: Path, hook: WebhookReceiver
) -> None:
    sink = sink_toml("access-only", kind="webhook", url=hook.url, categories=["access"], batch_size=4)
    workspace = Workspace.open(new_workspace(tmp_path / "ws", sink))
    try:
        append_events(workspace, 5, category="admin")
        append_events(workspace, 6, category="access", action="access.decision")
        append_events(workspace, 3, category="image", action="image.open")
        status = _status(workspace, "access-only")
        assert status.backlog == 6  # only what the sink takes
        [result] = workspace.forwarder.run_once()
        events = webhook_events(hook)
        assert [e["category"] for e in events] == ["access"] * 6
        assert [int(e["seq"]) for e in events] == list(range(6, 12))
        assert result.sent == 6 and result.skipped == 8 and result.to_seq == 14
        status = _status(workspace, "access-only")
        assert status.last_seq == 14 and status.backlog == 0 and status.delivered == 6

        append_events(workspace, 3, category="admin")  # nothing for this sink: the cursor still moves
        [idle] = workspace.forwarder.run_once()
        assert idle.sent == 0 and idle.to_seq == head_seq(workspace) and len(hook.requests) == 2
    finally:
        workspace.close()


def test_one_sink_down_does_not_hold_back_another(
    tmp_path: Path, hook: WebhookReceiver, syslog: FramedSyslogReceiver
) -> None:
    port = syslog.port
    syslog.stop()
    sinks = sink_toml("siem", kind="syslog", url=f"tcp://127.0.0.1:{port}") + sink_toml(
        "lake", kind="webhook", url=hook.url
    )
    workspace = Workspace.open(new_workspace(tmp_path / "ws", sinks))
    try:
        append_events(workspace, 12)
        results = {result.sink: result for result in workspace.forwarder.run_once()}
        assert results["siem"].error == "connection_refused"
        assert results["lake"].sent == 12 and not results["lake"].failed
        with workspace.db() as db:
            states = {s.name: s.state for s in forwarding_status(db, workspace.settings)}
        assert states == {"siem": "failing", "lake": "ok"}
        # The other sink learns that this one is down: the record is forwarded like any other.
        workspace.forwarder.run_once()
        assert "forward.sink.down" in [e["action"] for e in webhook_events(hook)]
    finally:
        workspace.close()


def test_a_hung_receiver_holds_only_its_own_sink(tmp_path: Path) -> None:
    with WebhookReceiver() as slow, WebhookReceiver() as fast:
        slow.release.clear()
        slow.hold_limit = 30
        sinks = sink_toml("slow", kind="webhook", url=slow.url, timeout_seconds=30) + sink_toml(
            "fast", kind="webhook", url=fast.url
        )
        root = new_workspace(tmp_path / "ws", sinks)
        text = (root / "sealroom.toml").read_text().replace("poll_seconds = 2\n", "poll_seconds = 0.05\n")
        (root / "sealroom.toml").write_text(text)
        workspace = Workspace.open(root)
        try:
            append_events(workspace, 5)
            workspace.forwarder.start()
            _until(lambda: slow.held == 1)
            append_events(workspace, 5)
            _until(lambda: len(webhook_events(fast)) >= 10)
            assert slow.held == 1 and slow.requests[0].answered is None  # still hanging meanwhile
            slow.release.set()
            _until(lambda: len(webhook_events(slow)) >= 10)
            assert deduplicated(webhook_events(slow)) == list(range(1, 11))
        finally:
            slow.release.set()
            workspace.close()


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition was not met in time"
        time.sleep(0.02)


def test_canonical_details_are_what_was_forwarded(tmp_path: Path, hook: WebhookReceiver) -> None:
    # The sealroom format is the export line: details as an object that re-canonicalises to the seal.
    workspace = Workspace.open(
        new_workspace(tmp_path / "ws", sink_toml("lake", kind="webhook", url=hook.url))
    )
    try:
        workspace.audit.append(
            workspace.db, category="admin", action="test.event", outcome="success", actor="operator:test",
            details={"z": 1, "a": ["é", {"b": None}]},
        )  # fmt: skip
        workspace.forwarder.run_once()
        [event] = webhook_events(hook)
        with workspace.db() as db:
            stored = db.scalars(select(AuditEvent).where(AuditEvent.seq == event["seq"])).one()
        assert canonical_details(event["details"]) == canonical_details(stored.details)
        assert event["mac"] == stored.mac and event["event_id"] == stored.event_id
    finally:
        workspace.close()
